//! The published state of each aggregator: an immutable snapshot, published on the
//! [`SnapshotBoard`](crate::boards::SnapshotBoard).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::aggregation::WarmStart;
use super::bar::{Bar, Timeframe};
use super::book_stats::BookStats;
use super::engine::{EngineStats, Rolling};
use super::footprint::RowGrid;
use super::messages::AggregatorCounts;
use super::order_flow::LargeTrade;
use super::params::ProfileParams;
use crate::model::{Qty, QualityKind, Symbol, Trade, Venue};

/// What one aggregator last published.
#[derive(Debug, Clone)]
pub struct AggregatorSnapshot {
    pub venue: Venue,
    pub symbol: Symbol,
    /// Generation of the aggregator incarnation that published it.
    pub generation: u64,
    /// When it was published (Unix ms).
    pub published_at: i64,
    /// The row grid; `None` while the venue's tick size is still unknown.
    pub grid: Option<RowGrid>,
    /// Indicator parameters.
    pub params: ProfileParams,
    /// The open bar of each timeframe.
    pub bars: BTreeMap<Timeframe, Arc<Bar>>,
    /// The last closed bar of each timeframe.
    pub last_closed: BTreeMap<Timeframe, Arc<Bar>>,
    /// Start of the span of minutes closed lately that `closed_minutes` holds: every minute
    /// of `[closed_minutes_from, open minute)` with a trade is there. `None` before the first
    /// minute closes.
    pub closed_minutes_from: Option<i64>,
    /// The minutes closed lately (at most [`RECENT_MINUTES`](super::recent::RECENT_MINUTES)),
    /// oldest first, as they are now (amended ones included).
    pub closed_minutes: Arc<[Arc<Bar>]>,
    /// The latest mark, index, funding and open interest (perpetuals).
    pub derivatives: Option<crate::model::DerivativesTick>,
    /// Recent liquidations, oldest first (perpetuals).
    pub liquidations: Arc<[crate::model::Liquidation]>,
    /// The rolling windows.
    pub rolling: BTreeMap<Rolling, Arc<Bar>>,
    /// The current session.
    pub session: Option<Arc<Bar>>,
    /// Cumulative delta of the session.
    pub cvd: Qty,
    /// Session POC after each closed minute (end of minute, row).
    pub developing_poc: Arc<[(i64, i128)]>,
    /// Recent large trades, oldest first.
    pub large_trades: Arc<[LargeTrade]>,
    /// Recent trades, oldest first.
    pub recent_trades: Arc<[Trade]>,
    /// Statistics of the latest book view.
    pub book: Option<BookStats>,
    /// Time of the latest trade (exchange ms).
    pub last_trade_time: Option<i64>,
    /// What the aggregator has seen.
    pub counts: AggregatorCounts,
    /// Engine counters (trades, late trades).
    pub engine: EngineStats,
    /// How the aggregator started (warm from the store, or cold, and why).
    pub warm: Option<WarmStart>,
    /// Time of the earliest trade in memory (ms): where the data of every window begins.
    pub earliest_trade: Option<i64>,
    /// After a warm start, until the first live trade: the latest trade restored and the
    /// kind of stop, a hole that is still growing.
    pub pending_hole: Option<(i64, QualityKind)>,
}

impl AggregatorSnapshot {
    /// The snapshot of an aggregator that has seen nothing yet.
    pub fn empty(venue: Venue, symbol: Symbol, params: ProfileParams) -> Self {
        Self {
            venue,
            symbol,
            generation: 0,
            published_at: 0,
            grid: None,
            params,
            bars: BTreeMap::new(),
            last_closed: BTreeMap::new(),
            closed_minutes_from: None,
            closed_minutes: Arc::from(Vec::new()),
            derivatives: None,
            liquidations: Arc::from(Vec::new()),
            rolling: BTreeMap::new(),
            session: None,
            cvd: Qty::ZERO,
            developing_poc: Arc::from(Vec::new()),
            large_trades: Arc::from(Vec::new()),
            recent_trades: Arc::from(Vec::new()),
            book: None,
            last_trade_time: None,
            counts: AggregatorCounts::default(),
            engine: EngineStats::default(),
            warm: None,
            earliest_trade: None,
            pending_hole: None,
        }
    }
}
