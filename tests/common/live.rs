//! An in-process daemon wired to a simulated exchange, and waiting on conditions.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wadm::app::Daemon;
use wadm::config::{self, Config, LoadOptions};
use wadm::simulator::{SimConfig, Simulator};
use wadm_actors::connection::status::ConnectionStatus;
use wadm_actors::model::{DataQualityEvent, QualityKind, Symbol, Venue};

/// Fast timeouts for tests; anything can be overridden.
pub const FAST: &[(&str, &str)] = &[
    ("WADM__CONNECTION__CONNECT_TIMEOUT", "2s"),
    ("WADM__CONNECTION__TRANSPORT_TIMEOUT", "5s"),
    ("WADM__CONNECTION__BOOK_TIMEOUT", "3s"),
    ("WADM__CONNECTION__TRADE_TIMEOUT", "5s"),
    ("WADM__CONNECTION__BOOK_PUBLISH_INTERVAL", "20ms"),
    ("WADM__CONNECTION__BACKOFF__INITIAL_BACKOFF", "5ms"),
    ("WADM__CONNECTION__BACKOFF__MAX_BACKOFF", "200ms"),
    ("WADM__CONNECTION__BACKOFF__JITTER", "0.5"),
    ("WADM__CONNECTION__BUDGET__BINANCE_SPOT", "10000"),
    ("WADM__CONNECTION__BUDGET__BINANCE_USDM", "10000"),
    ("WADM__CONNECTION__BUDGET__BYBIT", "10000"),
    ("WADM__SUPERVISION__INITIAL_BACKOFF", "10ms"),
    ("WADM__SUPERVISION__MAX_BACKOFF", "100ms"),
    ("WADM__AGGREGATOR__GAP_GRACE", "500ms"),
    // Repair and start-up backfill change what is stored; the tests of them turn them on.
    ("WADM__BACKFILL__ON_START", "0"),
    ("WADM__BACKFILL__REPAIR", "false"),
];

/// Builds the configuration of a daemon collecting `symbols` on `venues` from `sim`.
pub fn config_for(
    sim: &Simulator,
    venues: &[Venue],
    symbols: &[&str],
    overrides: &[(&str, &str)],
) -> Config {
    config_from(env_for(sim, venues, symbols, overrides))
}

/// The configuration the project's defaults and `env` make.
pub fn config_from(env: BTreeMap<String, String>) -> Config {
    config::load(&LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: None,
        env,
    })
    .unwrap_or_else(|err| panic!("{err}"))
    .config
}

/// The environment that configures a daemon collecting `symbols` on `venues` from `sim`,
/// with fast timeouts and its store in a fresh directory; `overrides` come last.
pub fn env_for(
    sim: &Simulator,
    venues: &[Venue],
    symbols: &[&str],
    overrides: &[(&str, &str)],
) -> BTreeMap<String, String> {
    // The daemon outlives this function: its store goes under the build's scratch directory
    // (removed by `cargo clean`), one directory per daemon.
    let data = tempfile::Builder::new()
        .prefix("wadm-data-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory")
        .keep();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let enabled: Vec<&str> = venues.iter().map(|v| v.as_str()).collect();
    env.insert("COLLECTORS_ENABLED".into(), enabled.join(","));
    env.insert("WADM__API__BIND".into(), "127.0.0.1:0".into());
    env.insert(
        "WADM__STORAGE__EMBEDDED__PATH".into(),
        data.display().to_string(),
    );
    env.extend(sim.venue_env(venues, symbols));
    for (key, value) in FAST.iter().chain(overrides) {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    env
}

/// Starts a simulator of `venues` x `symbols` and a daemon collecting from it.
pub async fn start(
    venues: &[Venue],
    symbols: &[&str],
    overrides: &[(&str, &str)],
) -> (Simulator, Daemon) {
    let mut sim_config = SimConfig::local(venues, symbols);
    sim_config.record_trades = true;
    start_with(sim_config, venues, symbols, overrides).await
}

/// Starts a simulator from `sim_config` and a daemon collecting `symbols` on `venues` from it.
pub async fn start_with(
    sim_config: SimConfig,
    venues: &[Venue],
    symbols: &[&str],
    overrides: &[(&str, &str)],
) -> (Simulator, Daemon) {
    let sim = Simulator::start(sim_config)
        .await
        .expect("the simulator starts");
    let daemon = daemon_for(&sim, venues, symbols, overrides).await;
    (sim, daemon)
}

/// Starts a recording, real-time simulator of `venues` x `symbols`.
pub async fn simulator(venues: &[Venue], symbols: &[&str]) -> Simulator {
    let mut sim_config = SimConfig::local(venues, symbols);
    sim_config.record_trades = true;
    Simulator::start(sim_config)
        .await
        .expect("the simulator starts")
}

/// Starts a daemon collecting `symbols` on `venues` from `sim`.
pub async fn daemon_for(
    sim: &Simulator,
    venues: &[Venue],
    symbols: &[&str],
    overrides: &[(&str, &str)],
) -> Daemon {
    let config = config_for(sim, venues, symbols, overrides);
    Daemon::start(config).await.expect("the daemon starts")
}

/// Waits until `condition` holds, checking every few milliseconds, or fails after `timeout`
/// naming `what`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The deadline of waits on live daemons.
pub const LONG: Duration = Duration::from_secs(30);

/// A symbol from test text.
pub fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

/// The connection status of `venue`.
pub async fn status(daemon: &Daemon, venue: Venue) -> ConnectionStatus {
    daemon
        .connection_status(venue)
        .await
        .expect("the connection actor answers")
}

/// Waits until every socket of `venue` streams.
pub async fn wait_streaming(daemon: &Daemon, venue: Venue) {
    wait_until(LONG, &format!("{venue} streaming"), || async {
        daemon
            .connection_status(venue)
            .await
            .is_some_and(|s| s.endpoints.iter().all(|e| e.state == "streaming"))
    })
    .await;
}

/// Waits until the book of `symbol` on `venue` is synced.
pub async fn wait_book_synced(daemon: &Daemon, venue: Venue, symbol: &str) {
    wait_until(LONG, &format!("{venue} {symbol} book synced"), || async {
        daemon.connection_status(venue).await.is_some_and(|s| {
            s.books
                .iter()
                .any(|b| b.symbol == sym(symbol) && format!("{:?}", b.state) == "Synced")
        })
    })
    .await;
}

/// The recorded data-quality events of one kind for `symbol` (or venue-wide).
pub fn quality_of(
    daemon: &Daemon,
    venue: Venue,
    symbol: &str,
    kind: QualityKind,
) -> Vec<DataQualityEvent> {
    daemon
        .quality
        .recent()
        .into_iter()
        .filter(|e| e.venue == venue && e.kind == kind && e.symbol.is_none_or(|s| s == sym(symbol)))
        .collect()
}

/// The id `venue` gives the simulator's trade `id`, as text.
pub fn venue_id(venue: Venue, id: u64) -> String {
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm => id.to_string(),
        Venue::BybitSpot | Venue::BybitLinear => wadm::simulator::render::bybit_trade_id(venue, id),
    }
}

/// Waits until every aggregator of `venues` x `symbols` has taken the last trade `sim`
/// generated for it.
pub async fn wait_last_trades(
    sim: &Simulator,
    daemon: &Daemon,
    venues: &[Venue],
    symbols: &[&str],
) {
    wait_until(LONG, "the last trades", || async {
        let mut all = true;
        for &venue in venues {
            for &symbol in symbols {
                let last = sim
                    .totals(venue, sym(symbol))
                    .last_id
                    .map(|id| venue_id(venue, id));
                let counts = daemon.aggregator_counts(venue, sym(symbol)).await;
                all &= counts.is_some_and(|c| c.last_trade.map(|id| id.to_string()) == last);
            }
        }
        all
    })
    .await;
}

/// The trade a Binance stream carries for a simulated trade: an aggregate trade of three
/// fills (ids `3 id ..= 3 id + 2`), as the simulator renders it.
pub fn stream_trade(
    sim: &wadm::simulator::render::SimTrade,
    venue: Venue,
    symbol: Symbol,
) -> wadm_actors::model::Trade {
    use wadm_actors::model::{FillRange, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos};
    Trade {
        venue,
        symbol,
        id: TradeId::Number(sim.id),
        price: sim.price,
        qty: sim.qty,
        side: sim.side,
        trade_time: TimestampMs(sim.time),
        event_time: TimestampMs(sim.time),
        received_at: UnixNanos(0),
        flags: TradeFlags::AGGREGATE,
        sequence: None,
        fills: Some(FillRange {
            first: sim.id * 3,
            last: sim.id * 3 + 2,
        }),
    }
}

/// The `[alerts]` of a TOML text, validated against `pairs` (a problem fails the test).
pub fn alert_settings(text: &str, pairs: &[(Venue, Symbol)]) -> wadm_actors::alerts::AlertSettings {
    #[derive(serde::Deserialize)]
    struct File {
        alerts: wadm_actors::alerts::RawAlerts,
    }
    let file: File = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    wadm_actors::alerts::config::validate(&file.alerts, pairs)
        .unwrap_or_else(|problems| panic!("{problems:#?}"))
}
