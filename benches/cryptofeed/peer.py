#!/usr/bin/env python3
"""cryptofeed as a peer of the pipeline benchmark: its Binance feed, with its own settings
(uvloop when installed, its normalisation to Decimal, its order book), subscribed to trades
and the order book of the given symbols on the simulator instead of Binance.

Usage: peer.py <ws base url> <rest base url> <log file> <SYMBOL>...
Prints "READY" once the feed is started, then every 20 ms the trades handled so far, when
that number changed. Stop it with SIGTERM or SIGKILL.
"""

import asyncio
import sys

from cryptofeed import FeedHandler, connection
from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed.exchanges import Binance


def plain_websockets():
    """cryptofeed refuses any address but wss://; the simulator speaks plain ws:// on
    127.0.0.1. The check is passed, then the address given is used as is."""
    checked = connection.WSAsyncConn.__init__

    def init(self, address, *args, **kwargs):
        checked(self, address.replace("ws://", "wss://", 1), *args, **kwargs)
        self.address = address

    connection.WSAsyncConn.__init__ = init


def main():
    ws, rest, log, *symbols = sys.argv[1:]
    plain_websockets()

    class SimulatedBinance(Binance):
        """Binance with the simulator's addresses; everything else is cryptofeed's."""

        websocket_endpoints = [WebsocketEndpoint(ws.rstrip("/"))]
        rest_endpoints = [
            RestEndpoint(
                rest.rstrip("/"),
                routes=Routes("/api/v3/exchangeInfo", l2book="/api/v3/depth?symbol={}&limit={}"),
            )
        ]

    handled = {"trades": 0, "books": 0}

    async def trade(_trade, _receipt):
        handled["trades"] += 1

    async def book(_book, _receipt):
        handled["books"] += 1

    async def report():
        last = -1
        while True:
            if handled["trades"] != last:
                last = handled["trades"]
                print(last, flush=True)
            await asyncio.sleep(0.02)

    handler = FeedHandler(config={"log": {"filename": log, "level": "WARNING"}})
    pairs = [f"{s[:-4]}-{s[-4:]}" for s in symbols]  # BTCUSDT -> BTC-USDT (USDT pairs only)
    handler.add_feed(
        SimulatedBinance(
            symbols=pairs,
            channels=[TRADES, L2_BOOK],
            callbacks={TRADES: trade, L2_BOOK: book},
        )
    )
    handler.run(start_loop=False)
    loop = asyncio.get_event_loop()
    loop.create_task(report())
    print("READY", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    sys.exit(main())
