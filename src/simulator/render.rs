//! Frames in each venue's exact shape, rendered from the simulator's market events.

use std::fmt::Write as _;

use wadm_actors::model::{PositionSide, Price, Qty, Ratio, Side, Symbol, Venue};

/// Writes `units` (10^-12 fixed point) with exactly `places` decimals, as venues do
/// (`"16578.50000000"`).
pub fn fixed(units: i128, places: u32) -> String {
    let scale = 10i128.pow(12 - places.min(12));
    let value = units / scale;
    let divisor = 10i128.pow(places.min(12));
    let whole = value / divisor;
    let fraction = (value % divisor).abs();
    if places == 0 {
        format!("{whole}")
    } else {
        format!("{whole}.{fraction:0width$}", width = places as usize)
    }
}

/// Decimal places each venue prints prices and sizes with.
pub fn places(venue: Venue) -> u32 {
    match venue {
        Venue::BinanceSpot => 8,
        Venue::BinanceUsdm => 4,
        Venue::BybitSpot | Venue::BybitLinear => 6,
    }
}

/// One simulated trade.
#[derive(Debug, Clone)]
pub struct SimTrade {
    /// Venue trade id (contiguous per symbol).
    pub id: u64,
    pub price: Price,
    /// Size.
    pub qty: Qty,
    /// Taker side.
    pub side: Side,
    /// Trade time (ms).
    pub time: i64,
}

/// A book change: levels of each side, size 0 deleting.
#[derive(Debug, Clone, Default)]
pub struct SimLevels {
    pub bids: Vec<(Price, Qty)>,
    pub asks: Vec<(Price, Qty)>,
}

fn levels(out: &mut String, venue: Venue, levels: &[(Price, Qty)]) {
    out.push('[');
    for (index, (price, qty)) in levels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "[\"{}\",\"{}\"]",
            fixed(price.units(), places(venue)),
            fixed(qty.units(), places(venue))
        );
    }
    out.push(']');
}

/// Binance `aggTrade` (spot and USD-M).
pub fn binance_agg_trade(venue: Venue, symbol: Symbol, trade: &SimTrade) -> String {
    let p = places(venue);
    format!(
        r#"{{"stream":"{lower}@aggTrade","data":{{"e":"aggTrade","E":{t},"s":"{symbol}","a":{id},"p":"{price}","q":"{qty}","f":{f},"l":{l},"T":{t},"m":{m}{spot}}}}}"#,
        lower = symbol.to_lowercase(),
        t = trade.time,
        id = trade.id,
        price = fixed(trade.price.units(), p),
        qty = fixed(trade.qty.units(), p),
        f = trade.id * 3,
        l = trade.id * 3 + 2,
        m = trade.side == Side::Sell,
        spot = if venue == Venue::BinanceSpot {
            r#","M":true"#
        } else {
            ""
        },
    )
}

/// Binance raw `trade`: spot's shape, or USD-M's (no `M`, the order type `X`).
pub fn binance_trade(venue: Venue, symbol: Symbol, trade: &SimTrade) -> String {
    let p = places(venue);
    let tail = if venue == Venue::BinanceUsdm {
        r#","X":"MARKET""#
    } else {
        r#","M":true"#
    };
    format!(
        r#"{{"stream":"{lower}@trade","data":{{"e":"trade","E":{t},"T":{t},"s":"{symbol}","t":{id},"p":"{price}","q":"{qty}","m":{m}{tail}}}}}"#,
        lower = symbol.to_lowercase(),
        t = trade.time,
        id = trade.id,
        price = fixed(trade.price.units(), p),
        qty = fixed(trade.qty.units(), p),
        m = trade.side == Side::Sell,
    )
}

/// Binance `depthUpdate`; USD-M adds `T` and `pu`.
#[allow(clippy::too_many_arguments)]
pub fn binance_depth(
    venue: Venue,
    symbol: Symbol,
    stream: &str,
    first: u64,
    last: u64,
    previous: u64,
    time: i64,
    change: &SimLevels,
) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        r#"{{"stream":"{lower}@{stream}","data":{{"e":"depthUpdate","E":{time},"#,
        lower = symbol.to_lowercase()
    );
    if venue == Venue::BinanceUsdm {
        let _ = write!(out, r#""T":{time},"#);
    }
    let _ = write!(out, r#""s":"{symbol}","U":{first},"u":{last},"#);
    if venue == Venue::BinanceUsdm {
        let _ = write!(out, r#""pu":{previous},"#);
    }
    out.push_str(r#""b":"#);
    levels(&mut out, venue, &change.bids);
    out.push_str(r#","a":"#);
    levels(&mut out, venue, &change.asks);
    out.push_str("}}");
    out
}

/// A candle being built from simulated trades.
#[derive(Debug, Clone)]
pub struct SimKline {
    /// Start of the minute (ms).
    pub open_time: i64,
    /// Open price.
    pub open: Price,
    /// High price.
    pub high: Price,
    /// Low price.
    pub low: Price,
    /// Close price.
    pub close: Price,
    /// Base volume.
    pub volume: Qty,
    /// Quote volume (units of 10^-12, exact only to the venue's printed places).
    pub quote_volume: Qty,
    /// Taker-buy base volume.
    pub taker_buy_volume: Qty,
    pub trades: u64,
    /// First trade id.
    pub first_id: u64,
    /// Last trade id.
    pub last_id: u64,
}

/// Binance `kline` (1m).
pub fn binance_kline(
    venue: Venue,
    symbol: Symbol,
    kline: &SimKline,
    closed: bool,
    time: i64,
) -> String {
    let p = places(venue);
    let f = |units: i128| fixed(units, p);
    format!(
        r#"{{"stream":"{lower}@kline_1m","data":{{"e":"kline","E":{time},"s":"{symbol}","k":{{"t":{t},"T":{end},"s":"{symbol}","i":"1m","f":{first},"L":{last},"o":"{o}","c":"{c}","h":"{h}","l":"{l}","v":"{v}","n":{n},"x":{closed},"q":"{q}","V":"{tb}","Q":"0","B":"0"}}}}}}"#,
        lower = symbol.to_lowercase(),
        t = kline.open_time,
        end = kline.open_time + 59_999,
        // Each simulated aggregate trade holds three raw fills (ids 3a..=3a+2), and a
        // Binance candle counts and names raw trades.
        first = kline.first_id * 3,
        last = kline.last_id * 3 + 2,
        o = f(kline.open.units()),
        c = f(kline.close.units()),
        h = f(kline.high.units()),
        l = f(kline.low.units()),
        v = f(kline.volume.units()),
        n = kline.trades * 3,
        q = f(kline.quote_volume.units()),
        tb = f(kline.taker_buy_volume.units()),
    )
}

/// Bybit trade id: numeric strings on spot, UUIDs on linear.
pub fn bybit_trade_id(venue: Venue, id: u64) -> String {
    match venue {
        Venue::BybitLinear => format!(
            "{:08x}-d8dd-5b31-9112-{:012x}",
            id >> 48,
            id & 0xffff_ffff_ffff
        ),
        _ => format!("{}", 2_100_000_000_000_000_000u64.saturating_add(id)),
    }
}

/// Bybit `publicTrade` (a batch).
pub fn bybit_trades(venue: Venue, symbol: Symbol, trades: &[SimTrade], ts: i64) -> String {
    let p = places(venue);
    let mut out = String::with_capacity(64 + trades.len() * 180);
    let _ = write!(
        out,
        r#"{{"topic":"publicTrade.{symbol}","type":"snapshot","ts":{ts},"data":["#
    );
    for (index, trade) in trades.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"T":{t},"s":"{symbol}","S":"{side}","v":"{qty}","p":"{price}","L":"PlusTick","i":"{id}","BT":false,"seq":{seq}}}"#,
            t = trade.time,
            side = if trade.side == Side::Buy {
                "Buy"
            } else {
                "Sell"
            },
            qty = fixed(trade.qty.units(), p),
            price = fixed(trade.price.units(), p),
            id = bybit_trade_id(venue, trade.id),
            seq = 7_000_000_000 + trade.id,
        );
    }
    out.push_str("]}");
    out
}

/// Bybit `orderbook.N` snapshot or delta.
pub fn bybit_book(
    venue: Venue,
    symbol: Symbol,
    depth: u16,
    snapshot: bool,
    update_id: u64,
    ts: i64,
    change: &SimLevels,
) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        r#"{{"topic":"orderbook.{depth}.{symbol}","type":"{kind}","ts":{ts},"data":{{"s":"{symbol}","b":"#,
        kind = if snapshot { "snapshot" } else { "delta" }
    );
    levels(&mut out, venue, &change.bids);
    out.push_str(r#","a":"#);
    levels(&mut out, venue, &change.asks);
    let _ = write!(
        out,
        r#","u":{update_id},"seq":{seq}}},"cts":{ts}}}"#,
        seq = 9_000_000_000 + update_id
    );
    out
}

/// Bybit `kline.1`.
pub fn bybit_kline(
    venue: Venue,
    symbol: Symbol,
    kline: &SimKline,
    closed: bool,
    time: i64,
) -> String {
    let p = places(venue);
    let f = |units: i128| fixed(units, p);
    format!(
        r#"{{"topic":"kline.1.{symbol}","data":[{{"start":{t},"end":{end},"interval":"1","open":"{o}","close":"{c}","high":"{h}","low":"{l}","volume":"{v}","turnover":"{q}","confirm":{closed},"timestamp":{time}}}],"ts":{time},"type":"snapshot"}}"#,
        t = kline.open_time,
        end = kline.open_time + 59_999,
        o = f(kline.open.units()),
        c = f(kline.close.units()),
        h = f(kline.high.units()),
        l = f(kline.low.units()),
        v = f(kline.volume.units()),
        q = f(kline.quote_volume.units()),
    )
}

/// A liquidation the simulator made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimLiquidation {
    pub time: i64,
    /// The position closed.
    pub position: PositionSide,
    pub price: Price,
    pub qty: Qty,
}

/// A perpetual's mark, index, funding and open interest at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimDerivatives {
    pub time: i64,
    pub mark: Price,
    pub index: Price,
    pub funding_rate: Ratio,
    pub next_funding: i64,
    pub open_interest: Qty,
}

/// `units` with `places` decimals, a minus sign for a negative value.
fn signed(units: i128, places: u32) -> String {
    if units < 0 {
        format!("-{}", fixed(-units, places))
    } else {
        fixed(units, places)
    }
}

/// Binance USD-M `forceOrder`: the liquidation *order*, so a long closes with a `SELL`.
pub fn binance_force_order(symbol: Symbol, liquidation: &SimLiquidation) -> String {
    let p = places(Venue::BinanceUsdm);
    let side = match liquidation.position {
        PositionSide::Long => "SELL",
        PositionSide::Short => "BUY",
    };
    let qty = fixed(liquidation.qty.units(), p);
    format!(
        r#"{{"stream":"{lower}@forceOrder","data":{{"e":"forceOrder","E":{t},"o":{{"s":"{symbol}","S":"{side}","o":"LIMIT","f":"IOC","q":"{qty}","p":"{price}","ap":"{price}","X":"FILLED","l":"{qty}","z":"{qty}","T":{t}}}}}}}"#,
        lower = symbol.to_lowercase(),
        t = liquidation.time,
        price = fixed(liquidation.price.units(), p),
    )
}

/// Binance USD-M `markPriceUpdate` (`@markPrice@1s`).
pub fn binance_mark_price(symbol: Symbol, d: &SimDerivatives) -> String {
    format!(
        r#"{{"stream":"{lower}@markPrice@1s","data":{{"e":"markPriceUpdate","E":{t},"s":"{symbol}","p":"{mark}","ap":"{mark}","i":"{index}","P":"{index}","r":"{rate}","T":{next}}}}}"#,
        lower = symbol.to_lowercase(),
        t = d.time,
        mark = fixed(d.mark.units(), 8),
        index = fixed(d.index.units(), 8),
        rate = signed(d.funding_rate.units(), 8),
        next = d.next_funding,
    )
}

/// Bybit linear `allLiquidation`: the *position*'s side, so a long liquidated is `Buy`.
pub fn bybit_liquidations(symbol: Symbol, liquidations: &[SimLiquidation], ts: i64) -> String {
    let p = places(Venue::BybitLinear);
    let mut data = String::new();
    for (n, l) in liquidations.iter().enumerate() {
        if n > 0 {
            data.push(',');
        }
        let side = match l.position {
            PositionSide::Long => "Buy",
            PositionSide::Short => "Sell",
        };
        let _ = write!(
            data,
            r#"{{"T":{t},"s":"{symbol}","S":"{side}","v":"{v}","p":"{price}"}}"#,
            t = l.time,
            v = fixed(l.qty.units(), p),
            price = fixed(l.price.units(), p),
        );
    }
    format!(r#"{{"topic":"allLiquidation.{symbol}","type":"snapshot","ts":{ts},"data":[{data}]}}"#)
}

/// Which Bybit ticker message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickerKind {
    /// The whole ticker, on subscription.
    Snapshot,
    /// What moves every second (mark, index, open interest), and the funding rate when it
    /// changed.
    Delta { funding_changed: bool },
}

/// Bybit linear `tickers`: the whole ticker (`snapshot`), or a delta.
pub fn bybit_ticker(symbol: Symbol, d: &SimDerivatives, kind: TickerKind, cs: u64) -> String {
    let snapshot = kind == TickerKind::Snapshot;
    let p = places(Venue::BybitLinear);
    let mark = fixed(d.mark.units(), p);
    let index = fixed(d.index.units(), p);
    let oi = fixed(d.open_interest.units(), p);
    let data = if snapshot {
        format!(
            r#"{{"symbol":"{symbol}","tickDirection":"PlusTick","lastPrice":"{mark}","markPrice":"{mark}","indexPrice":"{index}","openInterest":"{oi}","nextFundingTime":"{next}","fundingRate":"{rate}","bid1Price":"{mark}","ask1Price":"{mark}"}}"#,
            next = d.next_funding,
            rate = signed(d.funding_rate.units(), 6),
        )
    } else {
        let funding = match kind {
            TickerKind::Delta {
                funding_changed: true,
            } => format!(r#","fundingRate":"{}""#, signed(d.funding_rate.units(), 6)),
            _ => String::new(),
        };
        format!(
            r#"{{"symbol":"{symbol}","markPrice":"{mark}","indexPrice":"{index}","openInterest":"{oi}"{funding}}}"#
        )
    };
    let kind = if snapshot { "snapshot" } else { "delta" };
    format!(
        r#"{{"topic":"tickers.{symbol}","type":"{kind}","data":{data},"cs":{cs},"ts":{ts}}}"#,
        ts = d.time,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, parser_for};
    use wadm_actors::model::{MarketEvent, UnixNanos};

    #[test]
    fn fixed_prints_exact_places() {
        assert_eq!(fixed(16_578_500_000_000_000, 8), "16578.50000000");
        assert_eq!(fixed(1_000_000, 8), "0.00000100");
        assert_eq!(fixed(5 * 1_000_000_000_000, 0), "5");
    }

    #[test]
    fn rendered_frames_parse_with_the_real_parsers() {
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let trade = SimTrade {
            id: 42,
            price: "60000.5".parse().unwrap(),
            qty: "0.25".parse().unwrap(),
            side: Side::Sell,
            time: 1_700_000_000_000,
        };
        let change = SimLevels {
            bids: vec![("60000".parse().unwrap(), "1.5".parse().unwrap())],
            asks: vec![("60001".parse().unwrap(), Qty::ZERO)],
        };
        let kline = SimKline {
            open_time: 1_700_000_000_000 - 20_000,
            open: trade.price,
            high: trade.price,
            low: trade.price,
            close: trade.price,
            volume: trade.qty,
            quote_volume: "15000.125".parse().unwrap(),
            taker_buy_volume: Qty::ZERO,
            trades: 1,
            first_id: 42,
            last_id: 42,
        };
        let frames = [
            (
                Venue::BinanceSpot,
                binance_agg_trade(Venue::BinanceSpot, symbol, &trade),
            ),
            (
                Venue::BinanceSpot,
                binance_trade(Venue::BinanceSpot, symbol, &trade),
            ),
            (
                Venue::BinanceUsdm,
                binance_trade(Venue::BinanceUsdm, symbol, &trade),
            ),
            (
                Venue::BinanceUsdm,
                binance_agg_trade(Venue::BinanceUsdm, symbol, &trade),
            ),
            (
                Venue::BinanceSpot,
                binance_depth(
                    Venue::BinanceSpot,
                    symbol,
                    "depth@100ms",
                    10,
                    12,
                    9,
                    5,
                    &change,
                ),
            ),
            (
                Venue::BinanceUsdm,
                binance_depth(
                    Venue::BinanceUsdm,
                    symbol,
                    "depth@100ms",
                    10,
                    12,
                    9,
                    5,
                    &change,
                ),
            ),
            (
                Venue::BinanceSpot,
                binance_kline(Venue::BinanceSpot, symbol, &kline, false, 5),
            ),
            (
                Venue::BybitSpot,
                bybit_trades(Venue::BybitSpot, symbol, &[trade.clone(), trade.clone()], 5),
            ),
            (
                Venue::BybitLinear,
                bybit_trades(Venue::BybitLinear, symbol, std::slice::from_ref(&trade), 5),
            ),
            (
                Venue::BybitSpot,
                bybit_book(Venue::BybitSpot, symbol, 50, true, 1, 5, &change),
            ),
            (
                Venue::BybitLinear,
                bybit_book(Venue::BybitLinear, symbol, 50, false, 2, 5, &change),
            ),
            (
                Venue::BybitSpot,
                bybit_kline(Venue::BybitSpot, symbol, &kline, true, 5),
            ),
        ];
        for (venue, frame) in frames {
            let event = parser_for(venue, DEFAULT_MAX_FRAME_BYTES)
                .parse(frame.as_bytes(), UnixNanos(0))
                .unwrap_or_else(|err| panic!("{venue}: {err:?} in {frame}"));
            if let MarketEvent::Trades(trades) = event {
                assert_eq!(trades[0].price, trade.price);
                assert_eq!(trades[0].qty, trade.qty);
                assert_eq!(trades[0].side, Side::Sell);
            }
        }
    }

    #[test]
    fn derivatives_frames_parse_with_the_real_parsers() {
        use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, parser_for};
        use wadm_actors::model::{
            DerivativesTick, Liquidation, MarketEvent, TimestampMs, UnixNanos,
        };
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let at = UnixNanos(7);
        let liquidation = SimLiquidation {
            time: 1_700_000_000_000,
            position: PositionSide::Long,
            price: "59000.5".parse().unwrap(),
            qty: "1.25".parse().unwrap(),
        };
        let derivatives = SimDerivatives {
            time: 1_700_000_001_000,
            mark: "60000.12".parse().unwrap(),
            index: "59990.5".parse().unwrap(),
            funding_rate: "-0.0001".parse().unwrap(),
            next_funding: 1_700_006_400_000,
            open_interest: "12345.678".parse().unwrap(),
        };
        for venue in [Venue::BinanceUsdm, Venue::BybitLinear] {
            let frame = match venue {
                Venue::BinanceUsdm => binance_force_order(symbol, &liquidation),
                _ => bybit_liquidations(symbol, &[liquidation], liquidation.time + 5),
            };
            let parsed = parser_for(venue, DEFAULT_MAX_FRAME_BYTES)
                .parse(frame.as_bytes(), at)
                .unwrap();
            assert_eq!(
                parsed,
                MarketEvent::Liquidations(vec![Liquidation {
                    venue,
                    symbol,
                    position: PositionSide::Long,
                    price: liquidation.price,
                    qty: liquidation.qty,
                    time: TimestampMs(liquidation.time),
                    received_at: at,
                }]),
                "{frame}"
            );
        }
        let expected = |venue, complete, oi: Option<Qty>, funding: bool| {
            MarketEvent::Derivatives(DerivativesTick {
                venue,
                symbol,
                time: TimestampMs(derivatives.time),
                received_at: at,
                complete,
                mark_price: Some(derivatives.mark),
                index_price: Some(derivatives.index),
                funding_rate: funding.then_some(derivatives.funding_rate),
                next_funding_time: funding.then_some(TimestampMs(derivatives.next_funding)),
                open_interest: oi,
            })
        };
        let parse = |venue, frame: String| {
            parser_for(venue, DEFAULT_MAX_FRAME_BYTES)
                .parse(frame.as_bytes(), at)
                .unwrap()
        };
        assert_eq!(
            parse(Venue::BinanceUsdm, binance_mark_price(symbol, &derivatives)),
            expected(Venue::BinanceUsdm, true, None, true)
        );
        let oi = Some(derivatives.open_interest);
        assert_eq!(
            parse(
                Venue::BybitLinear,
                bybit_ticker(symbol, &derivatives, TickerKind::Snapshot, 1)
            ),
            expected(Venue::BybitLinear, true, oi, true)
        );
        assert_eq!(
            parse(
                Venue::BybitLinear,
                bybit_ticker(
                    symbol,
                    &derivatives,
                    TickerKind::Delta {
                        funding_changed: false,
                    },
                    2,
                )
            ),
            expected(Venue::BybitLinear, false, oi, false)
        );
        let mut with_funding = expected(Venue::BybitLinear, false, oi, true);
        if let MarketEvent::Derivatives(tick) = &mut with_funding {
            tick.next_funding_time = None;
        }
        assert_eq!(
            parse(
                Venue::BybitLinear,
                bybit_ticker(
                    symbol,
                    &derivatives,
                    TickerKind::Delta {
                        funding_changed: true,
                    },
                    3,
                )
            ),
            with_funding
        );
    }
}
