//! The aggregator of one (venue, symbol) without the actor: it takes trades, book views,
//! candles and instrument metadata, drives the [`Engine`], cross-checks candles, and says
//! what to persist and report. The live [`super::AggregatorActor`] and the offline
//! `wadm replay` both run this, so a replay computes exactly what the daemon computed.
//!
//! Time comes from the caller ([`AggregatorCore::tick`]): the wall clock when live, the
//! recording's receive times in a replay.
//!
//! The row grid is fixed for the aggregator's life (profiles only add up on one grid). With
//! a row size in ticks it waits for the venue's tick size; trades meanwhile wait in a bounded
//! queue (beyond it they are dropped and counted).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tracing::warn;

use super::bar::{Bar, Timeframe};
use super::book_stats::{BookStats, book_stats};
use super::derivatives::DerivativesState;
use super::engine::{Engine, EngineEvent, EngineParams, EngineStats, Rolling};
use super::kline_check::{KlineChecker, KlineOutcome};
use super::ledger::{TradeLedger, Verdict};
use super::messages::AggregatorCounts;
use super::order_flow::LargeTrade;
use super::output::{BarRecord, BarState, BookRecord, FundingRecord, Record};
use super::params::{AggregatorSettings, MAX_HELD_AHEAD, RowSpec};
use super::recent::RecentMinutes;
use super::snapshot::AggregatorSnapshot;
use crate::metrics::{
    AGGREGATOR_BARS_CLOSED_TOTAL, AGGREGATOR_DERIVATIVES_DROPPED_TOTAL,
    AGGREGATOR_DUPLICATE_TRADES_TOTAL, AGGREGATOR_KLINE_CHECKS_TOTAL, AGGREGATOR_LATE_TRADES_TOTAL,
    AGGREGATOR_TRADES_DROPPED_TOTAL, AGGREGATOR_TRADES_HELD_TOTAL,
    AGGREGATOR_TRADES_RESTORED_TOTAL, AGGREGATOR_TRADES_TOTAL,
};
use crate::model::{
    BookView, DataQualityEvent, DerivativesTick, InstrumentInfo, Kline, Liquidation, Qty,
    QualityKind, Side, Symbol, TimestampMs, Trade, Venue,
};

/// Something the core wants sent on.
#[derive(Debug, Clone)]
pub enum CoreOutput {
    /// To persistence.
    Record(Record),
    /// To the data-quality log.
    Quality(DataQualityEvent),
}

/// What became of trades of the past handed to [`AggregatorCore::on_past_trades`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PastOutcome {
    /// Taken into the bars and windows: trades recovered.
    pub taken: u64,
    /// Already taken before.
    pub duplicates: u64,
    /// Older than the minutes the aggregator keeps (dropped).
    pub too_old: u64,
}

/// Closed-bar and candle-check counts, for replays and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoreCounts {
    /// Closed 1-minute bars (with trades).
    pub bars_closed: u64,
    /// Candles equal to their bar.
    pub klines_matched: u64,
    /// Candles different from their bar.
    pub klines_mismatched: u64,
    /// Candles not compared.
    pub klines_skipped: u64,
    /// Trades dropped while the row size was unknown.
    pub pending_dropped: u64,
    /// Live trades stamped ahead of the local clock and held until it reached them.
    pub ahead_held: u64,
    /// Live trades stamped too far ahead of the local clock (or held beyond the bound),
    /// dropped.
    pub ahead_dropped: u64,
    /// Trades stamped before the venues existed (or after 9999), refused.
    pub implausible_dropped: u64,
    /// Liquidations and derivatives values not taken into bars (outside the memory, or
    /// beyond the pending bound while the row size was unknown).
    pub derivatives_dropped: u64,
}

/// What a warm start found in the store for one (venue, symbol).
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Stored 1-minute bars (any order).
    pub bars: Vec<BarRecord>,
    /// Stored raw trades of the recent past, oldest first: those after the latest stored
    /// bar are taken (a stop that wrote no partial bar), the others tell the trade ids
    /// taken (venues without contiguous ids) and prime large-trade detection.
    pub trades: Vec<Trade>,
    /// Whether raw trades are stored at all.
    pub raw_trades_stored: bool,
    /// From this time (ms) on, `trades` holds every stored trade (earlier, only the most
    /// recent ones were read).
    pub trades_complete_from: i64,
}

/// How an aggregator started: what its state was rebuilt from, for status and coverage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WarmStart {
    /// `warm` (rebuilt from the store), `cold` (nothing stored), `failed` (the store did
    /// not answer: a later warm merge is tried), `timeout` (not within the budget).
    pub outcome: &'static str,
    /// The store read (`embedded`, `mongodb`), or `none`.
    pub source: &'static str,
    /// 1-minute bars restored.
    pub bars: usize,
    /// Stored bars that could not be used (unreadable, or on another row grid).
    pub bars_skipped: usize,
    /// Stored raw trades taken because no stored bar held them.
    pub trades_replayed: usize,
    /// Start of the earliest minute restored (ms).
    pub from: Option<i64>,
    /// Latest trade time restored (ms).
    pub to: Option<i64>,
    /// How long reading and rebuilding took (ms).
    pub took_ms: u64,
    /// Why it is not warm, when it is not.
    pub reason: Option<String>,
    /// When it happened (Unix ms).
    pub at: i64,
}

impl WarmStart {
    /// A start with nothing restored.
    pub fn cold(outcome: &'static str, source: &'static str, reason: Option<String>) -> Self {
        Self {
            outcome,
            source,
            bars: 0,
            bars_skipped: 0,
            trades_replayed: 0,
            from: None,
            to: None,
            took_ms: 0,
            reason,
            at: wadm_supervision::unix_millis(),
        }
    }
}

/// Derivatives data waiting for the row size, at most this many.
const MAX_PENDING_DERIVATIVES: usize = 1_024;

/// Derivatives data for the bars.
#[derive(Debug, Clone)]
enum DerivativesItem {
    Liquidation(Liquidation),
    /// The merged latest values at a tick.
    Values(DerivativesTick),
}

/// One (venue, symbol)'s aggregation, driven by its caller.
#[derive(Debug)]
pub struct AggregatorCore {
    venue: Venue,
    symbol: Symbol,
    settings: Arc<AggregatorSettings>,
    row: RowSpec,
    engine: Option<Engine>,
    /// Trades waiting for the row size: from the venue, and (apart) rebuilt from the store.
    pending: VecDeque<Trade>,
    pending_restored: Vec<Trade>,
    counts: AggregatorCounts,
    core_counts: CoreCounts,
    klines: KlineChecker,
    first_minute: Option<i64>,
    last_closed: BTreeMap<Timeframe, Arc<Bar>>,
    /// Stored bars amended by late trades since the last tick, by (timeframe, start): a burst
    /// of late trades rewrites each bar once per tick, not once per trade.
    /// The flag: a late trade changed it (not only late derivatives data).
    amended: BTreeMap<(Timeframe, i64), (Arc<Bar>, Qty, bool)>,
    recent: VecDeque<Trade>,
    /// `recent` as the last snapshot shared it, until a trade joins: a snapshot published
    /// for a book change alone does not copy the list again.
    recent_shared: Option<Arc<[Trade]>>,
    /// The minutes closed lately, for range answers while their bars are being stored.
    recent_minutes: RecentMinutes,
    /// Latest mark/index/funding/open interest and recent liquidations (perpetuals).
    derivatives: DerivativesState,
    /// Derivatives data waiting for the row size (bounded).
    pending_derivatives: VecDeque<DerivativesItem>,
    book: Option<Arc<BookView>>,
    last_book_record: Option<i64>,
    last_trade_time: Option<i64>,
    warned_tick: bool,
    ledger: TradeLedger,
    /// The local clock at the last tick or [`AggregatorCore::observe_clock`] (Unix ms).
    now: i64,
    /// Whether the caller keeps the local clock (live): live trades are then screened
    /// against it. Replays and imports drive the clock from trade times and are not.
    live_clock: bool,
    /// Live trades stamped ahead of the local clock, in arrival order, until it reaches them.
    held: VecDeque<Trade>,
    /// After a warm start, until the first live trade: the interruption to report then.
    interruption: Option<Interruption>,
    /// Time and numeric id of the first live trade taken.
    first_live: Option<(i64, Option<u64>)>,
    warm: Option<WarmStart>,
    out: Vec<CoreOutput>,
    /// `wadm_aggregator_trades_total` of the venue, resolved once (counted per message).
    trades_total: metrics::Counter,
    /// `wadm_aggregator_trades_restored_total` of the venue.
    trades_restored: metrics::Counter,
}

/// Where trades taken into the engine came from: what they are counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intake {
    /// From the venue (live, or fetched by a repair): `wadm_aggregator_trades_total`.
    Venue,
    /// Rebuilt from the store by a warm start (a previous incarnation or run took them from
    /// the venue and counted them): `wadm_aggregator_trades_restored_total`.
    Store,
}

/// A stop (of the daemon, or of a failed aggregator incarnation) whose span is reported as
/// a hole when the first live trade after it arrives.
#[derive(Debug, Clone, Copy)]
struct Interruption {
    kind: QualityKind,
    /// The latest trade time the restored state holds.
    last_time: i64,
    /// The highest numeric id it holds (contiguous venues).
    last_id: Option<u64>,
}

impl AggregatorCore {
    /// Creates the aggregation of a pair.
    pub fn new(
        venue: Venue,
        symbol: Symbol,
        settings: Arc<AggregatorSettings>,
        row: RowSpec,
    ) -> Self {
        let mut core = Self {
            venue,
            symbol,
            settings,
            row,
            engine: None,
            pending: VecDeque::new(),
            pending_restored: Vec::new(),
            counts: AggregatorCounts::default(),
            core_counts: CoreCounts::default(),
            klines: KlineChecker::default(),
            first_minute: None,
            last_closed: BTreeMap::new(),
            amended: BTreeMap::new(),
            recent: VecDeque::new(),
            recent_shared: None,
            recent_minutes: RecentMinutes::default(),
            derivatives: DerivativesState::default(),
            pending_derivatives: VecDeque::new(),
            book: None,
            last_book_record: None,
            last_trade_time: None,
            warned_tick: false,
            ledger: TradeLedger::new(venue),
            now: 0,
            live_clock: false,
            held: VecDeque::new(),
            interruption: None,
            first_live: None,
            warm: None,
            out: Vec::new(),
            trades_total: metrics::counter!(AGGREGATOR_TRADES_TOTAL, "venue" => venue.as_str()),
            trades_restored: metrics::counter!(AGGREGATOR_TRADES_RESTORED_TOTAL, "venue" => venue.as_str()),
        };
        if let Some(grid) = row.fixed_grid() {
            core.start_engine(grid);
        }
        core
    }

    fn start_engine(&mut self, grid: super::RowGrid) {
        let profile = &self.settings.profile;
        let mut params = EngineParams::new(grid, profile.session);
        params.large_trades = profile.large_trades;
        params.close_grace_ms =
            i64::try_from(self.settings.close_grace.as_millis()).unwrap_or(i64::MAX);
        self.engine = Some(Engine::new(params));
        // The restored trades first: they are older than the venue's.
        let restored = std::mem::take(&mut self.pending_restored);
        self.process(restored.iter(), true, Intake::Store);
        let pending = std::mem::take(&mut self.pending);
        self.process(pending.iter(), true, Intake::Venue);
        for item in std::mem::take(&mut self.pending_derivatives) {
            self.bar_derivatives(item);
        }
    }

    /// Puts derivatives data into the bars holding its time (or the pending queue while
    /// the row size is unknown).
    fn bar_derivatives(&mut self, item: DerivativesItem) {
        let Some(engine) = self.engine.as_mut() else {
            if self.pending_derivatives.len() < MAX_PENDING_DERIVATIVES {
                self.pending_derivatives.push_back(item);
            } else {
                self.drop_derivatives("row_size_unknown");
            }
            return;
        };
        let taken = match &item {
            DerivativesItem::Liquidation(l) => engine
                .add_derivatives(l.time.as_millis(), |data, grid| {
                    data.add_liquidation(grid, l)
                }),
            DerivativesItem::Values(tick) => {
                engine.add_derivatives(tick.time.as_millis(), |data, _| data.observe(tick))
            }
        };
        if !taken {
            self.drop_derivatives("out_of_memory");
        }
    }

    fn drop_derivatives(&mut self, reason: &'static str) {
        self.core_counts.derivatives_dropped += 1;
        metrics::counter!(AGGREGATOR_DERIVATIVES_DROPPED_TOTAL, "venue" => self.venue.as_str(), "reason" => reason).increment(1);
    }

    /// Takes a batch of live trades of this (venue, symbol), in the order they came.
    /// Trades already taken are dropped and counted ([`TradeLedger`]).
    ///
    /// Once the caller keeps the local clock ([`Self::observe_clock`]), a trade stamped more
    /// than `ahead_tolerance` ahead of it is held until the clock reaches it (it has, in
    /// effect, not arrived yet), and one more than `ahead_hold` ahead is dropped and counted:
    /// the open bar follows the local clock, not the venue's latest timestamp.
    pub fn on_trades(&mut self, trades: Vec<Trade>) {
        let trades = self.hold_ahead(trades);
        self.admit(trades, true);
    }

    /// Sets the local clock (Unix ms) without closing bars, and from then on screens live
    /// trades against it. The live aggregator calls it before each batch of live trades.
    pub fn observe_clock(&mut self, now: i64) {
        self.now = self.now.max(now);
        self.live_clock = true;
    }

    /// Returns the live trades not ahead of the clock; holds or drops the others.
    fn hold_ahead(&mut self, trades: Vec<Trade>) -> Vec<Trade> {
        if !self.live_clock {
            return trades;
        }
        let tolerance = millis(self.settings.ahead_tolerance);
        let hold = millis(self.settings.ahead_hold);
        let limit = self.now.saturating_add(tolerance);
        if trades.iter().all(|t| t.trade_time.as_millis() <= limit) {
            return trades;
        }
        let farthest = self.now.saturating_add(hold);
        let (mut held, mut dropped) = (0u64, 0u64);
        let mut now = Vec::with_capacity(trades.len());
        for trade in trades {
            let time = trade.trade_time.as_millis();
            if time <= limit || !trade.trade_time.is_venue_time() {
                now.push(trade);
            } else if time <= farthest && self.held.len() < MAX_HELD_AHEAD {
                self.held.push_back(trade);
                held += 1;
            } else {
                dropped += 1;
            }
        }
        let venue = self.venue.as_str();
        if held > 0 {
            self.core_counts.ahead_held += held;
            metrics::counter!(AGGREGATOR_TRADES_HELD_TOTAL, "venue" => venue).increment(held);
        }
        if dropped > 0 {
            self.core_counts.ahead_dropped += dropped;
            metrics::counter!(AGGREGATOR_TRADES_DROPPED_TOTAL, "venue" => venue, "reason" => "future_time").increment(dropped);
            warn!(venue, symbol = %self.symbol, dropped, held = self.held.len(), clock = self.now, "trades stamped too far ahead of the local clock dropped");
        }
        now
    }

    /// Takes the held live trades the clock has reached.
    fn release_held(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let limit = self
            .now
            .saturating_add(millis(self.settings.ahead_tolerance));
        let (due, keep): (Vec<Trade>, Vec<Trade>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|t| t.trade_time.as_millis() <= limit);
        self.held = keep.into();
        if !due.is_empty() {
            self.admit(due, true);
        }
    }

    /// Takes trades of the past fetched from the venue (gap repair, backfill): like live
    /// ones they are taken once and amend the bars and windows holding them, but they are
    /// not the first live trade after a stop and do not join the recent-trades list.
    /// Returns what became of them.
    pub fn on_past_trades(&mut self, trades: Vec<Trade>) -> PastOutcome {
        let before = self.engine.as_ref().map(Engine::stats);
        let mut outcome = self.admit(trades, false);
        if let (Some(before), Some(engine)) = (before, self.engine.as_ref()) {
            outcome.too_old = engine.stats().late_dropped - before.late_dropped;
            outcome.taken -= outcome.too_old.min(outcome.taken);
        }
        outcome
    }

    fn admit(&mut self, mut trades: Vec<Trade>, live: bool) -> PastOutcome {
        let now = self.now;
        let received = trades.len();
        trades.retain(|t| t.trade_time.is_venue_time());
        let implausible = received - trades.len();
        if implausible > 0 {
            self.core_counts.implausible_dropped += implausible as u64;
            metrics::counter!(AGGREGATOR_TRADES_DROPPED_TOTAL, "venue" => self.venue.as_str(), "reason" => "implausible_time").increment(implausible as u64);
            warn!(venue = %self.venue, symbol = %self.symbol, refused = implausible, "trades stamped before the venues existed refused");
        }
        let before = trades.len();
        let trades: Vec<Trade> = trades
            .into_iter()
            .filter(|trade| match self.ledger.admit(trade, now) {
                Verdict::New => true,
                Verdict::Duplicate | Verdict::BeyondHorizon => false,
            })
            .collect();
        let refused = before - trades.len();
        let outcome = PastOutcome {
            taken: trades.len() as u64,
            duplicates: refused as u64,
            too_old: 0,
        };
        if refused > 0 {
            self.counts.duplicates += refused as u64;
            metrics::counter!(AGGREGATOR_DUPLICATE_TRADES_TOTAL, "venue" => self.venue.as_str())
                .increment(refused as u64);
        }
        if trades.is_empty() {
            return outcome;
        }
        if live {
            let first = (trades[0].trade_time.as_millis(), trades[0].id.as_number());
            if self.first_live.is_none() {
                self.first_live = Some(first);
            }
            if let Some(interruption) = self.interruption.take() {
                self.report_interruption(interruption, first);
            }
            if let Some(last) = trades.last() {
                self.counts.last_trade = Some(last.id.clone());
            }
            for trade in &trades {
                self.counts.trades += 1;
                if let Some(id) = trade.id.as_number() {
                    self.counts.first_trade_id.get_or_insert(id);
                    self.counts.last_trade_id = Some(id);
                }
                match trade.side {
                    Side::Buy => self.counts.buy_volume += trade.qty,
                    Side::Sell => self.counts.sell_volume += trade.qty,
                }
            }
        } else {
            self.counts.past_trades += trades.len() as u64;
        }
        self.take(&trades, live, Intake::Venue);
        if self.settings.persist_trades {
            self.out
                .push(CoreOutput::Record(Record::Trades(Arc::from(trades))));
        }
        outcome
    }

    /// Takes admitted trades into the engine, or into the queue while the grid is unknown.
    /// `recent`: they join the recent-trades list.
    fn take(&mut self, trades: &[Trade], recent: bool, intake: Intake) {
        if self.engine.is_some() {
            self.process(trades.iter(), recent, intake);
        } else {
            let room = self
                .settings
                .pending_trade_limit
                .saturating_sub(self.pending.len() + self.pending_restored.len());
            let dropped = trades.len().saturating_sub(room);
            let kept = trades.iter().take(room).cloned();
            match intake {
                Intake::Venue => self.pending.extend(kept),
                Intake::Store => self.pending_restored.extend(kept),
            }
            if dropped > 0 {
                self.core_counts.pending_dropped += dropped as u64;
                metrics::counter!(AGGREGATOR_TRADES_DROPPED_TOTAL, "venue" => self.venue.as_str(), "reason" => "row_size_unknown").increment(dropped as u64);
                warn!(venue = %self.venue, symbol = %self.symbol, dropped, "trades dropped: the row size waits for the venue's tick size");
            }
        }
    }

    /// Reports the hole between the restored state and the first live trade after a stop.
    fn report_interruption(&mut self, interruption: Interruption, first: (i64, Option<u64>)) {
        let (first_time, first_id) = first;
        let mut event = DataQualityEvent::now(
            self.venue,
            Some(self.symbol),
            interruption.kind,
            match interruption.kind {
                QualityKind::AggregatorRestart => {
                    "aggregator restarted: trades between the last one stored and the first one after the restart may be missing"
                }
                _ => {
                    "daemon stopped: trades between the last one stored and the first one after the start may be missing"
                }
            },
        )
        .with_times(
            TimestampMs(interruption.last_time),
            TimestampMs(first_time.max(interruption.last_time)),
        );
        if let (Some(last), Some(id)) = (interruption.last_id, first_id)
            && id > last + 1
        {
            // The jump is this hole: not a trade gap of its own.
            self.ledger.forget_pending(last + 1);
            event = event.with_range(last + 1, id - 1);
        }
        self.out.push(CoreOutput::Quality(event));
    }

    fn process<'a>(
        &mut self,
        trades: impl Iterator<Item = &'a Trade>,
        recent: bool,
        intake: Intake,
    ) {
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let before = engine.stats();
        let mut events = Vec::new();
        if recent {
            self.recent_shared = None;
        }
        for trade in trades {
            let time = trade.trade_time.as_millis();
            self.first_minute
                .get_or_insert(Timeframe::M1.start_of(time));
            self.last_trade_time = Some(self.last_trade_time.map_or(time, |t| t.max(time)));
            events.extend(engine.add_trade(trade));
            if recent {
                if self.recent.len() >= self.settings.recent_trades.max(1) {
                    self.recent.pop_front();
                }
                self.recent.push_back(trade.clone());
            }
        }
        let after = engine.stats();
        self.count_engine(before, after, intake);
        self.on_events(events);
    }

    fn count_engine(&self, before: EngineStats, after: EngineStats, intake: Intake) {
        let venue = self.venue.as_str();
        let taken = after.trades - before.trades;
        if taken > 0 {
            match intake {
                Intake::Venue => self.trades_total.increment(taken),
                Intake::Store => self.trades_restored.increment(taken),
            }
        }
        let amended = after.late_amended - before.late_amended;
        if amended > 0 {
            metrics::counter!(AGGREGATOR_LATE_TRADES_TOTAL, "venue" => venue).increment(amended);
        }
        for (reason, count) in [
            ("too_late", after.late_dropped - before.late_dropped),
            ("future_time", after.future_dropped - before.future_dropped),
        ] {
            if count > 0 {
                metrics::counter!(AGGREGATOR_TRADES_DROPPED_TOTAL, "venue" => venue, "reason" => reason).increment(count);
                warn!(venue, symbol = %self.symbol, reason, count, "trades dropped by the bar engine");
            }
        }
    }

    fn on_events(&mut self, events: Vec<EngineEvent>) {
        let Some(engine) = self.engine.as_ref() else {
            return;
        };
        let grid = engine.params().grid;
        let open_minute = engine.open_minute();
        for event in events {
            let (timeframe, bar, cvd, amended, by_trades) = match event {
                EngineEvent::Closed {
                    timeframe,
                    bar,
                    cvd,
                } => {
                    metrics::counter!(AGGREGATOR_BARS_CLOSED_TOTAL, "venue" => self.venue.as_str(), "timeframe" => timeframe.as_str()).increment(1);
                    if timeframe == Timeframe::M1 {
                        self.core_counts.bars_closed += 1;
                    }
                    self.last_closed.insert(timeframe, Arc::clone(&bar));
                    (timeframe, bar, cvd, false, false)
                }
                EngineEvent::Amended {
                    timeframe,
                    bar,
                    cvd,
                    by_trades,
                } => {
                    if let Some(last) = self.last_closed.get_mut(&timeframe)
                        && last.start == bar.start
                    {
                        *last = Arc::clone(&bar);
                    }
                    (timeframe, bar, cvd, true, by_trades)
                }
            };
            if timeframe == Timeframe::M1 {
                let open = open_minute.unwrap_or(bar.end);
                self.recent_minutes.record(&bar, !amended, open);
            }
            if timeframe.is_recorded() {
                if amended {
                    let by_trades = by_trades
                        || self
                            .amended
                            .get(&(timeframe, bar.start))
                            .is_some_and(|(_, _, earlier)| *earlier);
                    self.amended
                        .insert((timeframe, bar.start), (bar, cvd, by_trades));
                } else {
                    self.push_bar(timeframe, bar, grid, cvd, BarState::Closed);
                }
            }
        }
        self.settle_klines();
    }

    /// Rebuilds the state from what the store holds (a warm start): the minutes of the
    /// stored 1-minute bars, the open bars, rolling windows, session, cumulative delta and
    /// developing POC, large trades, and the trade ids taken. Stored raw trades that no
    /// merged bar holds are taken as well (not stored again): the minute a kill left open,
    /// a late trade whose amended bar was not written.
    ///
    /// Before any live trade this rebuilds the whole state; after live trades (the store
    /// answered late) the stored bars of minutes not held live join it, and the other
    /// minutes take their stored raw trades through the ledger.
    ///
    /// The stop is reported as a hole of `kind` ([`QualityKind::Downtime`] or
    /// [`QualityKind::AggregatorRestart`]) from the latest trade restored to the first live
    /// one, when that one arrives (at once, after live trades).
    pub fn restore(&mut self, history: History, kind: QualityKind) -> WarmStart {
        let mut warm = WarmStart::cold("cold", "store", Some("nothing stored".into()));
        let live = self.first_live.is_some();
        let mut bars: Vec<&BarRecord> = history
            .bars
            .iter()
            .filter(|b| {
                b.timeframe == Timeframe::M1 && b.venue == self.venue && b.symbol == self.symbol
            })
            .collect();
        bars.sort_by_key(|b| b.report.start);
        if self.engine.is_none()
            && let Some(grid) = bars.last().and_then(|b| b.grid().ok())
        {
            // The grid the stored bars were built on: profiles only add up on one grid.
            self.start_engine(grid);
        }
        // Minutes held live keep what they hold: their stored bars may hold part of them.
        // Stored minutes newer than the live open minute (the first live trades were late)
        // cannot join the live bars as bars: their raw trades are taken instead, which rolls
        // the live state forward through them.
        let open_minute = self.engine.as_ref().and_then(Engine::open_minute);
        let replay_newer = live && history.raw_trades_stored;
        let held = |start: i64| {
            self.engine
                .as_ref()
                .is_some_and(|e| live && e.minute_bar(start).is_some())
                || (replay_newer && open_minute.is_some_and(|open| start > open))
        };
        let mut minutes: Vec<Bar> = Vec::with_capacity(bars.len());
        let mut records: Vec<&BarRecord> = Vec::with_capacity(bars.len());
        if let Some(grid) = self.engine.as_ref().map(|e| e.params().grid) {
            for record in bars.iter().filter(|b| !held(b.report.start)) {
                let factor = record.grid().ok().and_then(|stored| {
                    let (row, stored_row) = (grid.row_size().units(), stored.row_size().units());
                    (row % stored_row == 0).then_some(row / stored_row)
                });
                match (factor, record.to_bar()) {
                    (Some(factor), Ok(mut bar)) => {
                        if factor > 1 {
                            bar.footprint = bar.footprint.coarsen(factor);
                        }
                        minutes.push(bar);
                        records.push(record);
                    }
                    (None, _) => {
                        warm.bars_skipped += 1;
                        warm.reason = Some(format!(
                            "stored bars on row size {} do not fit the row size {}",
                            record.row_size,
                            grid.row_size()
                        ));
                    }
                    (_, Err(err)) => {
                        warm.bars_skipped += 1;
                        warn!(venue = %self.venue, symbol = %self.symbol, start = record.report.start, error = %err, "a stored bar cannot be rebuilt; skipped");
                    }
                }
            }
        }
        // Raw trades of a merged minute are in its bar, unless the bar misses them; the
        // others are taken through the ledger.
        let merged: BTreeMap<i64, u64> = minutes
            .iter()
            .map(|bar| (bar.start, bar.totals.prints))
            .collect();
        let minute_of = |t: &Trade| Timeframe::M1.start_of(t.trade_time.as_millis());
        let (covered, mut replay): (Vec<Trade>, Vec<Trade>) = history
            .trades
            .into_iter()
            .partition(|t| merged.contains_key(&minute_of(t)));
        for record in &records {
            self.ledger
                .restore_ranges(&record.ids, record.last_trade_time().unwrap_or(0));
        }
        if self.ledger.is_contiguous() {
            replay.extend(
                covered
                    .iter()
                    .filter(|t| {
                        t.id.as_number()
                            .is_some_and(|id| !self.ledger.taken().contains(id))
                    })
                    .cloned(),
            );
        } else {
            // Opaque ids cannot be checked one by one: a merged minute whose stored raw
            // trades outnumber its bar's is rebuilt from them (minutes read in part, before
            // `trades_complete_from`, are left alone).
            let complete = history
                .trades_complete_from
                .clamp(0, TimestampMs::MAX_PLAUSIBLE);
            let first_whole = Timeframe::M1.start_of(complete + Timeframe::M1.millis() - 1);
            let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
            for trade in &covered {
                *per_minute.entry(minute_of(trade)).or_default() += 1;
            }
            let rebuilt: Vec<i64> = per_minute
                .iter()
                .filter(|&(&minute, &n)| {
                    minute >= first_whole && n > merged.get(&minute).copied().unwrap_or(0)
                })
                .map(|(&minute, _)| minute)
                .collect();
            if !rebuilt.is_empty() {
                let keep: Vec<usize> = (0..minutes.len())
                    .filter(|&i| !rebuilt.contains(&minutes[i].start))
                    .collect();
                minutes = keep.iter().map(|&i| minutes[i].clone()).collect();
                records = keep.iter().map(|&i| records[i]).collect();
                replay.extend(
                    covered
                        .iter()
                        .filter(|t| rebuilt.contains(&minute_of(t)))
                        .cloned(),
                );
            }
        }
        replay.sort_by_key(|t| t.trade_time);
        let mut large: Vec<LargeTrade> = records
            .iter()
            .flat_map(|r| r.large_trades.iter().copied())
            .collect();
        large.sort_by_key(|t| t.time);
        let open = records.last().filter(|r| r.partial).map(|r| r.report.start);
        let restored_latest = records
            .iter()
            .filter_map(|r| r.last_trade_time())
            .chain(covered.iter().map(|t| t.trade_time.as_millis()))
            .max();
        let restored_last_id = records
            .iter()
            .filter_map(|r| r.ids.last())
            .chain(covered.iter().filter_map(|t| t.id.as_number()))
            .max();
        warm.bars = minutes.len();
        warm.from = minutes.first().map(|bar| bar.start);
        if !live {
            self.first_minute = warm.from;
        }
        if let Some(engine) = self.engine.as_mut() {
            if live {
                let offered = minutes.len();
                let added = engine.merge_minutes(minutes, large);
                if added < offered {
                    // Without stored raw trades, minutes newer than the live open one (or
                    // outside the memory) cannot be merged: say so rather than lose them quietly.
                    let skipped = offered - added;
                    warm.bars = warm.bars.saturating_sub(skipped);
                    warm.bars_skipped += skipped;
                    warm.reason = Some(format!(
                        "{skipped} stored minutes could not join the live state (newer than its open minute, without raw trades to replay)"
                    ));
                    warn!(venue = %self.venue, symbol = %self.symbol, skipped, "stored minutes left out of the merge");
                }
            } else {
                engine.restore(minutes, open, large);
            }
            let window = self.settings.profile.large_trades.median_window;
            let skip = covered.len().saturating_sub(window);
            if !live {
                engine.prime_large_trades(covered[skip..].iter());
            }
        }
        let replay = self.unknown_to_ledger(replay);
        for trade in &covered {
            self.ledger.restore_trade(trade);
        }
        warm.trades_replayed = replay.len();
        let restored_latest = restored_latest
            .into_iter()
            .chain(replay.iter().map(|t| t.trade_time.as_millis()))
            .max();
        let restored_last_id = restored_last_id
            .into_iter()
            .chain(replay.iter().filter_map(|t| t.id.as_number()))
            .max()
            .filter(|_| self.ledger.is_contiguous());
        if !live {
            self.recent_shared = None;
            let keep = self.settings.recent_trades.max(1);
            for trade in covered.iter().rev().take(keep).rev() {
                if self.recent.len() >= keep {
                    self.recent.pop_front();
                }
                self.recent.push_back(trade.clone());
            }
        }
        self.take(&replay, true, Intake::Store);
        if !history.raw_trades_stored
            && let Some(time) = restored_latest
        {
            self.ledger.refuse_through(time);
        }
        self.last_trade_time = self.last_trade_time.max(restored_latest);
        if let Some(engine) = self.engine.as_ref().filter(|_| !live)
            && let Some(open) = engine.open_minute()
        {
            for timeframe in Timeframe::ALL {
                let start = timeframe.start_of(open) - timeframe.millis();
                if let Some(bar) = engine.closed_bar(timeframe, start) {
                    self.last_closed.insert(timeframe, Arc::new(bar));
                }
            }
        }
        if let Some(last_time) = restored_latest {
            warm.outcome = "warm";
            warm.reason = None;
            warm.to = Some(last_time);
            let interruption = Interruption {
                kind,
                last_time,
                last_id: restored_last_id,
            };
            match self.first_live {
                Some(first) if live => self.report_interruption(interruption, first),
                _ => self.interruption = Some(interruption),
            }
        }
        self.warm = Some(warm.clone());
        warm
    }

    /// Takes a further page of the stored trades a warm start replays (newer than those
    /// [`AggregatorCore::restore`] and the pages before took), while the stop's hole is not
    /// reported yet: the hole then starts at the latest of them. Returns false, taking
    /// nothing, once a live trade has reported the hole (the rest of the stored trades is in
    /// it), or when no warm start restored anything before.
    pub fn restore_more(&mut self, mut trades: Vec<Trade>) -> bool {
        let Some(mut interruption) = self.interruption.filter(|_| self.first_live.is_none()) else {
            return false;
        };
        trades.retain(|t| t.venue == self.venue && t.symbol == self.symbol);
        let replay = self.unknown_to_ledger(trades);
        let Some(latest) = replay.iter().map(|t| t.trade_time.as_millis()).max() else {
            return true;
        };
        interruption.last_time = interruption.last_time.max(latest);
        if self.ledger.is_contiguous() {
            interruption.last_id = interruption
                .last_id
                .max(replay.iter().filter_map(|t| t.id.as_number()).max());
        }
        self.take(&replay, true, Intake::Store);
        self.last_trade_time = self.last_trade_time.max(Some(latest));
        self.interruption = Some(interruption);
        if let Some(warm) = self.warm.as_mut() {
            warm.trades_replayed += replay.len();
            warm.to = Some(interruption.last_time);
        }
        true
    }

    /// Of stored trades to replay, those the ledger did not know; every one is then known.
    fn unknown_to_ledger(&mut self, trades: Vec<Trade>) -> Vec<Trade> {
        trades
            .into_iter()
            .filter(|trade| {
                let new = !self.ledger.knows(trade);
                self.ledger.restore_trade(trade);
                new
            })
            .collect()
    }

    /// Records how the (latest) warm start went; a failed one over a warm one keeps the
    /// warm one.
    pub fn note_warm_start(&mut self, warm: WarmStart) {
        if self.warm.as_ref().is_some_and(|w| w.outcome == "warm") && warm.outcome != "warm" {
            return;
        }
        self.warm = Some(warm);
    }

    /// Returns how the aggregator started.
    pub fn warm_start(&self) -> Option<&WarmStart> {
        self.warm.as_ref()
    }

    /// Takes the latest view of the local book.
    pub fn on_book(&mut self, view: Arc<BookView>) {
        self.counts.book_updates += 1;
        self.counts.last_book_update_id = Some(view.update_id);
        self.book = Some(view);
    }

    /// Takes liquidations of this pair: into the bars, the recent list and the store.
    pub fn on_liquidations(&mut self, liquidations: Vec<Liquidation>) {
        for liquidation in &liquidations {
            self.bar_derivatives(DerivativesItem::Liquidation(liquidation.clone()));
        }
        self.out
            .push(CoreOutput::Record(Record::Liquidations(Arc::from(
                liquidations.as_slice(),
            ))));
        self.derivatives.on_liquidations(liquidations);
    }

    /// Takes a mark/index/funding/open-interest tick of this pair: merged into the latest
    /// values, and observed by the bars at the tick's time. When the next funding time moves
    /// on, the funding just settled (at the former next funding time, with the last rate
    /// seen before it) is stored.
    pub fn on_derivatives(&mut self, tick: DerivativesTick) {
        // What the bars observe, at the message's own time: on Bybit the merged ticker (a
        // delta without a field means unchanged); elsewhere what the message states (a
        // Binance mark price says nothing of open interest, a REST answer nothing of the
        // mark).
        let stated = (self.venue != Venue::BybitLinear).then(|| tick.clone());
        let time = tick.time;
        let before = self
            .derivatives
            .latest()
            .and_then(|l| l.funding_rate.zip(l.next_funding_time));
        let orphans = self.derivatives.orphan_deltas;
        self.derivatives.on_tick(tick);
        if self.derivatives.orphan_deltas > orphans {
            self.drop_derivatives("delta_before_snapshot");
        }
        let Some(latest) = self.derivatives.latest() else {
            return;
        };
        if let (Some((rate, settled)), Some(next)) = (before, latest.next_funding_time)
            && next > settled
        {
            let record = FundingRecord {
                venue: self.venue,
                symbol: self.symbol,
                funding_time: settled.as_millis(),
                funding_rate: rate,
                observed_at: time.as_millis(),
            };
            self.out
                .push(CoreOutput::Record(Record::Funding(Arc::new(record))));
        }
        let observed = stated.unwrap_or_else(|| DerivativesTick {
            time,
            ..latest.clone()
        });
        self.bar_derivatives(DerivativesItem::Values(observed));
    }

    /// Takes venue candles: closed ones are persisted, closed Binance 1-minute ones checked.
    pub fn on_klines(&mut self, klines: Vec<Kline>) {
        self.counts.klines += klines.len() as u64;
        for kline in klines {
            if !kline.closed {
                continue;
            }
            if KlineChecker::applies_to(&kline)
                && let Some(outcome) = self.klines.offer(kline.clone())
            {
                self.count_kline(outcome);
            }
            self.out
                .push(CoreOutput::Record(Record::Kline(Arc::new(kline))));
        }
        self.settle_klines();
    }

    fn settle_klines(&mut self) {
        let Some(engine) = self.engine.as_ref() else {
            return;
        };
        let settled = self
            .klines
            .settle(self.first_minute, engine.open_minute(), |minute| {
                engine.minute_bar(minute)
            });
        for (outcome, mismatch) in settled {
            self.count_kline(outcome);
            if let Some(mismatch) = mismatch {
                let mut event = DataQualityEvent::now(
                    self.venue,
                    Some(self.symbol),
                    QualityKind::KlineMismatch,
                    mismatch.to_string(),
                );
                event.time = TimestampMs(mismatch.open_time);
                if let Some((from, to)) = mismatch.kline_ids {
                    event = event.with_range(from, to);
                }
                self.out.push(CoreOutput::Quality(event));
            }
        }
    }

    fn count_kline(&mut self, outcome: KlineOutcome) {
        match outcome {
            KlineOutcome::Match => self.core_counts.klines_matched += 1,
            KlineOutcome::Mismatch => self.core_counts.klines_mismatched += 1,
            KlineOutcome::Skipped => self.core_counts.klines_skipped += 1,
        }
        metrics::counter!(AGGREGATOR_KLINE_CHECKS_TOTAL, "venue" => self.venue.as_str(), "outcome" => outcome.as_str()).increment(1);
    }

    /// Takes instrument metadata; with a row size in ticks, the first tick size fixes the grid.
    pub fn on_instrument(&mut self, info: InstrumentInfo) {
        let tick = info.tick_size;
        self.counts.instrument = Some(info);
        match (&self.engine, self.row) {
            (None, row) => match row.grid_for_tick(tick) {
                Some(grid) => self.start_engine(grid),
                None => {
                    warn!(venue = %self.venue, symbol = %self.symbol, tick = %tick, "the venue's tick size gives no row grid; trades wait")
                }
            },
            (Some(engine), _) => {
                let row = engine.params().grid.row_size();
                if tick.is_positive() && !row.is_multiple_of(tick) && !self.warned_tick {
                    self.warned_tick = true;
                    warn!(venue = %self.venue, symbol = %self.symbol, tick = %tick, row_size = %row, "the row size is not a whole number of the venue's ticks; profiles stay on the row grid");
                }
            }
        }
    }

    /// Advances the clock to `now` (Unix ms): closes due bars, settles candles, and sends a
    /// book snapshot when one is due.
    pub fn tick(&mut self, now: i64) {
        self.now = self.now.max(now);
        self.release_held();
        if let Some(engine) = self.engine.as_mut() {
            let mut events = engine.take_amended();
            events.extend(engine.advance_clock(now));
            self.on_events(events);
        }
        let grace = i64::try_from(self.settings.gap_grace.as_millis()).unwrap_or(i64::MAX);
        for gap in self.ledger.due_gaps(now, grace) {
            self.out.push(CoreOutput::Quality(
                DataQualityEvent::now(
                    self.venue,
                    Some(self.symbol),
                    QualityKind::TradeGap,
                    "trade id jump",
                )
                .with_range(gap.first, gap.last)
                .with_times(TimestampMs(gap.from_time), TimestampMs(gap.to_time)),
            ));
        }
        self.report_amended();
        let interval =
            i64::try_from(self.settings.book_snapshot_interval.as_millis()).unwrap_or(i64::MAX);
        let due = self
            .last_book_record
            .is_none_or(|last| now - last >= interval);
        if due && let Some(view) = self.book.clone() {
            self.last_book_record = Some(now);
            let depth = self.settings.book_snapshot_depth;
            self.out
                .push(CoreOutput::Record(Record::Book(Arc::new(BookRecord {
                    venue: self.venue,
                    symbol: self.symbol,
                    time: now,
                    update_id: view.update_id,
                    bids: view.bids.iter().take(depth).copied().collect(),
                    asks: view.asks.iter().take(depth).copied().collect(),
                    stats: book_stats(&view, self.settings.depth_imbalance_levels),
                }))));
        }
    }

    /// Reports the open 1-minute and 1-hour bars as partial records, for an aggregator that
    /// stops: what it took up to now reaches the store. The state is left unchanged.
    pub fn report_open_bars(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            let events = engine.take_amended();
            self.on_events(events);
        }
        self.report_amended();
        let Some(engine) = self.engine.as_ref() else {
            return;
        };
        let grid = engine.params().grid;
        for (timeframe, bar, cvd) in engine.open_bars() {
            if timeframe.is_recorded() {
                self.push_bar(timeframe, bar, grid, cvd, BarState::Partial);
            }
        }
    }

    /// Reports the bars amended since the last tick, each once, as it is now.
    fn report_amended(&mut self) {
        let Some(grid) = self.engine.as_ref().map(|e| e.params().grid) else {
            return;
        };
        for ((timeframe, _), (bar, cvd, by_trades)) in std::mem::take(&mut self.amended) {
            let state = if by_trades {
                BarState::Amended
            } else {
                BarState::Closed
            };
            self.push_bar(timeframe, bar, grid, cvd, state);
        }
    }

    /// Hands a stored timeframe's bar to persistence.
    fn push_bar(
        &mut self,
        timeframe: Timeframe,
        bar: Arc<Bar>,
        grid: super::RowGrid,
        cvd: Qty,
        state: BarState,
    ) {
        let large_trades = self
            .engine
            .as_ref()
            .map(|engine| engine.large_trades_between(bar.start, bar.end))
            .unwrap_or_default();
        let record = BarRecord::build(
            self.venue,
            self.symbol,
            timeframe,
            &bar,
            &grid,
            cvd,
            &self.settings.profile,
            large_trades,
            state,
        );
        self.out
            .push(CoreOutput::Record(Record::Bar(Arc::new(record))));
    }

    /// Takes what is to be sent on.
    pub fn drain(&mut self) -> std::vec::Drain<'_, CoreOutput> {
        self.out.drain(..)
    }

    /// Returns what the core has seen.
    pub fn counts(&self) -> &AggregatorCounts {
        &self.counts
    }

    /// Returns closed-bar and candle-check counts.
    pub fn core_counts(&self) -> CoreCounts {
        self.core_counts
    }

    /// Returns the engine, once the row grid is known.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Returns the latest book statistics.
    pub fn book_stats(&self) -> Option<BookStats> {
        self.book
            .as_ref()
            .map(|view| book_stats(view, self.settings.depth_imbalance_levels))
    }

    /// Builds the snapshot the API reads.
    pub fn snapshot(&mut self, generation: u64, now: i64) -> AggregatorSnapshot {
        let mut snapshot =
            AggregatorSnapshot::empty(self.venue, self.symbol, self.settings.profile);
        snapshot.generation = generation;
        snapshot.published_at = now;
        snapshot.counts = self.counts.clone();
        snapshot.book = self.book_stats();
        snapshot.last_trade_time = self.last_trade_time;
        snapshot.last_closed = self.last_closed.clone();
        snapshot.recent_trades = Arc::clone(
            self.recent_shared
                .get_or_insert_with(|| self.recent.iter().cloned().collect()),
        );
        snapshot.warm = self.warm.clone();
        snapshot.pending_hole = self.interruption.map(|i| (i.last_time, i.kind));
        (snapshot.closed_minutes_from, snapshot.closed_minutes) = self.recent_minutes.view();
        snapshot.derivatives = self.derivatives.latest().cloned();
        snapshot.liquidations = self.derivatives.recent().cloned().collect();
        let Some(engine) = &self.engine else {
            return snapshot;
        };
        snapshot.grid = Some(engine.params().grid);
        snapshot.engine = engine.stats();
        snapshot.bars = Timeframe::ALL
            .into_iter()
            .filter_map(|tf| engine.current_bar(tf).map(|bar| (tf, Arc::new(bar))))
            .collect();
        snapshot.rolling = Rolling::ALL
            .into_iter()
            .filter_map(|r| engine.rolling_window(r).map(|bar| (r, Arc::new(bar))))
            .collect();
        snapshot.session = engine.session().map(Arc::new);
        snapshot.cvd = engine.cvd();
        snapshot.developing_poc = engine.developing_poc().into();
        snapshot.large_trades = engine.large_trades().into();
        snapshot.earliest_trade = engine
            .first_minute()
            .and_then(|minute| engine.minute_bar(minute))
            .and_then(|bar| bar.open.map(|open| open.time));
        snapshot
    }
}

/// A duration in milliseconds, saturating.
fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::{Price, TradeFlags, TradeId, UnixNanos};

    fn trade(id: u64, time: i64, side: Side) -> Trade {
        Trade {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            id: TradeId::Number(id),
            price: Price::from_int(100),
            qty: Qty::from_int(1),
            side,
            trade_time: TimestampMs(time),
            event_time: TimestampMs(time),
            received_at: UnixNanos(0),
            flags: TradeFlags::AGGREGATE,
            sequence: None,
            fills: None,
        }
    }

    fn bar_records(core: &mut AggregatorCore) -> Vec<BarRecord> {
        core.drain()
            .filter_map(|output| match output {
                CoreOutput::Record(Record::Bar(bar)) => Some((*bar).clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_burst_of_late_trades_rewrites_each_bar_once_per_tick() {
        let mut core = AggregatorCore::new(
            Venue::BinanceSpot,
            Symbol::new("BTCUSDT").unwrap(),
            Arc::new(AggregatorSettings::default()),
            RowSpec::Fixed("1".parse().unwrap()),
        );
        let t0 = 1_767_225_600_000;
        core.on_trades(vec![trade(1, t0 + 1_000, Side::Buy)]);
        core.on_trades(vec![trade(2, t0 + 61_000, Side::Buy)]);
        let closed = bar_records(&mut core);
        assert!(
            closed
                .iter()
                .any(|b| b.timeframe == Timeframe::M1 && b.report.start == t0 && !b.amended)
        );
        // 50 late trades for the closed minute, one message each: nothing until the tick.
        for id in 3..53 {
            core.on_trades(vec![trade(id, t0 + 2_000, Side::Sell)]);
        }
        assert!(bar_records(&mut core).is_empty());
        core.tick(t0 + 62_000);
        let amended: Vec<BarRecord> = bar_records(&mut core)
            .into_iter()
            .filter(|b| b.amended)
            .collect();
        assert_eq!(
            amended.len(),
            1,
            "one rewrite of the 1m bar (the 1h bar is open)"
        );
        assert_eq!(
            (
                amended[0].timeframe,
                amended[0].report.start,
                amended[0].report.trades
            ),
            (Timeframe::M1, t0, 51)
        );
        core.tick(t0 + 63_000);
        assert!(bar_records(&mut core).iter().all(|b| !b.amended));
    }

    fn core() -> AggregatorCore {
        AggregatorCore::new(
            Venue::BinanceSpot,
            Symbol::new("BTCUSDT").unwrap(),
            Arc::new(AggregatorSettings::default()),
            RowSpec::Fixed("1".parse().unwrap()),
        )
    }

    #[test]
    fn a_future_stamped_trade_does_not_move_the_open_bar() {
        let mut core = core();
        let t0 = 1_767_225_600_000;
        let now = t0 + 30_000;
        core.observe_clock(now);
        // The first trade of the stream is stamped four minutes ahead: it waits.
        core.on_trades(vec![trade(1, now + 240_000, Side::Buy)]);
        assert_eq!(core.engine().unwrap().open_minute(), None);
        // Real trades follow, each a little ahead or behind the local clock (within 2 s).
        for id in 2..=494 {
            let time = now - 1_000 + i64::try_from(id).unwrap() * 4;
            core.observe_clock(now);
            core.on_trades(vec![trade(id, time, Side::Sell)]);
        }
        let engine = core.engine().unwrap();
        assert_eq!(
            engine.open_minute(),
            Some(t0),
            "the open bar is the local minute"
        );
        assert_eq!(
            engine.current_bar(Timeframe::M1).unwrap().totals.prints,
            493
        );
        assert_eq!(
            engine.stats().late_amended,
            0,
            "no real trade went down the late path"
        );
        assert_eq!(core.core_counts().ahead_held, 1);
        // A trade further ahead than ahead_hold (5 min) is dropped and counted.
        core.on_trades(vec![trade(495, now + 301_000, Side::Buy)]);
        assert_eq!(core.core_counts().ahead_dropped, 1);
        // When the clock reaches it, the held trade is taken, in its own minute.
        core.tick(now + 237_999);
        assert_eq!(core.engine().unwrap().stats().trades, 493);
        core.tick(now + 238_000);
        let engine = core.engine().unwrap();
        assert_eq!(engine.stats().trades, 494);
        assert_eq!(engine.open_minute(), Some(t0 + 240_000));
        assert_eq!(
            core.counts().trades,
            494,
            "the dropped trade is not counted as taken"
        );
    }

    #[test]
    fn trades_stamped_before_the_venues_existed_are_refused_and_counted() {
        let mut core = core();
        core.on_trades(vec![
            trade(1, 0, Side::Buy),
            trade(2, 1_483_228_799_999, Side::Buy),
        ]);
        core.on_past_trades(vec![trade(3, 60_000, Side::Sell)]);
        assert_eq!(core.core_counts().implausible_dropped, 3);
        assert_eq!(core.engine().unwrap().open_minute(), None, "no bar of 1970");
        assert!(bar_records(&mut core).is_empty());
        assert!(
            core.drain()
                .all(|output| !matches!(output, CoreOutput::Record(Record::Trades(_)))),
            "nothing stored"
        );
        core.on_trades(vec![trade(4, 1_483_228_800_000, Side::Buy)]);
        assert_eq!(core.engine().unwrap().stats().trades, 1);
    }

    #[test]
    fn derivatives_reach_the_stored_bars_and_a_settled_funding_is_recorded() {
        use crate::model::{DerivativesTick, Liquidation, PositionSide, Ratio};
        let mut core = core();
        let t0 = 1_767_225_600_000;
        let tick = |time: i64, oi: i64, rate: &str, next: i64| DerivativesTick {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            time: TimestampMs(time),
            received_at: UnixNanos(0),
            complete: true,
            mark_price: Some(Price::from_int(101)),
            index_price: Some(Price::from_int(100)),
            funding_rate: Some(rate.parse::<Ratio>().unwrap()),
            next_funding_time: Some(TimestampMs(next)),
            open_interest: Some(Qty::from_int(oi)),
        };
        core.on_trades(vec![trade(1, t0 + 10, Side::Buy)]);
        core.on_derivatives(tick(t0 + 1_000, 50, "0.0001", t0 + 30_000));
        core.on_derivatives(tick(t0 + 2_000, 70, "0.0001", t0 + 30_000));
        core.on_liquidations(vec![Liquidation {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            position: PositionSide::Short,
            price: "100.5".parse().unwrap(),
            qty: Qty::from_int(3),
            time: TimestampMs(t0 + 2_500),
            received_at: UnixNanos(0),
        }]);
        // The funding time passes: the rate of the interval that ended is recorded.
        core.on_derivatives(tick(t0 + 31_000, 40, "-0.0002", t0 + 60_000));
        core.on_trades(vec![trade(2, t0 + 60_010, Side::Sell)]);
        let outputs: Vec<CoreOutput> = core.drain().collect();
        let fundings: Vec<(i64, Ratio)> = outputs
            .iter()
            .filter_map(|o| match o {
                CoreOutput::Record(Record::Funding(f)) => Some((f.funding_time, f.funding_rate)),
                _ => None,
            })
            .collect();
        assert_eq!(fundings, vec![(t0 + 30_000, "0.0001".parse().unwrap())]);
        assert!(
            outputs
                .iter()
                .any(|o| matches!(o, CoreOutput::Record(Record::Liquidations(l)) if l.len() == 1))
        );
        let minute = outputs
            .iter()
            .find_map(|o| match o {
                CoreOutput::Record(Record::Bar(b)) if b.timeframe == Timeframe::M1 => {
                    Some(Arc::clone(b))
                }
                _ => None,
            })
            .unwrap();
        let data = minute.derivatives.clone().unwrap();
        let oi = data.open_interest.clone().unwrap();
        assert_eq!(
            (oi.open, oi.high, oi.low, oi.close, oi.change),
            (
                Qty::from_int(50),
                Qty::from_int(70),
                Qty::from_int(40),
                Qty::from_int(40),
                Qty::from_int(-10)
            )
        );
        assert_eq!(data.liquidations.shorts.qty, Qty::from_int(3));
        assert_eq!(data.liquidation_rows.len(), 1);
        assert_eq!(data.liquidation_rows[0].price, Price::from_int(100));
        assert_eq!(data.funding_rate, Some("-0.0002".parse().unwrap()));
        assert_eq!(data.basis, Some(Price::from_int(1)));
        // Stored and read back, the bar is the same.
        let text = serde_json::to_string(&*minute).unwrap();
        let back: BarRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, *minute);
        let rebuilt = back.to_bar().unwrap();
        assert_eq!(
            rebuilt.derivatives.as_ref().map(|d| d.liquidations.qty()),
            Some(Qty::from_int(3))
        );
        // Rolled up into a day (from stored hours, like persistence does), the part stays.
        let day = BarRecord::rollup(Timeframe::D1, Timeframe::D1.start_of(t0), &[minute])
            .unwrap()
            .unwrap();
        assert_eq!(day.derivatives, Some(data));
    }

    #[test]
    fn a_warm_start_replay_is_counted_apart_from_the_venues_trades() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let t0 = 1_767_225_600_000;
        metrics::with_local_recorder(&recorder, || {
            // Trades 1 to 3 were taken (and counted) by the incarnation before; stored, no
            // bar holds them.
            let mut core = core();
            let history = History {
                bars: Vec::new(),
                trades: (1..=3)
                    .map(|id| trade(id, t0 + 1_000 * id as i64, Side::Buy))
                    .collect(),
                raw_trades_stored: true,
                trades_complete_from: t0,
            };
            let warm = core.restore(history, QualityKind::AggregatorRestart);
            assert_eq!((warm.outcome, warm.trades_replayed), ("warm", 3));
            core.on_trades(vec![
                trade(4, t0 + 5_000, Side::Sell),
                trade(5, t0 + 6_000, Side::Sell),
            ]);
            assert_eq!(
                core.engine().unwrap().stats().trades,
                5,
                "the state holds all five"
            );
        });
        let text = handle.render();
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
                .and_then(|l| l.rsplit_once(' '))
                .map(|(_, v)| v.to_owned())
        };
        assert_eq!(
            value("wadm_aggregator_trades_total").as_deref(),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            value("wadm_aggregator_trades_restored_total").as_deref(),
            Some("3"),
            "{text}"
        );
    }

    #[test]
    fn snapshots_share_the_recent_trades_until_a_trade_joins() {
        let mut core = core();
        let t0 = 1_767_225_600_000;
        core.on_trades(vec![trade(1, t0, Side::Buy), trade(2, t0 + 1, Side::Sell)]);
        let first = core.snapshot(1, t0 + 10).recent_trades;
        let second = core.snapshot(1, t0 + 20).recent_trades;
        assert!(Arc::ptr_eq(&first, &second), "nothing new: the same list");
        core.on_trades(vec![trade(3, t0 + 30, Side::Buy)]);
        let third = core.snapshot(1, t0 + 40).recent_trades;
        assert!(!Arc::ptr_eq(&second, &third));
        let ids: Vec<_> = third.iter().filter_map(|t| t.id.as_number()).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        // A duplicate is refused: the list stays shared.
        core.on_trades(vec![trade(3, t0 + 30, Side::Buy)]);
        assert!(Arc::ptr_eq(
            &third,
            &core.snapshot(1, t0 + 50).recent_trades
        ));
    }
}
