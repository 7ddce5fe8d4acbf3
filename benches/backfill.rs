//! `cargo bench --bench backfill [-- --hours 24 --trades-per-minute 1042 --budget 1]`: the
//! start-up backfill of one busy symbol against the simulated exchange.
//!
//! The simulator holds `--hours` of Binance spot history for BTCUSDT at `--trades-per-minute`
//! (1,042 a minute is 1.5 M aggregate trades a day); the daemon (in this process, embedded
//! store, raw trades on) starts on an empty store with `backfill.on_start` = `--hours` and
//! fetches all of it by time then by id, 1,000 trades a request, while the live stream
//! flows. Timed: from the daemon's start to the end of the backfill job.
//!
//! `--budget 1` (the default) keeps Binance spot's documented limit (6,000 weight a minute,
//! 80 % used, half of that for backfill: 600 requests of weight 4 a minute), so the time is
//! what a real start takes; `--budget 0` lifts the limit to measure the daemon itself.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::cast_precision_loss)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wadm::app::Daemon;
use wadm::config::{self, LoadOptions};
use wadm::simulator::{SimConfig, SimHistory, Simulator};
use wadm_actors::model::{Symbol, Venue};

fn main() {
    let hours = support::option("--hours", 24);
    let per_minute = support::option("--trades-per-minute", 1_042);
    let budget = support::option("--budget", 1) != 0;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(hours, per_minute, budget));
}

async fn run(hours: u64, per_minute: u64, budget: bool) {
    let venue = Venue::BinanceSpot;
    let mut sim_config = SimConfig::local(&[venue], &["BTCUSDT"]);
    sim_config.record_trades = true;
    sim_config.history = Some(SimHistory {
        span: Duration::from_secs(hours * 3_600 + 120),
        trades_per_minute: u32::try_from(per_minute).unwrap(),
    });
    let generating = Instant::now();
    let sim = Simulator::start(sim_config).await.unwrap();
    let history = sim
        .totals(venue, Symbol::new("BTCUSDT").unwrap())
        .recorded
        .len();
    println!(
        "simulator: {history} aggregate trades of history in {:.1} s",
        generating.elapsed().as_secs_f64()
    );
    if !budget {
        sim.set_rest_limit(venue, 1_000_000_000);
    }
    let data = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("COLLECTORS_ENABLED".into(), venue.as_str().into());
    env.insert("WADM__API__BIND".into(), "127.0.0.1:0".into());
    env.insert(
        "WADM__STORAGE__EMBEDDED__PATH".into(),
        data.path().display().to_string(),
    );
    env.insert("WADM__BACKFILL__ON_START".into(), format!("{hours}h"));
    env.insert("WADM__LOG__LEVEL".into(), "warn".into());
    if !budget {
        env.insert(
            "WADM__VENUES__BINANCE_SPOT__REST_LIMIT".into(),
            "1000000000".into(),
        );
    }
    env.extend(sim.venue_env(&[venue], &["BTCUSDT"]));
    let config = config::load(&LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: None,
        env,
    })
    .unwrap()
    .config;
    let started = Instant::now();
    let daemon = Daemon::start(config).await.unwrap();
    let job = loop {
        let done = daemon
            .registry
            .snapshot()
            .into_iter()
            .find(|a| a.kind == "backfill")
            .and_then(|a| a.detail)
            .and_then(|detail| {
                detail["done"]
                    .as_array()
                    .and_then(|done| done.iter().find(|j| j["kind"] == "startup").cloned())
            });
        if let Some(job) = done {
            break job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3_600),
            "the backfill did not finish within an hour"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed();
    let taken = job["progress"]["taken"].as_u64().unwrap();
    let requests = job["progress"]["requests"].as_u64().unwrap();
    let rest = sim.rest_counters(venue);
    println!(
        "backfill of {hours} h ({taken} aggregate trades, {} trades, {requests} requests, budget {}): {:.1} s, {:.0} aggregate trades/s; the simulator saw at most {} weight in a minute",
        taken * 3,
        if budget { "documented" } else { "lifted" },
        took.as_secs_f64(),
        taken as f64 / took.as_secs_f64(),
        rest.max_window_weight,
    );
    println!("job: {job}");
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
