//! Order book snapshots and deltas, each carrying its venue's own sequence fields so the
//! book keeper can follow the venue's documented procedure exactly.

use super::{Price, Qty, Symbol, TimestampMs, UnixNanos, Venue};

/// One price level. A size of zero in a delta removes the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Level {
    /// Level price.
    pub price: Price,
    /// Total resting size at that price.
    pub qty: Qty,
}

/// Sequence fields of a full or top-N book snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SnapshotSequence {
    /// Binance REST depth snapshot or partial-depth stream: `lastUpdateId`.
    Binance {
        /// `lastUpdateId`.
        last_update_id: u64,
    },
    /// Bybit `orderbook.N` snapshot: `u` and `seq`. `u == 1` marks a book reset after a
    /// service restart.
    Bybit {
        /// `u`, the update id.
        update_id: u64,
        /// `seq`, the cross sequence.
        cross_sequence: u64,
    },
}

/// Sequence fields of a book delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeltaSequence {
    /// Binance spot diff depth: applies when `first_update_id <= last + 1`.
    BinanceSpot {
        /// `U`, first update id in the event.
        first_update_id: u64,
        /// `u`, final update id in the event.
        final_update_id: u64,
    },
    /// Binance USD-M diff depth: `previous_final_update_id` must equal the previous
    /// event's `final_update_id`.
    BinanceUsdm {
        /// `U`.
        first_update_id: u64,
        /// `u`.
        final_update_id: u64,
        /// `pu`.
        previous_final_update_id: u64,
    },
    /// Bybit `orderbook.N` delta.
    Bybit {
        /// `u`.
        update_id: u64,
        /// `seq`.
        cross_sequence: u64,
    },
}

/// A book snapshot: replaces the local book.
///
/// Bybit snapshot data it comes from:
/// `{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724}`
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookSnapshot {
    /// Venue of the book.
    pub venue: Venue,
    /// Instrument.
    pub symbol: Symbol,
    /// Venue sequence fields.
    pub sequence: SnapshotSequence,
    /// Bids, best (highest) first as sent.
    pub bids: Vec<Level>,
    /// Asks, best (lowest) first as sent.
    pub asks: Vec<Level>,
    /// Venue event time, when the venue sends one (partial depth does not).
    pub event_time: Option<TimestampMs>,
    /// When WADM received it.
    pub received_at: UnixNanos,
}

/// A book delta: changes levels of the local book.
///
/// Binance USD-M payload it comes from:
/// `{"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}`
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookDelta {
    /// Venue of the book.
    pub venue: Venue,
    /// Instrument.
    pub symbol: Symbol,
    /// Venue sequence fields.
    pub sequence: DeltaSequence,
    /// Changed bid levels (size 0 removes).
    pub bids: Vec<Level>,
    /// Changed ask levels (size 0 removes).
    pub asks: Vec<Level>,
    /// Venue event time.
    pub event_time: TimestampMs,
    /// Matching-engine time, where the venue sends it (Binance USD-M `T`, Bybit `cts`).
    pub transaction_time: Option<TimestampMs>,
    /// When WADM received it.
    pub received_at: UnixNanos,
}

/// The top of a local order book, as published to aggregators and the API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BookView {
    /// Venue of the book.
    pub venue: Venue,
    /// Instrument.
    pub symbol: Symbol,
    /// Last applied update id (Binance `u`, Bybit `u`).
    pub update_id: u64,
    /// Best bids, highest first.
    pub bids: Vec<Level>,
    /// Best asks, lowest first.
    pub asks: Vec<Level>,
    /// Venue time of the last applied update, when the venue gave one.
    pub event_time: Option<TimestampMs>,
    /// When the last applied update was received.
    pub received_at: UnixNanos,
}
