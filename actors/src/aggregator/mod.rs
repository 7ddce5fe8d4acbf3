//! The aggregator role: one actor per (venue, symbol) that turns normalized trades, book
//! views and candles into indicators.

mod actor;
mod messages;

pub use actor::{AggregatorActor, AggregatorArgs, AggregatorState};
pub use messages::{AggregatorCounts, AggregatorMsg};
