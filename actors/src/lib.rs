//! The actors of WADM and the pure code they are thin shells around.
//!
//! # Layout
//! - [`model`]: plain data shared by every actor: venues, symbols, exact decimals, trades,
//!   book snapshots and deltas, candles, control messages.
//! - [`aggregator`]: one actor per (venue, symbol) turning events into indicators.
//! - [`backfill`]: gap repair and start-up backfill from the venues' REST history.
//! - [`recorder`]: recordings of raw venue frames for `wadm replay`.
//! - [`routing`]: the table from (venue, symbol) to its aggregator, refreshed on respawn.
//! - [`quality`]: the data-quality log (gaps, resyncs, restarts) and the holes per pair.
//! - [`metrics`]: metric names and help text.
//! - [`connection`]: the connection role: one simd-json frame parser per venue (and its
//!   serde_json baseline). The WebSocket actor, order books and subscriptions build on it.

#![forbid(unsafe_code)]

pub mod aggregator;
pub mod api;
pub mod backfill;
pub mod connection;
pub mod metrics;
pub mod model;
pub mod persistence;
pub mod quality;
pub mod recorder;
pub mod routing;
pub mod storage;
