//! Each trade counted once per (venue, symbol), whatever path brought it: a live socket, a
//! second socket overlapping it during a rotation, a reconnect that repeats trades, the
//! store at a warm start, or REST repair and backfill.
//!
//! - **Binance** trade ids (aggregate `a` or raw `t`) are contiguous per symbol. The ledger
//!   keeps every id taken as ranges ([`IdRanges`]): usually one range, plus one per hole.
//!   An id inside is a duplicate; an id outside is new, however old (a trade that fills a
//!   hole, from a socket that was behind or from REST). A jump past the highest id opens
//!   a hole; a hole still open after the grace period is reported as a trade gap (ids and
//!   the times of the trades around it), so an overlapping socket that was merely behind
//!   does not raise a false gap.
//! - **Bybit** ids are opaque strings. The ledger remembers the last [`OPAQUE_HORIZON`] ids
//!   per symbol. Bybit sends each trade once per socket, so duplicates come only from two
//!   sockets overlapping (seconds of trades) and from REST `recent-trade` (the last 1,000
//!   trades at most), both well inside that horizon. A warm start fills the set from the
//!   stored raw trades; without them it refuses trades at or before the last stored trade
//!   time instead, since it cannot tell them apart.

use std::collections::{HashSet, VecDeque};

use super::ids::IdRanges;
use crate::model::{Exchange, Trade, TradeId, Venue};

/// How many recent opaque (Bybit) ids are remembered per symbol.
pub const OPAQUE_HORIZON: usize = 8_192;

/// How many id ranges (one per hole) a contiguous ledger keeps; beyond, the lowest are
/// forgotten and ids below what is kept are refused as beyond the horizon.
pub const MAX_RANGES: usize = 4_096;

/// What the ledger says of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before: take it.
    New,
    /// Already taken.
    Duplicate,
    /// Older than what the ledger remembers: it cannot be told from a duplicate, so it is
    /// refused.
    BeyondHorizon,
}

/// A hole in contiguous ids, found by a jump past the highest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdGap {
    /// First missing id.
    pub first: u64,
    /// Last missing id.
    pub last: u64,
    /// Trade time of the trade before the hole (ms).
    pub from_time: i64,
    /// Trade time of the trade after the hole (ms).
    pub to_time: i64,
    /// When the hole was found (Unix ms, local clock).
    pub found_at: i64,
}

/// The ids one (venue, symbol) has taken.
#[derive(Debug, Clone)]
pub struct TradeLedger {
    contiguous: bool,
    taken: IdRanges,
    /// Ids below this were forgotten (contiguous ledgers only).
    floor: Option<u64>,
    /// The highest id taken and its trade time.
    highest: Option<(u64, i64)>,
    pending: Vec<IdGap>,
    /// Seeded per process (foldhash): ids come from the venue, and std's SipHash cost more
    /// than the rest of the check.
    recent: HashSet<TradeId, foldhash::fast::RandomState>,
    recent_order: VecDeque<TradeId>,
    /// Opaque ledgers restored without ids: trades at or before this time are refused.
    time_floor: Option<i64>,
}

impl TradeLedger {
    /// Creates an empty ledger for a venue's trade ids.
    pub fn new(venue: Venue) -> Self {
        Self {
            contiguous: venue.exchange() == Exchange::Binance,
            taken: IdRanges::new(),
            floor: None,
            highest: None,
            pending: Vec::new(),
            recent: HashSet::default(),
            recent_order: VecDeque::new(),
            time_floor: None,
        }
    }

    /// Returns true when the venue's ids are contiguous (gaps are detectable by id).
    pub fn is_contiguous(&self) -> bool {
        self.contiguous
    }

    /// Judges a trade and, when new, records it. `now` is the local time (Unix ms), for
    /// the gap grace period.
    pub fn admit(&mut self, trade: &Trade, now: i64) -> Verdict {
        let time = trade.trade_time.as_millis();
        match (self.contiguous, trade.id.as_number()) {
            (true, Some(id)) => self.admit_number(id, time, now),
            _ => self.admit_opaque(&trade.id, time),
        }
    }

    fn admit_number(&mut self, id: u64, time: i64, now: i64) -> Verdict {
        if self.floor.is_some_and(|floor| id < floor) {
            return Verdict::BeyondHorizon;
        }
        if !self.taken.insert(id) {
            return Verdict::Duplicate;
        }
        match self.highest {
            Some((highest, highest_time)) if id > highest => {
                if id > highest + 1 {
                    self.pending.push(IdGap {
                        first: highest + 1,
                        last: id - 1,
                        from_time: highest_time,
                        to_time: time,
                        found_at: now,
                    });
                }
                self.highest = Some((id, time));
            }
            None => self.highest = Some((id, time)),
            Some(_) => {}
        }
        if self.taken.ranges().len() > MAX_RANGES {
            let keep_from = self.taken.ranges()[self.taken.ranges().len() - MAX_RANGES].0;
            self.taken.forget_below(keep_from);
            self.floor = Some(keep_from);
        }
        Verdict::New
    }

    fn admit_opaque(&mut self, id: &TradeId, time: i64) -> Verdict {
        if self.recent.contains(id) {
            return Verdict::Duplicate;
        }
        if self.time_floor.is_some_and(|floor| time <= floor) {
            return Verdict::BeyondHorizon;
        }
        self.remember(id.clone());
        Verdict::New
    }

    fn remember(&mut self, id: TradeId) {
        if self.recent.insert(id.clone()) {
            self.recent_order.push_back(id);
            if self.recent_order.len() > OPAQUE_HORIZON
                && let Some(oldest) = self.recent_order.pop_front()
            {
                self.recent.remove(&oldest);
            }
        }
    }

    /// Takes ids a warm start found in the store: the id ranges of stored bars (contiguous
    /// venues). They open no gap: holes between them are the store's, reported by the
    /// coverage of the restored history, not found again here.
    pub fn restore_ranges(&mut self, ids: &IdRanges, last_time: i64) {
        self.taken.merge(ids);
        if let Some(last) = self.taken.last()
            && self.highest.is_none_or(|(highest, _)| last > highest)
        {
            self.highest = Some((last, last_time));
        }
    }

    /// Takes a trade a warm start found in the store (its id, without gap detection).
    pub fn restore_trade(&mut self, trade: &Trade) {
        let time = trade.trade_time.as_millis();
        match (self.contiguous, trade.id.as_number()) {
            (true, Some(id)) => {
                self.taken.insert(id);
                if self.highest.is_none_or(|(highest, _)| id > highest) {
                    self.highest = Some((id, time));
                }
            }
            _ => self.remember(trade.id.clone()),
        }
    }

    /// For opaque ids restored without the trades themselves: refuses trades at or before
    /// `time` (the latest stored trade), which cannot be told apart from those stored.
    pub fn refuse_through(&mut self, time: i64) {
        if !self.contiguous {
            self.time_floor = Some(self.time_floor.map_or(time, |t| t.max(time)));
        }
    }

    /// Returns the holes found at least `grace_ms` before `now` that are still open (each
    /// reduced to the ids still missing), and forgets them.
    pub fn due_gaps(&mut self, now: i64, grace_ms: i64) -> Vec<IdGap> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let (due, waiting): (Vec<IdGap>, Vec<IdGap>) = self
            .pending
            .drain(..)
            .partition(|gap| now - gap.found_at >= grace_ms);
        self.pending = waiting;
        due.into_iter()
            .flat_map(|gap| {
                self.taken
                    .missing(gap.first, gap.last)
                    .into_iter()
                    .map(move |(first, last)| IdGap { first, last, ..gap })
            })
            .collect()
    }

    /// True when the trade's id was taken (or, for opaque ids, is among the remembered).
    pub fn knows(&self, trade: &Trade) -> bool {
        match (self.contiguous, trade.id.as_number()) {
            (true, Some(id)) => self.taken.contains(id),
            _ => self.recent.contains(&trade.id),
        }
    }

    /// Forgets the pending hole that starts at `first` (another report covers it).
    pub fn forget_pending(&mut self, first: u64) {
        self.pending.retain(|gap| gap.first != first);
    }

    /// Returns the highest numeric id taken.
    pub fn highest_id(&self) -> Option<u64> {
        self.highest.map(|(id, _)| id)
    }

    /// Returns the ids taken (contiguous venues).
    pub fn taken(&self) -> &IdRanges {
        &self.taken
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::{Price, Qty, Side, Symbol, TimestampMs, TradeFlags, UnixNanos};

    fn trade(venue: Venue, id: TradeId, time: i64) -> Trade {
        Trade {
            venue,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            id,
            price: Price::from_int(1),
            qty: Qty::from_int(1),
            side: Side::Buy,
            trade_time: TimestampMs(time),
            event_time: TimestampMs(time),
            received_at: UnixNanos(0),
            flags: TradeFlags::AGGREGATE,
            sequence: None,
            fills: None,
        }
    }

    fn binance(id: u64) -> Trade {
        trade(Venue::BinanceSpot, TradeId::Number(id), id as i64 * 10)
    }

    #[test]
    fn a_repeated_id_is_a_duplicate_and_a_late_one_fills_its_hole() {
        let mut ledger = TradeLedger::new(Venue::BinanceSpot);
        for id in [10, 11, 12] {
            assert_eq!(ledger.admit(&binance(id), 0), Verdict::New);
        }
        assert_eq!(ledger.admit(&binance(11), 0), Verdict::Duplicate);
        assert_eq!(ledger.admit(&binance(16), 0), Verdict::New);
        assert_eq!(
            ledger.admit(&binance(14), 0),
            Verdict::New,
            "a socket behind the other fills the hole"
        );
        assert_eq!(
            ledger.admit(&binance(9), 0),
            Verdict::New,
            "older trades are new too"
        );
        assert_eq!(ledger.taken().ranges(), [(9, 12), (14, 14), (16, 16)]);
    }

    #[test]
    fn a_hole_is_reported_after_the_grace_period_with_what_is_still_missing() {
        let mut ledger = TradeLedger::new(Venue::BinanceUsdm);
        ledger.admit(&binance(1), 1_000);
        ledger.admit(&binance(6), 1_000);
        ledger.admit(&binance(3), 1_500);
        assert!(ledger.due_gaps(2_999, 2_000).is_empty(), "inside the grace");
        let gaps = ledger.due_gaps(3_000, 2_000);
        let ids: Vec<(u64, u64)> = gaps.iter().map(|g| (g.first, g.last)).collect();
        assert_eq!(ids, vec![(2, 2), (4, 5)]);
        assert_eq!((gaps[0].from_time, gaps[0].to_time), (10, 60));
        assert!(ledger.due_gaps(10_000, 2_000).is_empty(), "reported once");
    }

    #[test]
    fn a_hole_filled_within_the_grace_is_never_reported() {
        let mut ledger = TradeLedger::new(Venue::BinanceSpot);
        ledger.admit(&binance(1), 0);
        ledger.admit(&binance(4), 0);
        ledger.admit(&binance(2), 100);
        ledger.admit(&binance(3), 100);
        assert!(ledger.due_gaps(5_000, 2_000).is_empty());
    }

    #[test]
    fn restored_ranges_make_stored_trades_duplicates_without_a_gap() {
        let mut ledger = TradeLedger::new(Venue::BinanceSpot);
        ledger.restore_ranges(&IdRanges::from_ranges([(1, 100), (120, 130)]), 1_300);
        assert_eq!(ledger.admit(&binance(50), 0), Verdict::Duplicate);
        assert_eq!(ledger.admit(&binance(110), 0), Verdict::New);
        assert_eq!(ledger.admit(&binance(131), 0), Verdict::New);
        assert!(ledger.due_gaps(i64::MAX, 0).is_empty());
        assert_eq!(ledger.highest_id(), Some(131));
    }

    #[test]
    fn opaque_ids_are_remembered_within_the_horizon() {
        let mut ledger = TradeLedger::new(Venue::BybitLinear);
        let id = |n: u128| TradeId::Uuid(n);
        assert_eq!(
            ledger.admit(&trade(Venue::BybitLinear, id(1), 5), 0),
            Verdict::New
        );
        assert_eq!(
            ledger.admit(&trade(Venue::BybitLinear, id(1), 5), 0),
            Verdict::Duplicate
        );
        for n in 2..=OPAQUE_HORIZON as u128 + 1 {
            ledger.admit(&trade(Venue::BybitLinear, id(n), 6), 0);
        }
        assert_eq!(
            ledger.admit(&trade(Venue::BybitLinear, id(1), 5), 0),
            Verdict::New,
            "forgotten past the horizon"
        );
    }

    #[test]
    fn opaque_ledgers_restored_without_ids_refuse_the_stored_span() {
        let mut ledger = TradeLedger::new(Venue::BybitSpot);
        ledger.refuse_through(1_000);
        let t = |id: u64, time: i64| trade(Venue::BybitSpot, TradeId::Number(id), time);
        assert_eq!(ledger.admit(&t(1, 1_000), 0), Verdict::BeyondHorizon);
        assert_eq!(ledger.admit(&t(2, 1_001), 0), Verdict::New);
    }

    #[test]
    fn past_the_range_bound_the_lowest_ids_are_forgotten_and_refused() {
        let mut ledger = TradeLedger::new(Venue::BinanceSpot);
        for n in 0..=MAX_RANGES as u64 {
            ledger.admit(&binance(n * 2), 0);
        }
        assert_eq!(ledger.taken().ranges().len(), MAX_RANGES);
        assert_eq!(ledger.admit(&binance(0), 0), Verdict::BeyondHorizon);
        assert_eq!(ledger.admit(&binance(1), 0), Verdict::BeyondHorizon);
        assert_eq!(ledger.admit(&binance(3), 0), Verdict::New);
    }
}
