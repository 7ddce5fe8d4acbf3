//! `wadm demo`: the whole daemon fed by the simulated exchange, in one process, offline.
//!
//! A simulated exchange on 127.0.0.1 plays every venue (Binance spot and USD-M, Bybit spot
//! and linear) for the configured symbols in real time; the daemon connects to it exactly as
//! it would to the venues (WebSocket streams, REST snapshots, instrument metadata), with an
//! embedded store in a temporary directory that is deleted at exit. Nothing leaves the
//! machine. The configuration (files and environment) applies as for `wadm run`, except the
//! venues' URLs, the store, the API address and its rate limit (60,000 requests a minute:
//! the demo is a local playground), which the demo sets.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use wadm_actors::model::Venue;

use crate::app::Daemon;
use crate::config::{self, LoadOptions};
use crate::simulator::{Pace, SimConfig, Simulator, default_symbol};

/// What `wadm demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Port of the API on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Seed of the simulated market.
    pub seed: u64,
}

/// A running demo: the simulator, the daemon and the store's directory.
#[derive(Debug)]
pub struct Demo {
    pub daemon: Daemon,
    /// The simulated exchange.
    pub simulator: Simulator,
    /// The embedded store's directory (deleted when the demo is dropped).
    pub store_dir: tempfile::TempDir,
}

impl Demo {
    /// Starts the simulated exchange, then the daemon pointed at it.
    pub async fn start(options: &DemoOptions, load: &LoadOptions) -> anyhow::Result<Demo> {
        // The configured symbols of every venue (all four venues are played).
        let configured = config::load(load)?.config;
        let venues: Vec<(Venue, Vec<String>)> = Venue::ALL
            .iter()
            .map(|&venue| {
                let symbols = configured
                    .venues
                    .iter()
                    .find(|v| v.venue == venue)
                    .map(|v| v.symbols.iter().map(|s| s.as_str().to_owned()).collect())
                    .unwrap_or_default();
                (venue, symbols)
            })
            .filter(|(_, symbols): &(Venue, Vec<String>)| !symbols.is_empty())
            .collect();
        anyhow::ensure!(!venues.is_empty(), "no venue has symbols to play");
        let mut sim = SimConfig::local(&[], &[]);
        sim.params.seed = options.seed;
        // A lively but light market: 1-3 trades per symbol every 50 ms.
        sim.pace = Pace::RealTime {
            tick: std::time::Duration::from_millis(50),
        };
        sim.venues = venues
            .iter()
            .map(|(venue, symbols)| {
                (
                    *venue,
                    symbols
                        .iter()
                        .filter_map(|s| wadm_actors::model::Symbol::new(s).ok())
                        .map(|s| default_symbol(*venue, s))
                        .collect(),
                )
            })
            .collect();
        let simulator = Simulator::start(sim)
            .await
            .context("the simulated exchange could not start")?;
        let store_dir = tempfile::Builder::new()
            .prefix("wadm-demo-")
            .tempdir()
            .context("no temporary directory for the demo's store")?;
        let mut env = load.env.clone();
        for (venue, symbols) in &venues {
            let symbols: Vec<&str> = symbols.iter().map(String::as_str).collect();
            env.extend(simulator.venue_env(&[*venue], &symbols));
            let key = venue.as_str().replace('-', "_").to_ascii_uppercase();
            env.insert(format!("WADM__VENUES__{key}__ENABLED"), "true".into());
        }
        env.insert("WADM__STORAGE__TYPE".into(), "embedded".into());
        env.insert(
            "WADM__STORAGE__EMBEDDED__PATH".into(),
            store_dir.path().display().to_string(),
        );
        env.insert(
            "WADM__API__BIND".into(),
            SocketAddr::from(([127, 0, 0, 1], options.port)).to_string(),
        );
        env.insert("WADM__API__PUBLISHED_HOST".into(), String::new());
        // A playground on this machine: scripts and pages may poll it hard.
        env.insert("WADM__API__REQUESTS_PER_MINUTE".into(), "60000".into());
        env.insert("WADM__API__BURST".into(), "1000".into());
        let loaded = config::load(&LoadOptions {
            env,
            ..load.clone()
        })?;
        let daemon = Daemon::start(loaded.config)
            .await
            .context("the daemon could not start")?;
        Ok(Demo {
            daemon,
            simulator,
            store_dir,
        })
    }

    /// What to tell the user: where everything is and what to ask first.
    pub fn banner(&self) -> String {
        let api = format!("http://{}", self.daemon.api_addr);
        format!(
            "WADM demo: a simulated exchange on {sim} plays Binance and Bybit; nothing leaves this machine.\n\
             API:     {api}/api/v1/symbols\n\
             try:     curl -s '{api}/api/v1/volume-profile/BTCUSDT?venue=binance-spot&window=1h'\n\
             \x20        curl -s '{api}/api/v1/order-flow/current/BTCUSDT?venue=bybit-spot&window=1h'\n\
             \x20        curl -s '{api}/api/v1/status'   and   {api}/metrics\n\
             MCP:     wadm mcp --api-url {api}\n\
             store:   {store} (deleted at exit)\n\
             Ctrl-C stops the demo.",
            sim = self.simulator.addr(),
            store = self.store_dir.path().display(),
        )
    }

    /// Stops the daemon (cleanly, writing what it holds), then the simulator.
    pub async fn stop(self) -> anyhow::Result<()> {
        let stopped = self.daemon.shutdown().await;
        self.simulator.stop().await;
        drop(self.store_dir);
        stopped
    }
}

/// Runs the demo until `shutdown` resolves; prints the banner on standard output.
pub async fn run(
    options: &DemoOptions,
    load: &LoadOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let demo = Demo::start(options, load).await?;
    println!("{}", demo.banner());
    shutdown.await;
    demo.stop().await
}
