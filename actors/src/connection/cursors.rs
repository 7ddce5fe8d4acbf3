//! Per-symbol state shared by every session of a venue and kept across connection actor
//! restarts (the composition root owns it): trade-time continuity across lost sockets, and
//! the state of each local book for status and `/health`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{Symbol, Trade, Venue};
use crate::util::lock;

/// Trade continuity of one symbol, for venues whose trade ids are not contiguous (Bybit):
/// across a lost socket, the time range in which trades may be missing. (Duplicates and
/// id gaps are the aggregator's: its ledger sees every trade, whatever path brought it.)
#[derive(Debug, Default)]
struct TradeCursor {
    /// Exchange time of the last trade routed (ms).
    last_time: Option<i64>,
    /// Set when the socket carrying this symbol's trades was lost: the next trade closes a
    /// time range in which trades may be missing.
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
    /// The venue's last `connection.snapshot_attempts` snapshots in a row did not fit its
    /// stream (older or newer): not served; snapshots are still fetched, with backoff.
    OutOfSync,
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
    unusable_snapshots: AtomicU64,
}

impl SymbolCursor {
    /// Notes a batch of one symbol's trades on its way to the aggregator. For venues
    /// without contiguous ids, after a lost socket, returns the exchange times (ms,
    /// inclusive) of the last trade before the loss and the first one after it, between
    /// which trades may be missing.
    pub fn note_trades(&self, venue: Venue, trades: &[Trade]) -> Option<(i64, i64)> {
        let latest = trades.iter().map(|t| t.trade_time.as_millis()).max()?;
        let first = trades.first()?.trade_time.as_millis();
        let mut cursor = lock(&self.trades);
        let mut gap = None;
        if cursor.broken {
            cursor.broken = false;
            if venue.exchange() != crate::model::Exchange::Binance
                && let Some(last) = cursor.last_time
            {
                gap = Some((last, first.max(last)));
            }
        }
        cursor.last_time = Some(cursor.last_time.map_or(latest, |last| last.max(latest)));
        gap
    }

    /// Notes that the socket carrying this symbol's trades was lost without a replacement.
    pub fn trades_interrupted(&self) {
        lock(&self.trades).broken = true;
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

    /// Records how many snapshots in a row did not fit the stream.
    pub fn set_unusable_snapshots(&self, count: u64) {
        self.unusable_snapshots.store(count, Ordering::Relaxed);
    }

    /// How many snapshots in a row did not fit the stream.
    pub fn unusable_snapshots(&self) -> u64 {
        self.unusable_snapshots.load(Ordering::Relaxed)
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
            3 => BookState::OutOfSync,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Price, Qty, Side, TimestampMs, TradeFlags, TradeId, UnixNanos};

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
    fn a_lost_socket_opens_a_time_range_on_venues_without_contiguous_ids() {
        let cursor = SymbolCursor::default();
        let at = |time: i64| {
            let mut t = trade(Venue::BybitSpot, TradeId::from_text("x"));
            t.trade_time = TimestampMs(time);
            t
        };
        assert_eq!(
            cursor.note_trades(Venue::BybitSpot, &[at(10), at(20)]),
            None
        );
        cursor.trades_interrupted();
        assert_eq!(
            cursor.note_trades(Venue::BybitSpot, &[at(50), at(60)]),
            Some((20, 50))
        );
        assert_eq!(cursor.note_trades(Venue::BybitSpot, &[at(70)]), None);
        let binance = SymbolCursor::default();
        binance.note_trades(Venue::BinanceSpot, &[at(10)]);
        binance.trades_interrupted();
        assert_eq!(
            binance.note_trades(Venue::BinanceSpot, &[at(50)]),
            None,
            "Binance gaps are found by id, in the aggregator"
        );
    }
}
