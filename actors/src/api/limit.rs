//! Request rate limits (GCRA, from `governor`): per key when keys are configured, per client
//! IP otherwise, and per IP for requests whose key is not yet known (so bad keys cannot make
//! the daemon run argon2 without limit).
//!
//! The per-IP table grows with distinct clients; [`RateLimits::prune`] (called periodically by
//! the API actor) forgets clients whose buckets are full again, so memory is bounded by the
//! clients of the last minute.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A rate limit: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per minute, sustained.
    pub per_minute: NonZeroU32,
    /// Requests allowed at once from a full bucket.
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_minute: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
        }
    }
}

impl RateLimit {
    fn quota(&self) -> Quota {
        let period = Duration::from_secs(60) / self.per_minute.get();
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_minute(self.per_minute))
            .allow_burst(self.burst)
    }
}

/// Who a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A configured key (its index).
    Key(usize),
    /// A client address.
    Ip(IpAddr),
}

/// The limiters of the API.
#[derive(Debug)]
pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<Subject>,
    clock: DefaultClock,
}

impl RateLimits {
    /// Creates limiters that give every subject `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limiter: RateLimiter::keyed(limit.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `subject`'s bucket, or says how long until one is available.
    pub fn check(&self, subject: Subject) -> Result<(), Duration> {
        self.limiter
            .check_key(&subject)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets subjects whose buckets are full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Subjects currently tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_request_waits_about_one_period() {
        let limits = RateLimits::new(RateLimit {
            per_minute: NonZeroU32::MIN.saturating_add(59),
            burst: NonZeroU32::MIN.saturating_add(2),
        });
        let subject = Subject::Key(0);
        for _ in 0..3 {
            assert_eq!(limits.check(subject), Ok(()));
        }
        let wait = limits.check(subject).err();
        assert!(
            wait.is_some_and(|w| w > Duration::from_millis(500) && w <= Duration::from_secs(1)),
            "{wait:?}"
        );
        // Other subjects have their own buckets.
        assert_eq!(limits.check(Subject::Key(1)), Ok(()));
        assert_eq!(limits.tracked(), 2);
    }
}
