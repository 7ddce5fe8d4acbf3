//! Supervision building blocks for WADM: restart policies as data, the pure backoff schedule
//! and restart bookkeeping, a supervisor actor on ractor, and the status registry every
//! actor reports into.
//!
//! This crate knows nothing about markets, venues or symbols: it is generic over what it
//! supervises, so the connection, aggregator, persistence and API actors all share it.
//!
//! # Layout
//! - [`policy`]: [`RestartPolicy`], validated from configuration by [`RestartPolicy::try_new`].
//! - [`backoff`]: [`Backoff`], the capped exponential schedule: `delay` (deterministic),
//!   `jittered` (with a caller-supplied random sample), `random`; a policy's is
//!   [`RestartPolicy::backoff`].
//! - [`restart_log`]: [`RestartLog`], one child's failures, backoff attempts and restart window.
//! - [`supervisor`]: the [`Supervisor`] actor, [`ChildSpec`], and root spawning with [`RootHandle`].
//! - [`status`]: the [`StatusRegistry`] (kind, key, state, generation, restarts, last error,
//!   start time, last data time, messages handled, queue length, drops, detail).
//! - [`metrics`]: metric names.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod metrics;
pub mod policy;
pub mod restart_log;
pub mod status;
pub mod supervisor;

pub use backoff::{Backoff, InvalidBackoff};
pub use policy::{InvalidPolicy, PolicyProblem, RestartParams, RestartPolicy};
pub use restart_log::{RestartDecision, RestartLog};
pub use status::{ActorEntry, ActorState, ActorStatus, StatusRegistry, unix_millis, unix_nanos};
pub use supervisor::{
    ChildContext, ChildSpec, RootExit, RootHandle, SUPERVISOR_KIND, StopMode, Supervisor,
    SupervisorArgs, SupervisorMsg,
};
