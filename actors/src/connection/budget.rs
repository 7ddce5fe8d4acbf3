//! The budget of connection attempts of each venue host, shared by every incarnation of its
//! connection actor (the composition root owns it).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::Venue;
use crate::util::lock;

/// Connection attempts allowed per window, per venue host. The venues limit connections per
/// IP and host: Binance spot 300 per 5 minutes (stream.binance.com), Bybit 500 per 5 minutes
/// (stream.bybit.com, which serves spot and linear); Binance USD-M (fstream.binance.com)
/// publishes no connection rate and gets the spot number. The defaults keep 80 % of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetAttempts {
    pub binance_spot: usize,
    /// Binance USD-M.
    pub binance_usdm: usize,
    /// Bybit spot and linear together.
    pub bybit: usize,
}

impl Default for BudgetAttempts {
    fn default() -> Self {
        Self {
            binance_spot: 240,
            binance_usdm: 240,
            bybit: 400,
        }
    }
}

impl BudgetAttempts {
    /// The budget group of `venue` (venues on one host share a budget).
    pub const fn group(venue: Venue) -> &'static str {
        match venue {
            Venue::BinanceSpot => "binance-spot",
            Venue::BinanceUsdm => "binance-usdm",
            Venue::BybitSpot | Venue::BybitLinear => "bybit",
        }
    }

    /// The attempts of `venue`'s group.
    pub const fn of(&self, venue: Venue) -> usize {
        match venue {
            Venue::BinanceSpot => self.binance_spot,
            Venue::BinanceUsdm => self.binance_usdm,
            Venue::BybitSpot | Venue::BybitLinear => self.bybit,
        }
    }
}

/// A budget of connection attempts of one venue host: at most `attempts` within any
/// `window`. Each host has its own ([`BudgetAttempts`]), so a venue that keeps dropping
/// cannot delay another's reconnection.
#[derive(Debug)]
pub struct ConnectionBudget {
    attempts: usize,
    window: Duration,
    history: Mutex<VecDeque<Instant>>,
}

impl ConnectionBudget {
    /// Creates a budget.
    pub fn new(attempts: usize, window: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            window,
            history: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes one attempt at `now`, or returns how long to wait until one is free.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        let mut history = lock(&self.history);
        while let Some(&oldest) = history.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                history.pop_front();
            } else {
                break;
            }
        }
        if history.len() < self.attempts {
            history.push_back(now);
            return Ok(());
        }
        let oldest = history.front().copied().unwrap_or(now);
        Err((oldest + self.window)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_n_attempts_per_window() {
        let budget = ConnectionBudget::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(budget.try_take(t0).is_ok());
        assert!(budget.try_take(t0 + Duration::from_secs(1)).is_ok());
        assert_eq!(
            budget.try_take(t0 + Duration::from_secs(2)),
            Err(Duration::from_secs(8))
        );
        assert!(budget.try_take(t0 + Duration::from_secs(10)).is_ok());
    }
}
