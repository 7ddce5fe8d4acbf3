//! Telemetry setup: the tracing subscriber, the Prometheus recorder, and build information.
//!
//! The recorder is process-global and installed once; [`metrics_handle`] returns it to
//! whoever renders `/metrics`, so the daemon can be started several times in one test
//! process.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (`unknown` outside a checkout).
pub const GIT_SHA: &str = env!("WADM_GIT_SHA");

/// Name of the build information gauge (always 1, labelled with version and commit).
pub const BUILD_INFO: &str = "wadm_build_info";

/// Name of the counter of panics caught by the panic hook (any thread).
pub const PANICS_TOTAL: &str = "wadm_panics_total";

/// Installs the global tracing subscriber, writing to stderr, and the panic hook.
pub fn init_tracing(log: &LogConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&log.filter)
        .with_context(|| format!("invalid log filter {:?}", log.filter))?;
    // Colours only on a terminal: files, pipes and journald get plain text.
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let installed = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|err| anyhow::anyhow!("cannot install the tracing subscriber: {err}"))?;
    install_panic_hook();
    Ok(())
}

/// Replaces the default panic output (a message and, with `RUST_BACKTRACE`, a backtrace of
/// tens of kilobytes on stderr) by one error line in the log and a count: a panic is a bug
/// to report, never a way for hostile input to flood the disk. Supervisors restart the
/// actor that panicked; the API answers 500 for a request that did.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        metrics::counter!(PANICS_TOTAL).increment(1);
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            location = %location,
            panic = message,
            "a thread panicked (a bug: please report it with this line)"
        );
    }));
}

/// Bucket bounds of every `_seconds` histogram: 50 microseconds to 30 seconds.
pub const SECONDS_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 5.0, 30.0,
];

/// Bucket bounds of every `_documents` histogram (documents per batch).
pub const DOCUMENTS_BUCKETS: [f64; 10] = [
    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
];

/// Returns the handle of the global Prometheus recorder, installing it on first use.
/// Histograms are rendered as Prometheus histograms (buckets), so they aggregate across
/// labels and instances.
pub fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("_documents".into()),
                        &DOCUMENTS_BUCKETS,
                    )
                })
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|err| err.to_string())
        })
        .clone()
        .map_err(|err| anyhow::anyhow!("cannot install the Prometheus recorder: {err}"))
}

/// Sets `wadm_build_info{version, git_sha}` to 1.
pub fn record_build_info() {
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; labelled with the version and git commit of the running binary."
    );
    metrics::gauge!(BUILD_INFO, "version" => VERSION, "git_sha" => GIT_SHA).set(1.0);
    metrics::describe_counter!(
        PANICS_TOTAL,
        "Panics in any thread, each logged as one error line without a backtrace."
    );
    metrics::counter!(PANICS_TOTAL).increment(0);
}
