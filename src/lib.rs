//! WADM (wAIckoff Data Manager): exchange feeds in, volume profile and order flow out.
//!
//! This crate is the binary's thin library: [`run`] starts the whole daemon in-process, so
//! tests can drive it exactly as `wadm run` does.
//!
//! # Layout
//! - [`config`]: layered, validated configuration.
//! - [`telemetry`]: tracing, the Prometheus recorder, build information.
//! - [`simulator`]: a simulated exchange on 127.0.0.1 for tests, benchmarks and `wadm simulate`.
//! - [`app`]: the composition root that builds and runs the daemon.
//! - [`demo`]: `wadm demo`, the daemon fed by the simulator in one process, offline.
//! - [`offline`]: `wadm profile` and `wadm replay`.
//! - [`archive`]: `wadm backfill`, the import of the venues' daily trade archives.
//! - [`mcp`]: `wadm mcp`, the MCP server (stdio) whose tools read the REST API.

#![forbid(unsafe_code)]

pub mod app;
pub mod archive;
pub mod config;
pub mod demo;
pub mod mcp;
pub mod offline;
pub mod simulator;
pub mod telemetry;

use std::future::Future;

pub use config::Config;

/// Runs the daemon with `config` until `shutdown` resolves, then stops cleanly; returns an
/// error if the supervision tree gives up first.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    app::run(config, shutdown).await
}

/// Runs the daemon until `shutdown` resolves, reloading its alert rules from `options` on
/// each SIGHUP (`app::run_reloading`).
pub async fn run_reloading(
    config: Config,
    options: config::LoadOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    app::run_reloading(config, options, shutdown).await
}
