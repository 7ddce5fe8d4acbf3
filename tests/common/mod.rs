//! Helpers shared by the black-box tests: running the `wadm` binary and waiting on its
//! output or exit with a deadline (never a sleep).

#![allow(dead_code, clippy::unwrap_used)]

pub mod live;
pub mod mongo;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The Python interpreter of the test tools: `WADM_TEST_PYTHON` (set by `tests/run.sh`),
/// else the project's test environment (`target/test-venv`, which `tests/run.sh setup`
/// makes), else `python3` from the path.
pub fn python() -> String {
    if let Ok(python) = std::env::var("WADM_TEST_PYTHON")
        && !python.trim().is_empty()
    {
        return python;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python3");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

/// Path of the binary under test.
pub fn wadm_binary() -> &'static str {
    env!("CARGO_BIN_EXE_wadm")
}

/// A `wadm` child process whose stderr lines are collected as they arrive.
pub struct Daemon {
    pid: i32,
    lines: Receiver<String>,
    seen: Vec<String>,
    exit: Receiver<ExitStatus>,
}

impl Daemon {
    /// Starts `wadm args...` in `dir` with exactly `env` as its environment.
    pub fn start(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Daemon {
        Self::spawn(Command::new(wadm_binary()).args(args), env, dir)
    }

    /// Starts `wadm args...` like [`Daemon::start`], with at most `files` open files (soft
    /// and hard limit, set by `sh`'s `ulimit` before it becomes wadm).
    pub fn start_with_file_limit(
        files: u32,
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Daemon {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(wadm_binary())
            .args(args);
        Self::spawn(&mut command, env, dir)
    }

    fn spawn(command: &mut Command, env: &[(&str, &str)], dir: &Path) -> Daemon {
        let mut child = command
            .current_dir(dir)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let stderr = child.stderr.take().unwrap();
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        Daemon {
            pid,
            lines,
            seen: Vec::new(),
            exit,
        }
    }

    /// Waits until a stderr line contains `needle`, or fails after `timeout`.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no line containing {needle:?} within {timeout:?}; got:\n{}",
                    self.seen.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "stderr closed before {needle:?}; got:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid), signal).unwrap();
    }

    /// Waits for the process to exit, or fails after `timeout`; returns its status and all
    /// of its stderr.
    pub fn wait_exit(mut self, timeout: Duration) -> (ExitStatus, String) {
        let status = match self.exit.recv_timeout(timeout) {
            Ok(status) => status,
            Err(_) => {
                let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
                self.seen.extend(self.lines.try_iter());
                panic!(
                    "wadm did not exit within {timeout:?}; stderr so far:\n{}",
                    self.seen.join("\n")
                );
            }
        };
        // The process has exited, so its stderr pipe is closed and the reader ends.
        self.seen.extend(self.lines.iter());
        (status, self.seen.join("\n"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed test must not leave a daemon behind.
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
    }
}
