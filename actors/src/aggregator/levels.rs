//! Price levels of past profiles that still matter (issue #19): naked POCs.
//!
//! A **naked POC** is the point of control of a finished session (or day) that price has
//! not traded at since the session ended. The rule, exact and deterministic: the POC of a
//! session ending at `end` is *tested* by the first bar starting at or after `end` whose
//! range `[low, high]` contains it (both ends included); it is naked while no such bar
//! exists. Bars are the caller's (1-minute bars where kept, 1-hour bars before): a bar that
//! began before `end` never tests the POC, so a bar straddling the end does not count.

use crate::model::Price;

/// A finished session's point of control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPoc {
    /// Start of the session (ms).
    pub start: i64,
    /// End of the session (ms): the POC is formed then.
    pub end: i64,
    /// The POC's price (its row's label).
    pub poc: Price,
}

/// The range a bar traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarRange {
    /// Start of the bar (ms).
    pub start: i64,
    /// Lowest price traded.
    pub low: Price,
    /// Highest price traded.
    pub high: Price,
}

/// A POC not traded at since it formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NakedPoc {
    /// Start of the session it is the POC of (ms).
    pub session_start: i64,
    /// When it formed: the session's end (ms).
    pub formed_at: i64,
    /// Its price.
    pub price: Price,
    /// Its distance from the last price (`price - last`; positive above).
    pub distance: Price,
}

/// Returns the POCs of `sessions` that no later bar of `bars` traded at, newest session
/// first, with their distance from `last` (the last traded price).
pub fn naked_pocs(sessions: &[SessionPoc], bars: &[BarRange], last: Price) -> Vec<NakedPoc> {
    let mut naked: Vec<NakedPoc> = sessions
        .iter()
        .filter(|session| {
            !bars.iter().any(|bar| {
                bar.start >= session.end && bar.low <= session.poc && session.poc <= bar.high
            })
        })
        .map(|session| NakedPoc {
            session_start: session.start,
            formed_at: session.end,
            price: session.poc,
            distance: session.poc - last,
        })
        .collect();
    naked.sort_by_key(|n| std::cmp::Reverse(n.formed_at));
    naked
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const H: i64 = 3_600_000;

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn session(day: i64, poc: &str) -> SessionPoc {
        SessionPoc {
            start: day * 24 * H,
            end: (day + 1) * 24 * H,
            poc: p(poc),
        }
    }

    fn bar(hour: i64, low: &str, high: &str) -> BarRange {
        BarRange {
            start: hour * H,
            low: p(low),
            high: p(high),
        }
    }

    #[test]
    fn a_poc_stays_naked_until_a_later_bar_trades_at_it() {
        // Day 0 POC 100, day 1 POC 110, day 2 POC 95; bars of day 1 to day 3.
        let sessions = [session(0, "100"), session(1, "110"), session(2, "95")];
        let bars = [
            bar(24, "104", "108"),    // day 1: misses 100
            bar(30, "108", "112"),    // day 1: at 110, but it is day 1's own session
            bar(48, "101", "109.99"), // day 2: misses 110 (and 100)
            bar(60, "96", "100"),     // day 2: tests 100 (high end included)
            bar(72, "95.01", "99"),   // day 3: misses 95 by one cent
        ];
        let naked = naked_pocs(&sessions, &bars, p("97.5"));
        assert_eq!(
            naked,
            [
                NakedPoc {
                    session_start: 2 * 24 * H,
                    formed_at: 3 * 24 * H,
                    price: p("95"),
                    distance: p("-2.5"),
                },
                NakedPoc {
                    session_start: 24 * H,
                    formed_at: 2 * 24 * H,
                    price: p("110"),
                    distance: p("12.5"),
                },
            ]
        );
    }

    #[test]
    fn a_bar_straddling_the_session_end_does_not_test_its_poc() {
        let sessions = [session(0, "100")];
        // Starts an hour before the end, trades at 100 across it: not a test.
        let straddling = [bar(23, "99", "101")];
        assert_eq!(naked_pocs(&sessions, &straddling, p("100")).len(), 1);
        // The first bar after the end touching 100 exactly (low end included) tests it.
        let after = [bar(24, "100", "103")];
        assert!(naked_pocs(&sessions, &after, p("101")).is_empty());
    }
}
