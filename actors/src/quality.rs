//! The data-quality log: where every data-quality event goes (connections, aggregators and
//! repair report to it; the API and coverage read it). Each event is logged, counted, kept
//! in a bounded list of recent events, and forwarded to persistence. Holes (trade gaps,
//! downtime, aggregator restarts) are also indexed per (venue, symbol), so that every answer
//! can state what its window misses; the index is filled from the store at start, so holes
//! from before a restart are still stated after it.
//!
//! The log outlives actor incarnations: the composition root owns it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use crate::metrics::DATA_QUALITY_EVENTS_TOTAL;
use crate::model::{DataQualityEvent, HoleState, QualityKind, Symbol, Venue};
use crate::util::lock;

/// Holes kept per (venue, symbol); beyond, the oldest are forgotten (they stay stored).
pub const MAX_HOLES_PER_PAIR: usize = 2_048;

/// Where data-quality events go: logged, counted, kept in a bounded log for the API, holes
/// indexed per pair, and forwarded to a listener (persistence) when one is attached.
#[derive(Debug, Clone)]
pub struct QualitySink {
    inner: Arc<QualityLog>,
}

#[derive(Debug)]
struct QualityLog {
    recent: Mutex<VecDeque<DataQualityEvent>>,
    capacity: usize,
    holes: Mutex<HashMap<(Venue, Symbol), VecDeque<DataQualityEvent>>>,
    total: AtomicU64,
    listener: Mutex<Option<tokio::sync::mpsc::Sender<DataQualityEvent>>>,
    forward_drops: AtomicU64,
}

/// Two events are the same event (a later state of it) when their stored key is equal.
fn same_event(a: &DataQualityEvent, b: &DataQualityEvent) -> bool {
    a.time == b.time && a.venue == b.venue && a.symbol == b.symbol && a.key() == b.key()
}

impl QualitySink {
    /// Creates a sink keeping the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(QualityLog {
                recent: Mutex::new(VecDeque::new()),
                capacity: capacity.max(1),
                holes: Mutex::new(HashMap::new()),
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
                from_time = event.from_time.map(|t| t.as_millis()),
                to_time = event.to_time.map(|t| t.as_millis()),
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
        // Into the recent list before the index: whoever finds the hole in the index (repair)
        // finds it in the list too, and its later state replaces it there.
        {
            let mut recent = lock(&self.inner.recent);
            if recent.len() >= self.inner.capacity {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        self.index_hole(&event);
    }

    /// Records a later state of an event already recorded (a hole being repaired, repaired
    /// or found unrepairable): the index and the recent list hold the new state, and it is
    /// stored again over the old one (same key). Not counted as a new event.
    pub fn update(&self, event: DataQualityEvent) {
        info!(
            venue = %event.venue,
            symbol = event.symbol.as_ref().map(Symbol::as_str),
            kind = %event.kind,
            state = event.state.map(HoleState::as_str),
            recovered = event.recovered,
            cause = %event.cause,
            "hole state"
        );
        if let Some(listener) = lock(&self.inner.listener).as_ref()
            && listener.try_send(event.clone()).is_err()
        {
            self.inner.forward_drops.fetch_add(1, Ordering::Relaxed);
        }
        self.index_hole(&event);
        let mut recent = lock(&self.inner.recent);
        match recent.iter_mut().find(|known| same_event(known, &event)) {
            Some(known) => *known = event,
            None => {
                if recent.len() >= self.inner.capacity {
                    recent.pop_front();
                }
                recent.push_back(event);
            }
        }
    }

    /// Returns every hole of a pair that is still `open`, oldest first.
    pub fn open_holes(&self, venue: Venue, symbol: Symbol) -> Vec<DataQualityEvent> {
        lock(&self.inner.holes)
            .get(&(venue, symbol))
            .map(|list| {
                list.iter()
                    .filter(|e| e.state.is_none_or(|s| s == HoleState::Open))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes holes read back from the store (at start), without logging, counting or
    /// storing them again; events already known are left as they are.
    pub fn restore(&self, events: impl IntoIterator<Item = DataQualityEvent>) {
        let mut holes = lock(&self.inner.holes);
        for event in events {
            let Some(symbol) = event.symbol.filter(|_| event.kind.is_hole()) else {
                continue;
            };
            let list = holes.entry((event.venue, symbol)).or_default();
            if !list.iter().any(|known| same_event(known, &event)) {
                let at = list.partition_point(|known| known.time <= event.time);
                list.insert(at, event);
                if list.len() > MAX_HOLES_PER_PAIR {
                    list.pop_front();
                }
            }
        }
    }

    fn index_hole(&self, event: &DataQualityEvent) {
        let Some(symbol) = event.symbol.filter(|_| event.kind.is_hole()) else {
            return;
        };
        let mut holes = lock(&self.inner.holes);
        let list = holes.entry((event.venue, symbol)).or_default();
        if let Some(known) = list.iter_mut().find(|known| same_event(known, event)) {
            // A later state of the same hole.
            *known = event.clone();
            return;
        }
        if list.len() >= MAX_HOLES_PER_PAIR {
            list.pop_front();
        }
        let at = list.partition_point(|known| known.time <= event.time);
        list.insert(at, event.clone());
    }

    /// Returns the holes of a pair whose time range overlaps `[from, to)`, oldest first.
    pub fn holes(&self, venue: Venue, symbol: Symbol, from: i64, to: i64) -> Vec<DataQualityEvent> {
        lock(&self.inner.holes)
            .get(&(venue, symbol))
            .map(|list| {
                list.iter()
                    .filter(|event| {
                        event
                            .hole_span()
                            .is_some_and(|(start, end)| start < to && end >= from)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
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

/// A hole as answers state it: the time range in which trades may be missing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hole {
    /// First moment trades may be missing from (ms, the last trade seen before it).
    pub from: i64,
    /// Last moment (ms, the first trade seen after it; now while it lasts).
    pub to: i64,
    /// `trade_gap`, `downtime` or `aggregator_restart`.
    pub kind: QualityKind,
    /// `open`, `repairing`, `repaired` or `unrepairable`.
    pub state: HoleState,
    /// First and last missing trade id, where the venue's ids tell.
    pub from_id: Option<u64>,
    /// See `from_id`.
    pub to_id: Option<u64>,
    /// Trades recovered by repair.
    pub recovered: Option<u64>,
    /// Why, in a few words.
    pub cause: String,
}

impl Hole {
    /// The hole of a data-quality event (`None` for events that are not holes).
    pub fn of(event: &DataQualityEvent) -> Option<Hole> {
        let (from, to) = event.hole_span()?;
        Some(Hole {
            from,
            to,
            kind: event.kind,
            state: event.state.unwrap_or(HoleState::Open),
            from_id: event.from_id,
            to_id: event.to_id,
            recovered: event.recovered,
            cause: event.cause.clone(),
        })
    }
}

/// What an answer covers: the window asked for, the span data covers within it, the holes
/// inside, and whether it is complete. One shape in every answer that spans time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// Start of the window asked for (ms, inclusive).
    pub from: i64,
    /// End of the window (ms, exclusive; now for a developing window).
    pub to: i64,
    /// Where data begins within the window (`null`: no data).
    pub covered_from: Option<i64>,
    /// Where data ends within the window.
    pub covered_to: Option<i64>,
    /// Known holes overlapping the window, oldest first.
    pub holes: Vec<Hole>,
    /// True only when data covers the whole window and no hole in it is open.
    pub complete: bool,
}

impl Coverage {
    /// The coverage of `[from, to)` by data spanning `data` (first and last moment the
    /// collection covers, when any), with `holes` (those outside the window are ignored).
    pub fn of(from: i64, to: i64, data: Option<(i64, i64)>, holes: Vec<Hole>) -> Coverage {
        let covered = data
            .map(|(start, end)| (start.max(from), end.min(to)))
            .filter(|(start, end)| start <= end);
        let mut holes: Vec<Hole> = holes
            .into_iter()
            .filter(|hole| hole.from < to && hole.to >= from)
            .collect();
        holes.sort_by_key(|hole| (hole.from, hole.to));
        holes.dedup();
        let complete = covered.is_some_and(|(start, end)| start <= from && end >= to)
            && holes.iter().all(|hole| !hole.state.is_open());
        Coverage {
            from,
            to,
            covered_from: covered.map(|(start, _)| start),
            covered_to: covered.map(|(_, end)| end),
            holes,
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::TimestampMs;

    #[test]
    fn coverage_is_complete_only_when_data_spans_the_window_without_open_holes() {
        let full = Coverage::of(100, 200, Some((50, 200)), Vec::new());
        assert!(full.complete);
        assert_eq!((full.covered_from, full.covered_to), (Some(100), Some(200)));
        let recent = Coverage::of(100, 200, Some((150, 200)), Vec::new());
        assert!(!recent.complete, "data began inside the window");
        assert!(!Coverage::of(100, 200, None, Vec::new()).complete);
        let hole = |state| Hole {
            from: 120,
            to: 130,
            kind: QualityKind::Downtime,
            state,
            from_id: None,
            to_id: None,
            recovered: None,
            cause: String::new(),
        };
        assert!(!Coverage::of(100, 200, Some((0, 300)), vec![hole(HoleState::Open)]).complete);
        assert!(Coverage::of(100, 200, Some((0, 300)), vec![hole(HoleState::Repaired)]).complete);
        let outside = Coverage::of(140, 200, Some((0, 300)), vec![hole(HoleState::Open)]);
        assert!(
            outside.complete && outside.holes.is_empty(),
            "a hole before the window"
        );
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

    fn gap(time: i64, from: i64, to: i64) -> DataQualityEvent {
        let mut event = DataQualityEvent::now(
            Venue::BinanceSpot,
            Some(Symbol::new("BTCUSDT").unwrap()),
            QualityKind::TradeGap,
            "trade id jump",
        )
        .with_times(TimestampMs(from), TimestampMs(to));
        event.time = TimestampMs(time);
        event
    }

    #[test]
    fn holes_are_indexed_per_pair_found_by_overlap_and_updated_in_place() {
        let sink = QualitySink::new(10);
        let btc = Symbol::new("BTCUSDT").unwrap();
        sink.record(gap(1_000, 100, 200));
        sink.record(gap(2_000, 500, 600));
        sink.record(DataQualityEvent::now(
            Venue::BinanceSpot,
            Some(btc),
            QualityKind::BookGap,
            "not a hole",
        ));
        let found = |from, to| sink.holes(Venue::BinanceSpot, btc, from, to).len();
        assert_eq!(found(0, 1_000), 2);
        assert_eq!(found(201, 500), 0);
        assert_eq!(
            found(200, 201),
            1,
            "ranges are inclusive of their last trade"
        );
        let mut repaired = gap(1_000, 100, 200);
        repaired.state = Some(HoleState::Repaired);
        sink.record(repaired);
        let holes = sink.holes(Venue::BinanceSpot, btc, 0, 300);
        assert_eq!(holes.len(), 1);
        assert_eq!(holes[0].state, Some(HoleState::Repaired));
        // Two gaps found by one tick (the same millisecond) are two holes.
        sink.record(gap(2_000, 700, 800));
        assert_eq!(found(0, 1_000), 3);
        sink.restore([gap(2_000, 500, 600), gap(500, 50, 60)]);
        assert_eq!(
            found(0, 1_000),
            4,
            "restored holes join; known ones are kept"
        );
        assert_eq!(sink.holes(Venue::BinanceSpot, btc, 0, 1_000)[0].time.0, 500);
    }
}
