//! `cargo bench --bench connection`: frames per second from the simulated exchange, at full
//! speed, through one connection actor (socket, parse, books, dedupe) to the router and the
//! aggregators.
//!
//! The simulator runs in the same process and shares the machine's cores: it renders every
//! frame it sends, so the number is a floor for the connection path, not its ceiling.
//! Options: `--seconds N` (default 10), `--symbols N` (default 4).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wadm::app::Daemon;
use wadm::config::{self, LoadOptions};
use wadm::simulator::{GeneratorParams, Pace, SimConfig, Simulator};
use wadm_actors::model::{Symbol, Venue};

const SYMBOLS: [&str; 8] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT",
];

struct Sample {
    frames: u64,
    bytes: u64,
    trades: u64,
    dropped: u64,
}

async fn sample(daemon: &Daemon, venue: Venue, symbols: &[Symbol]) -> Sample {
    let status = daemon.connection_status(venue).await.unwrap();
    let mut trades = 0;
    for symbol in symbols {
        trades += daemon
            .aggregator_counts(venue, *symbol)
            .await
            .map_or(0, |c| c.trades);
    }
    let dropped = symbols
        .iter()
        .filter_map(|s| daemon.routes.slot(venue, *s))
        .map(|s| s.dropped())
        .sum();
    Sample {
        frames: status.endpoints.iter().map(|e| e.frames).sum(),
        bytes: status.endpoints.iter().map(|e| e.bytes).sum(),
        trades,
        dropped,
    }
}

async fn run(venue: Venue, symbol_count: usize, seconds: u64) {
    let names: Vec<&str> = SYMBOLS.iter().copied().take(symbol_count).collect();
    let mut sim_config = SimConfig::local(&[venue], &names);
    sim_config.pace = Pace::FullSpeed;
    sim_config.params = GeneratorParams {
        max_trades_per_step: 8,
        depth_every: 1,
        kline_every: 50,
        book_levels: 20,
        seed: 11,
        steps: None,
    };
    let sim = Simulator::start(sim_config).await.unwrap();
    let key = venue.as_str().replace('-', "_").to_ascii_uppercase();
    let env: BTreeMap<String, String> = [
        ("COLLECTORS_ENABLED".to_owned(), venue.as_str().to_owned()),
        ("WADM__LOG__LEVEL".to_owned(), "warn".to_owned()),
        (format!("WADM__VENUES__{key}__SYMBOLS"), names.join(",")),
        (
            format!("WADM__VENUES__{key}__WS_URL"),
            sim.ws_url(venue).to_string(),
        ),
        (
            format!("WADM__VENUES__{key}__REST_URL"),
            sim.rest_url().to_string(),
        ),
        (
            "WADM__CONNECTION__TRANSPORT_TIMEOUT".to_owned(),
            "60s".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    let config = config::load(&LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: None,
        env,
    })
    .unwrap()
    .config;
    let daemon = Daemon::start(config).await.unwrap();
    let symbols: Vec<Symbol> = names.iter().map(|s| Symbol::new(s).unwrap()).collect();
    // Warm up until data flows, then measure.
    let warm = Instant::now();
    while sample(&daemon, venue, &symbols).await.trades < 10_000
        && warm.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = sample(&daemon, venue, &symbols).await;
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let end = sample(&daemon, venue, &symbols).await;
    let elapsed = began.elapsed().as_secs_f64();
    let frames = (end.frames - start.frames) as f64 / elapsed;
    let trades = (end.trades - start.trades) as f64 / elapsed;
    let mib = (end.bytes - start.bytes) as f64 / elapsed / (1024.0 * 1024.0);
    println!(
        "| {venue} | {symbol_count} | {frames:>10.0} | {trades:>10.0} | {mib:>6.1} | {} |",
        end.dropped - start.dropped
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

fn main() {
    let seconds = support::option("--seconds", 10);
    let symbols = support::option("--symbols", 4) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| venue | symbols | frames/s | trades/s | MiB/s | routed messages dropped |");
    println!("|---|---:|---:|---:|---:|---:|");
    runtime.block_on(async {
        for venue in Venue::ALL {
            run(venue, symbols.min(SYMBOLS.len()), seconds).await;
        }
    });
}
