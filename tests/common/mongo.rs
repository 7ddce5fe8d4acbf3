//! MongoDB for tests: the wire-protocol stand-in (`tests/mongo_standin/server.py`, mockupdb
//! and mongomock) started per test on 127.0.0.1, or a real server when
//! `WADM_TEST_MONGODB_URI` is set (each test then gets a database of its own, dropped after).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How to install what the stand-in needs.
pub const INSTALL_HINT: &str = "the MongoDB tests need python3 with the stand-in's packages: \
     run the suite with `tests/run.sh` (or `tests/run.sh setup` once), or set \
     WADM_TEST_MONGODB_URI to a real MongoDB";

static DATABASES: AtomicU64 = AtomicU64::new(0);

/// A MongoDB to test against.
#[derive(Debug)]
pub struct TestMongo {
    /// Connection string.
    pub uri: String,
    /// A database name no other test uses.
    pub database: String,
    standin: Option<Child>,
    /// The stand-in's stdout lines (acknowledgements of take-down and bring-up).
    acks: Option<std::sync::Mutex<mpsc::Receiver<String>>>,
}

impl TestMongo {
    /// Starts the stand-in, or uses `WADM_TEST_MONGODB_URI`.
    pub fn start() -> Self {
        let database = format!(
            "wadm_test_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        if let Ok(uri) = std::env::var("WADM_TEST_MONGODB_URI")
            && !uri.trim().is_empty()
        {
            return Self {
                uri,
                database,
                standin: None,
                acks: None,
            };
        }
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mongo_standin/server.py");
        let python = super::python();
        let mut child = Command::new(&python)
            .arg(&script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}; {INSTALL_HINT}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line
                .strip_prefix("PORT ")
                .and_then(|p| p.trim().parse::<u16>().ok())
                .unwrap_or_else(|| panic!("unexpected stand-in output {line:?}")),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("the MongoDB stand-in did not start (exit {status:?}); {INSTALL_HINT}")
            }
        };
        Self {
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            database,
            standin: Some(child),
            acks: Some(std::sync::Mutex::new(rx)),
        }
    }

    /// True when running against the stand-in (which can be taken down and up).
    pub fn is_standin(&self) -> bool {
        self.standin.is_some()
    }

    fn signal(&self, signal: Signal, ack: &str) {
        let child = self
            .standin
            .as_ref()
            .expect("only the stand-in can be taken down");
        let pid = i32::try_from(child.id()).expect("pid fits");
        kill(Pid::from_raw(pid), signal).expect("signal the stand-in");
        let acks = self
            .acks
            .as_ref()
            .expect("the stand-in's output")
            .lock()
            .expect("one test at a time signals its stand-in");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match acks.recv_timeout(left) {
                Ok(line) if line.trim() == ack => return,
                Ok(_) => {}
                Err(_) => panic!("the MongoDB stand-in did not acknowledge {signal}"),
            }
        }
    }

    /// The stand-in hangs up on every request from now on, as a stopped server would.
    /// Returns once the stand-in has acknowledged it.
    pub fn take_down(&self) {
        self.signal(Signal::SIGUSR1, "DOWN");
    }

    /// The stand-in answers again, with the data it had.
    pub fn bring_up(&self) {
        self.signal(Signal::SIGUSR2, "UP");
    }
}

impl Drop for TestMongo {
    fn drop(&mut self) {
        if let Some(child) = &mut self.standin {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
