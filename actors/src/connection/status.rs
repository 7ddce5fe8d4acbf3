//! The connection's status, for the operator: sockets, subscriptions, books, instruments.

use serde::Serialize;

use super::cursors::BookState;
use crate::model::{Price, Qty, Symbol, Venue};

/// Everything the connection actor of one venue knows about its health.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStatus {
    pub venue: Venue,
    /// Generation of the actor incarnation.
    pub generation: u64,
    /// One entry per socket.
    pub endpoints: Vec<EndpointStatus>,
    /// Subscriptions by state.
    pub subscriptions: SubscriptionStatus,
    /// One entry per symbol with a book stream.
    pub books: Vec<SymbolBookStatus>,
    /// One entry per symbol.
    pub instruments: Vec<InstrumentStatus>,
}

/// The state of one socket.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    /// `stream`, `public` or `market`.
    pub name: &'static str,
    pub url: String,
    /// `disconnected`, `connecting` or `streaming`.
    pub state: &'static str,
    /// Id of the current session.
    pub session: Option<u64>,
    /// When the current socket opened (Unix ms).
    pub connected_since_ms: Option<i64>,
    /// Milliseconds since the last frame.
    pub last_frame_age_ms: Option<i64>,
    /// Frames received on the current socket.
    pub frames: u64,
    /// Bytes received on the current socket.
    pub bytes: u64,
    /// Frames of the current socket that could not be parsed.
    pub parse_errors: u64,
    /// Sockets lost or replaced so far.
    pub reconnects: u64,
    /// Consecutive failed attempts (the backoff exponent).
    pub attempt: u32,
    /// Why the previous socket closed.
    pub last_close: Option<String>,
    /// True while a replacement socket is being opened (rotation).
    pub rotating: bool,
    /// The most recent reconnection delays, oldest first.
    pub recent_reconnect_delays_ms: Vec<u64>,
}

/// Subscriptions by state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubscriptionStatus {
    /// Topics configured.
    pub total: usize,
    /// Topics the venue accepted on the current socket(s).
    pub acked: usize,
    /// Topics waiting for an answer.
    pub pending: usize,
    /// Topics the venue refused, with its message.
    pub rejected: Vec<RejectedTopic>,
    /// Topics that got no answer in time.
    pub unanswered: Vec<String>,
}

/// A refused topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedTopic {
    pub topic: String,
    /// The venue's message.
    pub reason: String,
}

/// A symbol's local book.
#[derive(Debug, Clone, Serialize)]
pub struct SymbolBookStatus {
    pub symbol: Symbol,
    pub state: BookState,
    /// Last applied update id.
    pub update_id: u64,
    /// Rebuilds from a fresh snapshot after a gap or a venue reset.
    pub resyncs: u64,
    /// Snapshots in a row that did not fit the stream (older or newer than it).
    pub unusable_snapshots: u64,
}

/// A symbol's instrument metadata.
#[derive(Debug, Clone, Serialize)]
pub struct InstrumentStatus {
    pub symbol: Symbol,
    /// `pending`, `known` or `unknown`.
    pub state: &'static str,
    /// Tick size in use (configured override or venue's).
    pub tick_size: Option<Price>,
    pub lot_size: Option<Qty>,
    /// Why it is unknown.
    pub error: Option<String>,
}
