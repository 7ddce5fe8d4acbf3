//! The ApiActor: serves [`Api`] ([`server`]: hyper driving the warp filter, within
//! connection, time and concurrency bounds) on a listening socket bound once by the composition
//! root (so the port is checked at start and stays bound across restarts), fails when the
//! server task ends unexpectedly (its supervisor restarts it), and closes gracefully on stop.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use wadm_supervision::ActorEntry;

use super::Api;
use super::server::{self, ServerCounters};

/// How often idle rate-limit buckets are forgotten and the status entry refreshed.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(10);

/// How long open requests may take to finish on stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Messages of the ApiActor.
#[derive(Debug)]
pub enum ApiMsg {
    /// Prune rate-limit state and publish the status entry.
    Upkeep,
    /// The server task ended (a failure unless the actor is stopping).
    ServerExited(String),
}

/// What each incarnation is started with.
#[derive(Debug, Clone)]
pub struct ApiArgs {
    pub api: Arc<Api>,
    /// The listening socket (each incarnation serves a clone of it).
    pub listener: Arc<TcpListener>,
    /// The status entry.
    pub status: Arc<ActorEntry>,
    /// The runtime the server and its connections run on (the API's own, so a costly request
    /// never holds up the feeds); `None`: the actor's.
    pub runtime: Option<tokio::runtime::Handle>,
}

/// The API actor.
#[derive(Debug, Default)]
pub struct ApiActor;

/// State of an incarnation.
#[derive(Debug)]
pub struct ApiState {
    args: ApiArgs,
    stop: Option<watch::Sender<bool>>,
    server: Option<JoinHandle<()>>,
    counters: Arc<ServerCounters>,
    max_connections: usize,
    reported: u64,
}

impl ApiState {
    fn publish(&mut self) {
        let counters = self.args.api.counters();
        let requests = counters.requests.load(Ordering::Relaxed);
        self.args
            .status
            .record_messages(requests.saturating_sub(self.reported));
        self.reported = requests;
        self.args.status.set_detail(serde_json::json!({
            "bind": self.args.listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            "keys": self.args.api.settings().keys.len(),
            "requests": requests,
            "unauthorized": counters.unauthorized.load(Ordering::Relaxed),
            "rate_limited": counters.rate_limited.load(Ordering::Relaxed),
            "server_errors": counters.server_errors.load(Ordering::Relaxed),
            "rate_limit_subjects": self.args.api.limits().tracked(),
            "key_failure_subjects": self.args.api.verifier().tracked_failures(),
            "key_prefixes": self.args.api.verifier().prefixed(),
            "max_connections": self.max_connections,
            "connections": self.counters.to_json(),
        }));
    }
}

impl Actor for ApiActor {
    type Msg = ApiMsg;
    type State = ApiState;
    type Arguments = ApiArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let std_listener = args.listener.try_clone()?;
        std_listener.set_nonblocking(true)?;
        // Registered with the runtime that serves it.
        let listener = {
            let _runtime = args.runtime.as_ref().map(tokio::runtime::Handle::enter);
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let mut limits = args.api.settings().server;
        let fd_limit = server::fd_limit();
        let configured = limits.max_connections;
        limits.max_connections = limits.connections_under(fd_limit);
        if limits.max_connections < configured {
            warn!(
                configured,
                fd_limit,
                max_connections = limits.max_connections,
                reserved = server::RESERVED_FDS,
                "api.max_connections lowered to keep file descriptors for the feeds and the store"
            );
        }
        let counters = Arc::new(ServerCounters::default());
        let notify = myself.clone();
        let serving = server::serve(
            listener,
            Arc::clone(&args.api),
            limits,
            Arc::clone(&counters),
            stopped,
        );
        let task = async move {
            serving.await;
            let _ = notify.send_message(ApiMsg::ServerExited("the HTTP server ended".into()));
        };
        let server = match &args.runtime {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        };
        if args.api.verifier().required() && !args.api.verifier().prefixed() {
            warn!(
                "some api.keys have no `prefix`: every unknown key costs an argon2 run, and a client sending many distinct bad keys can delay a good key from its IP until that key is verified once; add the prefix `wadm hash-key` prints"
            );
        }
        myself.send_interval(UPKEEP_INTERVAL, || ApiMsg::Upkeep);
        debug!(bind = %addr, keys = args.api.settings().keys.len(), max_connections = limits.max_connections, header_timeout = ?limits.header_timeout, idle_timeout = ?limits.idle_timeout, max_concurrent_requests = limits.max_concurrent_requests, "API serving");
        let mut state = ApiState {
            args,
            stop: Some(stop),
            server: Some(server),
            counters,
            max_connections: limits.max_connections,
            reported: 0,
        };
        state.publish();
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ApiMsg::Upkeep => {
                state.args.api.limits().prune();
                state.args.api.verifier().prune();
                state.publish();
                Ok(())
            }
            ApiMsg::ServerExited(reason) => Err(reason.into()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(stop) = state.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(mut server) = state.server.take()
            && tokio::time::timeout(DRAIN_TIMEOUT, &mut server)
                .await
                .is_err()
        {
            warn!("open API requests did not finish in time; closing them");
            server.abort();
        }
        state.publish();
        info!("API stopped");
        Ok(())
    }
}
