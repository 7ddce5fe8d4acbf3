//! The restart delay schedule: a pure function of the policy and the attempt number.
//!
//! Attempt `n` (0 for the first restart after a failure) waits
//! `min(initial_backoff * multiplier^n, max_backoff)`. With jitter `j`, the wait is drawn
//! uniformly from `[d * (1 - j), d]`: jitter spreads restarts of many children apart but
//! never exceeds the cap, and never waits less than `(1 - j)` of the schedule.

use std::time::Duration;

use crate::policy::RestartPolicy;

/// Returns the un-jittered delay before restart attempt `attempt` (0-based).
///
/// With the default policy (250 ms initial, doubling, capped at 30 s):
///
/// ```
/// use std::time::Duration;
/// use wadm_supervision::{backoff_delay, RestartPolicy};
///
/// let policy = RestartPolicy::default();
/// let table: Vec<(u32, u64)> = [0, 1, 2, 3, 4, 5, 6, 7, 8, 100, u32::MAX]
///     .into_iter()
///     .map(|attempt| (attempt, backoff_delay(&policy, attempt).as_millis() as u64))
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
pub fn backoff_delay(policy: &RestartPolicy, attempt: u32) -> Duration {
    let cap = policy.max_backoff();
    let initial = policy.initial_backoff();
    // powi takes an i32; anything past i32::MAX is far beyond the cap for any multiplier > 1,
    // and for a multiplier of exactly 1 the factor stays 1 whatever the exponent.
    let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
    let factor = policy.multiplier().powi(exponent);
    let nanos = initial.as_nanos() as f64 * factor;
    if !nanos.is_finite() || nanos >= cap.as_nanos() as f64 {
        return cap;
    }
    // nanos < cap, which fits a u64 of nanoseconds for any cap under 584 years.
    Duration::from_nanos(nanos as u64).min(cap)
}

/// Returns the jittered delay before restart attempt `attempt`, given a uniform random
/// `sample` in `[0, 1]` (values outside are clamped).
///
/// A sample of 0 gives the full [`backoff_delay`]; a sample of 1 gives the shortest allowed
/// delay, `(1 - jitter)` of it.
pub fn jittered_delay(policy: &RestartPolicy, attempt: u32, sample: f64) -> Duration {
    let full = backoff_delay(policy, attempt);
    let sample = if sample.is_nan() {
        0.0
    } else {
        sample.clamp(0.0, 1.0)
    };
    let cut = full.as_secs_f64() * policy.jitter() * sample;
    full.saturating_sub(Duration::from_secs_f64(cut))
}

/// Returns [`jittered_delay`] with a sample from a fast, non-cryptographic generator.
pub fn random_jittered_delay(policy: &RestartPolicy, attempt: u32) -> Duration {
    jittered_delay(policy, attempt, fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RestartParams;

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
        assert_eq!(backoff_delay(&p, 0), Duration::from_millis(100));
        assert_eq!(jittered_delay(&p, 0, 0.7), Duration::from_millis(100));
    }

    #[test]
    fn grows_by_the_multiplier_until_the_cap() {
        let p = policy(100, 10_000, 3.0, 0.0);
        let delays: Vec<u128> = (0..7).map(|a| backoff_delay(&p, a).as_millis()).collect();
        assert_eq!(delays, [100, 300, 900, 2_700, 8_100, 10_000, 10_000]);
    }

    #[test]
    fn reaches_exactly_the_cap_and_stays_there() {
        let p = policy(1_000, 8_000, 2.0, 0.0);
        assert_eq!(backoff_delay(&p, 3), Duration::from_secs(8));
        assert_eq!(backoff_delay(&p, 4), Duration::from_secs(8));
        assert_eq!(backoff_delay(&p, 1_000), Duration::from_secs(8));
    }

    #[test]
    fn u32_max_attempts_is_capped_not_overflowed() {
        for multiplier in [1.0, 1.000_001, 2.0, 1e300] {
            let p = policy(10, 60_000, multiplier, 0.5);
            let expected = if multiplier == 1.0 { 10 } else { 60_000 };
            assert_eq!(backoff_delay(&p, u32::MAX).as_millis(), expected);
            for sample in [0.0, 0.5, 1.0] {
                let d = jittered_delay(&p, u32::MAX, sample);
                assert!(d.as_millis() <= expected && d.as_millis() * 2 >= expected);
            }
        }
    }

    #[test]
    fn a_multiplier_of_one_keeps_the_delay_constant() {
        let p = policy(250, 1_000, 1.0, 0.0);
        assert!((0..50).all(|a| backoff_delay(&p, a) == Duration::from_millis(250)));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let p = policy(1_000, 30_000, 2.0, 0.25);
        for attempt in [0, 1, 4, 5, 6, 40] {
            let full = backoff_delay(&p, attempt);
            let shortest = full.mul_f64(0.75);
            assert_eq!(jittered_delay(&p, attempt, 0.0), full);
            assert_eq!(jittered_delay(&p, attempt, 1.0), shortest);
            for sample in [-5.0, 0.1, 0.5, 0.999, 7.0, f64::NAN] {
                let d = jittered_delay(&p, attempt, sample);
                assert!(d <= full && d >= shortest, "{attempt} {sample} {d:?}");
            }
            for _ in 0..1_000 {
                let d = random_jittered_delay(&p, attempt);
                assert!(d <= full && d >= shortest, "{attempt} {d:?}");
                assert!(d <= p.max_backoff());
            }
        }
    }

    #[test]
    fn full_jitter_can_reach_zero_but_never_exceeds_the_cap() {
        let p = policy(1_000, 5_000, 2.0, 1.0);
        assert_eq!(jittered_delay(&p, 10, 1.0), Duration::ZERO);
        assert_eq!(jittered_delay(&p, 10, 0.0), Duration::from_secs(5));
    }
}
