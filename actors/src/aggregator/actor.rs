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

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{Instrument as _, debug, info, info_span};
use wadm_supervision::{ActorEntry, unix_millis};

use super::aggregation::{AggregatorCore, CoreOutput};
use super::messages::AggregatorMsg;
use super::output::RecordSink;
use super::params::{AggregatorSettings, RowSpec};
use super::snapshot::SnapshotBoard;
use crate::connection::shared::QualitySink;
use crate::metrics::PIPELINE_LATENCY_SECONDS;
use crate::model::{DataQualityEvent, QualityKind, Symbol, TimestampMs, UnixNanos, Venue};
use crate::routing::RouteSlot;

/// What an aggregator incarnation starts from.
#[derive(Debug, Clone)]
pub struct AggregatorArgs {
    /// Venue.
    pub venue: Venue,
    /// Symbol.
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
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(period);
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
        args.route.install(myself);
        if args.generation > 1 {
            // The previous incarnation failed: its open bars are gone (raw trades were
            // already handed to persistence). The stored 1h bar of this hour, and the 1m bar
            // of this minute, will miss what it had taken.
            let now = unix_millis();
            let hour = now - now.rem_euclid(3_600_000);
            args.quality.record(
                DataQualityEvent::now(
                    args.venue,
                    Some(args.symbol),
                    QualityKind::AggregatorRestart,
                    format!(
                        "aggregator restarted (generation {}): bars open at the failure miss the trades taken before it",
                        args.generation
                    ),
                )
                .with_times(TimestampMs(hour), TimestampMs(now)),
            );
        }
        debug!(venue = %args.venue, symbol = %args.symbol, generation = args.generation, "aggregator started");
        let latency = metrics::histogram!(PIPELINE_LATENCY_SECONDS, "venue" => args.venue.as_str());
        let mut state = AggregatorState {
            args,
            core,
            changed: true,
            tick_waiting,
            ticker,
            latency,
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
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = info_span!("actor", kind = "aggregator", venue = %state.args.venue, symbol = %state.args.symbol, generation = state.args.generation);
        async {
            let routed = !matches!(message, AggregatorMsg::GetCounts(_) | AggregatorMsg::Tick);
            let trades = message.trade_count();
            match message {
                AggregatorMsg::Trades(trades) => {
                    let received = trades.first().map(|t| t.received_at);
                    state.core.on_trades(trades);
                    if let Some(received) = received {
                        state.latency.record(seconds_since(received));
                    }
                    state.args.status.record_data(unix_millis());
                }
                AggregatorMsg::Book(view) => state.core.on_book(view),
                AggregatorMsg::Klines(klines) => state.core.on_klines(klines),
                AggregatorMsg::Instrument(info) => state.core.on_instrument(info),
                AggregatorMsg::GetCounts(reply) => {
                    let _ = reply.send(state.core.counts().clone());
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
