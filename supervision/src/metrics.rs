//! Metric names of the supervision tree.

/// Counter: child restarts, by the kind of the restarted actor.
pub const ACTOR_RESTARTS_TOTAL: &str = "wadm_actor_restarts_total";

/// Counter: supervisors that gave up because a child failed too often.
pub const SUPERVISOR_MELTDOWNS_TOTAL: &str = "wadm_supervisor_meltdowns_total";

/// Creates the counters of this crate at zero for `actor_kinds`, so that dashboards and alert
/// rules (`increase(...)`) see a series before the first restart.
pub fn initialize(actor_kinds: &[&'static str]) {
    for &kind in actor_kinds {
        metrics::counter!(ACTOR_RESTARTS_TOTAL, "actor_kind" => kind).increment(0);
    }
    metrics::counter!(SUPERVISOR_MELTDOWNS_TOTAL).increment(0);
}

/// Registers the help text of every metric of this crate.
pub fn describe() {
    metrics::describe_counter!(
        ACTOR_RESTARTS_TOTAL,
        "Restarts of supervised actors, by actor kind."
    );
    metrics::describe_counter!(
        SUPERVISOR_MELTDOWNS_TOTAL,
        "Supervisors that escalated because a child failed more than max_restarts times within the window."
    );
}
