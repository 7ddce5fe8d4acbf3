//! Restart policy: how quickly a failed child is restarted and when the supervisor gives up.
//!
//! The policy is plain data loaded from configuration. [`RestartPolicy::try_new`] rejects
//! every bad combination at once, so a configuration check can list all problems.

use std::fmt;
use std::time::Duration;

/// The raw parameters of a restart policy, as read from configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartParams {
    /// Delay before the first restart.
    pub initial_backoff: Duration,
    /// Upper bound on any delay, jitter included.
    pub max_backoff: Duration,
    /// Factor applied to the delay for each further consecutive failure (at least 1).
    pub multiplier: f64,
    /// Share of the delay that is randomised, in `[0, 1]`: the delay is drawn from
    /// `[d * (1 - jitter), d]`, so jitter never pushes a delay past the cap.
    pub jitter: f64,
    /// A child that has run this long without failing has its failure count reset.
    pub reset_after: Duration,
    /// At most this many restarts within `window`; one more and the supervisor escalates.
    pub max_restarts: u32,
    /// The sliding window over which `max_restarts` is counted.
    pub window: Duration,
}

impl Default for RestartParams {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
            reset_after: Duration::from_secs(60),
            max_restarts: 10,
            window: Duration::from_secs(60),
        }
    }
}

/// A validated restart policy. Build it with [`RestartPolicy::try_new`]; the default is the
/// default [`RestartParams`], which are valid.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RestartPolicy {
    params: RestartParams,
}

/// One reason why a set of [`RestartParams`] is not a usable policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// The parameter at fault, named as in configuration.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in a set of [`RestartParams`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid restart policy: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidPolicy {
    /// The problems, in parameter order.
    pub problems: Vec<PolicyProblem>,
}

impl RestartPolicy {
    /// Validates `params` and returns the policy, or every problem found.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wadm_supervision::{RestartParams, RestartPolicy};
    ///
    /// let bad = RestartParams { max_backoff: Duration::from_millis(1), multiplier: 0.5, ..RestartParams::default() };
    /// let err = RestartPolicy::try_new(bad).unwrap_err();
    /// assert_eq!(err.problems.len(), 2);
    /// ```
    pub fn try_new(params: RestartParams) -> Result<Self, InvalidPolicy> {
        let mut problems = crate::backoff::Backoff::try_new(
            params.initial_backoff,
            params.max_backoff,
            params.multiplier,
            params.jitter,
        )
        .err()
        .map(|invalid| invalid.0)
        .unwrap_or_default();
        let mut problem = |field, message: String| problems.push(PolicyProblem { field, message });
        if params.reset_after.is_zero() {
            problem("reset_after", "must be greater than zero".into());
        }
        if params.max_restarts == 0 {
            problem("max_restarts", "must be at least 1".into());
        }
        if params.window.is_zero() {
            problem("window", "must be greater than zero".into());
        }
        if problems.is_empty() {
            Ok(Self { params })
        } else {
            Err(InvalidPolicy { problems })
        }
    }

    /// Returns the delay schedule of restarts.
    pub fn backoff(&self) -> crate::backoff::Backoff {
        crate::backoff::Backoff::from_valid(
            self.params.initial_backoff,
            self.params.max_backoff,
            self.params.multiplier,
            self.params.jitter,
        )
    }

    /// Returns the validated parameters.
    pub fn params(&self) -> &RestartParams {
        &self.params
    }

    /// Returns the delay before the first restart.
    pub fn initial_backoff(&self) -> Duration {
        self.params.initial_backoff
    }

    /// Returns the cap on every delay.
    pub fn max_backoff(&self) -> Duration {
        self.params.max_backoff
    }

    /// Returns the growth factor between consecutive delays.
    pub fn multiplier(&self) -> f64 {
        self.params.multiplier
    }

    /// Returns the randomised share of each delay.
    pub fn jitter(&self) -> f64 {
        self.params.jitter
    }

    /// Returns how long a child must run cleanly before its failure count resets.
    pub fn reset_after(&self) -> Duration {
        self.params.reset_after
    }

    /// Returns how many restarts are allowed within [`RestartPolicy::window`].
    pub fn max_restarts(&self) -> u32 {
        self.params.max_restarts
    }

    /// Returns the window over which restarts are counted.
    pub fn window(&self) -> Duration {
        self.params.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_params_are_a_valid_policy() {
        let policy = RestartPolicy::try_new(RestartParams::default()).unwrap();
        assert_eq!(policy, RestartPolicy::default());
    }

    #[test]
    fn reports_every_bad_parameter_at_once() {
        let params = RestartParams {
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            multiplier: f64::NAN,
            jitter: -0.1,
            reset_after: Duration::ZERO,
            max_restarts: 0,
            window: Duration::ZERO,
        };
        let err = RestartPolicy::try_new(params).unwrap_err();
        let fields: Vec<_> = err.problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "initial_backoff",
                "multiplier",
                "jitter",
                "reset_after",
                "max_restarts",
                "window"
            ]
        );
    }

    #[test]
    fn rejects_a_cap_below_the_initial_delay() {
        let params = RestartParams {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
            ..RestartParams::default()
        };
        let err = RestartPolicy::try_new(params).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].field, "max_backoff");
    }

    #[test]
    fn accepts_the_boundaries_of_jitter_and_multiplier() {
        for (jitter, multiplier) in [(0.0, 1.0), (1.0, 1.0), (0.5, 10.0)] {
            let params = RestartParams {
                jitter,
                multiplier,
                ..RestartParams::default()
            };
            assert!(
                RestartPolicy::try_new(params).is_ok(),
                "{jitter} {multiplier}"
            );
        }
        for jitter in [1.01, f64::INFINITY, f64::NAN] {
            let params = RestartParams {
                jitter,
                ..RestartParams::default()
            };
            assert!(RestartPolicy::try_new(params).is_err(), "{jitter}");
        }
    }
}
