//! The connection actor of one venue: it owns the venue's sockets (through sessions), their
//! heartbeats, watchdogs, rotation and reconnection, and reports the venue's health.
//!
//! - **Reconnection**: a socket that closes unplanned is replaced after a jittered, capped
//!   exponential backoff whose attempt count resets only once data has flowed on a socket.
//!   Every attempt takes a token from the budget of the venue's host ([`super::budget::BudgetAttempts`]:
//!   Binance spot, Binance USD-M, Bybit), never from another venue's.
//! - **Watchdogs**: no frame at all within `transport_timeout`, or no data of a stream class
//!   within its timeout (books tick every 100-250 ms; trades can be quiet), replaces the socket.
//! - **Rotation**: before the venues' 24 h cut (and at once on Binance `serverShutdown`) a
//!   replacement socket is opened; when data flows on it the old one is closed. Overlapping
//!   trades are deduplicated by id and the newest synced book is the one published.
//! - **Instruments**: tick and lot sizes are fetched at start and after reconnects, then sent
//!   to the aggregators; an unknown symbol is reported and the others carry on.
//! - **Open interest** (Binance USD-M with derivatives streams): polled over REST on an
//!   interval, within the venue's REST budget ([`open_interest`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{Instrument as _, Span, debug, error, info, info_span, warn};
use url::Url;
use wadm_supervision::{ActorEntry, unix_millis};

use super::budget::ConnectionBudget;
use super::cursors::Cursors;
use super::messages::{CloseReason, ConnectionMsg, SessionEvent};
use super::protocol::{self, Endpoint};
use super::rest_budget::RestBudget;
use super::rest_client::RestClient;
use super::session::{self, SessionArgs, SessionStats, SessionStop, monotonic_ms};
use super::settings::ConnectionSettings;
use super::streams::{Stream, StreamClass};
use crate::boards::BookBoard;
use crate::metrics::{
    WS_CONNECT_ATTEMPTS_TOTAL, WS_CONNECT_BUDGET_WAITS_TOTAL, WS_CONNECTED, WS_RECONNECTS_TOTAL,
    WS_SUBSCRIPTION_RESPONSES_TOTAL, WS_WATCHDOG_TRIPS_TOTAL,
};
use crate::model::{DataQualityEvent, Price, QualityKind, Symbol, Venue};
use crate::quality::QualitySink;
use crate::recorder::Recorder;
use crate::routing::RouteSlot;

mod instruments;
mod lifecycle;
mod open_interest;
mod status;

use instruments::InstrumentState;
use lifecycle::{LiveSession, Phase, Role, Sockets};

/// How many recent reconnection delays each endpoint remembers for status.
const RECENT_DELAYS: usize = 128;

/// What a connection actor incarnation starts from.
#[derive(Debug, Clone)]
pub struct ConnectionArgs {
    pub venue: Venue,
    /// WebSocket base URL.
    pub ws_url: Url,
    /// REST base URL.
    pub rest_url: Url,
    /// Symbols to collect.
    pub symbols: Vec<Symbol>,
    /// Streams to subscribe for each symbol.
    pub streams: Vec<Stream>,
    /// Configured tick sizes, which win over the venue's.
    pub tick_overrides: BTreeMap<Symbol, Price>,
    /// Tunables.
    pub settings: Arc<ConnectionSettings>,
    /// Routes of the venue's symbols.
    pub routes: Arc<HashMap<Symbol, Arc<RouteSlot>>>,
    /// Cursors of the venue's symbols (outlive incarnations).
    pub cursors: Arc<Cursors>,
    /// Published book views.
    pub board: Arc<BookBoard>,
    /// Where data-quality events go.
    pub quality: QualitySink,
    /// The connection-attempt budget of the venue's host.
    pub budget: Arc<ConnectionBudget>,
    /// The venue's REST budget (shared with repair and backfill).
    pub rest_budget: Arc<RestBudget>,
    /// This actor's status entry.
    pub status: Arc<ActorEntry>,
    /// Generation of this incarnation.
    pub generation: u64,
    /// Where raw frames are recorded, when recording is on.
    pub recorder: Option<Recorder>,
}

/// How long a stopping connection actor waits for its sessions to close their sockets.
const SESSION_STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The connection actor of one venue.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionActor;

#[derive(Debug)]
struct EndpointState {
    endpoint: Endpoint,
    has_book: bool,
    has_trades: bool,
    /// Mark-price or ticker streams (pushed every second or faster).
    has_ticks: bool,
    sockets: Sockets,
    attempt: u32,
    reconnects: u64,
    last_close: Option<String>,
    recent_delays: VecDeque<Duration>,
    reported_frames: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SubscriptionState {
    Pending,
    Acked,
    Rejected(String),
    Unanswered,
}

/// State of a connection actor incarnation.
#[derive(Debug)]
pub struct ConnectionState {
    args: ConnectionArgs,
    rest: RestClient,
    endpoints: Vec<EndpointState>,
    next_session: u64,
    subscriptions: BTreeMap<String, (usize, SubscriptionState)>,
    instruments: BTreeMap<Symbol, InstrumentState>,
    last_instrument_fetch: Option<Instant>,
    instrument_fetch_running: bool,
    open_interest_running: bool,
    /// Symbols whose last open-interest request failed (logged once per failure run).
    open_interest_failing: std::collections::BTreeSet<Symbol>,
    ticks: u64,
    span: Span,
}

impl Actor for ConnectionActor {
    type Msg = ConnectionMsg;
    type State = ConnectionState;
    type Arguments = ConnectionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let span = info_span!("actor", kind = "connection", venue = %args.venue, generation = args.generation);
        let rest = RestClient::new(
            args.venue,
            args.rest_url.clone(),
            args.settings.rest_timeout,
            Arc::clone(&args.rest_budget),
        )?;
        let endpoints: Vec<EndpointState> =
            protocol::endpoints(args.venue, &args.ws_url, &args.symbols, &args.streams)
                .into_iter()
                .map(|endpoint| EndpointState {
                    has_book: endpoint
                        .topics
                        .iter()
                        .any(|t| t.stream.class() == StreamClass::Book),
                    has_trades: endpoint
                        .topics
                        .iter()
                        .any(|t| t.stream.class() == StreamClass::Trades),
                    has_ticks: endpoint
                        .topics
                        .iter()
                        .any(|t| matches!(t.stream, Stream::MarkPrice | Stream::Tickers)),
                    endpoint,
                    sockets: Sockets::Down,
                    attempt: 0,
                    reconnects: 0,
                    last_close: None,
                    recent_delays: VecDeque::new(),
                    reported_frames: 0,
                })
                .collect();
        let limit = protocol::limits(args.venue).max_streams_per_connection;
        for endpoint in &endpoints {
            if endpoint.endpoint.topics.len() > limit {
                return Err(format!(
                    "{} endpoint {} would carry {} streams; the venue allows {limit} per connection",
                    args.venue,
                    endpoint.endpoint.name,
                    endpoint.endpoint.topics.len()
                )
                .into());
            }
        }
        let subscriptions = endpoints
            .iter()
            .enumerate()
            .flat_map(|(index, e)| {
                e.endpoint
                    .topics
                    .iter()
                    .map(move |t| (t.name.clone(), (index, SubscriptionState::Pending)))
            })
            .collect();
        let instruments = args
            .symbols
            .iter()
            .map(|s| (*s, InstrumentState::Pending))
            .collect();
        let interval = args.settings.watchdog_interval();
        myself.send_interval(interval, || ConnectionMsg::WatchdogTick);
        for index in 0..endpoints.len() {
            myself.send_message(ConnectionMsg::Connect {
                endpoint: index,
                replacement: false,
            })?;
        }
        span.in_scope(|| {
            debug!(
                endpoints = endpoints.len(),
                symbols = args.symbols.len(),
                "connection starting"
            )
        });
        let mut state = ConnectionState {
            next_session: args.generation << 32,
            args,
            rest,
            endpoints,
            subscriptions,
            instruments,
            last_instrument_fetch: None,
            instrument_fetch_running: false,
            open_interest_running: false,
            open_interest_failing: std::collections::BTreeSet::new(),
            ticks: 0,
            span,
        };
        state.fetch_instruments(&myself);
        if state.polls_open_interest() {
            let every = state.args.settings.open_interest_interval;
            myself.send_interval(every, || ConnectionMsg::PollOpenInterest);
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let mut sessions = Vec::new();
        for endpoint in &mut state.endpoints {
            for session in endpoint.sockets.take_all() {
                session.stop.stop(CloseReason::Shutdown);
                sessions.push(session);
            }
            metrics::gauge!(WS_CONNECTED, "venue" => state.args.venue.as_str(), "endpoint" => endpoint.endpoint.name).set(0.0);
        }
        // Wait for the sessions to send their close frames and route their last frame, so
        // nothing they read is still on its way when the aggregators drain.
        let deadline = tokio::time::Instant::now() + SESSION_STOP_TIMEOUT;
        for session in &mut sessions {
            if tokio::time::timeout_at(deadline, &mut session.task)
                .await
                .is_err()
            {
                warn!(venue = %state.args.venue, session = session.id, "a session did not close in time; aborting it");
                session.task.abort();
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.span.clone();
        async {
            match message {
                ConnectionMsg::Connect {
                    endpoint,
                    replacement,
                } => state.connect(&myself, endpoint, replacement),
                ConnectionMsg::Session {
                    endpoint,
                    session,
                    event,
                } => state.on_session(&myself, endpoint, session, event),
                ConnectionMsg::WatchdogTick => state.on_watchdog(),
                ConnectionMsg::RotateTick { endpoint, session } => {
                    let sockets = state.endpoints.get(endpoint).map(|e| &e.sockets);
                    let current = sockets.and_then(Sockets::active).map(|s| s.id);
                    let rotating = sockets.is_some_and(Sockets::is_rotating);
                    if current == Some(session) && !rotating {
                        info!(
                            endpoint = state.endpoints[endpoint].endpoint.name,
                            "planned rotation: opening a replacement socket"
                        );
                        state.connect(&myself, endpoint, true);
                    }
                }
                ConnectionMsg::Instruments(results) => state.on_instruments(&myself, results),
                ConnectionMsg::RefreshInstruments => state.fetch_instruments(&myself),
                ConnectionMsg::PollOpenInterest => state.poll_open_interest(&myself),
                ConnectionMsg::OpenInterest(results) => state.on_open_interest(results),
                ConnectionMsg::Quality(event) => state.args.quality.record(event),
                ConnectionMsg::GetStatus(reply) => {
                    let _ = reply.send(state.status());
                }
            }
        }
        .instrument(span)
        .await;
        Ok(())
    }
}

impl ConnectionState {
    fn venue(&self) -> Venue {
        self.args.venue
    }

    fn connect(&mut self, myself: &ActorRef<ConnectionMsg>, index: usize, replacement: bool) {
        let Some(endpoint) = self.endpoints.get(index) else {
            return;
        };
        let role = if replacement {
            Role::Replacement
        } else {
            Role::Active
        };
        if !endpoint.sockets.can_open(role) {
            return;
        }
        if let Err(wait) = self.args.budget.try_take(Instant::now()) {
            metrics::counter!(WS_CONNECT_BUDGET_WAITS_TOTAL, "venue" => self.venue().as_str())
                .increment(1);
            warn!(
                endpoint = endpoint.endpoint.name,
                delay_ms = wait.as_millis() as u64,
                "connection attempt budget spent; waiting"
            );
            myself.send_after(wait, move || ConnectionMsg::Connect {
                endpoint: index,
                replacement,
            });
            return;
        }
        self.next_session += 1;
        let id = self.next_session;
        let stats = Arc::new(SessionStats::default());
        let stop = SessionStop::default();
        let args = SessionArgs {
            venue: self.venue(),
            endpoint_index: index,
            endpoint: endpoint.endpoint.clone(),
            session_id: id,
            owner: myself.clone(),
            routes: Arc::clone(&self.args.routes),
            cursors: Arc::clone(&self.args.cursors),
            board: Arc::clone(&self.args.board),
            quality: self.args.quality.clone(),
            rest: self.rest.clone(),
            settings: Arc::clone(&self.args.settings),
            stats: Arc::clone(&stats),
            stop: stop.clone(),
            recorder: self.args.recorder.clone(),
        };
        let span = info_span!("session", endpoint = endpoint.endpoint.name, session = id);
        let task = tokio::spawn(session::run(args).instrument(span));
        let live = LiveSession {
            id,
            stop,
            stats,
            task,
            phase: Phase::Connecting,
        };
        for (topic_endpoint, state) in self.subscriptions.values_mut() {
            if *topic_endpoint == index && !replacement {
                *state = SubscriptionState::Pending;
            }
        }
        // It can be opened: checked above, nothing changed since.
        let _ = self.endpoints[index].sockets.open(role, live);
    }

    fn on_session(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        index: usize,
        session: u64,
        event: SessionEvent,
    ) {
        let venue = self.venue();
        let Some(endpoint) = self.endpoints.get_mut(index) else {
            return;
        };
        let name = endpoint.endpoint.name;
        let Some(role) = endpoint.sockets.role(session) else {
            return;
        };
        let (is_active, is_replacement) = (role == Role::Active, role == Role::Replacement);
        match event {
            SessionEvent::Connected => {
                metrics::counter!(WS_CONNECT_ATTEMPTS_TOTAL, "venue" => venue.as_str(), "outcome" => "connected").increment(1);
                if let Some(live) = endpoint.sockets.session_mut(session) {
                    live.phase = Phase::Connected;
                }
                info!(
                    endpoint = name,
                    session,
                    replacement = is_replacement,
                    "connected"
                );
            }
            SessionEvent::DataFlowing => {
                if let Some(live) = endpoint.sockets.session_mut(session) {
                    live.phase = Phase::Streaming;
                }
                endpoint.attempt = 0;
                if is_replacement {
                    // Make-before-break: data flows on the new socket, so the old one goes.
                    if let Some(old) = endpoint.sockets.promote() {
                        old.stop.stop(CloseReason::Rotation);
                        endpoint.reconnects += 1;
                        endpoint.last_close = Some(CloseReason::Rotation.to_string());
                        metrics::counter!(WS_RECONNECTS_TOTAL, "venue" => venue.as_str(), "reason" => CloseReason::Rotation.label()).increment(1);
                    }
                    info!(endpoint = name, session, "rotation complete");
                }
                metrics::gauge!(WS_CONNECTED, "venue" => venue.as_str(), "endpoint" => name)
                    .set(1.0);
                let rotate_after = self.args.settings.rotate_after;
                myself.send_after(rotate_after, move || ConnectionMsg::RotateTick {
                    endpoint: index,
                    session,
                });
            }
            SessionEvent::Subscribed(topics) => {
                metrics::counter!(WS_SUBSCRIPTION_RESPONSES_TOTAL, "venue" => venue.as_str(), "outcome" => "ack").increment(topics.len() as u64);
                for topic in topics {
                    if let Some((_, state)) = self.subscriptions.get_mut(&topic) {
                        *state = SubscriptionState::Acked;
                    }
                }
            }
            SessionEvent::Rejected { topic, reason } => {
                metrics::counter!(WS_SUBSCRIPTION_RESPONSES_TOTAL, "venue" => venue.as_str(), "outcome" => "rejected").increment(1);
                error!(endpoint = name, topic = %topic, reason = %reason, "the venue refused a subscription; it is not retried until the next connection");
                let symbol = self
                    .endpoints
                    .get(index)
                    .and_then(|e| e.endpoint.topics.iter().find(|t| t.name == topic))
                    .map(|t| t.symbol);
                self.args.quality.record(DataQualityEvent::now(
                    venue,
                    symbol,
                    QualityKind::SubscriptionRejected,
                    format!("{topic}: {reason}"),
                ));
                if let Some((_, state)) = self.subscriptions.get_mut(&topic) {
                    *state = SubscriptionState::Rejected(reason);
                }
            }
            SessionEvent::AckTimeout(topics) => {
                metrics::counter!(WS_SUBSCRIPTION_RESPONSES_TOTAL, "venue" => venue.as_str(), "outcome" => "timeout").increment(topics.len() as u64);
                warn!(endpoint = name, topics = %topics.join(","), "subscriptions got no answer in time");
                for topic in topics {
                    if let Some((_, state)) = self.subscriptions.get_mut(&topic) {
                        *state = SubscriptionState::Unanswered;
                    }
                }
            }
            SessionEvent::ServerShutdown => {
                if is_active && !endpoint.sockets.is_rotating() {
                    info!(endpoint = name, "server shutdown announced: rotating now");
                    self.connect(myself, index, true);
                }
            }
            SessionEvent::Closed(reason) => {
                self.on_closed(myself, index, session, is_replacement, reason)
            }
        }
    }

    fn on_closed(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        index: usize,
        session: u64,
        was_replacement: bool,
        reason: CloseReason,
    ) {
        let venue = self.venue();
        let backoff = self.args.settings.backoff;
        let endpoint = &mut self.endpoints[index];
        let name = endpoint.endpoint.name;
        if matches!(reason, CloseReason::ConnectFailed(_)) {
            metrics::counter!(WS_CONNECT_ATTEMPTS_TOTAL, "venue" => venue.as_str(), "outcome" => "failed").increment(1);
        }
        if was_replacement {
            endpoint.sockets.drop_replacement();
            if !reason.is_planned() {
                let delay = backoff.random(endpoint.attempt);
                warn!(endpoint = name, session, reason = %reason, delay_ms = delay.as_millis() as u64, "replacement socket failed; retrying the rotation");
                let active = endpoint.sockets.active().map_or(0, |s| s.id);
                myself.send_after(delay, move || ConnectionMsg::RotateTick {
                    endpoint: index,
                    session: active,
                });
            }
            return;
        }
        let taken_over = endpoint.sockets.close_active();
        endpoint.last_close = Some(reason.to_string());
        metrics::gauge!(WS_CONNECTED, "venue" => venue.as_str(), "endpoint" => name).set(0.0);
        if matches!(reason, CloseReason::Shutdown) {
            return;
        }
        endpoint.reconnects += 1;
        metrics::counter!(WS_RECONNECTS_TOTAL, "venue" => venue.as_str(), "reason" => reason.label()).increment(1);
        if taken_over {
            info!(endpoint = name, session, reason = %reason, "socket closed; the replacement takes over");
            return;
        }
        if endpoint.has_trades {
            // Trades may be missed until a new socket streams; venues without contiguous
            // ids record the time range when the first trade comes back.
            for symbol in &self.args.symbols {
                if let Some(cursor) = self.args.cursors.get(*symbol) {
                    cursor.trades_interrupted();
                }
            }
        }
        let delay = backoff.random(endpoint.attempt);
        endpoint.attempt = endpoint.attempt.saturating_add(1);
        if endpoint.recent_delays.len() >= RECENT_DELAYS {
            endpoint.recent_delays.pop_front();
        }
        endpoint.recent_delays.push_back(delay);
        warn!(endpoint = name, session, reason = %reason, attempt = endpoint.attempt, delay_ms = delay.as_millis() as u64, "socket closed; reconnecting");
        if !matches!(reason, CloseReason::ConnectFailed(_)) {
            self.args.quality.record(DataQualityEvent::now(
                venue,
                None,
                QualityKind::Reconnect,
                format!("{name} socket: {reason}"),
            ));
        }
        myself.send_after(delay, move || ConnectionMsg::Connect {
            endpoint: index,
            replacement: false,
        });
        let refresh = self.args.settings.instrument_refresh;
        if self
            .last_instrument_fetch
            .is_none_or(|at| at.elapsed() >= refresh)
        {
            self.fetch_instruments(myself);
        }
    }

    fn on_watchdog(&mut self) {
        let venue = self.venue();
        let now = monotonic_ms();
        let settings = Arc::clone(&self.args.settings);
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut frames_total = 0;
        for endpoint in &mut self.endpoints {
            for session in endpoint.sockets.iter() {
                let stats = &session.stats;
                let connected_at = stats.connected_at.load(Ordering::Acquire);
                if connected_at == 0 {
                    continue;
                }
                let since = |last: i64| now - last.max(connected_at);
                let trip = if since(stats.last_frame.load(Ordering::Relaxed))
                    > millis(settings.transport_timeout)
                {
                    Some(CloseReason::TransportTimeout)
                } else if endpoint.has_book
                    && since(stats.last_book.load(Ordering::Relaxed))
                        > millis(settings.book_timeout)
                {
                    Some(CloseReason::DataTimeout(StreamClass::Book))
                } else if endpoint.has_trades
                    && since(stats.last_trade.load(Ordering::Relaxed))
                        > millis(settings.trade_timeout)
                {
                    Some(CloseReason::DataTimeout(StreamClass::Trades))
                } else if endpoint.has_ticks
                    && since(stats.last_derivatives.load(Ordering::Relaxed))
                        > millis(settings.derivatives_timeout)
                {
                    Some(CloseReason::DataTimeout(StreamClass::Derivatives))
                } else {
                    None
                };
                if let Some(reason) = trip {
                    let class = match &reason {
                        CloseReason::DataTimeout(class) => class.as_str(),
                        _ => "transport",
                    };
                    metrics::counter!(WS_WATCHDOG_TRIPS_TOTAL, "venue" => venue.as_str(), "class" => class).increment(1);
                    warn!(endpoint = endpoint.endpoint.name, session = session.id, reason = %reason, "watchdog: replacing a silent socket");
                    session.stop.stop(reason);
                }
            }
            if let Some(active) = endpoint.sockets.active() {
                frames_total += active.stats.frames.load(Ordering::Relaxed);
            }
        }
        let reported: u64 = self.endpoints.iter().map(|e| e.reported_frames).sum();
        if frames_total > reported {
            self.args.status.record_messages(frames_total - reported);
            self.args.status.record_data(unix_millis());
        }
        for endpoint in &mut self.endpoints {
            endpoint.reported_frames = endpoint
                .sockets
                .active()
                .map_or(0, |s| s.stats.frames.load(Ordering::Relaxed));
        }
        self.ticks += 1;
        let every = (Duration::from_secs(1).as_millis()
            / settings.watchdog_interval().as_millis().max(1))
        .max(1) as u64;
        if self.ticks.is_multiple_of(every) {
            match serde_json::to_value(self.status()) {
                Ok(detail) => self.args.status.set_detail(detail),
                Err(err) => warn!(error = %err, "status could not be rendered"),
            }
        }
    }
}
