//! Configuration loading: layers, environment names, validation of every value, and all
//! problems reported at once. The environment is always a map: the process environment is
//! never touched.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use wadm::config::{self, ConfigError, LoadOptions, Loaded, RawConfig, StorageConfig};
use wadm_actors::aggregator::RowSpec;
use wadm_actors::connection::Stream;
use wadm_actors::model::{KlineInterval, Price, Symbol, Venue};

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Loads `config/default.toml` plus `text` (if any) plus `vars`.
fn load(text: Option<&str>, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let config_file = text.map(|text| {
        let path = dir.path().join("wadm.toml");
        std::fs::write(&path, text).unwrap();
        path
    });
    config::load(&LoadOptions {
        defaults_file: Some(repo_file("config/default.toml")),
        config_file,
        env: env(vars),
    })
}

fn problems(text: Option<&str>, vars: &[(&str, &str)]) -> Vec<String> {
    load(text, vars)
        .map(|_| panic!("expected problems"))
        .unwrap_err()
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

#[test]
fn default_toml_is_exactly_the_built_in_defaults() {
    let text = std::fs::read_to_string(repo_file("config/default.toml")).unwrap();
    let from_file: RawConfig = toml::from_str(&text).unwrap();
    assert_eq!(from_file, RawConfig::default());
}

#[test]
fn every_key_of_default_toml_is_commented() {
    // Each key line is preceded (within its block) by a comment, or belongs to a table
    // whose keys are documented in the comment block above the table header.
    let text = std::fs::read_to_string(repo_file("config/default.toml")).unwrap();
    let mut documented_block = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            documented_block = true;
        } else if line.is_empty() {
            continue;
        } else if line.starts_with('[') {
            if !documented_block && !line.starts_with("[venues.") && !line.starts_with("[symbols.")
            {
                panic!("table {line} has no comment above it");
            }
        } else {
            assert!(documented_block, "key line {line:?} has no comment");
        }
    }
}

#[test]
fn the_defaults_collect_the_deployed_symbol_lists() {
    let config = load(None, &[]).unwrap().config;
    let enabled: Vec<(Venue, Vec<&str>)> = config
        .enabled_venues()
        .map(|v| (v.venue, v.symbols.iter().map(Symbol::as_str).collect()))
        .collect();
    assert_eq!(
        enabled,
        [
            (Venue::BinanceSpot, vec!["BTCUSDT", "ETHUSDT", "XRPUSDT"]),
            (Venue::BybitSpot, vec!["BTCUSDT", "ETHUSDT", "SOLUSDT"]),
        ]
    );
    let usdm = &config.venues[1];
    assert_eq!(usdm.venue, Venue::BinanceUsdm);
    assert!(!usdm.enabled);
    assert_eq!(usdm.ws_url.as_str(), "wss://fstream.binance.com/");
    assert_eq!(
        usdm.streams,
        [
            Stream::AggTrades,
            Stream::DiffDepth {
                speed_ms: Some(100)
            },
            Stream::Klines(KlineInterval::Minute1),
            Stream::Liquidations,
            Stream::MarkPrice,
        ]
    );
    assert_eq!(config.api.bind.to_string(), "127.0.0.1:8920");
    assert_eq!(
        config.storage,
        StorageConfig::Embedded {
            path: PathBuf::from("./data")
        }
    );
    assert_eq!(config.retention.raw_trades, Duration::from_secs(3600));
    assert_eq!(
        config.retention.data_quality,
        Duration::from_secs(30 * 86400)
    );
    assert_eq!(
        config.symbols[&sym("BTCUSDT")].row_size,
        Some("10".parse::<Price>().unwrap())
    );
    assert_eq!(config.supervision.max_restarts(), 10);
}

#[test]
fn example_toml_is_valid() {
    let text = std::fs::read_to_string(repo_file("config/example.toml")).unwrap();
    let config = load(Some(&text), &[]).unwrap().config;
    assert!(matches!(config.storage, StorageConfig::MongoDb { .. }));
    assert_eq!(config.enabled_venues().count(), 4);
    assert_eq!(
        config.venues[1].tick_sizes[&sym("BTCUSDT")],
        "0.1".parse::<Price>().unwrap()
    );
}

#[test]
fn later_layers_win_file_then_legacy_env_then_namespaced_env() {
    let file = r#"
[api]
bind = "127.0.0.1:1111"
[retention]
raw_trades = "2h"
bars_1m = "30h"
[venues.binance-spot]
symbols = ["ADAUSDT"]
"#;
    let loaded = load(
        Some(file),
        &[
            ("RETENTION_RAW_TRADES", "600"),
            ("WADM__API__BIND", "127.0.0.1:2222"),
            ("BYBIT_SYMBOLS", "SOLUSDT"),
            ("WADM__VENUES__BYBIT_SPOT__SYMBOLS", "ETHUSDT,BTCUSDT"),
        ],
    )
    .unwrap();
    let config = loaded.config;
    assert_eq!(loaded.files.len(), 2);
    assert_eq!(config.api.bind.port(), 2222);
    assert_eq!(config.retention.raw_trades, Duration::from_secs(600));
    assert_eq!(config.retention.bars_1m, Duration::from_secs(30 * 3600));
    assert_eq!(config.venues[0].symbols, [sym("ADAUSDT")]);
    assert_eq!(config.venues[2].symbols, [sym("ETHUSDT"), sym("BTCUSDT")]);
    assert_eq!(config.venues[3].symbols, [sym("SOLUSDT")]);
}

#[test]
fn collectors_enabled_selects_venues() {
    let config = load(None, &[("COLLECTORS_ENABLED", "binance-usdm,bybit")])
        .unwrap()
        .config;
    let enabled: Vec<Venue> = config.enabled_venues().map(|v| v.venue).collect();
    assert_eq!(enabled, [Venue::BinanceUsdm, Venue::BybitSpot]);
    let none = load(None, &[("COLLECTORS_ENABLED", "false")])
        .unwrap()
        .config;
    assert_eq!(none.enabled_venues().count(), 0);
}

#[test]
fn storage_auto_becomes_mongodb_when_a_uri_is_given() {
    let config = load(None, &[("MONGODB_URI", "mongodb://u:p@127.0.0.1:27017")])
        .unwrap()
        .config;
    match config.storage {
        StorageConfig::MongoDb { uri, database } => {
            assert_eq!(uri.expose(), "mongodb://u:p@127.0.0.1:27017");
            assert_eq!(database, "wadm");
            assert_eq!(format!("{uri:?}"), "Secret(****)");
        }
        other => panic!("{other:?}"),
    }
    let forced = load(
        Some("[storage]\ntype = \"embedded\"\n"),
        &[("MONGODB_URI", "mongodb://h")],
    )
    .unwrap()
    .config;
    assert!(matches!(forced.storage, StorageConfig::Embedded { .. }));
}

#[test]
fn every_problem_is_reported_at_once() {
    let file = r#"
unknown_section = 1

[api]
bind = "localhost"
colour = "blue"

[log]
format = "xml"

[supervision]
initial_backoff = "10s"
max_backoff = "1s"
jitter = 1.5

[venues.binance-spot]
enabled = "yes"

[venues.bybit-spot]
symbols = ["BTCUSDT", "btc/usdt", "BTCUSDT"]
streams = ["publicTrade", "orderbook.50", "orderbook.200", "tickers"]
ws_url = "https://stream.bybit.com"

[venues.kraken]
enabled = true

[symbols.ETHUSDT]
row_size = "0.5"
tick_size = "0.2"

[symbols.SOLUSDT]
row_size = "-1"
"#;
    let found = problems(Some(file), &[("WADM__SUPERVISION__MAX_RESTARTS", "many")]);
    let expected = [
        "env WADM__SUPERVISION__MAX_RESTARTS: expected a whole number",
        "api.colour: unknown key",
        "venues.binance-spot.enabled: invalid type: string \"yes\", expected a boolean",
        "venues.kraken: unknown venue",
        "unknown_section: unknown key",
        "log.format: \"xml\" is not one of",
        "api.bind: \"localhost\" is not a socket address",
        "supervision.max_backoff: must be at least initial_backoff",
        "supervision.jitter: must be between 0 and 1",
        "venues.bybit-spot.symbols[1]: \"btc/usdt\" is not a symbol",
        "venues.bybit-spot.symbols: BTCUSDT is listed twice",
        "venues.bybit-spot.streams: \"orderbook.50\" and \"orderbook.200\" both carry book",
        "venues.bybit-spot.streams[3]: bybit-spot has no stream \"tickers\"",
        "venues.bybit-spot.ws_url: \"https://stream.bybit.com\" must be a ws or wss URL",
        "symbols.ETHUSDT.row_size: 0.5 is not a whole multiple of the tick size 0.2",
        "symbols.SOLUSDT.row_size: \"-1\" is not a plain decimal",
    ];
    for needle in expected {
        assert!(
            found.iter().any(|p| p.starts_with(needle)),
            "missing {needle:?} in:\n{}",
            found.join("\n")
        );
    }
    // A derivatives stream on a spot venue names the venue that has it.
    assert!(
        found
            .iter()
            .any(|p| p.contains("\"tickers\"") && p.contains("are bybit-linear streams")),
        "{}",
        found.join("\n")
    );
    assert_eq!(
        found.len(),
        expected.len(),
        "unexpected extra problems:\n{}",
        found.join("\n")
    );
}

#[test]
fn row_sizes_are_checked_against_venue_tick_overrides() {
    let file = r#"
[venues.binance-usdm]
tick_sizes = { BTCUSDT = "0.3" }
"#;
    let found = problems(Some(file), &[]);
    assert_eq!(
        found,
        [
            "symbols.BTCUSDT.row_size: 10 is not a whole multiple of BTCUSDT's tick size 0.3 on binance-usdm"
        ]
    );
}

#[test]
fn enabled_venues_need_symbols_and_streams_and_durations_must_be_positive() {
    let file = r#"
[retention]
klines = "0s"
[venues.binance-usdm]
enabled = true
symbols = []
streams = []
"#;
    let found = problems(Some(file), &[]);
    assert_eq!(
        found,
        [
            "retention.klines: must be longer than zero",
            "venues.binance-usdm.symbols: an enabled venue needs at least one symbol",
            "venues.binance-usdm.streams: an enabled venue needs at least one stream",
        ]
    );
}

#[test]
fn a_bad_mongodb_uri_is_reported_without_echoing_it() {
    let found = problems(None, &[("MONGODB_URI", "postgres://user:topsecret@h/db")]);
    assert_eq!(
        found,
        ["storage.mongodb.uri: must start with mongodb:// or mongodb+srv://"]
    );
}

#[test]
fn toml_syntax_errors_name_the_file() {
    let found = problems(Some("[api\nbind = 1"), &[]);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].contains("wadm.toml: is not valid TOML"),
        "{found:?}"
    );
}

#[test]
fn indicator_parameters_are_validated_and_symbols_refine_them() {
    let file = r#"
[profile]
value_area = "1.2"
session_anchor = "24:00"
imbalance_ratio = "0.5"
imbalance_min_volume = "-1"
stacked_imbalance_rows = 1
absorption_volume_multiple = "0"
large_trade_median_window = 0
[aggregator]
publish_interval = "soon"
book_snapshot_depth = 0
[symbols.BTCUSDT]
large_trade_qty = "0"
imbalance_min_volume = "x"
"#;
    let found = problems(Some(file), &[]);
    assert_eq!(
        found,
        [
            "profile.value_area: must be above 0 and at most 1",
            "profile.session_anchor: \"24:00\" is not a UTC time of day such as \"00:00\" or \"13:30\"",
            "profile.imbalance_ratio: must be at least 1",
            "profile.imbalance_min_volume: must not be negative",
            "profile.stacked_imbalance_rows: must be at least 2",
            "profile.absorption_volume_multiple: must be greater than zero",
            "profile.large_trade_median_window: must be at least 1 while large_trade_median_multiple is set",
            "aggregator.book_snapshot_depth: must be at least 1",
            "aggregator.publish_interval: \"soon\" is not a duration such as \"2s\" or \"5m\" (expected number at 0)",
            "symbols.BTCUSDT.large_trade_qty: must be greater than zero",
            "symbols.BTCUSDT.imbalance_min_volume: \"x\" is not a plain decimal such as \"0.7\" (invalid character at byte 0)",
        ]
    );

    let loaded = load(
        Some(
            r#"
[profile]
value_area = "0.68"
session_anchor = "13:30"
imbalance_min_volume = "2"
[symbols.ETHUSDT]
large_trade_qty = "50"
imbalance_min_volume = "5"
"#,
        ),
        &[],
    )
    .unwrap();
    let config = &loaded.config;
    let btc = config.profile_params(sym("BTCUSDT"));
    assert_eq!(btc.value_area.to_string(), "0.68");
    assert_eq!(btc.session.to_string(), "13:30");
    assert_eq!(btc.imbalance.min_volume.to_string(), "2");
    assert_eq!(btc.large_trades.min_qty, None);
    let eth = config.profile_params(sym("ETHUSDT"));
    assert_eq!(eth.imbalance.min_volume.to_string(), "5");
    assert_eq!(
        eth.large_trades.min_qty.map(|q| q.to_string()),
        Some("50".into())
    );
    assert_eq!(
        config.row_spec(sym("ETHUSDT")),
        RowSpec::Fixed("1".parse().unwrap())
    );
    assert_eq!(config.row_spec(sym("DOGEUSDT")), RowSpec::Ticks(10));
    assert_eq!(
        config.aggregator_settings(sym("ETHUSDT")).profile,
        eth,
        "each aggregator gets its symbol's parameters"
    );
}

#[test]
fn one_minute_bars_must_outlive_the_rolling_day_a_restart_rebuilds() {
    let found = problems(Some("[retention]\nbars_1m = \"24h\"\n"), &[]);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("retention.bars_1m: must be at least 25h")),
        "{found:?}"
    );
    let found = problems(None, &[("RETENTION_AGGREGATES_1M", "86400")]);
    assert!(
        found.iter().any(|p| p.contains("retention.bars_1m")),
        "the legacy variable in seconds is held to the same rule: {found:?}"
    );
}

#[test]
fn the_runtimes_have_one_worker_each_by_default_and_a_count_out_of_range_is_a_problem() {
    let defaults = load(None, &[]).unwrap().config.runtime;
    assert_eq!((defaults.worker_threads, defaults.api_threads), (1, 1));
    let set = load(
        Some("[runtime]\nworker_threads = 2\n"),
        &[("WADM__RUNTIME__API_THREADS", "3")],
    )
    .unwrap()
    .config
    .runtime;
    assert_eq!((set.worker_threads, set.api_threads), (2, 3));
    let found = problems(
        Some("[runtime]\nworker_threads = 0\napi_threads = 65\n"),
        &[],
    );
    assert_eq!(
        found,
        [
            "runtime.worker_threads: must be between 1 and 64, got 0",
            "runtime.api_threads: must be between 1 and 64, got 65",
        ]
    );
}
