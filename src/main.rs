//! The `wadm` command line: `wadm run` (the default), `wadm check-config`, `wadm --version`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};
use wadm::config::{self, LoadOptions, Loaded};
use wadm::simulator::{Pace, SimConfig, Simulator};
use wadm::telemetry;
use wadm_actors::model::Venue;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = LoadOptions::new(cli.config.clone(), environment());
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => check_config(&options),
        Command::Run => run(&options),
        Command::Simulate {
            port,
            full_speed,
            seed,
        } => simulate(&options, port, full_speed, seed),
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

/// Builds the multi-threaded async runtime.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
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
    info!(files = %files.join(","), "effective configuration (secrets redacted):\n{}", loaded.effective_toml());
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let outcome = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        wadm::run(loaded.config, shutdown).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = format!("{err:#}"), "wadm failed");
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
    let runtime = match runtime() {
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
            println!("[venues.{venue}]\nws_url = \"{}\"\nrest_url = \"{}\"", simulator.ws_url(venue), simulator.rest_url());
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
