//! The aggregator role: one actor per (venue, symbol) that turns normalized trades, book
//! views and candles into indicators, and the pure maths it is a shell around.
//!
//! - [`footprint`]: the fixed row grid and per-row aggressive volume.
//! - [`bar`]: epoch-aligned bars ([`Timeframe`]), exact totals and prices.
//! - [`volume_profile`]: POC (with its tie rule) and the two-row value area.
//! - [`order_flow`]: imbalances and stacks, absorption, large trades, sessions.
//! - [`engine`]: bars, rolling windows, session and late trades, trade by trade.
//! - [`book_stats`]: best bid/ask, spread, mid, depth imbalance.

mod actor;
pub mod bar;
pub mod book_stats;
pub mod engine;
pub mod footprint;
mod messages;
pub mod order_flow;
pub mod volume_profile;

pub use actor::{AggregatorActor, AggregatorArgs, AggregatorState};
pub use bar::{Bar, Timeframe, Totals};
pub use footprint::{Footprint, RowGrid, RowVolume};
pub use messages::{AggregatorCounts, AggregatorMsg};
