//! The `wadm` command line, run as a real process.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::Daemon;
use nix::sys::signal::Signal;

const DEADLINE: Duration = Duration::from_secs(20);

/// A configuration that reaches nothing outside 127.0.0.1.
const LOCAL_CONFIG: &str = r#"
[api]
bind = "127.0.0.1:0"

[storage.embedded]
path = "data"

[venues.binance-spot]
ws_url = "ws://127.0.0.1:9"
rest_url = "http://127.0.0.1:9"

[venues.bybit-spot]
ws_url = "ws://127.0.0.1:9/v5/public/spot"
rest_url = "http://127.0.0.1:9"
"#;

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("wadm.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn check_config_with_three_different_mistakes_names_all_three_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        r#"
[api]
bnid = "127.0.0.1:8920"          # mistake 1: unknown key

[retention]
raw_trades = "1 fortnight"       # mistake 2: not a duration

[symbols.BTCUSDT]
tick_size = "0.3"
row_size = "10"                  # mistake 3: not a whole multiple of the tick size
"#,
    );
    let output = Command::new(common::wadm_binary())
        .args(["check-config", "--config", &config])
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(stderr.contains("api.bnid: unknown key"), "{stderr}");
    assert!(
        stderr.contains("retention.raw_trades: \"1 fortnight\" is not a duration"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("symbols.BTCUSDT.row_size: 10 is not a whole multiple of the tick size 0.3"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, LOCAL_CONFIG);
    let output = Command::new(common::wadm_binary())
        .args(["check-config", "--config", &config])
        .current_dir(dir.path())
        .env_clear()
        .env(
            "MONGODB_URI",
            "mongodb://wadm:hunter2-secret@127.0.0.1:27017/?authSource=admin",
        )
        .env("BYBIT_SYMBOLS", "SOLUSDT,DOGEUSDT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("# configuration is valid"), "{stdout}");
    assert!(
        stdout.contains("uri = \"mongodb://wadm:****@127.0.0.1:27017/?authSource=admin\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("symbols = [\"SOLUSDT\", \"DOGEUSDT\"]"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn a_missing_config_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(common::wadm_binary())
        .args(["run", "--config", "does-not-exist.toml"])
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("does-not-exist.toml: cannot be read")
    );
}

#[test]
fn mcp_refuses_an_unusable_api_url_or_key_with_exit_2_and_writes_nothing_to_stdout() {
    for (args, env, reason) in [
        (
            vec!["mcp", "--api-url", "ftp://host/"],
            vec![],
            "http:// or https://",
        ),
        (
            vec!["mcp"],
            vec![("WADM_API_URL", "127.0.0.1:8920")],
            "not a URL",
        ),
        (vec!["mcp"], vec![("WADM_API_KEY", "two\nlines")], "API key"),
    ] {
        let output = Command::new(common::wadm_binary())
            .args(&args)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        // stdout belongs to the protocol.
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn version_names_the_crate_version() {
    let output = Command::new(common::wadm_binary())
        .arg("--version")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.starts_with(&format!("wadm {} (", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

#[test]
fn run_logs_its_redacted_configuration_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, LOCAL_CONFIG);
    let uri = (
        "MONGODB_URI",
        "mongodb://wadm:hunter2-secret@127.0.0.1:1/?authSource=admin",
    );
    // At the default level one line says what runs; at debug, the whole configuration.
    for level in ["info", "debug"] {
        let mut daemon = Daemon::start(
            &["run", "--config", &config],
            &[uri, ("WADM__LOG__LEVEL", level)],
            dir.path(),
        );
        let started = daemon.wait_for_line("wadm started", DEADLINE);
        for essential in [
            "api=127.0.0.1:",
            "version=",
            "store=mongodb:mongodb://wadm:****@127.0.0.1:1",
            "venues=",
        ] {
            assert!(started.contains(essential), "{essential}: {started}");
        }
        daemon.signal(Signal::SIGTERM);
        let (status, stderr) = daemon.wait_exit(DEADLINE);
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert_eq!(
            stderr.contains("effective configuration"),
            level == "debug",
            "{level}: {stderr}"
        );
        assert!(
            stderr.contains("signal=\"SIGTERM\"") || stderr.contains("signal=SIGTERM"),
            "{stderr}"
        );
        assert!(stderr.contains("wadm stopped"), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the password leaked into the logs:\n{stderr}"
        );
    }
}

#[test]
fn run_is_the_default_command_and_stops_cleanly_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, LOCAL_CONFIG);
    let mut daemon = Daemon::start(&["--config", &config], &[], dir.path());
    daemon.wait_for_line("wadm started", DEADLINE);
    daemon.signal(Signal::SIGINT);
    let (status, stderr) = daemon.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("wadm stopped"), "{stderr}");
}

#[test]
fn run_with_an_invalid_environment_value_exits_2_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, LOCAL_CONFIG);
    let output = Command::new(common::wadm_binary())
        .args(["run", "--config", &config])
        .current_dir(dir.path())
        .env_clear()
        .env("WADM__API__BIND", "not-an-address")
        .env("COLLECTORS_ENABLED", "kraken")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("api.bind"), "{stderr}");
    assert!(stderr.contains("env COLLECTORS_ENABLED"), "{stderr}");
    assert!(!stderr.contains("wadm started"));
}

#[test]
fn simulate_serves_the_venues_and_stops_on_sigint() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, LOCAL_CONFIG);
    let mut child = Command::new(common::wadm_binary())
        .args(["simulate", "--port", "0", "--config", &config])
        .current_dir(dir.path())
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // "# simulated exchange on 127.0.0.1:PORT: point wadm at it with"
    let addr = first
        .split_whitespace()
        .nth(4)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");
    // Each venue's table, up to the closing hint.
    let mut printed = String::new();
    while !printed.contains("# misbehave") {
        assert!(stdout.read_line(&mut printed).unwrap() > 0, "{printed}");
    }
    assert!(
        printed.contains(&format!("ws_url = \"ws://{addr}/v5/public/spot\"")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("archive_url = \"http://{addr}/\"")),
        "{printed}"
    );
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(stream, "GET /api/v3/exchangeInfo?symbol=BTCUSDT HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""tickSize":"0.01""#), "{answer}");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = exited
        .recv_timeout(DEADLINE)
        .expect("wadm simulate exits on SIGINT")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// A configuration whose MongoDB store is unreachable (nothing listens on port 1).
fn unreachable_store_config(on_unavailable: &str) -> String {
    format!(
        "{LOCAL_CONFIG}\n[storage]\ntype = \"mongodb\"\non_unavailable_at_start = \"{on_unavailable}\"\nstart_timeout = \"1s\"\n\n[storage.mongodb]\nuri = \"mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500\"\n"
    )
}

#[test]
fn an_unreachable_store_at_start_stops_the_start_when_configured_to_fail() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &unreachable_store_config("fail"));
    let daemon = Daemon::start(&["run", "--config", &config], &[], dir.path());
    let (status, stderr) = daemon.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the mongodb store is unavailable at start")
            && stderr.contains("on_unavailable_at_start = \\\"fail\\\""),
        "{stderr}"
    );
    assert!(!stderr.contains("wadm started"), "{stderr}");
}

#[test]
fn an_unreachable_store_at_start_runs_degraded_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &unreachable_store_config("degraded"));
    let mut daemon = Daemon::start(&["run", "--config", &config], &[], dir.path());
    daemon.wait_for_line("running degraded", DEADLINE);
    daemon.wait_for_line("wadm started", DEADLINE);
    daemon.signal(Signal::SIGTERM);
    let (status, stderr) = daemon.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

/// Runs `wadm health --addr ADDR [args]`: (exit code, stdout, stderr).
fn health(addr: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(common::wadm_binary())
        .args(["health", "--addr", addr])
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn api_addr(started: &str) -> String {
    started
        .split("api=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_exits_0_when_the_daemon_answers_200_and_1_on_503_or_no_answer() {
    // A daemon fed by the simulated exchange: once its feeds stream, /health answers 200.
    let venues = [wadm_actors::model::Venue::BybitSpot];
    let sim = common::live::simulator(&venues, &["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let env = common::live::env_for(&sim, &venues, &["BTCUSDT"], &[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut daemon = Daemon::start(&["run"], &env, dir.path());
    let addr = api_addr(&daemon.wait_for_line("wadm started", DEADLINE));
    let probe = addr.clone();
    common::live::wait_until(DEADLINE, "/health to answer 200", || {
        let probe = probe.clone();
        async move {
            tokio::task::spawn_blocking(move || health(&probe, &[]).0 == Some(0))
                .await
                .unwrap()
        }
    })
    .await;
    let (_, stdout, _) = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || health(&addr, &[])
    })
    .await
    .unwrap();
    assert!(stdout.contains("\"status\":\"ok\""), "{stdout}");
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.wait_exit(DEADLINE).0.code(), Some(0));
    sim.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, LOCAL_CONFIG);

    // The daemon is gone: nothing answers on its port.
    let (code, _, stderr) = health(&addr, &["--timeout", "1s"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("did not answer /health"), "{stderr}");

    // Every feed down (the venues point at a closed port): 503, exit 1.
    let mut daemon = Daemon::start(&["run", "--config", &config], &[], dir.path());
    let addr = api_addr(&daemon.wait_for_line("wadm started", DEADLINE));
    let (code, stdout, stderr) = health(&addr, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("\"status\":\"down\""), "{stdout}");
    assert!(stderr.contains("answered \"503\""), "{stderr}");
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.wait_exit(DEADLINE).0.code(), Some(0));
}

/// One GET over a fresh connection: (status line, body).
fn http_get(addr: &str, path: &str) -> std::io::Result<(String, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    Ok((
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    ))
}

#[tokio::test]
async fn demo_serves_non_empty_profiles_within_ten_seconds_offline_and_cleans_up() {
    use std::io::{BufRead as _, BufReader};

    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::wadm_binary())
        .args(["demo", "--port", "0"])
        .current_dir(dir.path())
        .env_clear()
        .env("TMPDIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    // The log is read all along, so that the daemon never waits on a full pipe.
    let (line_tx, stderr_lines) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The banner names the API and the store.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("Ctrl-C") {
        assert!(stdout.read_line(&mut banner).unwrap() > 0, "{banner}");
    }
    let field = |name: &str| {
        banner
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} line in {banner}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let api = field("API:");
    let addr = api
        .strip_prefix("http://")
        .and_then(|a| a.split('/').next())
        .unwrap()
        .to_owned();
    let store = std::path::PathBuf::from(field("store:"));
    assert!(store.starts_with(dir.path()) && store.exists(), "{banner}");
    // Profiles fill within seconds of the start.
    wadm_actors::util::install_crypto_provider();
    let url = format!("http://{addr}/api/v1/volume-profile/BTCUSDT?venue=binance-spot&window=1h");
    let trades = |answer: &serde_json::Value| answer["profile"]["trades"].as_u64().unwrap_or(0);
    let left = Duration::from_secs(10).saturating_sub(started.elapsed());
    common::live::wait_until(left, "trades in the demo's profile within 10 s", || async {
        match reqwest::get(&url).await {
            Ok(answer) if answer.status().is_success() => answer
                .bytes()
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .is_some_and(|answer| trades(&answer) > 0),
            _ => false,
        }
    })
    .await;
    let profile: serde_json::Value =
        serde_json::from_slice(&reqwest::get(&url).await.unwrap().bytes().await.unwrap()).unwrap();
    assert!(profile["profile"]["poc"].is_string(), "{profile}");
    let (_, symbols) = http_get(&addr, "/api/v1/symbols").unwrap();
    for venue in ["binance-spot", "binance-usdm", "bybit-spot", "bybit-linear"] {
        assert!(symbols.contains(venue), "{venue} is played: {symbols}");
    }
    // The one start-up line has the essentials.
    let started_line = loop {
        let line = stderr_lines
            .recv_timeout(DEADLINE)
            .expect("the start-up line");
        if line.contains("wadm started") {
            break line;
        }
    };
    for essential in [
        "api=",
        "version=",
        "store=embedded:",
        "venues=binance-spot:BTCUSDT",
    ] {
        assert!(started_line.contains(essential), "{started_line}");
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = exited
        .recv_timeout(DEADLINE)
        .expect("wadm demo exits on SIGINT")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(!store.exists(), "the demo's store is deleted at exit");
}
