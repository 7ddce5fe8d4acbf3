//! Configuration: typed, layered, validated, with secrets redacted whenever it is shown.
//!
//! Layers, later ones winning: built-in defaults, `config/default.toml`, the `--config`
//! file, the legacy environment names of the earlier Python WADM (`BINANCE_SYMBOLS`,
//! `BYBIT_SYMBOLS`, `COLLECTORS_ENABLED`, `RETENTION_*`, `MONGODB_URI`), then
//! `WADM__SECTION__KEY` variables. [`load`] takes the environment as a map, so tests never
//! touch the process environment.
//!
//! Loading reports every problem at once: unknown keys anywhere, one type error per section
//! (or per venue), and every invalid value (durations, decimals, URLs, symbols, streams,
//! row sizes that are not whole multiples of the tick size).

mod layers;
pub mod raw;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::{Table, Value};
use url::Url;
use wadm_actors::aggregator::{AggregatorSettings, ProfileParams, RowSpec};
use wadm_actors::connection::Stream;
use wadm_actors::model::{Price, Qty, Symbol, Venue};
use wadm_actors::recorder::RecorderSettings;
use wadm_supervision::RestartPolicy;

pub use layers::{ENV_PREFIX, LEGACY_VARIABLES};
pub use raw::RawConfig;

/// Where `cargo run` and the daemon look for the commented defaults file.
pub const DEFAULT_CONFIG_FILE: &str = "config/default.toml";

/// The validated configuration of the daemon.
#[derive(Debug, Clone)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// The REST API.
    pub api: ApiConfig,
    /// The store.
    pub storage: StorageConfig,
    /// How long each kind of data is kept.
    pub retention: RetentionConfig,
    /// Restart policy of supervised actors.
    pub supervision: RestartPolicy,
    /// Volume profile defaults.
    pub profile: ProfileConfig,
    /// How venue connections behave.
    pub connection: ConnectionConfig,
    /// Aggregator actors.
    pub aggregator: AggregatorConfig,
    /// Recordings of raw frames (`None`: off).
    pub recording: Option<RecorderSettings>,
    /// The persistence actor.
    pub persistence: PersistenceConfig,
    /// What the start does when the store does not answer.
    pub store_start: StoreStart,
    /// The deadline of a graceful shutdown.
    pub shutdown_timeout: Duration,
    /// Threads of the async runtimes (read at start; a reload does not change them).
    pub runtime: RuntimeConfig,
    /// Gap repair and start-up backfill.
    pub backfill: wadm_actors::backfill::BackfillSettings,
    /// Every venue, in canonical order, enabled or not.
    pub venues: Vec<VenueConfig>,
    /// Per-symbol settings.
    pub symbols: BTreeMap<Symbol, SymbolConfig>,
    /// Alert rules and destinations.
    pub alerts: wadm_actors::alerts::AlertSettings,
}

impl Config {
    /// Returns the enabled venues.
    pub fn enabled_venues(&self) -> impl Iterator<Item = &VenueConfig> {
        self.venues.iter().filter(|venue| venue.enabled)
    }

    /// Returns a symbol's indicator parameters: the `[profile]` ones with its own settings.
    pub fn profile_params(&self, symbol: Symbol) -> ProfileParams {
        let mut params = self.profile.params;
        if let Some(own) = self.symbols.get(&symbol) {
            if let Some(min) = own.imbalance_min_volume {
                params.imbalance.min_volume = min;
            }
            if own.large_trade_qty.is_some() {
                params.large_trades.min_qty = own.large_trade_qty;
            }
        }
        params
    }

    /// Returns how a symbol's row height is chosen: its `row_size`, else
    /// `default_row_ticks` of the venue's tick size.
    pub fn row_spec(&self, symbol: Symbol) -> RowSpec {
        match self.symbols.get(&symbol).and_then(|own| own.row_size) {
            Some(row) => RowSpec::Fixed(row),
            None => RowSpec::Ticks(self.profile.default_row_ticks),
        }
    }

    /// Returns every enabled (venue, symbol) pair, in configuration order.
    pub fn pairs(&self) -> Vec<(Venue, Symbol)> {
        self.enabled_venues()
            .flat_map(|venue| venue.symbols.iter().map(move |s| (venue.venue, *s)))
            .collect()
    }

    /// Returns the tick sizes that override the venue's for `venue`'s symbols: the venue's
    /// own `tick_sizes`, then each symbol's `tick_size`.
    pub fn tick_overrides(&self, venue: &VenueConfig) -> BTreeMap<Symbol, Price> {
        let mut ticks = venue.tick_sizes.clone();
        for symbol in &venue.symbols {
            if let Some(tick) = self.symbols.get(symbol).and_then(|s| s.tick_size) {
                ticks.entry(*symbol).or_insert(tick);
            }
        }
        ticks
    }

    /// Returns a symbol's aggregator settings.
    pub fn aggregator_settings(&self, symbol: Symbol) -> AggregatorSettings {
        AggregatorSettings {
            profile: self.profile_params(symbol),
            persist_trades: self.persistence.raw_trades,
            ..self.aggregator.settings.clone()
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Tracing filter directive.
    pub filter: String,
    /// Output format.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Keys, rate limit, CORS, timeouts.
    pub settings: wadm_actors::api::ApiSettings,
}

/// Threads of the async runtimes. The daemon's own work (sockets, aggregators,
/// persistence) runs on `worker_threads`; the REST API on a runtime of its own with
/// `api_threads`, so a costly request never holds up the feeds. One worker by default: on
/// the small VPS WADM is made for, a second worker for the feeds costs more in wake-ups and
/// contended memory than it gives (tests/README.md, pipeline benchmark); the store's writes
/// run on threads of their own either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Worker threads of the daemon's runtime.
    pub worker_threads: usize,
    /// Worker threads of the API's runtime.
    pub api_threads: usize,
}

/// What the start does when the store does not answer within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStart {
    /// Exit with the reason (`true`), or run degraded: persistence buffers and retries.
    pub fail: bool,
    /// How long to wait for the store's first answer.
    pub timeout: Duration,
}

/// `[storage]`, resolved: `auto` has become one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// The embedded store under a directory.
    Embedded {
        /// Data directory.
        path: PathBuf,
    },
    /// MongoDB.
    MongoDb {
        /// Connection string (may hold credentials).
        uri: Secret,
        /// Database name.
        database: String,
    },
}

/// `[persistence]`, resolved.
#[derive(Debug, Clone)]
pub struct PersistenceConfig {
    /// Whether raw trades are stored.
    pub raw_trades: bool,
    /// Records waiting between the aggregators and the persistence actor.
    pub queue_capacity: usize,
    /// Batching, buffering, retries and shutdown.
    pub settings: wadm_actors::persistence::PersistenceSettings,
}

/// `[retention]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    pub raw_trades: Duration,
    /// 1-minute bars.
    pub bars_1m: Duration,
    /// 1-hour bars.
    pub bars_1h: Duration,
    /// 1-day bars.
    pub bars_1d: Duration,
    pub book_snapshots: Duration,
    /// Venue klines.
    pub klines: Duration,
    /// Data-quality events.
    pub data_quality: Duration,
    /// Liquidation events (fundings settled are kept as long as the 1-hour bars).
    pub liquidations: Duration,
    /// The alert log.
    pub alerts: Duration,
}

/// `[profile]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileConfig {
    /// Row size in ticks for symbols without their own `row_size`.
    pub default_row_ticks: u32,
    /// Indicator parameters (per-symbol settings refine them).
    pub params: ProfileParams,
}

/// `[connection]`
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Settings of every connection actor.
    pub settings: wadm_actors::connection::ConnectionSettings,
    /// Connection attempts allowed per window, per venue host.
    pub budget_attempts: wadm_actors::connection::budget::BudgetAttempts,
    /// The budget's window.
    pub budget_window: Duration,
    /// Percent of each venue's REST limit used at all.
    pub rest_safety_percent: u32,
    /// Percent of that which repair and backfill may take.
    pub rest_backfill_percent: u32,
}

/// `[aggregator]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Messages waiting per aggregator before new ones are dropped.
    pub queue_capacity: usize,
    /// Settings shared by every aggregator (the profile parameters are filled per symbol).
    pub settings: AggregatorSettings,
}

/// `[venues.<venue>]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueConfig {
    pub venue: Venue,
    /// Whether to collect from it.
    pub enabled: bool,
    /// Symbols to collect.
    pub symbols: Vec<Symbol>,
    /// WebSocket base URL.
    pub ws_url: Url,
    /// REST base URL.
    pub rest_url: Url,
    /// Base URL of the public daily trade archives.
    pub archive_url: Url,
    /// Streams to subscribe for each symbol.
    pub streams: Vec<Stream>,
    /// Tick size overrides on this venue.
    pub tick_sizes: BTreeMap<Symbol, Price>,
    /// The venue's REST limit, when not the documented one.
    pub rest_limit: Option<u32>,
}

impl Config {
    /// The REST budget limits of `venue`.
    pub fn rest_limits(
        &self,
        venue: &VenueConfig,
    ) -> wadm_actors::connection::rest_budget::BudgetLimits {
        let mut limits = wadm_actors::connection::rest_budget::BudgetLimits::for_venue(venue.venue);
        if let Some(limit) = venue.rest_limit {
            limits.limit = limit;
        }
        limits.safety = f64::from(self.connection.rest_safety_percent) / 100.0;
        limits.backfill_share = f64::from(self.connection.rest_backfill_percent) / 100.0;
        limits
    }
}

/// `[symbols.<SYMBOL>]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolConfig {
    /// Tick size on every venue unless overridden there.
    pub tick_size: Option<Price>,
    /// Profile row height.
    pub row_size: Option<Price>,
    /// Trades of at least this size are large.
    pub large_trade_qty: Option<Qty>,
    /// Volume the dominant side of an imbalance must reach.
    pub imbalance_min_volume: Option<Qty>,
}

/// A secret string: shows as `****` in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// Returns the secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Returns a connection string with its password replaced by `****`
/// (`mongodb://user:****@host/db`).
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return if uri.is_empty() {
            String::new()
        } else {
            "****".into()
        };
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, hosts)) => {
            let user = credentials
                .split_once(':')
                .map_or(credentials, |(user, _)| user);
            format!("{scheme}://{user}:****@{hosts}{tail}")
        }
        None => uri.to_owned(),
    }
}

/// One configuration problem: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A key path (`venues.binance-spot.ws_url`), a file, or `env NAME`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// Creates a problem.
    pub fn new(path: String, message: String) -> Self {
        Self { path, message }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration ({} problem{}):\n{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The defaults file; skipped if absent.
    pub defaults_file: Option<PathBuf>,
    /// The `--config` file; must exist if given.
    pub config_file: Option<PathBuf>,
    /// The environment.
    pub env: BTreeMap<String, String>,
}

impl LoadOptions {
    /// Options for the daemon: `config/default.toml` if present, then `config_file`, then `env`.
    pub fn new(config_file: Option<PathBuf>, env: BTreeMap<String, String>) -> Self {
        Self {
            defaults_file: Some(PathBuf::from(DEFAULT_CONFIG_FILE)),
            config_file,
            env,
        }
    }
}

/// A loaded configuration, with the layers it came from and its effective raw form.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// The merged configuration as written, before validation.
    pub raw: RawConfig,
    /// The files that contributed, in order.
    pub files: Vec<PathBuf>,
}

impl Loaded {
    /// Returns the effective configuration as TOML, with secrets redacted.
    pub fn effective_toml(&self) -> String {
        let mut raw = self.raw.clone();
        raw.storage.mongodb.uri = redact_uri(&raw.storage.mongodb.uri);
        // Key hashes are not keys, but they are what an offline guesser would start from.
        for key in &mut raw.api.keys {
            key.hash = "<argon2 hash, redacted>".into();
        }
        toml::to_string(&raw)
            .unwrap_or_else(|err| format!("# the configuration could not be rendered: {err}\n"))
    }
}

/// Loads, merges and validates the configuration.
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    let mut tree = match Value::try_from(RawConfig::default()) {
        Ok(Value::Table(table)) => table,
        _ => Table::new(),
    };
    if let Some(path) = &options.defaults_file
        && path.exists()
    {
        read_layer(path, &mut tree, &mut files, &mut problems);
    }
    if let Some(path) = &options.config_file {
        read_layer(path, &mut tree, &mut files, &mut problems);
    }
    layers::apply_env(&mut tree, &options.env, &mut problems);
    let raw = deserialize_sections(tree, &mut problems);
    match validate::validate(&raw) {
        Ok(config) if problems.is_empty() => Ok(Loaded { config, raw, files }),
        Ok(_) => Err(ConfigError { problems }),
        Err(found) => {
            problems.extend(found);
            Err(ConfigError { problems })
        }
    }
}

fn read_layer(
    path: &Path,
    tree: &mut Table,
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    match layers::read_file(path) {
        Ok(layer) => {
            layers::merge(tree, layer);
            files.push(path.to_owned());
        }
        Err(problem) => problems.push(problem),
    }
}

/// Deserializes the merged tree section by section (and venue by venue), so one type error
/// does not hide problems elsewhere; every unknown key is a problem.
fn deserialize_sections(mut tree: Table, problems: &mut Vec<Problem>) -> RawConfig {
    let mut raw = RawConfig::default();
    let mut take = |name: &str| tree.remove(name);
    if let Some(value) = take("log") {
        raw.log = section(value, "log", problems).unwrap_or(raw.log);
    }
    if let Some(value) = take("api") {
        raw.api = section(value, "api", problems).unwrap_or(raw.api);
    }
    if let Some(value) = take("storage") {
        raw.storage = section(value, "storage", problems).unwrap_or(raw.storage);
    }
    if let Some(value) = take("retention") {
        raw.retention = section(value, "retention", problems).unwrap_or(raw.retention);
    }
    if let Some(value) = take("supervision") {
        raw.supervision = section(value, "supervision", problems).unwrap_or(raw.supervision);
    }
    if let Some(value) = take("profile") {
        raw.profile = section(value, "profile", problems).unwrap_or(raw.profile);
    }
    if let Some(value) = take("connection") {
        raw.connection = section(value, "connection", problems).unwrap_or(raw.connection);
    }
    if let Some(value) = take("aggregator") {
        raw.aggregator = section(value, "aggregator", problems).unwrap_or(raw.aggregator);
    }
    if let Some(value) = take("recording") {
        raw.recording = section(value, "recording", problems).unwrap_or(raw.recording);
    }
    if let Some(value) = take("persistence") {
        raw.persistence = section(value, "persistence", problems).unwrap_or(raw.persistence);
    }
    if let Some(value) = take("shutdown") {
        raw.shutdown = section(value, "shutdown", problems).unwrap_or(raw.shutdown);
    }
    if let Some(value) = take("runtime") {
        raw.runtime = section(value, "runtime", problems).unwrap_or(raw.runtime);
    }
    if let Some(value) = take("backfill") {
        raw.backfill = section(value, "backfill", problems).unwrap_or(raw.backfill);
    }
    if let Some(value) = take("alerts") {
        raw.alerts = section(value, "alerts", problems).unwrap_or(raw.alerts);
    }
    if let Some(value) = take("venues") {
        match value {
            Value::Table(mut venues) => {
                let defaults = raw.venues.clone();
                for (name, slot, default) in [
                    (
                        "binance-spot",
                        &mut raw.venues.binance_spot,
                        defaults.binance_spot,
                    ),
                    (
                        "binance-usdm",
                        &mut raw.venues.binance_usdm,
                        defaults.binance_usdm,
                    ),
                    (
                        "bybit-spot",
                        &mut raw.venues.bybit_spot,
                        defaults.bybit_spot,
                    ),
                    (
                        "bybit-linear",
                        &mut raw.venues.bybit_linear,
                        defaults.bybit_linear,
                    ),
                ] {
                    if let Some(value) = venues.remove(name) {
                        *slot =
                            section(value, &format!("venues.{name}"), problems).unwrap_or(default);
                    }
                }
                for name in venues.keys() {
                    problems.push(Problem::new(
                        format!("venues.{name}"),
                        "unknown venue: expected binance-spot, binance-usdm, bybit-spot or bybit-linear".into(),
                    ));
                }
            }
            _ => problems.push(Problem::new("venues".into(), "must be a table".into())),
        }
    }
    if let Some(value) = take("symbols") {
        match value {
            Value::Table(symbols) => {
                raw.symbols.clear();
                for (name, value) in symbols {
                    if let Some(symbol) = section(value, &format!("symbols.{name}"), problems) {
                        raw.symbols.insert(name, symbol);
                    }
                }
            }
            _ => problems.push(Problem::new("symbols".into(), "must be a table".into())),
        }
    }
    for key in tree.keys() {
        problems.push(Problem::new(
            key.clone(),
            "unknown key: expected one of log, api, storage, retention, supervision, profile, connection, aggregator, recording, persistence, shutdown, runtime, backfill, venues, symbols, alerts".into(),
        ));
    }
    raw
}

/// Deserializes one section, recording its unknown keys and its first type error.
fn section<T: DeserializeOwned>(
    value: Value,
    prefix: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result = {
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(value, &mut track);
        let outcome = serde_ignored::deserialize(tracked, |path| unknown.push(path.to_string()));
        outcome.map_err(|err| (track.path().to_string(), err))
    };
    for path in unknown {
        problems.push(Problem::new(
            format!("{prefix}.{path}"),
            "unknown key".into(),
        ));
    }
    match result {
        Ok(section) => Some(section),
        Err((path, err)) => {
            let at = if path == "." || path.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{path}")
            };
            // The deserializer appends its own location lines; the path above says it better.
            let message = err.to_string();
            let message = message.lines().next().unwrap_or_default().trim().to_owned();
            problems.push(Problem::new(at, message));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_connection_strings() {
        let cases = [
            (
                "mongodb://wadm:s3cret@mongo:27017/wadm?authSource=admin",
                "mongodb://wadm:****@mongo:27017/wadm?authSource=admin",
            ),
            (
                "mongodb+srv://u:p%40ss@cluster.example.net",
                "mongodb+srv://u:****@cluster.example.net",
            ),
            (
                "mongodb://a:b@h1:1,h2:2/db",
                "mongodb://a:****@h1:1,h2:2/db",
            ),
            ("mongodb://localhost:27017", "mongodb://localhost:27017"),
            ("mongodb://user@host/db", "mongodb://user:****@host/db"),
            ("", ""),
            ("not a uri with a secret", "****"),
        ];
        for (uri, expected) in cases {
            assert_eq!(redact_uri(uri), expected, "{uri}");
        }
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret} {secret:?}"), "**** Secret(****)");
    }
}
