//! Persistence: the [`PersistenceActor`] takes records from every aggregator and events from
//! the data-quality log through bounded channels, buffers them as documents ([`Buffer`],
//! bounded, with a documented drop rule; raw trades stay in the aggregators' shared batches,
//! as [`TradeRun`]s, each trade counted as one document) and writes them to the [`Store`] in
//! batches, by size and by time. While the store is unavailable it keeps the buffer and retries with
//! backoff; on shutdown it writes everything it holds, within a deadline.
//!
//! The channels and the buffer live in [`PersistenceInputs`], created once by the
//! composition root, so a restarted incarnation carries on with what the previous one held.
//!
//! [`Store`]: crate::storage::Store
//! [`TradeRun`]: crate::storage::TradeRun

mod actor;
pub mod buffer;

use std::time::Duration;

pub use actor::{
    PersistenceActor, PersistenceArgs, PersistenceInputs, PersistenceMsg, PersistenceStats,
};
pub use buffer::Buffer;

use wadm_supervision::Backoff;

/// How persistence batches, retries and stops.
#[derive(Debug, Clone)]
pub struct PersistenceSettings {
    /// A batch is written as soon as this many documents wait.
    pub batch_size: usize,
    /// Documents never wait longer than this for a write (when the store is available).
    pub flush_interval: Duration,
    /// The bound on buffered documents (including the batch being written).
    pub buffer_capacity: usize,
    /// A write taking longer counts as failed (it may still land: writes are upserts).
    pub write_timeout: Duration,
    /// Delays between attempts while the store is unavailable.
    pub retry: Backoff,
    /// How often the retention sweep runs (embedded store).
    pub sweep_interval: Duration,
    /// How long the final flush on shutdown may take.
    pub shutdown_timeout: Duration,
    /// How often the actor looks at its inputs.
    pub poll_interval: Duration,
}

impl Default for PersistenceSettings {
    fn default() -> Self {
        Self {
            batch_size: 10_000,
            flush_interval: Duration::from_secs(1),
            buffer_capacity: 200_000,
            write_timeout: Duration::from_secs(30),
            retry: Backoff::try_new(
                Duration::from_millis(500),
                Duration::from_secs(30),
                2.0,
                0.2,
            )
            .unwrap_or_default(),
            sweep_interval: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(8),
            poll_interval: Duration::from_millis(20),
        }
    }
}
