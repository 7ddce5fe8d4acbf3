//! One venue's simulated market: a task that owns every symbol's state (price, book, trade
//! and update ids, candle), answers subscription requests, renders frames in the venue's
//! shape for the sockets subscribed to them, and misbehaves on command.
//!
//! Sequences are consistent by construction: trade ids are contiguous per symbol; Binance
//! diffs cover `[U, u]` with `U` = previous `u` + 1 and `pu` = previous `u`; Bybit `u` grows by
//! one per delta. The REST snapshot and the Bybit subscription snapshot carry the current
//! book and update id. A "skip" command breaks exactly one of these on purpose.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::debug;
use wadm_actors::model::{PositionSide, Price, Qty, Side, Symbol, TimestampMs, Venue};

use super::render::{self, SimDerivatives, SimKline, SimLevels, SimLiquidation, SimTrade};
use super::shared::SimShared;

/// Which socket path a connection came in on (Binance USD-M routes by path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Binance spot `/stream`.
    BinanceStream,
    /// Binance USD-M `/public/stream`: depth only.
    UsdmPublic,
    /// Binance USD-M `/market/stream`: trades and klines only.
    UsdmMarket,
    /// Bybit `/v5/public/{spot,linear}`.
    Bybit,
}

/// What a socket task sends its client.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A text frame.
    Text(Arc<str>),
    /// A binary frame (garbage for a text protocol).
    Binary(Vec<u8>),
    /// Close cleanly with a close frame.
    Close,
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Send nothing more (no data, no pings) while keeping the TCP connection open.
    Silence,
}

/// Ways to misbehave.
#[derive(Debug, Clone)]
pub enum Misbehaviour {
    /// Close every socket (cleanly, or by dropping the connection).
    Disconnect {
        /// Send a close frame first.
        clean: bool,
    },
    /// Stop sending anything on the sockets open now (TCP stays open); new sockets are fine.
    Silence,
    /// Send `count` garbage frames on every socket.
    Garbage {
        /// How many.
        count: usize,
    },
    /// Break the book sequence of a symbol once.
    SkipSequence(Symbol),
    /// Bybit: reset a symbol's book (a snapshot with `u = 1`).
    ResetBook(Symbol),
    /// Bybit: send a symbol's snapshot again.
    ResendSnapshot(Symbol),
    /// Binance: announce a server shutdown.
    ServerShutdown,
    /// Refuse every future subscription to this topic.
    RejectTopic(String),
    /// From now on, answer every trade subscription by sending the symbol's last `count`
    /// trades again before the live ones (as a venue that replays recent trades on
    /// reconnect); 0 stops it.
    RepeatTradesOnSubscribe {
        /// How many.
        count: usize,
    },
    /// Binance: from now on, answer depth snapshots with `lastUpdateId` moved by this much
    /// (negative: older than the stream; positive: ahead of it); 0 stops it.
    OffsetSnapshots(i64),
    /// Derivatives venues: a liquidation cascade of `count` liquidations of `symbol`, one a
    /// step (Binance pushes only the largest of each second).
    LiquidationCascade { symbol: Symbol, count: u32 },
    /// At the next step of `symbol`, `count` trades of `lots` lots each on `side`, the price
    /// moving `step_ticks` ticks before each (signed; 0: all at one price): a crafted burst
    /// (a level crossed, a delta, a large trade, a stack, absorption).
    Burst {
        symbol: Symbol,
        side: Side,
        lots: u32,
        count: u32,
        step_ticks: i64,
    },
    /// Skip `count` trade ids of `symbol` (a gap in the stream).
    SkipTradeIds { symbol: Symbol, count: u64 },
    /// Derivatives venues: open interest of `symbol` moves by `percent` % at once.
    ShiftOpenInterest { symbol: Symbol, percent: i64 },
}

/// Commands to a market task.
#[derive(Debug)]
pub enum MarketCommand {
    /// A new socket.
    Register {
        /// Connection id.
        conn: u64,
        /// Path it came in on.
        route: Route,
        /// Its outgoing queue.
        out: mpsc::Sender<Outbound>,
    },
    /// A socket closed.
    Unregister {
        /// Connection id.
        conn: u64,
    },
    /// Binance topics named in the socket's URL (`/stream?streams=a/b`): subscribed at once,
    /// without an answer, as the venue does.
    UrlStreams {
        /// Connection id.
        conn: u64,
        /// The topics.
        topics: Vec<String>,
    },
    /// A text frame from a client (subscribe, unsubscribe, ping).
    Request {
        /// Connection id.
        conn: u64,
        /// The frame.
        text: String,
    },
    /// The current book of a symbol (REST depth snapshot).
    Snapshot {
        symbol: Symbol,
        /// Levels per side at most.
        limit: usize,
        /// Answer: last update id and levels, or `None` for an unknown symbol.
        reply: oneshot::Sender<Option<(u64, SimLevels)>>,
    },
    /// Misbehave.
    Misbehave(Misbehaviour),
    /// Start generating (a gated market waits for this).
    Start,
    /// Stop generating trades until the next `Start`.
    Pause,
    /// Answers once every command sent before it has been handled.
    Sync(oneshot::Sender<()>),
}

/// One simulated instrument.
#[derive(Debug, Clone)]
pub struct SimSymbol {
    pub symbol: Symbol,
    /// Starting price.
    pub start_price: Price,
    /// Tick size.
    pub tick: Price,
    /// Lot size.
    pub lot: Qty,
}

/// How fast the market runs.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// One step per `tick` of wall-clock time, timestamps from the wall clock.
    RealTime {
        /// Step interval.
        tick: Duration,
    },
    /// Steps as fast as the slowest subscriber reads (TCP backpressure); timestamps from
    /// the wall clock, so many steps share a millisecond.
    FullSpeed,
}

/// Generation parameters.
#[derive(Debug, Clone, Copy)]
pub struct GeneratorParams {
    /// Trades per symbol per step (each step draws 1 to this many).
    pub max_trades_per_step: u32,
    /// A book diff every this many steps.
    pub depth_every: u32,
    /// A candle update every this many steps.
    pub kline_every: u32,
    /// Levels per book side.
    pub book_levels: i64,
    /// Seed of the generator.
    pub seed: u64,
    /// Stop generating after this many steps: a finite, reproducible stream (`None`: never).
    pub steps: Option<u64>,
}

#[derive(Debug)]
struct Conn {
    route: Route,
    out: mpsc::Sender<Outbound>,
    silent: bool,
}

#[derive(Debug)]
struct SymbolState {
    cfg: SimSymbol,
    tick: i128,
    price_ticks: i64,
    next_trade_id: u64,
    bids: BTreeMap<i64, i128>,
    asks: BTreeMap<i64, i128>,
    update_id: u64,
    kline: Option<SimKline>,
    skip_next: bool,
    /// A crafted burst for the next step.
    burst: Option<(Side, u32, u32, i64)>,
    /// The latest trades, for replays on subscription.
    recent: std::collections::VecDeque<SimTrade>,
    /// Derivatives state (USD-M, linear).
    deriv: DerivState,
}

/// The funding rate of a perpetual changes this often (seconds), so that tests see it move.
const FUNDING_CHANGE_SECONDS: i64 = 5;

/// Open interest, funding and pending liquidations of a perpetual.
#[derive(Debug, Clone, Default)]
struct DerivState {
    open_interest: i128,
    /// Funding rate, 10^-12 units.
    funding_rate: i128,
    /// The second of the last mark/ticker push.
    last_second: i64,
    /// Liquidations still to make.
    cascade: u32,
    /// Binance: the liquidations of the current second not pushed yet.
    this_second: Vec<SimLiquidation>,
    /// Bybit ticker cross sequence.
    cs: u64,
}

impl SymbolState {
    fn new(cfg: SimSymbol, levels: i64, rng: &mut fastrand::Rng) -> Self {
        let tick = cfg.tick.units().max(1);
        let price_ticks = i64::try_from(cfg.start_price.units() / tick)
            .unwrap_or(1)
            .max(levels + 2);
        let lot = cfg.lot.units().max(1);
        let mut state = Self {
            tick,
            price_ticks,
            next_trade_id: 1_000 + rng.u64(0..1_000),
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            update_id: 10_000 + rng.u64(0..10_000),
            kline: None,
            skip_next: false,
            burst: None,
            recent: std::collections::VecDeque::new(),
            deriv: DerivState {
                open_interest: lot * 1_000_000,
                funding_rate: 100_000_000,
                ..DerivState::default()
            },
            cfg,
        };
        for k in 1..=levels {
            state
                .bids
                .insert(price_ticks - k, lot * i128::from(rng.u32(1..100)));
            state
                .asks
                .insert(price_ticks + k, lot * i128::from(rng.u32(1..100)));
        }
        state
    }

    fn price(&self, ticks: i64) -> Price {
        Price::from_units(i128::from(ticks) * self.tick)
    }

    fn levels(&self, limit: usize) -> SimLevels {
        SimLevels {
            bids: self
                .bids
                .iter()
                .rev()
                .take(limit)
                .map(|(&p, &q)| (self.price(p), Qty::from_units(q)))
                .collect(),
            asks: self
                .asks
                .iter()
                .take(limit)
                .map(|(&p, &q)| (self.price(p), Qty::from_units(q)))
                .collect(),
        }
    }
}

/// The market task of one venue.
pub struct Market {
    venue: Venue,
    symbols: Vec<SymbolState>,
    conns: HashMap<u64, Conn>,
    /// Topic -> subscribed connections.
    subscribers: HashMap<String, HashSet<u64>>,
    rejected: HashSet<String>,
    rng: fastrand::Rng,
    params: GeneratorParams,
    pace: Pace,
    shared: Arc<SimShared>,
    step: u64,
    /// Steps with trades (a gated market steps without trades until started).
    trading_steps: u64,
    running: bool,
    /// Trades replayed to each new trade subscription.
    repeat_on_subscribe: usize,
    snapshot_offset: i64,
}

/// Most trades a market keeps per symbol for replays on subscription.
const MAX_REPLAY: usize = 5_000;

/// Frames addressed to one connection.
type Deliveries = Vec<(u64, Outbound)>;

impl Market {
    /// Creates the market of `venue`.
    pub fn new(
        venue: Venue,
        symbols: Vec<SimSymbol>,
        params: GeneratorParams,
        pace: Pace,
        shared: Arc<SimShared>,
    ) -> Self {
        let mut rng = fastrand::Rng::with_seed(
            params.seed ^ (venue as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let symbols = symbols
            .into_iter()
            .map(|cfg| SymbolState::new(cfg, params.book_levels, &mut rng))
            .collect();
        Self {
            venue,
            symbols,
            conns: HashMap::new(),
            subscribers: HashMap::new(),
            rejected: HashSet::new(),
            rng,
            params,
            pace,
            shared,
            step: 0,
            trading_steps: 0,
            running: true,
            repeat_on_subscribe: 0,
            snapshot_offset: 0,
        }
    }

    /// Generates `per_minute` trades a minute per symbol over `[from, to)` (ms) as past
    /// history: recorded (and so served by REST: `aggTrades`, `recent-trade`, daily
    /// archives) but never sent on a socket. Live trades continue its ids and prices.
    #[must_use]
    pub fn with_history(mut self, from: i64, to: i64, per_minute: u32) -> Self {
        // A step makes 1 to max_trades_per_step trades, (1 + max) / 2 on average.
        let per_step = f64::from(1 + self.params.max_trades_per_step.max(1)) / 2.0;
        let step = ((60_000.0 * per_step / f64::from(per_minute.max(1))) as i64).max(1);
        for i in 0..self.symbols.len() {
            let symbol = self.symbols[i].cfg.symbol;
            let mut batch = Vec::with_capacity(4_096);
            let mut time = from;
            while time < to {
                let at = time + self.rng.i64(0..step);
                batch.extend(self.trades(i, at));
                if batch.len() >= 4_096 {
                    self.shared.record_trades(self.venue, symbol, &batch);
                    batch.clear();
                }
                time += step;
            }
            self.shared.record_trades(self.venue, symbol, &batch);
        }
        self
    }

    /// Makes the market wait for [`MarketCommand::Start`] before generating trades (books
    /// move meanwhile, so they can sync).
    #[must_use]
    pub fn gated(mut self, gated: bool) -> Self {
        self.running = !gated;
        self
    }

    /// Runs until every command sender is gone.
    pub async fn run(mut self, mut commands: mpsc::Receiver<MarketCommand>) {
        let mut interval = match self.pace {
            Pace::RealTime { tick } => {
                let mut interval = tokio::time::interval(tick);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                Some(interval)
            }
            Pace::FullSpeed => None,
        };
        loop {
            let deliveries = match interval.as_mut() {
                Some(interval) => tokio::select! {
                    command = commands.recv() => match command {
                        Some(command) => self.command(command),
                        None => return,
                    },
                    _ = interval.tick() => if self.generating() {
                        self.generate(TimestampMs::now().as_millis())
                    } else {
                        Vec::new()
                    },
                },
                None => {
                    // Full speed: take every pending command, then one step.
                    let mut deliveries = Vec::new();
                    loop {
                        match commands.try_recv() {
                            Ok(command) => deliveries.extend(self.command(command)),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => return,
                        }
                    }
                    let subscribed = self.subscribers.values().any(|s| !s.is_empty());
                    if !subscribed || !self.running || !self.generating() {
                        // Nobody to serve, not started (a gated full-speed market does not
                        // even move its books) or nothing left to generate: wait for a
                        // command instead of spinning.
                        match commands.recv().await {
                            Some(command) => deliveries.extend(self.command(command)),
                            None => return,
                        }
                    } else {
                        deliveries.extend(self.generate(TimestampMs::now().as_millis()));
                        if deliveries.is_empty() {
                            // Nothing to send means no backpressure: let the sockets run.
                            tokio::task::yield_now().await;
                        }
                    }
                    deliveries
                }
            };
            self.deliver(deliveries).await;
        }
    }

    async fn deliver(&mut self, deliveries: Deliveries) {
        let full_speed = matches!(self.pace, Pace::FullSpeed);
        let mut closed = Vec::new();
        for (conn, message) in deliveries {
            let Some(target) = self.conns.get(&conn) else {
                continue;
            };
            if target.silent && matches!(message, Outbound::Text(_) | Outbound::Binary(_)) {
                continue;
            }
            if matches!(message, Outbound::Text(_)) {
                self.shared.count_frame(self.venue);
            }
            let sent = if full_speed {
                target.out.send(message).await.is_ok()
            } else {
                match target.out.try_send(message) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.shared.count_overflow(self.venue);
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            };
            if !sent {
                closed.push(conn);
            }
        }
        for conn in closed {
            self.unregister(conn);
        }
    }

    fn unregister(&mut self, conn: u64) {
        self.conns.remove(&conn);
        for subscribers in self.subscribers.values_mut() {
            subscribers.remove(&conn);
        }
        self.shared
            .set_open_connections(self.venue, self.conns.len());
    }

    fn symbol_index(&self, symbol: Symbol) -> Option<usize> {
        self.symbols.iter().position(|s| s.cfg.symbol == symbol)
    }

    fn command(&mut self, command: MarketCommand) -> Deliveries {
        match command {
            MarketCommand::Register { conn, route, out } => {
                self.conns.insert(
                    conn,
                    Conn {
                        route,
                        out,
                        silent: false,
                    },
                );
                self.shared.connection_opened(self.venue, self.conns.len());
                Vec::new()
            }
            MarketCommand::Unregister { conn } => {
                self.unregister(conn);
                Vec::new()
            }
            MarketCommand::Request { conn, text } => self.request(conn, &text),
            MarketCommand::UrlStreams { conn, topics } => {
                self.shared.count_subscribe_request(self.venue);
                self.subscribe(
                    conn,
                    topics
                        .into_iter()
                        .filter(|t| self.binance_topic_accepted(t))
                        .collect(),
                )
            }
            MarketCommand::Snapshot {
                symbol,
                limit,
                reply,
            } => {
                let offset = self.snapshot_offset;
                let answer = self.symbol_index(symbol).map(|i| {
                    let state = &self.symbols[i];
                    let id = i64::try_from(state.update_id).unwrap_or(i64::MAX);
                    let id = u64::try_from(id.saturating_add(offset).max(1)).unwrap_or(1);
                    (id, state.levels(limit))
                });
                if answer.is_some() {
                    self.shared.count_depth_request(self.venue, symbol);
                }
                let _ = reply.send(answer);
                Vec::new()
            }
            MarketCommand::Misbehave(misbehaviour) => self.misbehave(misbehaviour),
            MarketCommand::Start => {
                self.running = true;
                Vec::new()
            }
            MarketCommand::Pause => {
                self.running = false;
                Vec::new()
            }
            MarketCommand::Sync(done) => {
                let _ = done.send(());
                Vec::new()
            }
        }
    }

    fn misbehave(&mut self, misbehaviour: Misbehaviour) -> Deliveries {
        debug!(venue = %self.venue, ?misbehaviour, "simulator misbehaving");
        match misbehaviour {
            Misbehaviour::Disconnect { clean } => {
                let message = if clean {
                    Outbound::Close
                } else {
                    Outbound::Drop
                };
                self.conns
                    .keys()
                    .map(|&conn| (conn, message.clone()))
                    .collect()
            }
            Misbehaviour::Silence => {
                for conn in self.conns.values_mut() {
                    conn.silent = true;
                }
                self.conns
                    .keys()
                    .map(|&conn| (conn, Outbound::Silence))
                    .collect()
            }
            Misbehaviour::Garbage { count } => {
                const GARBAGE: [&str; 6] = [
                    "{not json",
                    r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#,
                    "null",
                    "[1,2,3]",
                    r#"{"topic":"publicTrade.BTCUSDT","data":"x"}"#,
                    "\u{1F600}",
                ];
                let mut deliveries = Vec::new();
                for &conn in self.conns.keys() {
                    for i in 0..count {
                        let frame = if i % 7 == 6 {
                            Outbound::Binary(vec![0, 159, 146, 150])
                        } else {
                            Outbound::Text(Arc::from(GARBAGE[i % GARBAGE.len()]))
                        };
                        deliveries.push((conn, frame));
                    }
                }
                deliveries
            }
            Misbehaviour::SkipSequence(symbol) => {
                if let Some(i) = self.symbol_index(symbol) {
                    self.symbols[i].skip_next = true;
                }
                Vec::new()
            }
            Misbehaviour::ResetBook(symbol) => self.bybit_snapshot_to_subscribers(symbol, true),
            Misbehaviour::ResendSnapshot(symbol) => {
                self.bybit_snapshot_to_subscribers(symbol, false)
            }
            Misbehaviour::ServerShutdown => {
                let frame: Arc<str> = Arc::from(format!(
                    r#"{{"stream":"!serverShutdown","data":{{"e":"serverShutdown","E":{}}}}}"#,
                    TimestampMs::now().as_millis()
                ));
                self.conns
                    .keys()
                    .map(|&conn| (conn, Outbound::Text(Arc::clone(&frame))))
                    .collect()
            }
            Misbehaviour::RepeatTradesOnSubscribe { count } => {
                self.repeat_on_subscribe = count.min(MAX_REPLAY);
                Vec::new()
            }
            Misbehaviour::OffsetSnapshots(offset) => {
                self.snapshot_offset = offset;
                Vec::new()
            }
            Misbehaviour::LiquidationCascade { symbol, count } => {
                if let Some(i) = self.symbol_index(symbol) {
                    self.symbols[i].deriv.cascade += count;
                }
                Vec::new()
            }
            Misbehaviour::Burst {
                symbol,
                side,
                lots,
                count,
                step_ticks,
            } => {
                if let Some(i) = self.symbol_index(symbol) {
                    self.symbols[i].burst = Some((side, lots, count, step_ticks));
                }
                Vec::new()
            }
            Misbehaviour::SkipTradeIds { symbol, count } => {
                if let Some(i) = self.symbol_index(symbol) {
                    self.symbols[i].next_trade_id += count;
                }
                Vec::new()
            }
            Misbehaviour::ShiftOpenInterest { symbol, percent } => {
                if let Some(i) = self.symbol_index(symbol) {
                    let lot = self.symbols[i].cfg.lot.units().max(1);
                    let deriv = &mut self.symbols[i].deriv;
                    deriv.open_interest =
                        (deriv.open_interest * i128::from(100 + percent) / 100).max(lot);
                    let oi = Qty::from_units(deriv.open_interest);
                    self.shared.set_open_interest(
                        self.venue,
                        symbol,
                        oi,
                        TimestampMs::now().as_millis(),
                    );
                }
                Vec::new()
            }
            Misbehaviour::RejectTopic(topic) => {
                self.rejected.insert(topic);
                Vec::new()
            }
        }
    }

    /// Sends each subscriber of a symbol's Bybit book a snapshot (after a reset, `u` starts
    /// again at 1).
    fn bybit_snapshot_to_subscribers(&mut self, symbol: Symbol, reset: bool) -> Deliveries {
        let Some(i) = self.symbol_index(symbol) else {
            return Vec::new();
        };
        if reset {
            self.symbols[i].update_id = 1;
        }
        let mut deliveries = Vec::new();
        let topics: Vec<String> = self
            .subscribers
            .keys()
            .filter(|t| t.starts_with("orderbook.") && t.ends_with(&format!(".{symbol}")))
            .cloned()
            .collect();
        for topic in topics {
            let depth = topic
                .split('.')
                .nth(1)
                .and_then(|d| d.parse().ok())
                .unwrap_or(50);
            let state = &self.symbols[i];
            let frame: Arc<str> = Arc::from(render::bybit_book(
                self.venue,
                symbol,
                depth,
                true,
                state.update_id,
                TimestampMs::now().as_millis(),
                &state.levels(depth as usize),
            ));
            for &conn in self.subscribers.get(&topic).into_iter().flatten() {
                deliveries.push((conn, Outbound::Text(Arc::clone(&frame))));
            }
        }
        deliveries
    }

    /// Answers a client request: Binance `{"method","params","id"}` or Bybit `{"op","args","req_id"}`.
    fn request(&mut self, conn: u64, text: &str) -> Deliveries {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return vec![(
                conn,
                Outbound::Text(Arc::from(r#"{"error":{"code":3,"msg":"Invalid JSON"}}"#)),
            )];
        };
        let strings = |key: &str| -> Vec<String> {
            value[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        match self.venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => {
                let id = value["id"].as_u64().unwrap_or(0);
                match value["method"].as_str() {
                    Some("SUBSCRIBE") => {
                        let topics = strings("params");
                        self.shared.count_subscribe_request(self.venue);
                        if let Some(bad) = topics.iter().find(|t| !self.binance_topic_accepted(t)) {
                            let frame = format!(
                                r#"{{"error":{{"code":2,"msg":"Invalid request: unknown stream {bad}"}},"id":{id}}}"#
                            );
                            return vec![(conn, Outbound::Text(Arc::from(frame)))];
                        }
                        let mut deliveries = vec![(
                            conn,
                            Outbound::Text(Arc::from(format!(r#"{{"result":null,"id":{id}}}"#))),
                        )];
                        deliveries.extend(self.subscribe(conn, topics));
                        deliveries
                    }
                    Some("UNSUBSCRIBE") => {
                        for topic in strings("params") {
                            if let Some(subscribers) = self.subscribers.get_mut(&topic) {
                                subscribers.remove(&conn);
                            }
                        }
                        vec![(
                            conn,
                            Outbound::Text(Arc::from(format!(r#"{{"result":null,"id":{id}}}"#))),
                        )]
                    }
                    _ => vec![(
                        conn,
                        Outbound::Text(Arc::from(format!(
                            r#"{{"error":{{"code":1,"msg":"Unknown method"}},"id":{id}}}"#
                        ))),
                    )],
                }
            }
            Venue::BybitSpot | Venue::BybitLinear => {
                let req_id = value["req_id"].as_str().unwrap_or_default().to_owned();
                match value["op"].as_str() {
                    Some("ping") => {
                        self.shared.count_client_ping(self.venue);
                        let frame = if self.venue == Venue::BybitSpot {
                            format!(
                                r#"{{"req_id":"{req_id}","op":"pong","args":["{}"],"conn_id":"sim-{conn}"}}"#,
                                TimestampMs::now().as_millis()
                            )
                        } else {
                            format!(
                                r#"{{"success":true,"ret_msg":"pong","conn_id":"sim-{conn}","req_id":"{req_id}","op":"ping"}}"#
                            )
                        };
                        vec![(conn, Outbound::Text(Arc::from(frame)))]
                    }
                    Some("subscribe") => {
                        self.shared.count_subscribe_request(self.venue);
                        let mut deliveries = Vec::new();
                        let mut refused = None;
                        let mut snapshots = Vec::new();
                        for topic in strings("args") {
                            if self.rejected.contains(&topic) || self.bybit_topic(&topic).is_none()
                            {
                                refused.get_or_insert(topic);
                                continue;
                            }
                            if let Some((i, Some(depth))) = self.bybit_topic(&topic) {
                                snapshots.push((i, depth, topic.clone()));
                            }
                            self.subscribers.entry(topic).or_default().insert(conn);
                        }
                        let accepted = refused.is_none();
                        let answer = match refused {
                            Some(topic) => format!(
                                r#"{{"success":false,"ret_msg":"error:handler not found,topic:{topic}","conn_id":"sim-{conn}","req_id":"{req_id}","op":"subscribe"}}"#
                            ),
                            None => format!(
                                r#"{{"success":true,"ret_msg":"subscribe","conn_id":"sim-{conn}","req_id":"{req_id}","op":"subscribe"}}"#
                            ),
                        };
                        deliveries.push((conn, Outbound::Text(Arc::from(answer))));
                        if accepted {
                            for topic in strings("args") {
                                deliveries.extend(self.replay(conn, &topic));
                            }
                        }
                        for topic in strings("args") {
                            if let Some(symbol) = topic.strip_prefix("tickers.")
                                && accepted
                                && let Some(i) =
                                    Symbol::new(symbol).ok().and_then(|s| self.symbol_index(s))
                            {
                                let now = TimestampMs::now().as_millis();
                                let value = self.derivatives_now(i, now);
                                self.symbols[i].deriv.cs += 1;
                                let frame = render::bybit_ticker(
                                    self.symbols[i].cfg.symbol,
                                    &value,
                                    render::TickerKind::Snapshot,
                                    self.symbols[i].deriv.cs,
                                );
                                self.shared.record_derivatives(
                                    self.venue,
                                    self.symbols[i].cfg.symbol,
                                    value,
                                );
                                deliveries.push((conn, Outbound::Text(Arc::from(frame))));
                            }
                        }
                        for (i, depth, _) in snapshots {
                            let state = &self.symbols[i];
                            let frame = render::bybit_book(
                                self.venue,
                                state.cfg.symbol,
                                depth,
                                true,
                                state.update_id,
                                TimestampMs::now().as_millis(),
                                &state.levels(depth as usize),
                            );
                            deliveries.push((conn, Outbound::Text(Arc::from(frame))));
                        }
                        deliveries
                    }
                    Some("unsubscribe") => {
                        for topic in strings("args") {
                            if let Some(subscribers) = self.subscribers.get_mut(&topic) {
                                subscribers.remove(&conn);
                            }
                        }
                        let answer = format!(
                            r#"{{"success":true,"ret_msg":"","conn_id":"sim-{conn}","req_id":"{req_id}","op":"unsubscribe"}}"#
                        );
                        vec![(conn, Outbound::Text(Arc::from(answer)))]
                    }
                    _ => vec![(
                        conn,
                        Outbound::Text(Arc::from(format!(
                            r#"{{"success":false,"ret_msg":"error:invalid op","req_id":"{req_id}"}}"#
                        ))),
                    )],
                }
            }
        }
    }

    /// The latest trades of a trade topic again, for a new subscriber (see
    /// [`Misbehaviour::RepeatTradesOnSubscribe`]).
    /// Subscribes `conn` to Binance `topics` (checked by the caller): what the venue repeats
    /// on subscribe, if it misbehaves so.
    fn subscribe(&mut self, conn: u64, topics: Vec<String>) -> Deliveries {
        let mut deliveries = Vec::new();
        for topic in topics {
            deliveries.extend(self.replay(conn, &topic));
            self.subscribers.entry(topic).or_default().insert(conn);
        }
        deliveries
    }

    fn replay(&self, conn: u64, topic: &str) -> Deliveries {
        if self.repeat_on_subscribe == 0 {
            return Vec::new();
        }
        let (symbol, raw) = match self.venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => match topic.split_once('@') {
                Some((symbol, "aggTrade")) => (symbol.to_ascii_uppercase(), false),
                Some((symbol, "trade")) => (symbol.to_ascii_uppercase(), true),
                _ => return Vec::new(),
            },
            Venue::BybitSpot | Venue::BybitLinear => match topic.strip_prefix("publicTrade.") {
                Some(symbol) => (symbol.to_owned(), false),
                None => return Vec::new(),
            },
        };
        let Some(i) = Symbol::new(&symbol).ok().and_then(|s| self.symbol_index(s)) else {
            return Vec::new();
        };
        let state = &self.symbols[i];
        let skip = state.recent.len().saturating_sub(self.repeat_on_subscribe);
        let trades: Vec<SimTrade> = state.recent.iter().skip(skip).cloned().collect();
        let symbol = state.cfg.symbol;
        match self.venue {
            Venue::BybitSpot | Venue::BybitLinear => trades
                .chunks(100)
                .map(|chunk| {
                    let now = chunk.last().map_or(0, |t| t.time);
                    let frame = render::bybit_trades(self.venue, symbol, chunk, now);
                    (conn, Outbound::Text(Arc::from(frame)))
                })
                .collect(),
            venue => trades
                .iter()
                .map(|trade| {
                    let frame = if raw {
                        render::binance_trade(venue, symbol, trade)
                    } else {
                        render::binance_agg_trade(venue, symbol, trade)
                    };
                    (conn, Outbound::Text(Arc::from(frame)))
                })
                .collect(),
        }
    }

    /// Returns (symbol index, channel) of a valid Binance topic. Unknown symbols are accepted
    /// (and then silent), as Binance does.
    /// Whether a Binance topic is subscribed to: known, and not rejected on command.
    fn binance_topic_accepted(&self, topic: &str) -> bool {
        !self.rejected.contains(topic) && self.binance_channel(topic).is_some()
    }

    fn binance_channel<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let (_, channel) = topic.split_once('@')?;
        let valid = match self.venue {
            Venue::BinanceSpot => matches!(
                channel,
                "aggTrade" | "trade" | "depth" | "depth@100ms" | "kline_1m"
            ),
            _ => matches!(
                channel,
                "aggTrade"
                    | "trade"
                    | "depth"
                    | "depth@100ms"
                    | "depth@500ms"
                    | "kline_1m"
                    | "forceOrder"
                    | "markPrice@1s"
            ),
        };
        valid.then_some(channel)
    }

    /// Returns (symbol index, book depth if a book topic) of a valid Bybit topic.
    fn bybit_topic(&self, topic: &str) -> Option<(usize, Option<u16>)> {
        let parts: Vec<&str> = topic.split('.').collect();
        let (depth, symbol) = match parts.as_slice() {
            ["publicTrade", symbol] => (None, *symbol),
            ["allLiquidation" | "tickers", symbol] if self.venue == Venue::BybitLinear => {
                (None, *symbol)
            }
            ["kline", "1", symbol] => (None, *symbol),
            ["orderbook", depth, symbol] => {
                let depth: u16 = depth.parse().ok()?;
                let allowed: &[u16] = if self.venue == Venue::BybitSpot {
                    &[1, 50, 200, 1000]
                } else {
                    &[1, 50, 200, 500]
                };
                if !allowed.contains(&depth) {
                    return None;
                }
                (Some(depth), *symbol)
            }
            _ => return None,
        };
        let index = self.symbol_index(Symbol::new(symbol).ok()?)?;
        Some((index, depth))
    }

    /// Connections subscribed to `topic` that the topic's data reaches on their route.
    fn audience(&self, topic: &str, book: bool) -> Vec<u64> {
        self.subscribers
            .get(topic)
            .into_iter()
            .flatten()
            .copied()
            .filter(|conn| {
                self.conns.get(conn).is_some_and(|c| match c.route {
                    Route::UsdmPublic => book,
                    Route::UsdmMarket => !book,
                    Route::BinanceStream | Route::Bybit => true,
                })
            })
            .collect()
    }

    /// One step of every symbol: trades, maybe a book diff, maybe a candle update.
    /// True while the stream is not finished.
    fn generating(&self) -> bool {
        self.params
            .steps
            .is_none_or(|steps| self.trading_steps < steps)
    }

    fn generate(&mut self, now: i64) -> Deliveries {
        self.step += 1;
        if self.running {
            self.trading_steps += 1;
            self.shared.set_steps(self.venue, self.trading_steps);
        }
        let venue = self.venue;
        let mut deliveries = Vec::new();
        let depth_step = self
            .step
            .is_multiple_of(u64::from(self.params.depth_every.max(1)));
        let kline_step = self
            .step
            .is_multiple_of(u64::from(self.params.kline_every.max(1)));
        for i in 0..self.symbols.len() {
            let trades = if self.running {
                self.trades(i, now)
            } else {
                Vec::new()
            };
            let symbol = self.symbols[i].cfg.symbol;
            self.shared.record_trades(venue, symbol, &trades);
            let recent = &mut self.symbols[i].recent;
            recent.extend(trades.iter().cloned());
            while recent.len() > MAX_REPLAY {
                recent.pop_front();
            }
            let closed = self.update_kline(i, &trades, now);
            match venue {
                Venue::BinanceSpot | Venue::BinanceUsdm => {
                    let lower = symbol.to_lowercase();
                    for (channel, raw) in [("aggTrade", false), ("trade", true)] {
                        let audience = self.audience(&format!("{lower}@{channel}"), false);
                        if audience.is_empty() {
                            continue;
                        }
                        for trade in &trades {
                            let frame: Arc<str> = Arc::from(if raw {
                                render::binance_trade(venue, symbol, trade)
                            } else {
                                render::binance_agg_trade(venue, symbol, trade)
                            });
                            deliveries.extend(
                                audience
                                    .iter()
                                    .map(|&c| (c, Outbound::Text(Arc::clone(&frame)))),
                            );
                        }
                    }
                }
                Venue::BybitSpot | Venue::BybitLinear => {
                    let audience = self.audience(&format!("publicTrade.{symbol}"), false);
                    if !audience.is_empty() && !trades.is_empty() {
                        let frame: Arc<str> =
                            Arc::from(render::bybit_trades(venue, symbol, &trades, now));
                        deliveries.extend(
                            audience
                                .iter()
                                .map(|&c| (c, Outbound::Text(Arc::clone(&frame)))),
                        );
                    }
                }
            }
            if matches!(venue, Venue::BinanceUsdm | Venue::BybitLinear) {
                deliveries.extend(self.derivatives_step(i, &trades, now));
            }
            if depth_step {
                deliveries.extend(self.book_diff(i, now));
            }
            if kline_step || closed.is_some() {
                deliveries.extend(self.kline_frames(i, closed, now));
            }
        }
        deliveries
    }

    /// The derivatives values of symbol `i` now: mark at the last trade price, index a tick
    /// under it, funding, next funding at the next 8-hour boundary, open interest.
    fn derivatives_now(&self, i: usize, now: i64) -> SimDerivatives {
        let state = &self.symbols[i];
        let mark = state.price(state.price_ticks);
        const EIGHT_HOURS: i64 = 8 * 3_600_000;
        SimDerivatives {
            time: now,
            mark,
            index: Price::from_units(mark.units() - state.tick),
            funding_rate: wadm_actors::model::Ratio::from_units(state.deriv.funding_rate),
            next_funding: (now.div_euclid(EIGHT_HOURS) + 1) * EIGHT_HOURS,
            open_interest: Qty::from_units(state.deriv.open_interest),
        }
    }

    /// Open interest follows the trades (each opens or closes as much as it trades); every
    /// second the mark/ticker is pushed (funding changes every [`FUNDING_CHANGE_SECONDS`]);
    /// a cascade makes a
    /// liquidation a step. Uses its own random numbers, so the trades stay as without it.
    fn derivatives_step(&mut self, i: usize, trades: &[SimTrade], now: i64) -> Deliveries {
        let venue = self.venue;
        let mut deliveries = Vec::new();
        let symbol = self.symbols[i].cfg.symbol;
        let lot = self.symbols[i].cfg.lot.units().max(1);
        for trade in trades {
            let change = trade.qty.units();
            let deriv = &mut self.symbols[i].deriv;
            // Deterministic: opening when the trade id is even, closing when odd.
            if trade.id.is_multiple_of(2) {
                deriv.open_interest += change;
            } else {
                deriv.open_interest = (deriv.open_interest - change).max(lot);
            }
        }
        if !trades.is_empty() {
            let oi = Qty::from_units(self.symbols[i].deriv.open_interest);
            self.shared.set_open_interest(venue, symbol, oi, now);
        }
        if self.symbols[i].deriv.cascade > 0 {
            self.symbols[i].deriv.cascade -= 1;
            let state = &self.symbols[i];
            let k = i128::from(1 + (state.deriv.cascade % 7));
            let liquidation = SimLiquidation {
                time: now,
                position: if state.deriv.cascade.is_multiple_of(3) {
                    PositionSide::Short
                } else {
                    PositionSide::Long
                },
                price: state.price(state.price_ticks - 3),
                qty: Qty::from_units(lot * 10 * k),
            };
            match venue {
                Venue::BybitLinear => {
                    self.shared
                        .record_liquidations(venue, symbol, &[(liquidation, true)]);
                    let frame: Arc<str> =
                        Arc::from(render::bybit_liquidations(symbol, &[liquidation], now));
                    for conn in self.audience(&format!("allLiquidation.{symbol}"), false) {
                        deliveries.push((conn, Outbound::Text(Arc::clone(&frame))));
                    }
                }
                _ => self.symbols[i].deriv.this_second.push(liquidation),
            }
        }
        let second = now.div_euclid(1_000);
        if second != self.symbols[i].deriv.last_second {
            self.symbols[i].deriv.last_second = second;
            let funding_changed = second.rem_euclid(FUNDING_CHANGE_SECONDS) == 0;
            if funding_changed {
                let deriv = &mut self.symbols[i].deriv;
                deriv.funding_rate = -deriv.funding_rate + 10_000_000;
            }
            // Binance: the largest liquidation of the second that ended is pushed.
            let made = std::mem::take(&mut self.symbols[i].deriv.this_second);
            if let Some(largest) = made.iter().max_by_key(|l| l.qty).copied() {
                let records: Vec<(SimLiquidation, bool)> =
                    made.iter().map(|l| (*l, *l == largest)).collect();
                self.shared.record_liquidations(venue, symbol, &records);
                let frame: Arc<str> = Arc::from(render::binance_force_order(symbol, &largest));
                let topic = format!("{}@forceOrder", symbol.to_lowercase());
                for conn in self.audience(&topic, false) {
                    deliveries.push((conn, Outbound::Text(Arc::clone(&frame))));
                }
            }
            let value = self.derivatives_now(i, now);
            let (topic, frame) = match venue {
                Venue::BybitLinear => {
                    self.symbols[i].deriv.cs += 1;
                    (
                        format!("tickers.{symbol}"),
                        render::bybit_ticker(
                            symbol,
                            &value,
                            render::TickerKind::Delta { funding_changed },
                            self.symbols[i].deriv.cs,
                        ),
                    )
                }
                _ => (
                    format!("{}@markPrice@1s", symbol.to_lowercase()),
                    render::binance_mark_price(symbol, &value),
                ),
            };
            let audience = self.audience(&topic, false);
            if !audience.is_empty() {
                self.shared.record_derivatives(venue, symbol, value);
                let frame: Arc<str> = Arc::from(frame);
                for conn in audience {
                    deliveries.push((conn, Outbound::Text(Arc::clone(&frame))));
                }
            }
        }
        deliveries
    }

    fn trades(&mut self, i: usize, now: i64) -> Vec<SimTrade> {
        if let Some((side, lots, count, step_ticks)) = self.symbols[i].burst.take() {
            let floor = self.params.book_levels + 2;
            let state = &mut self.symbols[i];
            let lot = state.cfg.lot.units().max(1);
            let mut trades = Vec::with_capacity(count as usize);
            for _ in 0..count {
                state.price_ticks = (state.price_ticks + step_ticks).max(floor);
                let id = state.next_trade_id;
                state.next_trade_id += 1;
                trades.push(SimTrade {
                    id,
                    price: state.price(state.price_ticks),
                    qty: Qty::from_units(lot * i128::from(lots)),
                    side,
                    time: now,
                });
            }
            return trades;
        }
        let count = self.rng.u32(1..=self.params.max_trades_per_step.max(1));
        let lot = self.symbols[i].cfg.lot.units().max(1);
        let mut trades = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let side = if self.rng.bool() {
                Side::Buy
            } else {
                Side::Sell
            };
            let state = &mut self.symbols[i];
            match self.rng.u8(0..10) {
                0 => state.price_ticks += 1,
                1 => state.price_ticks = (state.price_ticks - 1).max(self.params.book_levels + 2),
                _ => {}
            }
            let id = state.next_trade_id;
            state.next_trade_id += 1;
            let price = state.price(state.price_ticks);
            trades.push(SimTrade {
                id,
                price,
                qty: Qty::from_units(lot * i128::from(self.rng.u32(1..=50))),
                side,
                time: now,
            });
        }
        trades
    }

    /// Moves the book around the current price; returns the diff frames.
    fn book_diff(&mut self, i: usize, now: i64) -> Deliveries {
        let levels = self.params.book_levels;
        let lot = self.symbols[i].cfg.lot.units().max(1);
        let changes: Vec<(bool, i64, i128)> = (0..self.rng.usize(1..=4))
            .map(|_| {
                let bid = self.rng.bool();
                let k = self.rng.i64(1..=levels);
                let qty = if self.rng.u8(0..5) == 0 {
                    0
                } else {
                    lot * i128::from(self.rng.u32(1..200))
                };
                (bid, k, qty)
            })
            .collect();
        let skip = std::mem::take(&mut self.symbols[i].skip_next);
        let venue = self.venue;
        let state = &mut self.symbols[i];
        let mut change = SimLevels::default();
        // Keep the book uncrossed around the current price.
        let price = state.price_ticks;
        let crossed_bids: Vec<i64> = state.bids.range(price..).map(|(&p, _)| p).collect();
        for p in crossed_bids {
            state.bids.remove(&p);
            change.bids.push((state.price(p), Qty::ZERO));
        }
        let crossed_asks: Vec<i64> = state.asks.range(..=price).map(|(&p, _)| p).collect();
        for p in crossed_asks {
            state.asks.remove(&p);
            change.asks.push((state.price(p), Qty::ZERO));
        }
        for (bid, k, qty) in changes {
            let (side, levels_out, p) = if bid {
                (&mut state.bids, &mut change.bids, price - k)
            } else {
                (&mut state.asks, &mut change.asks, price + k)
            };
            if qty == 0 {
                side.remove(&p);
            } else {
                side.insert(p, qty);
            }
            levels_out.push((
                Price::from_units(i128::from(p) * state.tick),
                Qty::from_units(qty),
            ));
        }
        // A skip hides one event from subscribers: the next diff starts after it, and its pu
        // names the hidden event's u, which no subscriber has seen.
        let previous = if skip {
            state.update_id + 2
        } else {
            state.update_id
        };
        let (first, last) = match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => {
                let first = previous + 1;
                (first, first + self.rng.u64(0..3))
            }
            Venue::BybitSpot | Venue::BybitLinear => {
                let id = previous + 1;
                (id, id)
            }
        };
        let state = &mut self.symbols[i];
        state.update_id = last;
        let symbol = state.cfg.symbol;
        let mut deliveries = Vec::new();
        match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => {
                for stream in ["depth", "depth@100ms", "depth@500ms"] {
                    let audience =
                        self.audience(&format!("{}@{stream}", symbol.to_lowercase()), true);
                    if audience.is_empty() {
                        continue;
                    }
                    let frame: Arc<str> = Arc::from(render::binance_depth(
                        venue, symbol, stream, first, last, previous, now, &change,
                    ));
                    deliveries.extend(
                        audience
                            .iter()
                            .map(|&c| (c, Outbound::Text(Arc::clone(&frame)))),
                    );
                }
            }
            Venue::BybitSpot | Venue::BybitLinear => {
                for depth in [1u16, 50, 200, 500, 1000] {
                    let audience = self.audience(&format!("orderbook.{depth}.{symbol}"), true);
                    if audience.is_empty() {
                        continue;
                    }
                    let frame: Arc<str> = Arc::from(render::bybit_book(
                        venue, symbol, depth, false, last, now, &change,
                    ));
                    deliveries.extend(
                        audience
                            .iter()
                            .map(|&c| (c, Outbound::Text(Arc::clone(&frame)))),
                    );
                }
            }
        }
        deliveries
    }

    /// Adds trades to the current minute's candle; returns the previous candle if the
    /// minute turned.
    fn update_kline(&mut self, i: usize, trades: &[SimTrade], now: i64) -> Option<SimKline> {
        let minute = now - now.rem_euclid(60_000);
        let state = &mut self.symbols[i];
        let mut closed = None;
        if state.kline.as_ref().is_some_and(|k| k.open_time != minute) {
            closed = state.kline.take();
        }
        for trade in trades {
            let notional = trade.price.units() / 1_000_000 * trade.qty.units() / 1_000_000;
            let kline = state.kline.get_or_insert(SimKline {
                open_time: minute,
                open: trade.price,
                high: trade.price,
                low: trade.price,
                close: trade.price,
                volume: Qty::ZERO,
                quote_volume: Qty::ZERO,
                taker_buy_volume: Qty::ZERO,
                trades: 0,
                first_id: trade.id,
                last_id: trade.id,
            });
            kline.high = kline.high.max(trade.price);
            kline.low = kline.low.min(trade.price);
            kline.close = trade.price;
            kline.volume += trade.qty;
            kline.quote_volume += Qty::from_units(notional);
            if trade.side == Side::Buy {
                kline.taker_buy_volume += trade.qty;
            }
            kline.trades += 1;
            kline.last_id = trade.id;
        }
        closed
    }

    fn kline_frames(&self, i: usize, closed: Option<SimKline>, now: i64) -> Deliveries {
        let state = &self.symbols[i];
        let symbol = state.cfg.symbol;
        let topic = match self.venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => {
                format!("{}@kline_1m", symbol.to_lowercase())
            }
            Venue::BybitSpot | Venue::BybitLinear => format!("kline.1.{symbol}"),
        };
        let audience = self.audience(&topic, false);
        if audience.is_empty() {
            return Vec::new();
        }
        let render = |kline: &SimKline, is_closed: bool| -> Arc<str> {
            Arc::from(match self.venue {
                Venue::BinanceSpot | Venue::BinanceUsdm => {
                    render::binance_kline(self.venue, symbol, kline, is_closed, now)
                }
                Venue::BybitSpot | Venue::BybitLinear => {
                    render::bybit_kline(self.venue, symbol, kline, is_closed, now)
                }
            })
        };
        let mut frames = Vec::new();
        if let Some(kline) = &closed {
            frames.push(render(kline, true));
        }
        if let Some(kline) = &state.kline {
            frames.push(render(kline, false));
        }
        frames
            .into_iter()
            .flat_map(|frame| {
                audience
                    .iter()
                    .map(move |&c| (c, Outbound::Text(Arc::clone(&frame))))
            })
            .collect()
    }
}
