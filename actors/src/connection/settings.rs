//! Tunables of the connection actor, from the `[connection]` configuration section.

use std::time::Duration;

use wadm_supervision::Backoff;

use super::parse::frame::DEFAULT_MAX_FRAME_BYTES;

/// How a connection behaves: timeouts, watchdogs, rotation, backoff, book handling.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Time allowed to open a socket (TCP, TLS and WebSocket handshake).
    pub connect_timeout: Duration,
    /// Transport watchdog: no frame at all for this long and the socket is replaced.
    pub transport_timeout: Duration,
    /// Data watchdog of book streams (they tick every 100-250 ms).
    pub book_timeout: Duration,
    /// Data watchdog of trade streams (trades can be quiet for minutes).
    pub trade_timeout: Duration,
    /// Data watchdog of mark-price and ticker streams (they tick every 100 ms to 1 s);
    /// liquidations alone never trip it (they can be quiet for hours).
    pub derivatives_timeout: Duration,
    /// Planned rotation, before the venues' 24 h cut.
    pub rotate_after: Duration,
    /// Interval of client pings (Bybit).
    pub ping_interval: Duration,
    /// A subscription without an answer after this long is reported.
    pub ack_timeout: Duration,
    /// Reconnection backoff; reset once data has flowed on the new socket.
    pub backoff: Backoff,
    /// Levels asked for in a REST depth snapshot.
    pub snapshot_depth: u32,
    /// Snapshots in a row that do not fit the stream before the book is declared out of
    /// sync (a data-quality event, `/health` degraded). Retries follow `backoff`.
    pub snapshot_attempts: u32,
    /// How long every diff may be older than a fresh snapshot before the snapshot is judged
    /// ahead of the stream and fetched again.
    pub snapshot_ahead_tolerance: Duration,
    /// REST depth snapshots in flight at once per socket.
    pub snapshot_concurrency: usize,
    /// Diffs held per symbol while waiting for a snapshot.
    pub book_buffer_limit: usize,
    /// Levels per side in published book views.
    pub book_view_depth: usize,
    /// Book views are published at most this often per symbol.
    pub book_publish_interval: Duration,
    /// Largest WebSocket message accepted.
    pub max_frame_bytes: usize,
    /// Timeout of REST requests.
    pub rest_timeout: Duration,
    /// Instrument metadata is refetched after a reconnect at most this often.
    pub instrument_refresh: Duration,
    /// Binance USD-M open interest is polled this often (zero: never).
    pub open_interest_interval: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            transport_timeout: Duration::from_secs(60),
            book_timeout: Duration::from_secs(15),
            trade_timeout: Duration::from_secs(600),
            derivatives_timeout: Duration::from_secs(30),
            rotate_after: Duration::from_secs(23 * 3600),
            ping_interval: Duration::from_secs(20),
            ack_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            snapshot_depth: 1000,
            snapshot_attempts: 5,
            snapshot_ahead_tolerance: Duration::from_secs(5),
            snapshot_concurrency: 2,
            book_buffer_limit: 10_000,
            book_view_depth: 100,
            book_publish_interval: Duration::from_millis(100),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            rest_timeout: Duration::from_secs(10),
            instrument_refresh: Duration::from_secs(600),
            open_interest_interval: Duration::from_secs(10),
        }
    }
}

impl ConnectionSettings {
    /// Returns how often the watchdog looks: a quarter of the shortest timeout, within
    /// 20 ms and 1 s.
    pub fn watchdog_interval(&self) -> Duration {
        let shortest = self
            .transport_timeout
            .min(self.book_timeout)
            .min(self.trade_timeout)
            .min(self.derivatives_timeout);
        (shortest / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}
