//! `wadm replay`: a recording of raw venue frames through the parsers, trade admission and
//! aggregators the daemon runs live, offline, with the recording's receive times as the
//! clock. It prints a JSON summary per (venue, symbol): trades, buy and sell volume, closed
//! 1-minute bars, trade-id gaps, duplicates, late trades and candle checks.
//!
//! Row sizes come from the configuration (a symbol's `row_size`, else `default_row_ticks` of
//! its configured `tick_size`); a symbol with neither gets one row per distinct price
//! (`10^-12`), which changes no total. Book frames are parsed and counted but books are not
//! rebuilt: Binance books start from a REST snapshot that is not part of a recording.
//!
//! A line that is not a recorded frame is reported with its file and line number (the exit
//! code is then 1) and skipped; the summary of the other lines is still printed. A frame the
//! venue parser rejects is counted by reason, as live.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use wadm_actors::aggregator::{AggregatorCore, CoreOutput, RowSpec, Timeframe};
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, FrameParser, parser_for};
use wadm_actors::model::{MarketEvent, Price, Qty, QualityKind, Symbol, UnixNanos, Venue};
use wadm_actors::recorder::RecordedFrame;

use super::profile::{LineError, MAX_LISTED_ERRORS};
use crate::config::Config;

/// How often (in recording time) the aggregators' clocks tick.
const TICK_MS: i64 = 100;

/// Counters of one venue.
#[derive(Debug, Default, Serialize)]
pub struct VenueSummary {
    /// Frames read.
    pub frames: u64,
    /// Frames the parser rejected, by reason.
    pub parse_errors: BTreeMap<&'static str, u64>,
    /// Control frames (answers, pongs).
    pub control: u64,
    /// Book snapshots and deltas.
    pub book_frames: u64,
    /// Liquidation and mark-price/ticker frames (not replayed into the aggregation yet).
    pub derivatives_frames: u64,
}

/// The summary of one (venue, symbol).
#[derive(Debug, Serialize)]
pub struct SymbolSummary {
    pub venue: Venue,
    pub symbol: Symbol,
    /// The row size used.
    pub row_size: Option<Price>,
    /// Trades admitted (after duplicates are dropped).
    pub trades: u64,
    /// Buy-aggressor volume.
    pub buy_volume: Qty,
    /// Sell-aggressor volume.
    pub sell_volume: Qty,
    /// Closed 1-minute bars with trades.
    pub bars: u64,
    /// Jumps in Binance's contiguous trade ids.
    pub gaps: u64,
    /// Trade ids inside those jumps.
    pub missing_trades: u64,
    /// Duplicate trades dropped.
    pub duplicates: u64,
    /// Late trades that amended closed bars.
    pub late_trades: u64,
    /// Trades the bar engine dropped (too late, or timed far past the clock).
    pub dropped_trades: u64,
    /// Candles equal to their trade-derived bar.
    pub klines_matched: u64,
    /// Candles that differ.
    pub klines_mismatched: u64,
    /// First and last numeric trade ids.
    pub first_trade_id: Option<u64>,
    /// Last numeric trade id.
    pub last_trade_id: Option<u64>,
}

/// The document `wadm replay` prints.
#[derive(Debug, Serialize)]
pub struct ReplaySummary {
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// Lines read.
    pub lines: u64,
    /// Lines that were not recorded frames.
    pub bad_lines: u64,
    /// Per venue.
    pub venues: BTreeMap<Venue, VenueSummary>,
    /// Per (venue, symbol), ordered.
    pub symbols: Vec<SymbolSummary>,
}

/// What a replay produced.
#[derive(Debug)]
pub struct ReplayOutcome {
    pub summary: ReplaySummary,
    /// The first bad lines (with their file).
    pub errors: Vec<(PathBuf, LineError)>,
}

#[derive(Debug)]
struct Pair {
    core: AggregatorCore,
    row_size: Option<Price>,
    gaps: u64,
    missing: u64,
}

/// Replays recordings.
#[derive(Debug)]
pub struct Replay<'a> {
    config: &'a Config,
    parsers: BTreeMap<Venue, Box<dyn FrameParser>>,
    pairs: BTreeMap<(Venue, Symbol), Pair>,
    summary: ReplaySummary,
    errors: Vec<(PathBuf, LineError)>,
    clock: i64,
    last_tick: i64,
}

impl<'a> Replay<'a> {
    /// Prepares a replay with the row sizes and indicator parameters of `config`.
    pub fn new(config: &'a Config) -> Self {
        Self {
            config,
            parsers: BTreeMap::new(),
            pairs: BTreeMap::new(),
            summary: ReplaySummary {
                files: Vec::new(),
                lines: 0,
                bad_lines: 0,
                venues: BTreeMap::new(),
                symbols: Vec::new(),
            },
            errors: Vec::new(),
            clock: i64::MIN,
            last_tick: i64::MIN,
        }
    }

    /// Replays one file.
    pub fn file(&mut self, path: &Path) -> std::io::Result<()> {
        let file = std::fs::File::open(path)?;
        self.summary.files.push(path.to_path_buf());
        self.read(path, std::io::BufReader::new(file))
    }

    /// Replays recorded lines from `input` (named `name` in error reports).
    pub fn read(&mut self, name: &Path, input: impl BufRead) -> std::io::Result<()> {
        for (index, line) in input.lines().enumerate() {
            let text = line?;
            self.summary.lines += 1;
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<RecordedFrame>(&text) {
                Ok(frame) => self.frame(&frame),
                Err(err) => {
                    self.summary.bad_lines += 1;
                    if self.errors.len() < MAX_LISTED_ERRORS {
                        self.errors.push((
                            name.to_path_buf(),
                            LineError {
                                line: index as u64 + 1,
                                message: format!("not a recorded frame: {err}"),
                            },
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn frame(&mut self, recorded: &RecordedFrame) {
        let venue = recorded.venue;
        let received_at = UnixNanos(recorded.received_at);
        let stats = self.summary.venues.entry(venue).or_default();
        stats.frames += 1;
        let parser = self
            .parsers
            .entry(venue)
            .or_insert_with(|| parser_for(venue, DEFAULT_MAX_FRAME_BYTES));
        match parser.parse(recorded.frame.as_bytes(), received_at) {
            Ok(MarketEvent::Trades(trades)) => {
                if let Some(symbol) = trades.first().map(|t| t.symbol) {
                    self.pair(venue, symbol).core.on_trades(trades);
                }
            }
            Ok(MarketEvent::Klines(klines)) => {
                if let Some(symbol) = klines.first().map(|k| k.symbol) {
                    self.pair(venue, symbol).core.on_klines(klines);
                }
            }
            Ok(MarketEvent::BookSnapshot(_) | MarketEvent::BookDelta(_)) => stats.book_frames += 1,
            Ok(MarketEvent::Liquidations(_) | MarketEvent::Derivatives(_)) => {
                stats.derivatives_frames += 1;
            }
            Ok(MarketEvent::Control(_)) => stats.control += 1,
            Err(err) => *stats.parse_errors.entry(err.reason()).or_default() += 1,
        }
        let now = recorded.received_at.div_euclid(1_000_000);
        self.clock = self.clock.max(now);
        if self.clock.saturating_sub(self.last_tick) >= TICK_MS {
            self.tick(self.clock);
        }
    }

    fn pair(&mut self, venue: Venue, symbol: Symbol) -> &mut Pair {
        let config = self.config;
        self.pairs.entry((venue, symbol)).or_insert_with(|| {
            let tick = config.symbols.get(&symbol).and_then(|s| s.tick_size);
            let row = match (config.row_spec(symbol), tick) {
                (RowSpec::Ticks(ticks), Some(tick)) => {
                    RowSpec::Fixed(Price::from_units(tick.units() * i128::from(ticks)))
                }
                (RowSpec::Ticks(_), None) => RowSpec::Fixed(Price::from_units(1)),
                (fixed, _) => fixed,
            };
            let row_size = row.fixed_grid().map(|grid| grid.row_size());
            Pair {
                core: AggregatorCore::new(
                    venue,
                    symbol,
                    Arc::new(config.aggregator_settings(symbol)),
                    row,
                ),
                row_size,
                gaps: 0,
                missing: 0,
            }
        })
    }

    fn tick(&mut self, now: i64) {
        self.last_tick = now;
        for pair in self.pairs.values_mut() {
            pair.core.tick(now);
            // Records are for persistence, which a replay does not write; trade gaps are
            // counted.
            for output in pair.core.drain() {
                if let CoreOutput::Quality(event) = output
                    && event.kind == QualityKind::TradeGap
                    && let (Some(from), Some(to)) = (event.from_id, event.to_id)
                {
                    pair.gaps += 1;
                    pair.missing += to - from + 1;
                }
            }
        }
    }

    /// Closes the last bars and returns the summary.
    pub fn finish(mut self) -> ReplayOutcome {
        if self.clock > i64::MIN {
            let grace =
                i64::try_from(self.config.aggregator.settings.close_grace.as_millis()).unwrap_or(0);
            self.tick(
                self.clock
                    .saturating_add(2 * Timeframe::M1.millis())
                    .saturating_add(grace),
            );
        }
        self.summary.symbols = self
            .pairs
            .into_iter()
            .map(|((venue, symbol), pair)| {
                let counts = pair.core.counts();
                let core = pair.core.core_counts();
                let engine = pair.core.engine().map(|e| e.stats()).unwrap_or_default();
                SymbolSummary {
                    venue,
                    symbol,
                    row_size: pair.row_size,
                    trades: counts.trades,
                    buy_volume: counts.buy_volume,
                    sell_volume: counts.sell_volume,
                    bars: core.bars_closed,
                    gaps: pair.gaps,
                    missing_trades: pair.missing,
                    duplicates: counts.duplicates,
                    late_trades: engine.late_amended,
                    dropped_trades: engine.late_dropped
                        + engine.future_dropped
                        + core.pending_dropped,
                    klines_matched: core.klines_matched,
                    klines_mismatched: core.klines_mismatched,
                    first_trade_id: counts.first_trade_id,
                    last_trade_id: counts.last_trade_id,
                }
            })
            .collect();
        ReplayOutcome {
            summary: self.summary,
            errors: self.errors,
        }
    }
}
