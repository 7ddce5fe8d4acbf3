//! Local order books, kept exactly by each venue's documented procedure.
//!
//! - **Binance spot**: buffer diffs; fetch a REST snapshot; if its `lastUpdateId` is below the
//!   first buffered `U`, fetch again; drop diffs with `u <= lastUpdateId`; then a diff with
//!   `u <=` the local id is stale, one with `U >` local id + 1 is a gap, anything else applies.
//! - **Binance USD-M**: as spot, but drop diffs with `u < lastUpdateId`; the first applied
//!   must have `U <= lastUpdateId <= u` (or, when the snapshot came before any diff, `pu ==
//!   lastUpdateId`: the diff right after it); after it, each diff's `pu` must equal the
//!   previous diff's `u`, else it is a gap. Removing a level the book does not have is normal.
//! - **Bybit**: a snapshot (the first message of a subscription, a venue re-send, or `u = 1`
//!   after a venue restart) replaces the book; deltas apply in `u` order, size 0 deleting.
//!   `u` is contiguous, so a jump is a gap (resubscribe for a new snapshot).
//!
//! A gap clears the book; the caller records it and starts a resync (REST snapshot or
//! resubscription) for that one symbol. Diffs waiting for a snapshot are held in a bounded
//! buffer that drops its oldest entry when full (counted): the snapshot-age check above then
//! makes sure the book is still rebuilt consistently.

use std::collections::{BTreeMap, VecDeque};

use crate::model::{
    BookDelta, BookSnapshot, BookView, DeltaSequence, Level, Price, Qty, SnapshotSequence, Symbol,
    TimestampMs, UnixNanos, Venue,
};

/// Price levels of both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderBook {
    bids: BTreeMap<Price, Qty>,
    asks: BTreeMap<Price, Qty>,
}

impl OrderBook {
    /// Replaces both sides.
    pub fn replace(&mut self, bids: &[Level], asks: &[Level]) {
        self.bids.clear();
        self.asks.clear();
        self.apply(bids, asks);
    }

    /// Applies level changes: size 0 removes the level (absent or not), anything else sets it.
    pub fn apply(&mut self, bids: &[Level], asks: &[Level]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for level in levels {
                if level.qty.is_zero() {
                    side.remove(&level.price);
                } else {
                    side.insert(level.price, level.qty);
                }
            }
        }
    }

    /// Empties the book.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Returns the best bid.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids
            .iter()
            .next_back()
            .map(|(&price, &qty)| Level { price, qty })
    }

    /// Returns the best ask.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks
            .iter()
            .next()
            .map(|(&price, &qty)| Level { price, qty })
    }

    /// Returns up to `depth` bids, highest first.
    pub fn top_bids(&self, depth: usize) -> Vec<Level> {
        self.bids
            .iter()
            .rev()
            .take(depth)
            .map(|(&price, &qty)| Level { price, qty })
            .collect()
    }

    /// Returns up to `depth` asks, lowest first.
    pub fn top_asks(&self, depth: usize) -> Vec<Level> {
        self.asks
            .iter()
            .take(depth)
            .map(|(&price, &qty)| Level { price, qty })
            .collect()
    }

    /// Returns the number of (bid, ask) levels.
    pub fn len(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Returns true if both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }
}

/// What happened to the book when an update was fed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookOutcome {
    /// Held until a snapshot arrives.
    Buffered,
    /// The update changed the book.
    Applied,
    /// Already covered by the book: dropped.
    Stale,
    /// A delta before the first snapshot of a stream that sends its own (Bybit): dropped.
    AwaitingSnapshot,
    /// A snapshot was applied, then `replayed` buffered diffs on top of it (`discarded` were
    /// older than the snapshot).
    Synced {
        /// Buffered diffs applied after the snapshot.
        replayed: usize,
        /// Buffered diffs the snapshot already covered.
        discarded: usize,
        /// True if the venue reset the book (Bybit `u = 1`).
        venue_reset: bool,
    },
    /// The REST snapshot is older than the buffered diffs: fetch another.
    SnapshotTooOld {
        /// The snapshot's `lastUpdateId`.
        snapshot_id: u64,
        /// The first buffered diff's `U`.
        first_buffered: u64,
    },
    /// The REST snapshot is ahead of the stream: for longer than the tolerance every diff
    /// since it was older than it, so the book would never move. It was discarded: fetch
    /// another.
    SnapshotTooNew {
        /// The snapshot's `lastUpdateId`.
        snapshot_id: u64,
        /// The latest diff's final update id.
        stream_id: u64,
    },
    /// Updates are missing: the book was cleared and must be rebuilt.
    Gap {
        /// The first update id that was expected.
        expected: u64,
        /// The update id that came instead.
        received: u64,
    },
}

/// Sync state of one book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// No snapshot yet (or discarded after a gap).
    Unsynced,
    /// In sync; `last` is the last applied update id (`u`). For USD-M, `first_pending` is
    /// true until the first diff after the snapshot has been applied.
    Synced { last: u64, first_pending: bool },
}

/// One (venue, symbol) book and the procedure that keeps it consistent.
#[derive(Debug, Clone)]
pub struct BookKeeper {
    venue: Venue,
    symbol: Symbol,
    book: OrderBook,
    sync: Sync,
    buffer: VecDeque<BookDelta>,
    buffer_limit: usize,
    buffer_drops: u64,
    last_event_time: Option<TimestampMs>,
    last_received: UnixNanos,
    /// Since a REST snapshot with no diff applied on top yet: when it arrived and how many
    /// diffs were older than it since.
    unproven: Option<(UnixNanos, u32)>,
    /// How long diffs may all be older than a snapshot before it is judged ahead.
    ahead_tolerance: std::time::Duration,
}

/// Diffs older than a snapshot that, with [`BookKeeper::with_ahead_tolerance`] passed, show
/// it is ahead of the stream (a handful are normal: those in flight when it was taken).
const AHEAD_MIN_STALE: u32 = 10;

impl BookKeeper {
    /// Creates an empty, unsynced book that buffers at most `buffer_limit` diffs (at least 1).
    pub fn new(venue: Venue, symbol: Symbol, buffer_limit: usize) -> Self {
        Self {
            venue,
            symbol,
            book: OrderBook::default(),
            sync: Sync::Unsynced,
            buffer: VecDeque::new(),
            buffer_limit: buffer_limit.max(1),
            buffer_drops: 0,
            last_event_time: None,
            last_received: UnixNanos::default(),
            unproven: None,
            ahead_tolerance: std::time::Duration::from_secs(5),
        }
    }

    /// Sets how long every diff may be older than a fresh snapshot before the snapshot is
    /// judged ahead of the stream ([`BookOutcome::SnapshotTooNew`]).
    #[must_use]
    pub fn with_ahead_tolerance(mut self, tolerance: std::time::Duration) -> Self {
        self.ahead_tolerance = tolerance;
        self
    }

    /// A diff older than the book: dropped, and counted against a snapshot not proven yet.
    fn stale(&mut self, last: u64, delta: &BookDelta) -> BookOutcome {
        if let Some((since, count)) = self.unproven.as_mut() {
            *count = count.saturating_add(1);
            let waited = delta.received_at.0.saturating_sub(since.0);
            let tolerance = i64::try_from(self.ahead_tolerance.as_nanos()).unwrap_or(i64::MAX);
            if *count >= AHEAD_MIN_STALE && waited >= tolerance {
                self.unproven = None;
                self.reset();
                self.buffer.clear();
                return BookOutcome::SnapshotTooNew {
                    snapshot_id: last,
                    stream_id: final_update_id(delta),
                };
            }
        }
        BookOutcome::Stale
    }

    /// Returns the book.
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// Returns the last applied update id, if the book is in sync.
    pub fn last_update_id(&self) -> Option<u64> {
        match self.sync {
            Sync::Synced { last, .. } => Some(last),
            Sync::Unsynced => None,
        }
    }

    /// Returns true once a diff was applied on top of the last REST snapshot (a snapshot
    /// the stream continues); true for books without REST snapshots.
    pub fn is_proven(&self) -> bool {
        self.unproven.is_none()
    }

    /// Returns true if the book is in sync.
    pub fn is_synced(&self) -> bool {
        matches!(self.sync, Sync::Synced { .. })
    }

    /// Returns how many buffered diffs were dropped because the buffer was full.
    pub fn buffer_drops(&self) -> u64 {
        self.buffer_drops
    }

    /// Returns how many diffs are buffered.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Discards the book and waits for a new snapshot (diffs are buffered meanwhile).
    pub fn reset(&mut self) {
        self.book.clear();
        self.sync = Sync::Unsynced;
        self.unproven = None;
    }

    /// Returns the top `depth` levels of each side, if the book is in sync.
    pub fn view(&self, depth: usize) -> Option<BookView> {
        let update_id = self.last_update_id()?;
        Some(BookView {
            venue: self.venue,
            symbol: self.symbol,
            update_id,
            bids: self.book.top_bids(depth),
            asks: self.book.top_asks(depth),
            event_time: self.last_event_time,
            received_at: self.last_received,
        })
    }

    /// Feeds a diff (Binance) or delta (Bybit).
    pub fn on_delta(&mut self, delta: BookDelta) -> BookOutcome {
        let Sync::Synced {
            last,
            first_pending,
        } = self.sync
        else {
            if let DeltaSequence::Bybit { .. } = delta.sequence {
                return BookOutcome::AwaitingSnapshot;
            }
            if self.buffer.len() >= self.buffer_limit {
                self.buffer.pop_front();
                self.buffer_drops += 1;
            }
            self.buffer.push_back(delta);
            return BookOutcome::Buffered;
        };
        let outcome = match delta.sequence {
            DeltaSequence::BinanceSpot {
                first_update_id,
                final_update_id,
            } => {
                if final_update_id <= last {
                    return self.stale(last, &delta);
                }
                if first_update_id > last + 1 {
                    self.gap(last + 1, first_update_id)
                } else {
                    self.advance(final_update_id)
                }
            }
            DeltaSequence::BinanceUsdm {
                first_update_id,
                final_update_id,
                previous_final_update_id,
            } => {
                if first_pending {
                    if final_update_id < last {
                        return self.stale(last, &delta);
                    }
                    // The documented first diff straddles the snapshot (U <= id <= u). When the
                    // snapshot arrived before any diff, the next one starts right after it
                    // instead, and its pu names the snapshot's id: equally contiguous.
                    if first_update_id > last && previous_final_update_id != last {
                        self.gap(last, first_update_id)
                    } else {
                        self.advance(final_update_id)
                    }
                } else if previous_final_update_id != last {
                    if final_update_id <= last {
                        return BookOutcome::Stale;
                    }
                    self.gap(last, previous_final_update_id)
                } else {
                    self.advance(final_update_id)
                }
            }
            DeltaSequence::Bybit { update_id, .. } => {
                if update_id <= last {
                    return BookOutcome::Stale;
                }
                if update_id != last + 1 {
                    self.gap(last + 1, update_id)
                } else {
                    self.advance(update_id)
                }
            }
        };
        if outcome == BookOutcome::Applied {
            self.unproven = None;
            self.book.apply(&delta.bids, &delta.asks);
            self.last_event_time = Some(delta.event_time);
            self.last_received = delta.received_at;
        } else {
            // The diff after a gap starts the new buffer, so a snapshot can build on it.
            self.buffer.push_back(delta);
        }
        outcome
    }

    /// Feeds a snapshot: a Binance REST snapshot or a Bybit WebSocket snapshot.
    pub fn on_snapshot(&mut self, snapshot: BookSnapshot) -> BookOutcome {
        match snapshot.sequence {
            SnapshotSequence::Bybit { update_id, .. } => {
                self.book.replace(&snapshot.bids, &snapshot.asks);
                self.sync = Sync::Synced {
                    last: update_id,
                    first_pending: false,
                };
                self.buffer.clear();
                self.last_event_time = snapshot.event_time;
                self.last_received = snapshot.received_at;
                BookOutcome::Synced {
                    replayed: 0,
                    discarded: 0,
                    venue_reset: update_id == 1,
                }
            }
            SnapshotSequence::Binance { last_update_id } => {
                self.apply_binance_snapshot(last_update_id, snapshot)
            }
        }
    }

    fn apply_binance_snapshot(&mut self, snapshot_id: u64, snapshot: BookSnapshot) -> BookOutcome {
        let usdm = self.venue == Venue::BinanceUsdm;
        // A snapshot older than every buffered diff leaves updates unaccounted for (spot: the
        // documented refetch rule; USD-M: no buffered diff could straddle it).
        if let Some(first) = self.buffer.front() {
            let first_buffered = first_update_id(first);
            if snapshot_id < first_buffered {
                return BookOutcome::SnapshotTooOld {
                    snapshot_id,
                    first_buffered,
                };
            }
        }
        self.book.replace(&snapshot.bids, &snapshot.asks);
        self.sync = Sync::Synced {
            last: snapshot_id,
            first_pending: usdm,
        };
        self.last_event_time = snapshot.event_time;
        self.last_received = snapshot.received_at;
        self.unproven = Some((snapshot.received_at, 0));
        let buffered: Vec<BookDelta> = self.buffer.drain(..).collect();
        let mut replayed = 0;
        let mut discarded = 0;
        for delta in buffered {
            let covered = if usdm {
                final_update_id(&delta) < snapshot_id
            } else {
                final_update_id(&delta) <= snapshot_id
            };
            if covered {
                discarded += 1;
                continue;
            }
            match self.on_delta(delta) {
                BookOutcome::Applied => replayed += 1,
                BookOutcome::Stale => discarded += 1,
                gap @ BookOutcome::Gap { .. } => return gap,
                other => debug_assert!(false, "unexpected outcome {other:?} while replaying"),
            }
        }
        BookOutcome::Synced {
            replayed,
            discarded,
            venue_reset: false,
        }
    }

    /// Records `last` as the last applied update id: the update applies.
    fn advance(&mut self, last: u64) -> BookOutcome {
        self.sync = Sync::Synced {
            last,
            first_pending: false,
        };
        BookOutcome::Applied
    }

    fn gap(&mut self, expected: u64, received: u64) -> BookOutcome {
        self.reset();
        self.buffer.clear();
        BookOutcome::Gap { expected, received }
    }
}

fn first_update_id(delta: &BookDelta) -> u64 {
    match delta.sequence {
        DeltaSequence::BinanceSpot {
            first_update_id, ..
        }
        | DeltaSequence::BinanceUsdm {
            first_update_id, ..
        } => first_update_id,
        DeltaSequence::Bybit { update_id, .. } => update_id,
    }
}

fn final_update_id(delta: &BookDelta) -> u64 {
    match delta.sequence {
        DeltaSequence::BinanceSpot {
            final_update_id, ..
        }
        | DeltaSequence::BinanceUsdm {
            final_update_id, ..
        } => final_update_id,
        DeltaSequence::Bybit { update_id, .. } => update_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(price: i64, qty: i64) -> Level {
        Level {
            price: Price::from_int(price),
            qty: Qty::from_int(qty),
        }
    }

    fn sym() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn spot(first: u64, last: u64, bids: Vec<Level>) -> BookDelta {
        BookDelta {
            venue: Venue::BinanceSpot,
            symbol: sym(),
            sequence: DeltaSequence::BinanceSpot {
                first_update_id: first,
                final_update_id: last,
            },
            bids,
            asks: vec![],
            event_time: TimestampMs(last as i64),
            transaction_time: None,
            received_at: UnixNanos(last as i64),
        }
    }

    fn usdm(first: u64, last: u64, previous: u64, bids: Vec<Level>) -> BookDelta {
        BookDelta {
            venue: Venue::BinanceUsdm,
            sequence: DeltaSequence::BinanceUsdm {
                first_update_id: first,
                final_update_id: last,
                previous_final_update_id: previous,
            },
            ..spot(first, last, bids)
        }
    }

    fn bybit(update_id: u64, bids: Vec<Level>) -> BookDelta {
        BookDelta {
            venue: Venue::BybitSpot,
            sequence: DeltaSequence::Bybit {
                update_id,
                cross_sequence: update_id * 10,
            },
            ..spot(update_id, update_id, bids)
        }
    }

    fn rest(venue: Venue, last_update_id: u64, bids: Vec<Level>) -> BookSnapshot {
        BookSnapshot {
            venue,
            symbol: sym(),
            sequence: SnapshotSequence::Binance { last_update_id },
            bids,
            asks: vec![lv(200, 1)],
            event_time: None,
            received_at: UnixNanos(0),
        }
    }

    fn bybit_snapshot(update_id: u64, bids: Vec<Level>) -> BookSnapshot {
        BookSnapshot {
            venue: Venue::BybitSpot,
            sequence: SnapshotSequence::Bybit {
                update_id,
                cross_sequence: update_id * 10,
            },
            ..rest(Venue::BybitSpot, 0, bids)
        }
    }

    #[test]
    fn a_snapshot_ahead_of_the_stream_is_discarded_after_the_tolerance() {
        let second = 1_000_000_000;
        let mut keeper = BookKeeper::new(Venue::BinanceSpot, sym(), 100)
            .with_ahead_tolerance(std::time::Duration::from_secs(1));
        assert!(matches!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 1_000_000, vec![lv(100, 1)])),
            BookOutcome::Synced { .. }
        ));
        let at = |id: u64, nanos: i64| BookDelta {
            received_at: UnixNanos(nanos),
            ..spot(id, id, vec![])
        };
        // Older diffs within the tolerance, or too few of them, are just stale.
        for id in 1..=20 {
            assert_eq!(keeper.on_delta(at(id, second / 2)), BookOutcome::Stale);
        }
        assert_eq!(
            keeper.on_delta(at(21, second + 1)),
            BookOutcome::SnapshotTooNew {
                snapshot_id: 1_000_000,
                stream_id: 21
            }
        );
        assert!(!keeper.is_synced());
        assert_eq!(keeper.on_delta(at(22, second + 2)), BookOutcome::Buffered);
        // A snapshot the stream continues is proven by its first applied diff: later stale
        // diffs do not count against it.
        assert!(matches!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 22, vec![lv(100, 1)])),
            BookOutcome::Synced { .. }
        ));
        assert_eq!(keeper.on_delta(at(23, 3 * second)), BookOutcome::Applied);
        for _ in 0..20 {
            assert_eq!(keeper.on_delta(at(23, 9 * second)), BookOutcome::Stale);
        }
    }

    #[test]
    fn spot_buffers_until_the_snapshot_then_replays_what_it_does_not_cover() {
        let mut keeper = BookKeeper::new(Venue::BinanceSpot, sym(), 100);
        assert_eq!(
            keeper.on_delta(spot(100, 105, vec![lv(100, 1)])),
            BookOutcome::Buffered
        );
        assert_eq!(
            keeper.on_delta(spot(106, 110, vec![lv(101, 2)])),
            BookOutcome::Buffered
        );
        assert_eq!(
            keeper.on_delta(spot(111, 115, vec![lv(102, 3)])),
            BookOutcome::Buffered
        );
        assert!(keeper.view(10).is_none());
        // Snapshot at 108: the first diff (u = 105 <= 108) is covered; the second straddles it.
        let outcome = keeper.on_snapshot(rest(Venue::BinanceSpot, 108, vec![lv(99, 9)]));
        assert_eq!(
            outcome,
            BookOutcome::Synced {
                replayed: 2,
                discarded: 1,
                venue_reset: false
            }
        );
        assert_eq!(keeper.last_update_id(), Some(115));
        assert_eq!(
            keeper.book().top_bids(10),
            vec![lv(102, 3), lv(101, 2), lv(99, 9)]
        );
        assert_eq!(
            keeper.on_delta(spot(116, 116, vec![lv(102, 0)])),
            BookOutcome::Applied
        );
        assert_eq!(keeper.book().best_bid(), Some(lv(101, 2)));
    }

    #[test]
    fn spot_refetches_a_snapshot_older_than_the_first_buffered_diff() {
        let mut keeper = BookKeeper::new(Venue::BinanceSpot, sym(), 100);
        keeper.on_delta(spot(100, 105, vec![]));
        assert_eq!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 99, vec![])),
            BookOutcome::SnapshotTooOld {
                snapshot_id: 99,
                first_buffered: 100
            }
        );
        assert!(!keeper.is_synced());
        assert_eq!(
            keeper.buffered(),
            1,
            "the buffer survives for the next snapshot"
        );
        assert!(matches!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 100, vec![])),
            BookOutcome::Synced { replayed: 1, .. }
        ));
    }

    #[test]
    fn spot_drops_stale_diffs_and_detects_gaps() {
        let mut keeper = BookKeeper::new(Venue::BinanceSpot, sym(), 100);
        keeper.on_snapshot(rest(Venue::BinanceSpot, 50, vec![lv(1, 1)]));
        // U <= id + 1 <= u: a diff overlapping the snapshot applies.
        assert_eq!(keeper.on_delta(spot(45, 55, vec![])), BookOutcome::Applied);
        assert_eq!(keeper.on_delta(spot(50, 55, vec![])), BookOutcome::Stale);
        assert_eq!(keeper.on_delta(spot(56, 60, vec![])), BookOutcome::Applied);
        assert_eq!(
            keeper.on_delta(spot(62, 70, vec![])),
            BookOutcome::Gap {
                expected: 61,
                received: 62
            }
        );
        assert!(!keeper.is_synced());
        assert!(keeper.book().is_empty());
        // The diff after the gap is kept to build on the next snapshot.
        assert_eq!(keeper.buffered(), 1);
        assert!(matches!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 65, vec![])),
            BookOutcome::Synced { replayed: 1, .. }
        ));
        assert_eq!(keeper.last_update_id(), Some(70));
    }

    #[test]
    fn spot_gap_in_the_buffer_is_reported_at_snapshot_time() {
        let mut keeper = BookKeeper::new(Venue::BinanceSpot, sym(), 100);
        keeper.on_delta(spot(100, 105, vec![]));
        keeper.on_delta(spot(110, 115, vec![]));
        assert_eq!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 101, vec![])),
            BookOutcome::Gap {
                expected: 106,
                received: 110
            }
        );
    }

    #[test]
    fn a_full_buffer_drops_its_oldest_diff_and_counts_it() {
        let mut keeper = BookKeeper::new(Venue::BinanceSpot, sym(), 2);
        keeper.on_delta(spot(1, 1, vec![]));
        keeper.on_delta(spot(2, 2, vec![]));
        keeper.on_delta(spot(3, 3, vec![]));
        assert_eq!((keeper.buffered(), keeper.buffer_drops()), (2, 1));
        // The snapshot must now reach the first kept diff's U (2); an older one is refused.
        assert!(matches!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 1, vec![])),
            BookOutcome::SnapshotTooOld { .. }
        ));
        assert!(matches!(
            keeper.on_snapshot(rest(Venue::BinanceSpot, 2, vec![])),
            BookOutcome::Synced {
                replayed: 1,
                discarded: 1,
                ..
            }
        ));
    }

    #[test]
    fn usdm_first_diff_must_straddle_the_snapshot_then_pu_must_chain() {
        let mut keeper = BookKeeper::new(Venue::BinanceUsdm, sym(), 100);
        keeper.on_delta(usdm(90, 99, 89, vec![]));
        keeper.on_delta(usdm(100, 105, 99, vec![lv(100, 1)]));
        keeper.on_delta(usdm(106, 110, 105, vec![lv(101, 1)]));
        // USD-M drops diffs with u < lastUpdateId (strictly): u = 99 < 100 goes; U=100 <= 100 <= 105 applies.
        let outcome = keeper.on_snapshot(rest(Venue::BinanceUsdm, 100, vec![]));
        assert_eq!(
            outcome,
            BookOutcome::Synced {
                replayed: 2,
                discarded: 1,
                venue_reset: false
            }
        );
        assert_eq!(keeper.last_update_id(), Some(110));
        assert_eq!(
            keeper.on_delta(usdm(111, 120, 110, vec![])),
            BookOutcome::Applied
        );
        // pu must equal the previous u.
        assert_eq!(
            keeper.on_delta(usdm(125, 130, 121, vec![])),
            BookOutcome::Gap {
                expected: 120,
                received: 121
            }
        );
    }

    #[test]
    fn usdm_removing_an_unknown_level_is_normal() {
        let mut keeper = BookKeeper::new(Venue::BinanceUsdm, sym(), 100);
        keeper.on_snapshot(rest(Venue::BinanceUsdm, 10, vec![lv(100, 1)]));
        assert_eq!(
            keeper.on_delta(usdm(8, 12, 7, vec![lv(50, 0)])),
            BookOutcome::Applied
        );
        assert_eq!(keeper.book().top_bids(10), vec![lv(100, 1)]);
    }

    #[test]
    fn usdm_first_diff_after_the_snapshot_must_cover_it_or_follow_it() {
        let mut keeper = BookKeeper::new(Venue::BinanceUsdm, sym(), 100);
        keeper.on_snapshot(rest(Venue::BinanceUsdm, 10, vec![]));
        assert_eq!(keeper.on_delta(usdm(3, 9, 2, vec![])), BookOutcome::Stale);
        assert_eq!(
            keeper.on_delta(usdm(12, 15, 11, vec![])),
            BookOutcome::Gap {
                expected: 10,
                received: 12
            }
        );
        // A snapshot that came before any diff: the next diff follows it (pu = id).
        let mut keeper = BookKeeper::new(Venue::BinanceUsdm, sym(), 100);
        keeper.on_snapshot(rest(Venue::BinanceUsdm, 10, vec![]));
        assert_eq!(
            keeper.on_delta(usdm(11, 15, 10, vec![])),
            BookOutcome::Applied
        );
        assert_eq!(keeper.last_update_id(), Some(15));
    }

    #[test]
    fn bybit_snapshot_replaces_deltas_apply_in_order_and_a_jump_is_a_gap() {
        let mut keeper = BookKeeper::new(Venue::BybitSpot, sym(), 100);
        assert_eq!(
            keeper.on_delta(bybit(5, vec![])),
            BookOutcome::AwaitingSnapshot
        );
        keeper.on_snapshot(bybit_snapshot(10, vec![lv(100, 1), lv(99, 2)]));
        assert_eq!(
            keeper.on_delta(bybit(11, vec![lv(100, 0), lv(98, 5)])),
            BookOutcome::Applied
        );
        assert_eq!(keeper.book().top_bids(10), vec![lv(99, 2), lv(98, 5)]);
        assert_eq!(keeper.on_delta(bybit(11, vec![])), BookOutcome::Stale);
        assert_eq!(
            keeper.on_delta(bybit(13, vec![])),
            BookOutcome::Gap {
                expected: 12,
                received: 13
            }
        );
        assert!(keeper.book().is_empty());
    }

    #[test]
    fn bybit_u1_and_a_repeated_snapshot_overwrite_the_book() {
        let mut keeper = BookKeeper::new(Venue::BybitSpot, sym(), 100);
        keeper.on_snapshot(bybit_snapshot(500, vec![lv(100, 1)]));
        keeper.on_delta(bybit(501, vec![lv(101, 1)]));
        // The venue resends a snapshot: it replaces everything, whatever its id.
        let outcome = keeper.on_snapshot(bybit_snapshot(501, vec![lv(90, 7)]));
        assert_eq!(
            outcome,
            BookOutcome::Synced {
                replayed: 0,
                discarded: 0,
                venue_reset: false
            }
        );
        assert_eq!(keeper.book().top_bids(10), vec![lv(90, 7)]);
        // After a venue restart u starts again at 1: overwrite, and continue from 1.
        let outcome = keeper.on_snapshot(bybit_snapshot(1, vec![lv(80, 3)]));
        assert_eq!(
            outcome,
            BookOutcome::Synced {
                replayed: 0,
                discarded: 0,
                venue_reset: true
            }
        );
        assert_eq!(keeper.book().top_bids(10), vec![lv(80, 3)]);
        assert_eq!(
            keeper.on_delta(bybit(2, vec![lv(81, 1)])),
            BookOutcome::Applied
        );
        assert_eq!(keeper.last_update_id(), Some(2));
    }

    #[test]
    fn views_show_the_top_levels_in_book_order() {
        let mut keeper = BookKeeper::new(Venue::BybitSpot, sym(), 100);
        let mut snapshot = bybit_snapshot(1, vec![lv(97, 1), lv(99, 1), lv(98, 1)]);
        snapshot.asks = vec![lv(103, 1), lv(101, 1), lv(102, 1)];
        keeper.on_snapshot(snapshot);
        let view = keeper.view(2).unwrap();
        assert_eq!(view.bids, vec![lv(99, 1), lv(98, 1)]);
        assert_eq!(view.asks, vec![lv(101, 1), lv(102, 1)]);
        assert_eq!(view.update_id, 1);
    }
}
