//! The restart delay schedule: a pure function of the policy and the attempt number.
//!
//! Attempt `n` (0 for the first restart after a failure) waits
//! `min(initial_backoff * multiplier^n, max_backoff)`. With jitter `j`, the wait is drawn
//! uniformly from `[d * (1 - j), d]`: jitter spreads restarts of many children apart but
//! never exceeds the cap, and never waits less than `(1 - j)` of the schedule.

use std::fmt;
use std::time::Duration;

use crate::policy::PolicyProblem;
#[cfg(doc)]
use crate::policy::RestartPolicy;

/// A jittered, capped exponential backoff schedule on its own (reconnections use it; a
/// [`RestartPolicy`] adds a restart limit on top).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
}

/// Why a set of backoff parameters was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBackoff(pub Vec<PolicyProblem>);

impl fmt::Display for InvalidBackoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problems: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid backoff: {}", problems.join("; "))
    }
}

impl std::error::Error for InvalidBackoff {}

impl Default for Backoff {
    /// 1 s, doubling, capped at 60 s, with 30 % jitter: the reconnection default.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.3,
        }
    }
}

impl Backoff {
    /// Validates and builds a schedule: `initial > 0`, `max >= initial`, a finite
    /// `multiplier >= 1`, `jitter` in `[0, 1]`. Every problem is reported, with the names
    /// `initial_backoff`, `max_backoff`, `multiplier`, `jitter`.
    pub fn try_new(
        initial: Duration,
        max: Duration,
        multiplier: f64,
        jitter: f64,
    ) -> Result<Self, InvalidBackoff> {
        let mut problems = Vec::new();
        let mut problem = |field, message: String| problems.push(PolicyProblem { field, message });
        if initial.is_zero() {
            problem("initial_backoff", "must be greater than zero".into());
        }
        if max < initial {
            problem(
                "max_backoff",
                format!("must be at least initial_backoff ({max:?} < {initial:?})"),
            );
        }
        if !multiplier.is_finite() || multiplier < 1.0 {
            problem(
                "multiplier",
                format!("must be a finite number of at least 1, got {multiplier}"),
            );
        }
        if !(0.0..=1.0).contains(&jitter) {
            problem("jitter", format!("must be between 0 and 1, got {jitter}"));
        }
        if problems.is_empty() {
            Ok(Self {
                initial,
                max,
                multiplier,
                jitter,
            })
        } else {
            Err(InvalidBackoff(problems))
        }
    }

    /// Returns the delay before the first retry.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// Returns the cap on every delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Returns the growth factor.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// Returns the randomised share of each delay.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Builds a schedule from parameters already validated (a [`RestartPolicy`]'s).
    pub(crate) fn from_valid(
        initial: Duration,
        max: Duration,
        multiplier: f64,
        jitter: f64,
    ) -> Self {
        Self {
            initial,
            max,
            multiplier,
            jitter,
        }
    }

    /// Returns the un-jittered delay of attempt `attempt` (0-based).
    ///
    /// With the default restart policy (250 ms initial, doubling, capped at 30 s):
    ///
    /// ```
    /// use wadm_supervision::RestartPolicy;
    ///
    /// let backoff = RestartPolicy::default().backoff();
    /// let table: Vec<(u32, u64)> = [0, 1, 2, 3, 4, 5, 6, 7, 8, 100, u32::MAX]
    ///     .into_iter()
    ///     .map(|attempt| (attempt, backoff.delay(attempt).as_millis() as u64))
    ///     .collect();
    /// assert_eq!(
    ///     table,
    ///     [
    ///         (0, 250),
    ///         (1, 500),
    ///         (2, 1_000),
    ///         (3, 2_000),
    ///         (4, 4_000),
    ///         (5, 8_000),
    ///         (6, 16_000),
    ///         (7, 30_000), // 32 s, capped
    ///         (8, 30_000),
    ///         (100, 30_000),
    ///         (u32::MAX, 30_000),
    ///     ]
    /// );
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        schedule(self.initial, self.max, self.multiplier, attempt)
    }

    /// Returns the jittered delay of attempt `attempt` for a uniform `sample` in `[0, 1]`
    /// (values outside are clamped): 0 gives the full [`Self::delay`], 1 the shortest
    /// allowed delay, `(1 - jitter)` of it.
    pub fn jittered(&self, attempt: u32, sample: f64) -> Duration {
        apply_jitter(self.delay(attempt), self.jitter, sample)
    }

    /// Returns the jittered delay with a random sample.
    pub fn random(&self, attempt: u32) -> Duration {
        self.jittered(attempt, fastrand::f64())
    }
}

fn schedule(initial: Duration, cap: Duration, multiplier: f64, attempt: u32) -> Duration {
    // powi takes an i32; anything past i32::MAX is far beyond the cap for any multiplier > 1,
    // and for a multiplier of exactly 1 the factor stays 1 whatever the exponent.
    let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
    let factor = multiplier.powi(exponent);
    let nanos = initial.as_nanos() as f64 * factor;
    if !nanos.is_finite() || nanos >= cap.as_nanos() as f64 {
        return cap;
    }
    // nanos < cap, which fits a u64 of nanoseconds for any cap under 584 years.
    Duration::from_nanos(nanos as u64).min(cap)
}

fn apply_jitter(full: Duration, jitter: f64, sample: f64) -> Duration {
    let sample = if sample.is_nan() {
        0.0
    } else {
        sample.clamp(0.0, 1.0)
    };
    let cut = full.as_secs_f64() * jitter * sample;
    full.saturating_sub(Duration::from_secs_f64(cut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{RestartParams, RestartPolicy};

    fn policy(initial_ms: u64, max_ms: u64, multiplier: f64, jitter: f64) -> RestartPolicy {
        RestartPolicy::try_new(RestartParams {
            initial_backoff: Duration::from_millis(initial_ms),
            max_backoff: Duration::from_millis(max_ms),
            multiplier,
            jitter,
            ..RestartParams::default()
        })
        .unwrap()
    }

    #[test]
    fn attempt_zero_waits_the_initial_delay() {
        let p = policy(100, 10_000, 3.0, 0.0);
        assert_eq!(p.backoff().delay(0), Duration::from_millis(100));
        assert_eq!(p.backoff().jittered(0, 0.7), Duration::from_millis(100));
    }

    #[test]
    fn grows_by_the_multiplier_until_the_cap() {
        let p = policy(100, 10_000, 3.0, 0.0);
        let delays: Vec<u128> = (0..7).map(|a| p.backoff().delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 300, 900, 2_700, 8_100, 10_000, 10_000]);
    }

    #[test]
    fn reaches_exactly_the_cap_and_stays_there() {
        let p = policy(1_000, 8_000, 2.0, 0.0);
        assert_eq!(p.backoff().delay(3), Duration::from_secs(8));
        assert_eq!(p.backoff().delay(4), Duration::from_secs(8));
        assert_eq!(p.backoff().delay(1_000), Duration::from_secs(8));
    }

    #[test]
    fn u32_max_attempts_is_capped_not_overflowed() {
        for multiplier in [1.0, 1.000_001, 2.0, 1e300] {
            let p = policy(10, 60_000, multiplier, 0.5);
            let expected = if multiplier == 1.0 { 10 } else { 60_000 };
            assert_eq!(p.backoff().delay(u32::MAX).as_millis(), expected);
            for sample in [0.0, 0.5, 1.0] {
                let d = p.backoff().jittered(u32::MAX, sample);
                assert!(d.as_millis() <= expected && d.as_millis() * 2 >= expected);
            }
        }
    }

    #[test]
    fn a_multiplier_of_one_keeps_the_delay_constant() {
        let p = policy(250, 1_000, 1.0, 0.0);
        assert!((0..50).all(|a| p.backoff().delay(a) == Duration::from_millis(250)));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let p = policy(1_000, 30_000, 2.0, 0.25);
        for attempt in [0, 1, 4, 5, 6, 40] {
            let full = p.backoff().delay(attempt);
            let shortest = full.mul_f64(0.75);
            assert_eq!(p.backoff().jittered(attempt, 0.0), full);
            assert_eq!(p.backoff().jittered(attempt, 1.0), shortest);
            for sample in [-5.0, 0.1, 0.5, 0.999, 7.0, f64::NAN] {
                let d = p.backoff().jittered(attempt, sample);
                assert!(d <= full && d >= shortest, "{attempt} {sample} {d:?}");
            }
            for _ in 0..1_000 {
                let d = p.backoff().random(attempt);
                assert!(d <= full && d >= shortest, "{attempt} {d:?}");
                assert!(d <= p.max_backoff());
            }
        }
    }

    #[test]
    fn a_standalone_backoff_follows_the_same_schedule() {
        let backoff = Backoff::try_new(
            Duration::from_millis(100),
            Duration::from_secs(10),
            3.0,
            0.5,
        )
        .unwrap();
        let p = policy(100, 10_000, 3.0, 0.5);
        for attempt in [0, 1, 2, 5, 40, u32::MAX] {
            assert_eq!(backoff.delay(attempt), p.backoff().delay(attempt));
            assert_eq!(
                backoff.jittered(attempt, 0.3),
                p.backoff().jittered(attempt, 0.3)
            );
        }
        let default = Backoff::default();
        assert_eq!(
            Backoff::try_new(
                default.initial(),
                default.max(),
                default.multiplier(),
                default.jitter()
            ),
            Ok(default)
        );
        let err = Backoff::try_new(Duration::ZERO, Duration::ZERO, 0.5, 2.0).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["initial_backoff", "multiplier", "jitter"]);
    }

    #[test]
    fn full_jitter_can_reach_zero_but_never_exceeds_the_cap() {
        let p = policy(1_000, 5_000, 2.0, 1.0);
        assert_eq!(p.backoff().jittered(10, 1.0), Duration::ZERO);
        assert_eq!(p.backoff().jittered(10, 0.0), Duration::from_secs(5));
    }
}
