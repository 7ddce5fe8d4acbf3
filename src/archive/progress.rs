//! The progress bar of `wadm backfill` on a terminal (drawn on stderr; hidden when stderr
//! is not a terminal, where the log lines tell the same story).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::source::DownloadProgress;
use super::{DayOutcome, ImportProgress};

/// One bar: bytes while a file downloads, trades while it is read.
#[derive(Debug)]
pub struct TerminalProgress {
    bar: ProgressBar,
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalProgress {
    /// A bar on stderr.
    pub fn new() -> Self {
        Self {
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        }
    }
}

impl DownloadProgress for TerminalProgress {
    fn start(&self, name: &str, total: Option<u64>, done: u64) {
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_position(done);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(format!("download {name}"));
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}

impl ImportProgress for TerminalProgress {
    fn reading(&self, day: &str) {
        self.bar.reset();
        self.bar.unset_length();
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {msg}: {human_pos} trades ({per_sec})")
        {
            self.bar.set_style(style);
        }
        self.bar.set_message(format!("import {day}"));
    }

    fn read(&self, trades: u64) {
        self.bar.inc(trades);
    }

    fn finished(&self, outcome: &DayOutcome) {
        let line = match &outcome.error {
            Some(error) => format!("{} failed: {error}", outcome.day),
            None => format!(
                "{} {}: {} trades, {} 1m bars, {} 1h bars, {} 1d bars, {} raw trades, {} holes repaired",
                outcome.day,
                outcome.outcome,
                outcome.trades,
                outcome.bars_1m,
                outcome.bars_1h,
                outcome.bars_1d,
                outcome.raw_trades,
                outcome.holes_repaired
            ),
        };
        self.bar.println(line);
    }
}
