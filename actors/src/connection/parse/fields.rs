//! Field conversions shared by the simd-json parsers and the serde_json baseline, so both
//! normalize a frame the same way and differ only in how they decode JSON.

use super::frame::clip;
use super::frame::{FrameKind, ParseError};
use crate::model::{Control, Level, PositionSide, Price, Qty, Ratio, Side, Symbol, TimestampMs};

/// Parses a non-negative price.
pub(crate) fn price(kind: FrameKind, field: &'static str, text: &str) -> Result<Price, ParseError> {
    Price::parse_non_negative(text).map_err(|source| ParseError::Decimal {
        kind,
        field,
        source,
    })
}

/// Parses a non-negative quantity.
pub(crate) fn qty(kind: FrameKind, field: &'static str, text: &str) -> Result<Qty, ParseError> {
    Qty::parse_non_negative(text).map_err(|source| ParseError::Decimal {
        kind,
        field,
        source,
    })
}

/// The largest price or size (of a trade or a book level) accepted, in whole units (`10^14`).
/// Nothing real comes close (the largest sizes, of low-priced tokens, are around `10^10`),
/// and the bound keeps every sum the aggregators form (a day of volume, the depth of a book)
/// far inside the fixed-point range.
pub const MAX_MARKET_VALUE: i64 = 100_000_000_000_000;

/// Checks a trade value against zero and [`MAX_MARKET_VALUE`].
fn plausible_trade_value(
    kind: FrameKind,
    field: &'static str,
    units: i128,
    what: &'static str,
) -> Result<(), ParseError> {
    let reason = if units == 0 {
        what
    } else if units > Qty::from_int(MAX_MARKET_VALUE).units() {
        "a value above 10^14 is implausible"
    } else {
        return Ok(());
    };
    Err(ParseError::InvalidValue {
        kind,
        field,
        reason,
    })
}

/// Parses a trade price, which must be above zero.
pub(crate) fn trade_price(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<Price, ParseError> {
    let value = price(kind, field, text)?;
    plausible_trade_value(
        kind,
        field,
        value.units(),
        "a trade price must be above zero",
    )?;
    Ok(value)
}

/// Parses a trade size, which must be above zero.
pub(crate) fn trade_qty(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<Qty, ParseError> {
    let value = qty(kind, field, text)?;
    plausible_trade_value(
        kind,
        field,
        value.units(),
        "a trade size must be above zero",
    )?;
    Ok(value)
}

/// Parses a symbol.
pub(crate) fn symbol(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<Symbol, ParseError> {
    Symbol::new(text).map_err(|source| ParseError::Symbol {
        kind,
        field,
        source,
    })
}

/// Checks that the symbol inside a payload is the one its stream or topic names.
pub(crate) fn same_symbol(
    kind: FrameKind,
    channel: Symbol,
    payload: Symbol,
) -> Result<Symbol, ParseError> {
    if channel == payload {
        Ok(payload)
    } else {
        Err(ParseError::SymbolMismatch {
            kind,
            channel,
            payload,
        })
    }
}

/// Parses a funding rate (signed).
pub(crate) fn funding_rate(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<Ratio, ParseError> {
    text.parse::<Ratio>().map_err(|source| ParseError::Decimal {
        kind,
        field,
        source,
    })
}

/// The position a Binance liquidation order closed: a `SELL` order closes a long.
pub(crate) fn binance_liquidated(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<PositionSide, ParseError> {
    match text {
        "SELL" => Ok(PositionSide::Long),
        "BUY" => Ok(PositionSide::Short),
        _ => Err(ParseError::InvalidValue {
            kind,
            field,
            reason: "expected \"BUY\" or \"SELL\"",
        }),
    }
}

/// The position a Bybit liquidation names: `Buy` means a long was liquidated.
pub(crate) fn bybit_liquidated(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<PositionSide, ParseError> {
    match text {
        "Buy" => Ok(PositionSide::Long),
        "Sell" => Ok(PositionSide::Short),
        _ => Err(ParseError::InvalidValue {
            kind,
            field,
            reason: "expected \"Buy\" or \"Sell\"",
        }),
    }
}

/// A next funding time; Binance sends 0 for a delisted symbol (no funding ahead).
pub(crate) fn funding_time(millis: i64) -> Option<TimestampMs> {
    (millis > 0).then_some(TimestampMs(millis))
}

/// A next funding time sent as text (Bybit): decimal milliseconds; 0 means none.
pub(crate) fn funding_time_text(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<Option<TimestampMs>, ParseError> {
    let millis = numeric_request_id(text)
        .and_then(|n| i64::try_from(n).ok())
        .ok_or(ParseError::InvalidValue {
            kind,
            field,
            reason: "expected decimal milliseconds",
        })?;
    Ok(funding_time(millis))
}

/// Parses Bybit's taker side (`"Buy"` or `"Sell"`).
pub(crate) fn bybit_side(
    kind: FrameKind,
    field: &'static str,
    text: &str,
) -> Result<Side, ParseError> {
    match text {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        _ => Err(ParseError::InvalidValue {
            kind,
            field,
            reason: "expected \"Buy\" or \"Sell\"",
        }),
    }
}

/// Parses one `[price, size]` book level.
pub(crate) fn level(
    kind: FrameKind,
    field: &'static str,
    price_text: &str,
    qty_text: &str,
) -> Result<Level, ParseError> {
    let level = Level {
        price: price(kind, field, price_text)?,
        qty: qty(kind, field, qty_text)?,
    };
    let max = Qty::from_int(MAX_MARKET_VALUE).units();
    if level.price.units() > max || level.qty.units() > max {
        return Err(ParseError::InvalidValue {
            kind,
            field,
            reason: "a value above 10^14 is implausible",
        });
    }
    Ok(level)
}

/// Checks that a Binance payload's symbol is the one its stream name carries
/// (`btcusdt@aggTrade` carries `BTCUSDT`), without building a second symbol on the hot path.
pub(crate) fn check_stream_symbol(
    kind: FrameKind,
    stream: Option<&str>,
    payload: Symbol,
) -> Result<Symbol, ParseError> {
    let Some(stream) = stream else {
        return Ok(payload);
    };
    let prefix = stream.split_once('@').map_or(stream, |(symbol, _)| symbol);
    if prefix.eq_ignore_ascii_case(payload.as_str()) {
        return Ok(payload);
    }
    Err(match symbol(FrameKind::Envelope, "stream", prefix) {
        Ok(channel) => ParseError::SymbolMismatch {
            kind,
            channel,
            payload,
        },
        Err(err) => err,
    })
}

/// Returns the symbol part of a Binance stream name (`btcusdt@aggTrade` -> `BTCUSDT`).
pub(crate) fn binance_stream_symbol(stream: &str) -> Result<Symbol, ParseError> {
    let name = stream.split_once('@').map_or(stream, |(symbol, _)| symbol);
    symbol(FrameKind::Envelope, "stream", name)
}

/// Returns the number of levels of a Binance partial-depth stream name
/// (`btcusdt@depth20@100ms` -> 20), or `None` for any other stream.
pub(crate) fn binance_partial_depth_levels(stream: &str) -> Option<u32> {
    let (_, channel) = stream.split_once('@')?;
    let channel = channel.split_once('@').map_or(channel, |(head, _)| head);
    let levels = channel.strip_prefix("depth")?;
    match levels {
        "5" | "10" | "20" => levels.parse().ok(),
        _ => None,
    }
}

/// Returns the request id if a Bybit `req_id` is a canonical unsigned number (we only send
/// those), else `None`.
pub(crate) fn numeric_request_id(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Extracts the topic a Bybit rejection names (`"error:handler not found,topic:orderbook.500.BTCUSDT"`).
pub(crate) fn bybit_rejected_topic(message: &str) -> Option<Box<str>> {
    let (_, rest) = message.split_once("topic:")?;
    let topic = rest.split([',', ' ', ';']).next()?.trim();
    (!topic.is_empty()).then(|| super::frame::clip(topic))
}

/// Checks that a diff-depth event's first update id `U` is not after its final id `u`.
pub(crate) fn depth_update_ids(first: u64, last: u64) -> Result<(u64, u64), ParseError> {
    if first > last {
        return Err(ParseError::InvalidValue {
            kind: FrameKind::DepthUpdate,
            field: "U",
            reason: "first update id is after the final update id",
        });
    }
    Ok((first, last))
}

/// Builds the control message for a Binance error answer.
pub(crate) fn binance_rejection(
    request_id: Option<u64>,
    code: Option<i64>,
    message: Option<&str>,
) -> Control {
    Control::Rejected {
        request_id,
        code,
        message: clip(message.unwrap_or_default()),
        topic: None,
    }
}

/// Maps a Bybit answer (`op`, `success`, `req_id`, `ret_msg`) to a control message:
/// `success: false` is a rejection (naming the topic if the message does), a pong answers
/// our ping, any other success is an ack.
pub(crate) fn bybit_response(
    op: Option<&str>,
    success: Option<bool>,
    request_id: Option<&str>,
    message: Option<&str>,
) -> Result<Control, ParseError> {
    let request_id = request_id.and_then(numeric_request_id);
    match (op, success) {
        (_, Some(false)) => {
            let message = message.unwrap_or_default();
            Ok(Control::Rejected {
                request_id,
                code: None,
                message: clip(message),
                topic: bybit_rejected_topic(message),
            })
        }
        (Some("pong"), _) | (Some("ping"), Some(true)) => Ok(Control::Pong { request_id }),
        (_, Some(true)) => Ok(Control::Ack { request_id }),
        _ => Err(ParseError::UnknownShape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_binance_stream_names() {
        assert_eq!(
            binance_stream_symbol("bnbbtc@aggTrade").unwrap().as_str(),
            "BNBBTC"
        );
        assert!(binance_stream_symbol("bnb/btc@aggTrade").is_err());
        assert_eq!(
            binance_partial_depth_levels("bnbbtc@depth20@100ms"),
            Some(20)
        );
        assert_eq!(binance_partial_depth_levels("bnbbtc@depth5"), Some(5));
        assert_eq!(binance_partial_depth_levels("bnbbtc@depth@100ms"), None);
        assert_eq!(binance_partial_depth_levels("bnbbtc@depth7"), None);
        assert_eq!(binance_partial_depth_levels("bnbbtc"), None);
    }

    #[test]
    fn reads_bybit_request_ids_and_rejected_topics() {
        assert_eq!(numeric_request_id("10001"), Some(10001));
        assert_eq!(numeric_request_id(""), None);
        assert_eq!(numeric_request_id("007"), None);
        assert_eq!(numeric_request_id("abc"), None);
        assert_eq!(
            bybit_rejected_topic("error:handler not found,topic:orderbook.500.BTCUSDT").as_deref(),
            Some("orderbook.500.BTCUSDT")
        );
        assert_eq!(bybit_rejected_topic("error:invalid op"), None);
        assert_eq!(bybit_rejected_topic("topic:"), None);
    }

    #[test]
    fn trade_values_must_be_positive() {
        assert!(trade_price(FrameKind::Trade, "p", "0").is_err());
        assert!(trade_qty(FrameKind::Trade, "q", "0.000").is_err());
        assert!(trade_qty(FrameKind::Trade, "q", "-1").is_err());
        assert!(trade_qty(FrameKind::Trade, "q", "0.1").is_ok());
        assert!(trade_qty(FrameKind::Trade, "q", "100000000000000").is_ok());
        assert!(trade_qty(FrameKind::Trade, "q", "100000000000000.1").is_err());
        assert!(trade_price(FrameKind::Trade, "p", "1000000000000000").is_err());
    }
}
