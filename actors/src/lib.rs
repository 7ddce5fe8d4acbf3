//! The actors of WADM and the pure code they are thin shells around.
//!
//! # Layout
//! - [`model`]: plain data shared by every actor: venues, symbols, exact decimals, trades,
//!   book snapshots and deltas, candles, control messages.
//! - [`connection`]: the connection role: one simd-json frame parser per venue (and its
//!   serde_json baseline). The WebSocket actor, order books and subscriptions build on it.

#![forbid(unsafe_code)]

pub mod connection;
pub mod model;
