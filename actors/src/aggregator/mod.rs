//! The aggregator role: one actor per (venue, symbol) that turns normalized trades, book
//! views and candles into indicators, and the pure maths it is a shell around.
//!
//! - [`footprint`]: the fixed row grid and per-row aggressive volume.
//! - [`ids`]: numeric trade ids as ranges; [`ledger`]: each trade taken once.
//! - [`bar`]: epoch-aligned bars ([`Timeframe`]), exact totals and prices.
//! - [`volume_profile`]: POC (with its tie rule) and the two-row value area.
//! - [`order_flow`]: imbalances and stacks, absorption, large trades, sessions.
//! - [`engine`]: bars, rolling windows, session and late trades, trade by trade.
//! - [`book_stats`]: best bid/ask, spread, mid, depth imbalance.
//! - [`kline_check`]: trade-derived bars against the venue's 1-minute candles.
//! - [`aggregation`]: one pair's aggregation without the actor (shared by the actor and replay).
//! - [`snapshot`]: what each aggregator publishes for the API; [`output`]: what it persists.

mod actor;
pub mod aggregation;
pub mod bar;
pub mod bar_derivatives;
pub mod book_stats;
pub mod derivatives;
pub mod engine;
pub mod footprint;
pub mod ids;
pub mod kline_check;
pub mod ledger;
pub mod levels;
mod messages;
pub mod order_flow;
pub mod output;
pub mod params;
pub mod recent;
pub mod report;
pub mod snapshot;
pub mod volume_profile;
pub mod warm;

pub use actor::{AggregatorActor, AggregatorArgs, AggregatorState};
pub use aggregation::{AggregatorCore, CoreCounts, CoreOutput, History, PastOutcome, WarmStart};
pub use bar::{Bar, Timeframe, Totals};
pub use footprint::{Footprint, RowGrid, RowVolume};
pub use messages::{AggregatorCounts, AggregatorMsg};
pub use output::{
    BarRecord, BarState, BookRecord, FundingRecord, RebuildError, Record, RecordSink,
};
pub use params::{AggregatorSettings, BarParams, ProfileParams, RowSpec};
pub use report::{AbsorptionRow, WindowReport};
pub use snapshot::AggregatorSnapshot;
