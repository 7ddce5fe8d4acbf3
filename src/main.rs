//! The `wadm` command line: `wadm run` (the default), `wadm demo`, `wadm check-config`, `wadm simulate`,
//! `wadm profile`, `wadm replay`, `wadm backfill`, `wadm hash-key`, `wadm health`, `wadm mcp`,
//! `wadm --version`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, error, info, warn};
use wadm::config::{self, LoadOptions, Loaded};
use wadm::offline::profile::{self, ProfileError, ProfileOptions, Window};
use wadm::offline::replay::Replay;
use wadm::simulator::{Pace, SimConfig, Simulator};
use wadm::telemetry;
use wadm_actors::aggregator::order_flow::SessionAnchor;
use wadm_actors::model::{Price, Qty, Ratio, Symbol, Venue};

/// Exit status for an invalid configuration.
const EXIT_BAD_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "wadm",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("WADM_GIT_SHA"), ")"),
    about = "wAIckoff Data Manager: exchange feeds in, volume profile and order flow out"
)]
struct Cli {
    /// Configuration file, layered over config/default.toml (environment variables still win).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default when no command is given).
    Run,
    /// Run the daemon fed by a simulated exchange, in one process, offline: see WADM work
    /// (profiles fill within seconds) without touching the venues. The store is a temporary
    /// directory, deleted at exit.
    Demo {
        /// Port of the API on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8920)]
        port: u16,
        /// Seed of the simulated market.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Validate the configuration and print the effective result, secrets redacted.
    CheckConfig,
    /// Run a simulated exchange on 127.0.0.1 for every venue and symbol of the configuration.
    Simulate {
        /// Port to listen on.
        #[arg(long, default_value_t = 9100)]
        port: u16,
        /// Send as fast as clients read instead of in real time.
        #[arg(long)]
        full_speed: bool,
        /// Seed of the generated market.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Print the volume profile and order flow of a JSON-lines trades file (src/offline/README.md).
    Profile {
        /// Trades, one JSON object per line: {"ts": ms, "price": "..", "qty": "..", "side": "buy"|"sell"}.
        /// "-" reads standard input.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Row height (a decimal above zero).
        #[arg(long, value_parser = positive_price)]
        row_size: Price,
        /// Share of the volume in the value area, above 0 and at most 1.
        #[arg(long, default_value = "0.70", value_parser = share)]
        value_area: Ratio,
        /// Window: 1m, 5m, 15m, 1h, 4h, 1d, or all.
        #[arg(long, default_value = "all")]
        window: Window,
        /// Diagonal imbalance ratio, at least 1.
        #[arg(long, default_value = "3", value_parser = at_least_one)]
        imbalance_ratio: Ratio,
        /// Volume the dominant side of an imbalance must reach.
        #[arg(long, default_value = "0", value_parser = non_negative_qty)]
        imbalance_min_volume: Qty,
        /// Consecutive imbalanced rows that make a stacked imbalance (at least 2).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..))]
        stack: u16,
        /// Session start (UTC "HH:MM") where cumulative delta resets.
        #[arg(long, default_value = "00:00", value_parser = session_anchor)]
        session_anchor: SessionAnchor,
    },
    /// Generate a random API key: prints the key (shown only this once) and the entry to add
    /// to the configuration, which holds only its argon2 hash.
    HashKey {
        /// Who will hold the key (the name logs and the status endpoint show).
        #[arg(long, default_value = "mcp")]
        name: String,
    },
    /// Ask a running daemon's `/health` (for container health checks): exits 0 when it
    /// answers 200 (ok or degraded), 1 otherwise; prints the answer.
    Health {
        /// Address of the API (default: `api.bind` of the configuration, an unspecified
        /// address meaning this host).
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<std::net::SocketAddr>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Serve MCP on stdin/stdout for an LLM client: tools that read a running daemon's REST
    /// API (src/mcp/README.md). Logs go to stderr.
    Mcp {
        /// Base URL of the daemon's API (a path prefix is kept, e.g. behind a proxy).
        #[arg(long, env = "WADM_API_URL", default_value = "http://127.0.0.1:8920")]
        api_url: String,
        /// API key, sent as X-API-Key (needed when the daemon has `[[api.keys]]`). Prefer
        /// WADM_API_KEY: other users of the machine can read command-line arguments.
        #[arg(long, env = "WADM_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Deadline of each API request.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        /// Log filter (stderr), e.g. `info` or `wadm=debug`.
        #[arg(long, env = "WADM_MCP_LOG", default_value = "warn,wadm=info")]
        log: String,
    },
    /// Import the venues' public daily trade archives of past days into the store as 1m and
    /// 1h bars (and raw trades inside their retention); resumable, idempotent, verified
    /// (actors/src/backfill/README.md).
    Backfill {
        /// Venue: binance-spot, binance-usdm, bybit-spot or bybit-linear.
        #[arg(long)]
        venue: Venue,
        /// Symbol, e.g. BTCUSDT.
        #[arg(long, value_parser = symbol)]
        symbol: Symbol,
        /// First day (UTC, YYYY-MM-DD).
        #[arg(long, value_parser = day)]
        from: i64,
        /// Last day, included (UTC, YYYY-MM-DD; at the latest yesterday).
        #[arg(long, value_parser = day)]
        to: i64,
        /// Where downloads and the markers of imported days are kept (default: `archives`
        /// under the embedded store's directory).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Import days already imported again.
        #[arg(long)]
        force: bool,
        /// Keep the downloaded files after import.
        #[arg(long)]
        keep_files: bool,
    },
    /// Feed recordings of raw frames through the live parsers and aggregators and print a
    /// per-symbol summary (src/offline/README.md).
    Replay {
        /// Recording files, replayed in the order given (a directory: its recordings, oldest first).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn positive_price(text: &str) -> Result<Price, String> {
    match text.parse::<Price>() {
        Ok(price) if price.is_positive() => Ok(price),
        Ok(_) => Err("must be above zero".into()),
        Err(err) => Err(err.to_string()),
    }
}

fn share(text: &str) -> Result<Ratio, String> {
    match text.parse::<Ratio>() {
        Ok(share) if share.is_positive() && share <= Ratio::from_int(1) => Ok(share),
        Ok(_) => Err("must be above 0 and at most 1".into()),
        Err(err) => Err(err.to_string()),
    }
}

fn at_least_one(text: &str) -> Result<Ratio, String> {
    match text.parse::<Ratio>() {
        Ok(ratio) if ratio >= Ratio::from_int(1) => Ok(ratio),
        Ok(_) => Err("must be at least 1".into()),
        Err(err) => Err(err.to_string()),
    }
}

fn non_negative_qty(text: &str) -> Result<Qty, String> {
    Qty::parse_non_negative(text).map_err(|err| err.to_string())
}

fn hash_key(name: &str) -> ExitCode {
    if name.trim().is_empty() || name.len() > 64 || name.contains(['"', '\\', '\n']) {
        eprintln!("--name must be 1 to 64 characters, without quotes or backslashes");
        return ExitCode::FAILURE;
    }
    match wadm_actors::api::generate_key() {
        Ok((key, hash)) => {
            println!(
                "# API key for {name:?}: give it to the client; it is not stored anywhere and"
            );
            println!("# cannot be shown again:");
            println!("#   {key}");
            println!("# Add this to the configuration:");
            println!("[[api.keys]]");
            println!("name = \"{name}\"");
            println!("hash = \"{hash}\"");
            // The key's first characters: other keys are refused without argon2.
            println!(
                "prefix = \"{}\"",
                key.get(..wadm_actors::api::PREFIX_LEN).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("no key generated: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `wadm health`: one GET of `/health` with a deadline, no TLS (the API is local to the
/// container or host that asks).
fn health(
    options: &LoadOptions,
    addr: Option<std::net::SocketAddr>,
    timeout: std::time::Duration,
) -> ExitCode {
    use std::io::{Read as _, Write as _};
    let addr = match addr {
        Some(addr) => addr,
        None => {
            let loaded = match load(options) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let mut bind = loaded.config.api.bind;
            if bind.ip().is_unspecified() {
                bind.set_ip(match bind {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            bind
        }
    };
    let answer = (|| -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(stream, "GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut text = String::new();
        stream.take(64 * 1024).read_to_string(&mut text)?;
        Ok(text)
    })();
    match answer {
        Ok(text) => {
            let status = text.split_whitespace().nth(1).unwrap_or("");
            let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
            println!("{body}");
            if status == "200" {
                ExitCode::SUCCESS
            } else {
                eprintln!("wadm at {addr} answered {status:?}");
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("wadm at {addr} did not answer /health: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `wadm mcp`: the MCP server on stdio until the client closes it.
fn mcp(
    api_url: &str,
    api_key: Option<&str>,
    timeout: std::time::Duration,
    log: String,
) -> ExitCode {
    let log = config::LogConfig {
        filter: log,
        format: config::LogFormat::Text,
    };
    if let Err(err) = telemetry::init_tracing(&log) {
        eprintln!("wadm mcp: {err:#}");
        return ExitCode::from(EXIT_BAD_CONFIG);
    }
    let client = match wadm::mcp::client::ApiClient::new(api_url, api_key, timeout) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("wadm mcp: {err}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("wadm mcp: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(wadm::mcp::serve(client)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

fn session_anchor(text: &str) -> Result<SessionAnchor, String> {
    SessionAnchor::parse(text)
        .ok_or_else(|| "expected a UTC time of day such as 00:00 or 13:30".into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = LoadOptions::new(cli.config.clone(), environment());
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => check_config(&options),
        Command::Run => run(&options),
        Command::Demo { port, seed } => demo(&options, port, seed),
        Command::Simulate {
            port,
            full_speed,
            seed,
        } => simulate(&options, port, full_speed, seed),
        Command::Replay { files } => replay(&options, &files),
        Command::HashKey { name } => hash_key(&name),
        Command::Backfill {
            venue,
            symbol,
            from,
            to,
            cache_dir,
            force,
            keep_files,
        } => backfill(
            &options,
            venue,
            symbol,
            (from, to),
            cache_dir,
            force,
            keep_files,
        ),
        Command::Health { addr, timeout } => health(&options, addr, timeout),
        Command::Mcp {
            api_url,
            api_key,
            timeout,
            log,
        } => mcp(&api_url, api_key.as_deref(), timeout, log),
        Command::Profile {
            input,
            row_size,
            value_area,
            window,
            imbalance_ratio,
            imbalance_min_volume,
            stack,
            session_anchor,
        } => profile_file(
            &input,
            &ProfileOptions {
                row_size,
                value_area,
                window,
                imbalance_ratio,
                imbalance_min_volume,
                stack: usize::from(stack),
                session_anchor,
            },
        ),
    }
}

fn symbol(text: &str) -> Result<Symbol, String> {
    Symbol::new(text).map_err(|err| err.to_string())
}

fn day(text: &str) -> Result<i64, String> {
    wadm::archive::parse_day(text)
}

fn backfill(
    options: &LoadOptions,
    venue: Venue,
    symbol: Symbol,
    (from, to): (i64, i64),
    cache_dir: Option<PathBuf>,
    force: bool,
    keep_files: bool,
) -> ExitCode {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let loaded = match load_and_log(options) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let config = loaded.config;
    let request = wadm::archive::ImportRequest {
        venue,
        symbol,
        from,
        to,
        cache_dir: cache_dir.unwrap_or_else(|| wadm::archive::default_cache_dir(&config)),
        force,
        keep_files,
    };
    let runtime = match runtime(one_per_core()) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                warn!("interrupted: stopping after the current batch; run the same command again to resume");
                flag.store(true, Ordering::Relaxed);
                // A second Ctrl-C exits at once (the next run redoes the current day).
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        let progress = wadm::archive::progress::TerminalProgress::new();
        match wadm::archive::import_into_configured_store(&config, &request, &progress, cancel)
            .await
        {
            Ok(summary) => {
                match serde_json::to_string_pretty(&summary) {
                    Ok(text) => println!("{text}"),
                    Err(err) => error!(error = %err, "the summary could not be printed"),
                }
                if summary.interrupted {
                    ExitCode::from(130)
                } else if summary.complete() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(err) => {
                error!(error = format!("{err:#}"), "backfill failed");
                ExitCode::FAILURE
            }
        }
    })
}

fn replay(options: &LoadOptions, inputs: &[PathBuf]) -> ExitCode {
    use std::io::Write as _;

    let loaded = match load(options) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            match wadm_actors::recorder::recordings(input) {
                Ok(found) => files.extend(found),
                Err(err) => {
                    eprintln!("wadm replay: cannot list {}: {err}", input.display());
                    return ExitCode::FAILURE;
                }
            }
        } else {
            files.push(input.clone());
        }
    }
    let mut replay = Replay::new(&loaded.config);
    for file in &files {
        if let Err(err) = replay.file(file) {
            eprintln!("wadm replay: cannot read {}: {err}", file.display());
            return ExitCode::FAILURE;
        }
    }
    let outcome = replay.finish();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut stdout, &outcome.summary)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(stdout))
        .and_then(|()| stdout.flush());
    if let Err(err) = written {
        eprintln!("wadm replay: cannot write the summary: {err}");
        return ExitCode::FAILURE;
    }
    let bad = outcome.summary.bad_lines;
    if bad == 0 {
        return ExitCode::SUCCESS;
    }
    for (file, error) in &outcome.errors {
        eprintln!("{}: {error}", file.display());
    }
    if bad > outcome.errors.len() as u64 {
        eprintln!(
            "... and {} more bad lines",
            bad - outcome.errors.len() as u64
        );
    }
    eprintln!(
        "wadm replay: {bad} line{} skipped",
        if bad == 1 {
            " was not a recorded frame and was"
        } else {
            "s were not recorded frames and were"
        }
    );
    ExitCode::FAILURE
}

fn profile_file(input: &std::path::Path, options: &ProfileOptions) -> ExitCode {
    use std::io::Write as _;

    let result = if input == std::path::Path::new("-") {
        profile::profile(std::io::stdin().lock(), options)
    } else {
        match std::fs::File::open(input) {
            Ok(file) => profile::profile(std::io::BufReader::new(file), options),
            Err(err) => {
                eprintln!("wadm profile: cannot open {}: {err}", input.display());
                return ExitCode::FAILURE;
            }
        }
    };
    match result {
        Ok(output) => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(&mut stdout, &output)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(stdout))
                .and_then(|()| stdout.flush());
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("wadm profile: cannot write the result: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(ProfileError::BadLines { listed, total }) => {
            for error in &listed {
                eprintln!("{}: {error}", input.display());
            }
            if total > listed.len() as u64 {
                eprintln!("... and {} more bad lines", total - listed.len() as u64);
            }
            eprintln!(
                "wadm profile: {total} bad line{} in {}; nothing computed",
                if total == 1 { "" } else { "s" },
                input.display()
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("wadm profile: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The process environment as a map; variables that are not valid UTF-8 cannot be
/// configuration and are left out.
fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

fn load(options: &LoadOptions) -> Result<Loaded, ExitCode> {
    config::load(options).map_err(|err| {
        eprintln!("{err}");
        ExitCode::from(EXIT_BAD_CONFIG)
    })
}

fn check_config(options: &LoadOptions) -> ExitCode {
    let loaded = match load(options) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let files: Vec<String> = loaded
        .files
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    println!(
        "# configuration is valid (files: {})",
        if files.is_empty() {
            "none".into()
        } else {
            files.join(", ")
        }
    );
    print!("{}", loaded.effective_toml());
    ExitCode::SUCCESS
}

/// Loads the configuration and starts logging by it.
fn load_and_log(options: &LoadOptions) -> Result<Loaded, ExitCode> {
    let loaded = load(options)?;
    if let Err(err) = telemetry::init_tracing(&loaded.config.log) {
        eprintln!("{err:#}");
        return Err(ExitCode::FAILURE);
    }
    Ok(loaded)
}

/// One worker thread per core (the tools that are not the daemon: `backfill`, `simulate`).
fn one_per_core() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Builds the multi-threaded async runtime, with `worker_threads` workers
/// (`runtime.worker_threads`).
fn runtime(worker_threads: usize) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .enable_all()
        .thread_name("wadm")
        .build()
        .map_err(|err| {
            error!(error = %err, "cannot start the async runtime");
            ExitCode::FAILURE
        })
}

fn run(options: &LoadOptions) -> ExitCode {
    let loaded = match load_and_log(options) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let files: Vec<String> = loaded
        .files
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    // The start-up line (app.rs, "wadm started") has the essentials; the whole effective
    // configuration is here at debug level and printed by `wadm check-config`.
    debug!(files = %files.join(","), "effective configuration (secrets redacted):\n{}", loaded.effective_toml());
    let runtime = match runtime(loaded.config.runtime.worker_threads) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let outcome = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        wadm::run_reloading(loaded.config, options.clone(), shutdown).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = format!("{err:#}"), "wadm failed");
            ExitCode::FAILURE
        }
    }
}

fn demo(options: &LoadOptions, port: u16, seed: u64) -> ExitCode {
    let loaded = match load_and_log(options) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let worker_threads = loaded.config.runtime.worker_threads;
    drop(loaded);
    let runtime = match runtime(worker_threads) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let outcome = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let demo = wadm::demo::DemoOptions { port, seed };
        wadm::demo::run(&demo, options, shutdown).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = format!("{err:#}"), "wadm demo failed");
            ExitCode::FAILURE
        }
    }
}

fn simulate(options: &LoadOptions, port: u16, full_speed: bool, seed: u64) -> ExitCode {
    let loaded = match load_and_log(options) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let mut config = SimConfig::local(&[], &[]);
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    config.params.seed = seed;
    if full_speed {
        config.pace = Pace::FullSpeed;
    }
    config.venues = loaded
        .config
        .venues
        .iter()
        .map(|venue| {
            (
                venue.venue,
                venue
                    .symbols
                    .iter()
                    .map(|s| wadm::simulator::default_symbol(venue.venue, *s))
                    .collect(),
            )
        })
        .collect();
    let runtime = match runtime(one_per_core()) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async {
        // Listen for signals before telling anyone where to connect, so an early SIGINT
        // stops the simulator cleanly instead of killing it.
        let stop = match shutdown_signal() {
            Ok(stop) => stop,
            Err(err) => {
                error!(error = format!("{err:#}"), "signal handlers could not be installed");
                return ExitCode::FAILURE;
            }
        };
        let simulator = match Simulator::start(config).await {
            Ok(simulator) => simulator,
            Err(err) => {
                error!(error = format!("{err:#}"), "simulator failed to start");
                return ExitCode::FAILURE;
            }
        };
        println!("# simulated exchange on {}: point wadm at it with", simulator.addr());
        for venue in Venue::ALL {
            println!("[venues.{venue}]\nws_url = \"{}\"\nrest_url = \"{}\"\narchive_url = \"{}\"", simulator.ws_url(venue), simulator.rest_url(), simulator.rest_url());
        }
        println!("# misbehave with e.g. curl -X POST 'http://{}/sim/binance-spot/disconnect?clean=false'", simulator.addr());
        stop.await;
        simulator.stop().await;
        ExitCode::SUCCESS
    })
}

/// Resolves on the first SIGINT or SIGTERM. A second signal exits at once.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        info!(
            signal = name,
            "shutdown signal received; a second signal exits at once"
        );
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            warn!(signal = name, "second shutdown signal: exiting at once");
            std::process::exit(130);
        });
    })
}
