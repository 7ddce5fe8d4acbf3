//! Messages of the connection actor and what sessions report to it.

use std::fmt;

use ractor::RpcReplyPort;

use super::rest_client::{InstrumentError, RestError};
use super::status::ConnectionStatus;
use super::streams::StreamClass;
use crate::model::{DataQualityEvent, DerivativesTick, InstrumentInfo, Symbol};

/// Why a socket was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Replaced by a newer socket (planned rotation).
    Rotation,
    /// The venue announced a shutdown (Binance `serverShutdown`).
    ServerShutdown,
    /// The daemon is stopping.
    Shutdown,
    /// The venue closed the socket.
    RemoteClose(String),
    /// Reading failed (reset, protocol error).
    ReadError(String),
    /// The stream ended without a close frame.
    StreamEnded,
    /// No frame at all within the transport timeout.
    TransportTimeout,
    /// No data of a stream class within its timeout.
    DataTimeout(StreamClass),
    /// Writing failed.
    WriterError(String),
    /// The socket could not be opened.
    ConnectFailed(String),
}

impl CloseReason {
    /// Returns a stable metric label.
    pub const fn label(&self) -> &'static str {
        match self {
            CloseReason::Rotation => "rotation",
            CloseReason::ServerShutdown => "server_shutdown",
            CloseReason::Shutdown => "shutdown",
            CloseReason::RemoteClose(_) => "remote_close",
            CloseReason::ReadError(_) => "read_error",
            CloseReason::StreamEnded => "stream_ended",
            CloseReason::TransportTimeout => "transport_timeout",
            CloseReason::DataTimeout(StreamClass::Book) => "book_timeout",
            CloseReason::DataTimeout(StreamClass::Trades) => "trades_timeout",
            CloseReason::DataTimeout(StreamClass::Klines) => "klines_timeout",
            CloseReason::DataTimeout(StreamClass::Derivatives) => "derivatives_timeout",
            CloseReason::WriterError(_) => "writer_error",
            CloseReason::ConnectFailed(_) => "connect_failed",
        }
    }

    /// Returns true for closes WADM asked for (rotation, shutdown), which are not failures.
    pub const fn is_planned(&self) -> bool {
        matches!(
            self,
            CloseReason::Rotation | CloseReason::ServerShutdown | CloseReason::Shutdown
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::RemoteClose(detail)
            | CloseReason::ReadError(detail)
            | CloseReason::WriterError(detail)
            | CloseReason::ConnectFailed(detail) => {
                write!(f, "{}: {detail}", self.label())
            }
            _ => f.write_str(self.label()),
        }
    }
}

/// What a session reports to its connection actor (rare events only; per-frame facts go
/// through shared atomics).
#[derive(Debug)]
pub enum SessionEvent {
    /// The socket is open.
    Connected,
    /// Market data arrived for the first time on this socket.
    DataFlowing,
    /// The venue accepted these topics.
    Subscribed(Vec<String>),
    /// The venue refused a topic.
    Rejected {
        topic: String,
        /// The venue's message.
        reason: String,
    },
    /// These topics got no answer within the ack timeout.
    AckTimeout(Vec<String>),
    /// The venue announced it is going away (Binance `serverShutdown`).
    ServerShutdown,
    /// The socket is closed; the session is over.
    Closed(CloseReason),
}

/// Messages handled by [`super::ConnectionActor`].
#[derive(Debug)]
pub enum ConnectionMsg {
    /// Open a socket for endpoint `endpoint` (as a replacement of the current one when
    /// `replacement`, for a make-before-break rotation).
    Connect {
        /// Endpoint index.
        endpoint: usize,
        /// Whether this is a rotation's new socket.
        replacement: bool,
    },
    /// A session's report.
    Session {
        /// Endpoint index.
        endpoint: usize,
        /// Session id.
        session: u64,
        /// What happened.
        event: SessionEvent,
    },
    /// Timer: check the watchdogs and publish status.
    WatchdogTick,
    /// Timer: rotate endpoint `endpoint`'s socket.
    RotateTick {
        /// Endpoint index.
        endpoint: usize,
        /// Session the timer was set for; a newer session ignores it.
        session: u64,
    },
    /// Instrument metadata fetched in the background.
    Instruments(Vec<(Symbol, Result<InstrumentInfo, InstrumentError>)>),
    /// Timer: fetch instrument metadata again.
    RefreshInstruments,
    /// Timer: ask the venue for open interest (Binance USD-M).
    PollOpenInterest,
    /// Open interest fetched in the background.
    OpenInterest(Vec<(Symbol, Result<DerivativesTick, RestError>)>),
    /// A data-quality event found by the actor's own work.
    Quality(DataQualityEvent),
    /// Returns the connection's status.
    GetStatus(RpcReplyPort<ConnectionStatus>),
}
