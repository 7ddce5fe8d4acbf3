//! One socket of a venue: a task that connects, subscribes, reads frames and turns them into
//! routed events, until it is stopped or the socket fails.
//!
//! The reader never waits on downstream work. Parsing and book upkeep are in-memory and
//! quick; events reach aggregators through their route slots without waiting; outgoing
//! requests go to a writer task through a bounded queue (paced there to the venue's rate);
//! REST snapshots are fetched by separate tasks whose results come back on a channel.
//! Frames that cannot be parsed are counted, logged (rate-limited) and skipped.
//!
//! Facts the actor's watchdog needs (last frame time per class, counters) are atomics in
//! [`SessionStats`]; only rare events (connected, data flowing, subscription answers,
//! closed) are sent to the actor.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use ractor::ActorRef;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::book::{BookKeeper, BookOutcome};
use super::book_sync::{BookSync, Unusable};
use super::cursors::{BookState, Cursors};
use super::messages::{CloseReason, ConnectionMsg, SessionEvent};
use super::parse::frame::{FrameKind, ParseError};
use super::protocol::{self, Endpoint};
use super::requests::{Pending, RequestTracker};
use super::rest_client::{RestClient, RestError};
use super::settings::ConnectionSettings;
use super::streams::StreamClass;
use crate::aggregator::AggregatorMsg;
use crate::boards::BookBoard;
use crate::metrics::{
    BOOK_BUFFER_DROPPED_TOTAL, BOOK_RESYNCS_TOTAL, BOOK_UNUSABLE_SNAPSHOTS_TOTAL, FEED_LAG_SECONDS,
    WS_MESSAGES_RECEIVED_TOTAL, WS_OUTGOING_DROPPED_TOTAL, WS_PARSE_ERRORS_TOTAL,
    WS_RECEIVED_BYTES_TOTAL,
};
use crate::model::{
    BookSnapshot, Control, DataQualityEvent, MarketEvent, QualityKind, Symbol, TimestampMs, Trade,
    UnixNanos, Venue,
};
use crate::quality::QualitySink;
use crate::recorder::Recorder;
use crate::routing::RouteSlot;
use crate::util::error_chain;

/// The most frames read as one burst (their trades routed as one message per symbol).
const FRAME_BURST: usize = 64;

/// Milliseconds on a monotonic clock shared by sessions and the actor's watchdog.
pub fn monotonic_ms() -> i64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    i64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Per-socket facts, updated by the reader without locks.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// When the socket opened (monotonic ms; 0 until then).
    pub connected_at: AtomicI64,
    /// Last frame of any kind (monotonic ms).
    pub last_frame: AtomicI64,
    /// Last book frame.
    pub last_book: AtomicI64,
    /// Last trade frame.
    pub last_trade: AtomicI64,
    /// Last mark-price or ticker frame.
    pub last_derivatives: AtomicI64,
    /// Frames received.
    pub frames: AtomicU64,
    /// Payload bytes received.
    pub bytes: AtomicU64,
    /// Frames that could not be parsed.
    pub parse_errors: AtomicU64,
}

/// Stops a session, remembering why.
#[derive(Debug, Clone, Default)]
pub struct SessionStop {
    token: CancellationToken,
    reason: Arc<Mutex<Option<CloseReason>>>,
}

impl SessionStop {
    /// Asks the session to close for `reason` (the first reason given wins).
    pub fn stop(&self, reason: CloseReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.token.cancel();
    }

    fn reason(&self) -> CloseReason {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or(CloseReason::Shutdown)
    }
}

/// Everything a session needs.
#[derive(Debug, Clone)]
pub struct SessionArgs {
    pub venue: Venue,
    /// Which endpoint of the venue this socket serves.
    pub endpoint_index: usize,
    pub endpoint: Endpoint,
    /// Unique id of the session within the venue.
    pub session_id: u64,
    /// The actor to report to.
    pub owner: ActorRef<ConnectionMsg>,
    /// Routes of the venue's symbols.
    pub routes: Arc<HashMap<Symbol, Arc<RouteSlot>>>,
    /// Cursors of the venue's symbols.
    pub cursors: Arc<Cursors>,
    /// Published book views.
    pub board: Arc<BookBoard>,
    /// Where data-quality events go.
    pub quality: QualitySink,
    /// REST access, for depth snapshots.
    pub rest: RestClient,
    /// Tunables.
    pub settings: Arc<ConnectionSettings>,
    /// Facts for the watchdog.
    pub stats: Arc<SessionStats>,
    /// How the actor stops the session.
    pub stop: SessionStop,
    /// Where raw frames are recorded, when recording is on.
    pub recorder: Option<Recorder>,
}

/// An outgoing message for the writer task.
#[derive(Debug)]
enum Outgoing {
    /// A request, paced to the venue's rate.
    Request(String),
    /// Close the socket cleanly.
    Close,
}

/// Runs a session to its end, then reports why it ended.
pub async fn run(args: SessionArgs) {
    let reason = match connect(&args).await {
        Ok(socket) => {
            args.stats
                .connected_at
                .store(monotonic_ms().max(1), Ordering::Release);
            report(&args, SessionEvent::Connected);
            stream(&args, socket).await
        }
        Err(reason) => reason,
    };
    report(&args, SessionEvent::Closed(reason));
}

fn report(args: &SessionArgs, event: SessionEvent) {
    // The actor may be restarting; the next incarnation starts fresh sessions anyway.
    let _ = args.owner.cast(ConnectionMsg::Session {
        endpoint: args.endpoint_index,
        session: args.session_id,
        event,
    });
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(args: &SessionArgs) -> Result<Socket, CloseReason> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(args.settings.max_frame_bytes))
        .max_frame_size(Some(args.settings.max_frame_bytes));
    let url = args.endpoint.url.as_str();
    let attempt = tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, None);
    tokio::select! {
        () = args.stop.token.cancelled() => Err(args.stop.reason()),
        outcome = tokio::time::timeout(args.settings.connect_timeout, attempt) => match outcome {
            Ok(Ok((socket, _response))) => Ok(socket),
            Ok(Err(err)) => Err(CloseReason::ConnectFailed(error_chain(&err))),
            Err(_) => Err(CloseReason::ConnectFailed(format!("no handshake within {:?}", args.settings.connect_timeout))),
        },
    }
}

/// The kinds of received message counted in `wadm_ws_messages_received_total`.
const MESSAGE_KINDS: [&str; 12] = [
    "trades",
    FrameKind::DepthUpdate.as_str(),
    "book_snapshot",
    FrameKind::Kline.as_str(),
    "liquidations",
    "derivatives",
    FrameKind::Response.as_str(),
    "unparsed",
    "binary",
    "ping",
    "pong",
    "frame",
];

/// The metric handles the reader touches on every frame, resolved once per session (a
/// lookup by name and labels costs more than the increment itself).
struct FrameMetrics {
    bytes: metrics::Counter,
    lag: metrics::Histogram,
    messages: [metrics::Counter; MESSAGE_KINDS.len()],
}

impl FrameMetrics {
    fn new(venue: Venue) -> Self {
        let venue = venue.as_str();
        Self {
            bytes: metrics::counter!(WS_RECEIVED_BYTES_TOTAL, "venue" => venue),
            lag: metrics::histogram!(FEED_LAG_SECONDS, "venue" => venue),
            messages: MESSAGE_KINDS
                .map(|kind| metrics::counter!(WS_MESSAGES_RECEIVED_TOTAL, "venue" => venue, "kind" => kind)),
        }
    }

    /// Counts a burst's frames in the metrics, once per kind.
    fn count(&self, tally: &BurstTally) {
        self.bytes.increment(tally.bytes);
        for (counter, &count) in self.messages.iter().zip(&tally.kinds) {
            if count > 0 {
                counter.increment(count);
            }
        }
    }
}

/// Positions in [`MESSAGE_KINDS`] of the kinds that are not market events.
const KIND_UNPARSED: usize = 7;
const KIND_BINARY: usize = 8;
const KIND_PING: usize = 9;
const KIND_PONG: usize = 10;
const KIND_FRAME: usize = 11;

/// What a burst's frames add to the counters: summed while the burst is handled, counted
/// once at its end (not one atomic operation per frame and counter).
#[derive(Debug, Default)]
struct BurstTally {
    frames: u64,
    bytes: u64,
    /// Frames per kind, in [`MESSAGE_KINDS`] order.
    kinds: [u64; MESSAGE_KINDS.len()],
}

/// The reader's state.
struct Reader<'a> {
    args: &'a SessionArgs,
    metrics: FrameMetrics,
    parser: Box<dyn super::FrameParser>,
    outgoing: mpsc::Sender<Outgoing>,
    requests: RequestTracker,
    books: HashMap<Symbol, BookKeeper>,
    /// Which books wait for, or are fetching, a snapshot; retries; out-of-sync books.
    sync: BookSync,
    snapshot_results: mpsc::Sender<(Symbol, Result<BookSnapshot, RestError>)>,
    /// Symbols with book changes not yet published.
    dirty: HashSet<Symbol>,
    /// Buffer drops of each book already counted in the metric.
    buffer_drops_reported: HashMap<Symbol, u64>,
    /// Trades of the current burst not yet routed, by symbol.
    held: Vec<(Symbol, Vec<Trade>)>,
    data_flowing: bool,
    parse_errors_logged_at: Option<Instant>,
    parse_errors_suppressed: u64,
}

async fn stream(args: &SessionArgs, socket: Socket) -> CloseReason {
    let (sink, frames) = socket.split();
    // Every frame the socket already holds, up to a bound, is read as one burst: its trades
    // reach each aggregator as one message (see [`Reader::on_burst`]).
    let mut frames = frames.ready_chunks(FRAME_BURST);
    let (outgoing, outgoing_rx) = mpsc::channel(1024);
    let mut writer = tokio::spawn(write(
        sink,
        outgoing_rx,
        protocol::request_spacing(args.venue),
    ));
    let (snapshot_results, mut snapshot_rx) = mpsc::channel(64);
    let mut reader = Reader {
        args,
        metrics: FrameMetrics::new(args.venue),
        parser: super::parser_for(args.venue, args.settings.max_frame_bytes),
        outgoing,
        requests: RequestTracker::default(),
        books: HashMap::new(),
        sync: BookSync::new(
            args.settings.backoff,
            args.settings.snapshot_attempts,
            args.settings.snapshot_concurrency,
        ),
        snapshot_results,
        dirty: HashSet::new(),
        buffer_drops_reported: HashMap::new(),
        held: Vec::new(),
        data_flowing: false,
        parse_errors_logged_at: None,
        parse_errors_suppressed: 0,
    };
    reader.start();
    let mut tick = tokio::time::interval(
        args.settings
            .book_publish_interval
            .min(Duration::from_millis(500)),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + args.settings.ping_interval,
        args.settings.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let client_ping = protocol::limits(args.venue).client_ping;

    let reason = loop {
        tokio::select! {
            biased;
            () = args.stop.token.cancelled() => {
                let _ = reader.outgoing.try_send(Outgoing::Close);
                break args.stop.reason();
            }
            burst = frames.next() => {
                let Some(burst) = burst else {
                    break CloseReason::StreamEnded;
                };
                if let Some(reason) = reader.on_burst(burst) {
                    break reason;
                }
            },
            Some((symbol, result)) = snapshot_rx.recv() => reader.on_snapshot_result(symbol, result),
            _ = ping.tick(), if client_ping => reader.ping(),
            _ = tick.tick() => reader.on_tick(),
            finished = &mut writer => break CloseReason::WriterError(match finished {
                Ok(Err(err)) => err,
                Ok(Ok(())) => "writer stopped".into(),
                Err(err) => err.to_string(),
            }),
        }
    };
    // Closing the outgoing queue lets the writer send what is queued (the close frame of a
    // planned stop) and end; it gets a moment for that, never longer.
    drop(reader);
    if tokio::time::timeout(Duration::from_millis(200), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    if reason.is_planned() {
        debug!(venue = %args.venue, endpoint = args.endpoint.name, session = args.session_id, reason = %reason, "socket closed");
    }
    reason
}

/// Writes outgoing messages, spacing requests to the venue's rate.
async fn write(
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut outgoing: mpsc::Receiver<Outgoing>,
    spacing: Duration,
) -> Result<(), String> {
    let mut next_slot = tokio::time::Instant::now();
    while let Some(message) = outgoing.recv().await {
        match message {
            Outgoing::Request(text) => {
                tokio::time::sleep_until(next_slot).await;
                sink.send(Message::text(text))
                    .await
                    .map_err(|err| error_chain(&err))?;
                next_slot = next_slot.max(tokio::time::Instant::now()) + spacing;
            }
            Outgoing::Close => {
                let _ = sink.send(Message::Close(None)).await;
                let _ = sink.close().await;
                return Ok(());
            }
        }
    }
    Ok(())
}

impl Reader<'_> {
    fn venue(&self) -> Venue {
        self.args.venue
    }

    /// Subscribes every topic and starts every book.
    fn start(&mut self) {
        let topics: Vec<String> = self
            .args
            .endpoint
            .topics
            .iter()
            .map(|t| t.name.clone())
            .collect();
        for chunk in topics.chunks(protocol::limits(self.venue()).max_topics_per_request) {
            self.subscribe(chunk.to_vec());
        }
        for topic in &self.args.endpoint.topics {
            if topic.stream.class() == StreamClass::Book {
                let keeper = BookKeeper::new(
                    self.venue(),
                    topic.symbol,
                    self.args.settings.book_buffer_limit,
                )
                .with_ahead_tolerance(self.args.settings.snapshot_ahead_tolerance);
                self.books.insert(topic.symbol, keeper);
                if let Some(cursor) = self.args.cursors.get(topic.symbol) {
                    cursor.set_book_state(BookState::Syncing, None);
                }
            }
        }
    }

    /// Starts rebuilding the books whose diff streams the venue just accepted (Binance: the
    /// REST snapshot is fetched once diffs are being buffered).
    fn on_subscribed(&mut self, topics: &[String]) {
        let venue = self.venue();
        let accepted: Vec<Symbol> = self
            .args
            .endpoint
            .topics
            .iter()
            .filter(|t| t.stream.class() == StreamClass::Book && topics.contains(&t.name))
            .map(|t| t.symbol)
            .filter(|symbol| protocol::depth_path(venue, *symbol, 1).is_some())
            .collect();
        for symbol in accepted {
            if self.books.get(&symbol).is_some_and(|k| !k.is_synced()) {
                self.sync.want(symbol);
            }
        }
        self.start_snapshots();
    }

    /// Gives up the book of a refused book stream: nothing would keep it current.
    fn abandon_book(&mut self, topic: &str) {
        let Some(symbol) = self
            .args
            .endpoint
            .topics
            .iter()
            .find(|t| t.name == topic && t.stream.class() == StreamClass::Book)
            .map(|t| t.symbol)
        else {
            return;
        };
        self.books.remove(&symbol);
        self.sync.abandon(symbol);
        self.dirty.remove(&symbol);
        if let Some(cursor) = self.args.cursors.get(symbol) {
            if cursor.owns_book(self.args.session_id) {
                self.args.board.clear(self.venue(), symbol);
            }
            cursor.set_book_state(BookState::Idle, None);
        }
    }

    fn request(&mut self, pending: Pending, build: impl FnOnce(u64) -> String) {
        let text = build(self.requests.next_id());
        match self.outgoing.try_send(Outgoing::Request(text)) {
            Ok(()) => self.requests.sent(pending, Instant::now()),
            Err(_) => {
                self.requests.not_sent();
                metrics::counter!(WS_OUTGOING_DROPPED_TOTAL, "venue" => self.venue().as_str())
                    .increment(1);
                warn!(venue = %self.venue(), endpoint = self.args.endpoint.name, "outgoing queue full: request dropped");
            }
        }
    }

    fn subscribe(&mut self, topics: Vec<String>) {
        let venue = self.venue();
        let request_topics = topics.clone();
        self.request(Pending::Subscribe(topics), |id| {
            protocol::subscribe_request(venue, &request_topics, id)
        });
    }

    fn ping(&mut self) {
        let venue = self.venue();
        self.request(Pending::Ping, |id| {
            protocol::client_ping(venue, id).unwrap_or_default()
        });
    }

    /// Handles the frames the socket held at once (read errors end the burst); returns a
    /// reason to close the socket. The trades of the burst are routed at its end, one
    /// message per symbol, so the aggregators' per-message costs are paid once per burst
    /// rather than once per frame; a burst is bounded by [`FRAME_BURST`] frames and takes no
    /// wait (the socket's readiness decides it), so it adds no delay to a quiet feed.
    fn on_burst(
        &mut self,
        burst: Vec<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Option<CloseReason> {
        // One clock read of each kind per burst: the frames were all read at once.
        let now = monotonic_ms();
        let received_at = UnixNanos::now();
        let mut tally = BurstTally::default();
        let mut reason = None;
        for frame in burst {
            reason = match frame {
                Ok(message) => self.on_message(message, now, received_at, &mut tally),
                Err(err) => Some(CloseReason::ReadError(error_chain(&err))),
            };
            if reason.is_some() {
                break;
            }
        }
        self.flush_trades();
        if tally.frames > 0 {
            let stats = &self.args.stats;
            stats.last_frame.store(now, Ordering::Relaxed);
            stats.frames.fetch_add(tally.frames, Ordering::Relaxed);
            stats.bytes.fetch_add(tally.bytes, Ordering::Relaxed);
            self.metrics.count(&tally);
        }
        reason
    }

    /// Handles one WebSocket message; returns a reason to close the socket.
    fn on_message(
        &mut self,
        message: Message,
        now: i64,
        received_at: UnixNanos,
        tally: &mut BurstTally,
    ) -> Option<CloseReason> {
        tally.frames += 1;
        let kind = match &message {
            Message::Text(text) => {
                tally.bytes += text.len() as u64;
                if let Some(recorder) = &self.args.recorder {
                    recorder.offer(self.args.venue, received_at, text.as_str());
                }
                match self.parser.parse(text.as_bytes(), received_at) {
                    Ok(event) => {
                        let kind = event_kind(&event);
                        self.on_event(event, now);
                        kind
                    }
                    Err(err) => {
                        self.on_parse_error(&err, text.as_str());
                        KIND_UNPARSED
                    }
                }
            }
            // The venues send text only; anything else is counted and ignored (tungstenite
            // answers pings itself).
            Message::Binary(_) => KIND_BINARY,
            Message::Ping(_) => KIND_PING,
            Message::Pong(_) => KIND_PONG,
            Message::Close(frame) => {
                let detail = frame.as_ref().map_or_else(
                    || "no close frame".to_owned(),
                    |f| format!("{} {}", f.code, f.reason),
                );
                return Some(CloseReason::RemoteClose(detail));
            }
            Message::Frame(_) => KIND_FRAME,
        };
        tally.kinds[kind] += 1;
        None
    }

    fn on_parse_error(&mut self, err: &ParseError, frame: &str) {
        self.args.stats.parse_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(WS_PARSE_ERRORS_TOTAL, "venue" => self.venue().as_str(), "reason" => err.reason()).increment(1);
        let now = Instant::now();
        let quiet = self
            .parse_errors_logged_at
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(10));
        if quiet {
            self.parse_errors_suppressed += 1;
            return;
        }
        let preview: String = frame.chars().take(120).collect();
        warn!(
            venue = %self.venue(),
            endpoint = self.args.endpoint.name,
            reason = err.reason(),
            error = %error_chain(err),
            suppressed = self.parse_errors_suppressed,
            frame = %preview,
            "frame skipped"
        );
        self.parse_errors_logged_at = Some(now);
        self.parse_errors_suppressed = 0;
    }

    fn data_flowed(&mut self) {
        if !self.data_flowing {
            self.data_flowing = true;
            report(self.args, SessionEvent::DataFlowing);
        }
    }

    fn on_event(&mut self, event: MarketEvent, now: i64) {
        match event {
            MarketEvent::Trades(trades) => {
                self.args.stats.last_trade.store(now, Ordering::Relaxed);
                self.data_flowed();
                self.on_trades(trades);
            }
            MarketEvent::BookDelta(delta) => {
                self.args.stats.last_book.store(now, Ordering::Relaxed);
                self.data_flowed();
                let symbol = delta.symbol;
                let lag = lag_seconds(delta.received_at, delta.event_time.as_millis());
                self.metrics.lag.record(lag);
                let Some(keeper) = self.books.get_mut(&symbol) else {
                    return self.unexpected_symbol(symbol);
                };
                let outcome = keeper.on_delta(delta);
                self.on_book_outcome(symbol, outcome);
            }
            MarketEvent::BookSnapshot(snapshot) => {
                self.args.stats.last_book.store(now, Ordering::Relaxed);
                self.data_flowed();
                let symbol = snapshot.symbol;
                let Some(keeper) = self.books.get_mut(&symbol) else {
                    return self.unexpected_symbol(symbol);
                };
                let was_synced = keeper.is_synced();
                let outcome = keeper.on_snapshot(snapshot);
                if was_synced
                    && matches!(
                        outcome,
                        BookOutcome::Synced {
                            venue_reset: false,
                            ..
                        }
                    )
                {
                    // A venue re-send of the snapshot: the book is overwritten.
                    self.sync.resyncing(symbol);
                }
                self.on_book_outcome(symbol, outcome);
            }
            MarketEvent::Klines(klines) => {
                self.data_flowed();
                if let Some(symbol) = klines.first().map(|k| k.symbol) {
                    self.route(symbol, AggregatorMsg::Klines(klines));
                }
            }
            MarketEvent::Liquidations(liquidations) => {
                self.data_flowed();
                if let Some(symbol) = liquidations.first().map(|l| l.symbol) {
                    self.route(symbol, AggregatorMsg::Liquidations(liquidations));
                }
            }
            MarketEvent::Derivatives(tick) => {
                self.args
                    .stats
                    .last_derivatives
                    .store(now, Ordering::Relaxed);
                self.data_flowed();
                self.route(tick.symbol, AggregatorMsg::Derivatives(tick));
            }
            MarketEvent::Control(control) => self.on_control(control),
        }
    }

    fn on_trades(&mut self, trades: Vec<Trade>) {
        let Some(first) = trades.first() else {
            return;
        };
        let symbol = first.symbol;
        let lag = lag_seconds(first.received_at, first.event_time.as_millis());
        self.metrics.lag.record(lag);
        let Some(cursor) = self.args.cursors.get(symbol) else {
            return self.unexpected_symbol(symbol);
        };
        if let Some((from, to)) = cursor.note_trades(self.venue(), &trades) {
            self.args.quality.record(
                DataQualityEvent::now(
                    self.venue(),
                    Some(symbol),
                    QualityKind::TradeGap,
                    "trades may be missing between these times: the socket was lost",
                )
                .with_times(TimestampMs(from), TimestampMs(to)),
            );
        }
        self.hold_trades(symbol, trades);
    }

    /// Keeps trades until the end of the burst.
    fn hold_trades(&mut self, symbol: Symbol, mut trades: Vec<Trade>) {
        match self.held.iter_mut().find(|(s, _)| *s == symbol) {
            Some((_, held)) if held.is_empty() => *held = trades,
            Some((_, held)) => held.append(&mut trades),
            None => self.held.push((symbol, trades)),
        }
    }

    /// Routes the trades held for a symbol, in the order they came.
    fn flush_symbol(&mut self, symbol: Symbol) {
        if let Some(index) = self.held.iter().position(|(s, _)| *s == symbol) {
            self.flush_at(index);
        }
    }

    /// Routes every trade held (the end of a burst).
    fn flush_trades(&mut self) {
        for index in 0..self.held.len() {
            self.flush_at(index);
        }
    }

    fn flush_at(&mut self, index: usize) {
        let (symbol, held) = &mut self.held[index];
        if held.is_empty() {
            return;
        }
        let (symbol, trades) = (*symbol, std::mem::take(held));
        self.send(symbol, AggregatorMsg::Trades(trades));
    }

    fn unexpected_symbol(&self, symbol: Symbol) {
        metrics::counter!(WS_PARSE_ERRORS_TOTAL, "venue" => self.venue().as_str(), "reason" => "unexpected_symbol").increment(1);
        debug!(venue = %self.venue(), symbol = %symbol, "event for a symbol this socket does not carry");
    }

    /// Routes a message; the symbol's trades held in this burst go first, so an aggregator
    /// sees each stream in the order it came.
    fn route(&mut self, symbol: Symbol, message: AggregatorMsg) {
        self.flush_symbol(symbol);
        self.send(symbol, message);
    }

    fn send(&self, symbol: Symbol, message: AggregatorMsg) {
        if let Some(slot) = self.args.routes.get(&symbol) {
            // A refused message is counted by the slot; the reader does not wait.
            let _ = slot.send(message);
        }
    }

    fn on_book_outcome(&mut self, symbol: Symbol, outcome: BookOutcome) {
        let venue = self.venue();
        let cursor = self.args.cursors.get(symbol);
        match outcome {
            BookOutcome::Applied => {
                if self.sync.failures(symbol) > 0 {
                    self.snapshot_proven(symbol);
                }
                self.dirty.insert(symbol);
            }
            BookOutcome::Buffered | BookOutcome::Stale | BookOutcome::AwaitingSnapshot => {}
            BookOutcome::Synced { venue_reset, .. } => {
                // A snapshot is proven by a diff applied on top of it (during the replay, or
                // later): only then do its failures in a row end.
                if self.books.get(&symbol).is_some_and(BookKeeper::is_proven) {
                    self.snapshot_proven(symbol);
                }
                if venue_reset {
                    self.args.quality.record(DataQualityEvent::now(
                        venue,
                        Some(symbol),
                        QualityKind::BookReset,
                        "venue reset the book (u = 1)",
                    ));
                    self.sync.resyncing(symbol);
                }
                if self.sync.take_resync(symbol) {
                    metrics::counter!(BOOK_RESYNCS_TOTAL, "venue" => venue.as_str(), "symbol" => symbol.as_str().to_owned()).increment(1);
                    if let Some(cursor) = &cursor {
                        cursor.count_resync();
                    }
                    self.args.quality.record(DataQualityEvent::now(
                        venue,
                        Some(symbol),
                        QualityKind::BookResync,
                        "book rebuilt from a fresh snapshot",
                    ));
                }
                // A book declared out of sync is served again only once proven.
                if !self.sync.is_out_of_sync(symbol) {
                    if let Some(cursor) = &cursor {
                        cursor.claim_book(self.args.session_id);
                    }
                    self.publish(symbol);
                }
            }
            BookOutcome::SnapshotTooOld {
                snapshot_id,
                first_buffered,
            } => {
                self.unusable_snapshot(
                    symbol,
                    "too_old",
                    format!(
                        "snapshot {snapshot_id} older than the first buffered diff {first_buffered}"
                    ),
                );
            }
            BookOutcome::SnapshotTooNew {
                snapshot_id,
                stream_id,
            } => {
                if let Some(cursor) = &cursor {
                    if cursor.owns_book(self.args.session_id) {
                        self.args.board.clear(venue, symbol);
                    }
                    cursor.set_book_state(BookState::Syncing, None);
                }
                self.unusable_snapshot(
                    symbol,
                    "too_new",
                    format!(
                        "snapshot {snapshot_id} ahead of the stream (diffs still at {stream_id})"
                    ),
                );
            }
            BookOutcome::Gap { expected, received } => {
                let to = received.saturating_sub(1).max(expected);
                self.args.quality.record(
                    DataQualityEvent::now(
                        venue,
                        Some(symbol),
                        QualityKind::BookGap,
                        "book sequence break",
                    )
                    .with_range(expected, to),
                );
                self.sync.resyncing(symbol);
                if let Some(cursor) = &cursor {
                    if cursor.owns_book(self.args.session_id) {
                        self.args.board.clear(venue, symbol);
                    }
                    cursor.set_book_state(BookState::Syncing, None);
                }
                self.resync(symbol);
            }
        }
        if let (Some(cursor), Some(keeper)) = (&cursor, self.books.get(&symbol))
            && cursor.owns_book(self.args.session_id)
            && !self.sync.is_out_of_sync(symbol)
            && let Some(id) = keeper.last_update_id()
        {
            cursor.set_book_state(BookState::Synced, Some(id));
        }
        let drops = self.books.get(&symbol).map_or(0, BookKeeper::buffer_drops);
        let reported = self.buffer_drops_reported.entry(symbol).or_default();
        if drops > *reported {
            metrics::counter!(BOOK_BUFFER_DROPPED_TOTAL, "venue" => venue.as_str())
                .increment(drops - *reported);
            *reported = drops;
        }
    }

    /// The last snapshot fits the stream: its failures in a row end, and a book declared out
    /// of sync is served again.
    fn snapshot_proven(&mut self, symbol: Symbol) {
        let was_out_of_sync = self.sync.proven(symbol);
        let cursor = self.args.cursors.get(symbol);
        if let Some(cursor) = &cursor {
            cursor.set_unusable_snapshots(0);
        }
        if was_out_of_sync {
            info!(venue = %self.venue(), symbol = %symbol, "a snapshot fits the stream again; the book is served");
            if let Some(cursor) = &cursor {
                cursor.claim_book(self.args.session_id);
            }
            self.dirty.insert(symbol);
        }
    }

    /// A snapshot that did not fit the stream: another is fetched after the backoff of the
    /// failures in a row (and through the venue's REST budget, like every snapshot); at
    /// `snapshot_attempts` in a row the book is declared out of sync (a data-quality event,
    /// the status, `/health` degraded) and not served until a snapshot fits.
    fn unusable_snapshot(&mut self, symbol: Symbol, reason: &'static str, detail: String) {
        let venue = self.venue();
        metrics::counter!(BOOK_UNUSABLE_SNAPSHOTS_TOTAL, "venue" => venue.as_str(), "reason" => reason).increment(1);
        let Unusable {
            failures,
            delay,
            now_out_of_sync,
        } = self.sync.unusable(symbol, Instant::now(), fastrand::f64());
        let cursor = self.args.cursors.get(symbol);
        if let Some(cursor) = &cursor {
            cursor.set_unusable_snapshots(u64::from(failures));
        }
        if now_out_of_sync {
            warn!(venue = %venue, symbol = %symbol, failures, detail = %detail, "the venue's snapshots do not fit its stream; the book is out of sync");
            self.args.quality.record(DataQualityEvent::now(
                venue,
                Some(symbol),
                QualityKind::BookOutOfSync,
                format!("{failures} snapshots in a row did not fit the stream; last: {detail}"),
            ));
            if let Some(cursor) = &cursor {
                if cursor.owns_book(self.args.session_id) {
                    self.args.board.clear(venue, symbol);
                }
                cursor.set_book_state(BookState::OutOfSync, None);
            }
        } else {
            debug!(venue = %venue, symbol = %symbol, failures, delay_ms = delay.as_millis() as u64, detail = %detail, "snapshot does not fit the stream; fetching another after a backoff");
        }
        self.start_snapshots();
    }

    /// Rebuilds one symbol's book: a new REST snapshot (Binance) or a resubscription, which
    /// makes the venue send a new snapshot (Bybit). Other symbols are not disturbed.
    fn resync(&mut self, symbol: Symbol) {
        if protocol::depth_path(self.venue(), symbol, 1).is_some() {
            self.sync.want(symbol);
            self.start_snapshots();
            return;
        }
        let topics: Vec<String> = self
            .args
            .endpoint
            .topics
            .iter()
            .filter(|t| t.symbol == symbol && t.stream.class() == StreamClass::Book)
            .map(|t| t.name.clone())
            .collect();
        let venue = self.venue();
        let unsubscribe_topics = topics.clone();
        self.request(Pending::Unsubscribe, |id| {
            protocol::unsubscribe_request(venue, &unsubscribe_topics, id)
        });
        self.subscribe(topics);
    }

    fn start_snapshots(&mut self) {
        for symbol in self.sync.due(Instant::now()) {
            let rest = self.args.rest.clone();
            let results = self.snapshot_results.clone();
            let depth = self.args.settings.snapshot_depth;
            tokio::spawn(async move {
                let result = rest.depth_snapshot(symbol, depth).await;
                let _ = results.send((symbol, result)).await;
            });
        }
    }

    fn on_snapshot_result(&mut self, symbol: Symbol, result: Result<BookSnapshot, RestError>) {
        self.sync.fetched(symbol);
        match result {
            Ok(snapshot) => {
                // The failure count is cleared when the snapshot fits (`Synced`), not here:
                // one that does not fit counts as a failure too.
                if let Some(keeper) = self.books.get_mut(&symbol) {
                    let outcome = keeper.on_snapshot(snapshot);
                    self.on_book_outcome(symbol, outcome);
                }
            }
            Err(err) => {
                let delay = self
                    .sync
                    .fetch_failed(symbol, Instant::now(), fastrand::f64());
                warn!(venue = %self.venue(), symbol = %symbol, error = %error_chain(&err), delay_ms = delay.as_millis() as u64, "depth snapshot failed; retrying");
            }
        }
        self.start_snapshots();
    }

    fn publish(&mut self, symbol: Symbol) {
        self.dirty.remove(&symbol);
        let owns = self
            .args
            .cursors
            .get(symbol)
            .is_some_and(|c| c.owns_book(self.args.session_id));
        if !owns {
            return;
        }
        if let Some(view) = self
            .books
            .get(&symbol)
            .and_then(|k| k.view(self.args.settings.book_view_depth))
        {
            let view = Arc::new(view);
            self.args.board.publish(Arc::clone(&view));
            self.route(symbol, AggregatorMsg::Book(view));
        }
    }

    fn on_tick(&mut self) {
        // An owner that died (a panic, a kill) cannot stop its sessions: they stop themselves.
        if matches!(
            self.args.owner.get_status(),
            ractor::ActorStatus::Stopping | ractor::ActorStatus::Stopped
        ) {
            self.args.stop.stop(CloseReason::Shutdown);
            return;
        }
        let dirty: Vec<Symbol> = self.dirty.drain().collect();
        for symbol in dirty {
            self.publish(symbol);
        }
        let timeout = self.args.settings.ack_timeout;
        for topics in self.requests.expired_subscriptions(Instant::now(), timeout) {
            report(self.args, SessionEvent::AckTimeout(topics));
        }
        if self.sync.has_waiting() {
            self.start_snapshots();
        }
    }

    fn on_control(&mut self, control: Control) {
        match control {
            Control::Ack { request_id } => {
                if let Some(Pending::Subscribe(topics)) =
                    request_id.and_then(|id| self.requests.answered(id))
                {
                    self.on_subscribed(&topics);
                    report(self.args, SessionEvent::Subscribed(topics));
                }
            }
            Control::Pong { request_id } => {
                if let Some(id) = request_id {
                    self.requests.answered(id);
                }
            }
            Control::Rejected {
                request_id,
                code,
                message,
                topic,
            } => self.on_rejected(request_id, code, &message, topic),
            Control::ServerShutdown { .. } => {
                info!(venue = %self.venue(), endpoint = self.args.endpoint.name, "venue announced a server shutdown");
                report(self.args, SessionEvent::ServerShutdown);
            }
        }
    }

    /// A refused request: the named topic (or, for a single-topic request, its topic) is
    /// reported rejected and never retried on this socket; the rest of a batch is sent again,
    /// one topic per request when the venue did not say which topic it refused, to isolate it.
    fn on_rejected(
        &mut self,
        request_id: Option<u64>,
        code: Option<i64>,
        message: &str,
        topic: Option<Box<str>>,
    ) {
        // Binance errors may come without an id: attribute them to the only pending request.
        let id = request_id.or_else(|| self.requests.only_subscription());
        let Some(Pending::Subscribe(topics)) = id.and_then(|id| self.requests.answered(id)) else {
            warn!(venue = %self.venue(), code, message, "venue refused a request that cannot be attributed");
            return;
        };
        let reason = match code {
            Some(code) => format!("{message} (code {code})"),
            None => message.to_owned(),
        };
        if message.contains("already subscribed") {
            self.on_subscribed(&topics);
            report(self.args, SessionEvent::Subscribed(topics));
            return;
        }
        let named = topic
            .as_deref()
            .and_then(|named| topics.iter().find(|t| t.as_str() == named).cloned());
        match (named, topics.len()) {
            (Some(named), _) => {
                self.abandon_book(&named);
                report(
                    self.args,
                    SessionEvent::Rejected {
                        topic: named.clone(),
                        reason,
                    },
                );
                let rest: Vec<String> = topics.into_iter().filter(|t| *t != named).collect();
                if !rest.is_empty() {
                    self.subscribe(rest);
                }
            }
            (None, 1) => {
                let topic = topics.into_iter().next().unwrap_or_default();
                self.abandon_book(&topic);
                report(self.args, SessionEvent::Rejected { topic, reason });
            }
            (None, _) => {
                for topic in topics {
                    self.subscribe(vec![topic]);
                }
            }
        }
    }
}

/// The position of an event's kind in [`MESSAGE_KINDS`].
fn event_kind(event: &MarketEvent) -> usize {
    match event {
        MarketEvent::Trades(_) => 0,
        MarketEvent::BookDelta(_) => 1,
        MarketEvent::BookSnapshot(_) => 2,
        MarketEvent::Klines(_) => 3,
        MarketEvent::Liquidations(_) => 4,
        MarketEvent::Derivatives(_) => 5,
        MarketEvent::Control(_) => 6,
    }
}

/// Seconds from the venue's event time to the local receive time (0 when clocks disagree).
fn lag_seconds(received_at: UnixNanos, event_time_ms: i64) -> f64 {
    let lag_nanos = received_at
        .0
        .saturating_sub(event_time_ms.saturating_mul(1_000_000));
    (lag_nanos.max(0) as f64) / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_positions_name_the_kinds_the_metric_is_labelled_with() {
        let named = [
            (KIND_UNPARSED, "unparsed"),
            (KIND_BINARY, "binary"),
            (KIND_PING, "ping"),
            (KIND_PONG, "pong"),
            (KIND_FRAME, "frame"),
        ];
        for (position, name) in named {
            assert_eq!(MESSAGE_KINDS[position], name);
        }
        let events = [
            (MarketEvent::Trades(Vec::new()), "trades"),
            (MarketEvent::Klines(Vec::new()), FrameKind::Kline.as_str()),
            (MarketEvent::Liquidations(Vec::new()), "liquidations"),
        ];
        for (event, name) in events {
            assert_eq!(MESSAGE_KINDS[event_kind(&event)], name);
        }
        // Every position is used once: the event kinds take the first seven.
        assert_eq!(KIND_UNPARSED, 7);
        assert_eq!(MESSAGE_KINDS.len(), KIND_FRAME + 1);
    }
}
