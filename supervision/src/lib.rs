//! Supervision building blocks for WADM: restart policies as data and the pure backoff
//! schedule they produce.
//!
//! This crate knows nothing about markets, venues or symbols: it is generic over what it
//! supervises, so the connection, aggregator, persistence and API actors can all share it.
//!
//! # Layout
//! - [`policy`]: [`RestartPolicy`], validated from configuration by [`RestartPolicy::try_new`].
//! - [`backoff`]: [`backoff_delay`] (the deterministic schedule) and [`jittered_delay`]
//!   (the schedule with a caller-supplied random sample), both pure functions.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod policy;

pub use backoff::{backoff_delay, jittered_delay, random_jittered_delay};
pub use policy::{InvalidPolicy, PolicyProblem, RestartParams, RestartPolicy};
