//! Bybit v5 public frames, identical on spot (`/v5/public/spot`) and linear
//! (`/v5/public/linear`): `publicTrade.<symbol>` (an array of trades), `orderbook.<depth>.<symbol>`
//! (snapshot, then deltas), `kline.<interval>.<symbol>`, and `op` answers (subscribe acks and
//! rejections, pongs).
//!
//! The topic names the symbol; every payload's `s` must agree with it.

use simd_json::tape::Value;

use crate::connection::parse::fields;
use crate::connection::parse::frame::{FrameKind, FrameParser, ParseError, clip};
use crate::connection::parse::tape::{Field, Obj, TapeDecoder, pick};
use crate::model::{
    BookDelta, BookSnapshot, DeltaSequence, DerivativesTick, Kline, KlineInterval, Liquidation,
    MarketEvent, SnapshotSequence, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos,
    Venue,
};

/// Parser for Bybit v5 public frames of one venue (spot or linear).
#[derive(Debug)]
pub struct BybitParser {
    venue: Venue,
    decoder: TapeDecoder,
}

impl BybitParser {
    /// Creates a parser for `venue` ([`Venue::BybitSpot`] or [`Venue::BybitLinear`]) that
    /// rejects frames over `max_frame_bytes`.
    pub fn new(venue: Venue, max_frame_bytes: usize) -> Self {
        debug_assert!(matches!(venue, Venue::BybitSpot | Venue::BybitLinear));
        Self {
            venue,
            decoder: TapeDecoder::new(max_frame_bytes),
        }
    }
}

impl FrameParser for BybitParser {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn parse(&mut self, frame: &[u8], received_at: UnixNanos) -> Result<MarketEvent, ParseError> {
        let venue = self.venue;
        self.decoder
            .decode(frame, |root| parse_frame(venue, root, received_at))
    }
}

/// A Bybit topic, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    /// `publicTrade.<symbol>`.
    PublicTrade(Symbol),
    /// `orderbook.<depth>.<symbol>`.
    OrderBook(u32, Symbol),
    /// `kline.<interval>.<symbol>`.
    Kline(KlineInterval, Symbol),
    /// `allLiquidation.<symbol>` (linear).
    Liquidation(Symbol),
    /// `tickers.<symbol>` (linear: mark, index, funding, open interest).
    Ticker(Symbol),
}

impl Topic {
    /// Parses a topic name; `None` for topics WADM does not handle.
    pub(crate) fn parse(topic: &str) -> Option<Topic> {
        let (channel, rest) = topic.split_once('.')?;
        match channel {
            "publicTrade" => Some(Topic::PublicTrade(Symbol::new(rest).ok()?)),
            "allLiquidation" => Some(Topic::Liquidation(Symbol::new(rest).ok()?)),
            "tickers" => Some(Topic::Ticker(Symbol::new(rest).ok()?)),
            "orderbook" => {
                let (depth, symbol) = rest.split_once('.')?;
                let depth =
                    fields::numeric_request_id(depth).and_then(|d| u32::try_from(d).ok())?;
                Some(Topic::OrderBook(depth, Symbol::new(symbol).ok()?))
            }
            "kline" => {
                let (interval, symbol) = rest.split_once('.')?;
                Some(Topic::Kline(
                    KlineInterval::from_bybit(interval)?,
                    Symbol::new(symbol).ok()?,
                ))
            }
            _ => None,
        }
    }
}

fn parse_frame(
    venue: Venue,
    root: Value<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let root = Obj::new(root, FrameKind::Envelope, "frame")?;
    let f = pick!(root; topic = "topic", kind = "type", ts = "ts", cts = "cts", data = "data");
    if !f.topic().is_present() {
        return response(root.as_kind(FrameKind::Response));
    }
    let topic = f.topic().str()?;
    let envelope = Envelope {
        kind: f.kind(),
        ts: f.ts(),
        cts: f.cts(),
        data: f.data(),
    };
    match Topic::parse(topic) {
        Some(Topic::PublicTrade(symbol)) => public_trade(venue, symbol, envelope, received_at),
        Some(Topic::OrderBook(_, symbol)) => order_book(venue, symbol, envelope, received_at),
        Some(Topic::Kline(interval, symbol)) => {
            klines(venue, interval, symbol, envelope, received_at)
        }
        Some(Topic::Liquidation(symbol)) if venue == Venue::BybitLinear => {
            liquidations(venue, symbol, envelope, received_at)
        }
        Some(Topic::Ticker(symbol)) if venue == Venue::BybitLinear => {
            ticker(venue, symbol, envelope, received_at)
        }
        // Spot has no liquidations, and its tickers no derivatives fields.
        Some(Topic::Liquidation(_) | Topic::Ticker(_)) | None => {
            Err(ParseError::UnsupportedTopic { topic: clip(topic) })
        }
    }
}

/// The fields of a topic message around its payload.
struct Envelope<'t, 'i> {
    kind: Field<'t, 'i>,
    ts: Field<'t, 'i>,
    cts: Field<'t, 'i>,
    data: Field<'t, 'i>,
}

impl<'t, 'i> Envelope<'t, 'i> {
    /// Re-labels the fields with the frame kind the topic turned out to be.
    fn of_kind(self, kind: FrameKind) -> Self {
        Self {
            kind: self.kind.of_kind(kind),
            ts: self.ts.of_kind(kind),
            cts: self.cts.of_kind(kind),
            data: self.data.of_kind(kind),
        }
    }
}

/// `{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false,"seq":1783284617}]}`
fn public_trade(
    venue: Venue,
    symbol: Symbol,
    envelope: Envelope<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::PublicTrade;
    let envelope = envelope.of_kind(kind);
    let event_time = TimestampMs(envelope.ts.i64()?);
    let data = envelope.data.array()?;
    let mut trades = Vec::with_capacity(data.len());
    for item in data.iter() {
        let f = pick!(Obj::new(item, kind, "data")?;
            trade_time = "T", symbol = "s", side = "S", qty = "v", price = "p", id = "i",
            block_trade = "BT", rpi = "RPI", sequence = "seq",
        );
        let mut flags = TradeFlags::NONE;
        if f.block_trade().opt_bool()?.unwrap_or(false) {
            flags = flags.with(TradeFlags::BLOCK_TRADE);
        }
        if f.rpi().opt_bool()?.unwrap_or(false) {
            flags = flags.with(TradeFlags::RETAIL_PRICE_IMPROVEMENT);
        }
        trades.push(Trade {
            venue,
            symbol: fields::same_symbol(
                kind,
                symbol,
                fields::symbol(kind, "s", f.symbol().str()?)?,
            )?,
            id: TradeId::from_text(f.id().str()?),
            price: f.price().trade_price()?,
            qty: f.qty().trade_qty()?,
            side: fields::bybit_side(kind, "S", f.side().str()?)?,
            trade_time: TimestampMs(f.trade_time().i64()?),
            event_time,
            received_at,
            flags,
            sequence: f.sequence().opt_u64()?,
            fills: None,
        });
    }
    Ok(MarketEvent::Trades(trades))
}

/// `{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}`:
/// every liquidation of the last 500 ms; `S` is the side of the position (`Buy`: a long was
/// liquidated), `p` the bankruptcy price.
fn liquidations(
    venue: Venue,
    symbol: Symbol,
    envelope: Envelope<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::Liquidation;
    let envelope = envelope.of_kind(kind);
    let data = envelope.data.array()?;
    let mut liquidations = Vec::with_capacity(data.len());
    for item in data.iter() {
        let f = pick!(Obj::new(item, kind, "data")?;
            time = "T", symbol = "s", side = "S", qty = "v", price = "p",
        );
        liquidations.push(Liquidation {
            venue,
            symbol: fields::same_symbol(
                kind,
                symbol,
                fields::symbol(kind, "s", f.symbol().str()?)?,
            )?,
            position: fields::bybit_liquidated(kind, "S", f.side().str()?)?,
            price: f.price().trade_price()?,
            qty: f.qty().trade_qty()?,
            time: TimestampMs(f.time().i64()?),
            received_at,
        });
    }
    Ok(MarketEvent::Liquidations(liquidations))
}

/// `{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","markPrice":"17217.33","indexPrice":"17227.36","openInterest":"68744.761","nextFundingTime":"1673280000000","fundingRate":"-0.000212",...},"cs":24987956059,"ts":1673272861686}`:
/// a snapshot, then deltas holding only what changed (absent fields are `None`).
fn ticker(
    venue: Venue,
    symbol: Symbol,
    envelope: Envelope<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::Ticker;
    let envelope = envelope.of_kind(kind);
    let complete = match envelope.kind.str()? {
        "snapshot" => true,
        "delta" => false,
        _ => {
            return Err(ParseError::InvalidValue {
                kind,
                field: "type",
                reason: "expected \"snapshot\" or \"delta\"",
            });
        }
    };
    let time = TimestampMs(envelope.ts.i64()?);
    let f = pick!(envelope.data.obj(kind)?;
        symbol = "symbol", mark = "markPrice", index = "indexPrice", rate = "fundingRate",
        next = "nextFundingTime", open_interest = "openInterest",
    );
    let symbol = fields::same_symbol(
        kind,
        symbol,
        fields::symbol(kind, "symbol", f.symbol().str()?)?,
    )?;
    let price = |text: Option<&str>, field| text.map(|t| fields::price(kind, field, t)).transpose();
    Ok(MarketEvent::Derivatives(DerivativesTick {
        venue,
        symbol,
        time,
        received_at,
        complete,
        mark_price: price(f.mark().opt_str()?, "markPrice")?,
        index_price: price(f.index().opt_str()?, "indexPrice")?,
        funding_rate: f
            .rate()
            .opt_str()?
            .map(|t| fields::funding_rate(kind, "fundingRate", t))
            .transpose()?,
        next_funding_time: f
            .next()
            .opt_str()?
            .map(|t| fields::funding_time_text(kind, "nextFundingTime", t))
            .transpose()?
            .flatten(),
        open_interest: f.open_interest().opt_qty()?,
    }))
}

/// `{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1687940967466,"data":{"s":"BTCUSDT","b":[["30247.20","30.028"]],"a":[["30248.70","0"]],"u":177400507,"seq":66544703342},"cts":1687940967464}`
fn order_book(
    venue: Venue,
    symbol: Symbol,
    envelope: Envelope<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::OrderBook;
    let envelope = envelope.of_kind(kind);
    let event_time = TimestampMs(envelope.ts.i64()?);
    let transaction_time = envelope.cts.opt_i64()?.map(TimestampMs);
    let book_kind = envelope.kind.str()?;
    let f = pick!(envelope.data.obj(kind)?;
        symbol = "s", bids = "b", asks = "a", update_id = "u", cross_sequence = "seq",
    );
    let symbol = fields::same_symbol(kind, symbol, fields::symbol(kind, "s", f.symbol().str()?)?)?;
    let update_id = f.update_id().u64()?;
    let cross_sequence = f.cross_sequence().u64()?;
    let bids = f.bids().levels()?;
    let asks = f.asks().levels()?;
    match book_kind {
        "snapshot" => Ok(MarketEvent::BookSnapshot(BookSnapshot {
            venue,
            symbol,
            sequence: SnapshotSequence::Bybit {
                update_id,
                cross_sequence,
            },
            bids,
            asks,
            event_time: Some(event_time),
            received_at,
        })),
        "delta" => Ok(MarketEvent::BookDelta(BookDelta {
            venue,
            symbol,
            sequence: DeltaSequence::Bybit {
                update_id,
                cross_sequence,
            },
            bids,
            asks,
            event_time,
            transaction_time,
            received_at,
        })),
        _ => Err(ParseError::InvalidValue {
            kind,
            field: "type",
            reason: "expected \"snapshot\" or \"delta\"",
        }),
    }
}

/// `{"topic":"kline.5.BTCUSDT","data":[{"start":1672324800000,"end":1672325099999,"interval":"5","open":"16649.5","close":"16677","high":"16677","low":"16608","volume":"2.081","turnover":"34666.4005","confirm":false,"timestamp":1672324988882}],"ts":1672324988882,"type":"snapshot"}`
fn klines(
    venue: Venue,
    interval: KlineInterval,
    symbol: Symbol,
    envelope: Envelope<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::Kline;
    let data = envelope.of_kind(kind).data.array()?;
    let mut klines = Vec::with_capacity(data.len());
    for item in data.iter() {
        let f = pick!(Obj::new(item, kind, "data")?;
            start = "start", end = "end", interval = "interval", open = "open", close = "close",
            high = "high", low = "low", volume = "volume", turnover = "turnover",
            confirm = "confirm", timestamp = "timestamp",
        );
        if KlineInterval::from_bybit(f.interval().str()?) != Some(interval) {
            return Err(ParseError::InvalidValue {
                kind,
                field: "interval",
                reason: "differs from the topic's interval",
            });
        }
        klines.push(Kline {
            venue,
            symbol,
            interval,
            open_time: TimestampMs(f.start().i64()?),
            close_time: TimestampMs(f.end().i64()?),
            open: f.open().price()?,
            high: f.high().price()?,
            low: f.low().price()?,
            close: f.close().price()?,
            volume: f.volume().qty()?,
            quote_volume: f.turnover().qty()?,
            taker_buy_volume: None,
            taker_buy_quote_volume: None,
            trade_count: None,
            first_trade_id: None,
            last_trade_id: None,
            closed: f.confirm().bool()?,
            event_time: TimestampMs(f.timestamp().i64()?),
            received_at,
        });
    }
    Ok(MarketEvent::Klines(klines))
}

/// Answers to our requests:
/// `{"success":true,"ret_msg":"subscribe","conn_id":"...","req_id":"10001","op":"subscribe"}`,
/// `{"success":false,"ret_msg":"error:handler not found,topic:orderbook.500.BTCUSDT",...}`,
/// `{"success":true,"ret_msg":"pong",...,"op":"ping"}` (linear) and
/// `{"req_id":"1","op":"pong","args":["1675418560633"],"conn_id":"..."}` (spot).
fn response(root: Obj<'_, '_>) -> Result<MarketEvent, ParseError> {
    let f = pick!(root; op = "op", success = "success", request_id = "req_id", message = "ret_msg");
    let control = fields::bybit_response(
        f.op().opt_str()?,
        f.success().opt_bool()?,
        f.request_id().opt_str()?,
        f.message().opt_str()?,
    )?;
    Ok(MarketEvent::Control(control))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_topics() {
        let btc = Symbol::new("BTCUSDT").unwrap();
        assert_eq!(
            Topic::parse("publicTrade.BTCUSDT"),
            Some(Topic::PublicTrade(btc))
        );
        assert_eq!(
            Topic::parse("orderbook.50.BTCUSDT"),
            Some(Topic::OrderBook(50, btc))
        );
        assert_eq!(
            Topic::parse("kline.1.BTCUSDT"),
            Some(Topic::Kline(KlineInterval::Minute1, btc))
        );
        assert_eq!(
            Topic::parse("kline.D.BTCUSDT"),
            Some(Topic::Kline(KlineInterval::Day1, btc))
        );
        assert_eq!(Topic::parse("tickers.BTCUSDT"), Some(Topic::Ticker(btc)));
        for unsupported in [
            "lt.BTCUSDT",
            "tickers",
            "orderbook.x.BTCUSDT",
            "kline.7.BTCUSDT",
            "publicTrade",
            "orderbook.50",
            "publicTrade.BTC/USDT",
            "",
        ] {
            assert_eq!(Topic::parse(unsupported), None, "{unsupported}");
        }
    }
}
