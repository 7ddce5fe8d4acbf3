//! What the simulator has done, for tests to compare with what WADM received.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use wadm_actors::model::{Qty, Side, Symbol, Venue};

use super::render::{SimDerivatives, SimLiquidation, SimTrade};
use wadm_actors::util::lock;

/// Trades generated for one symbol.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SymbolTotals {
    /// Trades generated.
    pub trades: u64,
    /// Buy-aggressor volume.
    pub buy_volume: Qty,
    /// Sell-aggressor volume.
    pub sell_volume: Qty,
    /// First trade id.
    pub first_id: Option<u64>,
    /// Last trade id.
    pub last_id: Option<u64>,
    /// Every trade, when recording is on.
    #[serde(skip)]
    pub recorded: Vec<SimTrade>,
    /// Every liquidation made (derivatives venues), and whether the venue pushed it
    /// (Binance pushes only the largest per symbol each second).
    #[serde(skip)]
    pub liquidations: Vec<(SimLiquidation, bool)>,
    /// Every mark/index/funding/open-interest value pushed, once a second.
    #[serde(skip)]
    pub derivatives: Vec<SimDerivatives>,
    /// The open interest now, and when it was last changed (for the REST endpoint).
    #[serde(skip)]
    pub open_interest: Option<(Qty, i64)>,
    /// Every open interest answered over REST, with the time the answer stated.
    #[serde(skip)]
    pub open_interest_served: Vec<(Qty, i64)>,
}

impl SymbolTotals {
    /// Returns (trades, buy volume, sell volume) of the recorded trades with ids in
    /// `from..=to`.
    pub fn range(&self, from: u64, to: u64) -> (u64, Qty, Qty) {
        let mut result = (0, Qty::ZERO, Qty::ZERO);
        for trade in &self.recorded {
            if (from..=to).contains(&trade.id) {
                result.0 += 1;
                match trade.side {
                    Side::Buy => result.1 += trade.qty,
                    Side::Sell => result.2 += trade.qty,
                }
            }
        }
        result
    }
}

/// Counters of one venue.
#[derive(Debug, Default)]
pub struct VenueStats {
    frames_sent: AtomicU64,
    overflows: AtomicU64,
    open: AtomicUsize,
    opened: AtomicU64,
    refusals_left: AtomicU64,
    refused: AtomicU64,
    subscribe_requests: AtomicU64,
    client_pings: AtomicU64,
    pongs: AtomicU64,
    steps: AtomicU64,
    depth_requests: Mutex<HashMap<Symbol, u64>>,
    totals: Mutex<HashMap<Symbol, SymbolTotals>>,
}

/// Counters of every venue.
#[derive(Debug, Default)]
pub struct SimShared {
    venues: HashMap<Venue, VenueStats>,
    record_trades: bool,
}

impl SimShared {
    /// Creates counters for `venues`.
    pub fn new(venues: impl IntoIterator<Item = Venue>, record_trades: bool) -> Self {
        Self {
            venues: venues
                .into_iter()
                .map(|v| (v, VenueStats::default()))
                .collect(),
            record_trades,
        }
    }

    fn stats(&self, venue: Venue) -> Option<&VenueStats> {
        self.venues.get(&venue)
    }

    pub(super) fn set_steps(&self, venue: Venue, steps: u64) {
        if let Some(s) = self.stats(venue) {
            s.steps.store(steps, Ordering::Release);
        }
    }

    pub(super) fn count_frame(&self, venue: Venue) {
        if let Some(s) = self.stats(venue) {
            s.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn count_overflow(&self, venue: Venue) {
        if let Some(s) = self.stats(venue) {
            s.overflows.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn connection_opened(&self, venue: Venue, open: usize) {
        if let Some(s) = self.stats(venue) {
            s.opened.fetch_add(1, Ordering::Relaxed);
            s.open.store(open, Ordering::Relaxed);
        }
    }

    pub(super) fn set_open_connections(&self, venue: Venue, open: usize) {
        if let Some(s) = self.stats(venue) {
            s.open.store(open, Ordering::Relaxed);
        }
    }

    pub(super) fn count_subscribe_request(&self, venue: Venue) {
        if let Some(s) = self.stats(venue) {
            s.subscribe_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn count_client_ping(&self, venue: Venue) {
        if let Some(s) = self.stats(venue) {
            s.client_pings.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn count_pong(&self, venue: Venue) {
        if let Some(s) = self.stats(venue) {
            s.pongs.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn count_depth_request(&self, venue: Venue, symbol: Symbol) {
        if let Some(s) = self.stats(venue) {
            *lock(&s.depth_requests).entry(symbol).or_default() += 1;
        }
    }

    pub(super) fn add_refusals(&self, venue: Venue, count: u64) {
        if let Some(s) = self.stats(venue) {
            s.refusals_left.fetch_add(count, Ordering::Relaxed);
        }
    }

    pub(super) fn clear_refusals(&self, venue: Venue) {
        if let Some(s) = self.stats(venue) {
            s.refusals_left.store(0, Ordering::Relaxed);
        }
    }

    /// Takes one pending refusal; true if the connection must be refused.
    pub(super) fn take_refusal(&self, venue: Venue) -> bool {
        let Some(s) = self.stats(venue) else {
            return false;
        };
        let took = s
            .refusals_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if took {
            s.refused.fetch_add(1, Ordering::Relaxed);
        }
        took
    }

    pub(super) fn record_trades(&self, venue: Venue, symbol: Symbol, trades: &[SimTrade]) {
        let Some(s) = self.stats(venue) else {
            return;
        };
        let mut totals = lock(&s.totals);
        let entry = totals.entry(symbol).or_default();
        for trade in trades {
            entry.trades += 1;
            match trade.side {
                Side::Buy => entry.buy_volume += trade.qty,
                Side::Sell => entry.sell_volume += trade.qty,
            }
            entry.first_id.get_or_insert(trade.id);
            entry.last_id = Some(trade.id);
            if self.record_trades {
                entry.recorded.push(trade.clone());
            }
        }
    }

    /// Records liquidations made, each with whether it was pushed.
    pub(super) fn record_liquidations(
        &self,
        venue: Venue,
        symbol: Symbol,
        made: &[(SimLiquidation, bool)],
    ) {
        if let Some(s) = self.stats(venue) {
            lock(&s.totals)
                .entry(symbol)
                .or_default()
                .liquidations
                .extend_from_slice(made);
        }
    }

    /// Records a pushed derivatives value.
    pub(super) fn record_derivatives(&self, venue: Venue, symbol: Symbol, value: SimDerivatives) {
        if let Some(s) = self.stats(venue) {
            lock(&s.totals)
                .entry(symbol)
                .or_default()
                .derivatives
                .push(value);
        }
    }

    /// Sets the open interest (the REST endpoint answers it).
    pub(super) fn set_open_interest(&self, venue: Venue, symbol: Symbol, oi: Qty, time: i64) {
        if let Some(s) = self.stats(venue) {
            lock(&s.totals).entry(symbol).or_default().open_interest = Some((oi, time));
        }
    }

    /// Runs `read` on a symbol's recorded trades (in id order), without copying them.
    pub fn with_recorded<R>(
        &self,
        venue: Venue,
        symbol: Symbol,
        read: impl FnOnce(&[SimTrade]) -> R,
    ) -> R {
        let totals = self.stats(venue).map(|s| lock(&s.totals));
        let recorded = totals
            .as_ref()
            .and_then(|totals| totals.get(&symbol))
            .map_or(&[][..], |t| &t.recorded[..]);
        read(recorded)
    }

    /// The open interest of a derivatives symbol now, and when it last changed.
    pub fn open_interest(&self, venue: Venue, symbol: Symbol) -> Option<(Qty, i64)> {
        self.stats(venue)
            .and_then(|s| lock(&s.totals).get(&symbol).and_then(|t| t.open_interest))
    }

    /// Answers the open interest of a derivatives symbol over REST: the value now, at the
    /// answer's time (the later of now and its last change), recorded.
    pub(super) fn serve_open_interest(&self, venue: Venue, symbol: Symbol) -> Option<(Qty, i64)> {
        let stats = self.stats(venue)?;
        let mut totals = lock(&stats.totals);
        let entry = totals.get_mut(&symbol)?;
        let (value, changed) = entry.open_interest?;
        let time = changed.max(wadm_actors::model::TimestampMs::now().as_millis());
        entry.open_interest_served.push((value, time));
        Some((value, time))
    }

    /// Returns a symbol's totals.
    pub fn totals(&self, venue: Venue, symbol: Symbol) -> SymbolTotals {
        self.stats(venue)
            .and_then(|s| lock(&s.totals).get(&symbol).cloned())
            .unwrap_or_default()
    }

    /// Returns (frames sent, frames dropped on full queues, sockets open, sockets opened,
    /// connections refused, subscribe requests, client pings, pongs to our pings).
    pub fn counters(&self, venue: Venue) -> SimCounters {
        let Some(s) = self.stats(venue) else {
            return SimCounters::default();
        };
        SimCounters {
            frames_sent: s.frames_sent.load(Ordering::Relaxed),
            frames_dropped: s.overflows.load(Ordering::Relaxed),
            open_connections: s.open.load(Ordering::Relaxed),
            connections_opened: s.opened.load(Ordering::Relaxed),
            connections_refused: s.refused.load(Ordering::Relaxed),
            subscribe_requests: s.subscribe_requests.load(Ordering::Relaxed),
            client_pings: s.client_pings.load(Ordering::Relaxed),
            pongs: s.pongs.load(Ordering::Relaxed),
            steps: s.steps.load(Ordering::Acquire),
        }
    }

    /// Returns how many REST depth snapshots of `symbol` were served.
    pub fn depth_requests(&self, venue: Venue, symbol: Symbol) -> u64 {
        self.stats(venue)
            .and_then(|s| lock(&s.depth_requests).get(&symbol).copied())
            .unwrap_or(0)
    }
}

/// A venue's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SimCounters {
    /// Text frames sent.
    pub frames_sent: u64,
    /// Frames dropped because a socket's queue was full.
    pub frames_dropped: u64,
    /// Sockets open now.
    pub open_connections: usize,
    /// Sockets opened so far.
    pub connections_opened: u64,
    /// Connection attempts refused (HTTP 503).
    pub connections_refused: u64,
    /// Subscribe requests received.
    pub subscribe_requests: u64,
    /// Client pings (Bybit `op: ping`) received.
    pub client_pings: u64,
    /// Pongs received in answer to server pings (Binance).
    pub pongs: u64,
    /// Generation steps taken (every symbol's trades, book diff and candle of one moment).
    pub steps: u64,
}
