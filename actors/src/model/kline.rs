//! Candles as the venues publish them, kept to cross-check trade-derived bars.

use std::fmt;

use super::{Price, Qty, Symbol, TimestampMs, UnixNanos, Venue};

/// A candle interval, parsed from Binance (`1m`, `1h`, `1d`) or Bybit (`1`, `60`, `D`) names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KlineInterval {
    /// 1 minute.
    #[serde(rename = "1m")]
    Minute1,
    /// 3 minutes.
    #[serde(rename = "3m")]
    Minute3,
    /// 5 minutes.
    #[serde(rename = "5m")]
    Minute5,
    /// 15 minutes.
    #[serde(rename = "15m")]
    Minute15,
    /// 30 minutes.
    #[serde(rename = "30m")]
    Minute30,
    /// 1 hour.
    #[serde(rename = "1h")]
    Hour1,
    /// 2 hours.
    #[serde(rename = "2h")]
    Hour2,
    /// 4 hours.
    #[serde(rename = "4h")]
    Hour4,
    /// 6 hours.
    #[serde(rename = "6h")]
    Hour6,
    /// 8 hours.
    #[serde(rename = "8h")]
    Hour8,
    /// 12 hours.
    #[serde(rename = "12h")]
    Hour12,
    /// 1 day.
    #[serde(rename = "1d")]
    Day1,
    /// 3 days.
    #[serde(rename = "3d")]
    Day3,
    /// 1 week.
    #[serde(rename = "1w")]
    Week1,
    /// 1 month.
    #[serde(rename = "1M")]
    Month1,
}

impl KlineInterval {
    const TABLE: [(KlineInterval, &'static str, Option<&'static str>); 15] = [
        (KlineInterval::Minute1, "1m", Some("1")),
        (KlineInterval::Minute3, "3m", Some("3")),
        (KlineInterval::Minute5, "5m", Some("5")),
        (KlineInterval::Minute15, "15m", Some("15")),
        (KlineInterval::Minute30, "30m", Some("30")),
        (KlineInterval::Hour1, "1h", Some("60")),
        (KlineInterval::Hour2, "2h", Some("120")),
        (KlineInterval::Hour4, "4h", Some("240")),
        (KlineInterval::Hour6, "6h", Some("360")),
        (KlineInterval::Hour8, "8h", None),
        (KlineInterval::Hour12, "12h", Some("720")),
        (KlineInterval::Day1, "1d", Some("D")),
        (KlineInterval::Day3, "3d", None),
        (KlineInterval::Week1, "1w", Some("W")),
        (KlineInterval::Month1, "1M", Some("M")),
    ];

    /// Parses a Binance interval name (`1m`, `4h`, `1M`).
    pub fn from_binance(name: &str) -> Option<Self> {
        Self::TABLE
            .iter()
            .find(|(_, binance, _)| *binance == name)
            .map(|(interval, _, _)| *interval)
    }

    /// Parses a Bybit interval name (`1`, `240`, `D`).
    pub fn from_bybit(name: &str) -> Option<Self> {
        Self::TABLE
            .iter()
            .find(|(_, _, bybit)| *bybit == Some(name))
            .map(|(interval, _, _)| *interval)
    }

    /// Returns the Binance name, which WADM also uses in its API.
    pub fn as_str(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(interval, _, _)| *interval == self)
            .map_or("?", |(_, binance, _)| binance)
    }

    /// Returns the Bybit name, if Bybit offers this interval.
    pub fn bybit_name(self) -> Option<&'static str> {
        Self::TABLE
            .iter()
            .find(|(interval, _, _)| *interval == self)
            .and_then(|(_, _, bybit)| *bybit)
    }
}

impl fmt::Display for KlineInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One candle from a venue's kline stream.
///
/// Binance `k` object it comes from:
/// `{"t":1672515780000,"T":1672515839999,"s":"BNBBTC","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500"}`
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kline {
    pub venue: Venue,
    /// Instrument.
    pub symbol: Symbol,
    /// Candle interval.
    pub interval: KlineInterval,
    /// Start of the candle (inclusive).
    pub open_time: TimestampMs,
    /// Venue's close time (Binance and Bybit both send the last millisecond, `start + W - 1`).
    pub close_time: TimestampMs,
    /// Open price.
    pub open: Price,
    /// High price.
    pub high: Price,
    /// Low price.
    pub low: Price,
    /// Close (or last, while open) price.
    pub close: Price,
    /// Base-asset volume.
    pub volume: Qty,
    /// Quote-asset volume (Binance `q`, Bybit `turnover`).
    pub quote_volume: Qty,
    /// Taker-buy base volume (Binance `V`); Bybit does not split volume by side.
    pub taker_buy_volume: Option<Qty>,
    /// Taker-buy quote volume (Binance `Q`).
    pub taker_buy_quote_volume: Option<Qty>,
    /// Number of trades (Binance `n`).
    pub trade_count: Option<u64>,
    /// First and last trade ids in the candle (Binance `f`, `L`; absent when no trade).
    pub first_trade_id: Option<u64>,
    /// Last trade id in the candle.
    pub last_trade_id: Option<u64>,
    /// True once the candle is final (Binance `x`, Bybit `confirm`).
    pub closed: bool,
    /// Venue event time.
    pub event_time: TimestampMs,
    /// When WADM received it.
    pub received_at: UnixNanos,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_interval_names_agree() {
        assert_eq!(
            KlineInterval::from_binance("1m"),
            Some(KlineInterval::Minute1)
        );
        assert_eq!(KlineInterval::from_bybit("1"), Some(KlineInterval::Minute1));
        assert_eq!(KlineInterval::from_bybit("D"), Some(KlineInterval::Day1));
        assert_eq!(KlineInterval::from_bybit("240"), Some(KlineInterval::Hour4));
        assert_eq!(
            KlineInterval::from_binance("1M"),
            Some(KlineInterval::Month1)
        );
        assert_eq!(KlineInterval::from_binance("1min"), None);
        assert_eq!(KlineInterval::from_bybit("8h"), None);
        for (interval, name, bybit) in KlineInterval::TABLE {
            assert_eq!(interval.as_str(), name);
            assert_eq!(interval.bybit_name(), bybit);
            let json = serde_json::to_string(&interval).unwrap();
            assert_eq!(json, format!("\"{name}\""));
        }
    }
}
