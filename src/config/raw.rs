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
    /// How venue connections behave.
    pub connection: RawConnection,
    /// Aggregator actors.
    pub aggregator: RawAggregator,
    /// Recordings of raw frames.
    pub recording: RawRecording,
    /// The persistence actor.
    pub persistence: RawPersistence,
    /// Graceful shutdown.
    pub shutdown: RawShutdown,
    /// Threads of the async runtimes.
    pub runtime: RawRuntime,
    /// Gap repair and start-up backfill.
    pub backfill: RawBackfill,
    /// The four venues, by identifier.
    pub venues: RawVenues,
    /// Per-symbol settings, by symbol.
    pub symbols: BTreeMap<String, RawSymbol>,
    /// Alert rules and where they are delivered.
    pub alerts: wadm_actors::alerts::RawAlerts,
}

impl Default for RawConfig {
    fn default() -> Self {
        let symbol = |row_size: &str| RawSymbol {
            row_size: Some(row_size.to_owned()),
            ..RawSymbol::default()
        };
        Self {
            log: RawLog::default(),
            api: RawApi::default(),
            storage: RawStorage::default(),
            retention: RawRetention::default(),
            supervision: RawSupervision::default(),
            profile: RawProfile::default(),
            connection: RawConnection::default(),
            aggregator: RawAggregator::default(),
            recording: RawRecording::default(),
            persistence: RawPersistence::default(),
            shutdown: RawShutdown::default(),
            runtime: RawRuntime::default(),
            backfill: RawBackfill::default(),
            venues: RawVenues::default(),
            symbols: BTreeMap::from([
                ("BTCUSDT".to_owned(), symbol("10")),
                ("ETHUSDT".to_owned(), symbol("1")),
                ("SOLUSDT".to_owned(), symbol("0.1")),
                ("XRPUSDT".to_owned(), symbol("0.001")),
            ]),
            alerts: wadm_actors::alerts::RawAlerts::default(),
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
    /// API keys, as argon2 hashes (`wadm hash-key` makes them).
    pub keys: Vec<wadm_actors::api::ApiKey>,
    /// Serve a non-loopback address without keys.
    pub allow_unauthenticated: bool,
    /// Where clients reach the API when that is not the bind address (a container's
    /// published host address); empty: the bind address. Beyond loopback, keys are required.
    pub published_host: String,
    /// Sustained requests per minute per key (per client IP without keys).
    pub requests_per_minute: u32,
    /// Requests allowed at once from a full bucket.
    pub burst: u32,
    /// Origins browsers may call the API from (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// Longest time one request may take.
    pub request_timeout: String,
    /// Connections open at once (the oldest idle one makes room for a new one).
    pub max_connections: u32,
    /// Time a client has to send a whole request head.
    pub header_timeout: String,
    /// Time a connection may move no byte before it is closed.
    pub idle_timeout: String,
    /// Requests answered at once (more get 503 `overloaded`).
    pub max_concurrent_requests: u32,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8920".into(),
            keys: Vec::new(),
            allow_unauthenticated: false,
            published_host: String::new(),
            requests_per_minute: 60,
            burst: 10,
            cors_origins: Vec::new(),
            request_timeout: "10s".into(),
            max_connections: 512,
            header_timeout: "10s".into(),
            idle_timeout: "60s".into(),
            max_concurrent_requests: 64,
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
    /// What the daemon does when the store does not answer at start: `degraded` (run,
    /// buffer, retry) or `fail` (exit with the reason).
    pub on_unavailable_at_start: String,
    /// How long the start waits for the store's first answer.
    pub start_timeout: String,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            kind: "auto".into(),
            embedded: RawEmbeddedStorage::default(),
            mongodb: RawMongoStorage::default(),
            on_unavailable_at_start: "degraded".into(),
            start_timeout: "10s".into(),
        }
    }
}

/// `[runtime]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawRuntime {
    /// Worker threads of the runtime that runs the feeds, aggregators and persistence.
    pub worker_threads: usize,
    /// Worker threads of the REST API's own runtime.
    pub api_threads: usize,
}

impl Default for RawRuntime {
    fn default() -> Self {
        Self {
            worker_threads: 1,
            api_threads: 1,
        }
    }
}

/// `[shutdown]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawShutdown {
    /// The deadline of a graceful shutdown (SIGINT, SIGTERM).
    pub timeout: String,
}

impl Default for RawShutdown {
    fn default() -> Self {
        Self {
            timeout: "30s".into(),
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
    pub raw_trades: String,
    /// 1-minute profile and order-flow bars.
    pub bars_1m: String,
    /// 1-hour bars.
    pub bars_1h: String,
    /// 1-day bars.
    pub bars_1d: String,
    /// Periodic book snapshots.
    pub book_snapshots: String,
    /// Venue klines.
    pub klines: String,
    /// Data-quality events (gaps, resyncs, reconnects, restarts).
    pub data_quality: String,
    /// Liquidation events (fundings settled are kept as long as the 1-hour bars).
    pub liquidations: String,
    /// The alert log.
    pub alerts: String,
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            raw_trades: "1h".into(),
            bars_1m: "26h".into(),
            bars_1h: "90d".into(),
            bars_1d: "400d".into(),
            book_snapshots: "1h".into(),
            klines: "7d".into(),
            data_quality: "30d".into(),
            liquidations: "7d".into(),
            alerts: "30d".into(),
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
    /// Share of the volume in the value area.
    pub value_area: String,
    /// Session start (`HH:MM` UTC), where cumulative delta resets.
    pub session_anchor: String,
    /// Diagonal imbalance ratio.
    pub imbalance_ratio: String,
    /// Volume the dominant side of an imbalance must reach.
    pub imbalance_min_volume: String,
    /// Consecutive imbalanced rows that make a stack.
    pub stacked_imbalance_rows: usize,
    /// Absorption: aggressive volume of at least this multiple of the average row volume.
    pub absorption_volume_multiple: String,
    /// Absorption: price moved at most this many rows beyond the level.
    pub absorption_max_rows: u32,
    /// Large trades: at least this multiple of the rolling median size ("0" turns it off).
    pub large_trade_median_multiple: String,
    /// Large trades: trades the rolling median is taken over.
    pub large_trade_median_window: usize,
    /// Named UTC sessions, `name = "HH:MM-HH:MM"`.
    pub sessions: std::collections::BTreeMap<String, String>,
    /// Days back in which naked POCs are looked for.
    pub naked_poc_lookback_days: u32,
}

impl Default for RawProfile {
    fn default() -> Self {
        Self {
            default_row_ticks: 10,
            value_area: "0.70".into(),
            session_anchor: "00:00".into(),
            imbalance_ratio: "3".into(),
            imbalance_min_volume: "0".into(),
            stacked_imbalance_rows: 3,
            absorption_volume_multiple: "3".into(),
            absorption_max_rows: 2,
            large_trade_median_multiple: "10".into(),
            large_trade_median_window: 1000,
            sessions: [
                ("asia", "00:00-08:00"),
                ("london", "07:00-16:00"),
                ("new_york", "13:30-20:00"),
            ]
            .into_iter()
            .map(|(name, hours)| (name.to_owned(), hours.to_owned()))
            .collect(),
            naked_poc_lookback_days: 20,
        }
    }
}

/// `[connection]`: timeouts, watchdogs, rotation, books, and reconnection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawConnection {
    /// Time allowed to open a socket.
    pub connect_timeout: String,
    /// No frame at all for this long and the socket is replaced.
    pub transport_timeout: String,
    /// No book data for this long and the socket is replaced.
    pub book_timeout: String,
    /// No trade for this long and the socket is replaced.
    pub trade_timeout: String,
    pub derivatives_timeout: String,
    /// Planned rotation, before the venues' 24 h cut.
    pub rotate_after: String,
    /// Client ping interval (Bybit).
    pub ping_interval: String,
    /// Subscriptions without an answer after this long are reported.
    pub ack_timeout: String,
    /// Levels requested in a REST depth snapshot.
    pub snapshot_depth: u32,
    /// Snapshots in a row that do not fit the stream before the book is out of sync.
    pub snapshot_attempts: u32,
    /// How long every diff may be older than a fresh snapshot before it is judged ahead.
    pub snapshot_ahead_tolerance: String,
    /// Book diffs held per symbol while waiting for a snapshot.
    pub book_buffer_limit: usize,
    /// Levels per side in published book views.
    pub book_view_depth: usize,
    /// Book views are published at most this often per symbol.
    pub book_publish_interval: String,
    /// Largest WebSocket message accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Timeout of REST requests.
    pub rest_timeout: String,
    /// Instrument metadata is refetched after a reconnect at most this often.
    pub instrument_refresh: String,
    pub open_interest_interval: String,
    /// `[connection.backoff]`
    pub backoff: RawBackoff,
    /// `[connection.budget]`
    pub budget: RawBudget,
    /// Percent of each venue's REST limit WADM uses at all.
    pub rest_safety_percent: u32,
    /// Percent of that which repair and backfill may take.
    pub rest_backfill_percent: u32,
}

impl Default for RawConnection {
    fn default() -> Self {
        Self {
            connect_timeout: "10s".into(),
            transport_timeout: "60s".into(),
            book_timeout: "15s".into(),
            trade_timeout: "10m".into(),
            derivatives_timeout: "30s".into(),
            rotate_after: "23h".into(),
            ping_interval: "20s".into(),
            ack_timeout: "10s".into(),
            snapshot_depth: 1000,
            snapshot_attempts: 5,
            snapshot_ahead_tolerance: "5s".into(),
            book_buffer_limit: 10_000,
            book_view_depth: 100,
            book_publish_interval: "100ms".into(),
            max_frame_bytes: 4 * 1024 * 1024,
            rest_timeout: "10s".into(),
            instrument_refresh: "10m".into(),
            open_interest_interval: "10s".into(),
            backoff: RawBackoff::default(),
            budget: RawBudget::default(),
            rest_safety_percent: 80,
            rest_backfill_percent: 50,
        }
    }
}

/// `[connection.backoff]`: reconnection delays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawBackoff {
    /// First delay.
    pub initial_backoff: String,
    /// Cap.
    pub max_backoff: String,
    /// Growth factor.
    pub multiplier: f64,
    /// Randomised share, 0 to 1.
    pub jitter: f64,
}

impl Default for RawBackoff {
    fn default() -> Self {
        Self {
            initial_backoff: "1s".into(),
            max_backoff: "60s".into(),
            multiplier: 2.0,
            jitter: 0.3,
        }
    }
}

/// `[connection.budget]`: connection attempts allowed across all venues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawBudget {
    /// Connection attempts per window to Binance spot (stream.binance.com).
    pub binance_spot: usize,
    /// Connection attempts per window to Binance USD-M (fstream.binance.com).
    pub binance_usdm: usize,
    /// Connection attempts per window to Bybit (stream.bybit.com: spot and linear share it).
    pub bybit: usize,
    pub window: String,
}

impl Default for RawBudget {
    fn default() -> Self {
        Self {
            binance_spot: 240,
            binance_usdm: 240,
            bybit: 400,
            window: "5m".into(),
        }
    }
}

/// `[backfill]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawBackfill {
    /// History fetched before the first live trade on an empty store; "0" for none.
    pub on_start: String,
    /// Whether holes are repaired from the venues' REST history.
    pub repair: bool,
    /// How often the data-quality log is looked at for holes.
    pub scan_interval: String,
}

impl Default for RawBackfill {
    fn default() -> Self {
        Self {
            on_start: "24h".into(),
            repair: true,
            scan_interval: "1s".into(),
        }
    }
}

/// `[aggregator]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawAggregator {
    /// Messages waiting for one aggregator before new ones are dropped (and counted).
    pub queue_capacity: usize,
    /// How often snapshots for the API are refreshed and the aggregator clock ticks.
    pub publish_interval: String,
    /// How long after its end a quiet bar is closed by the clock.
    pub close_grace: String,
    /// How often a book snapshot is persisted.
    pub book_snapshot_interval: String,
    /// Levels per side in persisted book snapshots.
    pub book_snapshot_depth: usize,
    /// Levels per side in the depth imbalance.
    pub depth_imbalance_levels: usize,
    /// Recent trades kept for the API.
    pub recent_trades: usize,
    /// Trades held while a symbol's row size waits for the venue's tick size.
    pub pending_trade_limit: usize,
    /// How long a hole in contiguous trade ids may stay open before it is a trade gap.
    pub gap_grace: String,
    /// How long an aggregator may read the store at start before it starts cold.
    pub warm_start_budget: String,
    /// How often a cold-started aggregator reads the store again.
    pub warm_retry_interval: String,
    /// How far ahead of the local clock a live trade may be stamped and be taken at once.
    pub ahead_tolerance: String,
    /// Trades stamped further ahead are held until the clock reaches them, up to this far;
    /// beyond, they are dropped and counted.
    pub ahead_hold: String,
}

impl Default for RawAggregator {
    fn default() -> Self {
        Self {
            queue_capacity: 100_000,
            publish_interval: "250ms".into(),
            close_grace: "2s".into(),
            book_snapshot_interval: "10s".into(),
            book_snapshot_depth: 20,
            depth_imbalance_levels: 10,
            recent_trades: 1000,
            pending_trade_limit: 100_000,
            gap_grace: "2s".into(),
            warm_start_budget: "30s".into(),
            warm_retry_interval: "30s".into(),
            ahead_tolerance: "2s".into(),
            ahead_hold: "5m".into(),
        }
    }
}

/// `[recording]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawRecording {
    /// Whether raw frames are recorded.
    pub enabled: bool,
    /// Directory of the recordings.
    pub path: String,
    /// Largest recording file, in bytes.
    pub max_file_bytes: u64,
    /// Recording files kept.
    pub max_files: usize,
    /// Frames waiting for the writer before new ones are dropped.
    pub queue_capacity: usize,
}

impl Default for RawRecording {
    fn default() -> Self {
        Self {
            enabled: false,
            path: "./recordings".into(),
            max_file_bytes: 64 * 1024 * 1024,
            max_files: 16,
            queue_capacity: 65_536,
        }
    }
}

/// `[persistence]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawPersistence {
    /// Whether raw trades are stored.
    pub raw_trades: bool,
    /// Documents per batch; a full batch is written at once.
    pub batch_size: usize,
    /// Longest wait of a document before it is written.
    pub flush_interval: String,
    /// Documents held at most (while the store is slow or down).
    pub buffer_capacity: usize,
    /// Records waiting between the aggregators and the persistence actor.
    pub queue_capacity: usize,
    /// A write taking longer has failed.
    pub write_timeout: String,
    /// First retry delay after a failed write.
    pub retry_initial: String,
    /// Longest retry delay.
    pub retry_max: String,
    /// Retention sweep interval (embedded store).
    pub sweep_interval: String,
    /// Longest final flush on shutdown.
    pub shutdown_timeout: String,
}

impl Default for RawPersistence {
    fn default() -> Self {
        Self {
            raw_trades: true,
            batch_size: 10_000,
            flush_interval: "1s".into(),
            buffer_capacity: 200_000,
            queue_capacity: 65_536,
            write_timeout: "30s".into(),
            retry_initial: "500ms".into(),
            retry_max: "30s".into(),
            sweep_interval: "1m".into(),
            shutdown_timeout: "8s".into(),
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
        // Perpetuals also collect liquidations, mark price, funding and open interest.
        let bybit_streams = list(&["publicTrade", "orderbook.50", "kline.1"]);
        Self {
            binance_spot: RawVenue {
                enabled: true,
                symbols: list(&["BTCUSDT", "ETHUSDT", "XRPUSDT"]),
                ws_url: "wss://stream.binance.com:9443".into(),
                rest_url: "https://api.binance.com".into(),
                archive_url: "https://data.binance.vision".into(),
                streams: binance_streams.clone(),
                tick_sizes: BTreeMap::new(),
                rest_limit: None,
            },
            binance_usdm: RawVenue {
                enabled: false,
                symbols: list(&["BTCUSDT", "ETHUSDT"]),
                ws_url: "wss://fstream.binance.com".into(),
                rest_url: "https://fapi.binance.com".into(),
                archive_url: "https://data.binance.vision".into(),
                streams: list(&[
                    "aggTrade",
                    "depth@100ms",
                    "kline_1m",
                    "forceOrder",
                    "markPrice@1s",
                ]),
                tick_sizes: BTreeMap::new(),
                rest_limit: None,
            },
            bybit_spot: RawVenue {
                enabled: true,
                symbols: list(&["BTCUSDT", "ETHUSDT", "SOLUSDT"]),
                ws_url: "wss://stream.bybit.com/v5/public/spot".into(),
                rest_url: "https://api.bybit.com".into(),
                archive_url: "https://public.bybit.com".into(),
                streams: bybit_streams.clone(),
                tick_sizes: BTreeMap::new(),
                rest_limit: None,
            },
            bybit_linear: RawVenue {
                enabled: false,
                symbols: list(&["BTCUSDT", "ETHUSDT"]),
                ws_url: "wss://stream.bybit.com/v5/public/linear".into(),
                rest_url: "https://api.bybit.com".into(),
                archive_url: "https://public.bybit.com".into(),
                streams: list(&[
                    "publicTrade",
                    "orderbook.50",
                    "kline.1",
                    "allLiquidation",
                    "tickers",
                ]),
                tick_sizes: BTreeMap::new(),
                rest_limit: None,
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
    /// Base URL of the venue's public daily trade archives (`wadm backfill`).
    pub archive_url: String,
    /// Streams to subscribe, by their venue-native names.
    pub streams: Vec<String>,
    /// Tick size overrides for this venue, by symbol.
    pub tick_sizes: BTreeMap<String, String>,
    /// REST weight (Binance, per minute) or requests (Bybit, per 5 s) the venue allows;
    /// unset: the venue's documented limit.
    pub rest_limit: Option<u32>,
}

/// `[symbols.<SYMBOL>]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawSymbol {
    /// Tick size on every venue, unless a venue's `tick_sizes` overrides it.
    pub tick_size: Option<String>,
    /// Profile row height; a whole multiple of the tick size.
    pub row_size: Option<String>,
    /// Trades of at least this size are large.
    pub large_trade_qty: Option<String>,
    /// Volume the dominant side of an imbalance must reach, for this symbol.
    pub imbalance_min_volume: Option<String>,
}
