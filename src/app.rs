//! The composition root: builds the daemon from its configuration and runs it until
//! shutdown is requested.
//!
//! For now the daemon reports its configuration, keeps its telemetry alive and stops on
//! request; the collectors, aggregators, persistence and API actors attach here as they
//! are built.

use std::future::Future;
use std::time::Duration;

use tracing::{info, warn};

use crate::config::{Config, StorageConfig, redact_uri};
use crate::telemetry;

/// How often the Prometheus recorder's histograms are maintained.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the daemon until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    let metrics = telemetry::metrics_handle()?;
    telemetry::record_build_info();
    info!(
        version = telemetry::VERSION,
        git_sha = telemetry::GIT_SHA,
        "wadm starting"
    );
    log_summary(&config);

    let upkeep = tokio::spawn(async move {
        let mut interval = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
        loop {
            interval.tick().await;
            metrics.run_upkeep();
        }
    });

    info!(api_bind = %config.api.bind, "wadm started");
    shutdown.await;
    info!("shutdown requested, stopping");
    upkeep.abort();
    info!("wadm stopped");
    Ok(())
}

/// Logs what the daemon will do, one line per venue, secrets redacted.
fn log_summary(config: &Config) {
    match &config.storage {
        StorageConfig::Embedded { path } => {
            info!(store = "embedded", path = %path.display(), "storage")
        }
        StorageConfig::MongoDb { uri, database } => {
            info!(store = "mongodb", uri = %redact_uri(uri.expose()), database = %database, "storage");
        }
    }
    let mut enabled = 0;
    for venue in config.enabled_venues() {
        enabled += 1;
        let symbols: Vec<&str> = venue.symbols.iter().map(|symbol| symbol.as_str()).collect();
        let streams: Vec<String> = venue
            .streams
            .iter()
            .map(|stream| stream.name_for(venue.venue))
            .collect();
        info!(
            venue = %venue.venue,
            symbols = %symbols.join(","),
            streams = %streams.join(","),
            ws_url = %venue.ws_url,
            "venue enabled"
        );
    }
    if enabled == 0 {
        warn!("no venue is enabled: nothing will be collected");
    }
}
