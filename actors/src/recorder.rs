//! Recordings of raw venue frames, for `wadm replay`: one JSON object per line,
//! `{"venue": "binance-spot", "received_at": <Unix ns>, "frame": "<the frame text>"}`.
//!
//! Sessions hand frames to a [`Recorder`] without waiting: the handle puts a copy on a
//! bounded queue and a full queue drops the frame (counted in
//! `wadm_recorder_dropped_total{reason="queue_full"}` and in the recorder's status entry).
//! A dedicated thread writes the queue to files in a directory, starting a new file before a
//! line would take the current one past `max_file_bytes` and deleting the oldest recordings
//! beyond `max_files`, so a recording never takes more than about
//! `max_file_bytes * max_files` of disk. Files are named `wadm-<start ms>-<seq>.jsonl`, so
//! their names sort in recording order. The thread flushes at least once a second and when
//! the recorder is closed.

use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use wadm_supervision::{ActorEntry, unix_millis};

use crate::metrics::{RECORDER_DROPPED_TOTAL, RECORDER_FRAMES_TOTAL};
use crate::model::{UnixNanos, Venue};

/// How often buffered lines reach the file even when frames keep coming.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Recorder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderSettings {
    /// Directory of the recordings (created if missing).
    pub directory: PathBuf,
    /// A file is closed before a line would take it past this size.
    pub max_file_bytes: u64,
    /// Recordings kept; the oldest beyond this are deleted.
    pub max_files: usize,
    /// Frames waiting for the writer before new ones are dropped.
    pub queue_capacity: usize,
}

/// One recorded frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedFrame {
    /// Venue the frame came from.
    pub venue: Venue,
    /// When it was received (Unix nanoseconds).
    pub received_at: i64,
    /// The frame text, exactly as received.
    pub frame: String,
}

/// Why the recorder could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The directory could not be created.
    #[error("cannot create the recording directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the recorder thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// What the writer thread receives.
#[derive(Debug)]
enum Command {
    /// A frame to write.
    Frame(RecordedFrame),
    /// Write out what is queued and stop.
    Close,
}

/// The sending side of the recorder: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Recorder {
    sender: SyncSender<Command>,
    status: Arc<ActorEntry>,
}

impl Recorder {
    /// Queues a copy of a frame; drops it (counted) when the queue is full.
    pub fn offer(&self, venue: Venue, received_at: UnixNanos, frame: &str) {
        let entry = RecordedFrame {
            venue,
            received_at: received_at.0,
            frame: frame.to_owned(),
        };
        match self.sender.try_send(Command::Frame(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped("queue_full"),
            Err(TrySendError::Disconnected(_)) => self.dropped("closed"),
        }
    }

    fn dropped(&self, reason: &'static str) {
        metrics::counter!(RECORDER_DROPPED_TOTAL, "reason" => reason).increment(1);
        self.status.record_drops(1);
    }
}

/// The recorder's writer thread; closing it writes out everything queued.
#[derive(Debug)]
pub struct RecorderHandle {
    recorder: Option<Recorder>,
    thread: Option<JoinHandle<()>>,
}

impl RecorderHandle {
    /// Starts the writer thread.
    pub fn start(
        settings: RecorderSettings,
        status: Arc<ActorEntry>,
    ) -> Result<RecorderHandle, RecorderError> {
        fs::create_dir_all(&settings.directory).map_err(|source| RecorderError::Directory {
            path: settings.directory.clone(),
            source,
        })?;
        let (sender, receiver) = sync_channel(settings.queue_capacity.max(1));
        let writer_status = Arc::clone(&status);
        let thread = std::thread::Builder::new()
            .name("wadm-recorder".into())
            .spawn(move || Writer::new(settings, writer_status).run(&receiver))
            .map_err(RecorderError::Thread)?;
        status.mark_started(0);
        Ok(RecorderHandle {
            recorder: Some(Recorder { sender, status }),
            thread: Some(thread),
        })
    }

    /// Returns a sending handle for sessions.
    pub fn recorder(&self) -> Option<Recorder> {
        self.recorder.clone()
    }

    /// Writes out what is queued and stops the thread (waiting for it). Frames offered
    /// afterwards are dropped and counted (`closed`).
    pub fn close(mut self) {
        if let Some(recorder) = self.recorder.take() {
            // Blocks only while the queue is full, which the writer is draining.
            let _ = recorder.sender.send(Command::Close);
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the recorder thread panicked");
        }
    }
}

/// Returns the recordings in `directory`, oldest first.
pub fn recordings(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(directory)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| is_recording(path))
        .collect();
    files.sort();
    Ok(files)
}

fn is_recording(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("wadm-") && name.ends_with(".jsonl"))
}

struct Writer {
    settings: RecorderSettings,
    status: Arc<ActorEntry>,
    file: Option<BufWriter<File>>,
    file_bytes: u64,
    sequence: u64,
    line: Vec<u8>,
    last_error_log: Option<Instant>,
}

impl Writer {
    fn new(settings: RecorderSettings, status: Arc<ActorEntry>) -> Self {
        Self {
            settings,
            status,
            file: None,
            file_bytes: 0,
            sequence: 0,
            line: Vec::with_capacity(4096),
            last_error_log: None,
        }
    }

    fn run(mut self, receiver: &Receiver<Command>) {
        let mut last_flush = Instant::now();
        loop {
            match receiver.recv_timeout(FLUSH_INTERVAL) {
                Ok(Command::Frame(frame)) => self.write(&frame),
                Ok(Command::Close) => {
                    while let Ok(Command::Frame(frame)) = receiver.try_recv() {
                        self.write(&frame);
                    }
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_flush.elapsed() >= FLUSH_INTERVAL {
                self.flush();
                last_flush = Instant::now();
            }
        }
        self.flush();
        self.status.mark_stopped();
        info!(directory = %self.settings.directory.display(), "recorder stopped");
    }

    fn write(&mut self, frame: &RecordedFrame) {
        self.line.clear();
        if serde_json::to_writer(&mut self.line, frame).is_err() {
            return self.failed("encode", None);
        }
        self.line.push(b'\n');
        let len = self.line.len() as u64;
        if self.file.is_some() && self.file_bytes + len > self.settings.max_file_bytes {
            self.flush();
            self.file = None;
        }
        if self.file.is_none() && !self.open() {
            return self.failed("write_error", None);
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        match file.write_all(&self.line) {
            Ok(()) => {
                self.file_bytes += len;
                self.status.record_messages(1);
                self.status.record_data(unix_millis());
                metrics::counter!(RECORDER_FRAMES_TOTAL, "venue" => frame.venue.as_str())
                    .increment(1);
            }
            Err(err) => {
                self.file = None;
                self.failed("write_error", Some(&err));
            }
        }
    }

    fn open(&mut self) -> bool {
        self.sequence += 1;
        let name = format!(
            "wadm-{:013}-{:06}.jsonl",
            unix_millis().max(0),
            self.sequence
        );
        let path = self.settings.directory.join(name);
        match File::create(&path) {
            Ok(file) => {
                self.file = Some(BufWriter::with_capacity(64 * 1024, file));
                self.file_bytes = 0;
                self.prune();
                true
            }
            Err(err) => {
                self.log_error(&format!("cannot create {}: {err}", path.display()));
                false
            }
        }
    }

    /// Deletes the oldest recordings beyond `max_files` (the current one included in the count).
    fn prune(&mut self) {
        let Ok(files) = recordings(&self.settings.directory) else {
            return;
        };
        let excess = files.len().saturating_sub(self.settings.max_files.max(1));
        for old in files.iter().take(excess) {
            if let Err(err) = fs::remove_file(old) {
                self.log_error(&format!("cannot delete {}: {err}", old.display()));
            }
        }
    }

    fn flush(&mut self) {
        if let Some(file) = self.file.as_mut()
            && let Err(err) = file.flush()
        {
            self.file = None;
            self.failed("write_error", Some(&err));
        }
    }

    fn failed(&mut self, reason: &'static str, err: Option<&std::io::Error>) {
        metrics::counter!(RECORDER_DROPPED_TOTAL, "reason" => reason).increment(1);
        self.status.record_drops(1);
        if let Some(err) = err {
            self.log_error(&format!("recording write failed: {err}"));
        }
    }

    /// Logs at most one error every 10 seconds.
    fn log_error(&mut self, message: &str) {
        let quiet = self
            .last_error_log
            .is_some_and(|at| at.elapsed() < Duration::from_secs(10));
        if !quiet {
            warn!(directory = %self.settings.directory.display(), "{message}");
            self.last_error_log = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wadm_supervision::StatusRegistry;

    fn settings(dir: &Path, max_file_bytes: u64, max_files: usize) -> RecorderSettings {
        RecorderSettings {
            directory: dir.to_path_buf(),
            max_file_bytes,
            max_files,
            queue_capacity: 10_000,
        }
    }

    fn read_all(dir: &Path) -> Vec<RecordedFrame> {
        recordings(dir)
            .unwrap()
            .iter()
            .flat_map(|path| {
                fs::read_to_string(path)
                    .unwrap()
                    .lines()
                    .map(|line| serde_json::from_str(line).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn frames_round_trip_exactly_and_files_rotate_under_the_size_bound() {
        let dir = tempfile::tempdir().unwrap();
        let status = StatusRegistry::new().entry("recorder", "frames");
        let handle =
            RecorderHandle::start(settings(dir.path(), 1_000, 100), Arc::clone(&status)).unwrap();
        let recorder = handle.recorder().unwrap();
        let frames: Vec<String> = (0..100)
            .map(|i| format!("{{\"e\":\"trade\",\"t\":{i},\"s\":\"caf\u{e9} \\\"quoted\\\"\\n\"}}"))
            .collect();
        for (i, frame) in frames.iter().enumerate() {
            recorder.offer(Venue::BybitSpot, UnixNanos(i as i64), frame);
        }
        drop(recorder);
        handle.close();
        let files = recordings(dir.path()).unwrap();
        assert!(files.len() > 5, "{} files", files.len());
        for file in &files {
            assert!(fs::metadata(file).unwrap().len() <= 1_000);
        }
        let read = read_all(dir.path());
        assert_eq!(read.len(), 100);
        for (i, entry) in read.iter().enumerate() {
            assert_eq!(
                (entry.venue, entry.received_at),
                (Venue::BybitSpot, i as i64)
            );
            assert_eq!(entry.frame, frames[i]);
        }
        assert_eq!(status.snapshot().messages_handled, 100);
    }

    #[test]
    fn the_oldest_recordings_beyond_the_file_limit_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "not a recording").unwrap();
        let status = StatusRegistry::new().entry("recorder", "frames");
        let handle = RecorderHandle::start(settings(dir.path(), 300, 3), status).unwrap();
        let recorder = handle.recorder().unwrap();
        for i in 0..50 {
            recorder.offer(Venue::BinanceSpot, UnixNanos(i), &"x".repeat(100));
        }
        // Closing does not wait for the other handles to go.
        handle.close();
        recorder.offer(Venue::BinanceSpot, UnixNanos(50), "late");
        assert_eq!(
            recorder.status.snapshot().drops,
            1,
            "a frame after closing is counted"
        );
        let files = recordings(dir.path()).unwrap();
        assert_eq!(files.len(), 3);
        let kept = read_all(dir.path());
        assert_eq!(
            kept.last().unwrap().received_at,
            49,
            "the newest frames are kept"
        );
        assert!(
            dir.path().join("notes.txt").exists(),
            "other files are left alone"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let status = StatusRegistry::new().entry("recorder", "frames");
        let (sender, receiver) = sync_channel(2);
        let recorder = Recorder {
            sender,
            status: Arc::clone(&status),
        };
        for i in 0..5 {
            recorder.offer(Venue::BinanceSpot, UnixNanos(i), "{}");
        }
        assert_eq!(status.snapshot().drops, 3);
        drop(recorder);
        Writer::new(settings(dir.path(), 1_000, 2), status).run(&receiver);
        assert_eq!(read_all(dir.path()).len(), 2);
    }
}
