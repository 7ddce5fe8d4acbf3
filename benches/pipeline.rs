//! `cargo bench --bench pipeline [-- --symbols N --steps N --latency-seconds N]`: the whole
//! daemon (the release `wadm` binary, its own process) against the simulated exchange on all
//! four venues, compared with a minimal reader that only parses the same frames (the
//! ceiling).
//!
//! Phases, each on a fresh simulator with the same generator, seed and finite number of
//! steps, started once every subscription is in place (a gated stream), at full speed (the
//! simulator generates as fast as the slowest socket reads):
//!
//! 1. **ceiling**: one socket per venue endpoint, subscribed to the daemon's topics, every
//!    text frame parsed by the venue parser and dropped;
//! 2. **daemon, raw trades off**: until every generated trade is in the aggregators;
//! 3. **daemon, raw trades on**: until every trade is in the aggregators (end to end), then
//!    until every raw trade is also written to the embedded store (or counted as dropped);
//! 4. **Binance trades + book only**, the daemon and cryptofeed (2.4.1 from PyPI, in a
//!    virtual environment `target/bench-venv` made on first use from
//!    `benches/cryptofeed/requirements.txt`; its Binance feed pointed at the simulator by
//!    `benches/cryptofeed/peer.py`), one after the other on the same frames: Binance spot
//!    `aggTrade` and `depth@100ms`, until every trade is handled;
//! 5. **latency**: the simulator paced at about 50,000 frames/s, raw trades off then on, for
//!    `--latency-seconds`; p50 and p99 of `wadm_pipeline_latency_seconds` over that window.
//!
//! The daemon is started with its built-in defaults plus the bench's settings above; any
//! `WADM__*` (and glibc `MALLOC_*`) variable in the bench's environment is passed on after them.
//!
//! The daemon's throughput, latency histogram and drops come from its `/metrics`, its peak
//! RSS from `/proc/<pid>/status` (`VmHWM`). The simulator runs in this process and shares the
//! machine's cores with the daemon, as it does with the ceiling reader.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use wadm::config::{self, Config, LoadOptions};
use wadm::simulator::{GeneratorParams, Pace, SimConfig, Simulator};
use wadm_actors::connection::parser_for;
use wadm_actors::connection::protocol::{self, endpoints, subscribe_request};
use wadm_actors::model::{MarketEvent, UnixNanos, Venue};

/// Twenty symbols per venue.
const SYMBOLS: [&str; 20] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT",
    "DOTUSDT", "LINKUSDT", "AVAXUSDT", "TRXUSDT", "ATOMUSDT", "NEARUSDT", "APTUSDT", "ARBUSDT",
    "OPUSDT", "SUIUSDT", "FILUSDT", "ETCUSDT",
];

/// How long any phase may take before it is reported as incomplete.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

struct Options {
    symbols: usize,
    steps: u64,
    latency_seconds: u64,
}

fn sim_config(venues: &[Venue], symbols: &[&str], pace: Pace, steps: Option<u64>) -> SimConfig {
    let mut config = SimConfig::local(venues, symbols);
    config.pace = pace;
    config.gated = true;
    config.params = GeneratorParams {
        max_trades_per_step: 3,
        depth_every: 1,
        kline_every: 50,
        book_levels: 20,
        seed: 11,
        steps,
    };
    config
}

/// A fresh gated simulator of `venues` at full speed, for `options.steps` steps.
async fn full_speed(options: &Options, venues: &[Venue], symbols: &[&str]) -> Simulator {
    Simulator::start(sim_config(
        venues,
        symbols,
        Pace::FullSpeed,
        Some(options.steps),
    ))
    .await
    .unwrap()
}

/// The daemon's environment for `sim`.
fn env_for(
    sim: &Simulator,
    venues: &[Venue],
    symbols: &[&str],
    data: &std::path::Path,
    raw: bool,
) -> Vec<(String, String)> {
    let names: Vec<&str> = venues.iter().map(|v| v.as_str()).collect();
    let mut env = vec![
        ("COLLECTORS_ENABLED".to_owned(), names.join(",")),
        ("WADM__API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "WADM__LOG__LEVEL".to_owned(),
            "warn,wadm::app=info".to_owned(),
        ),
        (
            "WADM__STORAGE__EMBEDDED__PATH".to_owned(),
            data.display().to_string(),
        ),
        ("WADM__PERSISTENCE__RAW_TRADES".to_owned(), raw.to_string()),
        // A stream generated as fast as it is read has no pauses: no watchdog may trip.
        (
            "WADM__CONNECTION__TRANSPORT_TIMEOUT".to_owned(),
            "120s".to_owned(),
        ),
        (
            "WADM__CONNECTION__BOOK_TIMEOUT".to_owned(),
            "120s".to_owned(),
        ),
        (
            "WADM__CONNECTION__TRADE_TIMEOUT".to_owned(),
            "120s".to_owned(),
        ),
    ];
    env.extend(sim.venue_env(venues, symbols));
    if venues == [Venue::BinanceSpot] {
        // What cryptofeed's Binance feed takes: trades and the book, no klines.
        env.push((
            "WADM__VENUES__BINANCE_SPOT__STREAMS".to_owned(),
            "aggTrade,depth@100ms".to_owned(),
        ));
    }
    // Settings of the bench's own environment (`WADM__PERSISTENCE__BATCH_SIZE=...`) reach
    // the daemon, after the ones above: a setting can be measured without a rebuild.
    env.extend(
        std::env::vars().filter(|(k, _)| k.starts_with("WADM__") || k.starts_with("MALLOC_")),
    );
    env
}

fn load(env: &[(String, String)]) -> Config {
    config::load(&LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: None,
        env: env.iter().cloned().collect(),
    })
    .unwrap()
    .config
}

/// Subscribe requests the configuration's topics take on `venue`.
fn subscribe_requests(config: &Config, venue: Venue) -> u64 {
    let venue_config = config.venues.iter().find(|v| v.venue == venue).unwrap();
    let per_request = protocol::limits(venue).max_topics_per_request;
    endpoints(
        venue,
        &venue_config.ws_url,
        &venue_config.symbols,
        &venue_config.streams,
    )
    .iter()
    .map(|e| e.topics.len().div_ceil(per_request) as u64)
    .sum()
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    let mut next_note = Instant::now() + Duration::from_secs(10);
    while !done() {
        if Instant::now() > deadline {
            println!("  ! {what}: not reached within {limit:?}");
            return false;
        }
        if Instant::now() > next_note {
            println!("  ... waiting for {what}");
            next_note += Duration::from_secs(10);
        }
        // Each look may scrape the daemon's /metrics, which costs it CPU: 20 looks a second.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

fn total_trades(sim: &Simulator, symbols: &[&str]) -> u64 {
    sim.venues()
        .iter()
        .flat_map(|&v| symbols.iter().map(move |s| (v, *s)))
        .map(|(v, s)| {
            sim.totals(v, wadm_actors::model::Symbol::new(s).unwrap())
                .trades
        })
        .sum()
}

fn frames_sent(sim: &Simulator) -> u64 {
    sim.venues()
        .iter()
        .map(|&v| sim.counters(v).frames_sent)
        .sum()
}

struct Throughput {
    /// Frames/s until the last frame was taken off the sockets (the simulator sends as fast
    /// as the slowest socket reads).
    received_per_s: f64,
    /// Frames/s until every trade was consumed (end to end).
    frames_per_s: f64,
    trades_per_s: f64,
    seconds: f64,
    complete: bool,
    /// Frames sent during the measurement.
    frames: f64,
    /// CPU seconds per million frames of the consumer (the ceiling's thread, the daemon's
    /// process).
    cpu_per_million: f64,
    /// When the stream was started.
    began: Instant,
    /// With raw trades on, frames/s until every raw trade was also written (or counted as
    /// dropped) by the store; NaN otherwise.
    written_per_s: f64,
}

/// Phase 1: parse-only readers, every socket on one thread of its own (a current-thread
/// runtime), whose CPU time is measured (`getrusage(RUSAGE_THREAD)`).
async fn ceiling(options: &Options, symbols: &[&str]) -> Throughput {
    let sim = full_speed(options, &Venue::ALL, symbols).await;
    let data = tempfile::tempdir().unwrap();
    let config = load(&env_for(&sim, &Venue::ALL, symbols, data.path(), false));
    let trades = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::new();
    for venue_config in config.enabled_venues() {
        let venue = venue_config.venue;
        for endpoint in endpoints(
            venue,
            &venue_config.ws_url,
            &venue_config.symbols,
            &venue_config.streams,
        ) {
            let names: Vec<String> = endpoint.topics.iter().map(|t| t.name.clone()).collect();
            sockets.push((venue, endpoint.url.to_string(), names));
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let counter = Arc::clone(&trades);
    let reader = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut readers = tokio::task::JoinSet::new();
            for (venue, url, names) in sockets {
                let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
                    .await
                    .unwrap();
                for (id, chunk) in names
                    .chunks(protocol::limits(venue).max_topics_per_request)
                    .enumerate()
                {
                    let request = subscribe_request(venue, chunk, id as u64 + 1);
                    socket.send(Message::text(request)).await.unwrap();
                }
                let trades = Arc::clone(&counter);
                readers.spawn(async move {
                    let mut parser = parser_for(venue, 1 << 20);
                    while let Some(Ok(message)) = socket.next().await {
                        if let Message::Text(text) = message
                            && let Ok(MarketEvent::Trades(batch)) =
                                parser.parse(text.as_bytes(), UnixNanos::now())
                        {
                            trades.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        }
                    }
                });
            }
            let _ = stop_rx.await;
            readers.abort_all();
        });
        thread_cpu_seconds()
    });
    wait_subscribed(&sim, &config, "reader subscriptions").await;
    let mut throughput = measure(&sim, symbols, options.steps, || {
        trades.load(Ordering::Relaxed)
    })
    .await;
    let _ = stop_tx.send(());
    let cpu = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    throughput.cpu_per_million = cpu / throughput.frames * 1e6;
    sim.stop().await;
    throughput
}

/// CPU seconds (user and system) the calling thread has used.
fn thread_cpu_seconds() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD).unwrap();
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    seconds(usage.user_time()) + seconds(usage.system_time())
}

/// CPU seconds (user and system) process `pid` has used, from `/proc/<pid>/stat` (in
/// clock ticks of 1/100 s, Linux's `USER_HZ`).
fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command: state (0), ..., utime (11), stime (12).
    (ticks(11) + ticks(12)) / 100.0
}

/// Starts the gated stream and waits until `consumed()` reaches every generated trade.
async fn measure(
    sim: &Simulator,
    symbols: &[&str],
    steps: u64,
    mut consumed: impl FnMut() -> u64,
) -> Throughput {
    let frames_before = frames_sent(sim);
    let began = Instant::now();
    sim.start_markets().await;
    wait_for("the end of the stream", PHASE_LIMIT, || sim.finished(steps)).await;
    let received_seconds = began.elapsed().as_secs_f64();
    let generated = total_trades(sim, symbols);
    let mut next_note = Instant::now() + Duration::from_secs(10);
    let complete = wait_for("every trade consumed", PHASE_LIMIT, || {
        let now = consumed();
        if now < generated && Instant::now() > next_note {
            println!("  ... {now} of {generated} trades consumed");
            next_note += Duration::from_secs(10);
        }
        now >= generated
    })
    .await;
    let seconds = began.elapsed().as_secs_f64();
    let frames = (frames_sent(sim) - frames_before) as f64;
    Throughput {
        received_per_s: frames / received_seconds,
        frames_per_s: frames / seconds,
        trades_per_s: generated as f64 / seconds,
        seconds,
        complete,
        frames,
        cpu_per_million: f64::NAN,
        began,
        written_per_s: f64::NAN,
    }
}

/// The daemon process.
struct DaemonProcess {
    child: Child,
    api: String,
}

impl DaemonProcess {
    fn start(env: &[(String, String)], dir: &std::path::Path) -> DaemonProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wadm"))
            .arg("run")
            .current_dir(dir)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut api = None;
        let mut line = String::new();
        while api.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
            api = line
                .split("api=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned);
            line.clear();
        }
        // Keep draining stderr so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in stderr.lines() {});
        DaemonProcess {
            child,
            api: api.expect("the daemon started"),
        }
    }

    fn metrics(&self) -> Metrics {
        let mut stream = std::net::TcpStream::connect(&self.api).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.api
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        Metrics::parse(&text)
    }

    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Sums of the metric series the bench reads.
#[derive(Debug, Default, Clone)]
struct Metrics {
    values: BTreeMap<String, f64>,
    latency_buckets: BTreeMap<u64, f64>,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut metrics = Metrics::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let name = series.split('{').next().unwrap_or(series);
            if name == "wadm_pipeline_latency_seconds_bucket" {
                let le = series
                    .split("le=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("+Inf");
                let bound = if le == "+Inf" {
                    u64::MAX
                } else {
                    (le.parse::<f64>().unwrap() * 1e9) as u64
                };
                *metrics.latency_buckets.entry(bound).or_default() += value;
            }
            let key = if name == "wadm_persistence_documents_written_total"
                || name == "wadm_persistence_documents_dropped_total"
            {
                format!("{name}/{}", series.contains("kind=\"trades\""))
            } else {
                name.to_owned()
            };
            *metrics.values.entry(key).or_default() += value;
        }
        metrics
    }

    fn get(&self, key: &str) -> f64 {
        self.values.get(key).copied().unwrap_or(0.0)
    }

    /// The latency below which `q` of the samples since `before` fall, interpolated within
    /// its bucket as Prometheus' `histogram_quantile` does; and the share under 1 ms.
    fn latency_quantile(&self, before: &Metrics, q: f64) -> (f64, f64) {
        let counts: Vec<(u64, f64)> = self
            .latency_buckets
            .iter()
            .map(|(&bound, &count)| {
                (
                    bound,
                    count - before.latency_buckets.get(&bound).copied().unwrap_or(0.0),
                )
            })
            .collect();
        let total = counts.last().map_or(0.0, |&(_, c)| c);
        if total <= 0.0 {
            return (f64::NAN, f64::NAN);
        }
        let under_1ms = counts
            .iter()
            .find(|(b, _)| *b == 1_000_000)
            .map_or(f64::NAN, |&(_, c)| c / total);
        let target = q * total;
        let mut lower = (0u64, 0.0);
        for &(bound, count) in &counts {
            if count >= target {
                if bound == u64::MAX {
                    return (lower.0 as f64 / 1e9, under_1ms);
                }
                let share = (target - lower.1) / (count - lower.1).max(f64::MIN_POSITIVE);
                return (
                    (lower.0 as f64 + share * (bound - lower.0) as f64) / 1e9,
                    under_1ms,
                );
            }
            lower = (bound, count);
        }
        (f64::NAN, under_1ms)
    }
}

struct DaemonResult {
    throughput: Throughput,
    peak_rss_mib: f64,
    end_rss_mib: f64,
    drops: f64,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Waits until `sim` has every subscribe request `config`'s topics take.
async fn wait_subscribed(sim: &Simulator, config: &Config, what: &str) {
    let expected: BTreeMap<Venue, u64> = config
        .enabled_venues()
        .map(|v| (v.venue, subscribe_requests(config, v.venue)))
        .collect();
    wait_for(what, PHASE_LIMIT, || {
        expected
            .iter()
            .all(|(v, n)| sim.counters(*v).subscribe_requests >= *n)
    })
    .await;
}

/// Starts the daemon against `sim` (its store in a fresh directory, returned to be kept) and
/// waits until it has subscribed.
async fn daemon_for(
    sim: &Simulator,
    symbols: &[&str],
    raw: bool,
) -> (DaemonProcess, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let env = env_for(sim, &sim.venues(), symbols, &data.path().join("data"), raw);
    let daemon = DaemonProcess::start(&env, data.path());
    wait_subscribed(sim, &load(&env), "daemon subscriptions").await;
    (daemon, data)
}

/// Phases 2 and 3: the daemon at full speed.
async fn daemon_full_speed(
    options: &Options,
    venues: &[Venue],
    symbols: &[&str],
    raw: bool,
) -> DaemonResult {
    let sim = full_speed(options, venues, symbols).await;
    let (daemon, _data) = daemon_for(&sim, symbols, raw).await;
    let cpu_before = process_cpu_seconds(daemon.child.id());
    // End to end as the issue defines it: every trade in an aggregator.
    let mut throughput = measure(&sim, symbols, options.steps, || {
        daemon.metrics().get("wadm_aggregator_trades_total") as u64
    })
    .await;
    if raw {
        let generated = total_trades(&sim, symbols);
        let written = wait_for("every raw trade written", PHASE_LIMIT, || {
            let m = daemon.metrics();
            (m.get("wadm_persistence_documents_written_total/true")
                + m.get("wadm_persistence_documents_dropped_total/true")) as u64
                >= generated
        })
        .await;
        if written {
            throughput.written_per_s = throughput.frames / throughput.began.elapsed().as_secs_f64();
        }
        throughput.complete &= written;
    }
    throughput.cpu_per_million =
        (process_cpu_seconds(daemon.child.id()) - cpu_before) / throughput.frames * 1e6;
    let after = daemon.metrics();
    let drops = after.get("wadm_router_dropped_total")
        + after.get("wadm_persistence_documents_dropped_total/true")
        + after.get("wadm_persistence_documents_dropped_total/false");
    let result = DaemonResult {
        throughput,
        peak_rss_mib: mib(daemon.memory_kib("VmHWM:")),
        end_rss_mib: mib(daemon.memory_kib("VmRSS:")),
        drops,
    };
    daemon.stop();
    sim.stop().await;
    result
}

/// The Python of the bench's virtual environment holding cryptofeed, made on first use from
/// `benches/cryptofeed/requirements.txt`, and cryptofeed's version; `Err` says why the peer
/// cannot run.
fn cryptofeed_python() -> Result<(PathBuf, String), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/bench-venv");
    let python = venv.join("bin/python3");
    let version = |python: &PathBuf| {
        Command::new(python)
            .args([
                "-c",
                "import importlib.metadata as m, cryptofeed; print(m.version('cryptofeed'))",
            ])
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if let Some(v) = version(&python) {
        return Ok((python, v));
    }
    println!("  creating {} with cryptofeed from PyPI", venv.display());
    let run = |command: &mut Command| -> Result<(), String> {
        let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{command:?}: {status}"))
        }
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(root.join("benches/cryptofeed/requirements.txt")))?;
    version(&python)
        .map(|v| (python, v))
        .ok_or_else(|| "cryptofeed does not import".to_owned())
}

/// Phase 4, the peer: cryptofeed's Binance feed (trades and book) on the Binance spot frames
/// of the other phases, until it has handled every trade; its CPU is its process's.
async fn cryptofeed_binance(
    options: &Options,
    symbols: &[&str],
    python: &PathBuf,
) -> Option<Throughput> {
    let venue = Venue::BinanceSpot;
    let sim = full_speed(options, &[venue], symbols).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cryptofeed/peer.py"))
        .arg(sim.ws_url(venue).as_str())
        .arg(sim.rest_url().as_str())
        .arg(dir.path().join("feedhandler.log"))
        .args(symbols)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let counter = Arc::clone(&handled);
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Ok(n) = line.trim().parse::<u64>() {
                counter.store(n, Ordering::Relaxed);
            }
        }
    });
    let subscribed = wait_for("cryptofeed subscribed", Duration::from_secs(60), || {
        sim.counters(venue).subscribe_requests >= 1
    })
    .await;
    if !subscribed {
        let _ = child.kill();
        let _ = child.wait();
        sim.stop().await;
        return None;
    }
    let cpu_before = process_cpu_seconds(child.id());
    let mut throughput = measure(&sim, symbols, options.steps, || {
        handled.load(Ordering::Relaxed)
    })
    .await;
    throughput.cpu_per_million =
        (process_cpu_seconds(child.id()) - cpu_before) / throughput.frames * 1e6;
    let _ = child.kill();
    let _ = child.wait();
    sim.stop().await;
    Some(throughput)
}

/// Phase 5: the daemon at about `rate` frames/s for `seconds`.
async fn daemon_paced(
    symbols: &[&str],
    frames_per_step: f64,
    rate: f64,
    seconds: u64,
    raw: bool,
) -> (f64, f64, f64, f64, f64) {
    let tick = Duration::from_secs_f64((frames_per_step / rate).max(0.001));
    let sim = Simulator::start(sim_config(
        &Venue::ALL,
        symbols,
        Pace::RealTime { tick },
        None,
    ))
    .await
    .unwrap();
    let (daemon, _data) = daemon_for(&sim, symbols, raw).await;
    sim.start_markets().await;
    // Warm up for a few seconds (books synced, bars open), then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = daemon.metrics();
    let frames_before = frames_sent(&sim);
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = daemon.metrics();
    let rate = (frames_sent(&sim) - frames_before) as f64 / began.elapsed().as_secs_f64();
    let (p99, under_1ms) = after.latency_quantile(&before, 0.99);
    let (p50, _) = after.latency_quantile(&before, 0.50);
    let peak = mib(daemon.memory_kib("VmHWM:"));
    daemon.stop();
    sim.stop().await;
    (rate, p50, p99, under_1ms, peak)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    }
}

fn main() {
    let options = Options {
        symbols: support::option("--symbols", 20).clamp(1, SYMBOLS.len() as u64) as usize,
        steps: support::option("--steps", 5_000),
        latency_seconds: support::option("--latency-seconds", 20),
    };
    let rounds = support::option("--rounds", 5).max(1);
    let symbols: Vec<&str> = SYMBOLS[..options.symbols].to_vec();
    // Two workers for the simulator (the daemon's come from its `runtime.worker_threads`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!(
            "pipeline benchmark: 4 venues x {} symbols, {} full-speed steps per venue, {rounds} interleaved rounds",
            options.symbols, options.steps
        );
        let peer = cryptofeed_python();
        if let Err(why) = &peer {
            println!("  ! the cryptofeed peer cannot run: {why}");
        }
        let mut ceilings = Vec::new();
        let mut offs = Vec::new();
        let mut ons = Vec::new();
        let mut binance_daemons = Vec::new();
        let mut peers = Vec::new();
        for round in 1..=rounds {
            let ceiling = ceiling(&options, &symbols).await;
            let off = daemon_full_speed(&options, &Venue::ALL, &symbols, false).await;
            let on = daemon_full_speed(&options, &Venue::ALL, &symbols, true).await;
            let binance =
                daemon_full_speed(&options, &[Venue::BinanceSpot], &symbols, true).await;
            if let Ok((python, _)) = &peer {
                match cryptofeed_binance(&options, &symbols, python).await {
                    Some(cryptofeed) => {
                        println!(
                            "round {round}: Binance trades + book: daemon {:.0} received, {:.0} end to end, {:.0} written ({:.2} CPU s/1M, {:.0} MiB); cryptofeed {:.0} received, {:.0} end to end ({:.2} CPU s/1M, complete {})",
                            binance.throughput.received_per_s,
                            binance.throughput.frames_per_s,
                            binance.throughput.written_per_s,
                            binance.throughput.cpu_per_million,
                            binance.peak_rss_mib,
                            cryptofeed.received_per_s,
                            cryptofeed.frames_per_s,
                            cryptofeed.cpu_per_million,
                            cryptofeed.complete,
                        );
                        peers.push(cryptofeed);
                    }
                    None => println!(
                        "round {round}: cryptofeed did not subscribe (see its log above)"
                    ),
                }
            }
            binance_daemons.push(binance);
            println!(
                "round {round}: ceiling {:.0} frames/s, {:.0} trades/s ({:.2} CPU s/1M); raw off {:.0} received, {:.0} end to end ({:.2} CPU s/1M, {:.0} MiB); raw on {:.0} received, {:.0} end to end, {:.0} written ({:.2} CPU s/1M, {:.0} MiB, {} dropped)",
                ceiling.frames_per_s,
                ceiling.trades_per_s,
                ceiling.cpu_per_million,
                off.throughput.received_per_s,
                off.throughput.frames_per_s,
                off.throughput.cpu_per_million,
                off.peak_rss_mib,
                on.throughput.received_per_s,
                on.throughput.frames_per_s,
                on.throughput.written_per_s,
                on.throughput.cpu_per_million,
                on.peak_rss_mib,
                on.drops
            );
            ceilings.push(ceiling);
            offs.push(off);
            ons.push(on);
        }
        let ceiling_frames = median(ceilings.iter().map(|c| c.frames_per_s).collect());
        let ceiling_cpu = median(ceilings.iter().map(|c| c.cpu_per_million).collect());
        let ceiling_seconds = median(ceilings.iter().map(|c| c.seconds).collect());
        let frames_per_step = ceiling_frames * ceiling_seconds / (options.steps as f64 * 4.0);
        let mut paced = Vec::new();
        for raw in [false, true] {
            paced.push((raw, daemon_paced(&symbols, frames_per_step * 4.0, 50_000.0, options.latency_seconds, raw).await));
        }
        println!();
        println!("medians of {rounds} rounds:");
        println!();
        println!("| run | frames/s received | frames/s end to end | end to end / ceiling | frames/s all raw trades written | CPU s per 1M frames | CPU / ceiling's | complete | peak RSS | RSS at end | dropped |");
        println!("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|");
        println!(
            "| ceiling (parse only, one thread) | {ceiling_frames:.0} | | 1.00 | | {ceiling_cpu:.2} | 1.00 | {} | | | |",
            ceilings.iter().all(|c| c.complete)
        );
        for (name, runs) in [
            ("daemon, raw trades off", &offs),
            ("daemon, raw trades on", &ons),
            ("daemon, Binance trades + book only (raw trades on)", &binance_daemons),
        ] {
            let frames = median(runs.iter().map(|r| r.throughput.frames_per_s).collect());
            let cpu = median(runs.iter().map(|r| r.throughput.cpu_per_million).collect());
            let written = median(runs.iter().map(|r| r.throughput.written_per_s).collect());
            println!(
                "| {name} | {:.0} | {frames:.0} | {:.2} | {} | {cpu:.2} | {:.2} | {} | {:.1} MiB | {:.1} MiB | {} |",
                median(runs.iter().map(|r| r.throughput.received_per_s).collect()),
                frames / ceiling_frames,
                if written.is_nan() { String::new() } else { format!("{written:.0}") },
                cpu / ceiling_cpu,
                runs.iter().all(|r| r.throughput.complete),
                median(runs.iter().map(|r| r.peak_rss_mib).collect()),
                median(runs.iter().map(|r| r.end_rss_mib).collect()),
                median(runs.iter().map(|r| r.drops).collect()),
            );
        }
        if let Ok((_, version)) = &peer {
            let frames = median(peers.iter().map(|r| r.frames_per_s).collect());
            let cpu = median(peers.iter().map(|r| r.cpu_per_million).collect());
            println!(
                "| cryptofeed {version}, same Binance frames | {:.0} | {frames:.0} | {:.2} | | {cpu:.2} | {:.2} | {} | | | |",
                median(peers.iter().map(|r| r.received_per_s).collect()),
                frames / ceiling_frames,
                cpu / ceiling_cpu,
                peers.iter().all(|r| r.complete),
            );
            let daemon = median(
                binance_daemons
                    .iter()
                    .map(|r| r.throughput.frames_per_s)
                    .collect(),
            );
            println!();
            println!(
                "the daemon on Binance trades + book, end to end: {:.1}x cryptofeed's",
                daemon / frames
            );
        }
        println!();
        for (raw, (rate, p50, p99, under, peak)) in paced {
            println!(
                "paced, raw trades {}: {rate:.0} frames/s for {} s: p50 {:.3} ms, p99 {:.3} ms, {:.2} % under 1 ms, peak RSS {peak:.1} MiB",
                if raw { "on" } else { "off" },
                options.latency_seconds,
                p50 * 1e3,
                p99 * 1e3,
                under * 100.0
            );
        }
    });
}
