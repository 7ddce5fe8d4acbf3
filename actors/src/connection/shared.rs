//! State shared by every session of a venue, and kept across connection actor restarts (the
//! composition root owns it): per-symbol cursors that detect trade-id gaps and drop the
//! duplicates two overlapping sessions deliver, the published book views, where data-quality
//! events go, and the global budget of connection attempts.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::metrics::DATA_QUALITY_EVENTS_TOTAL;
use crate::model::{BookView, DataQualityEvent, QualityKind, Symbol, Trade, TradeId, Venue};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many recent Bybit trade ids are remembered to drop overlap duplicates.
const RECENT_IDS: usize = 8192;

/// Trade continuity of one symbol.
#[derive(Debug, Default)]
struct TradeCursor {
    /// Last forwarded Binance trade id (aggregate or raw): contiguous, so jumps are gaps.
    last_id: Option<u64>,
    /// Recently forwarded ids of venues without contiguous ids (Bybit).
    recent: HashSet<TradeId>,
    recent_order: VecDeque<TradeId>,
    /// Exchange time of the last forwarded trade (ms).
    last_time: Option<i64>,
    /// Set when the socket carrying this symbol's trades was lost: the next trade closes a
    /// time range in which trades may be missing (venues without contiguous ids).
    broken: bool,
}

/// The state of a symbol's local book, for status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookState {
    /// No book stream, or not started.
    Idle,
    /// Waiting for a snapshot.
    Syncing,
    /// In sync.
    Synced,
}

/// Per-symbol state shared by the sessions of a venue.
#[derive(Debug, Default)]
pub struct SymbolCursor {
    trades: Mutex<TradeCursor>,
    /// Session id whose book is the one published (the newest session to sync its book).
    book_owner: AtomicU64,
    book_state: AtomicU8,
    book_update_id: AtomicU64,
    book_resyncs: AtomicU64,
}

/// What [`SymbolCursor::admit_trades`] kept and found.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Trades to forward, in order.
    pub trades: Vec<Trade>,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Missing id ranges (inclusive).
    pub gaps: Vec<(u64, u64)>,
    /// For venues without contiguous ids, after a lost socket: the exchange times (ms,
    /// inclusive) of the last trade before the loss and the first one after it, between
    /// which trades may be missing.
    pub time_gap: Option<(i64, i64)>,
}

impl SymbolCursor {
    /// Filters a batch of one symbol's trades: drops ids already forwarded (by another
    /// session during an overlap) and reports jumps in Binance's contiguous ids.
    pub fn admit_trades(&self, venue: Venue, trades: Vec<Trade>) -> Admitted {
        let mut cursor = lock(&self.trades);
        let mut admitted = Admitted {
            trades: Vec::with_capacity(trades.len()),
            ..Admitted::default()
        };
        for trade in trades {
            match (venue.exchange(), trade.id.as_number()) {
                (crate::model::Exchange::Binance, Some(id)) => {
                    if let Some(last) = cursor.last_id {
                        if id <= last {
                            admitted.duplicates += 1;
                            continue;
                        }
                        if id > last + 1 {
                            admitted.gaps.push((last + 1, id - 1));
                        }
                    }
                    cursor.last_id = Some(id);
                }
                _ => {
                    if cursor.recent.contains(&trade.id) {
                        admitted.duplicates += 1;
                        continue;
                    }
                    cursor.recent.insert(trade.id.clone());
                    cursor.recent_order.push_back(trade.id.clone());
                    if cursor.recent_order.len() > RECENT_IDS
                        && let Some(oldest) = cursor.recent_order.pop_front()
                    {
                        cursor.recent.remove(&oldest);
                    }
                }
            }
            let time = trade.trade_time.as_millis();
            if cursor.broken {
                cursor.broken = false;
                if venue.exchange() != crate::model::Exchange::Binance
                    && let Some(last) = cursor.last_time
                {
                    admitted.time_gap = Some((last, time));
                }
            }
            cursor.last_time = Some(cursor.last_time.map_or(time, |last| last.max(time)));
            admitted.trades.push(trade);
        }
        admitted
    }

    /// Notes that the socket carrying this symbol's trades was lost without a replacement.
    pub fn trades_interrupted(&self) {
        lock(&self.trades).broken = true;
    }

    /// Returns the last forwarded Binance trade id.
    pub fn last_trade_id(&self) -> Option<u64> {
        lock(&self.trades).last_id
    }

    /// Makes `session` the publisher of this symbol's book.
    pub fn claim_book(&self, session: u64) {
        self.book_owner.store(session, Ordering::Release);
    }

    /// Returns true if `session` publishes this symbol's book.
    pub fn owns_book(&self, session: u64) -> bool {
        self.book_owner.load(Ordering::Acquire) == session
    }

    /// Records the book's state (by the owning or syncing session).
    pub fn set_book_state(&self, state: BookState, update_id: Option<u64>) {
        self.book_state.store(state as u8, Ordering::Release);
        if let Some(id) = update_id {
            self.book_update_id.store(id, Ordering::Release);
        }
    }

    /// Counts a resync.
    pub fn count_resync(&self) {
        self.book_resyncs.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns (state, last update id, resyncs).
    pub fn book_status(&self) -> (BookState, u64, u64) {
        let state = match self.book_state.load(Ordering::Acquire) {
            1 => BookState::Syncing,
            2 => BookState::Synced,
            _ => BookState::Idle,
        };
        (
            state,
            self.book_update_id.load(Ordering::Acquire),
            self.book_resyncs.load(Ordering::Relaxed),
        )
    }
}

/// Every symbol cursor of one venue.
#[derive(Debug, Default)]
pub struct Cursors {
    symbols: HashMap<Symbol, Arc<SymbolCursor>>,
}

impl Cursors {
    /// Creates a cursor per symbol.
    pub fn new(symbols: impl IntoIterator<Item = Symbol>) -> Self {
        Self {
            symbols: symbols.into_iter().map(|s| (s, Arc::default())).collect(),
        }
    }

    /// Returns the cursor of a symbol.
    pub fn get(&self, symbol: Symbol) -> Option<Arc<SymbolCursor>> {
        self.symbols.get(&symbol).cloned()
    }
}

/// The latest published book view of each (venue, symbol): the live book the API reads.
#[derive(Debug, Default)]
pub struct BookBoard {
    views: HashMap<(Venue, Symbol), watch::Sender<Option<Arc<BookView>>>>,
}

impl BookBoard {
    /// Creates an empty board entry per pair.
    pub fn new(pairs: impl IntoIterator<Item = (Venue, Symbol)>) -> Self {
        Self {
            views: pairs
                .into_iter()
                .map(|pair| (pair, watch::Sender::new(None)))
                .collect(),
        }
    }

    /// Publishes a view.
    pub fn publish(&self, view: Arc<BookView>) {
        if let Some(sender) = self.views.get(&(view.venue, view.symbol)) {
            sender.send_replace(Some(view));
        }
    }

    /// Removes a pair's view (its book is out of sync).
    pub fn clear(&self, venue: Venue, symbol: Symbol) {
        if let Some(sender) = self.views.get(&(venue, symbol)) {
            sender.send_replace(None);
        }
    }

    /// Returns the latest view of a pair.
    pub fn latest(&self, venue: Venue, symbol: Symbol) -> Option<Arc<BookView>> {
        self.views
            .get(&(venue, symbol))
            .and_then(|sender| sender.borrow().clone())
    }

    /// Subscribes to a pair's views.
    pub fn subscribe(
        &self,
        venue: Venue,
        symbol: Symbol,
    ) -> Option<watch::Receiver<Option<Arc<BookView>>>> {
        self.views
            .get(&(venue, symbol))
            .map(watch::Sender::subscribe)
    }
}

/// Where data-quality events go: logged, counted, kept in a bounded log for the API, and
/// forwarded to a listener (persistence) when one is attached.
#[derive(Debug, Clone)]
pub struct QualitySink {
    inner: Arc<QualityLog>,
}

#[derive(Debug)]
struct QualityLog {
    recent: Mutex<VecDeque<DataQualityEvent>>,
    capacity: usize,
    total: AtomicU64,
    listener: Mutex<Option<tokio::sync::mpsc::Sender<DataQualityEvent>>>,
    forward_drops: AtomicU64,
}

impl QualitySink {
    /// Creates a sink keeping the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(QualityLog {
                recent: Mutex::new(VecDeque::new()),
                capacity: capacity.max(1),
                total: AtomicU64::new(0),
                listener: Mutex::new(None),
                forward_drops: AtomicU64::new(0),
            }),
        }
    }

    /// Forwards every future event to `listener` (bounded; a full listener drops, counted).
    pub fn attach(&self, listener: tokio::sync::mpsc::Sender<DataQualityEvent>) {
        *lock(&self.inner.listener) = Some(listener);
    }

    /// Records an event.
    pub fn record(&self, event: DataQualityEvent) {
        metrics::counter!(DATA_QUALITY_EVENTS_TOTAL, "venue" => event.venue.as_str(), "kind" => event.kind.as_str()).increment(1);
        match event.kind {
            QualityKind::BookResync | QualityKind::Reconnect => info!(
                venue = %event.venue,
                symbol = event.symbol.as_ref().map(Symbol::as_str),
                kind = %event.kind,
                cause = %event.cause,
                "data quality"
            ),
            _ => warn!(
                venue = %event.venue,
                symbol = event.symbol.as_ref().map(Symbol::as_str),
                kind = %event.kind,
                from_id = event.from_id,
                to_id = event.to_id,
                cause = %event.cause,
                "data quality"
            ),
        }
        self.inner.total.fetch_add(1, Ordering::Relaxed);
        if let Some(listener) = lock(&self.inner.listener).as_ref()
            && listener.try_send(event.clone()).is_err()
        {
            self.inner.forward_drops.fetch_add(1, Ordering::Relaxed);
        }
        let mut recent = lock(&self.inner.recent);
        if recent.len() >= self.inner.capacity {
            recent.pop_front();
        }
        recent.push_back(event);
    }

    /// Returns the recent events, oldest first.
    pub fn recent(&self) -> Vec<DataQualityEvent> {
        lock(&self.inner.recent).iter().cloned().collect()
    }

    /// Returns the number of events ever recorded.
    pub fn total(&self) -> u64 {
        self.inner.total.load(Ordering::Relaxed)
    }
}

/// A global budget of connection attempts: at most `attempts` within any `window`, across
/// every venue (Binance allows 300 connections per 5 minutes per IP, Bybit 500).
#[derive(Debug)]
pub struct ConnectionBudget {
    attempts: usize,
    window: Duration,
    history: Mutex<VecDeque<Instant>>,
}

impl ConnectionBudget {
    /// Creates a budget.
    pub fn new(attempts: usize, window: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            window,
            history: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes one attempt at `now`, or returns how long to wait until one is free.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        let mut history = lock(&self.history);
        while let Some(&oldest) = history.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                history.pop_front();
            } else {
                break;
            }
        }
        if history.len() < self.attempts {
            history.push_back(now);
            return Ok(());
        }
        let oldest = history.front().copied().unwrap_or(now);
        Err((oldest + self.window)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Price, Qty, Side, TimestampMs, TradeFlags, UnixNanos};

    fn trade(venue: Venue, id: TradeId) -> Trade {
        Trade {
            venue,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            id,
            price: Price::from_int(1),
            qty: Qty::from_int(1),
            side: Side::Buy,
            trade_time: TimestampMs(0),
            event_time: TimestampMs(0),
            received_at: UnixNanos(0),
            flags: TradeFlags::AGGREGATE,
            sequence: None,
            fills: None,
        }
    }

    #[test]
    fn binance_ids_reveal_gaps_and_duplicates() {
        let cursor = SymbolCursor::default();
        let batch = |ids: &[u64]| {
            ids.iter()
                .map(|&id| trade(Venue::BinanceSpot, TradeId::Number(id)))
                .collect::<Vec<_>>()
        };
        let first = cursor.admit_trades(Venue::BinanceSpot, batch(&[10, 11]));
        assert_eq!(
            (first.trades.len(), first.duplicates, first.gaps.len()),
            (2, 0, 0)
        );
        let second = cursor.admit_trades(Venue::BinanceSpot, batch(&[11, 12, 15, 14, 16]));
        assert_eq!(
            second
                .trades
                .iter()
                .map(|t| t.id.as_number().unwrap())
                .collect::<Vec<_>>(),
            [12, 15, 16]
        );
        assert_eq!((second.duplicates, second.gaps), (2, vec![(13, 14)]));
        assert_eq!(cursor.last_trade_id(), Some(16));
    }

    #[test]
    fn bybit_duplicates_are_dropped_by_id() {
        let cursor = SymbolCursor::default();
        let ids = |n: &[&str]| {
            n.iter()
                .map(|s| trade(Venue::BybitSpot, TradeId::from_text(s)))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cursor
                .admit_trades(Venue::BybitSpot, ids(&["a", "b"]))
                .trades
                .len(),
            2
        );
        let again = cursor.admit_trades(Venue::BybitSpot, ids(&["b", "c"]));
        assert_eq!(
            (again.trades.len(), again.duplicates, again.gaps.len()),
            (1, 1, 0)
        );
    }

    #[test]
    fn the_budget_allows_n_attempts_per_window() {
        let budget = ConnectionBudget::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(budget.try_take(t0).is_ok());
        assert!(budget.try_take(t0 + Duration::from_secs(1)).is_ok());
        assert_eq!(
            budget.try_take(t0 + Duration::from_secs(2)),
            Err(Duration::from_secs(8))
        );
        assert!(budget.try_take(t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn the_quality_log_is_bounded_and_forwards() {
        let sink = QualitySink::new(2);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        sink.attach(tx);
        for cause in ["a", "b", "c"] {
            sink.record(DataQualityEvent::now(
                Venue::BybitSpot,
                None,
                QualityKind::Reconnect,
                cause,
            ));
        }
        let causes: Vec<String> = sink.recent().into_iter().map(|e| e.cause).collect();
        assert_eq!(causes, ["b", "c"]);
        assert_eq!(sink.total(), 3);
        assert_eq!(rx.try_recv().unwrap().cause, "a");
        assert!(
            rx.try_recv().is_err(),
            "the full listener dropped the others"
        );
    }
}
