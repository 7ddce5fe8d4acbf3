//! The bookkeeping of rebuilding local books from REST snapshots, on one socket: which
//! symbols wait for a snapshot, which are being fetched (at most `concurrency` at once),
//! when a symbol whose snapshots failed or did not fit may be fetched again (the backoff of
//! its failures in a row), which books are declared out of sync, and which next sync is a
//! resync. Pure: the session's reader asks it what to do and does it (fetches, events,
//! metrics, the board).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use wadm_supervision::Backoff;

use crate::model::Symbol;

/// What became of a snapshot that did not fit the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusable {
    /// Snapshots (fetches included) that failed in a row for this symbol.
    pub failures: u32,
    /// How long until the next fetch.
    pub delay: Duration,
    /// True when this failure declared the book out of sync (once, at `attempts`).
    pub now_out_of_sync: bool,
}

/// Snapshot scheduling of the books of one socket.
#[derive(Debug)]
pub struct BookSync {
    backoff: Backoff,
    attempts: u32,
    concurrency: usize,
    queue: VecDeque<Symbol>,
    in_flight: HashSet<Symbol>,
    /// When a symbol may be fetched again, and its failures in a row.
    retry: HashMap<Symbol, (Instant, u32)>,
    out_of_sync: HashSet<Symbol>,
    resyncing: HashSet<Symbol>,
}

impl BookSync {
    /// Creates the bookkeeping: retries after `backoff`, out of sync after `attempts`
    /// failures in a row, at most `concurrency` fetches at once.
    pub fn new(backoff: Backoff, attempts: u32, concurrency: usize) -> Self {
        Self {
            backoff,
            attempts: attempts.max(1),
            concurrency: concurrency.max(1),
            queue: VecDeque::new(),
            in_flight: HashSet::new(),
            retry: HashMap::new(),
            out_of_sync: HashSet::new(),
            resyncing: HashSet::new(),
        }
    }

    /// Asks for a snapshot of `symbol` (once, however often it is asked before it is fetched).
    pub fn want(&mut self, symbol: Symbol) {
        if !self.queue.contains(&symbol) {
            self.queue.push_back(symbol);
        }
    }

    /// True when snapshots wait to be fetched.
    pub fn has_waiting(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Returns the symbols to fetch now, marking them in flight: in the order asked, at most
    /// `concurrency` in flight, none before its retry time.
    pub fn due(&mut self, now: Instant) -> Vec<Symbol> {
        let mut due = Vec::new();
        let mut deferred = Vec::new();
        while self.in_flight.len() < self.concurrency {
            let Some(symbol) = self.queue.pop_front() else {
                break;
            };
            if self.in_flight.contains(&symbol) {
                continue;
            }
            if self.retry.get(&symbol).is_some_and(|&(at, _)| at > now) {
                deferred.push(symbol);
                continue;
            }
            self.in_flight.insert(symbol);
            due.push(symbol);
        }
        self.queue.extend(deferred);
        due
    }

    /// A fetch ended (whatever its outcome).
    pub fn fetched(&mut self, symbol: Symbol) {
        self.in_flight.remove(&symbol);
    }

    /// A fetch failed (network, HTTP error): the symbol waits for the backoff of its
    /// failures in a row (`sample` in `[0, 1]` picks the jitter), then is fetched again.
    /// Returns the delay.
    pub fn fetch_failed(&mut self, symbol: Symbol, now: Instant, sample: f64) -> Duration {
        let failures = self.failures(symbol);
        let delay = self.backoff.jittered(failures, sample);
        self.retry
            .insert(symbol, (now + delay, failures.saturating_add(1)));
        self.queue.push_back(symbol);
        delay
    }

    /// A snapshot did not fit the stream: like a failed fetch, and at `attempts` failures in
    /// a row the book is declared out of sync until one fits.
    pub fn unusable(&mut self, symbol: Symbol, now: Instant, sample: f64) -> Unusable {
        let failures = self.failures(symbol).saturating_add(1);
        let delay = self.backoff.jittered(failures - 1, sample);
        self.retry.insert(symbol, (now + delay, failures));
        let now_out_of_sync = failures >= self.attempts && self.out_of_sync.insert(symbol);
        self.queue.push_back(symbol);
        Unusable {
            failures,
            delay,
            now_out_of_sync,
        }
    }

    /// Failures in a row of `symbol`'s snapshots.
    pub fn failures(&self, symbol: Symbol) -> u32 {
        self.retry.get(&symbol).map_or(0, |&(_, n)| n)
    }

    /// A snapshot fitted the stream (a diff applied on top of it): its failures in a row end.
    /// Returns true when the book had been declared out of sync (it is served again).
    pub fn proven(&mut self, symbol: Symbol) -> bool {
        self.retry.remove(&symbol);
        self.out_of_sync.remove(&symbol)
    }

    /// True while `symbol`'s book is declared out of sync.
    pub fn is_out_of_sync(&self, symbol: Symbol) -> bool {
        self.out_of_sync.contains(&symbol)
    }

    /// Marks the next sync of `symbol` as a resync (after a gap or a venue reset).
    pub fn resyncing(&mut self, symbol: Symbol) {
        self.resyncing.insert(symbol);
    }

    /// Returns true (once) when the sync that just happened was a resync.
    pub fn take_resync(&mut self, symbol: Symbol) -> bool {
        self.resyncing.remove(&symbol)
    }

    /// Forgets a symbol whose book stream the venue refused: no snapshot waits for it.
    pub fn abandon(&mut self, symbol: Symbol) {
        self.queue.retain(|s| *s != symbol);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sym(text: &str) -> Symbol {
        Symbol::new(text).unwrap()
    }

    fn backoff() -> Backoff {
        Backoff::try_new(Duration::from_secs(1), Duration::from_secs(60), 2.0, 0.3).unwrap()
    }

    #[test]
    fn fetches_run_at_most_concurrency_at_once_in_the_order_asked() {
        let mut sync = BookSync::new(backoff(), 5, 2);
        let now = Instant::now();
        for s in ["A", "B", "C", "A"] {
            sync.want(sym(s));
        }
        assert_eq!(sync.due(now), [sym("A"), sym("B")]);
        assert!(sync.due(now).is_empty(), "two in flight");
        sync.fetched(sym("A"));
        assert_eq!(sync.due(now), [sym("C")]);
        assert!(!sync.has_waiting());
    }

    #[test]
    fn a_failed_or_unfitting_snapshot_waits_for_the_backoff_of_its_failures() {
        let mut sync = BookSync::new(backoff(), 5, 4);
        let start = Instant::now();
        let a = sym("A");
        sync.want(a);
        assert_eq!(sync.due(start), [a]);
        sync.fetched(a);
        // Sample 0: the full delay. The first failure waits 1 s, the next 2 s, then 4 s.
        assert_eq!(sync.fetch_failed(a, start, 0.0), Duration::from_secs(1));
        assert!(sync.due(start + Duration::from_millis(999)).is_empty());
        assert_eq!(sync.due(start + Duration::from_secs(1)), [a]);
        sync.fetched(a);
        let second = sync.unusable(a, start + Duration::from_secs(1), 0.0);
        assert_eq!(
            (second.failures, second.delay, second.now_out_of_sync),
            (2, Duration::from_secs(2), false)
        );
        assert!(sync.due(start + Duration::from_millis(2_999)).is_empty());
        assert_eq!(sync.due(start + Duration::from_secs(3)), [a]);
        // Sample 1: the shortest delay, 70 % of the schedule.
        sync.fetched(a);
        let third = sync.unusable(a, start, 1.0);
        assert_eq!(third.delay, Duration::from_millis(2_800));
    }

    #[test]
    fn the_book_is_out_of_sync_after_attempts_failures_until_a_snapshot_fits() {
        let mut sync = BookSync::new(backoff(), 3, 4);
        let now = Instant::now();
        let a = sym("A");
        let outcomes: Vec<bool> = (0..5)
            .map(|_| sync.unusable(a, now, 0.5).now_out_of_sync)
            .collect();
        assert_eq!(
            outcomes,
            [false, false, true, false, false],
            "declared once"
        );
        assert!(sync.is_out_of_sync(a));
        assert_eq!(sync.failures(a), 5);
        assert!(sync.proven(a), "it was out of sync");
        assert!(!sync.is_out_of_sync(a));
        assert_eq!(sync.failures(a), 0);
        assert!(!sync.proven(a));
    }

    #[test]
    fn resyncs_are_reported_once_and_abandoned_symbols_are_not_fetched() {
        let mut sync = BookSync::new(backoff(), 3, 4);
        let (a, b) = (sym("A"), sym("B"));
        sync.resyncing(a);
        assert!(sync.take_resync(a));
        assert!(!sync.take_resync(a));
        sync.want(a);
        sync.want(b);
        sync.abandon(a);
        assert_eq!(sync.due(Instant::now()), [b]);
    }
}
