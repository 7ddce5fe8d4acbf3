//! One parser per venue. Binance spot and USD-M share their envelope and most payloads
//! (`binance`); Bybit spot and linear speak the same v5 protocol (`bybit`).

pub(crate) mod binance;
mod binance_spot;
mod binance_usdm;
mod bybit;

#[cfg(any(test, feature = "baseline"))]
pub(crate) use bybit::Topic as BybitTopic;

pub use binance::BinanceParser;
pub use bybit::BybitParser;

/// Parses a Bybit topic name; `None` for topics WADM does not handle (the baseline parser
/// shares the simd-json parser's topic names).
#[cfg(any(test, feature = "baseline"))]
pub(crate) fn bybit_topic(topic: &str) -> Option<BybitTopic> {
    BybitTopic::parse(topic)
}
