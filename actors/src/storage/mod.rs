//! Storage: the documents of DESIGN.md section 6, the [`Store`] trait both stores implement,
//! the embedded default ([`embedded::EmbeddedStore`], SQLite) and MongoDB
//! ([`mongo::MongoStore`]).
//!
//! Both stores keep every kind in the same shape: the indexed parts of [`DocKey`] (venue,
//! symbol, time, key) as fields of their own and the document body (decimal strings, exact)
//! beside them. Writes are idempotent batch upserts on each kind's unique key; reads are
//! range reads by (venue, symbol, time range, limit), oldest or newest first; retention is a
//! sweep (embedded) or TTL indexes (MongoDB).

pub mod batch;
pub mod documents;
pub mod embedded;
pub mod mongo;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use batch::{Batch, TradeRun};
pub use documents::{DocKey, Document, Kind, StoredLiquidation};

use crate::model::{Symbol, Venue};

/// What a store call returns: boxed so that stores can sit behind `dyn Store`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or refused the operation for now (server down, database
    /// locked, disk full, timeout): retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong (a query out of bounds, a document the store cannot
    /// represent): retrying will not help.
    #[error("store rejected the request: {0}")]
    Rejected(String),
    /// A stored document could not be read back.
    #[error("stored document unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A bounded label for metrics.
    pub const fn reason(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Rejected(_) => "rejected",
            StoreError::Corrupt(_) => "corrupt",
        }
    }

    /// True when the same call may succeed later.
    pub const fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Result of a batch write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Documents inserted or replaced (including unchanged replacements).
    pub written: usize,
    /// Documents the store refused one by one (the rest of the batch landed), with why.
    pub rejected: Vec<(usize, String)>,
}

/// Result of a retention sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// Documents deleted, by kind.
    pub deleted: Vec<(Kind, u64)>,
}

/// Which end of a range comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    #[default]
    OldestFirst,
    /// Newest first.
    NewestFirst,
}

/// The largest `limit` a range read accepts.
pub const MAX_READ_LIMIT: usize = 100_000;

/// A range read: documents of `kind` with `from <= time < to`, at most `limit`, in `order`
/// (by time, then by the rest of the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub kind: Kind,
    /// Only this venue; `None` for every venue.
    pub venue: Option<Venue>,
    /// Only this symbol; `None` for every symbol (and venue-wide quality events).
    pub symbol: Option<Symbol>,
    /// Start (ms, inclusive).
    pub from: i64,
    /// End (ms, exclusive).
    pub to: i64,
    /// At most this many documents (1 to [`MAX_READ_LIMIT`]).
    pub limit: usize,
    pub order: Order,
}

impl Query {
    /// A read of `kind` for one (venue, symbol) over `[from, to)`.
    pub fn range(kind: Kind, venue: Venue, symbol: Symbol, from: i64, to: i64) -> Self {
        Self {
            kind,
            venue: Some(venue),
            symbol: Some(symbol),
            from,
            to,
            limit: 1_000,
            order: Order::OldestFirst,
        }
    }

    /// Sets the limit.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the order.
    #[must_use]
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Checks the bounds every store enforces.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.limit == 0 || self.limit > MAX_READ_LIMIT {
            return Err(StoreError::Rejected(format!(
                "limit must be 1 to {MAX_READ_LIMIT}, not {}",
                self.limit
            )));
        }
        if self.from > self.to {
            return Err(StoreError::Rejected(format!(
                "from ({}) is after to ({})",
                self.from, self.to
            )));
        }
        Ok(())
    }
}

/// How long each kind is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw trades.
    pub trades: Duration,
    /// 1-minute bars.
    pub bars_1m: Duration,
    /// 1-hour bars.
    pub bars_1h: Duration,
    /// 1-day bars.
    pub bars_1d: Duration,
    pub book_snapshots: Duration,
    pub klines: Duration,
    /// Data-quality events.
    pub data_quality: Duration,
    /// Liquidation events. Fundings settled are kept as long as the 1-hour bars.
    pub liquidations: Duration,
    /// The alert log.
    pub alerts: Duration,
}

impl Retention {
    /// The retention of `kind`.
    pub const fn of(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Trades => self.trades,
            Kind::Bars1m => self.bars_1m,
            Kind::Bars1h => self.bars_1h,
            Kind::Bars1d => self.bars_1d,
            Kind::BookSnapshots => self.book_snapshots,
            Kind::Klines => self.klines,
            Kind::DataQuality => self.data_quality,
            Kind::Liquidations => self.liquidations,
            Kind::Funding => self.bars_1h,
            Kind::Alerts => self.alerts,
        }
    }

    /// The retention of `kind` in whole milliseconds (saturating).
    pub fn millis(&self, kind: Kind) -> i64 {
        i64::try_from(self.of(kind).as_millis()).unwrap_or(i64::MAX)
    }
}

impl Default for Retention {
    fn default() -> Self {
        const HOUR: u64 = 3_600;
        Self {
            trades: Duration::from_secs(HOUR),
            bars_1m: Duration::from_secs(26 * HOUR),
            bars_1h: Duration::from_secs(90 * 24 * HOUR),
            bars_1d: Duration::from_secs(400 * 24 * HOUR),
            book_snapshots: Duration::from_secs(HOUR),
            klines: Duration::from_secs(7 * 24 * HOUR),
            data_quality: Duration::from_secs(30 * 24 * HOUR),
            liquidations: Duration::from_secs(7 * 24 * HOUR),
            alerts: Duration::from_secs(30 * 24 * HOUR),
        }
    }
}

/// A store of the documents of DESIGN.md section 6. Calls never block the async runtime's
/// worker threads (the embedded store runs SQLite on blocking threads; the MongoDB driver is
/// asynchronous).
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// `embedded` or `mongodb`.
    fn backend(&self) -> &'static str;

    /// Upserts a batch's documents on each one's unique key and inserts its raw trades (a
    /// trade already stored stays as it is). Either the batch lands (less what is listed as
    /// rejected) or the call fails and nothing of it is guaranteed; writing the same batch
    /// again is harmless.
    fn write(&self, batch: Batch) -> StoreFuture<'_, WriteSummary>;

    /// Reads a range.
    fn read(&self, query: Query) -> StoreFuture<'_, Vec<Document>>;

    /// Deletes what is older than its kind's retention at `now_ms` (a no-op where the store
    /// expires documents itself).
    fn sweep(&self, now_ms: i64) -> StoreFuture<'_, SweepSummary>;

    /// Checks that the store answers.
    fn ping(&self) -> StoreFuture<'_, ()>;
}

/// A shared store.
pub type SharedStore = Arc<dyn Store>;
