//! The restart bookkeeping of one supervised child, as a pure state machine: it is given the
//! time and a random sample, so every decision is testable without actors or clocks.
//!
//! - A failure while the child had been running for at least `reset_after` starts the
//!   backoff over from attempt 0; otherwise the attempt number grows with each failure.
//! - Restarts are counted in a sliding `window`; a failure that would make more than
//!   `max_restarts` restarts in it escalates instead.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::policy::RestartPolicy;

/// What to do about a failed child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart it after `delay`; `attempt` counts consecutive failures from 0.
    Restart {
        /// Consecutive failure number, from 0.
        attempt: u32,
        /// How long to wait before restarting.
        delay: Duration,
    },
    /// Too many restarts within the window: give up and escalate.
    Escalate {
        /// Restarts already made within the window.
        restarts_in_window: usize,
    },
}

/// Restart history of one child.
#[derive(Debug, Clone)]
pub struct RestartLog {
    policy: RestartPolicy,
    restarts: VecDeque<Instant>,
    consecutive_failures: u32,
    running_since: Option<Instant>,
    total_restarts: u64,
}

impl RestartLog {
    /// Creates an empty history under `policy`.
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            restarts: VecDeque::new(),
            consecutive_failures: 0,
            running_since: None,
            total_restarts: 0,
        }
    }

    /// Records that an incarnation of the child started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.running_since = Some(now);
    }

    /// Records a failure at `now` and decides what to do; `jitter_sample` is uniform in `[0, 1]`.
    pub fn failed(&mut self, now: Instant, jitter_sample: f64) -> RestartDecision {
        if let Some(since) = self.running_since.take()
            && now.saturating_duration_since(since) >= self.policy.reset_after()
        {
            self.consecutive_failures = 0;
        }
        while let Some(&oldest) = self.restarts.front() {
            if now.saturating_duration_since(oldest) >= self.policy.window() {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() >= self.policy.max_restarts() as usize {
            return RestartDecision::Escalate {
                restarts_in_window: self.restarts.len(),
            };
        }
        self.restarts.push_back(now);
        self.total_restarts += 1;
        let attempt = self.consecutive_failures;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        RestartDecision::Restart {
            attempt,
            delay: self.policy.backoff().jittered(attempt, jitter_sample),
        }
    }

    /// Returns how many restarts were decided over the child's whole life.
    pub fn total_restarts(&self) -> u64 {
        self.total_restarts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RestartParams;

    fn policy() -> RestartPolicy {
        RestartPolicy::try_new(RestartParams {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.0,
            reset_after: Duration::from_secs(10),
            max_restarts: 3,
            window: Duration::from_secs(60),
        })
        .unwrap()
    }

    fn delay(decision: RestartDecision) -> u128 {
        match decision {
            RestartDecision::Restart { delay, .. } => delay.as_millis(),
            RestartDecision::Escalate { .. } => panic!("unexpected escalation"),
        }
    }

    #[test]
    fn consecutive_failures_back_off_then_escalate_past_the_limit() {
        let t0 = Instant::now();
        let mut log = RestartLog::new(policy());
        log.started(t0);
        assert_eq!(delay(log.failed(t0 + Duration::from_secs(1), 0.0)), 100);
        log.started(t0 + Duration::from_secs(2));
        assert_eq!(delay(log.failed(t0 + Duration::from_secs(3), 0.0)), 200);
        log.started(t0 + Duration::from_secs(4));
        assert_eq!(delay(log.failed(t0 + Duration::from_secs(5), 0.0)), 400);
        log.started(t0 + Duration::from_secs(6));
        assert_eq!(
            log.failed(t0 + Duration::from_secs(7), 0.0),
            RestartDecision::Escalate {
                restarts_in_window: 3
            }
        );
        assert_eq!(log.total_restarts(), 3);
    }

    #[test]
    fn a_child_that_ran_long_enough_starts_the_backoff_over() {
        let t0 = Instant::now();
        let mut log = RestartLog::new(policy());
        log.started(t0);
        assert_eq!(delay(log.failed(t0, 0.0)), 100);
        log.started(t0);
        assert_eq!(delay(log.failed(t0 + Duration::from_secs(1), 0.0)), 200);
        log.started(t0 + Duration::from_secs(1));
        // Ran 10 s (reset_after) before failing: attempt 0 again.
        assert_eq!(delay(log.failed(t0 + Duration::from_secs(11), 0.0)), 100);
    }

    #[test]
    fn restarts_outside_the_window_no_longer_count() {
        let t0 = Instant::now();
        let mut log = RestartLog::new(policy());
        for i in 0..3 {
            log.started(t0 + Duration::from_secs(i));
            assert!(matches!(
                log.failed(t0 + Duration::from_secs(i), 0.0),
                RestartDecision::Restart { .. }
            ));
        }
        // 60 s after the first restart it has left the window, so one more is allowed.
        log.started(t0 + Duration::from_secs(59));
        assert!(matches!(
            log.failed(t0 + Duration::from_secs(60), 0.0),
            RestartDecision::Restart { .. }
        ));
        log.started(t0 + Duration::from_secs(60));
        assert!(matches!(
            log.failed(t0 + Duration::from_secs(60), 0.0),
            RestartDecision::Escalate { .. }
        ));
    }
}
