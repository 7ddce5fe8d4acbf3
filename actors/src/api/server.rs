//! The HTTP server of the API: hyper's HTTP/1 connection driving the warp filter
//! ([`super::http::filter`]), with the bounds a daemon reachable from the network needs.
//!
//! | bound | setting | what happens at it |
//! |---|---|---|
//! | open connections | `api.max_connections` (and never more than the process's file limit less [`RESERVED_FDS`] for the feeds and the store) | the oldest connection with no request in flight is closed to make room; if every connection is busy the new one is closed at once. `wadm_api_connections_evicted_total`, `wadm_api_connections_rejected_total` |
//! | request head | `api.header_timeout` | a connection that does not send a whole request head in time (slowloris, or idle between keep-alive requests) is closed. `wadm_api_connection_errors_total{reason="header_timeout"}` |
//! | silence | `api.idle_timeout` | a connection that moves no byte either way for this long (a client that stopped reading its answer) is closed. `{reason="idle"}` |
//! | requests at once | `api.max_concurrent_requests` | more are answered 503 `overloaded` at once (`Retry-After: 1`). `wadm_api_overloaded_total` |
//! | request head size | 16 KiB, 64 headers | hyper answers 431 and closes. `{reason="parse"}` |
//!
//! A request whose target has no path (`CONNECT host:port`, `OPTIONS *`) is answered 400
//! before it reaches warp (whose path filters cannot take one), and a panic while answering
//! becomes a 500 (`wadm_api_panics_total`), so no input can take a connection task down
//! uncounted. Connection errors are counted by reason and logged at most once per
//! [`LOG_EVERY`] with the count of those not logged.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower_service::Service as _;
use tracing::{info, warn};
use warp::reply::Response;

use super::Api;
use super::error::ApiError;
use crate::metrics as m;
use crate::util::lock;

/// File descriptors kept free for the venue sockets, REST clients, the store and logs.
pub const RESERVED_FDS: u64 = 256;

/// At most one log line per connection-error reason in this long.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Largest request head hyper buffers (its minimum is 8 KiB).
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Most headers in a request.
const MAX_HEADERS: usize = 64;

/// How long a new connection waits for an evicted one to free its slot.
const EVICTION_WAIT: Duration = Duration::from_millis(500);

/// The bounds of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to receive a whole request head.
    pub header_timeout: Duration,
    /// Time a connection may move no byte.
    pub idle_timeout: Duration,
    /// Requests answered at once.
    pub max_concurrent_requests: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_concurrent_requests: 64,
        }
    }
}

impl ServerLimits {
    /// The connection cap under a file-descriptor limit of `fd_limit`: the configured one, or
    /// less so that [`RESERVED_FDS`] stay free (at least 8).
    pub fn connections_under(&self, fd_limit: u64) -> usize {
        let room = fd_limit.saturating_sub(RESERVED_FDS).max(8);
        self.max_connections
            .min(usize::try_from(room).unwrap_or(usize::MAX))
    }
}

/// Raises the soft limit of open files to the hard limit (done once at start) and returns
/// the limit in force.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard))
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() =>
        {
            hard
        }
        Ok((soft, _)) => soft,
        Err(_) => 1_024,
    }
}

/// The limit of open files in force.
pub fn fd_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1_024, |(soft, _)| soft)
}

/// What the server has seen (the status entry's `server` part).
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed at once (the cap reached, every connection busy).
    pub rejected: AtomicU64,
    /// Idle connections closed to make room.
    pub evicted: AtomicU64,
    /// Requests answered 503 because too many were being answered.
    pub overloaded: AtomicU64,
    /// Connections that ended in an error (header timeout, idle, parse, I/O).
    pub errors: AtomicU64,
}

impl ServerCounters {
    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "open": self.open.load(Ordering::Relaxed),
            "accepted": self.accepted.load(Ordering::Relaxed),
            "rejected": self.rejected.load(Ordering::Relaxed),
            "evicted": self.evicted.load(Ordering::Relaxed),
            "overloaded": self.overloaded.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
        })
    }
}

/// The client address, for the warp filter (`warp::ext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// One open connection, as the accept loop sees it.
#[derive(Debug)]
struct Slot {
    opened: Instant,
    in_flight: AtomicU64,
    evict: Notify,
}

/// The open connections.
#[derive(Debug, Default)]
struct Connections {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Slot>>>,
}

impl Connections {
    fn add(&self) -> (u64, Arc<Slot>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            opened: Instant::now(),
            in_flight: AtomicU64::new(0),
            evict: Notify::new(),
        });
        lock(&self.open).insert(id, Arc::clone(&slot));
        (id, slot)
    }

    fn remove(&self, id: u64) {
        lock(&self.open).remove(&id);
    }

    /// Tells the oldest connection with no request in flight to close; false when every
    /// connection is busy.
    fn evict_oldest_idle(&self) -> bool {
        let open = lock(&self.open);
        let oldest = open
            .values()
            .filter(|slot| slot.in_flight.load(Ordering::Relaxed) == 0)
            .min_by_key(|slot| slot.opened);
        match oldest {
            Some(slot) => {
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Logs connection errors at most once per [`LOG_EVERY`] and reason.
#[derive(Debug, Default)]
struct RateLimitedLog {
    last: Mutex<BTreeMap<&'static str, (Instant, u64)>>,
}

impl RateLimitedLog {
    fn note(&self, reason: &'static str, client: SocketAddr, detail: &str) {
        let mut last = lock(&self.last);
        let now = Instant::now();
        let entry = last.entry(reason).or_insert((now - LOG_EVERY, 0));
        if now.duration_since(entry.0) >= LOG_EVERY {
            let suppressed = entry.1;
            *entry = (now, 0);
            drop(last);
            warn!(reason, client = %client, suppressed, "API connection closed: {detail}");
        } else {
            entry.1 += 1;
        }
    }
}

/// Everything a connection task shares.
#[derive(Debug)]
struct Shared {
    api: Arc<Api>,
    limits: ServerLimits,
    requests: Arc<Semaphore>,
    connections: Connections,
    counters: Arc<ServerCounters>,
    log: RateLimitedLog,
}

/// Serves `api` on `listener` within `limits` until `stop` changes, then lets open
/// requests finish (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    api: Arc<Api>,
    limits: ServerLimits,
    counters: Arc<ServerCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let shared = Arc::new(Shared {
        api,
        limits,
        requests: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
        connections: Connections::default(),
        counters,
        log: RateLimitedLog::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut accept_errors_logged: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, client) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors (or another transient failure): wait a little
                // rather than spin, and say so at most every LOG_EVERY.
                metrics::counter!(m::API_CONNECTION_ERRORS_TOTAL, "reason" => "accept")
                    .increment(1);
                if accept_errors_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                    accept_errors_logged = Some(Instant::now());
                    warn!(error = %err, "the API cannot accept connections");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if shared.connections.evict_oldest_idle() => {
                shared.counters.evicted.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(m::API_CONNECTIONS_EVICTED_TOTAL).increment(1);
                tokio::time::timeout(EVICTION_WAIT, Arc::clone(&slots).acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(m::API_CONNECTIONS_REJECTED_TOTAL).increment(1);
            shared.log.note(
                "connection_limit",
                client,
                &format!(
                    "{} connections open, every one busy (api.max_connections)",
                    limits.max_connections
                ),
            );
            drop(stream);
            continue;
        };
        tasks.spawn(connection(
            Arc::clone(&shared),
            stream,
            client,
            permit,
            stop.clone(),
        ));
    }
    drop(listener);
    info!(
        open = tasks.len(),
        "API stops accepting; open requests finish"
    );
    while tasks.join_next().await.is_some() {}
}

/// One connection, from accept to close.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    client: SocketAddr,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (id, slot) = shared.connections.add();
    shared.counters.open.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!(m::API_CONNECTIONS_OPEN).increment(1.0);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service = {
        let shared = Arc::clone(&shared);
        let slot = Arc::clone(&slot);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let shared = Arc::clone(&shared);
            let slot = Arc::clone(&slot);
            async move { Ok::<_, Infallible>(answer(&shared, &slot, client, request).await) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let idle = shared.limits.idle_timeout;
    let mut check = tokio::time::interval(
        idle.min(Duration::from_secs(1))
            .max(Duration::from_millis(100)),
    );
    let mut stopping = false;
    let outcome: Result<(), &'static str> = loop {
        tokio::select! {
            result = connection.as_mut() => {
                break match result {
                    Ok(()) => Ok(()),
                    Err(err) => Err(reason_of(&err)),
                };
            }
            () = slot.evict.notified() => break Err("evicted"),
            _ = check.tick() => {
                if activity.silent_for() >= idle {
                    break Err("idle");
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                let _ = changed;
                connection.as_mut().graceful_shutdown();
            }
        }
    };
    if let Err(reason) = outcome
        && reason != "evicted"
    {
        shared.counters.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::API_CONNECTION_ERRORS_TOTAL, "reason" => reason).increment(1);
        let detail = match reason {
            "header_timeout" => "no whole request head within api.header_timeout",
            "idle" => "no byte either way within api.idle_timeout",
            "parse" => "a malformed request",
            _ => "a transport error",
        };
        shared.log.note(reason, client, detail);
    }
    shared.connections.remove(id);
    shared.counters.open.fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!(m::API_CONNECTIONS_OPEN).decrement(1.0);
}

fn reason_of(err: &hyper::Error) -> &'static str {
    if err.is_timeout() {
        "header_timeout"
    } else if err.is_parse() || err.is_parse_too_large() || err.is_parse_status() {
        "parse"
    } else if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        "closed"
    } else {
        "io"
    }
}

/// Answers one request: the guards, then the warp filter.
async fn answer(
    shared: &Shared,
    slot: &Slot,
    client: SocketAddr,
    mut request: hyper::Request<Incoming>,
) -> Response {
    // Only targets with a path (`/path?query`, or the absolute form a client may send)
    // reach warp: its path filters cannot take one without (`CONNECT host:port`,
    // `OPTIONS *`).
    let has_path = request
        .uri()
        .path_and_query()
        .is_some_and(|p| p.as_str().starts_with('/'));
    if !has_path || request.method() == warp::http::Method::CONNECT {
        return ApiError::bad_request_target().into_response();
    }
    let Ok(_permit) = shared.requests.try_acquire() else {
        shared.counters.overloaded.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::API_OVERLOADED_TOTAL).increment(1);
        return ApiError::overloaded().into_response();
    };
    slot.in_flight.fetch_add(1, Ordering::Relaxed);
    request.extensions_mut().insert(ClientAddr(client));
    let mut service = warp::service(super::http::filter(Arc::clone(&shared.api)));
    let answered = AssertUnwindSafe(service.call(request)).catch_unwind().await;
    slot.in_flight.fetch_sub(1, Ordering::Relaxed);
    match answered {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            metrics::counter!(m::API_PANICS_TOTAL).increment(1);
            warn!(client = %client, "answering a request panicked; answered 500");
            ApiError::internal("the request could not be answered").into_response()
        }
    }
}

/// The time of a connection's last byte in or out.
#[derive(Debug)]
struct Activity {
    base: Instant,
    last_ms: AtomicI64,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_ms: AtomicI64::new(0),
        }
    }

    fn touch(&self) {
        let now = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = u64::try_from(self.last_ms.load(Ordering::Relaxed)).unwrap_or(0);
        self.base
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }
}

/// A socket that stamps [`Activity`] on every byte moved.
#[derive(Debug)]
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_feeds() {
        let limits = ServerLimits {
            max_connections: 512,
            ..ServerLimits::default()
        };
        assert_eq!(limits.connections_under(65_536), 512);
        assert_eq!(limits.connections_under(1_024), 512);
        assert_eq!(limits.connections_under(512), 256);
        assert_eq!(limits.connections_under(100), 8);
    }

    #[test]
    fn eviction_picks_the_oldest_idle_connection() {
        let connections = Connections::default();
        let (_, busy) = connections.add();
        busy.in_flight.store(1, Ordering::Relaxed);
        assert!(!connections.evict_oldest_idle(), "every connection busy");
        let (_, idle) = connections.add();
        assert!(connections.evict_oldest_idle());
        // The notification is stored for the idle one.
        let notified = idle.evict.notified();
        assert!(notified.now_or_never().is_some());
    }
}
