//! Venue protocol facts the connection needs beyond parsing: where to connect, what each
//! subscription is called, how requests look, and how fast they may be sent.
//!
//! | venue | socket(s) | request | limits kept |
//! |---|---|---|---|
//! | binance-spot | `{ws_url}/stream` | `{"method":"SUBSCRIBE","params":[...],"id":N}` | 5 incoming messages/s per connection, pings and pongs included: 4 requests/s, 1024 streams |
//! | binance-usdm | `{ws_url}/public/stream` (depth), `{ws_url}/market/stream` (trades, klines) | same | 10 messages/s: 8 requests/s, 200 streams per connection |
//! | bybit-spot / bybit-linear | `{ws_url}` | `{"op":"subscribe","args":[...],"req_id":"N"}` | at most 10 args per request; client `{"op":"ping"}` every 20 s |

use std::time::Duration;

use url::Url;

use super::streams::{Stream, StreamClass};
use crate::model::{Exchange, Symbol, Venue};

/// How fast and how much a venue accepts on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueLimits {
    /// Requests (subscribe, unsubscribe, client pings) per second we send.
    pub requests_per_second: u32,
    /// Topics in one subscribe request.
    pub max_topics_per_request: usize,
    /// Streams on one connection.
    pub max_streams_per_connection: usize,
    /// Whether the client must ping (Bybit) rather than answer server pings (Binance).
    pub client_ping: bool,
}

/// Returns the limits WADM keeps for `venue`.
pub const fn limits(venue: Venue) -> VenueLimits {
    match venue {
        // 5 incoming messages per second including pings/pongs: leave one for pongs.
        Venue::BinanceSpot => VenueLimits {
            requests_per_second: 4,
            max_topics_per_request: 200,
            max_streams_per_connection: 1024,
            client_ping: false,
        },
        Venue::BinanceUsdm => VenueLimits {
            requests_per_second: 8,
            max_topics_per_request: 200,
            max_streams_per_connection: 200,
            client_ping: false,
        },
        Venue::BybitSpot | Venue::BybitLinear => VenueLimits {
            requests_per_second: 5,
            max_topics_per_request: 10,
            max_streams_per_connection: 1000,
            client_ping: true,
        },
    }
}

/// One subscription: a stream of one symbol, under its venue-native topic name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// Venue-native name (`btcusdt@aggTrade`, `orderbook.50.BTCUSDT`).
    pub name: String,
    pub symbol: Symbol,
    pub stream: Stream,
}

impl Topic {
    /// Builds the topic of `stream` for `symbol` on `venue`.
    pub fn new(venue: Venue, symbol: Symbol, stream: Stream) -> Self {
        let name = match venue.exchange() {
            Exchange::Binance => format!("{}@{}", symbol.to_lowercase(), stream.name_for(venue)),
            Exchange::Bybit => format!("{}.{}", stream.name_for(venue), symbol),
        };
        Self {
            name,
            symbol,
            stream,
        }
    }
}

/// One socket of a venue and the topics it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its name in status and metrics: `stream`, `public` or `market`.
    pub name: &'static str,
    /// The URL to connect to.
    pub url: Url,
    /// Topics subscribed on it.
    pub topics: Vec<Topic>,
}

/// Appends `suffix` to the path of `base` (`wss://host:9443` + `/stream`).
fn with_path(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}{suffix}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// Returns the sockets to open for `symbols` x `streams` on `venue`. Binance USD-M routes
/// depth to `/public` and trades and klines to `/market` (a wrong route acks and then stays
/// silent); endpoints without topics are left out.
pub fn endpoints(
    venue: Venue,
    ws_url: &Url,
    symbols: &[Symbol],
    streams: &[Stream],
) -> Vec<Endpoint> {
    let topics = |filter: &dyn Fn(&Stream) -> bool| -> Vec<Topic> {
        symbols
            .iter()
            .flat_map(|symbol| {
                streams
                    .iter()
                    .filter(|s| filter(s))
                    .map(move |stream| Topic::new(venue, *symbol, *stream))
            })
            .collect()
    };
    let endpoints = match venue {
        Venue::BinanceSpot => vec![Endpoint {
            name: "stream",
            url: with_path(ws_url, "/stream"),
            topics: topics(&|_| true),
        }],
        Venue::BinanceUsdm => vec![
            Endpoint {
                name: "public",
                url: with_path(ws_url, "/public/stream"),
                topics: topics(&|s| s.class() == StreamClass::Book),
            },
            Endpoint {
                name: "market",
                url: with_path(ws_url, "/market/stream"),
                topics: topics(&|s| s.class() != StreamClass::Book),
            },
        ],
        Venue::BybitSpot | Venue::BybitLinear => vec![Endpoint {
            name: "stream",
            url: ws_url.clone(),
            topics: topics(&|_| true),
        }],
    };
    endpoints
        .into_iter()
        .filter(|endpoint| !endpoint.topics.is_empty())
        .collect()
}

/// Returns a subscribe request for `topics` with request id `id`.
pub fn subscribe_request(venue: Venue, topics: &[String], id: u64) -> String {
    request(venue, "SUBSCRIBE", "subscribe", topics, id)
}

/// Returns an unsubscribe request for `topics` with request id `id`.
pub fn unsubscribe_request(venue: Venue, topics: &[String], id: u64) -> String {
    request(venue, "UNSUBSCRIBE", "unsubscribe", topics, id)
}

fn request(
    venue: Venue,
    binance_method: &str,
    bybit_op: &str,
    topics: &[String],
    id: u64,
) -> String {
    match venue.exchange() {
        Exchange::Binance => {
            serde_json::json!({"method": binance_method, "params": topics, "id": id}).to_string()
        }
        Exchange::Bybit => {
            serde_json::json!({"op": bybit_op, "args": topics, "req_id": id.to_string()})
                .to_string()
        }
    }
}

/// Returns the client ping of venues that need one (Bybit), with request id `id`.
pub fn client_ping(venue: Venue, id: u64) -> Option<String> {
    limits(venue)
        .client_ping
        .then(|| serde_json::json!({"op": "ping", "req_id": id.to_string()}).to_string())
}

/// Returns the REST path of a depth snapshot (Binance only; Bybit books come from the socket).
pub fn depth_path(venue: Venue, symbol: Symbol, limit: u32) -> Option<String> {
    match venue {
        Venue::BinanceSpot => Some(format!("/api/v3/depth?symbol={symbol}&limit={limit}")),
        Venue::BinanceUsdm => Some(format!("/fapi/v1/depth?symbol={symbol}&limit={limit}")),
        Venue::BybitSpot | Venue::BybitLinear => None,
    }
}

/// The open-interest request of `symbol` (Binance USD-M only; Bybit linear pushes it in
/// `tickers`).
pub fn open_interest_path(venue: Venue, symbol: Symbol) -> Option<String> {
    (venue == Venue::BinanceUsdm).then(|| format!("/fapi/v1/openInterest?symbol={symbol}"))
}

/// Where a Binance `aggTrades` request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradesFrom {
    /// From this aggregate trade id on (inclusive).
    Id(u64),
    /// Within this time window (ms, both ends inclusive; at most an hour apart).
    Window { start: i64, end: i64 },
}

/// Returns the REST path of a Binance `aggTrades` request (`None` on Bybit).
pub fn agg_trades_path(
    venue: Venue,
    symbol: Symbol,
    from: TradesFrom,
    limit: u32,
) -> Option<String> {
    let base = match venue {
        Venue::BinanceSpot => "/api/v3/aggTrades",
        Venue::BinanceUsdm => "/fapi/v1/aggTrades",
        Venue::BybitSpot | Venue::BybitLinear => return None,
    };
    Some(match from {
        TradesFrom::Id(id) => format!("{base}?symbol={symbol}&fromId={id}&limit={limit}"),
        TradesFrom::Window { start, end } => {
            format!("{base}?symbol={symbol}&startTime={start}&endTime={end}&limit={limit}")
        }
    })
}

/// Returns the REST path of a Bybit `recent-trade` request (`None` on Binance).
pub fn recent_trades_path(venue: Venue, symbol: Symbol, limit: u32) -> Option<String> {
    let category = match venue {
        Venue::BybitSpot => "spot",
        Venue::BybitLinear => "linear",
        Venue::BinanceSpot | Venue::BinanceUsdm => return None,
    };
    Some(format!(
        "/v5/market/recent-trade?category={category}&symbol={symbol}&limit={limit}"
    ))
}

/// The most trades one `recent-trade` request returns: 60 on Bybit spot, 1,000 on linear.
pub const fn recent_trades_limit(venue: Venue) -> u32 {
    match venue {
        Venue::BybitSpot => 60,
        _ => 1_000,
    }
}

/// Returns the REST path of the instrument metadata of `symbol` (`None`: USD-M lists every
/// symbol in one answer).
pub fn instruments_path(venue: Venue, symbol: Option<Symbol>) -> String {
    match (venue, symbol) {
        (Venue::BinanceSpot, Some(symbol)) => format!("/api/v3/exchangeInfo?symbol={symbol}"),
        (Venue::BinanceSpot, None) => "/api/v3/exchangeInfo".into(),
        (Venue::BinanceUsdm, _) => "/fapi/v1/exchangeInfo".into(),
        (Venue::BybitSpot, Some(symbol)) => {
            format!("/v5/market/instruments-info?category=spot&symbol={symbol}")
        }
        (Venue::BybitLinear, Some(symbol)) => {
            format!("/v5/market/instruments-info?category=linear&symbol={symbol}")
        }
        (Venue::BybitSpot, None) => "/v5/market/instruments-info?category=spot".into(),
        (Venue::BybitLinear, None) => "/v5/market/instruments-info?category=linear".into(),
    }
}

/// Returns the spacing between requests that keeps to the venue's rate.
pub fn request_spacing(venue: Venue) -> Duration {
    Duration::from_secs(1) / limits(venue).requests_per_second.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KlineInterval;

    fn sym(text: &str) -> Symbol {
        Symbol::new(text).unwrap()
    }

    #[test]
    fn binance_usdm_routes_depth_to_public_and_the_rest_to_market() {
        let url = Url::parse("wss://fstream.binance.com").unwrap();
        let streams = [
            Stream::AggTrades,
            Stream::DiffDepth {
                speed_ms: Some(100),
            },
            Stream::Klines(KlineInterval::Minute1),
        ];
        let endpoints = endpoints(
            Venue::BinanceUsdm,
            &url,
            &[sym("BTCUSDT"), sym("ETHUSDT")],
            &streams,
        );
        assert_eq!(endpoints.len(), 2);
        assert_eq!(
            endpoints[0].url.as_str(),
            "wss://fstream.binance.com/public/stream"
        );
        let public: Vec<&str> = endpoints[0]
            .topics
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(public, ["btcusdt@depth@100ms", "ethusdt@depth@100ms"]);
        assert_eq!(
            endpoints[1].url.as_str(),
            "wss://fstream.binance.com/market/stream"
        );
        let market: Vec<&str> = endpoints[1]
            .topics
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            market,
            [
                "btcusdt@aggTrade",
                "btcusdt@kline_1m",
                "ethusdt@aggTrade",
                "ethusdt@kline_1m"
            ]
        );
    }

    #[test]
    fn spot_and_bybit_use_one_socket_and_keep_path_prefixes() {
        let url = Url::parse("ws://127.0.0.1:9000/sim/").unwrap();
        let spot = endpoints(
            Venue::BinanceSpot,
            &url,
            &[sym("BTCUSDT")],
            &[Stream::AggTrades],
        );
        assert_eq!(spot[0].url.as_str(), "ws://127.0.0.1:9000/sim/stream");
        let bybit_url = Url::parse("wss://stream.bybit.com/v5/public/linear").unwrap();
        let bybit = endpoints(
            Venue::BybitLinear,
            &bybit_url,
            &[sym("BTCUSDT")],
            &[
                Stream::PublicTrades,
                Stream::OrderBook { depth: 50 },
                Stream::Klines(KlineInterval::Minute1),
            ],
        );
        assert_eq!(bybit.len(), 1);
        assert_eq!(bybit[0].url, bybit_url);
        let names: Vec<&str> = bybit[0].topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "publicTrade.BTCUSDT",
                "orderbook.50.BTCUSDT",
                "kline.1.BTCUSDT"
            ]
        );
        assert!(
            endpoints(
                Venue::BinanceUsdm,
                &url,
                &[sym("BTCUSDT")],
                &[Stream::AggTrades]
            )
            .iter()
            .all(|e| e.name == "market")
        );
    }

    #[test]
    fn requests_have_each_venues_shape() {
        let topics = vec!["btcusdt@aggTrade".to_owned()];
        // Compared as JSON: key order is not part of any venue's protocol (and depends on
        // serde_json's `preserve_order`, which other crates in the build may enable).
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
        assert_eq!(
            json(&subscribe_request(Venue::BinanceSpot, &topics, 7)),
            json(r#"{"id":7,"method":"SUBSCRIBE","params":["btcusdt@aggTrade"]}"#)
        );
        assert_eq!(
            json(&unsubscribe_request(Venue::BinanceUsdm, &topics, 8)),
            json(r#"{"id":8,"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"]}"#)
        );
        let topics = vec!["publicTrade.BTCUSDT".to_owned()];
        assert_eq!(
            json(&subscribe_request(Venue::BybitSpot, &topics, 9)),
            json(r#"{"args":["publicTrade.BTCUSDT"],"op":"subscribe","req_id":"9"}"#)
        );
        assert_eq!(
            json(&client_ping(Venue::BybitLinear, 10).unwrap()),
            json(r#"{"op":"ping","req_id":"10"}"#)
        );
        assert_eq!(client_ping(Venue::BinanceSpot, 10), None);
        assert_eq!(
            request_spacing(Venue::BinanceSpot),
            Duration::from_millis(250)
        );
        assert_eq!(
            depth_path(Venue::BinanceUsdm, sym("BTCUSDT"), 1000).unwrap(),
            "/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
        );
        assert_eq!(depth_path(Venue::BybitSpot, sym("BTCUSDT"), 1000), None);
    }
}
