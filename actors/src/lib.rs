//! The actors of WADM and the pure code they are thin shells around.
//!
//! # Layout
//! - [`model`]: plain data shared by every actor: venues, symbols, exact decimals, trades,
//!   book snapshots and deltas, candles, control messages, data-quality events.
//! - [`connection`]: one actor per venue: its WebSocket sessions, subscriptions, local order
//!   books, watchdogs, reconnection budgets, the REST client and its weight budget, and the
//!   simd-json frame parser of each venue (with a serde_json baseline for tests).
//! - [`routing`]: the table from (venue, symbol) to its aggregator, refreshed on respawn.
//! - [`aggregator`]: one actor per (venue, symbol) turning events into indicators; the maths
//!   is pure code the actor is a thin shell around.
//! - [`backfill`]: gap repair and start-up backfill from the venues' REST history.
//! - [`boards`]: the latest aggregator snapshots and live books, which the API reads.
//! - [`quality`]: the data-quality log (gaps, resyncs, restarts) and the holes per pair.
//! - [`persistence`]: the batching actor between the aggregators and the store.
//! - [`storage`]: the `Store` trait and its embedded (SQLite) and MongoDB implementations.
//! - [`api`]: the REST API: the HTTP server, routes, keys, rate limits, OpenAPI.
//! - [`recorder`]: recordings of raw venue frames for `wadm replay`.
//! - [`metrics`]: metric names and help text.
//! - [`util`]: poison-tolerant locking, error chains, the TLS provider.
//!
//! The references of each part are the README files next to them (`src/<part>/README.md`).

#![forbid(unsafe_code)]

pub mod aggregator;
pub mod alerts;
pub mod api;
pub mod backfill;
pub mod boards;
pub mod connection;
pub mod metrics;
pub mod model;
pub mod persistence;
pub mod quality;
pub mod recorder;
pub mod routing;
pub mod storage;
pub mod util;
