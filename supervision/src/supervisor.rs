//! A supervisor actor on ractor's supervision events: it spawns its children linked to
//! itself, restarts any that fail (or stop unexpectedly) after the delay its
//! [`RestartPolicy`] gives, and escalates by failing itself when a child fails more than
//! `max_restarts` times within the window. ractor then stops the supervisor's remaining
//! children, and its own supervisor decides what to do.
//!
//! Each incarnation of a child gets the next generation number of its status entry, so
//! generations keep increasing even when a parent restarts the whole subtree.
//!
//! Written on core ractor rather than `ractor-supervisor` so that generations, the status
//! registry and routing-table updates on respawn are first-class, and so that ractor's
//! `Actor` trait stays on native async (that crate's default feature switches it to
//! `async-trait` for the whole build).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
};
use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};

use crate::metrics::{ACTOR_RESTARTS_TOTAL, SUPERVISOR_MELTDOWNS_TOTAL};
use crate::policy::RestartPolicy;
use crate::restart_log::{RestartDecision, RestartLog};
use crate::status::{ActorEntry, StatusRegistry};

/// What a child's start function receives.
#[derive(Debug, Clone)]
pub struct ChildContext {
    /// The supervisor to link the child to.
    pub supervisor: ActorCell,
    /// The generation of the incarnation being started.
    pub generation: u64,
    /// The child's status entry, for it to report into.
    pub status: Arc<ActorEntry>,
}

/// A boxed future that spawns one incarnation of a child.
pub type StartFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;

/// Spawns one incarnation of a child, linked to `context.supervisor`.
pub type StartFn = Arc<dyn Fn(ChildContext) -> StartFuture + Send + Sync>;

/// How a child is stopped when its supervisor shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    /// Stop at once: messages still queued are dropped (`post_stop` runs).
    #[default]
    Stop,
    /// Handle every message already queued, then stop (`post_stop` runs): for actors whose
    /// queue holds data that must not be lost.
    Drain,
    /// A nested supervisor: stop its children in order first, then it.
    Subtree,
}

/// How to start one child and how it appears in status and metrics.
#[derive(Clone)]
pub struct ChildSpec {
    /// Actor kind (`connection`, `aggregator`, `supervisor`, ...): a metric label.
    pub kind: String,
    /// Actor key within its kind (`binance-spot`, `binance-spot/BTCUSDT`).
    pub key: String,
    /// Spawns an incarnation.
    pub start: StartFn,
    /// How it is stopped on shutdown.
    pub stop: StopMode,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("kind", &self.kind)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// Builds a spec from a start function.
    pub fn new<F, Fut>(kind: impl Into<String>, key: impl Into<String>, start: F) -> Self
    where
        F: Fn(ChildContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        Self {
            kind: kind.into(),
            key: key.into(),
            start: Arc::new(move |context| Box::pin(start(context))),
            stop: StopMode::Stop,
        }
    }

    /// Makes the child drain its queue when stopped on shutdown.
    #[must_use]
    pub fn draining(mut self) -> Self {
        self.stop = StopMode::Drain;
        self
    }

    /// Builds the spec of a nested supervisor, so subtrees restart as a unit.
    pub fn supervisor(
        key: impl Into<String>,
        args: impl Fn() -> SupervisorArgs + Send + Sync + 'static,
    ) -> Self {
        let key = key.into();
        let name = key.clone();
        let mut spec = Self::new(SUPERVISOR_KIND, key, move |context: ChildContext| {
            let args = args();
            let name = name.clone();
            async move {
                let (actor, _) = Actor::spawn_linked(
                    None,
                    Supervisor,
                    SupervisorArgs { name, ..args },
                    context.supervisor,
                )
                .await?;
                Ok(actor.get_cell())
            }
        });
        spec.stop = StopMode::Subtree;
        spec
    }
}

/// Stops one child by `deadline` as its spec says; kills it if it is still running then.
async fn stop_child(spec: &ChildSpec, cell: ActorCell, deadline: tokio::time::Instant) {
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let stopped = match spec.stop {
        StopMode::Stop => stop_and_wait(&cell, left()).await,
        StopMode::Drain => cell
            .drain_and_wait(Some(left()))
            .await
            .map_err(|err| err.to_string()),
        StopMode::Subtree => {
            let nested: ActorRef<SupervisorMsg> = cell.clone().into();
            let asked = nested
                .call(
                    |reply| SupervisorMsg::StopChildren { deadline, reply },
                    Some(left()),
                )
                .await;
            if !matches!(asked, Ok(ractor::rpc::CallResult::Success(()))) {
                warn!(actor = %spec.key, "nested supervisor did not stop its children in time");
            }
            stop_and_wait(&cell, left()).await
        }
    };
    if let Err(err) = stopped {
        warn!(actor = %spec.key, kind = %spec.kind, error = %err, "child did not stop in time; killing it");
        cell.kill();
    }
}

async fn stop_and_wait(cell: &ActorCell, within: Duration) -> Result<(), String> {
    cell.stop_and_wait(Some("shutdown".into()), Some(within))
        .await
        .map_err(|err| err.to_string())
}

/// Status kind of supervisors.
pub const SUPERVISOR_KIND: &str = "supervisor";

/// Everything a supervisor needs.
#[derive(Debug, Clone)]
pub struct SupervisorArgs {
    /// Its key in status (`root`, `venue/binance-spot`, `aggregators`).
    pub name: String,
    /// Restart policy of its children.
    pub policy: RestartPolicy,
    /// Children, started in order.
    pub children: Vec<ChildSpec>,
    /// Where every actor reports its status.
    pub registry: Arc<StatusRegistry>,
}

/// Messages of a [`Supervisor`].
#[derive(Debug)]
pub enum SupervisorMsg {
    /// Restart child `index` whose incarnation `generation` failed (sent by a timer).
    Restart {
        /// Position of the child.
        index: usize,
        /// The generation that failed; a stale timer finds a newer one and does nothing.
        generation: u64,
    },
    /// Stop the children, last started first, all by `deadline`, then reply.
    StopChildren {
        /// When every child must have stopped; one still running then is killed.
        deadline: tokio::time::Instant,
        /// Answered once all children are stopped.
        reply: RpcReplyPort<()>,
    },
}

/// The supervisor actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Supervisor;

struct Child {
    spec: ChildSpec,
    status: Arc<ActorEntry>,
    cell: Option<ActorCell>,
    generation: u64,
    log: RestartLog,
}

/// State of a running supervisor.
pub struct SupervisorState {
    name: String,
    children: Vec<Child>,
    status: Arc<ActorEntry>,
    stopping: bool,
}

impl fmt::Debug for SupervisorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorState")
            .field("name", &self.name)
            .field("children", &self.children.len())
            .field("stopping", &self.stopping)
            .finish()
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let status = args.registry.entry(SUPERVISOR_KIND, &args.name);
        status.mark_started(status.generation() + 1);
        let children = args
            .children
            .into_iter()
            .map(|spec| Child {
                status: args.registry.entry(&spec.kind, &spec.key),
                spec,
                cell: None,
                generation: 0,
                log: RestartLog::new(args.policy),
            })
            .collect();
        let mut state = SupervisorState {
            name: args.name,
            children,
            status,
            stopping: false,
        };
        for index in 0..state.children.len() {
            start_child(&myself, &mut state, index).await?;
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for child in &state.children {
            child.status.mark_stopped();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Restart { index, generation } => {
                let pending = state
                    .children
                    .get(index)
                    .is_some_and(|child| child.cell.is_none() && child.generation == generation);
                if pending && !state.stopping {
                    start_child(&myself, state, index).await?;
                }
            }
            SupervisorMsg::StopChildren { deadline, reply } => {
                state.stopping = true;
                // Last started first; a run of draining siblings drains concurrently.
                let mut index = state.children.len();
                while index > 0 {
                    let end = index;
                    let draining = state.children[index - 1].spec.stop == StopMode::Drain;
                    index -= 1;
                    while draining
                        && index > 0
                        && state.children[index - 1].spec.stop == StopMode::Drain
                    {
                        index -= 1;
                    }
                    let group = &mut state.children[index..end];
                    let stops = group.iter_mut().rev().filter_map(|child| {
                        let cell = child.cell.take()?;
                        let child: &Child = child;
                        Some(stop_child(&child.spec, cell, deadline))
                    });
                    futures_util::future::join_all(stops).await;
                    for child in group {
                        child.status.mark_stopped();
                    }
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, error) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, format!("failed: {error}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!(
                    "stopped unexpectedly ({})",
                    reason.as_deref().unwrap_or("no reason")
                ),
            ),
            _ => return Ok(()),
        };
        let Some(index) = state.children.iter().position(|child| {
            child
                .cell
                .as_ref()
                .is_some_and(|c| c.get_id() == cell.get_id())
        }) else {
            return Ok(());
        };
        state.children[index].cell = None;
        if state.stopping {
            state.children[index].status.mark_stopped();
            return Ok(());
        }
        on_child_failure(&myself, state, index, error)
    }
}

/// Starts the next incarnation of child `index`; a spawn error counts as a failure.
async fn start_child(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    index: usize,
) -> Result<(), ActorProcessingErr> {
    let child = &mut state.children[index];
    let generation = child.status.generation() + 1;
    child.generation = generation;
    let context = ChildContext {
        supervisor: myself.get_cell(),
        generation,
        status: Arc::clone(&child.status),
    };
    match (child.spec.start)(context).await {
        Ok(cell) => {
            child.cell = Some(cell);
            child.log.started(Instant::now());
            child.status.mark_started(generation);
            if generation > 1 {
                info!(supervisor = %state.name, kind = %child.spec.kind, actor = %child.spec.key, generation, "child restarted");
            } else {
                debug!(supervisor = %state.name, kind = %child.spec.kind, actor = %child.spec.key, generation, "child started");
            }
            Ok(())
        }
        Err(err) => on_child_failure(myself, state, index, format!("could not start: {err}")),
    }
}

fn on_child_failure(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    index: usize,
    error: String,
) -> Result<(), ActorProcessingErr> {
    let child = &mut state.children[index];
    let (kind, key, generation) = (
        child.spec.kind.clone(),
        child.spec.key.clone(),
        child.generation,
    );
    match child.log.failed(Instant::now(), fastrand::f64()) {
        RestartDecision::Restart { attempt, delay } => {
            warn!(
                supervisor = %state.name,
                kind = %kind,
                actor = %key,
                generation,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "child failed; restarting"
            );
            child.status.mark_restarting(&error);
            metrics::counter!(ACTOR_RESTARTS_TOTAL, "actor_kind" => kind).increment(1);
            myself.send_after(delay, move || SupervisorMsg::Restart { index, generation });
            Ok(())
        }
        RestartDecision::Escalate { restarts_in_window } => {
            error!(
                supervisor = %state.name,
                kind = %kind,
                actor = %key,
                generation,
                restarts_in_window,
                error = %error,
                "child keeps failing; supervisor gives up and escalates"
            );
            child.status.mark_escalated(&error);
            metrics::counter!(SUPERVISOR_MELTDOWNS_TOTAL).increment(1);
            let reason = format!(
                "{kind} {key} failed {} times within the restart window; last: {error}",
                restarts_in_window + 1
            );
            state.status.mark_escalated(&reason);
            Err(reason.into())
        }
    }
}

/// How the root of a tree ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootExit {
    /// It stopped normally.
    Stopped,
    /// It failed: a meltdown escalated all the way up.
    Failed(String),
}

/// A spawned root supervisor and a way to learn how it ended.
#[derive(Debug)]
pub struct RootHandle {
    /// The root supervisor.
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Resolves once the root stops or fails.
    pub exit: oneshot::Receiver<RootExit>,
    guardian: ActorRef<()>,
}

impl RootHandle {
    /// Stops the tree within `timeout`: children last-started first (nested supervisors
    /// stop theirs in the same order, draining children handle what they hold), then the
    /// root. A child still running at the deadline is killed.
    pub async fn shutdown(self, timeout: Duration) -> RootExit {
        let deadline = tokio::time::Instant::now() + timeout;
        let stopped = self
            .supervisor
            .call(
                |reply| SupervisorMsg::StopChildren { deadline, reply },
                Some(timeout),
            )
            .await;
        if !matches!(stopped, Ok(ractor::rpc::CallResult::Success(()))) {
            warn!("the root supervisor did not stop its children by the deadline");
        }
        self.supervisor.stop(Some("shutdown".into()));
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(100));
        let exit = tokio::time::timeout(left, self.exit).await;
        self.guardian.stop(None);
        match exit {
            Ok(Ok(exit)) => exit,
            Ok(Err(_)) => RootExit::Stopped,
            Err(_) => RootExit::Failed("the root supervisor did not stop in time".into()),
        }
    }
}

/// Watches the root supervisor and reports how it ended.
struct Guardian;

struct GuardianState {
    exit: Option<oneshot::Sender<RootExit>>,
}

impl Actor for Guardian {
    type Msg = ();
    type State = GuardianState;
    type Arguments = oneshot::Sender<RootExit>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        exit: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(GuardianState { exit: Some(exit) })
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let exit = match event {
            SupervisionEvent::ActorFailed(_, error) => RootExit::Failed(error.to_string()),
            SupervisionEvent::ActorTerminated(..) => RootExit::Stopped,
            _ => return Ok(()),
        };
        if let Some(sender) = state.exit.take() {
            let _ = sender.send(exit);
        }
        Ok(())
    }
}

impl Supervisor {
    /// Spawns the root of a supervision tree.
    pub async fn spawn_root(args: SupervisorArgs) -> Result<RootHandle, SpawnErr> {
        let (exit_tx, exit) = oneshot::channel();
        let (guardian, _) = Actor::spawn(None, Guardian, exit_tx).await?;
        match Actor::spawn_linked(None, Supervisor, args, guardian.get_cell()).await {
            Ok((supervisor, _)) => Ok(RootHandle {
                supervisor,
                exit,
                guardian,
            }),
            Err(err) => {
                guardian.stop(None);
                Err(err)
            }
        }
    }
}
