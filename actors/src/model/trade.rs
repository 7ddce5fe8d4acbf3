//! Normalized trades: one aggressor side, exact price and size, venue identifiers kept.

use std::fmt;

use super::{Price, Qty, Symbol, TimestampMs, UnixNanos, Venue};

/// The aggressor (taker) side of a trade.
///
/// Binance sends `m`, "the buyer is the maker": `m: true` means the taker **sold**.
/// Bybit sends `S`, the taker side directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The taker bought: it lifted the ask.
    Buy,
    /// The taker sold: it hit the bid.
    Sell,
}

impl Side {
    /// Returns the side from Binance's "buyer is maker" flag.
    pub const fn from_buyer_is_maker(buyer_is_maker: bool) -> Self {
        if buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    /// Returns `"buy"` or `"sell"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// A venue's trade identifier, kept exactly as the venue sent it.
///
/// Binance ids are integers (`a` for aggregate trades, `t` for raw trades). Bybit's `i` is a
/// string: decimal digits on spot, a UUID on linear. Common shapes are stored inline so a
/// trade does not allocate; anything else is kept as text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TradeId {
    /// An unsigned integer id (Binance), or a canonical decimal string of one (Bybit spot).
    Number(u64),
    /// A lower-case hyphenated UUID (Bybit linear), stored as its 128 bits.
    Uuid(u128),
    /// Any other string.
    Text(Box<str>),
}

impl TradeId {
    /// Classifies a string id so that formatting it again gives back the same text.
    pub fn from_text(text: &str) -> Self {
        if let Some(number) = canonical_u64(text) {
            return TradeId::Number(number);
        }
        if let Some(uuid) = canonical_uuid(text) {
            return TradeId::Uuid(uuid);
        }
        TradeId::Text(text.into())
    }

    /// Returns the numeric id, if it is one (Binance ids, which are contiguous for
    /// aggregate trades and make gaps detectable).
    pub const fn as_number(&self) -> Option<u64> {
        match self {
            TradeId::Number(number) => Some(*number),
            _ => None,
        }
    }
}

/// Returns the number if `text` is its canonical decimal form (no sign, no leading zero).
fn canonical_u64(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 20 || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    if !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.parse().ok()
}

/// Returns the UUID bits if `text` is a lower-case `8-4-4-4-12` hyphenated UUID.
fn canonical_uuid(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if matches!(index, 8 | 13 | 18 | 23) {
            if byte != b'-' {
                return None;
            }
            continue;
        }
        let nibble = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(nibble);
    }
    Some(value)
}

impl fmt::Display for TradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TradeId::Number(number) => write!(f, "{number}"),
            TradeId::Uuid(bits) => {
                let hex = format!("{bits:032x}");
                write!(
                    f,
                    "{}-{}-{}-{}-{}",
                    &hex[0..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..32]
                )
            }
            TradeId::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for TradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TradeId({self})")
    }
}

impl serde::Serialize for TradeId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TradeId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(TradeId::from_text(&text))
    }
}

/// Properties a venue reports about a trade, as a small bit set.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TradeFlags(u8);

impl TradeFlags {
    /// No flags.
    pub const NONE: Self = Self(0);
    /// A block trade, negotiated off the book (Bybit `BT: true`).
    pub const BLOCK_TRADE: Self = Self(1);
    /// An aggregate of fills of one taker order at one price (Binance `aggTrade`).
    pub const AGGREGATE: Self = Self(1 << 1);
    /// A fill against a Retail Price Improvement order (Bybit `RPI: true`).
    pub const RETAIL_PRICE_IMPROVEMENT: Self = Self(1 << 2);

    /// Returns true if every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns the union of both sets.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Returns the raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set with these raw bits (as [`TradeFlags::bits`] gave them).
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }
}

/// The ids of the raw fills inside a Binance aggregate trade (`f` to `l`, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FillRange {
    /// First raw trade id.
    pub first: u64,
    /// Last raw trade id.
    pub last: u64,
}

/// One normalized trade.
///
/// Binance spot `aggTrade` payload it comes from:
/// `{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":false,"M":true}`
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trade {
    /// Where the trade happened.
    pub venue: Venue,
    /// The instrument.
    pub symbol: Symbol,
    /// The venue's id for the trade (aggregate id for Binance `aggTrade`).
    pub id: TradeId,
    /// Execution price.
    pub price: Price,
    /// Executed size in the base asset (contracts for some derivatives).
    pub qty: Qty,
    /// The aggressor side.
    pub side: Side,
    /// Execution time at the venue (`T`): what bars and windows are keyed by.
    pub trade_time: TimestampMs,
    /// When the venue published the event (`E`, or Bybit's `ts`).
    pub event_time: TimestampMs,
    /// When WADM received the frame, on the local clock.
    pub received_at: UnixNanos,
    /// Venue-reported properties.
    pub flags: TradeFlags,
    /// Bybit's cross sequence (`seq`), when present.
    pub sequence: Option<u64>,
    /// Raw fills inside a Binance aggregate trade.
    pub fills: Option<FillRange>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_maker_flag_means_the_taker_sold() {
        assert_eq!(Side::from_buyer_is_maker(true), Side::Sell);
        assert_eq!(Side::from_buyer_is_maker(false), Side::Buy);
    }

    #[test]
    fn trade_ids_round_trip_to_the_same_text() {
        let cases = [
            ("12345", "Number"),
            ("0", "Number"),
            ("18446744073709551615", "Number"),
            ("18446744073709551616", "Text"),
            ("007", "Text"),
            ("20f43950-d8dd-5b31-9112-a178eb6023af", "Uuid"),
            ("20F43950-D8DD-5B31-9112-A178EB6023AF", "Text"),
            ("20f43950d8dd5b319112a178eb6023af", "Text"),
            ("", "Text"),
            ("abc", "Text"),
        ];
        for (text, shape) in cases {
            let id = TradeId::from_text(text);
            let actual = match id {
                TradeId::Number(_) => "Number",
                TradeId::Uuid(_) => "Uuid",
                TradeId::Text(_) => "Text",
            };
            assert_eq!(actual, shape, "{text}");
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn flags_combine() {
        let flags = TradeFlags::NONE.with(TradeFlags::BLOCK_TRADE);
        assert!(flags.contains(TradeFlags::BLOCK_TRADE));
        assert!(!flags.contains(TradeFlags::AGGREGATE));
    }
}
