//! The REST budget of one venue: every REST request to it (book snapshots, instrument
//! metadata, trade repair and backfill) takes its weight from one budget, so that WADM never
//! gets the IP rate-limited or banned.
//!
//! | venue | limit | window | source |
//! |---|---|---|---|
//! | binance-spot | 6,000 weight | 1 minute | `X-MBX-USED-WEIGHT-1M` on every answer |
//! | binance-usdm | 2,400 weight | 1 minute | `X-MBX-USED-WEIGHT-1M` on every answer |
//! | bybit-spot, bybit-linear | 600 requests | 5 seconds | per IP (no weight header) |
//!
//! - Windows are fixed and aligned to the wall clock, as the venues count them; the weight
//!   used is ours, raised to the venue's own count whenever an answer reports it.
//! - Only `safety` of the limit is used (80 % by default): other programs on the same IP
//!   and the venue's own rounding keep the rest.
//! - Backfill and repair take at most `backfill_share` of what is usable, and never while a
//!   book snapshot waits: a book out of sync is worse than a slower repair.
//! - HTTP 429 holds every request to the venue for its `Retry-After` (60 s without one);
//!   HTTP 418 (an IP ban) for its `Retry-After` (2 minutes without one). Nothing is sent
//!   in between, whatever its priority.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use crate::metrics::{REST_BUDGET_WAITS_TOTAL, REST_RATE_LIMITED_TOTAL, REST_WEIGHT_USED};
use crate::model::Venue;
use crate::util::lock;

/// Why a request is made, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RestPriority {
    /// A book snapshot: a book is out of sync until it comes.
    Book,
    /// Instrument metadata (tick and lot sizes).
    Metadata,
    /// Trade repair and backfill: takes what the others leave.
    Backfill,
}

impl RestPriority {
    /// Returns a stable name, used as a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            RestPriority::Book => "book",
            RestPriority::Metadata => "metadata",
            RestPriority::Backfill => "backfill",
        }
    }
}

/// A venue's limit and how much of it WADM uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetLimits {
    /// Weight (or requests) the venue allows per window.
    pub limit: u32,
    pub window: Duration,
    /// Share of the limit used at all.
    pub safety: f64,
    /// Share of the usable budget backfill may take.
    pub backfill_share: f64,
}

impl BudgetLimits {
    /// The venue's documented limit, with the default shares.
    pub fn for_venue(venue: Venue) -> Self {
        let (limit, window) = match venue {
            Venue::BinanceSpot => (6_000, Duration::from_secs(60)),
            Venue::BinanceUsdm => (2_400, Duration::from_secs(60)),
            Venue::BybitSpot | Venue::BybitLinear => (600, Duration::from_secs(5)),
        };
        Self {
            limit,
            window,
            safety: 0.8,
            backfill_share: 0.5,
        }
    }

    fn usable(&self, priority: RestPriority) -> u32 {
        let usable = f64::from(self.limit) * self.safety.clamp(0.0, 1.0);
        let usable = match priority {
            RestPriority::Backfill => usable * self.backfill_share.clamp(0.0, 1.0),
            _ => usable,
        };
        // At least one request of weight 1 per window, whatever the shares.
        (usable.floor() as u32).max(1)
    }
}

/// The weight of each REST request, as the venues document it.
pub mod weights {
    use crate::model::Venue;

    /// `GET /api/v3/depth` (spot) or `GET /fapi/v1/depth` (USD-M) for `limit` levels.
    pub fn depth(venue: Venue, limit: u32) -> u32 {
        match venue {
            Venue::BinanceSpot => match limit {
                0..=100 => 5,
                101..=500 => 25,
                501..=1_000 => 50,
                _ => 250,
            },
            Venue::BinanceUsdm => match limit {
                0..=50 => 2,
                51..=100 => 5,
                101..=500 => 10,
                _ => 20,
            },
            Venue::BybitSpot | Venue::BybitLinear => 1,
        }
    }

    /// `GET /fapi/v1/openInterest` (USD-M).
    pub const OPEN_INTEREST: u32 = 1;

    /// `exchangeInfo` (Binance) or `instruments-info` (Bybit).
    pub fn instruments(venue: Venue) -> u32 {
        match venue {
            Venue::BinanceSpot => 20,
            Venue::BinanceUsdm | Venue::BybitSpot | Venue::BybitLinear => 1,
        }
    }

    /// `aggTrades` (Binance) or `recent-trade` (Bybit).
    pub fn trades(venue: Venue) -> u32 {
        match venue {
            Venue::BinanceSpot => 4,
            Venue::BinanceUsdm => 20,
            Venue::BybitSpot | Venue::BybitLinear => 1,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Start of the current window (Unix ms, aligned).
    window_start: i64,
    /// Weight used in it.
    used: u32,
    /// Nothing is sent before this (429 or 418).
    blocked_until: Option<Instant>,
    /// Book requests waiting for weight.
    book_waiting: u32,
}

/// What [`RestBudget::try_take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Send now.
    Go,
    /// Wait this long and ask again.
    Wait(Duration),
}

/// The REST budget of one venue, shared by every REST caller of it (and kept across actor
/// restarts: the composition root owns it).
#[derive(Debug)]
pub struct RestBudget {
    venue: Venue,
    limits: BudgetLimits,
    state: Mutex<State>,
}

impl RestBudget {
    /// Creates the budget of `venue`.
    pub fn new(venue: Venue, limits: BudgetLimits) -> Self {
        Self {
            venue,
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// Returns the venue.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Returns the limits.
    pub fn limits(&self) -> BudgetLimits {
        self.limits
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.limits.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Decides whether a request of `weight` may go at `now` (wall clock `now_ms`): the
    /// pure part of [`RestBudget::acquire`]. A `Go` takes the weight.
    pub fn try_take(&self, weight: u32, priority: RestPriority, now: Instant, now_ms: i64) -> Take {
        let mut state = lock(&self.state);
        if let Some(until) = state.blocked_until {
            if now < until {
                return Take::Wait(until - now);
            }
            state.blocked_until = None;
        }
        let window = self.window_ms();
        let start = now_ms - now_ms.rem_euclid(window);
        if start != state.window_start {
            state.window_start = start;
            state.used = 0;
        }
        let until_next =
            Duration::from_millis(u64::try_from(start + window - now_ms).unwrap_or(0).max(1));
        if priority == RestPriority::Backfill && state.book_waiting > 0 {
            return Take::Wait(until_next.min(Duration::from_millis(100)));
        }
        let usable = self.limits.usable(priority);
        if state.used.saturating_add(weight) > usable && state.used > 0 {
            return Take::Wait(until_next);
        }
        state.used = state.used.saturating_add(weight);
        metrics::gauge!(REST_WEIGHT_USED, "venue" => self.venue.as_str())
            .set(f64::from(state.used));
        Take::Go
    }

    /// Waits until a request of `weight` may go, and takes the weight.
    pub async fn acquire(&self, weight: u32, priority: RestPriority) {
        let mut counted = false;
        loop {
            let take = self.try_take(
                weight,
                priority,
                Instant::now(),
                wadm_supervision::unix_millis(),
            );
            match take {
                Take::Go => break,
                Take::Wait(delay) => {
                    if !counted {
                        counted = true;
                        metrics::counter!(REST_BUDGET_WAITS_TOTAL, "venue" => self.venue.as_str(), "priority" => priority.as_str()).increment(1);
                        if priority == RestPriority::Book {
                            lock(&self.state).book_waiting += 1;
                        }
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
        if counted && priority == RestPriority::Book {
            let mut state = lock(&self.state);
            state.book_waiting = state.book_waiting.saturating_sub(1);
        }
    }

    /// Takes what an answer says of the budget: the venue's own count of the weight used in
    /// this window, and a 429 or 418 with its `Retry-After`.
    pub fn observe(
        &self,
        status: u16,
        used_weight: Option<u32>,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        let mut state = lock(&self.state);
        if let Some(used) = used_weight
            && used > state.used
        {
            state.used = used;
            metrics::gauge!(REST_WEIGHT_USED, "venue" => self.venue.as_str()).set(f64::from(used));
        }
        let hold = match status {
            429 => retry_after.unwrap_or(Duration::from_secs(60)),
            418 => retry_after.unwrap_or(Duration::from_secs(120)),
            _ => return,
        };
        metrics::counter!(REST_RATE_LIMITED_TOTAL, "venue" => self.venue.as_str(), "status" => if status == 418 { "418" } else { "429" }).increment(1);
        let until = now + hold;
        if state.blocked_until.is_none_or(|current| current < until) {
            state.blocked_until = Some(until);
        }
        warn!(venue = %self.venue, status, hold_ms = hold.as_millis() as u64, "the venue limits our REST requests: every REST request to it waits");
    }

    /// Returns how long every request still waits for a 429 or 418 (zero when none).
    pub fn blocked_for(&self, now: Instant) -> Duration {
        lock(&self.state)
            .blocked_until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    /// Returns the weight used in the current window.
    pub fn used(&self) -> u32 {
        lock(&self.state).used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: u32) -> RestBudget {
        RestBudget::new(
            Venue::BinanceSpot,
            BudgetLimits {
                limit,
                window: Duration::from_secs(60),
                safety: 0.8,
                backfill_share: 0.5,
            },
        )
    }

    /// A minute's start (1_800_000_000_000 is a whole number of minutes).
    const MINUTE: i64 = 1_800_000_000_000;

    #[test]
    fn requests_go_until_the_safe_share_then_wait_for_the_next_window() {
        let b = budget(100);
        let now = Instant::now();
        for _ in 0..16 {
            assert_eq!(
                b.try_take(5, RestPriority::Book, now, MINUTE + 1_000),
                Take::Go
            );
        }
        assert_eq!(
            b.try_take(5, RestPriority::Book, now, MINUTE + 1_000),
            Take::Wait(Duration::from_secs(59)),
            "80 of 100 used"
        );
        assert_eq!(
            b.try_take(5, RestPriority::Book, now, MINUTE + 60_000),
            Take::Go
        );
    }

    #[test]
    fn backfill_takes_half_and_yields_to_a_waiting_book() {
        let b = budget(100);
        let now = Instant::now();
        for _ in 0..8 {
            assert_eq!(b.try_take(5, RestPriority::Backfill, now, MINUTE), Take::Go);
        }
        assert!(matches!(
            b.try_take(5, RestPriority::Backfill, now, MINUTE),
            Take::Wait(_)
        ));
        assert_eq!(
            b.try_take(5, RestPriority::Book, now, MINUTE),
            Take::Go,
            "books keep the rest"
        );
        lock(&b.state).book_waiting = 1;
        assert!(matches!(
            b.try_take(1, RestPriority::Backfill, now, MINUTE + 60_000),
            Take::Wait(_)
        ));
    }

    #[test]
    fn the_venue_count_raises_ours_and_429_and_418_hold_everything() {
        let b = budget(100);
        let now = Instant::now();
        assert_eq!(b.try_take(1, RestPriority::Book, now, MINUTE), Take::Go);
        b.observe(200, Some(79), None, now);
        assert_eq!(b.used(), 79);
        assert!(matches!(
            b.try_take(5, RestPriority::Book, now, MINUTE),
            Take::Wait(_)
        ));
        b.observe(429, None, Some(Duration::from_secs(5)), now);
        assert_eq!(
            b.try_take(1, RestPriority::Book, now, MINUTE + 60_000),
            Take::Wait(Duration::from_secs(5)),
            "a new window does not lift the hold"
        );
        let later = now + Duration::from_secs(5);
        assert_eq!(
            b.try_take(1, RestPriority::Book, later, MINUTE + 60_000),
            Take::Go
        );
        b.observe(418, None, None, later);
        assert_eq!(b.blocked_for(later), Duration::from_secs(120));
    }
}
