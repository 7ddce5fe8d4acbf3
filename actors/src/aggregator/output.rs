//! What aggregators hand to persistence: closed (and amended, and partial) bars in their
//! stored form, periodic book snapshots, raw trades and closed venue candles, through a
//! bounded channel. The aggregator never waits on persistence: when the channel is full the
//! record is dropped and counted.

use std::sync::Arc;

use tokio::sync::mpsc;
use wadm_supervision::ActorEntry;

use serde::{Deserialize, Serialize};

use super::bar::{Bar, PriceAt, Timeframe, Totals};
use super::bar_derivatives::{DerivativesReport, OffGridRow};
use super::book_stats::BookStats;
use super::footprint::{RowGrid, RowVolume};
use super::ids::IdRanges;
use super::order_flow::LargeTrade;
use super::params::{BarParams, ProfileParams};
use super::report::{AbsorptionRow, WindowReport};
use crate::metrics::{AGGREGATOR_RECORDS_DROPPED_TOTAL, PERSISTENCE_DOCUMENTS_DROPPED_TOTAL};
use crate::model::{Kline, Level, Liquidation, Price, Qty, Ratio, Symbol, Trade, Venue};
use crate::storage::{Document, Kind};

/// How a bar handed to persistence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarState {
    /// Closed, reported for the first time.
    Closed,
    /// Closed, changed by late trades since.
    Amended,
    /// Still open: the aggregator is stopping.
    Partial,
}

/// A 1-minute or 1-hour bar as it is stored: built once, by the aggregator, with everything
/// its answers state (totals, prices, POC, value area, footprint, imbalances, stacks,
/// absorption, large trades, the parameters) and everything a restart needs to rebuild the
/// bar exactly ([`BarRecord::to_bar`]): every footprint row with its bid and ask volume,
/// trade count and latest trade time, the open and close times, and the trade ids taken.
///
/// Persistence maps it to a document as it is; the history routes serve its report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarRecord {
    pub venue: Venue,
    pub symbol: Symbol,
    /// `1m` or `1h`.
    pub timeframe: Timeframe,
    /// Row height of the footprint.
    pub row_size: Price,
    /// First trade's price.
    pub open: Option<Price>,
    /// Last trade's price.
    pub close: Option<Price>,
    /// First trade's time (ms).
    #[serde(default)]
    pub open_time: Option<i64>,
    /// Last trade's time (ms).
    #[serde(default)]
    pub close_time: Option<i64>,
    /// Lowest raw trade id (Binance fill ids, or trade ids), when numeric.
    pub first_trade_id: Option<u64>,
    /// Highest raw trade id, when numeric.
    pub last_trade_id: Option<u64>,
    /// The venue trade ids taken, as ranges (numeric ids only).
    #[serde(default)]
    pub ids: IdRanges,
    /// Trade messages as the venue sent them (an aggregate trade is one print).
    #[serde(default)]
    pub prints: u64,
    /// Start, end, totals, CVD at the end, prices, POC, value area, footprint, imbalances
    /// and stacks: the same fields as every window report.
    #[serde(flatten)]
    pub report: WindowReport,
    /// Absorption in the bar.
    pub absorption: Vec<AbsorptionRow>,
    /// Large trades in the bar, as judged when they arrived.
    #[serde(default)]
    pub large_trades: Vec<LargeTrade>,
    /// The indicator parameters.
    pub params: BarParams,
    /// True when a late trade changed the bar after it was first stored.
    pub amended: bool,
    /// True when the bar was stored before its period ended, because the aggregator
    /// stopped: it holds the trades taken until then.
    #[serde(default)]
    pub partial: bool,
    /// Liquidations, open interest, funding, mark and index (derivatives venues; absent in
    /// bars stored before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivatives: Option<DerivativesReport>,
}

/// Why a stored bar cannot be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    /// The row size is not above zero.
    #[error("row size {0} is not above zero")]
    RowSize(Price),
    /// A row's price is not on the bar's grid.
    #[error("row {price} is not a multiple of the row size {row_size}")]
    OffGrid {
        /// The row's price.
        price: Price,
        /// The bar's row size.
        row_size: Price,
    },
    /// Bars summed into one are on row grids that do not nest.
    #[error("row size {0} does not divide row size {1}")]
    Grids(Price, Price),
    /// The bar's rows do not add up to its totals.
    #[error("the rows hold {rows} of volume but the totals say {totals}")]
    Totals {
        /// Sum of the rows.
        rows: Qty,
        totals: Qty,
    },
}

impl BarRecord {
    /// Builds the stored form of `bar`, a bar of `timeframe` on `grid` whose session
    /// cumulative delta at its end is `cvd`.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        venue: Venue,
        symbol: Symbol,
        timeframe: Timeframe,
        bar: &Bar,
        grid: &RowGrid,
        cvd: Qty,
        params: &ProfileParams,
        large_trades: Vec<LargeTrade>,
        state: BarState,
    ) -> Self {
        Self {
            venue,
            symbol,
            timeframe,
            row_size: grid.row_size(),
            open: bar.open.map(|o| o.price),
            close: bar.close.map(|c| c.price),
            open_time: bar.open.map(|o| o.time),
            close_time: bar.close.map(|c| c.time),
            first_trade_id: bar.trade_ids.map(|(first, _)| first),
            last_trade_id: bar.trade_ids.map(|(_, last)| last),
            ids: bar.ids.clone(),
            prints: bar.totals.prints,
            report: WindowReport::of(bar, grid, params.value_area, &params.imbalance, cvd),
            absorption: AbsorptionRow::of_bar(bar, grid, &params.absorption),
            large_trades,
            params: BarParams::of(params),
            amended: state == BarState::Amended,
            partial: state == BarState::Partial,
            derivatives: bar
                .derivatives
                .as_ref()
                .map(|d| DerivativesReport::of(d, grid)),
        }
    }

    /// Returns the bar's row grid.
    pub fn grid(&self) -> Result<RowGrid, RebuildError> {
        RowGrid::new(self.row_size).ok_or(RebuildError::RowSize(self.row_size))
    }

    /// Rebuilds the bar exactly as the aggregator held it (bars stored before rows carried
    /// trade counts and times come back with zero counts and the bar's start as row time).
    pub fn to_bar(&self) -> Result<Bar, RebuildError> {
        let grid = self.grid()?;
        let report = &self.report;
        let mut bar = Bar::new(report.start, report.end);
        for row in &report.footprint {
            let index = grid.row(row.price);
            if grid.label(index) != row.price {
                return Err(RebuildError::OffGrid {
                    price: row.price,
                    row_size: self.row_size,
                });
            }
            bar.footprint.add_row(
                index,
                RowVolume {
                    bid: row.bid,
                    ask: row.ask,
                    trades: row.trades,
                    last_time: if row.last_time == 0 {
                        report.start
                    } else {
                        row.last_time
                    },
                },
            );
        }
        let totals = report.buy_volume + report.sell_volume;
        if bar.footprint.total() != totals {
            return Err(RebuildError::Totals {
                rows: bar.footprint.total(),
                totals,
            });
        }
        bar.totals = Totals {
            trades: report.trades,
            prints: if self.prints == 0 {
                report.trades
            } else {
                self.prints
            },
            buy_volume: report.buy_volume,
            sell_volume: report.sell_volume,
        };
        bar.open = self.open.map(|price| PriceAt {
            price,
            time: self.open_time.unwrap_or(report.start),
        });
        bar.close = self.close.map(|price| PriceAt {
            price,
            time: self.close_time.unwrap_or(report.end - 1),
        });
        bar.high = report.high;
        bar.low = report.low;
        bar.trade_ids = self.first_trade_id.zip(self.last_trade_id);
        bar.ids = self.ids.clone();
        if let Some(report) = &self.derivatives {
            let data =
                report
                    .to_data(&grid)
                    .map_err(|OffGridRow(price)| RebuildError::OffGrid {
                        price,
                        row_size: self.row_size,
                    })?;
            bar.derivatives = Some(Box::new(data));
        }
        Ok(bar)
    }

    /// The record of the `timeframe` bar starting at `start`, summed from the stored records
    /// of the same pair inside it (a day from its hours): footprints, totals, prices and
    /// ids add exactly; POC, value area, imbalances and absorption are computed on the sum
    /// with the newest part's parameters, on the coarsest part's grid (each finer part's
    /// rows fall whole into it). CVD at the end is the first part's CVD at its start plus
    /// the period's delta (so an amended part changes it, where the later parts' stored CVD
    /// would not have followed; with the session anchored at the period's start it is the
    /// period's delta). `amended` or `partial` when a part is. `None` when no part lies
    /// inside the period.
    pub fn rollup(
        timeframe: Timeframe,
        start: i64,
        parts: &[Arc<BarRecord>],
    ) -> Result<Option<BarRecord>, RebuildError> {
        let end = start + timeframe.millis();
        let mut inside: Vec<&Arc<BarRecord>> = parts
            .iter()
            .filter(|p| (start..end).contains(&p.report.start))
            .collect();
        inside.sort_by_key(|p| p.report.start);
        let (Some(first), Some(newest)) = (inside.first(), inside.last()) else {
            return Ok(None);
        };
        let mut row_size = first.row_size;
        for part in &inside {
            row_size = row_size.max(part.row_size);
        }
        let grid = RowGrid::new(row_size).ok_or(RebuildError::RowSize(row_size))?;
        let mut bar = Bar::new(start, end);
        let mut large_trades = Vec::new();
        for part in &inside {
            bar.merge(&part.to_bar_on(&grid)?);
            large_trades.extend(part.large_trades.iter().cloned());
        }
        bar.start = start;
        bar.end = end;
        let state = if inside.iter().any(|p| p.partial) {
            BarState::Partial
        } else if inside.iter().any(|p| p.amended) {
            BarState::Amended
        } else {
            BarState::Closed
        };
        Ok(Some(BarRecord::build(
            newest.venue,
            newest.symbol,
            timeframe,
            &bar,
            &grid,
            first.report.cvd - first.report.delta + bar.delta(),
            &newest.params.profile(),
            large_trades,
            state,
        )))
    }

    /// Rebuilds the bar on `grid`, whose rows must each hold a whole number of this bar's
    /// (its row size a multiple of the bar's): the footprint is coarsened to it.
    pub fn to_bar_on(&self, grid: &RowGrid) -> Result<Bar, RebuildError> {
        let mut bar = self.to_bar()?;
        let (units, own) = (grid.row_size().units(), self.row_size.units());
        if own <= 0 || units % own != 0 {
            return Err(RebuildError::Grids(self.row_size, grid.row_size()));
        }
        if units > own {
            bar = bar.coarsen(units / own);
        }
        Ok(bar)
    }

    /// Returns the time of the bar's latest trade.
    pub fn last_trade_time(&self) -> Option<i64> {
        self.close_time
            .or(self.report.footprint.iter().map(|r| r.last_time).max())
    }
}

/// The top of the book at one moment, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookRecord {
    pub venue: Venue,
    pub symbol: Symbol,
    /// When it was taken (Unix ms).
    pub time: i64,
    /// The book's update id.
    pub update_id: u64,
    /// Best bids, best first.
    pub bids: Vec<Level>,
    /// Best asks, best first.
    pub asks: Vec<Level>,
    /// Statistics of the whole view.
    pub stats: BookStats,
}

/// A funding settled by a perpetual, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingRecord {
    pub venue: Venue,
    pub symbol: Symbol,
    /// When it was settled (the venue's next funding time until then; Unix ms).
    pub funding_time: i64,
    /// The last funding rate published before it.
    pub funding_rate: Ratio,
    /// Venue time of the first values after it (ms).
    pub observed_at: i64,
}

/// One record for persistence.
#[derive(Debug, Clone)]
pub enum Record {
    /// A 1-minute or 1-hour bar (the stored timeframes).
    Bar(Arc<BarRecord>),
    /// A periodic book snapshot.
    Book(Arc<BookRecord>),
    /// Raw trades, in arrival order.
    Trades(Arc<[Trade]>),
    /// A closed venue candle.
    Kline(Arc<Kline>),
    /// Liquidations, in arrival order (derivatives venues).
    Liquidations(Arc<[Liquidation]>),
    /// A funding settled (derivatives venues).
    Funding(Arc<FundingRecord>),
    /// An alert fired, with its delivery state (stored again as it changes).
    Alert(Arc<crate::alerts::AlertRecord>),
}

impl Record {
    /// Returns the kind, used as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Bar(_) => "bar",
            Record::Book(_) => "book",
            Record::Trades(_) => "trades",
            Record::Kline(_) => "kline",
            Record::Liquidations(_) => "liquidations",
            Record::Funding(_) => "funding",
            Record::Alert(_) => "alert",
        }
    }
}

/// The sending side of the persistence channel, shared by every aggregator.
#[derive(Debug, Clone)]
pub struct RecordSink {
    sender: mpsc::Sender<Record>,
}

impl RecordSink {
    /// Creates a sink and its receiving end, holding at most `capacity` records.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Record>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (Self { sender }, receiver)
    }

    /// Offers a record without waiting and without counting a drop (the caller counts its
    /// own). Returns whether it was queued.
    pub fn try_offer(&self, record: Record) -> bool {
        self.sender.try_send(record).is_ok()
    }

    /// Offers a record without waiting; a full or closed channel drops it, counted by kind
    /// in the metric and in the sender's status entry, and the documents it held (a batch of
    /// raw trades is many) in `wadm_persistence_documents_dropped_total{reason="queue_full"}`,
    /// so that every document the store never gets is counted there. Returns whether it was
    /// queued.
    pub fn offer(&self, venue: Venue, record: Record, status: &ActorEntry) -> bool {
        let kind = record.kind();
        match self.sender.try_send(record) {
            Ok(()) => true,
            Err(e) => {
                metrics::counter!(AGGREGATOR_RECORDS_DROPPED_TOTAL, "venue" => venue.as_str(), "kind" => kind).increment(1);
                let mut lost: std::collections::BTreeMap<Kind, u64> =
                    std::collections::BTreeMap::new();
                Document::each_of_record(&e.into_inner(), |document| {
                    if let Some(kind) = document.kind() {
                        *lost.entry(kind).or_default() += 1;
                    }
                });
                status.record_drops(lost.values().sum::<u64>().max(1));
                for (kind, count) in lost {
                    metrics::counter!(PERSISTENCE_DOCUMENTS_DROPPED_TOTAL, "kind" => kind.as_str(), "reason" => "queue_full").increment(count);
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregator::bar::tests::trade;
    use crate::model::Side;

    #[test]
    fn a_record_dropped_on_a_full_queue_counts_every_document_it_held() {
        let registry = wadm_supervision::StatusRegistry::new();
        let status = registry.entry("aggregator", "binance-spot/BTCUSDT");
        let (sink, mut receiver) = RecordSink::channel(1);
        let batch = |first: u64, n: u64| -> Record {
            let trades: Vec<Trade> = (first..first + n)
                .map(|id| trade(60_000, "100", "1", Side::Buy, id))
                .collect();
            Record::Trades(Arc::from(trades))
        };
        assert!(sink.offer(Venue::BinanceSpot, batch(1, 3), &status));
        assert!(!sink.offer(Venue::BinanceSpot, batch(4, 5), &status));
        assert_eq!(
            status.snapshot().drops,
            5,
            "the five trades of the dropped batch"
        );
        assert!(matches!(receiver.try_recv(), Ok(Record::Trades(t)) if t.len() == 3));
        assert!(sink.offer(Venue::BinanceSpot, batch(9, 1), &status));
        assert_eq!(status.snapshot().drops, 5);
    }
}
