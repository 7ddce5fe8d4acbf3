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

/// Runs `program args...` from Debian's `package`: (success, stdout and stderr).
fn run_tool(program: &str, package: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("{program} (Debian package {package}) must be installed: {err}")
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

fn promtool(args: &[&str]) -> (bool, String) {
    run_tool("promtool", "prometheus", args)
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
    let unit = unit.to_str().unwrap();
    run_tool(
        "systemd-analyze",
        "systemd",
        &["security", "--offline=yes", "--threshold=20", unit],
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

fn docker_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docker")
}

/// The compose file as JSON (parsed by PyYAML, which `tests/run.sh` installs with schemathesis).
fn compose() -> serde_json::Value {
    let output = Command::new(common::python())
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(docker_dir().join("compose.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "compose.yaml must parse (python3 with PyYAML: `tests/run.sh setup`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `${NAME}`, `${NAME:-default}` and `${NAME:?message}` references: (name, default).
fn variables(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let inner = &rest[start + 2..];
        let end = inner.find('}').unwrap();
        let reference = &inner[..end];
        let name: String = reference
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let default = reference
            .strip_prefix(&format!("{name}:-"))
            .map(str::to_owned);
        found.push((name, default));
        rest = &inner[end..];
    }
    found
}

/// `NAME=value` lines of `.env.example`.
fn env_example() -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(docker_dir().join(".env.example"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Replaces every variable reference with its `.env.example` value.
/// The environment compose passes to wadm, interpolated from `env`.
fn wadm_env(
    compose: &serde_json::Value,
    env: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    compose["services"]["wadm"]["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), interpolate(v.as_str().unwrap(), env)))
        .collect()
}

fn interpolate(text: &str, env: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let end = inner.find('}').unwrap();
        let name: String = inner[..end]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push_str(&env[&name]);
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_compose_stack_references_existing_files_and_documented_variables() {
    let compose = compose();
    let services = compose["services"].as_object().unwrap();
    for name in ["wadm", "mongo", "prometheus", "grafana", "caddy"] {
        assert!(services.contains_key(name), "service {name}");
    }
    // Every bind mount and the build refer to files that exist.
    let dir = docker_dir();
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if source.starts_with('.') {
                assert!(dir.join(source).exists(), "{name}: {source} does not exist");
            } else {
                assert!(
                    compose["volumes"].get(source).is_some(),
                    "{name}: volume {source} is not declared"
                );
            }
        }
        assert!(
            service["restart"] == "unless-stopped",
            "{name} needs a restart policy"
        );
    }
    let build = &services["wadm"]["build"];
    let context = dir.join(build["context"].as_str().unwrap());
    assert!(context.join(build["dockerfile"].as_str().unwrap()).exists());

    // Every variable compose uses is documented in .env.example, and every documented one is
    // used.
    let text = std::fs::read_to_string(dir.join("compose.yaml")).unwrap();
    let env = env_example();
    let used: std::collections::BTreeSet<String> =
        variables(&text).into_iter().map(|(name, _)| name).collect();
    let documented: std::collections::BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(used, documented, "compose.yaml variables vs .env.example");
    for (name, default) in variables(&text) {
        if let Some(default) = default {
            assert_eq!(
                env[&name], default,
                "{name}: .env.example and the default agree"
            );
        }
    }

    // Every variable passed to wadm is one the daemon reads: a legacy name it lists, or a
    // WADM__ key of its configuration (an unknown one fails the load); together, over the
    // shipped wadm.toml, they make a valid configuration.
    let wadm_env = wadm_env(&compose, &env);
    for key in wadm_env.keys() {
        assert!(
            key.starts_with(wadm::config::ENV_PREFIX)
                || wadm::config::LEGACY_VARIABLES.contains(&key.as_str()),
            "{key} is passed to wadm but it does not read it"
        );
    }
    let loaded = wadm::config::load(&wadm::config::LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: Some(dir.join("wadm.toml")),
        env: wadm_env.clone(),
    })
    .unwrap_or_else(|err| panic!("{err}"));
    for symbol in env["BINANCE_SYMBOLS"].split(',') {
        assert!(
            loaded.config.venues[0]
                .symbols
                .iter()
                .any(|s| s.as_str() == symbol),
            "BINANCE_SYMBOLS reaches binance-spot"
        );
    }
    assert!(matches!(
        loaded.config.storage,
        wadm::config::StorageConfig::MongoDb { .. }
    ));

    // The API port, the published port and the health checks agree with the configuration.
    let port = loaded.config.api.bind.port();
    let published = services["wadm"]["ports"][0].as_str().unwrap();
    assert!(
        published.ends_with(&format!(":{port}")),
        "{published} publishes the API port {port}"
    );
    let health: Vec<&str> = services["wadm"]["healthcheck"]["test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        health,
        [
            "CMD",
            "/usr/local/bin/wadm",
            "health",
            "--addr",
            &format!("127.0.0.1:{port}")
        ]
    );
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("EXPOSE {port}")));
    assert!(dockerfile.contains(&format!("\"health\", \"--addr\", \"127.0.0.1:{port}\"")));
    let stop =
        humantime::parse_duration(services["wadm"]["stop_grace_period"].as_str().unwrap()).unwrap();
    assert!(
        stop > loaded.config.shutdown_timeout,
        "compose must wait for the graceful stop"
    );
    // The Prometheus target is the wadm service on the API port.
    let scrape = std::fs::read_to_string(prometheus_dir().join("prometheus.yml")).unwrap();
    assert!(scrape.contains(&format!("\"wadm:{port}\"")));

    // Only the API (or the TLS proxy) is published beyond the host's loopback.
    for (name, service) in services {
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = interpolate(port.as_str().unwrap(), &env);
            if !["wadm", "caddy"].contains(&name.as_str()) {
                assert!(port.starts_with("127.0.0.1:"), "{name} publishes {port}");
            }
        }
    }
    assert_eq!(services["caddy"]["profiles"][0], "tls");
    // wadm, mongo, prometheus and grafana have health checks; wadm waits for mongo's.
    for name in ["wadm", "mongo", "prometheus", "grafana"] {
        assert!(services[name]["healthcheck"]["test"].is_array(), "{name}");
    }
    assert_eq!(
        services["wadm"]["depends_on"]["mongo"]["condition"],
        "service_healthy"
    );
}

/// The stack's wadm configuration over `env`.
fn stack_config(
    env: &std::collections::BTreeMap<String, String>,
) -> Result<wadm::config::Loaded, String> {
    wadm::config::load(&wadm::config::LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: Some(docker_dir().join("wadm.toml")),
        env: wadm_env(&compose(), env),
    })
    .map_err(|err| err.to_string())
}

#[test]
fn the_compose_stack_needs_keys_to_publish_the_api_beyond_loopback_and_rotates_logs() {
    // The shipped settings: published on the host's loopback, no keys, no opt-out needed.
    let env = env_example();
    let loaded = stack_config(&env).unwrap_or_else(|err| panic!("{err}"));
    assert!(loaded.config.api.settings.keys.is_empty());
    assert!(
        !loaded.config.api.settings.allow_unauthenticated,
        "the stack does not switch the bind safeguard off"
    );
    assert_eq!(
        loaded.config.api.settings.published_host.as_deref(),
        Some("127.0.0.1")
    );
    // Published on every interface (or a public address) without keys: refused at start.
    for host in ["0.0.0.0", "203.0.113.7"] {
        let mut published = env.clone();
        published.insert("WADM_API_HOST".into(), host.into());
        let problems = stack_config(&published)
            .err()
            .unwrap_or_else(|| panic!("publishing the API on {host} without keys must be refused"));
        assert!(problems.contains("api.published_host"), "{problems}");
    }
    // Every service's log is rotated by Docker.
    let compose = compose();
    for (name, service) in compose["services"].as_object().unwrap() {
        let logging = &service["logging"];
        assert_eq!(logging["driver"], "json-file", "{name}");
        let size = logging["options"]["max-size"].as_str().unwrap_or("");
        let files: u32 = logging["options"]["max-file"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            size.ends_with('m') && (1..=20).contains(&files),
            "{name} rotates its log: {logging}"
        );
    }
}
