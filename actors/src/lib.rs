//! The actors of WADM and the pure code they are thin shells around.
//!
//! # Layout
//! - [`model`]: plain data shared by every actor: venues, symbols, exact decimals, trades,
//!   book snapshots and deltas, candles, control messages.

#![forbid(unsafe_code)]

pub mod model;
