//! The venue parsers again, on `serde_json` instead of simd-json: the baseline of the parse
//! benchmark and an independent oracle for the differential tests.
//!
//! It is the idiomatic serde_json design: borrowed derive structs, and `RawValue` to dispatch
//! a Binance envelope on its stream name (or a Bybit message on its topic) before decoding the
//! payload into the right struct. Normalization goes through the same field conversions as
//! the simd-json parsers, so the two differ only in how they decode JSON.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::fields;
use super::frame::{FrameKind, FrameParser, ParseError, clip};
use super::venues::binance;
use crate::model::{
    BookDelta, BookSnapshot, Control, DeltaSequence, DerivativesTick, FillRange, Kline,
    KlineInterval, Level, Liquidation, MarketEvent, Side, SnapshotSequence, Symbol, TimestampMs,
    Trade, TradeFlags, TradeId, UnixNanos, Venue,
};

/// serde_json parser for any venue, producing exactly what the simd-json parsers produce.
#[derive(Debug)]
pub struct SerdeJsonParser {
    venue: Venue,
    max_frame_bytes: usize,
}

impl SerdeJsonParser {
    /// Creates a baseline parser for `venue`.
    pub fn new(venue: Venue, max_frame_bytes: usize) -> Self {
        Self {
            venue,
            max_frame_bytes,
        }
    }
}

impl FrameParser for SerdeJsonParser {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn parse(&mut self, frame: &[u8], received_at: UnixNanos) -> Result<MarketEvent, ParseError> {
        if frame.len() > self.max_frame_bytes {
            return Err(ParseError::FrameTooLarge {
                len: frame.len(),
                max: self.max_frame_bytes,
            });
        }
        match self.venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => {
                binance_frame(self.venue, frame, received_at)
            }
            Venue::BybitSpot | Venue::BybitLinear => bybit_frame(self.venue, frame, received_at),
        }
    }
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ParseError> {
    serde_json::from_slice(bytes).map_err(|source| ParseError::Baseline { source })
}

fn decode_raw<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, ParseError> {
    serde_json::from_str(raw.get()).map_err(|source| ParseError::Baseline { source })
}

/// Marks a key as present, whatever its value (including `null`).
#[derive(Debug, Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| Present(true))
    }
}

type Text<'a> = Cow<'a, str>;
type Pairs<'a> = Vec<(Text<'a>, Text<'a>)>;

fn levels(
    kind: FrameKind,
    field: &'static str,
    pairs: &Pairs<'_>,
) -> Result<Vec<Level>, ParseError> {
    pairs
        .iter()
        .map(|(price, qty)| fields::level(kind, field, price, qty))
        .collect()
}

fn expect_event(kind: FrameKind, actual: &str, expected: &str) -> Result<(), ParseError> {
    if actual == expected {
        Ok(())
    } else {
        Err(ParseError::InvalidValue {
            kind,
            field: "e",
            reason: "event type differs from the stream",
        })
    }
}

// === Binance ===

#[derive(Deserialize)]
struct BinanceTop<'a> {
    #[serde(borrow)]
    stream: Option<Text<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    e: Option<Text<'a>>,
    id: Option<u64>,
    #[serde(default)]
    result: Present,
    code: Option<i64>,
    #[serde(borrow)]
    msg: Option<Text<'a>>,
    #[serde(borrow)]
    error: Option<BinanceError<'a>>,
}

#[derive(Deserialize)]
struct BinanceError<'a> {
    code: Option<i64>,
    #[serde(borrow)]
    msg: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(borrow)]
    e: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct AggTradeWire<'a> {
    #[serde(borrow)]
    e: Text<'a>,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(borrow)]
    s: Text<'a>,
    a: u64,
    #[serde(borrow)]
    p: Text<'a>,
    #[serde(borrow)]
    q: Text<'a>,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    trade_time: i64,
    m: bool,
}

#[derive(Deserialize)]
struct ForceOrderWire<'a> {
    #[serde(borrow)]
    e: Text<'a>,
    #[serde(borrow)]
    o: ForceOrderInner<'a>,
}

#[derive(Deserialize)]
struct ForceOrderInner<'a> {
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(rename = "S", borrow)]
    side: Text<'a>,
    #[serde(borrow)]
    ap: Text<'a>,
    #[serde(borrow)]
    z: Text<'a>,
    #[serde(rename = "T")]
    time: i64,
}

#[derive(Deserialize)]
struct MarkPriceWire<'a> {
    #[serde(borrow)]
    e: Text<'a>,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(borrow)]
    p: Text<'a>,
    #[serde(borrow)]
    i: Text<'a>,
    #[serde(borrow)]
    r: Text<'a>,
    #[serde(rename = "T")]
    next: i64,
}

#[derive(Deserialize)]
struct TradeWire<'a> {
    #[serde(borrow)]
    e: Text<'a>,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(borrow)]
    s: Text<'a>,
    t: u64,
    #[serde(borrow)]
    p: Text<'a>,
    #[serde(borrow)]
    q: Text<'a>,
    #[serde(rename = "T")]
    trade_time: i64,
    m: bool,
}

#[derive(Deserialize)]
struct DepthWire<'a> {
    #[serde(borrow)]
    e: Text<'a>,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "T")]
    transaction_time: Option<i64>,
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    pu: Option<u64>,
    #[serde(borrow)]
    b: Pairs<'a>,
    #[serde(borrow)]
    a: Pairs<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartialDepthWire<'a> {
    last_update_id: u64,
    #[serde(borrow)]
    bids: Pairs<'a>,
    #[serde(borrow)]
    asks: Pairs<'a>,
}

#[derive(Deserialize)]
struct KlineEventWire<'a> {
    #[serde(borrow)]
    e: Text<'a>,
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(borrow)]
    k: KlineWire<'a>,
}

#[derive(Deserialize)]
struct KlineWire<'a> {
    t: i64,
    #[serde(rename = "T")]
    close_time: i64,
    #[serde(borrow)]
    s: Option<Text<'a>>,
    #[serde(borrow)]
    i: Text<'a>,
    f: i64,
    #[serde(rename = "L")]
    last: i64,
    #[serde(borrow)]
    o: Text<'a>,
    #[serde(borrow)]
    c: Text<'a>,
    #[serde(borrow)]
    h: Text<'a>,
    #[serde(borrow)]
    l: Text<'a>,
    #[serde(borrow)]
    v: Text<'a>,
    n: Option<u64>,
    x: bool,
    #[serde(borrow)]
    q: Text<'a>,
    #[serde(rename = "V", borrow)]
    taker_buy: Option<Text<'a>>,
    #[serde(rename = "Q", borrow)]
    taker_buy_quote: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ShutdownWire {
    #[serde(rename = "E")]
    event_time: i64,
}

fn binance_frame(
    venue: Venue,
    frame: &[u8],
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let top: BinanceTop<'_> = decode(frame)?;
    if let Some(stream) = &top.stream {
        let data = top.data.ok_or(ParseError::MissingField {
            kind: FrameKind::Envelope,
            field: "data",
        })?;
        return binance_payload(venue, Some(stream), data, received_at);
    }
    if top.e.is_some() {
        let whole: &RawValue = decode(frame)?;
        return binance_payload(venue, None, whole, received_at);
    }
    let rejected = match (&top.error, top.code) {
        (Some(error), _) => Some((error.code, error.msg.as_deref())),
        (None, Some(code)) => Some((Some(code), top.msg.as_deref())),
        (None, None) => None,
    };
    if let Some((code, message)) = rejected {
        return Ok(MarketEvent::Control(fields::binance_rejection(
            top.id, code, message,
        )));
    }
    if top.id.is_some() || top.result.0 {
        return Ok(MarketEvent::Control(Control::Ack { request_id: top.id }));
    }
    Err(ParseError::UnknownShape)
}

fn binance_payload(
    venue: Venue,
    stream: Option<&str>,
    data: &RawValue,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let channel = match stream {
        Some(stream) => stream.split_once('@').map(|(_, channel)| channel),
        None => None,
    };
    let event = match channel {
        Some("aggTrade") => "aggTrade",
        Some("trade") => "trade",
        Some("forceOrder") => "forceOrder",
        Some(c) if c.starts_with("markPrice") => "markPriceUpdate",
        Some(c) if c.starts_with("kline_") => "kline",
        Some(_)
            if venue == Venue::BinanceSpot
                && stream
                    .and_then(fields::binance_partial_depth_levels)
                    .is_some() =>
        {
            "partial"
        }
        Some(c) if c.starts_with("depth") => "depthUpdate",
        _ => {
            let kind: EventType<'_> = decode_raw(data)?;
            match kind.e.as_deref() {
                Some("serverShutdown") => "serverShutdown",
                Some("aggTrade") => "aggTrade",
                Some("kline") => "kline",
                Some("depthUpdate") => "depthUpdate",
                Some("trade") => "trade",
                Some("forceOrder") => "forceOrder",
                Some("markPriceUpdate") => "markPriceUpdate",
                Some(other) => return Err(binance::unsupported_event(other)),
                None => return Err(binance::unsupported_stream(stream)),
            }
        }
    };
    let check = |kind, s: &str| -> Result<Symbol, ParseError> {
        fields::check_stream_symbol(kind, stream, fields::symbol(kind, "s", s)?)
    };
    // Liquidations and mark prices are USD-M payloads: spot refuses them as it refuses any
    // event it does not handle.
    if venue != Venue::BinanceUsdm && matches!(event, "forceOrder" | "markPriceUpdate") {
        return Err(binance::unsupported_event(event));
    }
    match event {
        "forceOrder" => {
            let kind = FrameKind::ForceOrder;
            let w: ForceOrderWire<'_> = decode_raw(data)?;
            expect_event(kind, &w.e, "forceOrder")?;
            Ok(MarketEvent::Liquidations(vec![Liquidation {
                venue,
                symbol: check(kind, &w.o.s)?,
                position: fields::binance_liquidated(kind, "S", &w.o.side)?,
                price: fields::trade_price(kind, "ap", &w.o.ap)?,
                qty: fields::trade_qty(kind, "z", &w.o.z)?,
                time: TimestampMs(w.o.time),
                received_at,
            }]))
        }
        "markPriceUpdate" => {
            let kind = FrameKind::MarkPrice;
            let w: MarkPriceWire<'_> = decode_raw(data)?;
            expect_event(kind, &w.e, "markPriceUpdate")?;
            Ok(MarketEvent::Derivatives(DerivativesTick {
                venue,
                symbol: check(kind, &w.s)?,
                time: TimestampMs(w.event_time),
                received_at,
                complete: true,
                mark_price: Some(fields::price(kind, "p", &w.p)?),
                index_price: Some(fields::price(kind, "i", &w.i)?),
                funding_rate: Some(fields::funding_rate(kind, "r", &w.r)?),
                next_funding_time: fields::funding_time(w.next),
                open_interest: None,
            }))
        }
        "aggTrade" => {
            let kind = FrameKind::AggTrade;
            let w: AggTradeWire<'_> = decode_raw(data)?;
            expect_event(kind, &w.e, "aggTrade")?;
            Ok(MarketEvent::Trades(vec![Trade {
                venue,
                symbol: check(kind, &w.s)?,
                id: TradeId::Number(w.a),
                price: fields::trade_price(kind, "p", &w.p)?,
                qty: fields::trade_qty(kind, "q", &w.q)?,
                side: Side::from_buyer_is_maker(w.m),
                trade_time: TimestampMs(w.trade_time),
                event_time: TimestampMs(w.event_time),
                received_at,
                flags: TradeFlags::AGGREGATE,
                sequence: None,
                fills: Some(FillRange {
                    first: w.f,
                    last: w.l,
                }),
            }]))
        }
        "trade" => {
            let kind = FrameKind::Trade;
            let w: TradeWire<'_> = decode_raw(data)?;
            expect_event(kind, &w.e, "trade")?;
            Ok(MarketEvent::Trades(vec![Trade {
                venue,
                symbol: check(kind, &w.s)?,
                id: TradeId::Number(w.t),
                price: fields::trade_price(kind, "p", &w.p)?,
                qty: fields::trade_qty(kind, "q", &w.q)?,
                side: Side::from_buyer_is_maker(w.m),
                trade_time: TimestampMs(w.trade_time),
                event_time: TimestampMs(w.event_time),
                received_at,
                flags: TradeFlags::NONE,
                sequence: None,
                fills: None,
            }]))
        }
        "depthUpdate" => {
            let kind = FrameKind::DepthUpdate;
            let w: DepthWire<'_> = decode_raw(data)?;
            expect_event(kind, &w.e, "depthUpdate")?;
            fields::depth_update_ids(w.first, w.u)?;
            let (sequence, transaction_time) = match venue {
                Venue::BinanceUsdm => (
                    DeltaSequence::BinanceUsdm {
                        first_update_id: w.first,
                        final_update_id: w.u,
                        previous_final_update_id: w
                            .pu
                            .ok_or(ParseError::MissingField { kind, field: "pu" })?,
                    },
                    w.transaction_time.map(TimestampMs),
                ),
                _ => (
                    DeltaSequence::BinanceSpot {
                        first_update_id: w.first,
                        final_update_id: w.u,
                    },
                    None,
                ),
            };
            Ok(MarketEvent::BookDelta(BookDelta {
                venue,
                symbol: check(kind, &w.s)?,
                sequence,
                bids: levels(kind, "b", &w.b)?,
                asks: levels(kind, "a", &w.a)?,
                event_time: TimestampMs(w.event_time),
                transaction_time,
                received_at,
            }))
        }
        "partial" => {
            let kind = FrameKind::PartialDepth;
            let w: PartialDepthWire<'_> = decode_raw(data)?;
            let stream = stream.unwrap_or_default();
            Ok(MarketEvent::BookSnapshot(BookSnapshot {
                venue,
                symbol: fields::binance_stream_symbol(stream)?,
                sequence: SnapshotSequence::Binance {
                    last_update_id: w.last_update_id,
                },
                bids: levels(kind, "bids", &w.bids)?,
                asks: levels(kind, "asks", &w.asks)?,
                event_time: None,
                received_at,
            }))
        }
        "kline" => {
            let kind = FrameKind::Kline;
            let w: KlineEventWire<'_> = decode_raw(data)?;
            expect_event(kind, &w.e, "kline")?;
            let symbol = check(kind, &w.s)?;
            let k = &w.k;
            if let Some(inner) = &k.s {
                fields::same_symbol(kind, symbol, fields::symbol(kind, "s", inner)?)?;
            }
            let interval = KlineInterval::from_binance(&k.i).ok_or(ParseError::InvalidValue {
                kind,
                field: "i",
                reason: "unknown kline interval",
            })?;
            Ok(MarketEvent::Klines(vec![Kline {
                venue,
                symbol,
                interval,
                open_time: TimestampMs(k.t),
                close_time: TimestampMs(k.close_time),
                open: fields::price(kind, "o", &k.o)?,
                high: fields::price(kind, "h", &k.h)?,
                low: fields::price(kind, "l", &k.l)?,
                close: fields::price(kind, "c", &k.c)?,
                volume: fields::qty(kind, "v", &k.v)?,
                quote_volume: fields::qty(kind, "q", &k.q)?,
                taker_buy_volume: k
                    .taker_buy
                    .as_deref()
                    .map(|t| fields::qty(kind, "V", t))
                    .transpose()?,
                taker_buy_quote_volume: k
                    .taker_buy_quote
                    .as_deref()
                    .map(|t| fields::qty(kind, "Q", t))
                    .transpose()?,
                trade_count: k.n,
                first_trade_id: k.f.try_into().ok(),
                last_trade_id: k.last.try_into().ok(),
                closed: k.x,
                event_time: TimestampMs(w.event_time),
                received_at,
            }]))
        }
        _ => {
            let w: ShutdownWire = decode_raw(data)?;
            Ok(MarketEvent::Control(Control::ServerShutdown {
                event_time: TimestampMs(w.event_time),
            }))
        }
    }
}

// === Bybit ===

#[derive(Deserialize)]
struct BybitTop<'a> {
    #[serde(borrow)]
    topic: Option<Text<'a>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    ts: Option<i64>,
    cts: Option<i64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    op: Option<Text<'a>>,
    success: Option<bool>,
    #[serde(borrow)]
    ret_msg: Option<Text<'a>>,
    #[serde(borrow)]
    req_id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct BybitLiquidationWire<'a> {
    #[serde(rename = "T")]
    time: i64,
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(rename = "S", borrow)]
    side: Text<'a>,
    #[serde(borrow)]
    v: Text<'a>,
    #[serde(borrow)]
    p: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BybitTickerWire<'a> {
    #[serde(borrow)]
    symbol: Text<'a>,
    #[serde(borrow)]
    mark_price: Option<Text<'a>>,
    #[serde(borrow)]
    index_price: Option<Text<'a>>,
    #[serde(borrow)]
    funding_rate: Option<Text<'a>>,
    #[serde(borrow)]
    next_funding_time: Option<Text<'a>>,
    #[serde(borrow)]
    open_interest: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct BybitTradeWire<'a> {
    #[serde(rename = "T")]
    trade_time: i64,
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(rename = "S", borrow)]
    side: Text<'a>,
    #[serde(borrow)]
    v: Text<'a>,
    #[serde(borrow)]
    p: Text<'a>,
    #[serde(borrow)]
    i: Text<'a>,
    #[serde(rename = "BT")]
    block_trade: Option<bool>,
    #[serde(rename = "RPI")]
    rpi: Option<bool>,
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct BybitBookWire<'a> {
    #[serde(borrow)]
    s: Text<'a>,
    #[serde(borrow)]
    b: Pairs<'a>,
    #[serde(borrow)]
    a: Pairs<'a>,
    u: u64,
    seq: u64,
}

#[derive(Deserialize)]
struct BybitKlineWire<'a> {
    start: i64,
    end: i64,
    #[serde(borrow)]
    interval: Text<'a>,
    #[serde(borrow)]
    open: Text<'a>,
    #[serde(borrow)]
    close: Text<'a>,
    #[serde(borrow)]
    high: Text<'a>,
    #[serde(borrow)]
    low: Text<'a>,
    #[serde(borrow)]
    volume: Text<'a>,
    #[serde(borrow)]
    turnover: Text<'a>,
    confirm: bool,
    timestamp: i64,
}

fn bybit_frame(
    venue: Venue,
    frame: &[u8],
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let top: BybitTop<'_> = decode(frame)?;
    let Some(topic) = &top.topic else {
        return bybit_response(&top);
    };
    let topic_parts = super::venues::bybit_topic(topic)
        .ok_or_else(|| ParseError::UnsupportedTopic { topic: clip(topic) })?;
    let missing = |kind, field| ParseError::MissingField { kind, field };
    match topic_parts {
        super::venues::BybitTopic::Liquidation(_) | super::venues::BybitTopic::Ticker(_)
            if venue != Venue::BybitLinear =>
        {
            Err(ParseError::UnsupportedTopic { topic: clip(topic) })
        }
        super::venues::BybitTopic::Liquidation(symbol) => {
            let kind = FrameKind::Liquidation;
            let items: Vec<BybitLiquidationWire<'_>> =
                decode_raw(top.data.ok_or(missing(kind, "data"))?)?;
            let liquidations = items
                .iter()
                .map(|w| {
                    Ok(Liquidation {
                        venue,
                        symbol: fields::same_symbol(
                            kind,
                            symbol,
                            fields::symbol(kind, "s", &w.s)?,
                        )?,
                        position: fields::bybit_liquidated(kind, "S", &w.side)?,
                        price: fields::trade_price(kind, "p", &w.p)?,
                        qty: fields::trade_qty(kind, "v", &w.v)?,
                        time: TimestampMs(w.time),
                        received_at,
                    })
                })
                .collect::<Result<Vec<_>, ParseError>>()?;
            Ok(MarketEvent::Liquidations(liquidations))
        }
        super::venues::BybitTopic::Ticker(symbol) => {
            let kind = FrameKind::Ticker;
            let complete = match top.kind.as_deref().ok_or(missing(kind, "type"))? {
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
            let time = TimestampMs(top.ts.ok_or(missing(kind, "ts"))?);
            let w: BybitTickerWire<'_> = decode_raw(top.data.ok_or(missing(kind, "data"))?)?;
            let price = |text: &Option<Text<'_>>, field| {
                text.as_deref()
                    .map(|t| fields::price(kind, field, t))
                    .transpose()
            };
            Ok(MarketEvent::Derivatives(DerivativesTick {
                venue,
                symbol: fields::same_symbol(
                    kind,
                    symbol,
                    fields::symbol(kind, "symbol", &w.symbol)?,
                )?,
                time,
                received_at,
                complete,
                mark_price: price(&w.mark_price, "markPrice")?,
                index_price: price(&w.index_price, "indexPrice")?,
                funding_rate: w
                    .funding_rate
                    .as_deref()
                    .map(|t| fields::funding_rate(kind, "fundingRate", t))
                    .transpose()?,
                next_funding_time: w
                    .next_funding_time
                    .as_deref()
                    .map(|t| fields::funding_time_text(kind, "nextFundingTime", t))
                    .transpose()?
                    .flatten(),
                open_interest: w
                    .open_interest
                    .as_deref()
                    .map(|t| fields::qty(kind, "openInterest", t))
                    .transpose()?,
            }))
        }
        super::venues::BybitTopic::PublicTrade(symbol) => {
            let kind = FrameKind::PublicTrade;
            let event_time = TimestampMs(top.ts.ok_or(missing(kind, "ts"))?);
            let items: Vec<BybitTradeWire<'_>> =
                decode_raw(top.data.ok_or(missing(kind, "data"))?)?;
            let trades = items
                .iter()
                .map(|w| {
                    let mut flags = TradeFlags::NONE;
                    if w.block_trade.unwrap_or(false) {
                        flags = flags.with(TradeFlags::BLOCK_TRADE);
                    }
                    if w.rpi.unwrap_or(false) {
                        flags = flags.with(TradeFlags::RETAIL_PRICE_IMPROVEMENT);
                    }
                    Ok(Trade {
                        venue,
                        symbol: fields::same_symbol(
                            kind,
                            symbol,
                            fields::symbol(kind, "s", &w.s)?,
                        )?,
                        id: TradeId::from_text(&w.i),
                        price: fields::trade_price(kind, "p", &w.p)?,
                        qty: fields::trade_qty(kind, "v", &w.v)?,
                        side: fields::bybit_side(kind, "S", &w.side)?,
                        trade_time: TimestampMs(w.trade_time),
                        event_time,
                        received_at,
                        flags,
                        sequence: w.seq,
                        fills: None,
                    })
                })
                .collect::<Result<Vec<_>, ParseError>>()?;
            Ok(MarketEvent::Trades(trades))
        }
        super::venues::BybitTopic::OrderBook(_, symbol) => {
            let kind = FrameKind::OrderBook;
            let event_time = TimestampMs(top.ts.ok_or(missing(kind, "ts"))?);
            let book_kind = top.kind.as_deref().ok_or(missing(kind, "type"))?;
            let w: BybitBookWire<'_> = decode_raw(top.data.ok_or(missing(kind, "data"))?)?;
            let symbol = fields::same_symbol(kind, symbol, fields::symbol(kind, "s", &w.s)?)?;
            let bids = levels(kind, "b", &w.b)?;
            let asks = levels(kind, "a", &w.a)?;
            match book_kind {
                "snapshot" => Ok(MarketEvent::BookSnapshot(BookSnapshot {
                    venue,
                    symbol,
                    sequence: SnapshotSequence::Bybit {
                        update_id: w.u,
                        cross_sequence: w.seq,
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
                        update_id: w.u,
                        cross_sequence: w.seq,
                    },
                    bids,
                    asks,
                    event_time,
                    transaction_time: top.cts.map(TimestampMs),
                    received_at,
                })),
                _ => Err(ParseError::InvalidValue {
                    kind,
                    field: "type",
                    reason: "expected \"snapshot\" or \"delta\"",
                }),
            }
        }
        super::venues::BybitTopic::Kline(interval, symbol) => {
            let kind = FrameKind::Kline;
            let items: Vec<BybitKlineWire<'_>> =
                decode_raw(top.data.ok_or(missing(kind, "data"))?)?;
            let klines = items
                .iter()
                .map(|w| {
                    if KlineInterval::from_bybit(&w.interval) != Some(interval) {
                        return Err(ParseError::InvalidValue {
                            kind,
                            field: "interval",
                            reason: "differs from the topic's interval",
                        });
                    }
                    Ok(Kline {
                        venue,
                        symbol,
                        interval,
                        open_time: TimestampMs(w.start),
                        close_time: TimestampMs(w.end),
                        open: fields::price(kind, "open", &w.open)?,
                        high: fields::price(kind, "high", &w.high)?,
                        low: fields::price(kind, "low", &w.low)?,
                        close: fields::price(kind, "close", &w.close)?,
                        volume: fields::qty(kind, "volume", &w.volume)?,
                        quote_volume: fields::qty(kind, "turnover", &w.turnover)?,
                        taker_buy_volume: None,
                        taker_buy_quote_volume: None,
                        trade_count: None,
                        first_trade_id: None,
                        last_trade_id: None,
                        closed: w.confirm,
                        event_time: TimestampMs(w.timestamp),
                        received_at,
                    })
                })
                .collect::<Result<Vec<_>, ParseError>>()?;
            Ok(MarketEvent::Klines(klines))
        }
    }
}

fn bybit_response(top: &BybitTop<'_>) -> Result<MarketEvent, ParseError> {
    let control = fields::bybit_response(
        top.op.as_deref(),
        top.success,
        top.req_id.as_deref(),
        top.ret_msg.as_deref(),
    )?;
    Ok(MarketEvent::Control(control))
}
