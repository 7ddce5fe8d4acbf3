//! The backfill actor of one venue: finds the holes of the data-quality log and the pairs
//! that started on an empty store, fetches the missing trades over REST (one request at a
//! time, within the venue's REST budget, behind book snapshots), and hands them to the
//! aggregator of their pair as trades of the past.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::{debug, info, warn};
use url::Url;
use wadm_supervision::{ActorEntry, unix_millis};

use super::plan::{Fetched, Job, JobKind, Plan, Progress, Step, Target, plan};
use crate::aggregator::{AggregatorMsg, PastOutcome};
use crate::boards::SnapshotBoard;
use crate::connection::protocol::{TradesFrom, recent_trades_limit};
use crate::connection::rest_budget::RestBudget;
use crate::connection::rest_client::{RestClient, RestError};
use crate::metrics::{
    BACKFILL_JOBS_TOTAL, BACKFILL_PENDING_JOBS, BACKFILL_REQUESTS_TOTAL, BACKFILL_TRADES_TOTAL,
};
use crate::model::{DataQualityEvent, Exchange, HoleState, Symbol, Trade, Venue};
use crate::quality::QualitySink;
use crate::routing::RoutingTable;
use crate::util::error_chain;

/// What the backfill of every venue does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillSettings {
    /// On an empty store, fetch this much history before the first live trade (zero: no).
    pub on_start: Duration,
    /// Repair the holes of the data-quality log.
    pub repair: bool,
    /// How often the log is looked at.
    pub scan_interval: Duration,
    /// How far back the aggregators keep minutes: older holes cannot be repaired.
    pub horizon: Duration,
    /// How long the aggregator may take to take a page of trades.
    pub deliver_timeout: Duration,
}

impl Default for BackfillSettings {
    fn default() -> Self {
        Self {
            on_start: Duration::from_secs(24 * 3_600),
            repair: true,
            scan_interval: Duration::from_secs(1),
            horizon: Duration::from_secs(25 * 3_600),
            deliver_timeout: Duration::from_secs(30),
        }
    }
}

/// What a backfill incarnation starts from.
#[derive(Debug, Clone)]
pub struct BackfillArgs {
    pub venue: Venue,
    pub symbols: Vec<Symbol>,
    /// Its REST base URL.
    pub rest_url: Url,
    /// REST request timeout.
    pub rest_timeout: Duration,
    /// The venue's REST budget (shared with the connection).
    pub rest_budget: Arc<RestBudget>,
    /// Routes to the aggregators.
    pub routes: Arc<RoutingTable>,
    /// Their snapshots (first live trade, how each started).
    pub snapshots: Arc<SnapshotBoard>,
    /// The data-quality log: holes in, their states out.
    pub quality: QualitySink,
    pub settings: Arc<BackfillSettings>,
    /// Status entry.
    pub status: Arc<ActorEntry>,
    /// When the daemon started (Unix ms): a start-up backfill reaches back from there.
    pub started_at: i64,
}

/// A finished job, for status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobReport {
    pub symbol: Symbol,
    /// Why it ran.
    pub kind: JobKind,
    /// How it ended.
    pub state: HoleState,
    /// Why, when not repaired whole.
    pub reason: String,
    /// What it did.
    pub progress: Progress,
    /// How long it took (ms).
    pub took_ms: i64,
}

/// What the backfill of a venue is doing, for status and tests.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BackfillStatus {
    /// The job running.
    pub active: Option<ActiveJob>,
    /// Jobs waiting.
    pub queued: usize,
    /// The latest finished jobs, newest last.
    pub done: Vec<JobReport>,
}

/// The job running, for status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActiveJob {
    pub symbol: Symbol,
    /// Why it runs.
    pub kind: JobKind,
    /// So far.
    pub progress: Progress,
    /// What is left, in words.
    pub target: String,
}

/// Messages of the backfill actor.
#[derive(Debug)]
pub enum BackfillMsg {
    /// Look at the data-quality log and the pairs (self-sent every `scan_interval`).
    Scan,
    /// One request of the job running (self-sent).
    Step,
    /// Returns the status.
    GetStatus(RpcReplyPort<BackfillStatus>),
}

/// The backfill actor of one venue.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackfillActor;

/// Its state.
#[derive(Debug)]
pub struct BackfillState {
    args: BackfillArgs,
    rest: RestClient,
    queue: VecDeque<Job>,
    active: Option<Job>,
    stepping: bool,
    /// Holes queued or closed by this incarnation, by (symbol, time, key).
    known: HashSet<(Symbol, i64, String)>,
    startup_checked: HashSet<Symbol>,
    done: VecDeque<JobReport>,
    failures: u32,
    last_log: Instant,
}

const MAX_DONE: usize = 32;
const MAX_FAILURES: u32 = 5;

fn key(event: &DataQualityEvent) -> Option<(Symbol, i64, String)> {
    Some((event.symbol?, event.time.as_millis(), event.key()))
}

fn describe(target: &Target) -> String {
    match target {
        Target::Ids { next, last } => format!("ids {next}..={last}"),
        Target::From { start, last } => format!("from time {start} up to id {last}"),
        Target::Recent { from, to } => format!("recent trades of {from}..={to}"),
    }
}

impl BackfillState {
    fn horizon_ms(&self) -> i64 {
        i64::try_from(self.args.settings.horizon.as_millis()).unwrap_or(i64::MAX)
    }

    /// Queues the open holes not seen yet, and the start-up backfills now due.
    fn scan(&mut self) {
        let venue = self.args.venue;
        let now = unix_millis();
        if self.args.settings.repair {
            for &symbol in &self.args.symbols {
                for hole in self.args.quality.open_holes(venue, symbol) {
                    let Some(key) = key(&hole) else { continue };
                    if !self.known.insert(key) {
                        continue;
                    }
                    match plan(venue, &hole, now, self.horizon_ms()) {
                        Plan::Close { state, reason } => self.close(hole, state, 0, &reason),
                        Plan::Fetch { target, partial } => {
                            let mut repairing = hole.clone();
                            repairing.state = Some(HoleState::Repairing);
                            self.args.quality.update(repairing);
                            self.queue.push_back(Job {
                                symbol,
                                kind: JobKind::Repair,
                                hole: Some(hole),
                                target,
                                partial,
                                progress: Progress::default(),
                                started_at: now,
                            });
                        }
                    }
                }
            }
        }
        let window = i64::try_from(self.args.settings.on_start.as_millis()).unwrap_or(0);
        if window > 0 {
            for &symbol in &self.args.symbols {
                if self.startup_checked.contains(&symbol) {
                    continue;
                }
                let Some(snapshot) = self.args.snapshots.latest(venue, symbol) else {
                    continue;
                };
                let Some(warm) = &snapshot.warm else { continue };
                match warm.outcome {
                    // The stop's hole brings what the store misses.
                    "warm" => {
                        self.startup_checked.insert(symbol);
                    }
                    "cold" => {
                        // From a minute's start, so the rolling windows' first minute is
                        // whole.
                        let start = crate::aggregator::Timeframe::M1
                            .start_of(self.args.started_at - window);
                        let target = match venue.exchange() {
                            Exchange::Binance => snapshot
                                .counts
                                .first_trade_id
                                .filter(|&id| id > 0)
                                .map(|first| Target::From {
                                    start,
                                    last: first - 1,
                                }),
                            Exchange::Bybit => {
                                snapshot.earliest_trade.map(|earliest| Target::Recent {
                                    from: start,
                                    to: earliest,
                                })
                            }
                        };
                        if let Some(target) = target {
                            self.startup_checked.insert(symbol);
                            debug!(venue = %venue, symbol = %symbol, target = %describe(&target), "backfill of the history before the first live trade");
                            self.queue.push_back(Job {
                                symbol,
                                kind: JobKind::Startup,
                                hole: None,
                                target,
                                partial: None,
                                progress: Progress::default(),
                                started_at: now,
                            });
                        }
                    }
                    // The store did not answer yet: it may still bring the history.
                    _ => {}
                }
            }
        }
        metrics::gauge!(BACKFILL_PENDING_JOBS, "venue" => venue.as_str())
            .set((self.queue.len() + usize::from(self.active.is_some())) as f64);
    }

    /// Records a hole's final state.
    fn close(&self, mut hole: DataQualityEvent, state: HoleState, recovered: u64, reason: &str) {
        metrics::counter!(BACKFILL_JOBS_TOTAL, "venue" => self.args.venue.as_str(), "outcome" => state.as_str()).increment(1);
        hole.state = Some(state);
        hole.recovered = Some(recovered);
        if !reason.is_empty() {
            hole.cause = format!("{}; {reason}", hole.cause);
        }
        self.args.quality.update(hole);
    }

    fn status(&self) -> BackfillStatus {
        BackfillStatus {
            active: self.active.as_ref().map(|job| ActiveJob {
                symbol: job.symbol,
                kind: job.kind,
                progress: job.progress,
                target: describe(&job.target),
            }),
            queued: self.queue.len(),
            done: self.done.iter().cloned().collect(),
        }
    }

    fn publish_status(&self) {
        if let Ok(detail) = serde_json::to_value(self.status()) {
            self.args.status.set_detail(detail);
        }
    }

    /// Fetches one page of the running job's target.
    async fn fetch(&self, job: &Job) -> Result<(Vec<Trade>, Fetched), RestError> {
        let now = unix_millis();
        let (trades, earliest) = match job.target {
            Target::Ids { next, .. } => (
                self.rest
                    .agg_trades(job.symbol, TradesFrom::Id(next), 1_000)
                    .await?,
                None,
            ),
            Target::From { start, .. } => (
                self.rest
                    .agg_trades(
                        job.symbol,
                        TradesFrom::Window {
                            start,
                            end: (start + super::plan::MAX_WINDOW_MS).min(now),
                        },
                        1_000,
                    )
                    .await?,
                None,
            ),
            Target::Recent { .. } => {
                let trades = self
                    .rest
                    .recent_trades(job.symbol, recent_trades_limit(self.args.venue))
                    .await?;
                let earliest = trades.iter().map(|t| t.trade_time.as_millis()).min();
                (trades, earliest)
            }
        };
        let highest_id = trades.iter().filter_map(|t| t.id.as_number()).max();
        let any = !trades.is_empty();
        let within: Vec<Trade> = trades
            .into_iter()
            .filter(|t| match job.target {
                Target::Ids { last, .. } | Target::From { last, .. } => {
                    t.id.as_number().is_some_and(|id| id <= last)
                }
                Target::Recent { from, to } => (from..=to).contains(&t.trade_time.as_millis()),
            })
            .collect();
        let fetched = Fetched {
            within: within.len() as u64,
            highest_id,
            earliest_time: earliest,
            any,
        };
        Ok((within, fetched))
    }

    /// Hands trades to the aggregator of `symbol`.
    async fn deliver(&self, symbol: Symbol, trades: Vec<Trade>) -> Result<PastOutcome, String> {
        if trades.is_empty() {
            return Ok(PastOutcome::default());
        }
        let actor = self
            .args
            .routes
            .slot(self.args.venue, symbol)
            .and_then(|slot| slot.actor())
            .ok_or_else(|| "no aggregator is running".to_owned())?;
        let timeout =
            u64::try_from(self.args.settings.deliver_timeout.as_millis()).unwrap_or(30_000);
        ractor::call_t!(actor, AggregatorMsg::PastTrades, timeout, trades)
            .map_err(|err| format!("the aggregator did not take the trades: {err}"))
    }

    /// Runs one request of the active job (starting the next queued one if none runs).
    /// Returns true when another step is due.
    async fn step(&mut self) -> bool {
        if self.active.is_none() {
            self.active = self.queue.pop_front();
        }
        let Some(job) = self.active.clone() else {
            return false;
        };
        let venue = self.args.venue;
        let fetched = self.fetch(&job).await;
        metrics::counter!(BACKFILL_REQUESTS_TOTAL, "venue" => venue.as_str()).increment(1);
        let (trades, fetched) = match fetched {
            Ok(page) => page,
            Err(err) => return self.failed(&job, error_chain(&err), &err),
        };
        let outcome = match self.deliver(job.symbol, trades).await {
            Ok(outcome) => outcome,
            Err(reason) => {
                warn!(venue = %venue, symbol = %job.symbol, reason = %reason, "backfill waits for the aggregator");
                self.failures += 1;
                return self.failures < MAX_FAILURES * 2;
            }
        };
        self.failures = 0;
        for (label, count) in [
            ("taken", outcome.taken),
            ("duplicate", outcome.duplicates),
            ("too_old", outcome.too_old),
        ] {
            if count > 0 {
                metrics::counter!(BACKFILL_TRADES_TOTAL, "venue" => venue.as_str(), "outcome" => label).increment(count);
            }
        }
        let Some(active) = self.active.as_mut() else {
            return false;
        };
        active.progress.taken += outcome.taken;
        active.progress.duplicates += outcome.duplicates;
        active.progress.too_old += outcome.too_old;
        let step = active.advance(fetched, unix_millis());
        if self.last_log.elapsed() >= Duration::from_secs(5) {
            self.last_log = Instant::now();
            info!(venue = %venue, symbol = %active.symbol, kind = ?active.kind, requests = active.progress.requests, fetched = active.progress.fetched, recovered = active.progress.taken, target = %describe(&active.target), "backfill progress");
        }
        match step {
            Step::Continue => true,
            Step::Done { state, reason } => {
                self.finish(state, &reason);
                !self.queue.is_empty()
            }
        }
    }

    fn finish(&mut self, state: HoleState, reason: &str) {
        let Some(job) = self.active.take() else {
            return;
        };
        let now = unix_millis();
        // Work done is news, and so is a hole left unrepaired; a start-up backfill that
        // found nothing to fetch is not.
        let news = job.progress.taken > 0
            || (state != HoleState::Repaired && !matches!(job.kind, JobKind::Startup));
        if news {
            info!(venue = %self.args.venue, symbol = %job.symbol, kind = ?job.kind, state = state.as_str(), recovered = job.progress.taken, requests = job.progress.requests, took_ms = now - job.started_at, reason, "backfill done");
        } else {
            debug!(venue = %self.args.venue, symbol = %job.symbol, kind = ?job.kind, state = state.as_str(), requests = job.progress.requests, took_ms = now - job.started_at, "backfill done, nothing to fetch");
        }
        match &job.hole {
            Some(hole) => self.close(hole.clone(), state, job.progress.taken, reason),
            None => {
                metrics::counter!(BACKFILL_JOBS_TOTAL, "venue" => self.args.venue.as_str(), "outcome" => state.as_str()).increment(1);
            }
        }
        if self.done.len() >= MAX_DONE {
            self.done.pop_front();
        }
        self.done.push_back(JobReport {
            symbol: job.symbol,
            kind: job.kind,
            state,
            reason: reason.to_owned(),
            progress: job.progress,
            took_ms: now - job.started_at,
        });
    }

    /// A request failed: retried (a rate limit is waited for by the budget itself), and
    /// after repeated failures the job is given up and its hole left open, to be tried
    /// again at a later scan.
    fn failed(&mut self, job: &Job, reason: String, err: &RestError) -> bool {
        self.failures += 1;
        warn!(venue = %self.args.venue, symbol = %job.symbol, failures = self.failures, error = %reason, "backfill request failed");
        if matches!(err, RestError::RateLimited { .. }) || self.failures < MAX_FAILURES {
            return true;
        }
        self.failures = 0;
        if let Some(job) = self.active.take() {
            if let Some(hole) = job.hole {
                if let Some(key) = key(&hole) {
                    self.known.remove(&key);
                }
                let mut open = hole;
                open.state = Some(HoleState::Open);
                self.args.quality.update(open);
            } else {
                self.startup_checked.remove(&job.symbol);
            }
        }
        !self.queue.is_empty()
    }
}

impl Actor for BackfillActor {
    type Msg = BackfillMsg;
    type State = BackfillState;
    type Arguments = BackfillArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let rest = RestClient::new(
            args.venue,
            args.rest_url.clone(),
            args.rest_timeout,
            Arc::clone(&args.rest_budget),
        )?;
        myself.send_interval(
            args.settings.scan_interval.max(Duration::from_millis(10)),
            || BackfillMsg::Scan,
        );
        Ok(BackfillState {
            args,
            rest,
            queue: VecDeque::new(),
            active: None,
            stepping: false,
            known: HashSet::new(),
            startup_checked: HashSet::new(),
            done: VecDeque::new(),
            failures: 0,
            last_log: Instant::now(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BackfillMsg::Scan => {
                state.scan();
                if !state.stepping && (state.active.is_some() || !state.queue.is_empty()) {
                    state.stepping = true;
                    let _ = myself.cast(BackfillMsg::Step);
                }
            }
            BackfillMsg::Step => {
                let again = state.step().await;
                state.stepping = again;
                if again {
                    let delay = if state.failures > 0 {
                        Duration::from_millis(250 << state.failures.min(7))
                    } else {
                        Duration::ZERO
                    };
                    if delay.is_zero() {
                        let _ = myself.cast(BackfillMsg::Step);
                    } else {
                        myself.send_after(delay, || BackfillMsg::Step);
                    }
                }
            }
            BackfillMsg::GetStatus(reply) => {
                let _ = reply.send(state.status());
            }
        }
        state.args.status.record_messages(1);
        state.publish_status();
        Ok(())
    }
}
