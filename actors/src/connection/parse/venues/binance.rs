//! What Binance spot and USD-M share: the combined-stream envelope
//! (`{"stream":"<symbol>@<channel>","data":{...}}`), `aggTrade`, `kline`, `serverShutdown`,
//! and the answers to our requests.
//!
//! Dispatch is by the payload's event type `e`, whatever the order of keys; partial-depth
//! payloads carry no `e` and are recognised by their stream name. When the envelope names a
//! symbol, the payload's `s` must agree with it.

use simd_json::tape::Value;

use crate::connection::parse::fields;
use crate::connection::parse::frame::FrameParser;
use crate::connection::parse::frame::{FrameKind, ParseError, clip};
use crate::connection::parse::tape::{Field, Obj, TapeDecoder, pick};
use crate::model::{
    BookDelta, Control, DeltaSequence, DerivativesTick, FillRange, Kline, KlineInterval,
    Liquidation, MarketEvent, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos,
    Venue,
};

/// Parses a venue-specific payload: the stream name when the frame came in an envelope,
/// and the payload object.
pub(crate) type PayloadParser =
    fn(Option<&str>, Obj<'_, '_>, UnixNanos) -> Result<MarketEvent, ParseError>;

/// Parser for Binance combined-stream frames of one venue (spot or USD-M).
#[derive(Debug)]
pub struct BinanceParser {
    venue: Venue,
    decoder: TapeDecoder,
    payload: PayloadParser,
}

impl BinanceParser {
    /// Creates a Binance spot parser that rejects frames over `max_frame_bytes`.
    pub fn spot(max_frame_bytes: usize) -> Self {
        Self {
            venue: Venue::BinanceSpot,
            decoder: TapeDecoder::new(max_frame_bytes),
            payload: super::binance_spot::payload,
        }
    }

    /// Creates a Binance USD-M parser that rejects frames over `max_frame_bytes`.
    pub fn usdm(max_frame_bytes: usize) -> Self {
        Self {
            venue: Venue::BinanceUsdm,
            decoder: TapeDecoder::new(max_frame_bytes),
            payload: super::binance_usdm::payload,
        }
    }
}

impl FrameParser for BinanceParser {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn parse(&mut self, frame: &[u8], received_at: UnixNanos) -> Result<MarketEvent, ParseError> {
        let payload = self.payload;
        self.decoder
            .decode(frame, |root| parse_frame(root, received_at, payload))
    }
}

/// Parses one Binance frame: envelope, bare event, or an answer to one of our requests
/// (`{"result":null,"id":1}`, `{"code":2,"msg":"..."}`, `{"error":{"code":2,"msg":"..."},"id":1}`).
pub(crate) fn parse_frame(
    root: Value<'_, '_>,
    received_at: UnixNanos,
    payload: PayloadParser,
) -> Result<MarketEvent, ParseError> {
    let root = Obj::new(root, FrameKind::Envelope, "frame")?;
    let f = pick!(root;
        stream = "stream", data = "data", event = "e",
        id = "id", result = "result", error = "error", code = "code", msg = "msg",
    );
    if f.stream().is_present() {
        return payload(
            Some(f.stream().str()?),
            f.data().obj(FrameKind::Envelope)?,
            received_at,
        );
    }
    if f.event().is_present() {
        return payload(None, root, received_at);
    }
    let kind = FrameKind::Response;
    let request_id = f.id().of_kind(kind).opt_u64()?;
    let rejection = if f.error().is_present() {
        let error = pick!(f.error().obj(kind)?; code = "code", msg = "msg");
        Some((error.code(), error.msg()))
    } else if f.code().is_present() {
        Some((f.code().of_kind(kind), f.msg().of_kind(kind)))
    } else {
        None
    };
    if let Some((code, msg)) = rejection {
        return Ok(MarketEvent::Control(fields::binance_rejection(
            request_id,
            code.opt_i64()?,
            msg.opt_str()?,
        )));
    }
    if request_id.is_some() || f.result().is_seen() {
        return Ok(MarketEvent::Control(Control::Ack { request_id }));
    }
    Err(ParseError::UnknownShape)
}

/// Returns the event type `e` of a payload, if it has one.
pub(crate) fn event_type<'i>(data: &Obj<'_, 'i>) -> Result<Option<&'i str>, ParseError> {
    data.field("e").opt_str()
}

/// Returns the error for an event type this venue does not handle.
pub(crate) fn unsupported_event(event: &str) -> ParseError {
    ParseError::UnsupportedEvent { event: clip(event) }
}

/// Returns the error for a payload without an event type on a stream this venue does not handle.
pub(crate) fn unsupported_stream(stream: Option<&str>) -> ParseError {
    match stream {
        Some(stream) => ParseError::UnsupportedStream {
            stream: clip(stream),
        },
        None => ParseError::UnknownShape,
    }
}

/// Reads the payload's symbol field and checks it against the stream name, if any.
pub(crate) fn payload_symbol(
    stream: Option<&str>,
    field: &Field<'_, '_>,
    kind: FrameKind,
) -> Result<Symbol, ParseError> {
    let symbol = fields::symbol(kind, "s", field.str()?)?;
    fields::check_stream_symbol(kind, stream, symbol)
}

/// Reads and checks the first and final update ids (`U`, `u`) of a diff-depth payload.
pub(crate) fn depth_update_ids(
    first: &Field<'_, '_>,
    last: &Field<'_, '_>,
) -> Result<(u64, u64), ParseError> {
    fields::depth_update_ids(first.u64()?, last.u64()?)
}

/// Parses a `depthUpdate` payload:
/// `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}`;
/// USD-M adds `"pu"` (required: it chains the diffs) and `"T"`.
pub(crate) fn depth_update(
    venue: Venue,
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::DepthUpdate;
    let f = pick!(data.as_kind(kind);
        symbol = "s", first = "U", last = "u", previous = "pu", bids = "b", asks = "a",
        event_time = "E", transaction_time = "T",
    );
    let (first_update_id, final_update_id) = depth_update_ids(&f.first(), &f.last())?;
    let (sequence, transaction_time) = if venue == Venue::BinanceUsdm {
        let sequence = DeltaSequence::BinanceUsdm {
            first_update_id,
            final_update_id,
            previous_final_update_id: f.previous().u64()?,
        };
        (sequence, f.transaction_time().opt_i64()?.map(TimestampMs))
    } else {
        (
            DeltaSequence::BinanceSpot {
                first_update_id,
                final_update_id,
            },
            None,
        )
    };
    Ok(MarketEvent::BookDelta(BookDelta {
        venue,
        symbol: payload_symbol(stream, &f.symbol(), kind)?,
        sequence,
        bids: f.bids().levels()?,
        asks: f.asks().levels()?,
        event_time: TimestampMs(f.event_time().i64()?),
        transaction_time,
        received_at,
    }))
}

/// Parses an `aggTrade` payload.
pub(crate) fn agg_trade(
    venue: Venue,
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::AggTrade;
    let f = pick!(data.as_kind(kind);
        symbol = "s", id = "a", price = "p", qty = "q", buyer_is_maker = "m",
        trade_time = "T", event_time = "E", first = "f", last = "l",
    );
    let trade = Trade {
        venue,
        symbol: payload_symbol(stream, &f.symbol(), kind)?,
        id: TradeId::Number(f.id().u64()?),
        price: f.price().trade_price()?,
        qty: f.qty().trade_qty()?,
        side: Side::from_buyer_is_maker(f.buyer_is_maker().bool()?),
        trade_time: TimestampMs(f.trade_time().i64()?),
        event_time: TimestampMs(f.event_time().i64()?),
        received_at,
        flags: TradeFlags::AGGREGATE,
        sequence: None,
        fills: Some(FillRange {
            first: f.first().u64()?,
            last: f.last().u64()?,
        }),
    };
    Ok(MarketEvent::Trades(vec![trade]))
}

/// Parses a USD-M `forceOrder` payload (one liquidation; the venue pushes at most the largest
/// per symbol each second):
/// `{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}`.
/// The size is the filled quantity `z`, the price the average fill price `ap`.
pub(crate) fn force_order(
    venue: Venue,
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::ForceOrder;
    let outer = pick!(data.as_kind(kind); order = "o");
    let o = pick!(outer.order().obj(kind)?;
        symbol = "s", side = "S", average = "ap", filled = "z", time = "T",
    );
    Ok(MarketEvent::Liquidations(vec![Liquidation {
        venue,
        symbol: payload_symbol(stream, &o.symbol(), kind)?,
        position: fields::binance_liquidated(kind, "S", o.side().str()?)?,
        price: o.average().trade_price()?,
        qty: o.filled().trade_qty()?,
        time: TimestampMs(o.time().i64()?),
        received_at,
    }]))
}

/// Parses a USD-M `markPriceUpdate` payload:
/// `{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","ap":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}`
/// (`p` mark, `i` index, `r` funding rate, `T` next funding time; other fields are ignored).
pub(crate) fn mark_price(
    venue: Venue,
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::MarkPrice;
    let f = pick!(data.as_kind(kind);
        symbol = "s", event_time = "E", mark = "p", index = "i", rate = "r", next = "T",
    );
    Ok(MarketEvent::Derivatives(DerivativesTick {
        venue,
        symbol: payload_symbol(stream, &f.symbol(), kind)?,
        time: TimestampMs(f.event_time().i64()?),
        received_at,
        complete: true,
        mark_price: Some(f.mark().price()?),
        index_price: Some(f.index().price()?),
        funding_rate: Some(fields::funding_rate(kind, "r", f.rate().str()?)?),
        next_funding_time: fields::funding_time(f.next().i64()?),
        open_interest: None,
    }))
}

/// Parses a `kline` payload.
pub(crate) fn kline(
    venue: Venue,
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::Kline;
    let outer = pick!(data.as_kind(kind); symbol = "s", event_time = "E", k = "k");
    let symbol = payload_symbol(stream, &outer.symbol(), kind)?;
    let k = pick!(outer.k().obj(kind)?;
        open_time = "t", close_time = "T", symbol = "s", interval = "i", first = "f", last = "L",
        open = "o", close = "c", high = "h", low = "l", volume = "v", trades = "n", closed = "x",
        quote_volume = "q", taker_buy = "V", taker_buy_quote = "Q",
    );
    if let Some(inner) = k.symbol().opt_str()? {
        fields::same_symbol(kind, symbol, fields::symbol(kind, "s", inner)?)?;
    }
    let interval =
        KlineInterval::from_binance(k.interval().str()?).ok_or(ParseError::InvalidValue {
            kind,
            field: "i",
            reason: "unknown kline interval",
        })?;
    let kline = Kline {
        venue,
        symbol,
        interval,
        open_time: TimestampMs(k.open_time().i64()?),
        close_time: TimestampMs(k.close_time().i64()?),
        open: k.open().price()?,
        high: k.high().price()?,
        low: k.low().price()?,
        close: k.close().price()?,
        volume: k.volume().qty()?,
        quote_volume: k.quote_volume().qty()?,
        taker_buy_volume: k.taker_buy().opt_qty()?,
        taker_buy_quote_volume: k.taker_buy_quote().opt_qty()?,
        trade_count: k.trades().opt_u64()?,
        // Binance sends -1 for the trade ids of a candle without trades.
        first_trade_id: k.first().i64()?.try_into().ok(),
        last_trade_id: k.last().i64()?.try_into().ok(),
        closed: k.closed().bool()?,
        event_time: TimestampMs(outer.event_time().i64()?),
        received_at,
    };
    Ok(MarketEvent::Klines(vec![kline]))
}

/// Parses a `serverShutdown` announcement.
pub(crate) fn server_shutdown(data: Obj<'_, '_>) -> Result<MarketEvent, ParseError> {
    let data = data.as_kind(FrameKind::ServerShutdown);
    Ok(MarketEvent::Control(Control::ServerShutdown {
        event_time: TimestampMs(data.field("E").i64()?),
    }))
}

/// A raw trade. Spot:
/// `{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}`;
/// USD-M (a stream the venue does not document, on the `/market` route):
/// `{"e":"trade","E":1649839266194,"T":1649839266189,"s":"BTCUSDT","t":2115460453,"p":"41215.90","q":"0.001","X":"MARKET","m":true}`.
/// Trade ids are contiguous per symbol. USD-M's order type `X` is not read: insurance-fund
/// and ADL fills are trades too, and skipping them would open false gaps in the ids.
pub(super) fn trade(
    venue: Venue,
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::Trade;
    let f = pick!(data.as_kind(kind);
        symbol = "s", id = "t", price = "p", qty = "q", buyer_is_maker = "m",
        trade_time = "T", event_time = "E",
    );
    let trade = Trade {
        venue,
        symbol: payload_symbol(stream, &f.symbol(), kind)?,
        id: TradeId::Number(f.id().u64()?),
        price: f.price().trade_price()?,
        qty: f.qty().trade_qty()?,
        side: Side::from_buyer_is_maker(f.buyer_is_maker().bool()?),
        trade_time: TimestampMs(f.trade_time().i64()?),
        event_time: TimestampMs(f.event_time().i64()?),
        received_at,
        flags: TradeFlags::NONE,
        sequence: None,
        fills: None,
    };
    Ok(MarketEvent::Trades(vec![trade]))
}
