//! The configuration as written: every key with its built-in default, before validation.
//!
//! Values that can be wrong in more than one way (durations, decimals, URLs, symbols) are
//! kept as strings here and checked in [`super::validate`], so that one pass reports every
//! problem. The defaults below are the ones `config/default.toml` documents; a test keeps
//! the two identical.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    /// Logging.
    pub log: RawLog,
    /// The REST API.
    pub api: RawApi,
    /// Where data is stored.
    pub storage: RawStorage,
    /// How long each kind of data is kept.
    pub retention: RawRetention,
    /// How failed actors are restarted.
    pub supervision: RawSupervision,
    /// Volume profile defaults.
    pub profile: RawProfile,
    /// The four venues, by identifier.
    pub venues: RawVenues,
    /// Per-symbol settings, by symbol.
    pub symbols: BTreeMap<String, RawSymbol>,
}

impl Default for RawConfig {
    fn default() -> Self {
        let symbol = |row_size: &str| RawSymbol {
            tick_size: None,
            row_size: Some(row_size.to_owned()),
        };
        Self {
            log: RawLog::default(),
            api: RawApi::default(),
            storage: RawStorage::default(),
            retention: RawRetention::default(),
            supervision: RawSupervision::default(),
            profile: RawProfile::default(),
            venues: RawVenues::default(),
            symbols: BTreeMap::from([
                ("BTCUSDT".to_owned(), symbol("10")),
                ("ETHUSDT".to_owned(), symbol("1")),
                ("SOLUSDT".to_owned(), symbol("0.1")),
                ("XRPUSDT".to_owned(), symbol("0.001")),
            ]),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawLog {
    /// A tracing filter directive (`info`, `wadm=debug,info`).
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawApi {
    /// Socket address the REST API listens on.
    pub bind: String,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8920".into(),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawStorage {
    /// `auto` (MongoDB when a URI is configured, else embedded), `embedded` or `mongodb`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `[storage.embedded]`
    pub embedded: RawEmbeddedStorage,
    /// `[storage.mongodb]`
    pub mongodb: RawMongoStorage,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            kind: "auto".into(),
            embedded: RawEmbeddedStorage::default(),
            mongodb: RawMongoStorage::default(),
        }
    }
}

/// `[storage.embedded]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawEmbeddedStorage {
    /// Directory holding the embedded database.
    pub path: String,
}

impl Default for RawEmbeddedStorage {
    fn default() -> Self {
        Self {
            path: "./data".into(),
        }
    }
}

/// `[storage.mongodb]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawMongoStorage {
    /// Connection string; may carry credentials, so it is never logged unredacted.
    pub uri: String,
    /// Database name.
    pub database: String,
}

impl Default for RawMongoStorage {
    fn default() -> Self {
        Self {
            uri: String::new(),
            database: "wadm".into(),
        }
    }
}

/// `[retention]`: durations such as `"1h"` or `"7d"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawRetention {
    /// Raw trades.
    pub raw_trades: String,
    /// 1-minute profile and order-flow bars.
    pub bars_1m: String,
    /// 1-hour bars.
    pub bars_1h: String,
    /// Periodic book snapshots.
    pub book_snapshots: String,
    /// Venue klines.
    pub klines: String,
    /// Data-quality events (gaps, resyncs, reconnects, restarts).
    pub data_quality: String,
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            raw_trades: "1h".into(),
            bars_1m: "24h".into(),
            bars_1h: "7d".into(),
            book_snapshots: "1h".into(),
            klines: "7d".into(),
            data_quality: "30d".into(),
        }
    }
}

/// `[supervision]`: the restart policy of every supervised actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawSupervision {
    /// Delay before the first restart.
    pub initial_backoff: String,
    /// Cap on any restart delay.
    pub max_backoff: String,
    /// Growth factor between consecutive delays.
    pub multiplier: f64,
    /// Randomised share of each delay, 0 to 1.
    pub jitter: f64,
    /// Clean running time after which the failure count resets.
    pub reset_after: String,
    /// Restarts allowed within `window` before the supervisor escalates.
    pub max_restarts: u32,
    /// Window over which restarts are counted.
    pub window: String,
}

impl Default for RawSupervision {
    fn default() -> Self {
        Self {
            initial_backoff: "250ms".into(),
            max_backoff: "30s".into(),
            multiplier: 2.0,
            jitter: 0.2,
            reset_after: "60s".into(),
            max_restarts: 10,
            window: "60s".into(),
        }
    }
}

/// `[profile]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawProfile {
    /// Row size, in ticks, for symbols without a `row_size` of their own.
    pub default_row_ticks: u32,
}

impl Default for RawProfile {
    fn default() -> Self {
        Self {
            default_row_ticks: 10,
        }
    }
}

/// `[venues]`: one table per venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawVenues {
    /// `[venues.binance-spot]`
    #[serde(rename = "binance-spot")]
    pub binance_spot: RawVenue,
    /// `[venues.binance-usdm]`
    #[serde(rename = "binance-usdm")]
    pub binance_usdm: RawVenue,
    /// `[venues.bybit-spot]`
    #[serde(rename = "bybit-spot")]
    pub bybit_spot: RawVenue,
    /// `[venues.bybit-linear]`
    #[serde(rename = "bybit-linear")]
    pub bybit_linear: RawVenue,
}

impl Default for RawVenues {
    fn default() -> Self {
        let list = |items: &[&str]| {
            items
                .iter()
                .map(|item| (*item).to_owned())
                .collect::<Vec<_>>()
        };
        let binance_streams = list(&["aggTrade", "depth@100ms", "kline_1m"]);
        let bybit_streams = list(&["publicTrade", "orderbook.50", "kline.1"]);
        Self {
            binance_spot: RawVenue {
                enabled: true,
                symbols: list(&["BTCUSDT", "ETHUSDT", "XRPUSDT"]),
                ws_url: "wss://stream.binance.com:9443".into(),
                rest_url: "https://api.binance.com".into(),
                streams: binance_streams.clone(),
                tick_sizes: BTreeMap::new(),
            },
            binance_usdm: RawVenue {
                enabled: false,
                symbols: list(&["BTCUSDT", "ETHUSDT"]),
                ws_url: "wss://fstream.binance.com".into(),
                rest_url: "https://fapi.binance.com".into(),
                streams: binance_streams,
                tick_sizes: BTreeMap::new(),
            },
            bybit_spot: RawVenue {
                enabled: true,
                symbols: list(&["BTCUSDT", "ETHUSDT", "SOLUSDT"]),
                ws_url: "wss://stream.bybit.com/v5/public/spot".into(),
                rest_url: "https://api.bybit.com".into(),
                streams: bybit_streams.clone(),
                tick_sizes: BTreeMap::new(),
            },
            bybit_linear: RawVenue {
                enabled: false,
                symbols: list(&["BTCUSDT", "ETHUSDT"]),
                ws_url: "wss://stream.bybit.com/v5/public/linear".into(),
                rest_url: "https://api.bybit.com".into(),
                streams: bybit_streams,
                tick_sizes: BTreeMap::new(),
            },
        }
    }
}

impl RawVenues {
    /// Returns each venue's identifier with its table, in canonical order.
    pub fn iter(&self) -> [(&'static str, &RawVenue); 4] {
        [
            ("binance-spot", &self.binance_spot),
            ("binance-usdm", &self.binance_usdm),
            ("bybit-spot", &self.bybit_spot),
            ("bybit-linear", &self.bybit_linear),
        ]
    }
}

/// `[venues.<venue>]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawVenue {
    /// Whether to collect from this venue.
    pub enabled: bool,
    /// Symbols to collect.
    pub symbols: Vec<String>,
    /// WebSocket base URL.
    pub ws_url: String,
    /// REST base URL (depth snapshots, instrument metadata).
    pub rest_url: String,
    /// Streams to subscribe, by their venue-native names.
    pub streams: Vec<String>,
    /// Tick size overrides for this venue, by symbol.
    pub tick_sizes: BTreeMap<String, String>,
}

/// `[symbols.<SYMBOL>]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawSymbol {
    /// Tick size on every venue, unless a venue's `tick_sizes` overrides it.
    pub tick_size: Option<String>,
    /// Profile row height; a whole multiple of the tick size.
    pub row_size: Option<String>,
}
