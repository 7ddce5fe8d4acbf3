//! The backfill role: trades the live streams did not bring, fetched from the venues' REST
//! history and handed to the aggregators as trades of the past (they amend the bars and
//! windows that hold them, and are counted once like every trade).
//!
//! - **Repair**: every open hole of the data-quality log (trade gaps, a stop, an aggregator
//!   restart) is planned ([`plan`]): Binance ids are fetched by `fromId`; Bybit time ranges
//!   from `recent-trade` when it still reaches back to them, else the hole is closed
//!   `unrepairable`. Each hole goes `open` -> `repairing` -> `repaired` (with the trades
//!   recovered) or `unrepairable` (why), and every answer's coverage follows.
//! - **Start-up backfill**: a pair that starts on an empty store gets the history of
//!   `backfill.on_start` before its first live trade (Binance: all of it, by time then by
//!   id; Bybit: what `recent-trade` holds).
//!
//! One [`BackfillActor`] per venue runs one job at a time, one request at a time, each taking
//! its weight from the venue's REST budget behind book snapshots.

mod actor;
pub mod plan;

pub use actor::{
    ActiveJob, BackfillActor, BackfillArgs, BackfillMsg, BackfillSettings, BackfillState,
    BackfillStatus, JobReport,
};
