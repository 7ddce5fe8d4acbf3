//! The aggregator actor of one (venue, symbol): a shell around [`AggregatorCore`] that takes
//! routed market data, ticks the core's clock, publishes snapshots to the
//! [`SnapshotBoard`], and hands records to persistence and events to the data-quality log.
//!
//! A timer task asks for a tick every `publish_interval`; it never queues a second tick while
//! one is waiting, so a busy aggregator's mailbox does not fill with ticks. Each tick closes
//! due bars by the wall clock and, if anything changed, publishes a new snapshot: readers see
//! state at most one interval old.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{Instrument as _, debug, info, info_span, warn};
use wadm_supervision::{ActorEntry, unix_millis};

use super::aggregation::WarmStart;
use super::aggregation::{AggregatorCore, CoreOutput};
use super::messages::AggregatorMsg;
use super::output::RecordSink;
use super::params::{AggregatorSettings, RowSpec};
use super::warm::{self, Loaded, MAX_REPLAY_TRADES, Preloaded, ReplayPages};
use crate::boards::SnapshotBoard;
use crate::metrics::{AGGREGATOR_WARM_STARTS_TOTAL, PIPELINE_LATENCY_SECONDS};
use crate::model::{QualityKind, Symbol, UnixNanos, Venue};
use crate::quality::QualitySink;
use crate::routing::RouteSlot;
use crate::storage::SharedStore;

/// What an aggregator incarnation starts from.
#[derive(Debug, Clone)]
pub struct AggregatorArgs {
    pub venue: Venue,
    pub symbol: Symbol,
    /// Generation of this incarnation.
    pub generation: u64,
    /// Its route, to acknowledge handled messages.
    pub route: Arc<RouteSlot>,
    /// Its status entry.
    pub status: Arc<ActorEntry>,
    /// Indicator parameters and intervals.
    pub settings: Arc<AggregatorSettings>,
    /// How the row height is chosen.
    pub row: RowSpec,
    /// Where snapshots are published.
    pub snapshots: Arc<SnapshotBoard>,
    /// Where records for persistence go (none: nothing is persisted).
    pub records: Option<RecordSink>,
    /// Where data-quality events go.
    pub quality: QualitySink,
    /// The store a warm start reads (none: every start is cold).
    pub store: Option<SharedStore>,
    /// What the daemon read for this pair at start, for the first incarnation.
    pub preloaded: Option<Preloaded>,
}

/// The aggregator of one (venue, symbol).
#[derive(Debug, Clone, Copy, Default)]
pub struct AggregatorActor;

/// State of an aggregator incarnation.
#[derive(Debug)]
pub struct AggregatorState {
    args: AggregatorArgs,
    core: AggregatorCore,
    changed: bool,
    tick_waiting: Arc<AtomicBool>,
    ticker: tokio::task::JoinHandle<()>,
    latency: metrics::Histogram,
    /// The span every message is handled in, made once (a span made per message formats
    /// its fields every time).
    span: tracing::Span,
}

impl AggregatorState {
    fn forward(&mut self) {
        let venue = self.args.venue;
        for output in self.core.drain() {
            match output {
                CoreOutput::Record(record) => {
                    if let Some(sink) = &self.args.records {
                        sink.offer(venue, record, &self.args.status);
                    }
                }
                CoreOutput::Quality(event) => self.args.quality.record(event),
            }
        }
    }

    fn publish(&mut self) {
        let snapshot = self.core.snapshot(self.args.generation, unix_millis());
        self.args.snapshots.publish(snapshot);
        self.changed = false;
    }
}

/// Reads the pair's history within the warm-start budget.
async fn load(args: &AggregatorArgs) -> Result<Loaded, String> {
    let Some(store) = &args.store else {
        return Err("no store".into());
    };
    let budget = args.settings.warm_start_budget;
    let read = warm::load(
        store,
        args.venue,
        args.symbol,
        unix_millis(),
        args.settings.persist_trades,
        args.settings
            .recent_trades
            .max(args.settings.profile.large_trades.median_window),
    );
    match tokio::time::timeout(budget, read).await {
        Ok(Ok(loaded)) => Ok(loaded),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "timeout: the store did not answer within {} ms",
            budget.as_millis()
        )),
    }
}

/// Rebuilds the state from the store before the first live trade: reads the pair's
/// history (within the budget) and hands it to the core.
async fn warm_start(args: &AggregatorArgs, core: &mut AggregatorCore) -> WarmStart {
    if args.store.is_none() {
        return WarmStart::cold("cold", "none", Some("no store configured".into()));
    }
    let started = Instant::now();
    let preloaded = args.preloaded.as_ref().and_then(|slot| {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    });
    let loaded = match preloaded {
        Some(loaded) => loaded,
        None => load(args).await,
    };
    finish_warm_start(args, core, loaded, Some(started)).await
}

/// Hands what a warm start read to the core (then the further pages of stored trades to
/// replay, one at a time), and reports how it went.
async fn finish_warm_start(
    args: &AggregatorArgs,
    core: &mut AggregatorCore,
    loaded: Result<Loaded, String>,
    started: Option<Instant>,
) -> WarmStart {
    let started = started.unwrap_or_else(Instant::now);
    let source = args.store.as_ref().map_or("none", |s| s.backend());
    let kind = if args.generation > 1 {
        QualityKind::AggregatorRestart
    } else {
        QualityKind::Downtime
    };
    let mut read_ms = 0;
    let mut more = None;
    let mut warm = match loaded {
        Ok(mut loaded) => {
            read_ms = loaded.read_ms;
            more = loaded.more.take();
            args.quality.restore(loaded.holes);
            let mut warm = core.restore(loaded.history, kind);
            warm.source = source;
            warm
        }
        Err(reason) => {
            let outcome = if reason.starts_with("timeout") {
                "timeout"
            } else {
                "failed"
            };
            warn!(venue = %args.venue, symbol = %args.symbol, reason = %reason, "warm start failed: starting cold; the store is read again later");
            WarmStart::cold(outcome, source, Some(reason))
        }
    };
    if let (Some(pages), Some(store)) = (more, args.store.as_ref()) {
        replay_pages(args, core, store, pages, &mut warm).await;
    }
    // A preloaded read happened before `started`: its time is added.
    warm.took_ms = u64::try_from(started.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(read_ms);
    metrics::counter!(AGGREGATOR_WARM_STARTS_TOTAL, "venue" => args.venue.as_str(), "outcome" => warm.outcome).increment(1);
    debug!(
        venue = %args.venue,
        symbol = %args.symbol,
        generation = args.generation,
        outcome = warm.outcome,
        bars = warm.bars,
        trades_replayed = warm.trades_replayed,
        from = warm.from,
        to = warm.to,
        took_ms = warm.took_ms,
        "aggregator state restored"
    );
    warm
}

/// Takes the further pages of stored trades a warm start replays, one page in memory at a
/// time, within `aggregator.warm_start_budget` from the first of them. What is not taken (the budget ran out, the store
/// failed, more than [`MAX_REPLAY_TRADES`]) stays inside the interruption hole, which starts
/// at the latest trade taken; `warm` says so.
async fn replay_pages(
    args: &AggregatorArgs,
    core: &mut AggregatorCore,
    store: &SharedStore,
    mut pages: ReplayPages,
    warm: &mut WarmStart,
) {
    let deadline = Instant::now() + args.settings.warm_start_budget;
    let mut stopped = None;
    while !pages.done() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, pages.next(store)).await {
            Ok(Ok(page)) => {
                if !core.restore_more(page) {
                    break;
                }
            }
            Ok(Err(err)) => {
                stopped = Some(format!("the store failed: {err}"));
                break;
            }
            Err(_) => {
                stopped = Some(format!(
                    "not within {} ms",
                    args.settings.warm_start_budget.as_millis()
                ));
                break;
            }
        }
    }
    if pages.cut() && stopped.is_none() {
        stopped = Some(format!(
            "more stored trades after the latest stored bar than {MAX_REPLAY_TRADES}, or than a page in one millisecond"
        ));
    }
    if let Some(restored) = core.warm_start() {
        warm.trades_replayed = restored.trades_replayed;
        warm.to = restored.to;
    }
    if let Some(why) = stopped {
        warn!(venue = %args.venue, symbol = %args.symbol, why = %why, replayed = warm.trades_replayed, "the warm start's replay of stored trades stopped early: the interruption hole starts at the latest trade taken");
        warm.reason = Some(format!(
            "the replay of stored trades stopped early ({why}): the interruption hole starts at the latest trade taken"
        ));
    }
}

/// Seconds from `received` to now (0 if the wall clock stepped back).
fn seconds_since(received: UnixNanos) -> f64 {
    let nanos = UnixNanos::now().0.saturating_sub(received.0).max(0);
    // Exact for any latency under 2^53 ns (104 days).
    nanos as f64 / 1e9
}

impl Actor for AggregatorActor {
    type Msg = AggregatorMsg;
    type State = AggregatorState;
    type Arguments = AggregatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let core = AggregatorCore::new(
            args.venue,
            args.symbol,
            Arc::clone(&args.settings),
            args.row,
        );
        let tick_waiting = Arc::new(AtomicBool::new(false));
        let ticker = {
            let waiting = Arc::clone(&tick_waiting);
            let actor = myself.clone();
            let period = args
                .settings
                .publish_interval
                .max(std::time::Duration::from_millis(1));
            // Each aggregator's ticks at its own phase of the period: the aggregators start
            // together, and publishing every snapshot at the same instant would hold up the
            // trades that arrive meanwhile (the pipeline latency's tail) once per period.
            let phase = period.mul_f64(fastrand::f64());
            tokio::spawn(async move {
                let mut interval =
                    tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    interval.tick().await;
                    if !waiting.swap(true, Ordering::AcqRel)
                        && actor.cast(AggregatorMsg::Tick).is_err()
                    {
                        break;
                    }
                }
            })
        };
        // Installed first: live trades wait in the mailbox while the state is rebuilt.
        args.route.install(myself.clone());
        let mut core = core;
        let warm = warm_start(&args, &mut core).await;
        if matches!(warm.outcome, "failed" | "timeout") {
            // Try again later, and merge what the store holds then.
            myself.send_after(args.settings.warm_retry_interval, || {
                AggregatorMsg::WarmRetry
            });
        }
        args.status
            .set_detail(serde_json::json!({ "warm_start": &warm }));
        core.note_warm_start(warm);
        debug!(venue = %args.venue, symbol = %args.symbol, generation = args.generation, "aggregator started");
        let latency = metrics::histogram!(PIPELINE_LATENCY_SECONDS, "venue" => args.venue.as_str());
        let span = info_span!("actor", kind = "aggregator", venue = %args.venue, symbol = %args.symbol, generation = args.generation);
        let mut state = AggregatorState {
            args,
            core,
            changed: true,
            tick_waiting,
            ticker,
            latency,
            span,
        };
        state.publish();
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        state.args.route.uninstall();
        // Stopping (shutdown drains the mailbox first): the open bars go to persistence as
        // partial bars, so every trade taken reaches the store.
        state.core.report_open_bars();
        state.forward();
        let counts = state.core.counts();
        info!(
            venue = %state.args.venue,
            symbol = %state.args.symbol,
            generation = state.args.generation,
            trades = counts.trades,
            buy_volume = %counts.buy_volume,
            sell_volume = %counts.sell_volume,
            route_dropped = state.args.route.dropped(),
            route_dropped_trades = state.args.route.dropped_trades(),
            "aggregator stopped"
        );
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
            let routed = message.is_routed();
            let trades = message.trade_count();
            match message {
                AggregatorMsg::Trades(trades) => {
                    let received = trades.first().map(|t| t.received_at);
                    state.core.observe_clock(unix_millis());
                    state.core.on_trades(trades);
                    if let Some(received) = received {
                        state.latency.record(seconds_since(received));
                    }
                    state.args.status.record_data(unix_millis());
                }
                AggregatorMsg::PastTrades(trades, reply) => {
                    let outcome = state.core.on_past_trades(trades);
                    let _ = reply.send(outcome);
                    state.changed = true;
                }
                AggregatorMsg::Book(view) => state.core.on_book(view),
                AggregatorMsg::Klines(klines) => state.core.on_klines(klines),
                AggregatorMsg::Liquidations(liquidations) => {
                    state.core.on_liquidations(liquidations);
                }
                AggregatorMsg::Derivatives(tick) => state.core.on_derivatives(tick),
                AggregatorMsg::Instrument(info) => state.core.on_instrument(info),
                AggregatorMsg::GetCounts(reply) => {
                    let _ = reply.send(state.core.counts().clone());
                }
                AggregatorMsg::WarmRetry => {
                    let (args, myself) = (state.args.clone(), myself.clone());
                    tokio::spawn(async move {
                        let loaded = load(&args).await;
                        let _ = myself.cast(AggregatorMsg::WarmLoaded(Box::new(loaded)));
                    });
                }
                AggregatorMsg::WarmLoaded(loaded) => {
                    let warm = finish_warm_start(&state.args, &mut state.core, *loaded, None).await;
                    if matches!(warm.outcome, "failed" | "timeout") {
                        myself.send_after(state.args.settings.warm_retry_interval, || {
                            AggregatorMsg::WarmRetry
                        });
                    }
                    state
                        .args
                        .status
                        .set_detail(serde_json::json!({ "warm_start": &warm }));
                    state.core.note_warm_start(warm);
                    state.changed = true;
                }
                AggregatorMsg::Tick => {
                    state.tick_waiting.store(false, Ordering::Release);
                    state.core.tick(unix_millis());
                    if state.changed {
                        state.publish();
                    }
                }
            }
            if routed {
                state.changed = true;
                state.args.route.done(trades);
                state.args.status.record_messages(1);
                state
                    .args
                    .status
                    .set_queue_len(state.args.route.in_flight() as i64);
            }
            state.forward();
        }
        .instrument(span)
        .await;
        Ok(())
    }
}
