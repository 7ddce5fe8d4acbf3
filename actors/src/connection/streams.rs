//! The streams a venue can be asked for, under each venue's own names, and the classes the
//! connection actor watches separately (book streams tick every 100-250 ms; trades can be
//! quiet for minutes).
//!
//! | venue | trades | book | klines |
//! |---|---|---|---|
//! | binance-spot | `aggTrade`, `trade` | `depth`, `depth@100ms` | `kline_1m`, `kline_1h`, ... |
//! | binance-usdm | `aggTrade`, `trade` | `depth`, `depth@100ms`, `depth@500ms` | `kline_1m`, ... |
//! | bybit-spot / bybit-linear | `publicTrade` | `orderbook.1`, `orderbook.50`, `orderbook.200` (and `orderbook.1000` spot, `orderbook.500` linear) | `kline.1`, `kline.60`, `kline.D`, ... |
//!
//! Derivatives streams (perpetuals only): binance-usdm `forceOrder` (liquidations) and
//! `markPrice@1s` (mark, index, funding), both on the `/market` route; bybit-linear
//! `allLiquidation` and `tickers` (mark, index, funding, open interest).

use crate::model::{KlineInterval, Venue};

/// One stream of one venue, independent of the symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Binance aggregate trades (`aggTrade`): contiguous ids, so gaps are detectable.
    AggTrades,
    /// Binance raw trades (`trade`; on USD-M a stream the venue does not document, routed
    /// to `/market`).
    Trades,
    /// Bybit public trades (`publicTrade`).
    PublicTrades,
    /// Binance diff depth (`depth`, `depth@100ms`, ...), with its update speed.
    DiffDepth {
        /// Update interval in milliseconds; `None` for the venue's default speed.
        speed_ms: Option<u16>,
    },
    /// Bybit order book (`orderbook.<depth>`).
    OrderBook {
        /// Number of levels per side.
        depth: u16,
    },
    /// Candles (`kline_<i>` on Binance, `kline.<i>` on Bybit).
    Klines(KlineInterval),
    /// Liquidations (`forceOrder` on Binance USD-M, `allLiquidation` on Bybit linear).
    Liquidations,
    /// Binance USD-M mark price, index price and funding, every second (`markPrice@1s`).
    MarkPrice,
    /// Bybit linear tickers: mark, index, funding, open interest (`tickers`).
    Tickers,
}

/// What a stream carries, for pacing watchdogs and for the one-per-class rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamClass {
    /// Trades.
    Trades,
    /// Order book.
    Book,
    /// Candles.
    Klines,
    /// Liquidations, mark prices, funding, open interest.
    Derivatives,
}

impl StreamClass {
    /// Returns a stable name, used as a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            StreamClass::Trades => "trades",
            StreamClass::Book => "book",
            StreamClass::Klines => "klines",
            StreamClass::Derivatives => "derivatives",
        }
    }
}

/// A stream name that the venue does not offer (or WADM does not support).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{venue} has no stream {name:?}; expected one of {expected}")]
pub struct UnknownStream {
    pub venue: Venue,
    /// The name given, cut to 64 characters.
    pub name: String,
    /// A summary of valid names.
    pub expected: &'static str,
}

impl Stream {
    /// Parses a venue-native stream name (without the symbol).
    pub fn parse(venue: Venue, name: &str) -> Result<Stream, UnknownStream> {
        let stream = match venue {
            Venue::BinanceSpot => match name {
                "aggTrade" => Some(Stream::AggTrades),
                "trade" => Some(Stream::Trades),
                "depth" => Some(Stream::DiffDepth { speed_ms: None }),
                "depth@100ms" => Some(Stream::DiffDepth {
                    speed_ms: Some(100),
                }),
                _ => binance_kline(name),
            },
            Venue::BinanceUsdm => match name {
                "aggTrade" => Some(Stream::AggTrades),
                "trade" => Some(Stream::Trades),
                "depth" => Some(Stream::DiffDepth { speed_ms: None }),
                "depth@100ms" => Some(Stream::DiffDepth {
                    speed_ms: Some(100),
                }),
                "depth@500ms" => Some(Stream::DiffDepth {
                    speed_ms: Some(500),
                }),
                "forceOrder" => Some(Stream::Liquidations),
                "markPrice@1s" => Some(Stream::MarkPrice),
                _ => binance_kline(name),
            },
            Venue::BybitSpot | Venue::BybitLinear => {
                if name == "publicTrade" {
                    Some(Stream::PublicTrades)
                } else if venue == Venue::BybitLinear && name == "allLiquidation" {
                    Some(Stream::Liquidations)
                } else if venue == Venue::BybitLinear && name == "tickers" {
                    Some(Stream::Tickers)
                } else if let Some(depth) = name.strip_prefix("orderbook.") {
                    let allowed: &[u16] = if venue == Venue::BybitSpot {
                        &[1, 50, 200, 1000]
                    } else {
                        &[1, 50, 200, 500]
                    };
                    depth
                        .parse()
                        .ok()
                        .filter(|d| allowed.contains(d))
                        .map(|depth| Stream::OrderBook { depth })
                } else {
                    name.strip_prefix("kline.")
                        .and_then(KlineInterval::from_bybit)
                        .map(Stream::Klines)
                }
            }
        };
        stream.ok_or_else(|| UnknownStream {
            venue,
            name: name.chars().take(64).collect(),
            expected: match venue {
                Venue::BinanceSpot => {
                    "aggTrade, trade, depth, depth@100ms, kline_<interval> (liquidations and mark prices are binance-usdm streams)"
                }
                Venue::BinanceUsdm => {
                    "aggTrade, trade, depth, depth@100ms, depth@500ms, kline_<interval>, forceOrder, markPrice@1s"
                }
                Venue::BybitSpot => {
                    "publicTrade, orderbook.1|50|200|1000, kline.<interval> (liquidations and tickers are bybit-linear streams)"
                }
                Venue::BybitLinear => {
                    "publicTrade, orderbook.1|50|200|500, kline.<interval>, allLiquidation, tickers"
                }
            },
        })
    }

    /// Returns the stream's name in Binance's spelling (`Stream::name_for` gives each
    /// venue's own).
    fn name(&self) -> String {
        match self {
            Stream::AggTrades => "aggTrade".into(),
            Stream::Trades => "trade".into(),
            Stream::PublicTrades => "publicTrade".into(),
            Stream::DiffDepth { speed_ms: None } => "depth".into(),
            Stream::DiffDepth { speed_ms: Some(ms) } => format!("depth@{ms}ms"),
            Stream::OrderBook { depth } => format!("orderbook.{depth}"),
            // Binance's spelling; see `name_for` for Bybit's.
            Stream::Klines(interval) => format!("kline_{interval}"),
            Stream::Liquidations => "forceOrder".into(),
            Stream::MarkPrice => "markPrice@1s".into(),
            Stream::Tickers => "tickers".into(),
        }
    }

    /// Returns the venue-native name for `venue` (Bybit klines are `kline.<i>`).
    pub fn name_for(&self, venue: Venue) -> String {
        match (self, venue) {
            (Stream::Klines(interval), Venue::BybitSpot | Venue::BybitLinear) => {
                format!("kline.{}", interval.bybit_name().unwrap_or("?"))
            }
            (Stream::Liquidations, Venue::BybitSpot | Venue::BybitLinear) => {
                "allLiquidation".into()
            }
            _ => self.name(),
        }
    }

    /// Returns what the stream carries.
    pub const fn class(&self) -> StreamClass {
        match self {
            Stream::AggTrades | Stream::Trades | Stream::PublicTrades => StreamClass::Trades,
            Stream::DiffDepth { .. } | Stream::OrderBook { .. } => StreamClass::Book,
            Stream::Klines(_) => StreamClass::Klines,
            Stream::Liquidations | Stream::MarkPrice | Stream::Tickers => StreamClass::Derivatives,
        }
    }
}

fn binance_kline(name: &str) -> Option<Stream> {
    name.strip_prefix("kline_")
        .and_then(KlineInterval::from_binance)
        .map(Stream::Klines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_names_round_trip() {
        let cases = [
            (Venue::BinanceSpot, "aggTrade", StreamClass::Trades),
            (Venue::BinanceSpot, "trade", StreamClass::Trades),
            (Venue::BinanceSpot, "depth@100ms", StreamClass::Book),
            (Venue::BinanceSpot, "depth", StreamClass::Book),
            (Venue::BinanceSpot, "kline_1m", StreamClass::Klines),
            (Venue::BinanceUsdm, "depth@500ms", StreamClass::Book),
            (Venue::BinanceUsdm, "kline_4h", StreamClass::Klines),
            (Venue::BybitSpot, "publicTrade", StreamClass::Trades),
            (Venue::BybitSpot, "orderbook.1000", StreamClass::Book),
            (Venue::BybitLinear, "orderbook.500", StreamClass::Book),
            (Venue::BybitLinear, "kline.1", StreamClass::Klines),
            (Venue::BybitLinear, "kline.D", StreamClass::Klines),
            (Venue::BinanceUsdm, "forceOrder", StreamClass::Derivatives),
            (Venue::BinanceUsdm, "markPrice@1s", StreamClass::Derivatives),
            (
                Venue::BybitLinear,
                "allLiquidation",
                StreamClass::Derivatives,
            ),
            (Venue::BybitLinear, "tickers", StreamClass::Derivatives),
        ];
        for (venue, name, class) in cases {
            let stream = Stream::parse(venue, name).unwrap();
            assert_eq!(stream.name_for(venue), name);
            assert_eq!(stream.class(), class);
        }
    }

    #[test]
    fn rejects_streams_the_venue_does_not_offer() {
        let cases = [
            (Venue::BinanceUsdm, "depth@250ms"),
            (Venue::BinanceSpot, "depth@500ms"),
            (Venue::BinanceSpot, "publicTrade"),
            (Venue::BinanceSpot, "kline_7m"),
            (Venue::BybitSpot, "orderbook.500"),
            (Venue::BybitLinear, "orderbook.1000"),
            (Venue::BybitSpot, "orderbook.x"),
            (Venue::BybitSpot, "kline.1m"),
            (Venue::BybitSpot, "aggTrade"),
        ];
        for (venue, name) in cases {
            let err = Stream::parse(venue, name).unwrap_err();
            assert!(err.to_string().contains("expected one of"), "{err}");
        }
        // Spot venues have no derivatives streams, and say where they are.
        for (venue, name, sibling) in [
            (Venue::BinanceSpot, "forceOrder", "binance-usdm"),
            (Venue::BinanceSpot, "markPrice@1s", "binance-usdm"),
            (Venue::BybitSpot, "allLiquidation", "bybit-linear"),
            (Venue::BybitSpot, "tickers", "bybit-linear"),
        ] {
            let err = Stream::parse(venue, name).unwrap_err().to_string();
            assert!(err.contains(sibling), "{err}");
        }
    }

    #[test]
    fn usdm_derivatives_streams_go_to_the_market_route() {
        let url = url::Url::parse("wss://fstream.binance.com").unwrap();
        let streams = [
            Stream::parse(Venue::BinanceUsdm, "depth@100ms").unwrap(),
            Stream::parse(Venue::BinanceUsdm, "forceOrder").unwrap(),
            Stream::parse(Venue::BinanceUsdm, "markPrice@1s").unwrap(),
        ];
        let btc = crate::model::Symbol::new("BTCUSDT").unwrap();
        let endpoints =
            crate::connection::protocol::endpoints(Venue::BinanceUsdm, &url, &[btc], &streams);
        let names = |endpoint: &str| -> Vec<String> {
            endpoints
                .iter()
                .find(|e| e.name == endpoint)
                .map(|e| e.topics.iter().map(|t| t.name.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(names("public"), ["btcusdt@depth@100ms"]);
        assert_eq!(
            names("market"),
            ["btcusdt@forceOrder", "btcusdt@markPrice@1s"]
        );
    }
}
