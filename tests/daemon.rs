//! The daemon started in-process through `wadm::run`, as later black-box tests will.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wadm::config::{self, LoadOptions};

fn quiet_config(dir: &Path) -> wadm::Config {
    let env = BTreeMap::from([
        ("WADM__API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "WADM__STORAGE__EMBEDDED__PATH".to_owned(),
            dir.display().to_string(),
        ),
        ("COLLECTORS_ENABLED".to_owned(), "false".to_owned()),
    ]);
    config::load(&LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: None,
        env,
    })
    .unwrap()
    .config
}

#[tokio::test]
async fn run_returns_cleanly_once_shutdown_is_requested() {
    let dir = tempfile::tempdir().unwrap();
    let config = quiet_config(dir.path());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(wadm::run(config, async move {
        let _ = stopped.await;
    }));
    assert!(
        !daemon.is_finished(),
        "the daemon must keep running until asked to stop"
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// The REST API is served on a runtime of its own (`runtime.api_threads`): it answers while
/// the daemon's runtime is held up, here by its only thread waiting on the request itself
/// (served on the daemon's runtime, the request would wait for ever and time out).
#[tokio::test(flavor = "current_thread")]
async fn the_api_answers_while_the_daemons_runtime_is_held_up() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = wadm::app::Daemon::start(quiet_config(dir.path()))
        .await
        .unwrap();
    let mut socket = std::net::TcpStream::connect(daemon.api_addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: wadm\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    socket
        .read_to_string(&mut answer)
        .expect("the API must answer while the daemon's runtime is busy");
    // 503: no feed is configured, so the daemon reports itself down; it answers all the same.
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(answer.contains("\"status\""), "{answer}");
    daemon.shutdown().await.unwrap();
}
