//! The supervisor restarts failing children by its policy, with a new generation each time,
//! and escalates past its limit; a parent supervisor then restarts the whole subtree.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use wadm_supervision::{
    ActorState, ChildContext, ChildSpec, RestartParams, RestartPolicy, RootExit, StatusRegistry,
    Supervisor, SupervisorArgs,
};

/// A child that panics when told to and announces each incarnation.
struct Flaky;

#[derive(Debug)]
enum FlakyMsg {
    Panic,
}

struct Started {
    generation: u64,
    actor: ActorRef<FlakyMsg>,
}

impl Actor for Flaky {
    type Msg = FlakyMsg;
    type State = ();
    type Arguments = (u64, mpsc::UnboundedSender<Started>);

    async fn pre_start(
        &self,
        myself: ActorRef<FlakyMsg>,
        (generation, started): Self::Arguments,
    ) -> Result<(), ActorProcessingErr> {
        let _ = started.send(Started {
            generation,
            actor: myself,
        });
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<FlakyMsg>,
        message: FlakyMsg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            FlakyMsg::Panic => panic!("flaky child told to panic"),
        }
    }
}

fn flaky_spec(started: mpsc::UnboundedSender<Started>) -> ChildSpec {
    ChildSpec::new("flaky", "f", move |context: ChildContext| {
        let started = started.clone();
        async move {
            let (actor, _) = Actor::spawn_linked(
                None,
                Flaky,
                (context.generation, started),
                context.supervisor,
            )
            .await?;
            Ok(actor.get_cell())
        }
    })
}

fn policy(max_restarts: u32) -> RestartPolicy {
    RestartPolicy::try_new(RestartParams {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: 0.0,
        reset_after: Duration::from_secs(3600),
        max_restarts,
        window: Duration::from_secs(3600),
    })
    .unwrap()
}

async fn next_start(started: &mut mpsc::UnboundedReceiver<Started>) -> Started {
    timeout(Duration::from_secs(30), started.recv())
        .await
        .expect("a child start in time")
        .expect("channel open")
}

#[tokio::test(start_paused = true)]
async fn restarts_a_panicking_child_with_doubling_backoff_and_a_new_generation_then_escalates() {
    let registry = Arc::new(StatusRegistry::new());
    let (tx, mut started) = mpsc::unbounded_channel();
    let root = Supervisor::spawn_root(SupervisorArgs {
        name: "root".into(),
        policy: policy(3),
        children: vec![flaky_spec(tx)],
        registry: Arc::clone(&registry),
    })
    .await
    .unwrap();

    let mut current = next_start(&mut started).await;
    assert_eq!(current.generation, 1);
    for (expected_generation, expected_delay) in [(2, 100), (3, 200), (4, 400)] {
        let failed_at = Instant::now();
        current.actor.cast(FlakyMsg::Panic).unwrap();
        current = next_start(&mut started).await;
        assert_eq!(current.generation, expected_generation);
        assert_eq!(
            failed_at.elapsed(),
            Duration::from_millis(expected_delay),
            "restart delay of generation {expected_generation}"
        );
        let status = registry.get("flaky", "f").unwrap().snapshot();
        assert_eq!(
            (status.generation, status.restarts, status.state),
            (
                expected_generation,
                expected_generation - 1,
                ActorState::Running
            )
        );
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains("flaky child told to panic")
        );
    }

    // A fourth failure within the window is one more than max_restarts: the root gives up.
    current.actor.cast(FlakyMsg::Panic).unwrap();
    let exit = timeout(Duration::from_secs(30), root.exit)
        .await
        .unwrap()
        .unwrap();
    match exit {
        RootExit::Failed(reason) => assert!(reason.contains("flaky f failed 4 times"), "{reason}"),
        RootExit::Stopped => panic!("expected an escalation"),
    }
    assert_eq!(
        registry.get("flaky", "f").unwrap().state(),
        ActorState::Escalated
    );
    assert_eq!(
        registry.get("supervisor", "root").unwrap().state(),
        ActorState::Escalated
    );
}

#[tokio::test(start_paused = true)]
async fn a_parent_restarts_an_escalating_subtree_and_generations_keep_counting() {
    let registry = Arc::new(StatusRegistry::new());
    let (tx, mut started) = mpsc::unbounded_channel();
    let inner_registry = Arc::clone(&registry);
    let venue = ChildSpec::supervisor("venue", move || SupervisorArgs {
        name: String::new(),
        policy: policy(1),
        children: vec![flaky_spec(tx.clone())],
        registry: Arc::clone(&inner_registry),
    });
    let root = Supervisor::spawn_root(SupervisorArgs {
        name: "root".into(),
        policy: policy(5),
        children: vec![venue],
        registry: Arc::clone(&registry),
    })
    .await
    .unwrap();

    let first = next_start(&mut started).await;
    assert_eq!(first.generation, 1);
    first.actor.cast(FlakyMsg::Panic).unwrap();
    let second = next_start(&mut started).await;
    assert_eq!(second.generation, 2);
    // The inner supervisor allows one restart: the second failure escalates to the root,
    // which restarts the subtree after its own backoff.
    second.actor.cast(FlakyMsg::Panic).unwrap();
    let third = next_start(&mut started).await;
    assert_eq!(
        third.generation, 3,
        "generations continue across a subtree restart"
    );
    let venue_status = registry.get("supervisor", "venue").unwrap().snapshot();
    assert_eq!(
        (
            venue_status.generation,
            venue_status.restarts,
            venue_status.state
        ),
        (2, 1, ActorState::Running)
    );
    assert!(
        venue_status
            .last_error
            .unwrap()
            .contains("flaky f failed 2 times")
    );

    assert_eq!(
        root.shutdown(Duration::from_secs(5)).await,
        RootExit::Stopped
    );
    assert_eq!(
        registry.get("flaky", "f").unwrap().state(),
        ActorState::Stopped
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_that_cannot_start_is_retried_with_backoff() {
    let registry = Arc::new(StatusRegistry::new());
    let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (tx, mut started) = mpsc::unbounded_channel();
    let counter = Arc::clone(&attempts);
    let spec = ChildSpec::new("flaky", "f", move |context: ChildContext| {
        let started = tx.clone();
        let attempt = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            if attempt < 2 {
                return Err(ractor::SpawnErr::StartupFailed(
                    "refused for the test".into(),
                ));
            }
            let (actor, _) = Actor::spawn_linked(
                None,
                Flaky,
                (context.generation, started),
                context.supervisor,
            )
            .await?;
            Ok(actor.get_cell())
        }
    });
    let began = Instant::now();
    let root = Supervisor::spawn_root(SupervisorArgs {
        name: "root".into(),
        policy: policy(5),
        children: vec![spec],
        registry: Arc::clone(&registry),
    })
    .await
    .unwrap();
    let child = next_start(&mut started).await;
    // Failed starts are not incarnations: the first one that runs is generation 1.
    assert_eq!(child.generation, 1);
    assert_eq!(
        began.elapsed(),
        Duration::from_millis(300),
        "100 ms then 200 ms of backoff"
    );
    assert_eq!(registry.get("flaky", "f").unwrap().restarts(), 2);
    assert_eq!(
        root.shutdown(Duration::from_secs(5)).await,
        RootExit::Stopped
    );
}
