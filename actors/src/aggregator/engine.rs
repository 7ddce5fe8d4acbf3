//! The aggregation engine of one (venue, symbol): bars, rolling windows and the session,
//! updated trade by trade, as a pure state machine (no actor, no I/O, no clock of its own).
//!
//! - **Bars**: 1-minute base bars by exchange trade time; the current 5m, 15m, 1h, 4h and 1d
//!   bars accumulate alongside. A bar closes when a trade of a later period arrives or when
//!   [`Engine::advance_clock`] passes its end plus a grace period; every closed bar is
//!   reported once.
//! - **Rolling windows** (last 1h, 4h, 24h, by minute): footprint and totals are kept
//!   incrementally, adding trades and subtracting the minutes that leave; exact arithmetic
//!   makes the subtraction exact.
//! - **Session**: everything since the last session anchor; cumulative delta is its delta.
//!   The POC of the session after each minute is kept as the developing POC.
//! - **Late trades** (for a minute whose bar has closed): if the minute is still in memory
//!   (`memory`, 25 h by default), the trade amends it: the minute bar, the rolling windows
//!   and the session that contain it, and every timeframe bar containing it (a closed one is
//!   recomputed from its minutes and reported as amended by [`Engine::take_amended`], once
//!   however many late trades it took, so persistence upserts it again). Older trades are
//!   dropped. Both are counted.
//! - **Derivatives data** (liquidations, open interest, funding, mark and index) goes into
//!   the minute and the bars holding its venue time, without moving the open minute: data
//!   ahead of it waits in its minute and joins each bar when the bar opens; data for a
//!   closed bar revises it (reported again by [`Engine::take_amended`], not as amended: no
//!   trade changed). A minute without trades is not reported on its own (its data is in
//!   the longer bars): open interest moves only with trades, and a liquidation is a trade.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::bar::{Bar, Timeframe, Totals, trade_count};
use super::bar_derivatives::BarDerivatives;
use super::footprint::{Footprint, RowGrid};
use super::order_flow::{LargeTrade, LargeTradeDetector, LargeTradeParams, SessionAnchor};
use super::volume_profile;
use crate::model::{Qty, TimestampMs, Trade};

/// Bounds on what the engine keeps.
const MAX_LARGE_TRADES: usize = 256;
const MAX_DEVELOPING_POC: usize = 1_440;

/// The rolling windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Rolling {
    /// The last hour.
    #[serde(rename = "1h")]
    H1,
    /// The last 4 hours.
    #[serde(rename = "4h")]
    H4,
    /// The last 24 hours.
    #[serde(rename = "24h")]
    H24,
}

impl Rolling {
    /// Every rolling window.
    pub const ALL: [Rolling; 3] = [Rolling::H1, Rolling::H4, Rolling::H24];

    /// Returns the span in milliseconds.
    pub const fn millis(self) -> i64 {
        match self {
            Rolling::H1 => 3_600_000,
            Rolling::H4 => 14_400_000,
            Rolling::H24 => 86_400_000,
        }
    }

    /// Returns the name (`1h`, `4h`, `24h`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Rolling::H1 => "1h",
            Rolling::H4 => "4h",
            Rolling::H24 => "24h",
        }
    }
}

/// Engine parameters.
#[derive(Debug, Clone, Copy)]
pub struct EngineParams {
    /// Profile rows.
    pub grid: RowGrid,
    /// Where sessions start.
    pub session: SessionAnchor,
    /// Large trade detection.
    pub large_trades: LargeTradeParams,
    /// How long minute bars are kept for late trades and rolling windows (at least 24 h).
    pub memory_ms: i64,
    /// How long after its end a bar is closed by the clock.
    pub close_grace_ms: i64,
    /// How far past the clock (the last [`Engine::advance_clock`]) a trade time may be; later
    /// trades are dropped and counted, so one bad timestamp cannot close every open bar.
    pub max_future_ms: i64,
}

impl EngineParams {
    /// Parameters with the defaults: 25 h of memory, a 2 s close grace, default large trades.
    pub fn new(grid: RowGrid, session: SessionAnchor) -> Self {
        Self {
            grid,
            session,
            large_trades: LargeTradeParams::default(),
            memory_ms: 25 * 3_600_000,
            close_grace_ms: 2_000,
            max_future_ms: 300_000,
        }
    }
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A bar closed.
    Closed {
        timeframe: Timeframe,
        bar: Arc<Bar>,
        /// Cumulative delta of the session at its close.
        cvd: Qty,
    },
    /// A closed bar changed because a late trade (or late derivatives data) arrived.
    Amended {
        timeframe: Timeframe,
        /// True when trades changed it; false when only derivatives data did.
        by_trades: bool,
        /// The bar, recomputed.
        bar: Arc<Bar>,
        /// Cumulative delta of the session at its end, recomputed from the minutes in memory.
        cvd: Qty,
    },
}

/// Counters of the engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Trades taken.
    pub trades: u64,
    /// Late trades that amended a closed bar.
    pub late_amended: u64,
    /// Late trades older than the memory, dropped.
    pub late_dropped: u64,
    /// Trades timed too far past the clock (or before 1970 or after 9999), dropped.
    pub future_dropped: u64,
    /// Derivatives data older than the memory or too far past the clock, dropped.
    pub derivatives_dropped: u64,
}

#[derive(Debug, Clone)]
struct Window {
    /// First minute start inside the window.
    first_minute: i64,
    footprint: Footprint,
    totals: Totals,
}

#[derive(Debug, Clone)]
struct Session {
    start: i64,
    footprint: Footprint,
    totals: Totals,
    developing_poc: VecDeque<(i64, i128)>,
}

/// The engine of one (venue, symbol).
#[derive(Debug, Clone)]
pub struct Engine {
    params: EngineParams,
    minutes: BTreeMap<i64, Bar>,
    open_minute: Option<i64>,
    bars: BTreeMap<Timeframe, Bar>,
    rolling: BTreeMap<Rolling, Window>,
    session: Option<Session>,
    large: LargeTradeDetector,
    large_trades: VecDeque<LargeTrade>,
    stats: EngineStats,
    clock: Option<i64>,
    /// Set when a late trade changed a closed minute of the session: the developing POC
    /// after that minute is recomputed on the next clock tick.
    poc_stale: bool,
    /// Closed bars late trades changed, by (timeframe, start), reported by `take_amended`.
    amended: std::collections::BTreeSet<(Timeframe, i64)>,
    /// Closed bars late derivatives data changed.
    revised: std::collections::BTreeSet<(Timeframe, i64)>,
}

impl Engine {
    /// Creates an empty engine.
    pub fn new(params: EngineParams) -> Self {
        Self {
            large: LargeTradeDetector::new(params.large_trades),
            params,
            minutes: BTreeMap::new(),
            open_minute: None,
            bars: BTreeMap::new(),
            rolling: BTreeMap::new(),
            session: None,
            large_trades: VecDeque::new(),
            stats: EngineStats::default(),
            clock: None,
            poc_stale: false,
            amended: std::collections::BTreeSet::new(),
            revised: std::collections::BTreeSet::new(),
        }
    }

    /// Returns the parameters.
    pub fn params(&self) -> &EngineParams {
        &self.params
    }

    /// Returns the counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Takes one trade; returns the bars it closed or amended.
    pub fn add_trade(&mut self, trade: &Trade) -> Vec<EngineEvent> {
        let time = trade.trade_time.as_millis();
        if !trade.trade_time.is_plausible()
            || self
                .clock
                .is_some_and(|now| time > now.saturating_add(self.params.max_future_ms))
        {
            self.stats.future_dropped += 1;
            return Vec::new();
        }
        let minute = Timeframe::M1.start_of(time);
        let mut events = Vec::new();
        match self.open_minute {
            None => self.open_at(minute),
            Some(open) if minute > open => events = self.roll_to(minute),
            Some(open) if minute < open => {
                self.add_late(trade, minute);
                return Vec::new();
            }
            Some(_) => {}
        }
        self.stats.trades += 1;
        let row = self.params.grid.row(trade.price);
        self.minutes
            .entry(minute)
            .or_insert_with(|| Bar::of(Timeframe::M1, minute))
            .add_in_row(row, trade);
        for bar in self.bars.values_mut() {
            bar.add_in_row(row, trade);
        }
        let count = trade_count(trade);
        for window in self.rolling.values_mut() {
            window
                .footprint
                .add_counted(row, trade.side, trade.qty, count, time);
            window.totals.add(trade);
        }
        if let Some(session) = &mut self.session {
            session
                .footprint
                .add_counted(row, trade.side, trade.qty, count, time);
            session.totals.add(trade);
        }
        self.note_large(trade);
        events
    }

    /// Takes derivatives data observed at venue time `time` (ms), applied by `apply` to each
    /// bar's derivatives part: the minute holding it and every open bar holding it (a bar
    /// still ahead takes it when it opens); a closed bar is revised. Returns false when the
    /// time is older than the memory or too far past the clock (dropped, counted).
    pub fn add_derivatives(
        &mut self,
        time: i64,
        apply: impl Fn(&mut BarDerivatives, &RowGrid),
    ) -> bool {
        let minute = Timeframe::M1.start_of(time);
        let too_old = self
            .open_minute
            .is_some_and(|open| minute < open - self.params.memory_ms);
        if too_old
            || !TimestampMs(time).is_plausible()
            || self
                .clock
                .is_some_and(|now| time > now.saturating_add(self.params.max_future_ms))
        {
            self.stats.derivatives_dropped += 1;
            return false;
        }
        let grid = self.params.grid;
        let minute_bar = self
            .minutes
            .entry(minute)
            .or_insert_with(|| Bar::of(Timeframe::M1, minute));
        apply(minute_bar.derivatives_mut(), &grid);
        let traded = !minute_bar.is_empty();
        let Some(open) = self.open_minute else {
            return true;
        };
        let cutoff = open - self.params.memory_ms;
        if minute < open && traded {
            self.revised.insert((Timeframe::M1, minute));
        }
        for timeframe in Timeframe::ALL.into_iter().skip(1) {
            match self.bars.get_mut(&timeframe) {
                Some(current) if current.contains(time) => {
                    apply(current.derivatives_mut(), &grid);
                }
                Some(current) if time < current.start => {
                    let start = timeframe.start_of(time);
                    if start >= cutoff {
                        self.revised.insert((timeframe, start));
                    }
                }
                // Ahead of the open bar: taken when its bar opens.
                _ => {}
            }
        }
        true
    }

    /// The derivatives data of the minutes in `from..=to` (each bar opening takes what was
    /// observed ahead of it).
    fn fold_derivatives(minutes: &BTreeMap<i64, Bar>, bar: &mut Bar, from: i64, to: i64) {
        if from > to {
            return;
        }
        for (_, minute) in minutes.range(from..=to) {
            if let Some(data) = &minute.derivatives {
                bar.merge_derivatives(data);
            }
        }
    }

    /// Closes the open minute (and any bar ending with it) once `now` (ms) is past its end
    /// plus the grace period, so quiet symbols' bars close too.
    pub fn advance_clock(&mut self, now: i64) -> Vec<EngineEvent> {
        let now = now.clamp(0, TimestampMs::MAX_PLAUSIBLE);
        self.clock = Some(self.clock.map_or(now, |clock| clock.max(now)));
        let events = match self.open_minute {
            Some(open) if now - self.params.close_grace_ms >= open + Timeframe::M1.millis() => {
                self.roll_to(Timeframe::M1.start_of(now - self.params.close_grace_ms))
            }
            _ => Vec::new(),
        };
        if self.poc_stale {
            self.rebuild_developing_poc();
        }
        events
    }

    /// Returns the bars still open (the current minute and each longer timeframe's current
    /// bar), non-empty ones only, with the session's cumulative delta: what a stopping
    /// aggregator reports so that nothing it took is lost. The engine is left unchanged.
    pub fn open_bars(&self) -> Vec<(Timeframe, Arc<Bar>, Qty)> {
        let Some(open) = self.open_minute else {
            return Vec::new();
        };
        let cvd = self
            .session
            .as_ref()
            .map_or(Qty::ZERO, |s| s.totals.delta());
        let minute = self
            .minutes
            .get(&open)
            .filter(|bar| !bar.is_empty())
            .map(|bar| (Timeframe::M1, Arc::new(bar.clone()), cvd));
        minute
            .into_iter()
            .chain(
                self.bars
                    .iter()
                    .filter(|(_, bar)| !bar.is_empty())
                    .map(|(&timeframe, bar)| (timeframe, Arc::new(bar.clone()), cvd)),
            )
            .collect()
    }

    fn open_at(&mut self, minute: i64) {
        self.open_minute = Some(minute);
        for timeframe in Timeframe::ALL.into_iter().skip(1) {
            let mut bar = Bar::of(timeframe, minute);
            let start = bar.start;
            Self::fold_derivatives(&self.minutes, &mut bar, start, minute);
            self.bars.insert(timeframe, bar);
        }
        for rolling in Rolling::ALL {
            self.rolling.insert(
                rolling,
                Window {
                    first_minute: minute - rolling.millis() + Timeframe::M1.millis(),
                    footprint: Footprint::new(),
                    totals: Totals::default(),
                },
            );
        }
        self.session = Some(Session {
            start: self.params.session.session_start(minute),
            footprint: Footprint::new(),
            totals: Totals::default(),
            developing_poc: VecDeque::new(),
        });
    }

    /// Moves the open minute forward to `minute`, closing what ends on the way.
    fn roll_to(&mut self, minute: i64) -> Vec<EngineEvent> {
        let mut events = Vec::new();
        let Some(open) = self.open_minute else {
            self.open_at(minute);
            return events;
        };
        if minute <= open {
            return events;
        }
        // The session closes its minute first, so cumulative delta at a bar's close includes it.
        let cvd = self
            .session
            .as_ref()
            .map_or(Qty::ZERO, |s| s.totals.delta());
        if let Some(bar) = self.minutes.get(&open).filter(|bar| !bar.is_empty()) {
            events.push(EngineEvent::Closed {
                timeframe: Timeframe::M1,
                bar: Arc::new(bar.clone()),
                cvd,
            });
        }
        for (&timeframe, bar) in &mut self.bars {
            if bar.end <= minute {
                let closed = std::mem::replace(bar, Bar::of(timeframe, minute));
                let from = bar.start.max(open + Timeframe::M1.millis());
                Self::fold_derivatives(&self.minutes, bar, from, minute);
                if !closed.is_empty() {
                    events.push(EngineEvent::Closed {
                        timeframe,
                        bar: Arc::new(closed),
                        cvd,
                    });
                }
            }
        }
        let traded = self.minutes.get(&open).is_some_and(|bar| !bar.is_empty());
        if let Some(session) = &mut self.session {
            // One point per minute with trades: what the session's trades make it, so that
            // a restart rebuilds the same points from the stored minutes.
            if traded && let Some((poc, _)) = volume_profile::poc(&session.footprint) {
                if session.developing_poc.len() >= MAX_DEVELOPING_POC {
                    session.developing_poc.pop_front();
                }
                session
                    .developing_poc
                    .push_back((open + Timeframe::M1.millis(), poc));
            }
            let start = self.params.session.session_start(minute);
            if start != session.start {
                *session = Session {
                    start,
                    footprint: Footprint::new(),
                    totals: Totals::default(),
                    developing_poc: VecDeque::new(),
                };
            }
        }
        for (&rolling, window) in &mut self.rolling {
            let first = minute - rolling.millis() + Timeframe::M1.millis();
            for (_, bar) in self.minutes.range(window.first_minute..first) {
                window.footprint.subtract(&bar.footprint);
                window.totals.subtract(&bar.totals);
            }
            window.first_minute = first;
        }
        let keep_from = minute - self.params.memory_ms;
        self.minutes = self.minutes.split_off(&keep_from);
        self.open_minute = Some(minute);
        events
    }

    fn add_late(&mut self, trade: &Trade, minute: i64) {
        let open = self.open_minute.unwrap_or(minute);
        if minute < open - self.params.memory_ms {
            self.stats.late_dropped += 1;
            return;
        }
        self.stats.trades += 1;
        self.stats.late_amended += 1;
        let grid = self.params.grid;
        let time = trade.trade_time.as_millis();
        let row = grid.row(trade.price);
        self.minutes
            .entry(minute)
            .or_insert_with(|| Bar::of(Timeframe::M1, minute))
            .add(&grid, trade);
        self.amended.insert((Timeframe::M1, minute));
        for window in self.rolling.values_mut() {
            if minute >= window.first_minute {
                window
                    .footprint
                    .add_counted(row, trade.side, trade.qty, trade_count(trade), time);
                window.totals.add(trade);
            }
        }
        if let Some(session) = &mut self.session
            && time >= session.start
        {
            session
                .footprint
                .add_counted(row, trade.side, trade.qty, trade_count(trade), time);
            session.totals.add(trade);
            self.poc_stale = true;
        }
        let cutoff = open - self.params.memory_ms;
        for timeframe in Timeframe::ALL.into_iter().skip(1) {
            match self.bars.get_mut(&timeframe) {
                Some(current) if current.contains(time) => current.add(&grid, trade),
                _ => {
                    // The bar holding the trade has closed: it is rebuilt from its minutes
                    // (when all of them are still in memory) by `take_amended`, once however
                    // many late trades it takes.
                    let start = timeframe.start_of(time);
                    if start >= cutoff {
                        self.amended.insert((timeframe, start));
                    }
                }
            }
        }
        self.note_large(trade);
    }

    /// Returns the closed bars late trades (or late derivatives data) changed since the last
    /// call, each once, as they are now (a closed bar of a longer timeframe is rebuilt from
    /// its minutes), with the session's cumulative delta at their end.
    pub fn take_amended(&mut self) -> Vec<EngineEvent> {
        let cutoff = self
            .open_minute
            .map_or(i64::MIN, |open| open - self.params.memory_ms);
        let amended = std::mem::take(&mut self.amended);
        let revised = std::mem::take(&mut self.revised);
        let mut changed: BTreeMap<(Timeframe, i64), bool> =
            revised.into_iter().map(|key| (key, false)).collect();
        changed.extend(amended.into_iter().map(|key| (key, true)));
        let mut events = Vec::with_capacity(changed.len());
        for ((timeframe, start), by_trades) in changed {
            let bar = if timeframe == Timeframe::M1 {
                let Some(bar) = self.minutes.get(&start) else {
                    continue;
                };
                bar.clone()
            } else {
                if start < cutoff
                    || self
                        .bars
                        .get(&timeframe)
                        .is_some_and(|open| open.start == start)
                {
                    continue;
                }
                let mut rebuilt = Bar::of(timeframe, start);
                for (_, minute_bar) in self.minutes.range(start..start + timeframe.millis()) {
                    rebuilt.merge(minute_bar);
                }
                rebuilt.start = start;
                rebuilt.end = start + timeframe.millis();
                rebuilt
            };
            if bar.is_empty() {
                continue;
            }
            events.push(EngineEvent::Amended {
                timeframe,
                by_trades,
                cvd: self.cvd_at(bar.end),
                bar: Arc::new(bar),
            });
        }
        events
    }

    /// Cumulative delta of the session from its start through `end` (exclusive), from the
    /// minutes in memory (which always cover a session: memory exceeds 24 h).
    fn cvd_at(&self, end: i64) -> Qty {
        let start = self.params.session.session_start(end - 1);
        self.minutes
            .range(start..end)
            .fold(Qty::ZERO, |sum, (_, bar)| sum + bar.totals.delta())
    }

    fn note_large(&mut self, trade: &Trade) {
        if let Some(large) = self.large.observe(trade) {
            if self.large_trades.len() >= MAX_LARGE_TRADES {
                self.large_trades.pop_front();
            }
            self.large_trades.push_back(large);
        }
    }

    /// Recomputes the session's developing POC from its minutes: one point per closed
    /// minute with trades, the POC of the session's trades up to that minute's end.
    fn rebuild_developing_poc(&mut self) {
        self.poc_stale = false;
        let (Some(session), Some(open)) = (self.session.as_mut(), self.open_minute) else {
            return;
        };
        let mut sum = Footprint::new();
        let mut points = VecDeque::new();
        for (&start, bar) in self.minutes.range(session.start..open) {
            if bar.is_empty() {
                continue;
            }
            sum.merge(&bar.footprint);
            if let Some((poc, _)) = volume_profile::poc(&sum) {
                if points.len() >= MAX_DEVELOPING_POC {
                    points.pop_front();
                }
                points.push_back((start + Timeframe::M1.millis(), poc));
            }
        }
        session.developing_poc = points;
    }

    /// Rebuilds the state from stored 1-minute bars, as it would be had the engine taken
    /// their trades live: the minutes in memory, the open minute (`open`: the minute of a
    /// bar stored while still open, which goes on; without one, the minute after the
    /// latest bar), the open bar of every timeframe, the rolling windows, the session with
    /// its cumulative delta and developing POC, and the recent large trades. Minutes older
    /// than the memory are ignored. Call it on a new engine, before any trade.
    pub fn restore(
        &mut self,
        minutes: impl IntoIterator<Item = Bar>,
        open: Option<i64>,
        large_trades: impl IntoIterator<Item = LargeTrade>,
    ) {
        let minutes: BTreeMap<i64, Bar> = minutes
            .into_iter()
            .filter(|bar| bar.end - bar.start == Timeframe::M1.millis())
            .map(|bar| (bar.start, bar))
            .collect();
        let Some((&latest, _)) = minutes.last_key_value() else {
            return;
        };
        let open = match open {
            Some(open) if open >= latest => Timeframe::M1.start_of(open),
            _ => latest + Timeframe::M1.millis(),
        };
        let keep_from = open - self.params.memory_ms;
        self.minutes = minutes
            .into_iter()
            .filter(|(start, _)| *start >= keep_from)
            .collect();
        self.open_at(open);
        let sum_of = |from: i64| {
            let mut bar = Bar::new(from, open + Timeframe::M1.millis());
            for (_, minute) in self.minutes.range(from..=open) {
                bar.merge(minute);
            }
            bar
        };
        for timeframe in Timeframe::ALL.into_iter().skip(1) {
            let mut bar = sum_of(timeframe.start_of(open));
            bar.start = timeframe.start_of(open);
            bar.end = bar.start + timeframe.millis();
            self.bars.insert(timeframe, bar);
        }
        for rolling in Rolling::ALL {
            let first = open - rolling.millis() + Timeframe::M1.millis();
            let sum = sum_of(first);
            self.rolling.insert(
                rolling,
                Window {
                    first_minute: first,
                    footprint: sum.footprint,
                    totals: sum.totals,
                },
            );
        }
        let start = self.params.session.session_start(open);
        let sum = sum_of(start);
        self.session = Some(Session {
            start,
            footprint: sum.footprint,
            totals: sum.totals,
            developing_poc: VecDeque::new(),
        });
        self.rebuild_developing_poc();
        for large in large_trades {
            if self.large_trades.len() >= MAX_LARGE_TRADES {
                self.large_trades.pop_front();
            }
            self.large_trades.push_back(large);
        }
    }

    /// Adds stored 1-minute bars to an engine that already took live trades (a warm start
    /// that had to wait for the store): each joins the minutes, the open bars, rolling
    /// windows and session that contain it. Bars of minutes already in memory, or after the
    /// open one, are ignored. Returns how many were added.
    pub fn merge_minutes(
        &mut self,
        minutes: impl IntoIterator<Item = Bar>,
        large_trades: impl IntoIterator<Item = LargeTrade>,
    ) -> usize {
        let Some(open) = self.open_minute else {
            return 0;
        };
        let keep_from = open - self.params.memory_ms;
        let mut added = 0;
        for bar in minutes {
            if bar.end - bar.start != Timeframe::M1.millis()
                || bar.start > open
                || bar.start < keep_from
                || self.minutes.contains_key(&bar.start)
            {
                continue;
            }
            for window in self.rolling.values_mut() {
                if bar.start >= window.first_minute {
                    window.footprint.merge(&bar.footprint);
                    window.totals.merge(&bar.totals);
                }
            }
            if let Some(session) = &mut self.session
                && bar.start >= session.start
            {
                session.footprint.merge(&bar.footprint);
                session.totals.merge(&bar.totals);
                self.poc_stale = true;
            }
            for current in self.bars.values_mut() {
                if current.contains(bar.start) {
                    let (start, end) = (current.start, current.end);
                    current.merge(&bar);
                    current.start = start;
                    current.end = end;
                }
            }
            self.minutes.insert(bar.start, bar);
            added += 1;
        }
        let mut large: Vec<LargeTrade> = large_trades
            .into_iter()
            .chain(self.large_trades.drain(..))
            .collect();
        large.sort_by_key(|t| t.time);
        large.dedup();
        let skip = large.len().saturating_sub(MAX_LARGE_TRADES);
        self.large_trades = large.into_iter().skip(skip).collect();
        if self.poc_stale {
            self.rebuild_developing_poc();
        }
        added
    }

    /// Primes large-trade detection with the sizes of recent trades (oldest first), as if
    /// they had been taken, without reporting any of them.
    pub fn prime_large_trades<'a>(&mut self, trades: impl IntoIterator<Item = &'a Trade>) {
        for trade in trades {
            self.large.observe(trade);
        }
    }

    /// Returns the closed bar of `timeframe` that starts at `start`, summed from the
    /// minutes in memory (`None` without trades).
    pub fn closed_bar(&self, timeframe: Timeframe, start: i64) -> Option<Bar> {
        let mut bar = Bar::new(start, start + timeframe.millis());
        for (_, minute) in self.minutes.range(start..start + timeframe.millis()) {
            bar.merge(minute);
        }
        bar.start = start;
        bar.end = start + timeframe.millis();
        (!bar.is_empty()).then_some(bar)
    }

    /// Returns the recent large trades timed within `[from, to)`.
    pub fn large_trades_between(&self, from: i64, to: i64) -> Vec<LargeTrade> {
        self.large_trades
            .iter()
            .filter(|t| (from..to).contains(&t.time))
            .copied()
            .collect()
    }

    /// Returns the earliest minute in memory.
    pub fn first_minute(&self) -> Option<i64> {
        self.minutes.first_key_value().map(|(&start, _)| start)
    }

    /// Returns the current (open) bar of `timeframe`.
    pub fn current_bar(&self, timeframe: Timeframe) -> Option<Bar> {
        match timeframe {
            Timeframe::M1 => {
                let open = self.open_minute?;
                Some(
                    self.minutes
                        .get(&open)
                        .cloned()
                        .unwrap_or_else(|| Bar::of(Timeframe::M1, open)),
                )
            }
            _ => self.bars.get(&timeframe).cloned(),
        }
    }

    /// Returns a rolling window as a bar (prices and derivatives data from its minutes).
    pub fn rolling_window(&self, rolling: Rolling) -> Option<Bar> {
        let window = self.rolling.get(&rolling)?;
        let open = self.open_minute?;
        let mut bar = Bar::new(window.first_minute, open + Timeframe::M1.millis());
        bar.footprint = window.footprint.clone();
        bar.totals = window.totals.clone();
        self.fill_prices(&mut bar, window.first_minute..=open);
        Some(bar)
    }

    /// Returns the session as a bar.
    pub fn session(&self) -> Option<Bar> {
        let session = self.session.as_ref()?;
        let open = self.open_minute?;
        let mut bar = Bar::new(session.start, open + Timeframe::M1.millis());
        bar.footprint = session.footprint.clone();
        bar.totals = session.totals.clone();
        self.fill_prices(&mut bar, session.start..=open);
        Some(bar)
    }

    /// Takes the prices and derivatives data of `minutes` into `bar` (whose footprint and
    /// totals the window or session keeps itself).
    fn fill_prices(&self, bar: &mut Bar, minutes: std::ops::RangeInclusive<i64>) {
        for (_, minute) in self.minutes.range(minutes) {
            bar.merge_prices(minute);
            if let Some(data) = &minute.derivatives {
                bar.merge_derivatives(data);
            }
        }
    }

    /// Returns the session's cumulative delta.
    pub fn cvd(&self) -> Qty {
        self.session
            .as_ref()
            .map_or(Qty::ZERO, |s| s.totals.delta())
    }

    /// Returns the session POC after each closed minute, oldest first (end of minute, row).
    pub fn developing_poc(&self) -> Vec<(i64, i128)> {
        self.session
            .as_ref()
            .map(|s| s.developing_poc.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Returns the recent large trades, oldest first.
    pub fn large_trades(&self) -> Vec<LargeTrade> {
        self.large_trades.iter().copied().collect()
    }

    /// Returns the closed minute bars still in memory within `[from, to)`.
    pub fn minute_bars(&self, from: i64, to: i64) -> impl Iterator<Item = &Bar> {
        self.minutes.range(from..to).map(|(_, bar)| bar)
    }

    /// Returns the minute bar starting at `start`, if it is in memory.
    pub fn minute_bar(&self, start: i64) -> Option<&Bar> {
        self.minutes.get(&start)
    }

    /// Returns the open minute's start.
    pub fn open_minute(&self) -> Option<i64> {
        self.open_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregator::bar::tests::trade;
    use crate::model::Side;

    const MIN: i64 = 60_000;
    /// 2023-11-14T22:00:00Z, an hour boundary.
    const T0: i64 = 1_699_999_200_000;

    fn engine() -> Engine {
        let grid = RowGrid::new("1".parse().unwrap()).unwrap();
        Engine::new(EngineParams::new(grid, SessionAnchor::default()))
    }

    fn q(text: &str) -> Qty {
        text.parse().unwrap()
    }

    fn closed(events: &[EngineEvent]) -> Vec<(Timeframe, i64, Qty)> {
        events
            .iter()
            .filter_map(|event| match event {
                EngineEvent::Closed {
                    timeframe,
                    bar,
                    cvd,
                } => Some((*timeframe, bar.start, *cvd)),
                EngineEvent::Amended { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_trade_of_a_later_minute_closes_the_minute_and_the_bars_ending_with_it() {
        let mut e = engine();
        assert!(
            e.add_trade(&trade(T0 + 4 * MIN + 1, "100", "2", Side::Buy, 1))
                .is_empty()
        );
        assert!(
            e.add_trade(&trade(T0 + 4 * MIN + 59_999, "101", "1", Side::Sell, 2))
                .is_empty()
        );
        let events = e.add_trade(&trade(T0 + 5 * MIN, "102", "1", Side::Buy, 3));
        assert_eq!(
            closed(&events),
            vec![
                (Timeframe::M1, T0 + 4 * MIN, q("1")),
                (Timeframe::M5, T0, q("1"))
            ],
            "the 1m and 5m bars end at 22:05; the cvd is the session's at their close"
        );
        let EngineEvent::Closed { bar, .. } = &events[1] else {
            panic!("closed")
        };
        assert_eq!(
            (bar.start, bar.end, bar.totals.prints, bar.totals.trades),
            (T0, T0 + 5 * MIN, 2, 6)
        );
        assert_eq!(e.current_bar(Timeframe::M5).unwrap().start, T0 + 5 * MIN);
        assert_eq!(e.current_bar(Timeframe::H1).unwrap().totals.prints, 3);
        assert_eq!(e.cvd(), q("2"));
    }

    #[test]
    fn the_clock_closes_quiet_bars_after_the_grace_period() {
        let mut e = engine();
        e.add_trade(&trade(T0 + 10, "100", "1", Side::Buy, 1));
        assert!(
            e.advance_clock(T0 + MIN + 1_999).is_empty(),
            "inside the grace period"
        );
        assert_eq!(
            closed(&e.advance_clock(T0 + MIN + 2_000)),
            vec![(Timeframe::M1, T0, q("1"))]
        );
        assert!(
            e.advance_clock(T0 + 2 * MIN + 5_000).is_empty(),
            "empty minutes close silently"
        );
        assert_eq!(e.open_minute(), Some(T0 + 2 * MIN));
    }

    #[test]
    fn rolling_windows_drop_the_minutes_that_leave_them() {
        let mut e = engine();
        e.add_trade(&trade(T0, "100", "5", Side::Buy, 1));
        e.add_trade(&trade(T0 + 30 * MIN, "105", "1", Side::Sell, 2));
        e.add_trade(&trade(T0 + 60 * MIN, "110", "2", Side::Buy, 3));
        let hour = e.rolling_window(Rolling::H1).unwrap();
        assert_eq!((hour.start, hour.end), (T0 + MIN, T0 + 61 * MIN));
        assert_eq!(
            hour.totals.volume(),
            q("3"),
            "the 22:00 minute has left the last hour"
        );
        assert_eq!(hour.footprint.range(), Some((105, 110)));
        assert_eq!(
            (hour.low, hour.high),
            (Some("105".parse().unwrap()), Some("110".parse().unwrap()))
        );
        let day = e.rolling_window(Rolling::H24).unwrap();
        assert_eq!(day.totals.volume(), q("8"));
        assert_eq!(day.footprint.total(), q("8"));
    }

    #[test]
    fn cumulative_delta_resets_at_the_session_anchor() {
        let grid = RowGrid::new("1".parse().unwrap()).unwrap();
        let mut e = Engine::new(EngineParams::new(
            grid,
            SessionAnchor::parse("22:30").unwrap(),
        ));
        e.add_trade(&trade(T0 + 29 * MIN, "100", "4", Side::Buy, 1));
        assert_eq!(e.session().unwrap().start, T0 - 86_400_000 + 30 * MIN);
        let events = e.add_trade(&trade(T0 + 30 * MIN, "100", "1", Side::Sell, 2));
        assert_eq!(
            closed(&events)[0],
            (Timeframe::M1, T0 + 29 * MIN, q("4")),
            "the closing minute belongs to the old session"
        );
        assert_eq!(e.cvd(), q("-1"));
        assert_eq!(e.session().unwrap().start, T0 + 30 * MIN);
        assert!(
            e.developing_poc().is_empty(),
            "a new session starts a new developing POC"
        );
    }

    #[test]
    fn the_developing_poc_is_kept_per_closed_minute() {
        let mut e = engine();
        e.add_trade(&trade(T0, "100", "1", Side::Buy, 1));
        e.add_trade(&trade(T0 + MIN, "103", "5", Side::Buy, 2));
        e.add_trade(&trade(T0 + 2 * MIN, "101", "1", Side::Buy, 3));
        assert_eq!(
            e.developing_poc(),
            vec![(T0 + MIN, 100), (T0 + 2 * MIN, 103)]
        );
    }

    #[test]
    fn a_late_trade_amends_its_minute_and_the_closed_bars_holding_it() {
        let mut e = engine();
        e.add_trade(&trade(T0 + 4 * MIN, "100", "1", Side::Buy, 1));
        e.add_trade(&trade(T0 + 6 * MIN, "100", "1", Side::Buy, 3));
        assert!(
            e.add_trade(&trade(T0 + 4 * MIN + 5, "99", "2", Side::Sell, 2))
                .is_empty(),
            "amendments are reported by take_amended"
        );
        let events = e.take_amended();
        assert!(e.take_amended().is_empty(), "once");
        let amended: Vec<_> = events
            .iter()
            .map(|event| match event {
                EngineEvent::Amended {
                    timeframe,
                    bar,
                    cvd,
                    by_trades,
                } => {
                    assert!(by_trades);
                    (*timeframe, bar.start, bar.totals.prints, cvd.to_string())
                }
                EngineEvent::Closed { .. } => panic!("nothing closes"),
            })
            .collect();
        // The session's delta through the amended bars' end: +1 then the late -2.
        assert_eq!(
            amended,
            vec![
                (Timeframe::M1, T0 + 4 * MIN, 2, "-1".to_owned()),
                (Timeframe::M5, T0, 2, "-1".to_owned())
            ]
        );
        assert_eq!(
            e.current_bar(Timeframe::M15).unwrap().totals.prints,
            3,
            "open bars take it in place"
        );
        assert_eq!(e.rolling_window(Rolling::H1).unwrap().totals.prints, 3);
        assert_eq!(e.cvd(), q("0"));
        assert_eq!(e.stats().late_amended, 1);
    }

    #[test]
    fn trades_older_than_the_memory_or_past_the_clock_are_dropped_and_counted() {
        let mut e = engine();
        e.add_trade(&trade(T0 + 26 * 60 * MIN, "100", "1", Side::Buy, 2));
        assert!(e.add_trade(&trade(T0, "100", "1", Side::Buy, 1)).is_empty());
        e.advance_clock(T0 + 26 * 60 * MIN + 1_000);
        assert!(
            e.add_trade(&trade(T0 + 27 * 60 * MIN, "100", "1", Side::Buy, 3))
                .is_empty()
        );
        assert_eq!(
            e.stats(),
            EngineStats {
                trades: 1,
                late_amended: 0,
                late_dropped: 1,
                future_dropped: 1,
                derivatives_dropped: 0,
            }
        );
        assert_eq!(e.rolling_window(Rolling::H24).unwrap().totals.prints, 1);
    }

    #[test]
    fn trades_timed_before_1970_or_after_9999_are_dropped() {
        let mut e = engine();
        e.add_trade(&trade(-60_000, "100", "1", Side::Buy, 1));
        e.add_trade(&trade(i64::MAX, "100", "1", Side::Buy, 2));
        assert_eq!(e.stats().future_dropped, 2);
        assert_eq!(e.open_minute(), None, "nothing was opened");
        assert!(e.advance_clock(i64::MAX).is_empty());
    }

    #[test]
    fn large_trades_are_reported_against_the_configured_size() {
        let grid = RowGrid::new("1".parse().unwrap()).unwrap();
        let mut params = EngineParams::new(grid, SessionAnchor::default());
        params.large_trades = LargeTradeParams {
            min_qty: Some(q("10")),
            median_multiple: None,
            median_window: 0,
        };
        let mut e = Engine::new(params);
        e.add_trade(&trade(T0, "100", "9.99", Side::Buy, 1));
        e.add_trade(&trade(T0 + 1, "101", "10", Side::Sell, 2));
        let large = e.large_trades();
        assert_eq!(large.len(), 1);
        assert_eq!(
            (large[0].time, large[0].qty, large[0].side),
            (T0 + 1, q("10"), Side::Sell)
        );
    }

    fn liquidate(e: &mut Engine, time: i64, qty: &str) -> bool {
        let liquidation = crate::model::Liquidation {
            venue: crate::model::Venue::BinanceUsdm,
            symbol: crate::model::Symbol::new("BTCUSDT").unwrap(),
            position: crate::model::PositionSide::Long,
            price: "100".parse().unwrap(),
            qty: q(qty),
            time: TimestampMs(time),
            received_at: crate::model::UnixNanos(0),
        };
        e.add_derivatives(time, |data, grid| data.add_liquidation(grid, &liquidation))
    }

    fn liquidated(bar: &Bar) -> Qty {
        bar.derivatives
            .as_ref()
            .map_or(Qty::ZERO, |d| d.liquidations.qty())
    }

    #[test]
    fn derivatives_data_joins_its_bars_without_moving_the_open_minute_and_revises_closed_ones() {
        let mut e = engine();
        // Before any trade: waits in its minute, joins the bars when they open.
        assert!(liquidate(&mut e, T0 + 100, "1"));
        assert!(
            e.add_trade(&trade(T0 + 200, "100", "1", Side::Buy, 1))
                .is_empty()
        );
        // Ahead of the open minute (and of the open 5m bar): the minute stays open.
        assert!(liquidate(&mut e, T0 + 5 * MIN + 10, "2"));
        assert_eq!(e.open_minute(), Some(T0));
        assert!(liquidate(&mut e, T0 + 300, "4"));
        let closed = e.add_trade(&trade(T0 + 5 * MIN + 20, "100", "1", Side::Buy, 2));
        let by_timeframe: Vec<(Timeframe, Qty)> = closed
            .iter()
            .filter_map(|event| match event {
                EngineEvent::Closed { timeframe, bar, .. } => Some((*timeframe, liquidated(bar))),
                EngineEvent::Amended { .. } => None,
            })
            .collect();
        assert_eq!(
            by_timeframe,
            vec![(Timeframe::M1, q("5")), (Timeframe::M5, q("5"))]
        );
        for timeframe in [Timeframe::M1, Timeframe::M5] {
            assert_eq!(liquidated(&e.current_bar(timeframe).unwrap()), q("2"));
        }
        assert_eq!(liquidated(&e.current_bar(Timeframe::H1).unwrap()), q("7"));
        // Late: the closed minute and 5m bar are revised (not amended), once.
        assert!(liquidate(&mut e, T0 + 400, "8"));
        let revised: Vec<(Timeframe, Qty, bool)> = e
            .take_amended()
            .into_iter()
            .filter_map(|event| match event {
                EngineEvent::Amended {
                    timeframe,
                    bar,
                    by_trades,
                    ..
                } => Some((timeframe, liquidated(&bar), by_trades)),
                EngineEvent::Closed { .. } => None,
            })
            .collect();
        assert_eq!(
            revised,
            vec![
                (Timeframe::M1, q("13"), false),
                (Timeframe::M5, q("13"), false)
            ]
        );
        assert_eq!(liquidated(&e.current_bar(Timeframe::H1).unwrap()), q("15"));
        // Older than the memory, or far past the clock: dropped, counted.
        e.advance_clock(T0 + 5 * MIN + 30);
        assert!(!liquidate(&mut e, T0 - 26 * 60 * MIN, "1"));
        assert!(!liquidate(&mut e, T0 + 60 * 60 * MIN, "1"));
        assert_eq!(e.stats().derivatives_dropped, 2);
    }
}
