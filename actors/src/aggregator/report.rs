//! A window's volume profile and order flow as one serializable document: the shape
//! `wadm profile` prints, with every price and volume a decimal string.

use super::bar::Bar;
use super::footprint::RowGrid;
use super::order_flow::{self, AbsorptionParams, ImbalanceParams};
use super::volume_profile;
use crate::model::{Price, Qty, Ratio, Side};

/// One footprint row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FootprintRow {
    /// The row's lower edge.
    pub price: Price,
    /// Sell-aggressor volume.
    pub bid: Qty,
    /// Buy-aggressor volume.
    pub ask: Qty,
    /// `bid + ask`.
    pub volume: Qty,
    /// `ask - bid`.
    pub delta: Qty,
    /// Trades in the row (a Binance aggregate trade counts every fill it holds).
    #[serde(default)]
    pub trades: u64,
    /// Trade time of the row's latest trade (ms).
    #[serde(default)]
    pub last_time: i64,
}

/// Aggressive volume absorbed at a row, by row label: how every answer and stored bar
/// states an [`order_flow::Absorption`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AbsorptionRow {
    /// The row's lower edge.
    pub price: Price,
    /// The aggressor whose volume was absorbed.
    pub side: Side,
    /// The aggressor's volume in the row.
    pub volume: Qty,
    /// The row's latest trade time (ms).
    pub time: i64,
}

impl AbsorptionRow {
    /// Finds the absorption of `bar` and labels its rows on `grid`.
    pub fn of_bar(bar: &Bar, grid: &RowGrid, params: &AbsorptionParams) -> Vec<AbsorptionRow> {
        order_flow::absorption(&bar.footprint, params)
            .into_iter()
            .map(|a| AbsorptionRow {
                price: grid.label(a.row),
                side: a.side,
                volume: a.volume,
                time: a.time,
            })
            .collect()
    }
}

/// A stacked imbalance, by row labels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StackReport {
    /// Aggressor side of the imbalances.
    pub side: Side,
    /// Lowest row's lower edge.
    pub from: Price,
    /// Highest row's lower edge.
    pub to: Price,
    /// Rows in the stack.
    pub rows: u64,
}

/// Profile and order flow of one window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowReport {
    /// Start (ms, inclusive).
    pub start: i64,
    /// End (ms, exclusive).
    pub end: i64,
    /// Trades (a Binance aggregate trade counts every fill it holds: `l - f + 1`).
    pub trades: u64,
    /// Buy-aggressor volume.
    pub buy_volume: Qty,
    /// Sell-aggressor volume.
    pub sell_volume: Qty,
    /// Total volume.
    pub volume: Qty,
    /// Buy minus sell volume.
    pub delta: Qty,
    /// Cumulative delta of the session at the window's end.
    pub cvd: Qty,
    /// Lowest trade price.
    pub low: Option<Price>,
    /// Highest trade price.
    pub high: Option<Price>,
    /// Point of control (row label); null for an empty window.
    pub poc: Option<Price>,
    /// Volume of the POC row.
    pub poc_volume: Option<Qty>,
    /// Value area low (row label).
    pub val: Option<Price>,
    /// Value area high (row label).
    pub vah: Option<Price>,
    /// Volume inside the value area.
    pub value_area_volume: Option<Qty>,
    /// Traded rows, ascending by price.
    pub footprint: Vec<FootprintRow>,
    /// Rows with a buy imbalance (labels, ascending).
    pub buy_imbalances: Vec<Price>,
    /// Rows with a sell imbalance (labels, ascending).
    pub sell_imbalances: Vec<Price>,
    /// Stacked imbalances: buy stacks first, each ascending.
    pub stacked_imbalances: Vec<StackReport>,
}

impl WindowReport {
    /// Computes the report of `bar` on `grid`, with `cvd` as the session's cumulative delta
    /// at its end.
    pub fn of(
        bar: &Bar,
        grid: &RowGrid,
        value_area: Ratio,
        imbalance: &ImbalanceParams,
        cvd: Qty,
    ) -> Self {
        let footprint = &bar.footprint;
        let levels = volume_profile::profile_levels(footprint, value_area);
        let found = order_flow::imbalances(footprint, imbalance);
        let stacks = order_flow::stacks(&found, imbalance);
        let label = |row: i128| grid.label(row);
        Self {
            start: bar.start,
            end: bar.end,
            trades: bar.totals.trades,
            buy_volume: bar.totals.buy_volume,
            sell_volume: bar.totals.sell_volume,
            volume: bar.totals.volume(),
            delta: bar.totals.delta(),
            cvd,
            low: bar.low,
            high: bar.high,
            poc: levels.map(|l| label(l.poc)),
            poc_volume: levels.map(|l| l.poc_volume),
            val: levels.map(|l| label(l.val)),
            vah: levels.map(|l| label(l.vah)),
            value_area_volume: levels.map(|l| l.value_area_volume),
            footprint: footprint
                .rows()
                .map(|(row, v)| FootprintRow {
                    price: label(row),
                    bid: v.bid,
                    ask: v.ask,
                    volume: v.volume(),
                    delta: v.delta(),
                    trades: v.trades,
                    last_time: v.last_time,
                })
                .collect(),
            buy_imbalances: found.buy.iter().map(|&row| label(row)).collect(),
            sell_imbalances: found.sell.iter().map(|&row| label(row)).collect(),
            stacked_imbalances: stacks
                .iter()
                .map(|stack| StackReport {
                    side: stack.side,
                    from: label(stack.from),
                    to: label(stack.to),
                    rows: u64::try_from(stack.rows()).unwrap_or(0),
                })
                .collect(),
        }
    }
}
