//! Timestamps: exchange times in milliseconds, local receive times in nanoseconds.

use std::fmt;

/// Milliseconds since the Unix epoch, as venues stamp their events (`T`, `E`, `ts`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct TimestampMs(pub i64);

impl TimestampMs {
    /// The latest time the indicator maths accepts: 9999-12-31T23:59:59.999Z. Later (and
    /// negative) times cannot be real trades, and keeping them out keeps window arithmetic
    /// far from overflow.
    pub const MAX_PLAUSIBLE: i64 = 253_402_300_799_999;

    /// The earliest trade time a venue can report: 2017-01-01T00:00:00Z. Binance opened in
    /// July 2017 and Bybit in 2018, so an earlier time is a venue fault (a zero or a time in
    /// seconds), refused rather than stored as a bar of 1970.
    pub const FIRST_VENUE_TIME: i64 = 1_483_228_800_000;

    /// Returns true for a time between the epoch and [`Self::MAX_PLAUSIBLE`].
    pub const fn is_plausible(self) -> bool {
        self.0 >= 0 && self.0 <= Self::MAX_PLAUSIBLE
    }

    /// Returns true for a time a venue could have stamped a trade with: from
    /// [`Self::FIRST_VENUE_TIME`] to [`Self::MAX_PLAUSIBLE`].
    pub const fn is_venue_time(self) -> bool {
        self.0 >= Self::FIRST_VENUE_TIME && self.0 <= Self::MAX_PLAUSIBLE
    }

    /// Returns the current wall-clock time.
    pub fn now() -> Self {
        Self(UnixNanos::now().0.div_euclid(1_000_000))
    }

    /// Returns the raw milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TimestampMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Nanoseconds since the Unix epoch, on the local wall clock: when a frame was received.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    /// Returns the current wall-clock time. A clock before 1970 reads as 0 and one past
    /// 2262 saturates, rather than failing.
    pub fn now() -> Self {
        Self(wadm_supervision::unix_nanos())
    }

    /// Returns the time truncated to milliseconds.
    pub const fn to_millis(self) -> TimestampMs {
        TimestampMs(self.0.div_euclid(1_000_000))
    }
}
