//! The composition root: builds the supervision tree from configuration and runs it.
//!
//! ```text
//! root
//! ├── persistence              PersistenceActor: batches records and events into the store
//! ├── aggregators              one AggregatorActor per configured (venue, symbol)
//! ├── venue/<venue>            per enabled venue
//! │   ├── connection <venue>   its sockets, books, watchdogs, rotation
//! │   └── backfill <venue>     gap repair and start-up history over REST
//! └── api http                 ApiActor: the REST API, /health and /metrics
//! ```
//!
//! State that must outlive actor incarnations (the routing table, the trade cursors, the
//! published books, the data-quality log, the connection budget) is created here, once, and
//! handed to every incarnation; the aggregator supervisor installs each new aggregator in the
//! routing table, and each connection incarnation is recorded in the [`Directory`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::{Actor, ActorRef};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};
use wadm_actors::aggregator::warm::{self, LoadRequest, LoadResult, Preloaded};
use wadm_actors::aggregator::{
    AggregatorActor, AggregatorArgs, AggregatorCounts, AggregatorMsg, AggregatorSettings,
    RecordSink, RowSpec,
};
use wadm_actors::alerts::{AlertActor, AlertArgs, AlertSettings};
use wadm_actors::api::{Api, ApiActor, ApiArgs, ApiSources};
use wadm_actors::backfill::{BackfillActor, BackfillArgs};
use wadm_actors::boards::{BookBoard, SnapshotBoard};
use wadm_actors::connection::budget::{BudgetAttempts, ConnectionBudget};
use wadm_actors::connection::cursors::Cursors;
use wadm_actors::connection::rest_budget::RestBudget;
use wadm_actors::connection::status::ConnectionStatus;
use wadm_actors::connection::{ConnectionActor, ConnectionArgs, ConnectionMsg};
use wadm_actors::model::{Symbol, Venue};
use wadm_actors::persistence::{PersistenceActor, PersistenceArgs, PersistenceInputs};
use wadm_actors::quality::QualitySink;
use wadm_actors::recorder::RecorderHandle;
use wadm_actors::routing::RoutingTable;
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
use wadm_actors::storage::mongo::{MongoOptions, MongoStore};
use wadm_actors::storage::{Retention, SharedStore};
use wadm_actors::util::{install_crypto_provider, lock};
use wadm_supervision::{
    ChildContext, ChildSpec, RootExit, RootHandle, StatusRegistry, Supervisor, SupervisorArgs,
};

use crate::config::{Config, LoadOptions, RetentionConfig, StorageConfig, VenueConfig, redact_uri};
use crate::telemetry;

/// How often the Prometheus recorder's histograms are maintained.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How many data-quality events are kept in memory for the API.
const QUALITY_LOG_CAPACITY: usize = 10_000;

/// The live incarnation of each connection actor, refreshed on every (re)spawn.
#[derive(Debug, Default)]
pub struct Directory {
    connections: Mutex<HashMap<Venue, ActorRef<ConnectionMsg>>>,
}

impl Directory {
    fn set_connection(&self, venue: Venue, actor: ActorRef<ConnectionMsg>) {
        lock(&self.connections).insert(venue, actor);
    }

    /// Returns the current connection actor of `venue`.
    pub fn connection(&self, venue: Venue) -> Option<ActorRef<ConnectionMsg>> {
        lock(&self.connections).get(&venue).cloned()
    }
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    /// Every actor's status.
    pub registry: Arc<StatusRegistry>,
    /// Routes to aggregators.
    pub routes: Arc<RoutingTable>,
    /// Published live books.
    pub books: Arc<BookBoard>,
    /// Published aggregator snapshots.
    pub snapshots: Arc<SnapshotBoard>,
    /// Data-quality events.
    pub quality: QualitySink,
    /// Current connection actors.
    pub directory: Arc<Directory>,
    pub store: SharedStore,
    /// What persistence holds and has done.
    pub persistence: Arc<PersistenceInputs>,
    /// The API (its warp filter serves tests without a socket).
    pub api: Arc<Api>,
    /// Where the API listens (the configured address, with the port chosen for port 0).
    pub api_addr: SocketAddr,
    /// The alert rules in force.
    alerts: watch::Sender<Arc<AlertSettings>>,
    root: RootHandle,
    stop_timeout: Duration,
    upkeep: tokio::task::JoinHandle<()>,
    recorder: Option<RecorderHandle>,
    /// The REST API's own runtime (dropped last).
    _api_runtime: ApiRuntime,
}

/// The runtime the REST API is served on, apart from the feeds' (`runtime.api_threads`), so
/// a costly request never holds up a socket reader or an aggregator. Shut down without
/// waiting when dropped (the API actor has closed the server by then), which is allowed
/// inside the daemon's own runtime, unlike a plain drop.
#[derive(Debug)]
struct ApiRuntime(Option<tokio::runtime::Runtime>);

impl ApiRuntime {
    fn start(threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("wadm-api")
            .enable_all()
            .build()
            .context("cannot start the API's runtime")?;
        Ok(Self(Some(runtime)))
    }

    fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|runtime| runtime.handle().clone())
    }
}

impl Drop for ApiRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The state every actor incarnation shares, created once by [`Daemon::start`].
struct Shared {
    registry: Arc<StatusRegistry>,
    routes: Arc<RoutingTable>,
    books: Arc<BookBoard>,
    snapshots: Arc<SnapshotBoard>,
    quality: QualitySink,
    directory: Arc<Directory>,
    /// One connection-attempt budget per venue host (Bybit spot and linear share one).
    budgets: HashMap<&'static str, Arc<ConnectionBudget>>,
    /// One REST budget per venue: snapshots, instruments, repair and backfill share it.
    rest_budgets: HashMap<Venue, Arc<RestBudget>>,
    recorder: Option<RecorderHandle>,
}

impl Shared {
    fn new(config: &Config, pairs: &[(Venue, Symbol)]) -> anyhow::Result<Self> {
        let registry = Arc::new(StatusRegistry::new());
        let mut budgets: HashMap<&'static str, Arc<ConnectionBudget>> = HashMap::new();
        for venue in config.enabled_venues() {
            budgets
                .entry(BudgetAttempts::group(venue.venue))
                .or_insert_with(|| {
                    Arc::new(ConnectionBudget::new(
                        config.connection.budget_attempts.of(venue.venue),
                        config.connection.budget_window,
                    ))
                });
        }
        let rest_budgets = config
            .enabled_venues()
            .map(|venue| {
                let budget = RestBudget::new(venue.venue, config.rest_limits(venue));
                (venue.venue, Arc::new(budget))
            })
            .collect();
        let recorder = match &config.recording {
            Some(recording) => Some(
                RecorderHandle::start(recording.clone(), registry.entry("recorder", "frames"))
                    .context("the recorder could not start")?,
            ),
            None => None,
        };
        Ok(Self {
            routes: Arc::new(RoutingTable::new(
                pairs.iter().copied(),
                config.aggregator.queue_capacity,
            )),
            books: Arc::new(BookBoard::new(pairs.iter().copied())),
            snapshots: Arc::new(SnapshotBoard::new(
                pairs
                    .iter()
                    .map(|&(venue, symbol)| (venue, symbol, config.profile_params(symbol))),
            )),
            quality: QualitySink::new(QUALITY_LOG_CAPACITY),
            directory: Arc::new(Directory::default()),
            registry,
            budgets,
            rest_budgets,
            recorder,
        })
    }
}

/// Describes and initialises every metric, raises the file limit, and logs the start at
/// debug level; returns the Prometheus handle `/metrics` renders.
fn start_telemetry(config: &Config) -> anyhow::Result<PrometheusHandle> {
    let metrics = telemetry::metrics_handle()?;
    telemetry::record_build_info();
    wadm_supervision::metrics::describe();
    wadm_actors::metrics::describe();
    let venues: Vec<&'static str> = config.enabled_venues().map(|v| v.venue.as_str()).collect();
    wadm_actors::metrics::initialize(&venues);
    wadm_supervision::metrics::initialize(&[
        "connection",
        "backfill",
        "aggregator",
        "persistence",
        "api",
        wadm_supervision::SUPERVISOR_KIND,
    ]);
    // Sockets (venues, the API, MongoDB) need file descriptors: take what the system
    // allows; the API keeps its share below it (actors/src/api/server.rs).
    let fd_limit = wadm_actors::api::server::raise_fd_limit();
    debug!(
        version = telemetry::VERSION,
        git_sha = telemetry::GIT_SHA,
        fd_limit,
        "wadm starting"
    );
    log_summary(config);
    Ok(metrics)
}

/// The aggregators' supervisor: one aggregator per pair, each starting from what the store
/// held for it (`preloaded`).
fn aggregators_child(
    config: &Config,
    shared: &Shared,
    pairs: &[(Venue, Symbol)],
    store: &SharedStore,
    records: &RecordSink,
    mut preloaded: HashMap<(Venue, Symbol), LoadResult>,
) -> ChildSpec {
    let children: Vec<ChildSpec> = pairs
        .iter()
        .map(|&(venue, symbol)| {
            let template = AggregatorTemplate {
                venue,
                symbol,
                settings: Arc::new(config.aggregator_settings(symbol)),
                row: config.row_spec(symbol),
                snapshots: Arc::clone(&shared.snapshots),
                quality: shared.quality.clone(),
                records: records.clone(),
                store: Arc::clone(store),
                preloaded: Arc::new(std::sync::Mutex::new(preloaded.remove(&(venue, symbol)))),
            };
            aggregator_spec(template, &shared.routes)
        })
        .collect();
    let registry = Arc::clone(&shared.registry);
    let policy = config.supervision;
    ChildSpec::supervisor("aggregators", move || SupervisorArgs {
        name: String::new(),
        policy,
        children: children.clone(),
        registry: Arc::clone(&registry),
    })
}

/// A venue's supervisor: its connection actor and its backfill actor.
fn venue_child(
    config: &Config,
    shared: &Shared,
    venue: &VenueConfig,
    started_at: i64,
) -> ChildSpec {
    let routes_of_venue: Arc<HashMap<Symbol, _>> = Arc::new(
        venue
            .symbols
            .iter()
            .filter_map(|s| shared.routes.slot(venue.venue, *s).map(|slot| (*s, slot)))
            .collect(),
    );
    let rest_budget = &shared.rest_budgets[&venue.venue];
    let connection = connection_spec(
        ConnectionArgs {
            venue: venue.venue,
            ws_url: venue.ws_url.clone(),
            rest_url: venue.rest_url.clone(),
            symbols: venue.symbols.clone(),
            streams: venue.streams.clone(),
            tick_overrides: config.tick_overrides(venue),
            settings: Arc::new(config.connection.settings.clone()),
            routes: routes_of_venue,
            cursors: Arc::new(Cursors::new(venue.symbols.iter().copied())),
            board: Arc::clone(&shared.books),
            quality: shared.quality.clone(),
            budget: Arc::clone(&shared.budgets[BudgetAttempts::group(venue.venue)]),
            rest_budget: Arc::clone(rest_budget),
            status: shared.registry.entry("connection", venue.venue.as_str()),
            generation: 0,
            recorder: shared.recorder.as_ref().and_then(RecorderHandle::recorder),
        },
        Arc::clone(&shared.directory),
    );
    let backfill = backfill_spec(BackfillArgs {
        venue: venue.venue,
        symbols: venue.symbols.clone(),
        rest_url: venue.rest_url.clone(),
        rest_timeout: config.connection.settings.rest_timeout,
        rest_budget: Arc::clone(rest_budget),
        routes: Arc::clone(&shared.routes),
        snapshots: Arc::clone(&shared.snapshots),
        quality: shared.quality.clone(),
        settings: Arc::new(config.backfill.clone()),
        status: shared.registry.entry("backfill", venue.venue.as_str()),
        started_at,
    });
    let registry = Arc::clone(&shared.registry);
    let policy = config.supervision;
    ChildSpec::supervisor(format!("venue/{}", venue.venue), move || SupervisorArgs {
        name: String::new(),
        policy,
        children: vec![connection.clone(), backfill.clone()],
        registry: Arc::clone(&registry),
    })
}

/// The API: binds its socket once (a taken port stops the start with the reason), so each
/// incarnation serves a clone of it; returns the API, its address and its child.
fn api_child(
    config: &Config,
    shared: &Shared,
    pairs: &[(Venue, Symbol)],
    store: &SharedStore,
    persistence: &Arc<PersistenceInputs>,
    metrics: &PrometheusHandle,
    runtime: Option<tokio::runtime::Handle>,
) -> anyhow::Result<(Arc<Api>, SocketAddr, ChildSpec)> {
    let listener = std::net::TcpListener::bind(config.api.bind)
        .with_context(|| format!("the API cannot listen on {} (api.bind)", config.api.bind))?;
    let api_addr = listener
        .local_addr()
        .context("the API listener has no address")?;
    let renderer = metrics.clone();
    let api = Api::new(
        ApiSources {
            registry: Arc::clone(&shared.registry),
            snapshots: Arc::clone(&shared.snapshots),
            books: Arc::clone(&shared.books),
            quality: shared.quality.clone(),
            store: Arc::clone(store),
            retention: retention(&config.retention),
            persistence: Arc::clone(persistence),
            pairs: pairs.to_vec(),
            metrics: Arc::new(move || renderer.render()),
            version: telemetry::VERSION,
        },
        config.api.settings.clone(),
        api_addr,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let spec = api_spec(ApiArgs {
        api: Arc::clone(&api),
        listener: Arc::new(listener),
        status: shared.registry.entry("api", "http"),
        runtime,
    });
    Ok((api, api_addr, spec))
}

impl Daemon {
    /// Builds and starts the supervision tree.
    pub async fn start(config: Config) -> anyhow::Result<Daemon> {
        install_crypto_provider();
        let metrics = start_telemetry(&config)?;
        let started_at = wadm_supervision::unix_millis();
        let pairs = config.pairs();
        let shared = Shared::new(&config, &pairs)?;

        let store = open_store(&config).await?;
        let store_up = check_store(&store, &config).await?;
        let preloaded = preload(&config, &store, &pairs, store_up).await;
        let (persistence, records, quality_listener) = PersistenceInputs::new(
            config.persistence.queue_capacity,
            config.persistence.settings.buffer_capacity,
            config.persistence.raw_trades,
        );
        shared.quality.attach(quality_listener);
        persistence.skip_expired(retention(&config.retention));

        // Children stop last-started first: persistence starts first so that it stops last,
        // after the aggregators have handed over what they hold; the API starts last, so it
        // stops first: no request finds its sources gone.
        let mut children = vec![persistence_spec(PersistenceArgs {
            store: Arc::clone(&store),
            inputs: Arc::clone(&persistence),
            settings: Arc::new(config.persistence.settings.clone()),
            status: shared.registry.entry("persistence", store.backend()),
        })];
        children.push(aggregators_child(
            &config, &shared, &pairs, &store, &records, preloaded,
        ));
        for venue in config.enabled_venues() {
            children.push(venue_child(&config, &shared, venue, started_at));
        }
        let api_runtime = ApiRuntime::start(config.runtime.api_threads)?;
        let (api, api_addr, api_spec) = api_child(
            &config,
            &shared,
            &pairs,
            &store,
            &persistence,
            &metrics,
            api_runtime.handle(),
        )?;
        // The alert rules outlive the alerts actor's incarnations; a reload replaces them.
        let (alerts, alert_settings) = watch::channel(Arc::new(config.alerts.clone()));
        children.push(alerts_spec(AlertArgs {
            settings: alert_settings,
            api: Arc::clone(&api),
            snapshots: Arc::clone(&shared.snapshots),
            sink: records.clone(),
            status: shared.registry.entry("alerts", "rules"),
        }));
        children.push(api_spec);
        let root = Supervisor::spawn_root(SupervisorArgs {
            name: "root".into(),
            policy: config.supervision,
            children,
            registry: Arc::clone(&shared.registry),
        })
        .await
        .context("the supervision tree could not start")?;

        let upkeep = tokio::spawn(async move {
            let mut interval = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
            loop {
                interval.tick().await;
                metrics.run_upkeep();
            }
        });
        // The one line that says what runs; the rest of the configuration is at debug level
        // (and printed by `wadm check-config`).
        let essentials = Essentials::of(&config);
        info!(
            api = %api_addr,
            version = telemetry::VERSION,
            git_sha = telemetry::GIT_SHA,
            store = %essentials.store,
            venues = %essentials.venues,
            "wadm started"
        );
        Ok(Daemon {
            registry: shared.registry,
            routes: shared.routes,
            books: shared.books,
            snapshots: shared.snapshots,
            quality: shared.quality,
            directory: shared.directory,
            store,
            persistence,
            api,
            api_addr,
            alerts,
            root,
            stop_timeout: config.shutdown_timeout,
            upkeep,
            recorder: shared.recorder,
            _api_runtime: api_runtime,
        })
    }

    /// Replaces the alert rules and destinations (a reload): the alerts actor applies them
    /// at once, nothing else restarts.
    pub fn reload_alerts(&self, settings: AlertSettings) {
        self.alerts.send_replace(Arc::new(settings));
    }

    /// The alert rules in force.
    pub fn alert_settings(&self) -> Arc<AlertSettings> {
        Arc::clone(&self.alerts.borrow())
    }

    /// Asks a venue's connection actor for its status.
    pub async fn connection_status(&self, venue: Venue) -> Option<ConnectionStatus> {
        let actor = self.directory.connection(venue)?;
        ractor::call_t!(actor, ConnectionMsg::GetStatus, 5_000).ok()
    }

    /// Asks an aggregator what it has counted.
    pub async fn aggregator_counts(
        &self,
        venue: Venue,
        symbol: Symbol,
    ) -> Option<AggregatorCounts> {
        let slot = self.routes.slot(venue, symbol)?;
        let (reply, answer) = ractor::concurrency::oneshot();
        slot.send(AggregatorMsg::GetCounts(reply.into())).ok()?;
        tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .ok()?
            .ok()
    }

    /// Waits until the tree fails (a meltdown escalated to the root).
    pub async fn failed(&mut self) -> String {
        match (&mut self.root.exit).await {
            Ok(RootExit::Failed(reason)) => reason,
            Ok(RootExit::Stopped) => "the supervision tree stopped".into(),
            Err(_) => "the supervision tree vanished".into(),
        }
    }

    /// Stops every actor (connections close their sockets) and waits for them.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        info!("shutdown requested, stopping");
        let exit = self.root.shutdown(self.stop_timeout).await;
        self.upkeep.abort();
        if let Some(recorder) = self.recorder {
            // The sessions are gone, so the writer drains its queue and exits.
            if tokio::task::spawn_blocking(move || recorder.close())
                .await
                .is_err()
            {
                warn!("the recorder did not close cleanly");
            }
        }
        match exit {
            RootExit::Stopped => {
                info!("wadm stopped");
                Ok(())
            }
            RootExit::Failed(reason) => Err(anyhow::anyhow!(
                "the supervision tree did not stop cleanly: {reason}"
            )),
        }
    }
}

/// What every incarnation of one aggregator is built from.
#[derive(Debug, Clone)]
struct AggregatorTemplate {
    venue: Venue,
    symbol: Symbol,
    settings: Arc<AggregatorSettings>,
    row: RowSpec,
    snapshots: Arc<SnapshotBoard>,
    quality: QualitySink,
    records: RecordSink,
    store: SharedStore,
    preloaded: Preloaded,
}

/// An aggregator drains its queue when the daemon stops: every trade routed to it before the
/// connections closed is taken, and its open bars are reported to persistence.
fn aggregator_spec(template: AggregatorTemplate, routes: &Arc<RoutingTable>) -> ChildSpec {
    let (venue, symbol) = (template.venue, template.symbol);
    let route = routes.slot(venue, symbol);
    ChildSpec::new(
        "aggregator",
        format!("{venue}/{symbol}"),
        move |context: ChildContext| {
            let route = route.clone();
            let template = template.clone();
            async move {
                let route = route.ok_or_else(|| {
                    ractor::SpawnErr::StartupFailed(format!("no route for {venue}/{symbol}").into())
                })?;
                let args = AggregatorArgs {
                    venue,
                    symbol,
                    generation: context.generation,
                    route,
                    status: context.status,
                    settings: template.settings,
                    row: template.row,
                    snapshots: template.snapshots,
                    records: Some(template.records),
                    quality: template.quality,
                    store: Some(template.store),
                    preloaded: Some(template.preloaded),
                };
                let (actor, _) =
                    Actor::spawn_linked(None, AggregatorActor, args, context.supervisor).await?;
                Ok(actor.get_cell())
            }
        },
    )
    .draining()
}

fn backfill_spec(args: BackfillArgs) -> ChildSpec {
    let key = args.venue.as_str();
    ChildSpec::new("backfill", key, move |context: ChildContext| {
        let args = BackfillArgs {
            status: context.status,
            ..args.clone()
        };
        async move {
            let (actor, _) =
                Actor::spawn_linked(None, BackfillActor, args, context.supervisor).await?;
            Ok(actor.get_cell())
        }
    })
}

fn api_spec(args: ApiArgs) -> ChildSpec {
    ChildSpec::new("api", "http", move |context: ChildContext| {
        let args = ApiArgs {
            status: context.status,
            ..args.clone()
        };
        async move {
            let (actor, _) = Actor::spawn_linked(None, ApiActor, args, context.supervisor).await?;
            Ok(actor.get_cell())
        }
    })
}

fn alerts_spec(args: AlertArgs) -> ChildSpec {
    ChildSpec::new("alerts", "rules", move |context: ChildContext| {
        let args = AlertArgs {
            status: context.status,
            ..args.clone()
        };
        async move {
            let (actor, _) =
                Actor::spawn_linked(None, AlertActor, args, context.supervisor).await?;
            Ok(actor.get_cell())
        }
    })
}

fn persistence_spec(args: PersistenceArgs) -> ChildSpec {
    let key = args.store.backend();
    ChildSpec::new("persistence", key, move |context: ChildContext| {
        let args = PersistenceArgs {
            status: context.status,
            ..args.clone()
        };
        async move {
            let (actor, _) =
                Actor::spawn_linked(None, PersistenceActor, args, context.supervisor).await?;
            Ok(actor.get_cell())
        }
    })
}

/// The retention of each stored kind, from `[retention]`.
pub fn retention(config: &RetentionConfig) -> Retention {
    Retention {
        trades: config.raw_trades,
        bars_1m: config.bars_1m,
        bars_1h: config.bars_1h,
        bars_1d: config.bars_1d,
        book_snapshots: config.book_snapshots,
        klines: config.klines,
        data_quality: config.data_quality,
        liquidations: config.liquidations,
        alerts: config.alerts,
    }
}

/// Opens the configured store: the embedded file (created when missing; failing stops the
/// start with the reason), or a MongoDB client (a bad URI stops the start; an unreachable
/// server is retried by persistence).
pub async fn open_store(config: &Config) -> anyhow::Result<SharedStore> {
    let retention = retention(&config.retention);
    match &config.storage {
        StorageConfig::Embedded { path } => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || {
                EmbeddedStore::open(&path, retention, EmbeddedOptions::default())
                    .map_err(|e| anyhow::anyhow!("embedded store under {}: {e}", path.display()))
            })
            .await
            .context("the embedded store could not be opened")??;
            debug!(file = %store.path().display(), "embedded store open");
            Ok(Arc::new(store))
        }
        StorageConfig::MongoDb { uri, database } => {
            // A bad URI stops the start; an unreachable server does not: the indexes are
            // created on the first successful call, and until then persistence buffers and
            // retries (its status and metrics show the store as unavailable).
            let options = MongoOptions::new(uri.expose(), database.clone());
            let store = MongoStore::new(&options, retention)
                .await
                .map_err(|e| anyhow::anyhow!("MongoDB ({}): {e}", redact_uri(uri.expose())))?;
            info!(database = %database, "MongoDB store configured; indexes are ensured on first use");
            Ok(Arc::new(store))
        }
    }
}

/// Reads what every aggregator's warm start needs, a few pairs at a time, within the warm
/// start budget; with the store down at start, every aggregator starts cold and reads again
/// later.
async fn preload(
    config: &Config,
    store: &SharedStore,
    pairs: &[(Venue, Symbol)],
    store_up: bool,
) -> HashMap<(Venue, Symbol), LoadResult> {
    if !store_up {
        return pairs
            .iter()
            .map(|&pair| (pair, Err("the store was unavailable at start".to_owned())))
            .collect();
    }
    let requests = pairs
        .iter()
        .map(|&(venue, symbol)| {
            let settings = config.aggregator_settings(symbol);
            LoadRequest {
                venue,
                symbol,
                raw_trades: settings.persist_trades,
                recent: settings
                    .recent_trades
                    .max(settings.profile.large_trades.median_window),
            }
        })
        .collect();
    let budget = config.aggregator.settings.warm_start_budget;
    let started = std::time::Instant::now();
    let loaded = warm::preload(store, requests, wadm_supervision::unix_millis(), budget).await;
    let bars: usize = loaded
        .values()
        .filter_map(|l| l.as_ref().ok())
        .map(|l| l.history.bars.len())
        .sum();
    let took_ms = started.elapsed().as_millis() as u64;
    if bars > 0 {
        info!(
            pairs = pairs.len(),
            bars, took_ms, "history read for the warm start"
        );
    } else {
        debug!(
            pairs = pairs.len(),
            took_ms, "nothing stored yet: a cold start"
        );
    }
    loaded
}

/// Asks the store for a first answer: without one the start fails with the reason, or goes
/// on degraded (persistence buffers and retries), as `storage.on_unavailable_at_start` says.
/// Returns whether it answered.
async fn check_store(store: &SharedStore, config: &Config) -> anyhow::Result<bool> {
    let policy = config.store_start;
    let answer = match tokio::time::timeout(policy.timeout, store.ping()).await {
        Ok(Ok(())) => return Ok(true),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!(
            "no answer within {}",
            humantime::format_duration(policy.timeout)
        ),
    };
    if policy.fail {
        anyhow::bail!(
            "the {} store is unavailable at start ({answer}); storage.on_unavailable_at_start = \"fail\"",
            store.backend()
        );
    }
    warn!(store = store.backend(), reason = %answer, "the store is unavailable at start; running degraded: persistence buffers and retries");
    Ok(false)
}

fn connection_spec(template: ConnectionArgs, directory: Arc<Directory>) -> ChildSpec {
    let venue = template.venue;
    ChildSpec::new(
        "connection",
        venue.as_str(),
        move |context: ChildContext| {
            let args = ConnectionArgs {
                generation: context.generation,
                status: context.status,
                ..template.clone()
            };
            let directory = Arc::clone(&directory);
            async move {
                let (actor, _) =
                    Actor::spawn_linked(None, ConnectionActor, args, context.supervisor).await?;
                directory.set_connection(venue, actor.clone());
                Ok(actor.get_cell())
            }
        },
    )
}

/// Runs the daemon until `shutdown` resolves (then stops cleanly) or the supervision tree
/// fails (then returns the error).
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    let mut daemon = Daemon::start(config).await?;
    tokio::select! {
        () = shutdown => daemon.shutdown().await,
        reason = daemon.failed() => {
            error!(reason = %reason, "the supervision tree gave up");
            let _ = daemon.shutdown().await;
            Err(anyhow::anyhow!("the supervision tree gave up: {reason}"))
        }
    }
}

/// Runs the daemon like [`run`], and on each SIGHUP loads the configuration again from
/// `options` and applies its `[alerts]`: with problems, every one is logged and the rules in
/// force stay. Nothing else is reloaded (other changes take a restart).
pub async fn run_reloading(
    config: Config,
    options: LoadOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("the SIGHUP handler could not be installed")?;
    let mut daemon = Daemon::start(config).await?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return daemon.shutdown().await,
            reason = daemon.failed() => {
                error!(reason = %reason, "the supervision tree gave up");
                let _ = daemon.shutdown().await;
                return Err(anyhow::anyhow!("the supervision tree gave up: {reason}"));
            }
            Some(()) = hangup.recv() => reload_alerts(&daemon, &options),
        }
    }
}

/// Loads the configuration again and applies its alert rules, or logs why not.
pub fn reload_alerts(daemon: &Daemon, options: &LoadOptions) {
    info!("SIGHUP: reloading the alert rules");
    match crate::config::load(options) {
        Ok(loaded) => {
            let rules = loaded.config.alerts.rules.len();
            let destinations = loaded.config.alerts.destinations.len();
            daemon.reload_alerts(loaded.config.alerts);
            info!(
                rules,
                destinations,
                "alert rules reloaded (only [alerts] is reloaded; other changes take a restart)"
            );
        }
        Err(err) => {
            for problem in &err.problems {
                error!(path = %problem.path, problem = %problem.message, "configuration problem");
            }
            error!(
                problems = err.problems.len(),
                "the configuration has problems: keeping the alert rules in force"
            );
        }
    }
}

/// The essentials of the start-up line, without spaces (log parsers split on them) and
/// without secrets.
struct Essentials {
    /// `embedded:<path>` or `mongodb:<uri, password redacted>/<database>`.
    store: String,
    /// `<venue>:<symbol>,<symbol>;...` of the enabled venues.
    venues: String,
}

impl Essentials {
    fn of(config: &Config) -> Self {
        let store = match &config.storage {
            StorageConfig::Embedded { path } => format!("embedded:{}", path.display()),
            StorageConfig::MongoDb { uri, database } => {
                format!("mongodb:{}#{database}", redact_uri(uri.expose()))
            }
        };
        let venues: Vec<String> = config
            .enabled_venues()
            .map(|venue| {
                let symbols: Vec<&str> = venue.symbols.iter().map(|s| s.as_str()).collect();
                format!("{}:{}", venue.venue, symbols.join(","))
            })
            .collect();
        Self {
            store: store.replace(' ', "%20"),
            venues: if venues.is_empty() {
                "none".into()
            } else {
                venues.join(";")
            },
        }
    }
}

/// Logs what the daemon will do at debug level, one line per venue, secrets redacted.
fn log_summary(config: &Config) {
    match &config.storage {
        StorageConfig::Embedded { path } => {
            debug!(store = "embedded", path = %path.display(), "storage")
        }
        StorageConfig::MongoDb { uri, database } => {
            debug!(store = "mongodb", uri = %redact_uri(uri.expose()), database = %database, "storage");
        }
    }
    let mut enabled = 0;
    for venue in config.enabled_venues() {
        enabled += 1;
        let symbols: Vec<&str> = venue.symbols.iter().map(|symbol| symbol.as_str()).collect();
        let streams: Vec<String> = venue
            .streams
            .iter()
            .map(|stream| stream.name_for(venue.venue))
            .collect();
        debug!(
            venue = %venue.venue,
            symbols = %symbols.join(","),
            streams = %streams.join(","),
            ws_url = %venue.ws_url,
            "venue enabled"
        );
    }
    if enabled == 0 {
        warn!("no venue is enabled: nothing will be collected");
    }
}
