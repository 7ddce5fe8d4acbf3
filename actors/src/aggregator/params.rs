//! What the indicators are computed with, stated in every snapshot and record so two readers
//! can never silently disagree about a number.

use std::time::Duration;

use super::footprint::RowGrid;
use super::order_flow::{AbsorptionParams, ImbalanceParams, LargeTradeParams, SessionAnchor};
use crate::model::{Price, Qty, Ratio};

/// The indicator parameters of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileParams {
    /// Share of the volume the value area holds (0.70 by default).
    pub value_area: Ratio,
    /// Diagonal imbalances and stacks.
    pub imbalance: ImbalanceParams,
    pub absorption: AbsorptionParams,
    pub large_trades: LargeTradeParams,
    /// Where sessions (and cumulative delta) start.
    pub session: SessionAnchor,
}

impl Default for ProfileParams {
    fn default() -> Self {
        Self {
            value_area: Ratio::from_units(700_000_000_000),
            imbalance: ImbalanceParams::default(),
            absorption: AbsorptionParams::default(),
            large_trades: LargeTradeParams::default(),
            session: SessionAnchor::default(),
        }
    }
}

/// The indicator parameters as every answer and stored bar states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BarParams {
    /// Value area share.
    pub value_area: Ratio,
    /// Diagonal imbalance ratio.
    pub imbalance_ratio: Ratio,
    /// Minimum volume of an imbalance's dominant side.
    pub imbalance_min_volume: Qty,
    /// Rows in a stacked imbalance.
    pub stacked_imbalance_rows: u64,
    pub absorption_volume_multiple: Ratio,
    /// Absorption price tolerance, in rows.
    pub absorption_max_rows: i64,
}

impl BarParams {
    /// The parameters of a profile.
    pub fn of(params: &ProfileParams) -> Self {
        Self {
            value_area: params.value_area,
            imbalance_ratio: params.imbalance.ratio,
            imbalance_min_volume: params.imbalance.min_volume,
            stacked_imbalance_rows: u64::try_from(params.imbalance.stack).unwrap_or(u64::MAX),
            absorption_volume_multiple: params.absorption.volume_multiple,
            absorption_max_rows: i64::try_from(params.absorption.max_rows).unwrap_or(i64::MAX),
        }
    }

    /// The profile parameters that compute indicators as these say (large trades and the
    /// session anchor, which no stored report depends on, are the defaults).
    pub fn profile(&self) -> ProfileParams {
        let mut params = ProfileParams {
            value_area: self.value_area,
            ..ProfileParams::default()
        };
        params.imbalance.ratio = self.imbalance_ratio;
        params.imbalance.min_volume = self.imbalance_min_volume;
        params.imbalance.stack = usize::try_from(self.stacked_imbalance_rows).unwrap_or(usize::MAX);
        params.absorption.volume_multiple = self.absorption_volume_multiple;
        params.absorption.max_rows = i128::from(self.absorption_max_rows);
        params
    }

    /// True when a stored bar's indicators were computed with `params`, so that its stored
    /// report can be served as it is.
    pub fn matches(&self, params: &ProfileParams) -> bool {
        *self == Self::of(params)
    }
}

/// How a symbol's profile row height is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSpec {
    /// A configured row height.
    Fixed(Price),
    /// A number of ticks: known once the venue's tick size is (configured or fetched).
    Ticks(u32),
}

impl RowSpec {
    /// Returns the grid when it does not depend on the venue, else `None`.
    pub fn fixed_grid(&self) -> Option<RowGrid> {
        match *self {
            RowSpec::Fixed(row) => RowGrid::new(row),
            RowSpec::Ticks(_) => None,
        }
    }

    /// Returns the grid for a venue tick size.
    pub fn grid_for_tick(&self, tick: Price) -> Option<RowGrid> {
        match *self {
            RowSpec::Fixed(row) => RowGrid::new(row),
            RowSpec::Ticks(ticks) => RowGrid::new(tick).and_then(|g| g.coarser(i128::from(ticks))),
        }
    }
}

/// Settings of every aggregator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorSettings {
    /// Indicator parameters.
    pub profile: ProfileParams,
    /// How often the snapshot the API reads is refreshed (when something changed), and the
    /// aggregator's clock ticks (closing bars of quiet symbols).
    pub publish_interval: Duration,
    /// How often a book snapshot is sent to persistence.
    pub book_snapshot_interval: Duration,
    /// Levels per side in persisted book snapshots.
    pub book_snapshot_depth: usize,
    /// Levels per side in the depth imbalance.
    pub depth_imbalance_levels: usize,
    /// Trades held while the row size waits for the venue's tick size; beyond, dropped.
    pub pending_trade_limit: usize,
    /// Recent trades kept in the snapshot.
    pub recent_trades: usize,
    /// How long after its end a bar is closed by the clock.
    pub close_grace: Duration,
    /// Whether raw trades are handed to persistence.
    pub persist_trades: bool,
    /// How long a hole in contiguous trade ids may stay open before it is reported as a
    /// trade gap (a socket that is merely behind another fills it within this time).
    pub gap_grace: Duration,
    /// How long a warm start may take to read the store before the aggregator starts cold.
    pub warm_start_budget: Duration,
    /// After a warm start that could not read the store, how often it is read again.
    pub warm_retry_interval: Duration,
    /// How far ahead of the local clock a live trade's time may be and still be taken at
    /// once (the venue's clock and ours are never quite equal).
    pub ahead_tolerance: Duration,
    /// Live trades further ahead than `ahead_tolerance` but within this are held until the
    /// local clock reaches them (at most [`MAX_HELD_AHEAD`] per pair); further ahead, they
    /// are refused and counted. Either way one bad timestamp cannot open a future bar.
    pub ahead_hold: Duration,
}

/// Live trades held ahead of the local clock, per pair; beyond, they are dropped and counted.
pub const MAX_HELD_AHEAD: usize = 16_384;

impl Default for AggregatorSettings {
    fn default() -> Self {
        Self {
            profile: ProfileParams::default(),
            publish_interval: Duration::from_millis(250),
            book_snapshot_interval: Duration::from_secs(10),
            book_snapshot_depth: 20,
            depth_imbalance_levels: 10,
            pending_trade_limit: 100_000,
            recent_trades: 1_000,
            close_grace: Duration::from_secs(2),
            persist_trades: true,
            gap_grace: Duration::from_secs(2),
            warm_start_budget: Duration::from_secs(30),
            warm_retry_interval: Duration::from_secs(30),
            ahead_tolerance: Duration::from_secs(2),
            ahead_hold: Duration::from_secs(300),
        }
    }
}
