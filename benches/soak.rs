//! `cargo bench --bench soak [-- --minutes N --symbols N]`: the daemon (in this process, with
//! the embedded store and raw trades on) against the simulated exchange at full speed on all
//! four venues for `--minutes` (default 10), with a fault every 20 s, in turn:
//!
//! abrupt disconnects of every venue; a silent venue (the watchdog replaces the socket); a
//! skipped book sequence id (a resync); garbage frames; a store outage (another connection
//! holds the embedded file's write lock for 15 s); an aggregator crash (killed: its mailbox
//! and open bars are lost, the supervisor restarts it).
//!
//! Every 10 s it samples the process RSS and `/api/v1/status`. At the end the markets pause,
//! the daemon takes what is in flight, and every Binance trade the simulator generated is
//! accounted for: taken by an aggregator, inside a recorded trade-id gap, or counted as
//! dropped. Bybit ids are not contiguous, so its trades are reported, with its recorded
//! time-range gaps. The simulator shares the process, so its memory is in the RSS (it keeps
//! no trade history here).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wadm::app::Daemon;
use wadm::config::{self, LoadOptions};
use wadm::simulator::{GeneratorParams, Misbehaviour, Pace, SimConfig, Simulator};
use wadm_actors::model::{QualityKind, Symbol, Venue};

const SYMBOLS: [&str; 8] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT",
];

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Sums a counter over its series, optionally only those whose labels contain `filter`.
fn counter(metrics: &str, name: &str, filter: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(filter))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

async fn fault(
    n: u64,
    sim: &Simulator,
    daemon: &Daemon,
    data: &std::path::Path,
    symbols: &[Symbol],
) -> String {
    let venue = Venue::ALL[(n / 6) as usize % 4];
    match n % 6 {
        0 => {
            for venue in Venue::ALL {
                sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
                    .await;
            }
            "abrupt disconnect of every venue".into()
        }
        1 => {
            sim.misbehave(venue, Misbehaviour::Silence).await;
            format!("{venue} silent")
        }
        2 => {
            sim.misbehave(venue, Misbehaviour::SkipSequence(symbols[0]))
                .await;
            format!("{venue} {} book sequence gap", symbols[0])
        }
        3 => {
            sim.misbehave(venue, Misbehaviour::Garbage { count: 50 })
                .await;
            format!("{venue} garbage frames")
        }
        4 => {
            let file = data.join(wadm_actors::storage::embedded::FILE_NAME);
            std::thread::spawn(move || {
                let Ok(lock) = rusqlite::Connection::open(&file) else {
                    return;
                };
                if lock.execute_batch("BEGIN EXCLUSIVE").is_ok() {
                    // The outage lasts a set time: this holds the lock, it waits on nothing.
                    #[allow(clippy::disallowed_methods)]
                    std::thread::sleep(Duration::from_secs(15));
                    let _ = lock.execute_batch("ROLLBACK");
                }
            });
            "store outage (15 s)".into()
        }
        _ => {
            let symbol = symbols[(n as usize / 6) % symbols.len()];
            match daemon
                .routes
                .slot(venue, symbol)
                .and_then(|slot| slot.actor())
            {
                Some(actor) => {
                    actor.kill();
                    format!("{venue} {symbol} aggregator crash")
                }
                None => format!("{venue} {symbol} aggregator not running"),
            }
        }
    }
}

fn main() {
    let minutes = support::option("--minutes", 10);
    let symbol_count = support::option("--symbols", 4).clamp(1, SYMBOLS.len() as u64) as usize;
    let names: Vec<&str> = SYMBOLS[..symbol_count].to_vec();
    let symbols: Vec<Symbol> = names.iter().map(|s| Symbol::new(s).unwrap()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut sim_config = SimConfig::local(&Venue::ALL, &names);
        sim_config.pace = Pace::FullSpeed;
        sim_config.params = GeneratorParams {
            max_trades_per_step: 3,
            depth_every: 1,
            kline_every: 50,
            book_levels: 20,
            seed: 5,
            steps: None,
        };
        let sim = Simulator::start(sim_config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut env: BTreeMap<String, String> = [
            ("COLLECTORS_ENABLED", "binance-spot,binance-usdm,bybit-spot,bybit-linear"),
            ("WADM__API__BIND", "127.0.0.1:0"),
            ("WADM__LOG__LEVEL", "error"),
            ("WADM__PERSISTENCE__RAW_TRADES", "true"),
            ("WADM__CONNECTION__BOOK_TIMEOUT", "3s"),
            ("WADM__CONNECTION__TRADE_TIMEOUT", "5s"),
            ("WADM__CONNECTION__TRANSPORT_TIMEOUT", "5s"),
            ("WADM__CONNECTION__BACKOFF__INITIAL_BACKOFF", "50ms"),
            ("WADM__CONNECTION__BACKOFF__MAX_BACKOFF", "2s"),
            ("WADM__CONNECTION__BUDGET__BINANCE_SPOT", "1000"),
            ("WADM__CONNECTION__BUDGET__BINANCE_USDM", "1000"),
            ("WADM__CONNECTION__BUDGET__BYBIT", "1000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.insert("WADM__STORAGE__EMBEDDED__PATH".into(), data.display().to_string());
        env.extend(sim.venue_env(&Venue::ALL, &names));
        let config = config::load(&LoadOptions {
            defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
            config_file: None,
            env,
        })
        .unwrap()
        .config;
        let daemon = Daemon::start(config).await.unwrap();
        let metrics = wadm::telemetry::metrics_handle().unwrap();
        println!("soak: 4 venues x {symbol_count} symbols at full speed for {minutes} min, a fault every 20 s");
        println!("| t (s) | RSS MiB | trades taken | actors running | restarts | fault |");
        println!("|---:|---:|---:|---:|---:|---|");
        let began = Instant::now();
        let end = began + Duration::from_secs(minutes * 60);
        let mut samples = Vec::new();
        let mut faults = 0;
        let mut next_fault = began + Duration::from_secs(20);
        let mut next_sample = began + Duration::from_secs(10);
        while Instant::now() < end {
            tokio::time::sleep_until(next_sample.min(next_fault).into()).await;
            let mut label = String::new();
            if Instant::now() >= next_fault {
                label = fault(faults, &sim, &daemon, &data, &symbols).await;
                faults += 1;
                next_fault += Duration::from_secs(20);
            }
            if Instant::now() >= next_sample {
                next_sample += Duration::from_secs(10);
                let addr = daemon.api_addr;
                let status = tokio::task::spawn_blocking(move || http_get(addr, "/api/v1/status"))
                    .await
                    .unwrap();
                let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
                let actors = status["actors"].as_array().cloned().unwrap_or_default();
                let running = actors.iter().filter(|a| a["state"] == "running").count();
                let restarts: u64 = actors.iter().filter_map(|a| a["restarts"].as_u64()).sum();
                let rss = rss_mib();
                let taken = counter(&metrics.render(), "wadm_aggregator_trades_total", "");
                samples.push(rss);
                println!(
                    "| {} | {rss:.1} | {taken} | {running}/{} | {restarts} | {label} |",
                    began.elapsed().as_secs(),
                    actors.len()
                );
            } else if !label.is_empty() {
                println!("| {} | | | | | {label} |", began.elapsed().as_secs());
            }
        }
        // Pause the markets and let the daemon take what is in flight.
        sim.pause_markets().await;
        let settle = Instant::now();
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let taken = counter(&metrics.render(), "wadm_aggregator_trades_total", "");
            if taken == last || settle.elapsed() > Duration::from_secs(60) {
                break;
            }
            last = taken;
        }
        let text = metrics.render();
        let events = daemon.quality.recent();
        println!();
        println!("| venue | generated | taken | in id gaps | time-range gaps | dropped on routes | engine dropped | unaccounted | restored by warm starts |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for venue in Venue::ALL {
            let generated: u64 = symbols.iter().map(|&s| sim.totals(venue, s).trades).sum();
            let label = format!("venue=\"{venue}\"");
            let taken = counter(&text, "wadm_aggregator_trades_total", &label);
            let routed_dropped = counter(&text, "wadm_router_trades_dropped_total", &label);
            let engine_dropped = counter(&text, "wadm_aggregator_trades_dropped_total", &label);
            // Taken again from the store after a crash (counted when they came from the venue).
            let restored = counter(&text, "wadm_aggregator_trades_restored_total", &label);
            let gaps: Vec<_> = events.iter().filter(|e| e.venue == venue && e.kind == QualityKind::TradeGap).collect();
            let in_id_gaps: u64 = gaps
                .iter()
                .filter_map(|e| Some(e.to_id? - e.from_id? + 1))
                .sum();
            let time_gaps = gaps.iter().filter(|e| e.from_time.is_some()).count();
            let unaccounted = match venue {
                // One trade per message on Binance: every generated trade is accounted for.
                Venue::BinanceSpot | Venue::BinanceUsdm => {
                    format!("{}", generated as i64 - (taken + in_id_gaps + routed_dropped + engine_dropped) as i64)
                }
                Venue::BybitSpot | Venue::BybitLinear => "n/a (ids not contiguous)".into(),
            };
            println!("| {venue} | {generated} | {taken} | {in_id_gaps} | {time_gaps} | {routed_dropped} | {engine_dropped} | {unaccounted} | {restored} |");
        }
        let written = counter(&text, "wadm_persistence_documents_written_total", "");
        let dropped = counter(&text, "wadm_persistence_documents_dropped_total", "");
        let failures = counter(&text, "wadm_persistence_write_failures_total", "");
        let restarts = counter(&text, "wadm_actor_restarts_total", "");
        println!();
        println!("persistence: {written} documents written, {dropped} dropped (counted), {failures} failed writes retried; actor restarts: {restarts}; faults injected: {faults}");
        let first = samples.iter().take(6).copied().fold(0.0, f64::max);
        let last_window = samples.iter().rev().take(6).copied().fold(0.0, f64::max);
        println!(
            "RSS: first minute max {first:.1} MiB, last minute max {last_window:.1} MiB, overall max {:.1} MiB",
            samples.iter().copied().fold(0.0, f64::max)
        );
        daemon.shutdown().await.unwrap();
        sim.stop().await;
    });
}
