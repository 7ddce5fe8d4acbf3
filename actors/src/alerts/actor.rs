//! The AlertActor: evaluates the rules next to the aggregators, never on their path. It
//! watches every pair's snapshot on the board (a watch channel: an aggregator's publish is
//! one replace whoever listens) and looks at the market rules on each new one; each second
//! it looks at the health rules; each minute it refreshes the levels that need the store.
//! Firings are logged (stored with their delivery state) and handed to the [`Deliverer`].
//! The rules come from a watch channel the composition root owns, so a reload (SIGHUP)
//! reaches every incarnation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use wadm_supervision::ActorEntry;

use super::config::{AlertSettings, Condition, Level, LevelWindow};
use super::delivery::{Deliverer, Persist};
use super::evaluate::{Evaluator, Firing, ReferenceLevels};
use super::record::{AlertRecord, DeliveryOutcome};
use crate::aggregator::{Record, RecordSink};
use crate::api::Api;
use crate::boards::SnapshotBoard;
use crate::metrics::{
    ALERT_DELIVERIES_TOTAL, ALERT_LOG_DROPPED_TOTAL, ALERT_QUEUE_DEPTH, ALERTS_FIRED_TOTAL,
    ALERTS_SUPPRESSED_TOTAL,
};
use crate::model::{Symbol, Venue};

/// How often the health rules are looked at.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// How often the levels that need the store are read again.
const LEVELS_INTERVAL: Duration = Duration::from_secs(60);

/// Messages of the AlertActor.
#[derive(Debug)]
pub enum AlertMsg {
    /// A pair published a snapshot.
    Snapshot(Venue, Symbol),
    /// Look at the health rules (and refresh levels when due).
    Tick,
    /// Levels read from the store.
    Levels(HashMap<(Venue, Symbol), ReferenceLevels>),
    /// The rules changed.
    RulesChanged,
}

/// What each incarnation is started with.
#[derive(Clone)]
pub struct AlertArgs {
    /// The rules and destinations (a reload sends new ones).
    pub settings: watch::Receiver<Arc<AlertSettings>>,
    pub api: Arc<Api>,
    pub snapshots: Arc<SnapshotBoard>,
    /// Where the alert log goes (the persistence channel).
    pub sink: RecordSink,
    pub status: Arc<ActorEntry>,
}

impl std::fmt::Debug for AlertArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertArgs").finish_non_exhaustive()
    }
}

/// The alert actor.
#[derive(Debug, Default)]
pub struct AlertActor;

/// State of an incarnation.
pub struct AlertState {
    args: AlertArgs,
    settings: Arc<AlertSettings>,
    evaluator: Evaluator,
    deliverer: Deliverer,
    levels: HashMap<(Venue, Symbol), ReferenceLevels>,
    levels_due: i64,
    levels_running: bool,
    tasks: Vec<JoinHandle<()>>,
    fired: u64,
}

impl std::fmt::Debug for AlertState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertState")
            .field("rules", &self.evaluator.rules().len())
            .field("fired", &self.fired)
            .finish_non_exhaustive()
    }
}

fn deliverer(settings: &AlertSettings, sink: &RecordSink) -> Result<Deliverer, ActorProcessingErr> {
    let sink = sink.clone();
    let persist: Persist = Arc::new(move |record: AlertRecord| {
        let queued = sink.try_offer(Record::Alert(Arc::new(record)));
        if !queued {
            metrics::counter!(ALERT_LOG_DROPPED_TOTAL).increment(1);
        }
        queued
    });
    Ok(Deliverer::start(settings, persist)?)
}

impl AlertState {
    fn fire(&mut self, firings: Vec<Firing>) {
        for firing in firings {
            self.fired += 1;
            metrics::counter!(ALERTS_FIRED_TOTAL, "rule" => firing.rule.clone()).increment(1);
            info!(rule = %firing.rule, condition = firing.condition, summary = %firing.summary, "alert fired");
            let destinations: Vec<_> = self
                .settings
                .destinations
                .iter()
                .filter(|d| firing.destinations.contains(&d.name))
                .cloned()
                .collect();
            let kinds: Vec<(String, &'static str)> = destinations
                .iter()
                .map(|d| (d.name.clone(), d.kind.as_str()))
                .collect();
            let record = AlertRecord::of(&firing, &kinds);
            self.deliverer.offer(record, destinations);
        }
        self.args.status.record_messages(1);
    }

    /// Looks at the health rules.
    fn look_at_health(&mut self, now: i64) {
        let rules = self.evaluator.rules();
        if !rules.iter().any(|r| r.condition.is_health()) {
            return;
        }
        let pairs: Vec<(Venue, Symbol)> = rules
            .iter()
            .filter(|r| r.condition.is_health())
            .flat_map(|r| r.pairs.iter().copied())
            .collect();
        let health = self.args.api.alert_health(&pairs, now);
        let firings = self.evaluator.on_health(&health, now);
        self.count_suppressed();
        if !firings.is_empty() {
            self.fire(firings);
        }
    }

    /// Looks at every pair's latest snapshot and at the health rules at once (new rules take
    /// their first look now, not at the pair's next publish or the next second).
    fn look_at_all(&mut self, now: i64) {
        self.look_at_health(now);
        let pairs: Vec<(Venue, Symbol)> = self.args.snapshots.pairs().collect();
        let mut firings = Vec::new();
        for (venue, symbol) in pairs {
            if let Some(snapshot) = self.args.snapshots.latest(venue, symbol) {
                let refs = self.levels.get(&(venue, symbol));
                firings.extend(self.evaluator.on_snapshot(&snapshot, refs, now));
            }
        }
        self.count_suppressed();
        if !firings.is_empty() {
            self.fire(firings);
        }
    }

    fn count_suppressed(&mut self) {
        for (rule, count) in std::mem::take(&mut self.evaluator.suppressed) {
            metrics::counter!(ALERTS_SUPPRESSED_TOTAL, "rule" => rule).increment(count);
        }
    }

    /// Creates the rules' and destinations' series at zero, so that dashboards see them
    /// before anything fires.
    fn initialize_metrics(&self) {
        metrics::gauge!(ALERT_QUEUE_DEPTH).set(0.0);
        for rule in self.evaluator.rules() {
            metrics::counter!(ALERTS_FIRED_TOTAL, "rule" => rule.name.clone()).increment(0);
            metrics::counter!(ALERTS_SUPPRESSED_TOTAL, "rule" => rule.name.clone()).increment(0);
        }
        for destination in &self.settings.destinations {
            for outcome in [
                DeliveryOutcome::Delivered,
                DeliveryOutcome::Failed,
                DeliveryOutcome::Dropped,
            ] {
                metrics::counter!(ALERT_DELIVERIES_TOTAL, "destination" => destination.name.clone(), "outcome" => outcome.as_str()).increment(0);
            }
        }
    }

    fn publish_status(&self) {
        self.args.status.set_detail(serde_json::json!({
            "rules": self.evaluator.rules().iter().map(|r| serde_json::json!({
                "name": r.name,
                "condition": r.condition.kind(),
                "pairs": r.pairs.len(),
                "cooldown_ms": r.cooldown.as_millis() as u64,
                "holding": self.evaluator.holding(&r.name),
            })).collect::<Vec<_>>(),
            "destinations": self.settings.destinations.iter().map(|d| serde_json::json!({
                "name": d.name, "kind": d.kind.as_str(), "signed": d.secret.is_some(),
            })).collect::<Vec<_>>(),
            "fired": self.fired,
        }));
    }

    /// The pairs whose rules need levels from the store.
    fn level_pairs(&self) -> Vec<(Venue, Symbol)> {
        let mut pairs: Vec<(Venue, Symbol)> = Vec::new();
        for rule in self.evaluator.rules() {
            if matches!(
                rule.condition,
                Condition::PriceCross(Level::NakedPoc)
                    | Condition::PriceCross(Level::Profile {
                        window: LevelWindow::PreviousDay,
                        ..
                    })
            ) {
                for pair in &rule.pairs {
                    if !pairs.contains(pair) {
                        pairs.push(*pair);
                    }
                }
            }
        }
        pairs
    }

    fn refresh_levels(&mut self, myself: &ActorRef<AlertMsg>) {
        let pairs = self.level_pairs();
        if pairs.is_empty() || self.levels_running {
            return;
        }
        self.levels_running = true;
        let api = Arc::clone(&self.args.api);
        let actor = myself.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut levels = HashMap::new();
            for (venue, symbol) in pairs {
                levels.insert((venue, symbol), api.reference_levels(venue, symbol).await);
            }
            let _ = actor.cast(AlertMsg::Levels(levels));
        }));
    }
}

impl Actor for AlertActor {
    type Msg = AlertMsg;
    type State = AlertState;
    type Arguments = AlertArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let settings = Arc::clone(&args.settings.borrow());
        let mut tasks = Vec::new();
        for (venue, symbol) in args.snapshots.pairs().collect::<Vec<_>>() {
            let Some(mut receiver) = args.snapshots.subscribe(venue, symbol) else {
                continue;
            };
            let actor = myself.clone();
            tasks.push(tokio::spawn(async move {
                while receiver.changed().await.is_ok() {
                    if actor.cast(AlertMsg::Snapshot(venue, symbol)).is_err() {
                        break;
                    }
                }
            }));
        }
        let mut watcher = args.settings.clone();
        let actor = myself.clone();
        tasks.push(tokio::spawn(async move {
            while watcher.changed().await.is_ok() {
                if actor.cast(AlertMsg::RulesChanged).is_err() {
                    break;
                }
            }
        }));
        myself.send_interval(HEALTH_INTERVAL, || AlertMsg::Tick);
        let state = AlertState {
            deliverer: deliverer(&settings, &args.sink)?,
            evaluator: Evaluator::new(settings.rules.clone(), wadm_supervision::unix_millis()),
            settings,
            args,
            levels: HashMap::new(),
            levels_due: 0,
            levels_running: false,
            tasks,
            fired: 0,
        };
        state.initialize_metrics();
        state.publish_status();
        info!(rules = state.evaluator.rules().len(), "alert rules loaded");
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for task in state.tasks.drain(..) {
            task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let now = wadm_supervision::unix_millis();
        match message {
            AlertMsg::Snapshot(venue, symbol) => {
                let Some(snapshot) = state.args.snapshots.latest(venue, symbol) else {
                    return Ok(());
                };
                let refs = state.levels.get(&(venue, symbol));
                let firings = state.evaluator.on_snapshot(&snapshot, refs, now);
                state.count_suppressed();
                if !firings.is_empty() {
                    state.fire(firings);
                }
            }
            AlertMsg::Tick => {
                state.look_at_health(now);
                if now >= state.levels_due {
                    state.levels_due = now + LEVELS_INTERVAL.as_millis() as i64;
                    state.refresh_levels(&myself);
                }
                state.tasks.retain(|t| !t.is_finished());
                state.publish_status();
            }
            AlertMsg::Levels(levels) => {
                state.levels_running = false;
                state.levels = levels;
            }
            AlertMsg::RulesChanged => {
                let settings = Arc::clone(&state.args.settings.borrow());
                if settings.queue_capacity != state.settings.queue_capacity
                    || settings.concurrency != state.settings.concurrency
                    || settings.timeout != state.settings.timeout
                {
                    match deliverer(&settings, &state.args.sink) {
                        Ok(d) => state.deliverer = d,
                        Err(err) => {
                            warn!(error = %err, "the alert delivery settings could not be applied; keeping the previous ones")
                        }
                    }
                }
                state.evaluator.replace_rules(settings.rules.clone());
                state.settings = settings;
                state.look_at_all(now);
                state.levels_due = 0;
                state.initialize_metrics();
                info!(
                    rules = state.evaluator.rules().len(),
                    "alert rules reloaded"
                );
                state.publish_status();
            }
        }
        Ok(())
    }
}
