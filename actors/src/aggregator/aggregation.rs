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
use super::engine::{Engine, EngineEvent, EngineParams, EngineStats, Rolling};
use super::kline_check::{KlineChecker, KlineOutcome};
use super::messages::AggregatorCounts;
use super::output::{BarRecord, BookRecord, Record};
use super::params::{AggregatorSettings, RowSpec};
use super::snapshot::AggregatorSnapshot;
use crate::metrics::{
    AGGREGATOR_BARS_CLOSED_TOTAL, AGGREGATOR_KLINE_CHECKS_TOTAL, AGGREGATOR_LATE_TRADES_TOTAL,
    AGGREGATOR_TRADES_DROPPED_TOTAL, AGGREGATOR_TRADES_TOTAL,
};
use crate::model::{
    BookView, DataQualityEvent, InstrumentInfo, Kline, Qty, QualityKind, Side, Symbol, TimestampMs,
    Trade, Venue,
};

/// Something the core wants sent on.
#[derive(Debug, Clone)]
pub enum CoreOutput {
    /// To persistence.
    Record(Record),
    /// To the data-quality log.
    Quality(DataQualityEvent),
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
}

/// How a bar handed to persistence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BarState {
    /// Closed, reported for the first time.
    Closed,
    /// Closed, changed by late trades since.
    Amended,
    /// Still open: the aggregator is stopping.
    Partial,
}

/// One (venue, symbol)'s aggregation, driven by its caller.
#[derive(Debug)]
pub struct AggregatorCore {
    venue: Venue,
    symbol: Symbol,
    settings: Arc<AggregatorSettings>,
    row: RowSpec,
    engine: Option<Engine>,
    pending: VecDeque<Trade>,
    counts: AggregatorCounts,
    core_counts: CoreCounts,
    klines: KlineChecker,
    first_minute: Option<i64>,
    last_closed: BTreeMap<Timeframe, Arc<Bar>>,
    /// Stored bars amended by late trades since the last tick, by (timeframe, start): a burst
    /// of late trades rewrites each bar once per tick, not once per trade.
    amended: BTreeMap<(Timeframe, i64), (Arc<Bar>, Qty)>,
    recent: VecDeque<Trade>,
    book: Option<Arc<BookView>>,
    last_book_record: Option<i64>,
    last_trade_time: Option<i64>,
    warned_tick: bool,
    out: Vec<CoreOutput>,
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
            counts: AggregatorCounts::default(),
            core_counts: CoreCounts::default(),
            klines: KlineChecker::default(),
            first_minute: None,
            last_closed: BTreeMap::new(),
            amended: BTreeMap::new(),
            recent: VecDeque::new(),
            book: None,
            last_book_record: None,
            last_trade_time: None,
            warned_tick: false,
            out: Vec::new(),
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
        let pending = std::mem::take(&mut self.pending);
        self.process(pending.iter());
    }

    /// Takes a batch of trades (admitted by the session: in order, without duplicates).
    pub fn on_trades(&mut self, trades: Vec<Trade>) {
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
        if self.engine.is_some() {
            self.process(trades.iter());
        } else {
            let room = self
                .settings
                .pending_trade_limit
                .saturating_sub(self.pending.len());
            let dropped = trades.len().saturating_sub(room);
            self.pending.extend(trades.iter().take(room).cloned());
            if dropped > 0 {
                self.core_counts.pending_dropped += dropped as u64;
                metrics::counter!(AGGREGATOR_TRADES_DROPPED_TOTAL, "venue" => self.venue.as_str(), "reason" => "row_size_unknown").increment(dropped as u64);
                warn!(venue = %self.venue, symbol = %self.symbol, dropped, "trades dropped: the row size waits for the venue's tick size");
            }
        }
        if self.settings.persist_trades && !trades.is_empty() {
            self.out
                .push(CoreOutput::Record(Record::Trades(Arc::from(trades))));
        }
    }

    fn process<'a>(&mut self, trades: impl Iterator<Item = &'a Trade>) {
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let before = engine.stats();
        let mut events = Vec::new();
        for trade in trades {
            let time = trade.trade_time.as_millis();
            self.first_minute
                .get_or_insert(Timeframe::M1.start_of(time));
            self.last_trade_time = Some(self.last_trade_time.map_or(time, |t| t.max(time)));
            events.extend(engine.add_trade(trade));
            if self.recent.len() >= self.settings.recent_trades.max(1) {
                self.recent.pop_front();
            }
            self.recent.push_back(trade.clone());
        }
        let after = engine.stats();
        self.count_engine(before, after);
        self.on_events(events);
    }

    fn count_engine(&self, before: EngineStats, after: EngineStats) {
        let venue = self.venue.as_str();
        let taken = after.trades - before.trades;
        if taken > 0 {
            metrics::counter!(AGGREGATOR_TRADES_TOTAL, "venue" => venue).increment(taken);
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
        for event in events {
            let (timeframe, bar, cvd, amended) = match event {
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
                    (timeframe, bar, cvd, false)
                }
                EngineEvent::Amended {
                    timeframe,
                    bar,
                    cvd,
                } => {
                    if let Some(last) = self.last_closed.get_mut(&timeframe)
                        && last.start == bar.start
                    {
                        *last = Arc::clone(&bar);
                    }
                    (timeframe, bar, cvd, true)
                }
            };
            if matches!(timeframe, Timeframe::M1 | Timeframe::H1) {
                if amended {
                    self.amended.insert((timeframe, bar.start), (bar, cvd));
                } else {
                    self.push_bar(timeframe, bar, grid, cvd, BarState::Closed);
                }
            }
        }
        self.settle_klines();
    }

    /// Takes the latest view of the local book.
    pub fn on_book(&mut self, view: Arc<BookView>) {
        self.counts.book_updates += 1;
        self.counts.last_book_update_id = Some(view.update_id);
        self.book = Some(view);
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
                let mut event = DataQualityEvent {
                    venue: self.venue,
                    symbol: Some(self.symbol),
                    kind: QualityKind::KlineMismatch,
                    from_id: None,
                    to_id: None,
                    from_time: None,
                    to_time: None,
                    time: TimestampMs(mismatch.open_time),
                    cause: mismatch.to_string(),
                };
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
        if let Some(engine) = self.engine.as_mut() {
            let events = engine.advance_clock(now);
            self.on_events(events);
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
        self.report_amended();
        let Some(engine) = self.engine.as_ref() else {
            return;
        };
        let grid = engine.params().grid;
        for (timeframe, bar, cvd) in engine.open_bars() {
            if matches!(timeframe, Timeframe::M1 | Timeframe::H1) {
                self.push_bar(timeframe, bar, grid, cvd, BarState::Partial);
            }
        }
    }

    /// Reports the bars amended since the last tick, each once, as it is now.
    fn report_amended(&mut self) {
        let Some(grid) = self.engine.as_ref().map(|e| e.params().grid) else {
            return;
        };
        for ((timeframe, _), (bar, cvd)) in std::mem::take(&mut self.amended) {
            self.push_bar(timeframe, bar, grid, cvd, BarState::Amended);
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
        self.out
            .push(CoreOutput::Record(Record::Bar(Box::new(BarRecord {
                venue: self.venue,
                symbol: self.symbol,
                timeframe,
                bar,
                grid,
                cvd,
                amended: state == BarState::Amended,
                partial: state == BarState::Partial,
                params: self.settings.profile,
            }))));
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
    pub fn snapshot(&self, generation: u64, now: i64) -> AggregatorSnapshot {
        let mut snapshot =
            AggregatorSnapshot::empty(self.venue, self.symbol, self.settings.profile);
        snapshot.generation = generation;
        snapshot.published_at = now;
        snapshot.counts = self.counts.clone();
        snapshot.book = self.book_stats();
        snapshot.last_trade_time = self.last_trade_time;
        snapshot.last_closed = self.last_closed.clone();
        snapshot.recent_trades = self.recent.iter().cloned().collect();
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
        snapshot
    }
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
                CoreOutput::Record(Record::Bar(bar)) => Some(*bar),
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
                .any(|b| b.timeframe == Timeframe::M1 && b.bar.start == t0 && !b.amended)
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
                amended[0].bar.start,
                amended[0].bar.totals.trades
            ),
            (Timeframe::M1, t0, 51)
        );
        core.tick(t0 + 63_000);
        assert!(bar_records(&mut core).iter().all(|b| !b.amended));
    }
}
