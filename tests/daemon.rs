//! The daemon started in-process through `wadm::run`, as later black-box tests will.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use wadm::config::{self, LoadOptions};

#[tokio::test]
async fn run_returns_cleanly_once_shutdown_is_requested() {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("WADM__API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "WADM__STORAGE__EMBEDDED__PATH".to_owned(),
            dir.path().display().to_string(),
        ),
        ("COLLECTORS_ENABLED".to_owned(), "false".to_owned()),
    ]);
    let loaded = config::load(&LoadOptions {
        defaults_file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")),
        config_file: None,
        env,
    })
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(wadm::run(loaded.config, async move {
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
