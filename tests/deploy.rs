//! Deployment files checked without a Docker engine: the Prometheus configuration and alert
//! rules pass `promtool` (Debian's `prometheus` package, installed by `.ci/run`), and
//! Prometheus itself, run with the project's scrape configuration, scrapes a daemon fed by
//! the simulated exchange.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::live::{LONG, wait_until};
use wadm_actors::model::Venue;

fn prometheus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docker/prometheus")
}

/// Copies the project's Prometheus directory into `dir`, with the API key file an operator
/// puts next to the configuration.
fn prometheus_copy(dir: &Path, key: &str) -> PathBuf {
    for file in ["prometheus.yml", "alerts.yml"] {
        std::fs::copy(prometheus_dir().join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("wadm_api_key"), key).unwrap();
    dir.join("prometheus.yml")
}

fn promtool(args: &[&str]) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("promtool (Debian package prometheus) must be installed: {err}")
        });
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn promtool_accepts_the_scrape_configuration_and_the_alert_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config = prometheus_copy(dir.path(), "wadm_test_key");
    let (ok, output) = promtool(&["check", "config", config.to_str().unwrap()]);
    assert!(ok, "{output}");
    assert!(output.contains("1 rule files found"), "{output}");
    let (ok, output) = promtool(&[
        "check",
        "rules",
        dir.path().join("alerts.yml").to_str().unwrap(),
    ]);
    assert!(ok, "{output}");
    // A broken rule is refused: the check can fail.
    std::fs::write(
        dir.path().join("alerts.yml"),
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(\n",
    )
    .unwrap();
    let (ok, _) = promtool(&["check", "config", config.to_str().unwrap()]);
    assert!(!ok, "promtool must refuse a broken rule file");
}

/// A GET on 127.0.0.1 answered with its body, or None.
fn get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The series of `query` Prometheus holds now.
fn query(prometheus: &str, query: &str) -> Vec<serde_json::Value> {
    get(prometheus, &format!("/api/v1/query?query={query}"))
        .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_with_the_project_config_scrapes_a_daemon_fed_by_the_simulator() {
    let venues = [Venue::BinanceSpot, Venue::BybitSpot];
    let sim = common::live::simulator(&venues, &["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    // /metrics needs a key when keys are configured: Prometheus sends it from its file.
    let (key, hash) = wadm_actors::api::generate_key().unwrap();
    let config = dir.path().join("wadm.toml");
    std::fs::write(
        &config,
        format!("[[api.keys]]\nname = \"prometheus\"\nhash = \"{hash}\"\n"),
    )
    .unwrap();
    let env = common::live::env_for(&sim, &venues, &["BTCUSDT"], &[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut daemon = common::Daemon::start(
        &["--config", config.to_str().unwrap(), "run"],
        &env,
        dir.path(),
    );
    let started = daemon.wait_for_line("wadm started", LONG);
    let api = started
        .split("api=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();

    // The project's configuration, pointed at this daemon, scraping every second.
    let prometheus_config = prometheus_copy(dir.path(), &key);
    let text = std::fs::read_to_string(&prometheus_config).unwrap();
    assert!(text.contains("\"wadm:8920\"") && text.contains("scrape_interval: 15s"));
    let text = text
        .replace("\"wadm:8920\"", &format!("\"{api}\""))
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    std::fs::write(&prometheus_config, text).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let _prometheus = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian package prometheus) must be installed"),
    );

    wait_until(LONG, "the wadm target up", || async {
        let listen = listen.clone();
        tokio::task::spawn_blocking(move || {
            get(&listen, "/api/v1/targets")
                .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
                .is_some_and(|v| {
                    v["data"]["activeTargets"]
                        .as_array()
                        .is_some_and(|t| t.len() == 1 && t[0]["health"] == "up")
                })
        })
        .await
        .unwrap()
    })
    .await;
    for metric in [
        "wadm_build_info",
        "wadm_ws_connected",
        "wadm_ws_messages_received_total",
        "wadm_aggregator_trades_total",
        "wadm_pipeline_latency_seconds_bucket",
        "wadm_persistence_documents_written_total",
        "wadm_api_requests_total",
    ] {
        wait_until(LONG, &format!("samples of {metric}"), || async {
            let listen = listen.clone();
            tokio::task::spawn_blocking(move || !query(&listen, metric).is_empty())
                .await
                .unwrap()
        })
        .await;
    }
    // Both venues stream, as Prometheus sees it.
    let connected = query(&listen, "wadm_ws_connected");
    for venue in venues {
        assert!(
            connected
                .iter()
                .any(|s| s["metric"]["venue"] == venue.as_str() && s["value"][1] == "1"),
            "{venue}: {connected:?}"
        );
    }
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, _) = tokio::task::spawn_blocking(move || daemon.wait_exit(LONG))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    sim.stop().await;
}

fn analyze_security(unit: &Path) -> (bool, String) {
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(unit)
        .output()
        .unwrap_or_else(|err| {
            panic!("systemd-analyze (Debian package systemd) must be installed: {err}")
        });
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The unit is hardened (`systemd-analyze security` rates it at most 2.0, "OK"; a bare unit
/// is refused by the same check), and it gives the daemon's graceful stop its full deadline.
#[test]
fn the_systemd_unit_is_hardened_and_waits_for_the_graceful_stop() {
    let unit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docker/systemd/wadm.service");
    let (ok, output) = analyze_security(&unit);
    assert!(ok, "{output}");
    assert!(
        output.contains("Overall exposure level for wadm.service"),
        "{output}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("wadm.service");
    std::fs::write(&bare, "[Service]\nExecStart=/usr/local/bin/wadm run\n").unwrap();
    assert!(
        !analyze_security(&bare).0,
        "an unhardened unit must fail the check"
    );

    let text = std::fs::read_to_string(&unit).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} is set"))
            .to_owned()
    };
    assert!(value("ExecStart").starts_with("/usr/local/bin/wadm run"));
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert_eq!(value("StateDirectory"), "wadm");
    assert_eq!(
        value("Environment"),
        "WADM__STORAGE__EMBEDDED__PATH=/var/lib/wadm",
        "the embedded store lives in the state directory"
    );
    let stop = humantime::parse_duration(&value("TimeoutStopSec")).unwrap();
    let defaults = wadm::config::load(&wadm::config::LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: None,
        env: std::collections::BTreeMap::new(),
    })
    .unwrap()
    .config;
    assert!(
        stop > defaults.shutdown_timeout,
        "systemd must not kill the daemon before its own shutdown deadline"
    );
}
