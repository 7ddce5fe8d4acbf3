//! What every venue parser shares: the parser trait, frame kinds and the typed parse error.
//!
//! A parser never panics. Anything it cannot turn into a [`MarketEvent`] (invalid JSON,
//! wrong types, missing fields, bad decimals, unknown streams or topics, oversized frames)
//! is a [`ParseError`] whose [`ParseError::reason`] is a bounded metric label.

use std::fmt;

use crate::model::{DecimalError, MarketEvent, SymbolError, UnixNanos, Venue};

/// Default upper bound on one frame's size. Bybit's largest routine frame (a 1024-trade
/// `publicTrade` batch) is about 200 KiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Longest venue-supplied text (stream names, error messages) kept in an error or a
/// control message; longer text is cut, so hostile input cannot inflate memory or logs.
pub const MAX_ECHOED_TEXT: usize = 256;

/// Turns raw WebSocket text frames of one venue into normalized events.
pub trait FrameParser: Send + fmt::Debug {
    /// Returns the venue whose frames this parser reads.
    fn venue(&self) -> Venue;

    /// Parses one frame received at `received_at`.
    fn parse(&mut self, frame: &[u8], received_at: UnixNanos) -> Result<MarketEvent, ParseError>;
}

/// Which kind of frame (or part of one) a parse error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// The outer object: Binance's combined-stream envelope or Bybit's topic message.
    Envelope,
    /// Binance `trade`.
    Trade,
    /// Binance `aggTrade`.
    AggTrade,
    /// Binance `depthUpdate` (diff depth).
    DepthUpdate,
    /// Binance partial depth (`@depth5/10/20`).
    PartialDepth,
    /// Bybit `publicTrade`.
    PublicTrade,
    /// Bybit `orderbook.N`.
    OrderBook,
    /// Binance `kline` or Bybit `kline.I`.
    Kline,
    /// Binance USD-M `forceOrder` (a liquidation).
    ForceOrder,
    /// Binance USD-M `markPriceUpdate`.
    MarkPrice,
    /// Bybit `allLiquidation`.
    Liquidation,
    /// Bybit `tickers` (linear).
    Ticker,
    /// An answer to a request: ack, error, pong.
    Response,
    /// Binance `serverShutdown`.
    ServerShutdown,
    /// A REST depth snapshot.
    RestDepth,
    /// A REST instrument list (Binance `exchangeInfo`, Bybit `instruments-info`).
    RestInstruments,
    /// A REST trade list (Binance `aggTrades`, Bybit `recent-trade`).
    RestTrades,
    /// A REST open interest (Binance USD-M `openInterest`).
    RestOpenInterest,
}

impl FrameKind {
    /// Returns a stable snake_case name, used as a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameKind::Envelope => "envelope",
            FrameKind::Trade => "trade",
            FrameKind::AggTrade => "agg_trade",
            FrameKind::DepthUpdate => "depth_update",
            FrameKind::PartialDepth => "partial_depth",
            FrameKind::PublicTrade => "public_trade",
            FrameKind::OrderBook => "orderbook",
            FrameKind::Kline => "kline",
            FrameKind::ForceOrder => "force_order",
            FrameKind::MarkPrice => "mark_price",
            FrameKind::Liquidation => "liquidation",
            FrameKind::Ticker => "ticker",
            FrameKind::Response => "response",
            FrameKind::ServerShutdown => "server_shutdown",
            FrameKind::RestDepth => "rest_depth",
            FrameKind::RestInstruments => "rest_instruments",
            FrameKind::RestTrades => "rest_trades",
            FrameKind::RestOpenInterest => "rest_open_interest",
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be turned into an event.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The frame is larger than the parser accepts.
    #[error("frame of {len} bytes exceeds the {max} byte limit")]
    FrameTooLarge {
        /// Size of the frame.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame is not valid JSON (or not valid UTF-8).
    #[error("frame is not valid json")]
    Json {
        /// The decoder's error.
        #[source]
        source: simd_json::Error,
    },
    /// The serde_json baseline rejected the frame (benchmarks and differential tests only).
    #[error("frame rejected by the serde_json baseline")]
    Baseline {
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Valid JSON, but not shaped like any frame this venue sends.
    #[error("frame has an unrecognised shape")]
    UnknownShape,
    /// A Binance stream this parser does not handle.
    #[error("unsupported stream {stream:?}")]
    UnsupportedStream {
        /// The stream name, cut to [`MAX_ECHOED_TEXT`].
        stream: Box<str>,
    },
    /// A Binance event type (`e`) this parser does not handle.
    #[error("unsupported event type {event:?}")]
    UnsupportedEvent {
        /// The event type, cut to [`MAX_ECHOED_TEXT`].
        event: Box<str>,
    },
    /// A Bybit topic this parser does not handle.
    #[error("unsupported topic {topic:?}")]
    UnsupportedTopic {
        /// The topic, cut to [`MAX_ECHOED_TEXT`].
        topic: Box<str>,
    },
    /// A required field is absent.
    #[error("{kind} frame is missing field `{field}`")]
    MissingField {
        /// Frame kind.
        kind: FrameKind,
        /// Field name as the venue spells it.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{kind} frame field `{field}` is not {expected}")]
    WrongType {
        /// Frame kind.
        kind: FrameKind,
        /// Field name as the venue spells it.
        field: &'static str,
        /// What was expected, e.g. "a string".
        expected: &'static str,
    },
    /// A decimal field could not be read exactly.
    #[error("{kind} frame field `{field}` is not a valid decimal")]
    Decimal {
        /// Frame kind.
        kind: FrameKind,
        /// Field name as the venue spells it.
        field: &'static str,
        /// Why.
        #[source]
        source: DecimalError,
    },
    /// A symbol field is not a valid symbol.
    #[error("{kind} frame field `{field}` is not a valid symbol")]
    Symbol {
        /// Frame kind.
        kind: FrameKind,
        /// Field name as the venue spells it.
        field: &'static str,
        /// Why.
        #[source]
        source: SymbolError,
    },
    /// A field is well-typed but its value is not allowed.
    #[error("{kind} frame field `{field}` is invalid: {reason}")]
    InvalidValue {
        /// Frame kind.
        kind: FrameKind,
        /// Field name as the venue spells it.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The venue answered a REST request with an error.
    #[error("the venue refused the request: {message}")]
    VenueError {
        /// The venue's error code, if any.
        code: Option<i64>,
        /// The venue's message, cut to [`MAX_ECHOED_TEXT`].
        message: Box<str>,
    },
    /// The payload's symbol differs from the one its stream or topic names.
    #[error("{kind} frame carries symbol {payload} on the stream or topic of {channel}")]
    SymbolMismatch {
        /// Frame kind.
        kind: FrameKind,
        /// Symbol named by the stream or topic.
        channel: crate::model::Symbol,
        /// Symbol inside the payload.
        payload: crate::model::Symbol,
    },
}

impl ParseError {
    /// Returns a stable, bounded label for the `reason` of a parse-error metric.
    pub const fn reason(&self) -> &'static str {
        match self {
            ParseError::FrameTooLarge { .. } => "frame_too_large",
            ParseError::Json { .. } | ParseError::Baseline { .. } => "invalid_json",
            ParseError::UnknownShape => "unknown_shape",
            ParseError::UnsupportedStream { .. } => "unsupported_stream",
            ParseError::UnsupportedEvent { .. } => "unsupported_event",
            ParseError::UnsupportedTopic { .. } => "unsupported_topic",
            ParseError::MissingField { .. } => "missing_field",
            ParseError::WrongType { .. } => "wrong_type",
            ParseError::Decimal { .. } => "invalid_decimal",
            ParseError::Symbol { .. } => "invalid_symbol",
            ParseError::InvalidValue { .. } => "invalid_value",
            ParseError::SymbolMismatch { .. } => "symbol_mismatch",
            ParseError::VenueError { .. } => "venue_error",
        }
    }
}

/// Returns `text` cut to at most [`MAX_ECHOED_TEXT`] bytes on a character boundary.
pub(crate) fn clip(text: &str) -> Box<str> {
    if text.len() <= MAX_ECHOED_TEXT {
        return text.into();
    }
    let mut end = MAX_ECHOED_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_on_a_char_boundary() {
        assert_eq!(&*clip("abc"), "abc");
        let long = "é".repeat(MAX_ECHOED_TEXT);
        let cut = clip(&long);
        assert!(cut.len() <= MAX_ECHOED_TEXT && cut.len() >= MAX_ECHOED_TEXT - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
