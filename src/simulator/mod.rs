//! A simulated exchange on 127.0.0.1 that speaks each venue's WebSocket and REST protocol,
//! for tests, benchmarks and `wadm simulate`.
//!
//! One port serves every venue, on the venues' own paths:
//!
//! | venue | WebSocket | REST |
//! |---|---|---|
//! | binance-spot | `/stream` (topics subscribed by request or named in the URL, `?streams=a/b`) | `/api/v3/depth`, `/api/v3/exchangeInfo`, `/api/v3/aggTrades` |
//! | binance-usdm | `/public/stream` (depth), `/market/stream` (aggTrade, trade, kline, forceOrder, markPrice@1s) | `/fapi/v1/depth`, `/fapi/v1/exchangeInfo`, `/fapi/v1/aggTrades`, `/fapi/v1/openInterest` |
//! | bybit-spot, bybit-linear | `/v5/public/spot`, `/v5/public/linear` | `/v5/market/instruments-info`, `/v5/market/recent-trade` |
//!
//! REST answers count against each venue's rate limit, as the venues do (see [`rest`]).
//! The same port serves the venues' daily trade archives of finished days, built from
//! the simulated history (see [`archive`]; point a venue's `archive_url` at [`Simulator::rest_url`]).
//!
//! It misbehaves on command (the [`Simulator`] methods, or `POST /sim/<venue>/<action>`):
//! disconnect (abruptly or cleanly), go silent with TCP open, send garbage, skip a book
//! sequence id, reset a Bybit book (`u = 1`) or resend its snapshot, announce a Binance
//! `serverShutdown`, reject a topic, refuse connections.

mod archive;
mod market;
pub mod render;
mod rest;
mod shared;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use url::Url;
use wadm_actors::model::{Price, Qty, Symbol, Venue};
use warp::Filter as _;
use warp::http::StatusCode;
use warp::reply::Reply;
use warp::ws::{Message, WebSocket, Ws};

pub use archive::ArchiveCounters;
pub use market::{GeneratorParams, Misbehaviour, Pace, SimSymbol};
pub use rest::RestCounters;
pub use shared::{SimCounters, SymbolTotals};

use market::{Market, MarketCommand, Outbound, Route};
use shared::SimShared;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// Venues and their instruments.
    pub venues: Vec<(Venue, Vec<SimSymbol>)>,
    /// Real time or full speed.
    pub pace: Pace,
    /// Generation parameters.
    pub params: GeneratorParams,
    /// Interval of Binance's server pings.
    pub server_ping_interval: Duration,
    /// Keep every generated trade, for range reconciliation in tests.
    pub record_trades: bool,
    /// Wait for [`Simulator::start_markets`] before generating anything, so that a test can
    /// have the daemon subscribed before the first trade.
    pub gated: bool,
    /// Past trades to hold at start (served by REST, never sent on a socket).
    pub history: Option<SimHistory>,
}

/// Past trades a simulated market holds at start, every symbol alike.
#[derive(Debug, Clone, Copy)]
pub struct SimHistory {
    /// How far back (ending now).
    pub span: Duration,
    /// Trades a minute, on average.
    pub trades_per_minute: u32,
}

impl SimConfig {
    /// A real-time simulation of `venues` x `symbols` on a free local port: a step every
    /// 10 ms, 1-3 trades per symbol per step, a book diff every step.
    pub fn local(venues: &[Venue], symbols: &[&str]) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            venues: venues
                .iter()
                .map(|&venue| {
                    (
                        venue,
                        symbols
                            .iter()
                            .filter_map(|s| Symbol::new(s).ok())
                            .map(|s| default_symbol(venue, s))
                            .collect(),
                    )
                })
                .collect(),
            pace: Pace::RealTime {
                tick: Duration::from_millis(10),
            },
            params: GeneratorParams {
                max_trades_per_step: 3,
                depth_every: 1,
                kline_every: 10,
                book_levels: 20,
                seed: 7,
                steps: None,
            },
            server_ping_interval: Duration::from_secs(20),
            record_trades: false,
            gated: false,
            history: None,
        }
    }
}

/// A realistic starting point for a symbol on a venue.
pub fn default_symbol(venue: Venue, symbol: Symbol) -> SimSymbol {
    let futures = matches!(venue, Venue::BinanceUsdm | Venue::BybitLinear);
    let (price, tick, lot) = match symbol.as_str() {
        "BTCUSDT" => (
            "60000",
            if futures { "0.1" } else { "0.01" },
            if futures { "0.001" } else { "0.00001" },
        ),
        "ETHUSDT" => ("3000", "0.01", "0.0001"),
        "SOLUSDT" => ("150", "0.01", "0.001"),
        "XRPUSDT" => ("0.6", "0.0001", "0.1"),
        _ => ("10", "0.001", "0.01"),
    };
    SimSymbol {
        symbol,
        start_price: price.parse().unwrap_or(Price::from_int(10)),
        tick: tick.parse().unwrap_or(Price::from_units(1_000_000_000)),
        lot: lot.parse().unwrap_or(Qty::from_units(10_000_000_000)),
    }
}

#[derive(Debug)]
struct VenueHandle {
    commands: mpsc::Sender<MarketCommand>,
    symbols: Vec<SimSymbol>,
}

#[derive(Debug)]
struct Inner {
    venues: HashMap<Venue, VenueHandle>,
    shared: Arc<SimShared>,
    next_conn: AtomicU64,
    server_ping_interval: Duration,
    rest: rest::RestLimits,
    archives: archive::Archives,
}

/// A running simulated exchange.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    markets: Vec<JoinHandle<()>>,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
#[error("the simulator cannot listen on {addr}")]
pub struct SimError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

impl Simulator {
    /// Starts the simulator.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| SimError {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError {
            addr: config.bind,
            source,
        })?;
        let shared = Arc::new(SimShared::new(
            config.venues.iter().map(|(v, _)| *v),
            config.record_trades,
        ));
        let mut venues = HashMap::new();
        let mut markets = Vec::new();
        let now = wadm_actors::model::TimestampMs::now().as_millis();
        for (venue, symbols) in config.venues {
            let (commands, rx) = mpsc::channel(4096);
            let mut market = Market::new(
                venue,
                symbols.clone(),
                config.params,
                config.pace,
                Arc::clone(&shared),
            )
            .gated(config.gated);
            if let Some(history) = config.history {
                let span = i64::try_from(history.span.as_millis()).unwrap_or(0);
                market = market.with_history(now - span, now, history.trades_per_minute);
            }
            markets.push(tokio::spawn(market.run(rx)));
            venues.insert(venue, VenueHandle { commands, symbols });
        }
        let inner = Arc::new(Inner {
            venues,
            shared,
            next_conn: AtomicU64::new(1),
            server_ping_interval: config.server_ping_interval,
            rest: rest::RestLimits::default(),
            archives: archive::Archives::default(),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let server = warp::serve(routes(Arc::clone(&inner)))
            .incoming(listener)
            .graceful(async move {
                let _ = stopped.await;
            });
        let server = tokio::spawn(server.run());
        Ok(Simulator {
            addr,
            inner,
            stop: Some(stop),
            server,
            markets,
        })
    }

    /// The venues it simulates, in [`Venue::ALL`]'s order.
    pub fn venues(&self) -> Vec<Venue> {
        Venue::ALL
            .into_iter()
            .filter(|v| self.inner.venues.contains_key(v))
            .collect()
    }

    /// Returns the address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the WebSocket base URL to configure for `venue`.
    pub fn ws_url(&self, venue: Venue) -> Url {
        let path = match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => "",
            Venue::BybitSpot => "/v5/public/spot",
            Venue::BybitLinear => "/v5/public/linear",
        };
        Url::parse(&format!("ws://{}{path}", self.addr)).unwrap_or_else(|_| unreachable_url())
    }

    /// Returns the REST base URL to configure for any venue.
    pub fn rest_url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).unwrap_or_else(|_| unreachable_url())
    }

    /// Makes `venue` misbehave.
    /// The open interest of a derivatives symbol now, and when it last changed.
    pub fn open_interest(&self, venue: Venue, symbol: Symbol) -> Option<(Qty, i64)> {
        self.inner.shared.open_interest(venue, symbol)
    }

    pub async fn misbehave(&self, venue: Venue, misbehaviour: Misbehaviour) {
        if let Some(handle) = self.inner.venues.get(&venue) {
            let _ = handle
                .commands
                .send(MarketCommand::Misbehave(misbehaviour))
                .await;
        }
    }

    /// Returns the `WADM__VENUES__<VENUE>__{SYMBOLS,WS_URL,REST_URL,ARCHIVE_URL}` variables that point a
    /// daemon's `venues` at this simulator, collecting `symbols`.
    pub fn venue_env(&self, venues: &[Venue], symbols: &[&str]) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for &venue in venues {
            let key = venue.as_str().replace('-', "_").to_ascii_uppercase();
            env.push((format!("WADM__VENUES__{key}__SYMBOLS"), symbols.join(",")));
            env.push((
                format!("WADM__VENUES__{key}__WS_URL"),
                self.ws_url(venue).to_string(),
            ));
            env.push((
                format!("WADM__VENUES__{key}__REST_URL"),
                self.rest_url().to_string(),
            ));
            env.push((
                format!("WADM__VENUES__{key}__ARCHIVE_URL"),
                self.rest_url().to_string(),
            ));
        }
        env
    }

    /// Starts the markets of a gated simulator.
    pub async fn start_markets(&self) {
        for handle in self.inner.venues.values() {
            let _ = handle.commands.send(MarketCommand::Start).await;
        }
    }

    /// Stops generating trades until [`Simulator::start_markets`].
    /// Returns once every market has stopped: no trade is generated after it.
    pub async fn pause_markets(&self) {
        for handle in self.inner.venues.values() {
            let _ = handle.commands.send(MarketCommand::Pause).await;
        }
        for handle in self.inner.venues.values() {
            let (done, answer) = oneshot::channel();
            if handle
                .commands
                .send(MarketCommand::Sync(done))
                .await
                .is_ok()
            {
                let _ = answer.await;
            }
        }
    }

    /// Returns true once every venue has generated its finite stream (`params.steps`).
    pub fn finished(&self, steps: u64) -> bool {
        self.inner
            .venues
            .keys()
            .all(|&venue| self.inner.shared.counters(venue).steps >= steps)
    }

    /// Sets `venue`'s REST limit: weight per minute (Binance) or requests per 5 s (Bybit).
    pub fn set_rest_limit(&self, venue: Venue, limit: u64) {
        self.inner.rest.set_limit(venue, limit);
    }

    /// Makes the next `count` REST requests to `venue` answer `status` (429 or 418) with
    /// `Retry-After: retry_after` seconds.
    pub fn force_rest_status(&self, venue: Venue, status: u16, retry_after: u64, count: usize) {
        self.inner.rest.force(venue, status, retry_after, count);
    }

    /// Returns what `venue`'s REST side has seen.
    pub fn rest_counters(&self, venue: Venue) -> RestCounters {
        self.inner.rest.counters(venue)
    }

    /// What `venue`'s daily-archive side has answered.
    pub fn archive_counters(&self, venue: Venue) -> ArchiveCounters {
        self.inner.archives.counters(venue)
    }

    /// Makes the archives' `.CHECKSUM` files name a wrong digest (`true`) or the right one.
    pub fn corrupt_archive_checksums(&self, corrupt: bool) {
        self.inner.archives.corrupt_checksums(corrupt);
    }

    /// The bytes of `venue`'s archive of `symbol` for the UTC day starting at `day` (ms),
    /// as served (empty for a day without trades, which has no file).
    pub fn archive_bytes(&self, venue: Venue, symbol: Symbol, day: i64) -> Vec<u8> {
        self.inner
            .archives
            .file(&self.inner, venue, symbol, day)
            .map(|file| file.to_vec())
            .unwrap_or_default()
    }

    /// Refuses the next `count` connection attempts to `venue` (HTTP 503).
    pub fn refuse_connections(&self, venue: Venue, count: u64) {
        self.inner.shared.add_refusals(venue, count);
    }

    /// Accepts connections to `venue` again (cancels pending refusals).
    pub fn accept_connections(&self, venue: Venue) {
        self.inner.shared.clear_refusals(venue);
    }

    /// Returns what `venue` generated for `symbol`.
    pub fn totals(&self, venue: Venue, symbol: Symbol) -> SymbolTotals {
        self.inner.shared.totals(venue, symbol)
    }

    /// Returns `venue`'s counters.
    pub fn counters(&self, venue: Venue) -> SimCounters {
        self.inner.shared.counters(venue)
    }

    /// Returns how many REST depth snapshots of `symbol` were served.
    pub fn depth_requests(&self, venue: Venue, symbol: Symbol) -> u64 {
        self.inner.shared.depth_requests(venue, symbol)
    }

    /// Stops the server and the markets.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.abort();
        for market in &self.markets {
            market.abort();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
        for market in &self.markets {
            market.abort();
        }
    }
}

/// `ws://` + a socket address is always a URL.
fn unreachable_url() -> Url {
    Url::parse("ws://127.0.0.1").unwrap_or_else(|_| panic!("a constant URL parses"))
}

type Shared = Arc<Inner>;

fn with_inner(
    inner: Shared,
) -> impl warp::Filter<Extract = (Shared,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || Arc::clone(&inner))
}

fn routes(inner: Shared) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let socket = |path: warp::filters::BoxedFilter<()>, venue: Venue, route: Route| {
        path.and(warp::ws())
            .and(warp::query::<HashMap<String, String>>())
            .and(with_inner(Arc::clone(&inner)))
            .map(
                move |ws: Ws, query: HashMap<String, String>, inner: Shared| {
                    upgrade(ws, inner, venue, route, url_streams(venue, &query))
                },
            )
            .boxed()
    };
    let spot = socket(
        warp::path!("stream").boxed(),
        Venue::BinanceSpot,
        Route::BinanceStream,
    );
    let public = socket(
        warp::path!("public" / "stream").boxed(),
        Venue::BinanceUsdm,
        Route::UsdmPublic,
    );
    let market = socket(
        warp::path!("market" / "stream").boxed(),
        Venue::BinanceUsdm,
        Route::UsdmMarket,
    );
    let bybit_spot = socket(
        warp::path!("v5" / "public" / "spot").boxed(),
        Venue::BybitSpot,
        Route::Bybit,
    );
    let bybit_linear = socket(
        warp::path!("v5" / "public" / "linear").boxed(),
        Venue::BybitLinear,
        Route::Bybit,
    );

    let query = warp::query::<HashMap<String, String>>();
    let depth = |path: warp::filters::BoxedFilter<()>, venue: Venue| {
        warp::get()
            .and(path)
            .and(query)
            .and(with_inner(Arc::clone(&inner)))
            .then(move |q: HashMap<String, String>, inner: Shared| depth_snapshot(inner, venue, q))
            .boxed()
    };
    let spot_depth = depth(
        warp::path!("api" / "v3" / "depth").boxed(),
        Venue::BinanceSpot,
    );
    let usdm_depth = depth(
        warp::path!("fapi" / "v1" / "depth").boxed(),
        Venue::BinanceUsdm,
    );
    let info = |path: warp::filters::BoxedFilter<()>, venue: Option<Venue>| {
        warp::get()
            .and(path)
            .and(query)
            .and(with_inner(Arc::clone(&inner)))
            .map(move |q: HashMap<String, String>, inner: Shared| instruments(&inner, venue, &q))
            .boxed()
    };
    let spot_info = info(
        warp::path!("api" / "v3" / "exchangeInfo").boxed(),
        Some(Venue::BinanceSpot),
    );
    let usdm_info = info(
        warp::path!("fapi" / "v1" / "exchangeInfo").boxed(),
        Some(Venue::BinanceUsdm),
    );
    let bybit_info = info(
        warp::path!("v5" / "market" / "instruments-info").boxed(),
        None,
    );
    let agg = |path: warp::filters::BoxedFilter<()>, venue: Venue| {
        warp::get()
            .and(path)
            .and(query)
            .and(with_inner(Arc::clone(&inner)))
            .map(move |q: HashMap<String, String>, inner: Shared| {
                rest::agg_trades(&inner, venue, &q)
            })
            .boxed()
    };
    let spot_trades = agg(
        warp::path!("api" / "v3" / "aggTrades").boxed(),
        Venue::BinanceSpot,
    );
    let usdm_trades = agg(
        warp::path!("fapi" / "v1" / "aggTrades").boxed(),
        Venue::BinanceUsdm,
    );
    let usdm_open_interest = warp::get()
        .and(warp::path!("fapi" / "v1" / "openInterest"))
        .and(query)
        .and(with_inner(Arc::clone(&inner)))
        .map(|q: HashMap<String, String>, inner: Shared| rest::open_interest(&inner, &q))
        .boxed();
    let bybit_trades = warp::get()
        .and(warp::path!("v5" / "market" / "recent-trade"))
        .and(query)
        .and(with_inner(Arc::clone(&inner)))
        .map(|q: HashMap<String, String>, inner: Shared| rest::recent_trades(&inner, &q))
        .boxed();

    let control = warp::post()
        .and(warp::path!("sim" / String / String))
        .and(query)
        .and(with_inner(Arc::clone(&inner)))
        .then(
            |venue: String, action: String, q: HashMap<String, String>, inner: Shared| {
                control(inner, venue, action, q)
            },
        )
        .boxed();
    let stats = warp::get()
        .and(warp::path!("sim" / String / "stats"))
        .and(with_inner(Arc::clone(&inner)))
        .map(|venue: String, inner: Shared| match venue.parse::<Venue>() {
            Ok(venue) => {
                let totals: HashMap<String, SymbolTotals> = inner
                    .venues
                    .get(&venue)
                    .map(|v| v.symbols.iter().map(|s| (s.symbol.to_string(), inner.shared.totals(venue, s.symbol))).collect())
                    .unwrap_or_default();
                warp::reply::json(&serde_json::json!({"counters": inner.shared.counters(venue), "totals": totals})).into_response()
            }
            Err(err) => warp::reply::with_status(err.to_string(), StatusCode::NOT_FOUND).into_response(),
        })
        .boxed();

    let archives = warp::get()
        .and(warp::path::tail())
        .and(warp::header::optional::<String>("range"))
        .and(with_inner(Arc::clone(&inner)))
        .map(
            |tail: warp::path::Tail, range: Option<String>, inner: Shared| {
                archive::answer(&inner, tail.as_str(), range.as_deref())
            },
        )
        .boxed();

    spot.or(public)
        .unify()
        .or(market)
        .unify()
        .or(bybit_spot)
        .unify()
        .or(bybit_linear)
        .unify()
        .or(spot_depth)
        .unify()
        .or(usdm_depth)
        .unify()
        .or(spot_info)
        .unify()
        .or(usdm_info)
        .unify()
        .or(bybit_info)
        .unify()
        .or(spot_trades)
        .unify()
        .or(usdm_trades)
        .unify()
        .or(usdm_open_interest)
        .unify()
        .or(bybit_trades)
        .unify()
        .or(control)
        .unify()
        .or(stats)
        .unify()
        .or(archives)
        .unify()
        .boxed()
}

/// A symbol's base and quote assets, as Binance's instrument list names them.
fn assets(symbol: &str) -> (&str, &str) {
    ["USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH"]
        .iter()
        .find_map(|quote| {
            symbol
                .strip_suffix(quote)
                .filter(|base| !base.is_empty())
                .map(|base| (base, *quote))
        })
        .unwrap_or((symbol, ""))
}

/// Binance combined-stream topics named in the URL (`?streams=btcusdt@aggTrade/...`).
fn url_streams(venue: Venue, query: &HashMap<String, String>) -> Vec<String> {
    if !matches!(venue, Venue::BinanceSpot | Venue::BinanceUsdm) {
        return Vec::new();
    }
    query
        .get("streams")
        .map(|s| {
            s.split('/')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn upgrade(
    ws: Ws,
    inner: Shared,
    venue: Venue,
    route: Route,
    streams: Vec<String>,
) -> warp::reply::Response {
    let Some(commands) = inner.venues.get(&venue).map(|v| v.commands.clone()) else {
        return warp::reply::with_status("venue not simulated", StatusCode::NOT_FOUND)
            .into_response();
    };
    if inner.shared.take_refusal(venue) {
        return warp::reply::with_status(
            "refused by the simulator",
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .into_response();
    }
    ws.max_message_size(1 << 20)
        .on_upgrade(move |socket| serve_socket(socket, inner, venue, route, commands, streams))
        .into_response()
}

/// One client socket: forwards client frames to the market and market frames to the client;
/// Binance sockets also get server pings.
async fn serve_socket(
    socket: WebSocket,
    inner: Shared,
    venue: Venue,
    route: Route,
    commands: mpsc::Sender<MarketCommand>,
    streams: Vec<String>,
) {
    let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let (out, mut outgoing) = mpsc::channel(8192);
    if commands
        .send(MarketCommand::Register { conn, route, out })
        .await
        .is_err()
    {
        return;
    }
    if !streams.is_empty()
        && commands
            .send(MarketCommand::UrlStreams {
                conn,
                topics: streams,
            })
            .await
            .is_err()
    {
        return;
    }
    let (mut sink, mut incoming) = socket.split();
    let binance = matches!(venue, Venue::BinanceSpot | Venue::BinanceUsdm);
    let period = inner.server_ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut silent = false;
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(message)) => {
                    if let Ok(text) = message.to_str() {
                        if !silent {
                            let _ = commands.send(MarketCommand::Request { conn, text: text.to_owned() }).await;
                        }
                    } else if message.is_pong() {
                        inner.shared.count_pong(venue);
                    } else if message.is_close() {
                        break;
                    }
                }
                _ => break,
            },
            outbound = outgoing.recv() => {
                // Write everything already queued, then flush once: a syscall per batch, not
                // per frame.
                let mut next = outbound;
                let mut keep_going = true;
                loop {
                    match next {
                        Some(Outbound::Text(text)) if !silent => {
                            if sink.feed(Message::text(&*text)).await.is_err() {
                                keep_going = false;
                                break;
                            }
                        }
                        Some(Outbound::Binary(bytes)) if !silent => {
                            if sink.feed(Message::binary(bytes)).await.is_err() {
                                keep_going = false;
                                break;
                            }
                        }
                        Some(Outbound::Text(_) | Outbound::Binary(_)) => {}
                        Some(Outbound::Silence) => silent = true,
                        Some(Outbound::Close) => {
                            let _ = sink.send(Message::close()).await;
                            let _ = sink.close().await;
                            keep_going = false;
                            break;
                        }
                        Some(Outbound::Drop) | None => {
                            keep_going = false;
                            break;
                        }
                    }
                    match outgoing.try_recv() {
                        Ok(message) => next = Some(message),
                        Err(_) => break,
                    }
                }
                if !keep_going || sink.flush().await.is_err() {
                    break;
                }
            }
            _ = ping.tick(), if binance && !silent => {
                if sink.send(Message::ping(Vec::new())).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = commands.send(MarketCommand::Unregister { conn }).await;
}

async fn depth_snapshot(
    inner: Shared,
    venue: Venue,
    query: HashMap<String, String>,
) -> warp::reply::Response {
    let invalid = || {
        warp::reply::with_status(
            warp::reply::json(&serde_json::json!({"code": -1121, "msg": "Invalid symbol."})),
            StatusCode::BAD_REQUEST,
        )
        .into_response()
    };
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100);
    let weight = wadm_actors::connection::rest_budget::weights::depth(
        venue,
        u32::try_from(limit).unwrap_or(u32::MAX),
    );
    let headers = match inner.rest.admit(venue, u64::from(weight), false) {
        Ok(headers) => headers,
        Err(refused) => return *refused,
    };
    let (Some(handle), Some(symbol)) = (
        inner.venues.get(&venue),
        query.get("symbol").and_then(|s| Symbol::new(s).ok()),
    ) else {
        return invalid();
    };
    let (reply, answer) = oneshot::channel();
    if handle
        .commands
        .send(MarketCommand::Snapshot {
            symbol,
            limit,
            reply,
        })
        .await
        .is_err()
    {
        return invalid();
    }
    let Ok(Some((last_update_id, levels))) = answer.await else {
        return invalid();
    };
    let places = render::places(venue);
    let side = |levels: &[(Price, Qty)]| -> Vec<[String; 2]> {
        levels
            .iter()
            .map(|(p, q)| {
                [
                    render::fixed(p.units(), places),
                    render::fixed(q.units(), places),
                ]
            })
            .collect()
    };
    let mut body = serde_json::json!({"lastUpdateId": last_update_id, "bids": side(&levels.bids), "asks": side(&levels.asks)});
    if venue == Venue::BinanceUsdm {
        let now = wadm_actors::model::TimestampMs::now().as_millis();
        body["E"] = now.into();
        body["T"] = now.into();
    }
    rest::with_headers(warp::reply::json(&body).into_response(), headers)
}

fn instruments(
    inner: &Inner,
    venue: Option<Venue>,
    query: &HashMap<String, String>,
) -> warp::reply::Response {
    let venue = venue.or_else(|| match query.get("category").map(String::as_str) {
        Some("spot") => Some(Venue::BybitSpot),
        Some("linear") => Some(Venue::BybitLinear),
        _ => None,
    });
    let Some((venue, handle)) = venue.and_then(|v| inner.venues.get(&v).map(|h| (v, h))) else {
        return warp::reply::with_status(
            warp::reply::json(&serde_json::json!({"code": -1, "msg": "venue not simulated"})),
            StatusCode::NOT_FOUND,
        )
        .into_response();
    };
    let weight = wadm_actors::connection::rest_budget::weights::instruments(venue);
    let headers = match inner.rest.admit(venue, u64::from(weight), false) {
        Ok(headers) => headers,
        Err(refused) => return *refused,
    };
    rest::with_headers(instrument_list(venue, handle, query), headers)
}

fn instrument_list(
    venue: Venue,
    handle: &VenueHandle,
    query: &HashMap<String, String>,
) -> warp::reply::Response {
    let wanted = query.get("symbol").map(|s| s.to_ascii_uppercase());
    let listed: Vec<&SimSymbol> = handle
        .symbols
        .iter()
        .filter(|s| wanted.as_deref().is_none_or(|w| s.symbol.as_str() == w))
        .collect();
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm => {
            if wanted.is_some() && listed.is_empty() {
                return warp::reply::with_status(
                    warp::reply::json(
                        &serde_json::json!({"code": -1121, "msg": "Invalid symbol."}),
                    ),
                    StatusCode::BAD_REQUEST,
                )
                .into_response();
            }
            let symbols: Vec<serde_json::Value> = listed
                .iter()
                .map(|s| {
                    let (base, quote) = assets(s.symbol.as_str());
                    serde_json::json!({
                        "symbol": s.symbol.as_str(),
                        "status": "TRADING",
                        "baseAsset": base,
                        "quoteAsset": quote,
                        "filters": [
                            {"filterType": "PRICE_FILTER", "tickSize": s.tick.to_string()},
                            {"filterType": "LOT_SIZE", "stepSize": s.lot.to_string()},
                        ],
                    })
                })
                .collect();
            warp::reply::json(&serde_json::json!({"timezone": "UTC", "symbols": symbols}))
                .into_response()
        }
        Venue::BybitSpot | Venue::BybitLinear => {
            let list: Vec<serde_json::Value> = listed
                .iter()
                .map(|s| {
                    let lot = if venue == Venue::BybitSpot {
                        serde_json::json!({"basePrecision": s.lot.to_string()})
                    } else {
                        serde_json::json!({"qtyStep": s.lot.to_string()})
                    };
                    serde_json::json!({"symbol": s.symbol.as_str(), "status": "Trading", "lotSizeFilter": lot, "priceFilter": {"tickSize": s.tick.to_string()}})
                })
                .collect();
            let category = if venue == Venue::BybitSpot {
                "spot"
            } else {
                "linear"
            };
            warp::reply::json(&serde_json::json!({"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": list}})).into_response()
        }
    }
}

async fn control(
    inner: Shared,
    venue: String,
    action: String,
    query: HashMap<String, String>,
) -> warp::reply::Response {
    let bad = |message: String| {
        warp::reply::with_status(message, StatusCode::BAD_REQUEST).into_response()
    };
    let Ok(venue) = venue.parse::<Venue>() else {
        return bad(format!("unknown venue {venue:?}"));
    };
    let Some(handle) = inner.venues.get(&venue) else {
        return bad(format!("{venue} is not simulated"));
    };
    let symbol = || query.get("symbol").and_then(|s| Symbol::new(s).ok());
    let misbehaviour = match action.as_str() {
        "disconnect" => Misbehaviour::Disconnect {
            clean: query.get("clean").is_some_and(|v| v == "true"),
        },
        "silence" => Misbehaviour::Silence,
        "garbage" => Misbehaviour::Garbage {
            count: query
                .get("count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(10)
                .min(10_000),
        },
        "skip" => match symbol() {
            Some(symbol) => Misbehaviour::SkipSequence(symbol),
            None => return bad("skip needs ?symbol=".into()),
        },
        "reset-book" => match symbol() {
            Some(symbol) => Misbehaviour::ResetBook(symbol),
            None => return bad("reset-book needs ?symbol=".into()),
        },
        "resend-snapshot" => match symbol() {
            Some(symbol) => Misbehaviour::ResendSnapshot(symbol),
            None => return bad("resend-snapshot needs ?symbol=".into()),
        },
        "shutdown-notice" => Misbehaviour::ServerShutdown,
        "reject" => match query.get("topic") {
            Some(topic) => Misbehaviour::RejectTopic(topic.clone()),
            None => return bad("reject needs ?topic=".into()),
        },
        "refuse" => {
            let count = query.get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
            inner.shared.add_refusals(venue, count);
            return warp::reply::with_status("ok", StatusCode::OK).into_response();
        }
        other => return bad(format!("unknown action {other:?}")),
    };
    let _ = handle
        .commands
        .send(MarketCommand::Misbehave(misbehaviour))
        .await;
    warp::reply::with_status("ok", StatusCode::OK).into_response()
}
