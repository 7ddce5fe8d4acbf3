//! From [`RawConfig`] to [`Config`]: every value parsed and checked, every problem
//! reported with its path, all at once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;
use wadm_actors::aggregator::order_flow::{
    AbsorptionParams, ImbalanceParams, LargeTradeParams, SessionAnchor,
};
use wadm_actors::aggregator::{AggregatorSettings, ProfileParams};
use wadm_actors::api::{ApiSettings, RateLimit};
use wadm_actors::connection::{Stream, StreamClass};
use wadm_actors::model::{DecimalError, Price, Qty, Ratio, Symbol, Venue};
use wadm_actors::persistence::PersistenceSettings;
use wadm_actors::recorder::RecorderSettings;
use wadm_supervision::{RestartParams, RestartPolicy};

use super::raw::{RawConfig, RawVenue};
use super::{
    AggregatorConfig, ApiConfig, Config, ConnectionConfig, LogConfig, LogFormat, PersistenceConfig,
    Problem, ProfileConfig, RetentionConfig, RuntimeConfig, Secret, StorageConfig, StoreStart,
    SymbolConfig, VenueConfig,
};

/// The shortest retention of 1-minute bars: the 24 h window and the hour of late trades the
/// aggregators keep.
const MIN_BARS_1M_RETENTION: Duration = Duration::from_secs(25 * 3_600);

/// Collects problems while reading values; each reader returns a fallback on error so
/// validation goes on.
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems
            .push(Problem::new(path.into(), message.into()));
    }

    fn percent(&mut self, path: &str, value: u32) -> u32 {
        if (1..=100).contains(&value) {
            value
        } else {
            self.problem(path, format!("must be between 1 and 100, got {value}"));
            value.clamp(1, 100)
        }
    }

    fn duration(&mut self, path: &str, text: &str) -> Duration {
        match humantime::parse_duration(text.trim()) {
            Ok(duration) if !duration.is_zero() => duration,
            Ok(_) => {
                self.problem(path, "must be longer than zero");
                Duration::from_secs(1)
            }
            Err(err) => {
                self.problem(
                    path,
                    format!("{text:?} is not a duration such as \"2s\" or \"5m\" ({err})"),
                );
                Duration::from_secs(1)
            }
        }
    }

    fn positive_decimal(&mut self, path: &str, text: &str) -> Option<Price> {
        match Price::parse_non_negative(text.trim()) {
            Ok(value) if value.is_positive() => Some(value),
            Ok(_) => {
                self.problem(path, "must be greater than zero");
                None
            }
            Err(err) => {
                self.problem(
                    path,
                    format!("{text:?} is not a plain decimal such as \"0.01\" ({err})"),
                );
                None
            }
        }
    }

    /// Reads a non-negative decimal of another fixed-point type (a ratio or a quantity).
    fn decimal<T: std::str::FromStr<Err = DecimalError> + Copy + Default + PartialOrd>(
        &mut self,
        path: &str,
        text: &str,
    ) -> Option<T> {
        match text.trim().parse::<T>() {
            Ok(value) if value >= T::default() => Some(value),
            Ok(_) => {
                self.problem(path, "must not be negative");
                None
            }
            Err(err) => {
                self.problem(
                    path,
                    format!("{text:?} is not a plain decimal such as \"0.7\" ({err})"),
                );
                None
            }
        }
    }

    fn symbol(&mut self, path: &str, text: &str) -> Option<Symbol> {
        Symbol::new(text.trim())
            .map_err(|err| self.problem(path, format!("{text:?} is not a symbol ({err})")))
            .ok()
    }

    fn url(&mut self, path: &str, text: &str, schemes: &[&str]) -> Option<Url> {
        match Url::parse(text.trim()) {
            Ok(url) if schemes.contains(&url.scheme()) && url.host().is_some() => Some(url),
            Ok(url) => {
                self.problem(
                    path,
                    format!(
                        "{text:?} must be a {} URL with a host, not {}",
                        schemes.join(" or "),
                        url.scheme()
                    ),
                );
                None
            }
            Err(err) => {
                self.problem(path, format!("{text:?} is not a URL ({err})"));
                None
            }
        }
    }
}

/// Validates a raw configuration.
pub fn validate(raw: &RawConfig) -> Result<Config, Vec<Problem>> {
    let mut check = Checker {
        problems: Vec::new(),
    };
    let c = &mut check;
    // Each section, in the order problems are reported.
    let log = log(c, raw);
    let bind = api_bind(c, raw);
    let api = api(c, raw, bind);
    let storage = storage(c, raw);
    let store_start = store_start(c, raw);
    let retention = retention(c, raw);
    let supervision = supervision(c, raw);
    let profile = profile(c, raw);
    let connection = connection(c, raw);
    let aggregator = aggregator(c, raw, profile.params);
    let recording = recording(c, raw);
    let persistence = persistence(c, raw);
    let shutdown_timeout = shutdown_timeout(c, raw, &persistence);
    let runtime = runtime(c, raw);
    let venues = venues(c, raw);
    let symbols = symbols(c, raw, &venues);
    let backfill = backfill(c, raw);
    let pairs: Vec<(wadm_actors::model::Venue, Symbol)> = venues
        .iter()
        .filter(|v| v.enabled)
        .flat_map(|v| v.symbols.iter().map(move |s| (v.venue, *s)))
        .collect();
    let alerts = match wadm_actors::alerts::config::validate(&raw.alerts, &pairs) {
        Ok(alerts) => alerts,
        Err(problems) => {
            for problem in problems {
                c.problem(problem.path, problem.message);
            }
            wadm_actors::alerts::AlertSettings::default()
        }
    };
    let config = Config {
        log,
        api,
        storage,
        retention,
        supervision,
        profile,
        connection,
        aggregator,
        recording,
        persistence,
        store_start,
        shutdown_timeout,
        runtime,
        backfill,
        venues,
        symbols,
        alerts,
    };
    if check.problems.is_empty() {
        Ok(config)
    } else {
        Err(check.problems)
    }
}

fn log(check: &mut Checker, raw: &RawConfig) -> LogConfig {
    let format = match raw.log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            check.problem(
                "log.format",
                format!("{other:?} is not one of \"text\", \"json\""),
            );
            LogFormat::Text
        }
    };
    if let Err(err) = tracing_subscriber::EnvFilter::try_new(&raw.log.level) {
        check.problem(
            "log.level",
            format!(
                "{:?} is not a tracing filter such as \"info\" or \"wadm=debug,info\" ({err})",
                raw.log.level
            ),
        );
    }
    LogConfig {
        filter: raw.log.level.clone(),
        format,
    }
}

fn api_bind(check: &mut Checker, raw: &RawConfig) -> SocketAddr {
    raw.api
        .bind
        .trim()
        .parse::<SocketAddr>()
        .unwrap_or_else(|err| {
            check.problem(
                "api.bind",
                format!(
                    "{:?} is not a socket address such as \"127.0.0.1:8920\" ({err})",
                    raw.api.bind
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 8920))
        })
}

fn store_start(check: &mut Checker, raw: &RawConfig) -> StoreStart {
    StoreStart {
        fail: match raw.storage.on_unavailable_at_start.as_str() {
            "degraded" => false,
            "fail" => true,
            other => {
                check.problem(
                    "storage.on_unavailable_at_start",
                    format!("{other:?} is not one of \"degraded\", \"fail\""),
                );
                false
            }
        },
        timeout: check.duration("storage.start_timeout", &raw.storage.start_timeout),
    }
}

fn retention(check: &mut Checker, raw: &RawConfig) -> RetentionConfig {
    let retention = RetentionConfig {
        raw_trades: check.duration("retention.raw_trades", &raw.retention.raw_trades),
        bars_1m: check.duration("retention.bars_1m", &raw.retention.bars_1m),
        bars_1h: check.duration("retention.bars_1h", &raw.retention.bars_1h),
        bars_1d: check.duration("retention.bars_1d", &raw.retention.bars_1d),
        book_snapshots: check.duration("retention.book_snapshots", &raw.retention.book_snapshots),
        klines: check.duration("retention.klines", &raw.retention.klines),
        data_quality: check.duration("retention.data_quality", &raw.retention.data_quality),
        liquidations: check.duration("retention.liquidations", &raw.retention.liquidations),
        alerts: check.duration("retention.alerts", &raw.retention.alerts),
    };
    // A restart rebuilds the rolling 24 h window (and its hour of late trades) from the
    // stored 1-minute bars: they must outlive it.
    if retention.bars_1m < MIN_BARS_1M_RETENTION && retention.bars_1m > Duration::ZERO {
        check.problem(
            "retention.bars_1m",
            format!(
                "must be at least 25h (is {}): a restart rebuilds the rolling 24 h window from the stored 1-minute bars",
                humantime::format_duration(retention.bars_1m)
            ),
        );
    }
    // A range older than the finer bars is read from the coarser ones, so each coarser
    // kind must be kept at least as long as the finer one.
    for (coarse, coarse_value, fine, fine_value) in [
        ("bars_1h", retention.bars_1h, "bars_1m", retention.bars_1m),
        ("bars_1d", retention.bars_1d, "bars_1h", retention.bars_1h),
    ] {
        if coarse_value < fine_value {
            check.problem(
                format!("retention.{coarse}"),
                format!(
                    "must be at least retention.{fine} ({}), is {}: ranges older than the {fine} are read from the {coarse}",
                    humantime::format_duration(fine_value),
                    humantime::format_duration(coarse_value)
                ),
            );
        }
    }
    retention
}

fn supervision(check: &mut Checker, raw: &RawConfig) -> RestartPolicy {
    let s = &raw.supervision;
    let params = RestartParams {
        initial_backoff: check.duration("supervision.initial_backoff", &s.initial_backoff),
        max_backoff: check.duration("supervision.max_backoff", &s.max_backoff),
        multiplier: s.multiplier,
        jitter: s.jitter,
        reset_after: check.duration("supervision.reset_after", &s.reset_after),
        max_restarts: s.max_restarts,
        window: check.duration("supervision.window", &s.window),
    };
    RestartPolicy::try_new(params).unwrap_or_else(|invalid| {
        for problem in invalid.problems {
            check.problem(format!("supervision.{}", problem.field), problem.message);
        }
        RestartPolicy::default()
    })
}

fn runtime(check: &mut Checker, raw: &RawConfig) -> RuntimeConfig {
    let r = &raw.runtime;
    for (key, value) in [
        ("worker_threads", r.worker_threads),
        ("api_threads", r.api_threads),
    ] {
        if !(1..=MAX_RUNTIME_THREADS).contains(&value) {
            check.problem(
                format!("runtime.{key}"),
                format!("must be between 1 and {MAX_RUNTIME_THREADS}, got {value}"),
            );
        }
    }
    RuntimeConfig {
        worker_threads: r.worker_threads.clamp(1, MAX_RUNTIME_THREADS),
        api_threads: r.api_threads.clamp(1, MAX_RUNTIME_THREADS),
    }
}

/// The most threads either runtime may have.
const MAX_RUNTIME_THREADS: usize = 64;

fn shutdown_timeout(
    check: &mut Checker,
    raw: &RawConfig,
    persistence: &PersistenceConfig,
) -> Duration {
    let shutdown_timeout = check.duration("shutdown.timeout", &raw.shutdown.timeout);
    if shutdown_timeout <= persistence.settings.shutdown_timeout {
        check.problem(
            "shutdown.timeout",
            format!(
                "must be longer than persistence.shutdown_timeout ({}), which is part of it",
                humantime::format_duration(persistence.settings.shutdown_timeout)
            ),
        );
    }
    shutdown_timeout
}

fn venues(check: &mut Checker, raw: &RawConfig) -> Vec<VenueConfig> {
    raw.venues
        .iter()
        .into_iter()
        .zip(Venue::ALL)
        .filter_map(|((name, table), venue)| self::venue(check, venue, name, table))
        .collect()
}

fn backfill(check: &mut Checker, raw: &RawConfig) -> wadm_actors::backfill::BackfillSettings {
    let b = &raw.backfill;
    let on_start = match b.on_start.trim() {
        "0" | "off" => Duration::ZERO,
        text => check.duration("backfill.on_start", text),
    };
    let horizon = Duration::from_secs(25 * 3_600);
    if on_start > horizon {
        check.problem(
            "backfill.on_start",
            "must be at most 25h: the aggregators keep 25 h of minutes",
        );
    }
    wadm_actors::backfill::BackfillSettings {
        on_start,
        repair: b.repair,
        scan_interval: check.duration("backfill.scan_interval", &b.scan_interval),
        horizon,
        ..wadm_actors::backfill::BackfillSettings::default()
    }
}

fn connection(check: &mut Checker, raw: &RawConfig) -> ConnectionConfig {
    let c = &raw.connection;
    let b = &c.backoff;
    let initial = check.duration("connection.backoff.initial_backoff", &b.initial_backoff);
    let max = check.duration("connection.backoff.max_backoff", &b.max_backoff);
    let backoff = wadm_supervision::Backoff::try_new(initial, max, b.multiplier, b.jitter)
        .unwrap_or_else(|invalid| {
            for problem in invalid.0 {
                check.problem(
                    format!("connection.backoff.{}", problem.field),
                    problem.message,
                );
            }
            wadm_supervision::Backoff::default()
        });
    if !(1..=5000).contains(&c.snapshot_depth) {
        check.problem(
            "connection.snapshot_depth",
            format!("must be between 1 and 5000, got {}", c.snapshot_depth),
        );
    }
    if c.book_buffer_limit == 0 {
        check.problem("connection.book_buffer_limit", "must be at least 1");
    }
    if !(1..=100).contains(&c.snapshot_attempts) {
        check.problem(
            "connection.snapshot_attempts",
            format!("must be between 1 and 100, got {}", c.snapshot_attempts),
        );
    }
    if !(1..=1000).contains(&c.book_view_depth) {
        check.problem(
            "connection.book_view_depth",
            format!("must be between 1 and 1000, got {}", c.book_view_depth),
        );
    }
    if !(64 * 1024..=64 * 1024 * 1024).contains(&c.max_frame_bytes) {
        check.problem(
            "connection.max_frame_bytes",
            format!(
                "must be between 65536 and 67108864, got {}",
                c.max_frame_bytes
            ),
        );
    }
    for (key, attempts) in [
        ("binance_spot", c.budget.binance_spot),
        ("binance_usdm", c.budget.binance_usdm),
        ("bybit", c.budget.bybit),
    ] {
        if attempts == 0 {
            check.problem(format!("connection.budget.{key}"), "must be at least 1");
        }
    }
    let settings = wadm_actors::connection::ConnectionSettings {
        connect_timeout: check.duration("connection.connect_timeout", &c.connect_timeout),
        transport_timeout: check.duration("connection.transport_timeout", &c.transport_timeout),
        book_timeout: check.duration("connection.book_timeout", &c.book_timeout),
        trade_timeout: check.duration("connection.trade_timeout", &c.trade_timeout),
        derivatives_timeout: check
            .duration("connection.derivatives_timeout", &c.derivatives_timeout),
        rotate_after: check.duration("connection.rotate_after", &c.rotate_after),
        ping_interval: check.duration("connection.ping_interval", &c.ping_interval),
        ack_timeout: check.duration("connection.ack_timeout", &c.ack_timeout),
        backoff,
        snapshot_depth: c.snapshot_depth,
        snapshot_attempts: c.snapshot_attempts.clamp(1, 100),
        snapshot_ahead_tolerance: check.duration(
            "connection.snapshot_ahead_tolerance",
            &c.snapshot_ahead_tolerance,
        ),
        snapshot_concurrency: 2,
        book_buffer_limit: c.book_buffer_limit.max(1),
        book_view_depth: c.book_view_depth,
        book_publish_interval: check
            .duration("connection.book_publish_interval", &c.book_publish_interval),
        max_frame_bytes: c.max_frame_bytes,
        rest_timeout: check.duration("connection.rest_timeout", &c.rest_timeout),
        instrument_refresh: check.duration("connection.instrument_refresh", &c.instrument_refresh),
        open_interest_interval: match c.open_interest_interval.trim() {
            "0" | "0s" => Duration::ZERO,
            text => check.duration("connection.open_interest_interval", text),
        },
    };
    ConnectionConfig {
        settings,
        budget_attempts: wadm_actors::connection::budget::BudgetAttempts {
            binance_spot: c.budget.binance_spot.max(1),
            binance_usdm: c.budget.binance_usdm.max(1),
            bybit: c.budget.bybit.max(1),
        },
        budget_window: check.duration("connection.budget.window", &c.budget.window),
        rest_safety_percent: check.percent("connection.rest_safety_percent", c.rest_safety_percent),
        rest_backfill_percent: check
            .percent("connection.rest_backfill_percent", c.rest_backfill_percent),
    }
}

fn storage(check: &mut Checker, raw: &RawConfig) -> StorageConfig {
    let uri = raw.storage.mongodb.uri.trim();
    let kind = match raw.storage.kind.as_str() {
        "auto" if uri.is_empty() => "embedded",
        "auto" => "mongodb",
        kind @ ("embedded" | "mongodb") => kind,
        other => {
            check.problem(
                "storage.type",
                format!("{other:?} is not one of \"auto\", \"embedded\", \"mongodb\""),
            );
            "embedded"
        }
    };
    if kind == "embedded" {
        if raw.storage.embedded.path.trim().is_empty() {
            check.problem("storage.embedded.path", "must name a directory");
        }
        return StorageConfig::Embedded {
            path: PathBuf::from(raw.storage.embedded.path.trim()),
        };
    }
    if uri.is_empty() {
        check.problem(
            "storage.mongodb.uri",
            "must be set when storage.type is \"mongodb\" (or set MONGODB_URI)",
        );
    } else if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
        // The URI may hold a password: never echo it.
        check.problem(
            "storage.mongodb.uri",
            "must start with mongodb:// or mongodb+srv://",
        );
    }
    let database = raw.storage.mongodb.database.trim();
    if database.is_empty()
        || database.len() > 63
        || database.contains(['/', '\\', '.', ' ', '"', '$'])
    {
        check.problem(
            "storage.mongodb.database",
            format!("{database:?} is not a MongoDB database name (1 to 63 characters, none of / \\ . space \" $)"),
        );
    }
    StorageConfig::MongoDb {
        uri: Secret::new(uri.to_owned()),
        database: database.to_owned(),
    }
}

fn venue(check: &mut Checker, venue: Venue, name: &str, raw: &RawVenue) -> Option<VenueConfig> {
    let path = |key: &str| format!("venues.{name}.{key}");
    let problems_before = check.problems.len();
    let mut symbols = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, text) in raw.symbols.iter().enumerate() {
        if let Some(symbol) = check.symbol(&format!("{}[{index}]", path("symbols")), text) {
            if seen.insert(symbol) {
                symbols.push(symbol);
            } else {
                check.problem(path("symbols"), format!("{symbol} is listed twice"));
            }
        }
    }
    let mut streams = Vec::new();
    let mut classes = BTreeMap::new();
    for (index, text) in raw.streams.iter().enumerate() {
        match Stream::parse(venue, text.trim()) {
            Ok(stream) => {
                let class = stream.class();
                if !matches!(class, StreamClass::Klines | StreamClass::Derivatives)
                    && let Some(previous) = classes.insert(class.as_str(), text.clone())
                {
                    check.problem(
                        path("streams"),
                        format!(
                            "{previous:?} and {text:?} both carry {}; choose one",
                            class.as_str()
                        ),
                    );
                }
                if streams.contains(&stream) {
                    check.problem(path("streams"), format!("{text:?} is listed twice"));
                } else {
                    streams.push(stream);
                }
            }
            Err(err) => check.problem(format!("{}[{index}]", path("streams")), err.to_string()),
        }
    }
    if raw.enabled && symbols.is_empty() && raw.symbols.is_empty() {
        check.problem(
            path("symbols"),
            "an enabled venue needs at least one symbol",
        );
    }
    if raw.enabled && streams.is_empty() && raw.streams.is_empty() {
        check.problem(
            path("streams"),
            "an enabled venue needs at least one stream",
        );
    }
    let ws_url = check.url(&path("ws_url"), &raw.ws_url, &["ws", "wss"]);
    let rest_url = check.url(&path("rest_url"), &raw.rest_url, &["http", "https"]);
    let archive_url = check.url(&path("archive_url"), &raw.archive_url, &["http", "https"]);
    let mut tick_sizes = BTreeMap::new();
    for (symbol, tick) in &raw.tick_sizes {
        let key = format!("{}.{symbol}", path("tick_sizes"));
        if let (Some(symbol), Some(tick)) = (
            check.symbol(&key, symbol),
            check.positive_decimal(&key, tick),
        ) {
            tick_sizes.insert(symbol, tick);
        }
    }
    if let Some(ws_url) = &ws_url {
        let limit = wadm_actors::connection::protocol::limits(venue).max_streams_per_connection;
        for endpoint in
            wadm_actors::connection::protocol::endpoints(venue, ws_url, &symbols, &streams)
        {
            if endpoint.topics.len() > limit {
                check.problem(
                    path("symbols"),
                    format!(
                        "{} streams on the {} socket; {venue} allows {limit} per connection",
                        endpoint.topics.len(),
                        endpoint.name
                    ),
                );
            }
        }
    }
    if check.problems.len() > problems_before {
        return None;
    }
    Some(VenueConfig {
        venue,
        enabled: raw.enabled,
        symbols,
        ws_url: ws_url?,
        rest_url: rest_url?,
        archive_url: archive_url?,
        streams,
        tick_sizes,
        rest_limit: match raw.rest_limit {
            Some(0) => {
                check.problem(path("rest_limit"), "must be at least 1");
                None
            }
            limit => limit,
        },
    })
}

fn profile(check: &mut Checker, raw: &RawConfig) -> ProfileConfig {
    let p = &raw.profile;
    let defaults = ProfileParams::default();
    if p.default_row_ticks == 0 {
        check.problem("profile.default_row_ticks", "must be at least 1");
    }
    let value_area = check
        .decimal::<Ratio>("profile.value_area", &p.value_area)
        .filter(|share| {
            let valid = share.is_positive() && *share <= Ratio::from_int(1);
            if !valid {
                check.problem("profile.value_area", "must be above 0 and at most 1");
            }
            valid
        })
        .unwrap_or(defaults.value_area);
    let session = SessionAnchor::parse(&p.session_anchor).unwrap_or_else(|| {
        check.problem(
            "profile.session_anchor",
            format!(
                "{:?} is not a UTC time of day such as \"00:00\" or \"13:30\"",
                p.session_anchor
            ),
        );
        SessionAnchor::default()
    });
    let ratio = check
        .decimal::<Ratio>("profile.imbalance_ratio", &p.imbalance_ratio)
        .filter(|ratio| {
            let valid = *ratio >= Ratio::from_int(1);
            if !valid {
                check.problem("profile.imbalance_ratio", "must be at least 1");
            }
            valid
        })
        .unwrap_or(defaults.imbalance.ratio);
    let min_volume = check
        .decimal::<Qty>("profile.imbalance_min_volume", &p.imbalance_min_volume)
        .unwrap_or(Qty::ZERO);
    if p.stacked_imbalance_rows < 2 {
        check.problem("profile.stacked_imbalance_rows", "must be at least 2");
    }
    let volume_multiple = check
        .decimal::<Ratio>(
            "profile.absorption_volume_multiple",
            &p.absorption_volume_multiple,
        )
        .filter(|multiple| {
            if !multiple.is_positive() {
                check.problem(
                    "profile.absorption_volume_multiple",
                    "must be greater than zero",
                );
            }
            multiple.is_positive()
        })
        .unwrap_or(defaults.absorption.volume_multiple);
    let median_multiple = check
        .decimal::<Ratio>(
            "profile.large_trade_median_multiple",
            &p.large_trade_median_multiple,
        )
        .unwrap_or(Ratio::ZERO);
    if median_multiple.is_positive() && p.large_trade_median_window == 0 {
        check.problem(
            "profile.large_trade_median_window",
            "must be at least 1 while large_trade_median_multiple is set",
        );
    }
    ProfileConfig {
        default_row_ticks: p.default_row_ticks.max(1),
        params: ProfileParams {
            value_area,
            imbalance: ImbalanceParams {
                ratio,
                min_volume,
                stack: p.stacked_imbalance_rows.max(2),
            },
            absorption: AbsorptionParams {
                volume_multiple,
                max_rows: i128::from(p.absorption_max_rows),
            },
            large_trades: LargeTradeParams {
                min_qty: None,
                median_multiple: median_multiple.is_positive().then_some(median_multiple),
                median_window: p.large_trade_median_window,
            },
            session,
        },
    }
}

fn aggregator(check: &mut Checker, raw: &RawConfig, profile: ProfileParams) -> AggregatorConfig {
    let a = &raw.aggregator;
    for (key, value) in [
        ("queue_capacity", a.queue_capacity),
        ("book_snapshot_depth", a.book_snapshot_depth),
        ("depth_imbalance_levels", a.depth_imbalance_levels),
        ("recent_trades", a.recent_trades),
    ] {
        if value == 0 {
            check.problem(format!("aggregator.{key}"), "must be at least 1");
        }
    }
    let ahead_tolerance = check.duration("aggregator.ahead_tolerance", &a.ahead_tolerance);
    let ahead_hold = check.duration("aggregator.ahead_hold", &a.ahead_hold);
    if ahead_tolerance > Duration::from_secs(60) {
        check.problem(
            "aggregator.ahead_tolerance",
            "must be at most 1m: a trade further ahead would open a future bar",
        );
    }
    if ahead_hold < ahead_tolerance || ahead_hold > Duration::from_secs(3_600) {
        check.problem(
            "aggregator.ahead_hold",
            "must be between aggregator.ahead_tolerance and 1h",
        );
    }
    AggregatorConfig {
        queue_capacity: a.queue_capacity.max(1),
        settings: AggregatorSettings {
            profile,
            publish_interval: check.duration("aggregator.publish_interval", &a.publish_interval),
            book_snapshot_interval: check.duration(
                "aggregator.book_snapshot_interval",
                &a.book_snapshot_interval,
            ),
            book_snapshot_depth: a.book_snapshot_depth.max(1),
            depth_imbalance_levels: a.depth_imbalance_levels.max(1),
            pending_trade_limit: a.pending_trade_limit,
            recent_trades: a.recent_trades.max(1),
            close_grace: check.duration("aggregator.close_grace", &a.close_grace),
            persist_trades: raw.persistence.raw_trades,
            gap_grace: check.duration("aggregator.gap_grace", &a.gap_grace),
            warm_start_budget: check.duration("aggregator.warm_start_budget", &a.warm_start_budget),
            warm_retry_interval: check
                .duration("aggregator.warm_retry_interval", &a.warm_retry_interval),
            ahead_tolerance,
            ahead_hold,
        },
    }
}

fn persistence(check: &mut Checker, raw: &RawConfig) -> PersistenceConfig {
    let p = &raw.persistence;
    let defaults = PersistenceSettings::default();
    for (key, value, max) in [
        ("batch_size", p.batch_size, 100_000),
        ("buffer_capacity", p.buffer_capacity, 100_000_000),
        ("queue_capacity", p.queue_capacity, 10_000_000),
    ] {
        if !(1..=max).contains(&value) {
            check.problem(
                format!("persistence.{key}"),
                format!("must be between 1 and {max}, got {value}"),
            );
        }
    }
    if p.buffer_capacity < p.batch_size {
        check.problem(
            "persistence.buffer_capacity",
            format!(
                "must hold at least one batch ({}), got {}",
                p.batch_size, p.buffer_capacity
            ),
        );
    }
    let initial = check.duration("persistence.retry_initial", &p.retry_initial);
    let max = check.duration("persistence.retry_max", &p.retry_max);
    let retry =
        wadm_supervision::Backoff::try_new(initial, max, 2.0, 0.2).unwrap_or_else(|invalid| {
            for problem in invalid.0 {
                let key = match problem.field {
                    "initial_backoff" => "retry_initial",
                    "max_backoff" => "retry_max",
                    other => other,
                };
                check.problem(format!("persistence.{key}"), problem.message);
            }
            defaults.retry
        });
    let mut positive = |key: &str, text: &str| {
        let value = check.duration(&format!("persistence.{key}"), text);
        if value.is_zero() {
            check.problem(format!("persistence.{key}"), "must be longer than zero");
        }
        value
    };
    let settings = PersistenceSettings {
        batch_size: p.batch_size,
        flush_interval: positive("flush_interval", &p.flush_interval),
        buffer_capacity: p.buffer_capacity,
        write_timeout: positive("write_timeout", &p.write_timeout),
        retry,
        sweep_interval: positive("sweep_interval", &p.sweep_interval),
        shutdown_timeout: positive("shutdown_timeout", &p.shutdown_timeout),
        poll_interval: defaults.poll_interval,
    };
    PersistenceConfig {
        raw_trades: p.raw_trades,
        queue_capacity: p.queue_capacity,
        settings,
    }
}

fn recording(check: &mut Checker, raw: &RawConfig) -> Option<RecorderSettings> {
    let r = &raw.recording;
    if r.max_file_bytes < 4_096 {
        check.problem("recording.max_file_bytes", "must be at least 4096");
    }
    for (key, value) in [
        ("max_files", r.max_files),
        ("queue_capacity", r.queue_capacity),
    ] {
        if value == 0 {
            check.problem(format!("recording.{key}"), "must be at least 1");
        }
    }
    if r.path.trim().is_empty() {
        check.problem("recording.path", "must name a directory");
    }
    r.enabled.then(|| RecorderSettings {
        directory: PathBuf::from(r.path.trim()),
        max_file_bytes: r.max_file_bytes,
        max_files: r.max_files.max(1),
        queue_capacity: r.queue_capacity.max(1),
    })
}

fn symbols(
    check: &mut Checker,
    raw: &RawConfig,
    venues: &[VenueConfig],
) -> BTreeMap<Symbol, SymbolConfig> {
    let mut symbols = BTreeMap::new();
    for (name, table) in &raw.symbols {
        let path = |key: &str| format!("symbols.{name}.{key}");
        let Some(symbol) = check.symbol(&format!("symbols.{name}"), name) else {
            continue;
        };
        let tick_size = table
            .tick_size
            .as_deref()
            .and_then(|text| check.positive_decimal(&path("tick_size"), text));
        let row_size = table
            .row_size
            .as_deref()
            .and_then(|text| check.positive_decimal(&path("row_size"), text));
        if let Some(row) = row_size {
            if let Some(tick) = tick_size
                && !row.is_multiple_of(tick)
            {
                check.problem(
                    path("row_size"),
                    format!("{row} is not a whole multiple of the tick size {tick}"),
                );
            }
            for venue in venues {
                if let Some(&tick) = venue.tick_sizes.get(&symbol)
                    && !row.is_multiple_of(tick)
                {
                    check.problem(
                        path("row_size"),
                        format!(
                            "{row} is not a whole multiple of {symbol}'s tick size {tick} on {}",
                            venue.venue
                        ),
                    );
                }
            }
        }
        let large_trade_qty = table.large_trade_qty.as_deref().and_then(|text| {
            check
                .decimal::<Qty>(&path("large_trade_qty"), text)
                .filter(|qty| {
                    if !qty.is_positive() {
                        check.problem(path("large_trade_qty"), "must be greater than zero");
                    }
                    qty.is_positive()
                })
        });
        let imbalance_min_volume = table
            .imbalance_min_volume
            .as_deref()
            .and_then(|text| check.decimal::<Qty>(&path("imbalance_min_volume"), text));
        if symbols
            .insert(
                symbol,
                SymbolConfig {
                    tick_size,
                    row_size,
                    large_trade_qty,
                    imbalance_min_volume,
                },
            )
            .is_some()
        {
            check.problem(
                format!("symbols.{name}"),
                format!("{symbol} is configured twice (symbol names ignore case)"),
            );
        }
    }
    symbols
}

fn api(check: &mut Checker, raw: &RawConfig, bind: SocketAddr) -> ApiConfig {
    let a = &raw.api;
    let defaults = ApiSettings::default();
    for (index, key) in a.keys.iter().enumerate() {
        let path = format!("api.keys[{index}]");
        if key.name.trim().is_empty() || key.name.len() > 64 {
            check.problem(
                format!("{path}.name"),
                "must be 1 to 64 characters naming the key's holder",
            );
        }
        if a.keys[..index].iter().any(|k| k.name == key.name) {
            check.problem(
                format!("{path}.name"),
                format!("{:?} is used twice", key.name),
            );
        }
        if let Err(problem) = wadm_actors::api::check_hash(&key.hash) {
            check.problem(
                format!("{path}.hash"),
                format!("{problem}; generate one with `wadm hash-key`"),
            );
        }
    }
    let published_host =
        (!a.published_host.trim().is_empty()).then(|| a.published_host.trim().to_owned());
    let exposure = ApiSettings {
        keys: a.keys.clone(),
        allow_unauthenticated: a.allow_unauthenticated,
        published_host: published_host.clone(),
        ..ApiSettings::default()
    };
    if let Err(problem) = wadm_actors::api::check_exposure(&exposure, bind) {
        let key = if published_host.is_some() {
            "api.published_host"
        } else {
            "api.bind"
        };
        check.problem(key, problem);
    }
    let mut rate = |key: &str, value: u32, max: u32| match NonZeroU32::new(value) {
        Some(n) if value <= max => n,
        _ => {
            check.problem(
                format!("api.{key}"),
                format!("must be between 1 and {max}, got {value}"),
            );
            NonZeroU32::MIN
        }
    };
    let rate_limit = RateLimit {
        per_minute: rate("requests_per_minute", a.requests_per_minute, 60_000_000),
        burst: rate("burst", a.burst, 1_000_000),
    };
    let mut origins = Vec::new();
    for (index, origin) in a.cors_origins.iter().enumerate() {
        match wadm_actors::api::parse_origin(origin) {
            Ok(origin) => origins.push(origin),
            Err(problem) => check.problem(format!("api.cors_origins[{index}]"), problem),
        }
    }
    let timeout = check.duration("api.request_timeout", &a.request_timeout);
    if timeout.is_zero() || timeout > Duration::from_secs(300) {
        check.problem(
            "api.request_timeout",
            "must be longer than zero and at most 5m",
        );
    }
    let mut bounded = |key: &str, value: u32, max: u32| {
        if value == 0 || value > max {
            check.problem(
                format!("api.{key}"),
                format!("must be between 1 and {max}, got {value}"),
            );
        }
        usize::try_from(value.clamp(1, max)).unwrap_or(1)
    };
    let max_connections = bounded("max_connections", a.max_connections, 100_000);
    let max_concurrent_requests =
        bounded("max_concurrent_requests", a.max_concurrent_requests, 10_000);
    let mut seconds_between = |key: &str, text: &str, low: Duration, high: Duration| {
        let value = check.duration(&format!("api.{key}"), text);
        if value < low || value > high {
            check.problem(
                format!("api.{key}"),
                format!(
                    "must be between {} and {}",
                    humantime::format_duration(low),
                    humantime::format_duration(high)
                ),
            );
        }
        value.clamp(low, high)
    };
    let header_timeout = seconds_between(
        "header_timeout",
        &a.header_timeout,
        Duration::from_secs(1),
        Duration::from_secs(120),
    );
    let idle_timeout = seconds_between(
        "idle_timeout",
        &a.idle_timeout,
        Duration::from_secs(1),
        Duration::from_secs(3_600),
    );
    let mut sessions = Vec::new();
    for (name, hours) in &raw.profile.sessions {
        match wadm_actors::api::calendar::SessionSpec::parse(name, hours) {
            Ok(session) if name == "daily" => check.problem(
                format!("profile.sessions.{}", session.name),
                "\"daily\" is the session from profile.session_anchor; name this one otherwise",
            ),
            Ok(session) => sessions.push(session),
            Err(problem) => check.problem(format!("profile.sessions.{name}"), problem),
        }
    }
    let naked_poc_days = raw.profile.naked_poc_lookback_days;
    if naked_poc_days == 0 || naked_poc_days > 400 {
        check.problem(
            "profile.naked_poc_lookback_days",
            format!("must be between 1 and 400, got {naked_poc_days}"),
        );
    }
    ApiConfig {
        bind,
        settings: ApiSettings {
            sessions,
            naked_poc_days: naked_poc_days.clamp(1, 400),
            keys: a.keys.clone(),
            allow_unauthenticated: a.allow_unauthenticated,
            published_host,
            rate_limit,
            cors_origins: origins,
            request_timeout: if timeout.is_zero() {
                defaults.request_timeout
            } else {
                timeout
            },
            server: wadm_actors::api::server::ServerLimits {
                max_connections,
                header_timeout,
                idle_timeout,
                max_concurrent_requests,
            },
        },
    }
}
