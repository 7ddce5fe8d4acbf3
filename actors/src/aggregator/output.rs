//! What aggregators hand to persistence: closed (and amended) bars, periodic book snapshots,
//! raw trades and closed venue candles, through a bounded channel. The aggregator never
//! waits on persistence: when the channel is full the record is dropped and counted.

use std::sync::Arc;

use tokio::sync::mpsc;
use wadm_supervision::ActorEntry;

use super::bar::{Bar, Timeframe};
use super::book_stats::BookStats;
use super::footprint::RowGrid;
use super::params::ProfileParams;
use crate::metrics::AGGREGATOR_RECORDS_DROPPED_TOTAL;
use crate::model::{Kline, Level, Qty, Symbol, Trade, Venue};

/// A closed bar, or a closed bar amended by a late trade.
#[derive(Debug, Clone)]
pub struct BarRecord {
    /// Venue.
    pub venue: Venue,
    /// Symbol.
    pub symbol: Symbol,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// The bar.
    pub bar: Arc<Bar>,
    /// The row grid of its footprint.
    pub grid: RowGrid,
    /// Cumulative delta of the session at its end.
    pub cvd: Qty,
    /// True when a late trade changed an already reported bar (upsert it again).
    pub amended: bool,
    /// True when the bar is reported before its period ended (the aggregator stopped).
    pub partial: bool,
    /// The parameters its profile and order flow are computed with.
    pub params: ProfileParams,
}

/// The top of the book at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookRecord {
    /// Venue.
    pub venue: Venue,
    /// Symbol.
    pub symbol: Symbol,
    /// When it was taken (Unix ms).
    pub time: i64,
    /// The book's update id.
    pub update_id: u64,
    /// Best bids, best first.
    pub bids: Vec<Level>,
    /// Best asks, best first.
    pub asks: Vec<Level>,
    /// Statistics of the whole view.
    pub stats: BookStats,
}

/// One record for persistence.
#[derive(Debug, Clone)]
pub enum Record {
    /// A 1-minute or 1-hour bar (the stored timeframes).
    Bar(Box<BarRecord>),
    /// A periodic book snapshot.
    Book(Arc<BookRecord>),
    /// Raw trades, in arrival order.
    Trades(Arc<[Trade]>),
    /// A closed venue candle.
    Kline(Arc<Kline>),
}

impl Record {
    /// Returns the kind, used as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Bar(_) => "bar",
            Record::Book(_) => "book",
            Record::Trades(_) => "trades",
            Record::Kline(_) => "kline",
        }
    }
}

/// The sending side of the persistence channel, shared by every aggregator.
#[derive(Debug, Clone)]
pub struct RecordSink {
    sender: mpsc::Sender<Record>,
}

impl RecordSink {
    /// Creates a sink and its receiving end, holding at most `capacity` records.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Record>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (Self { sender }, receiver)
    }

    /// Offers a record without waiting; a full or closed channel drops it, counted by kind
    /// in the metric and in the sender's status entry. Returns whether it was queued.
    pub fn offer(&self, venue: Venue, record: Record, status: &ActorEntry) -> bool {
        let kind = record.kind();
        match self.sender.try_send(record) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!(AGGREGATOR_RECORDS_DROPPED_TOTAL, "venue" => venue.as_str(), "kind" => kind).increment(1);
                status.record_drops(1);
                false
            }
        }
    }
}
