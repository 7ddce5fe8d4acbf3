//! Price levels of profiles (issue #19): naked POCs, VWAP with standard-deviation bands, and
//! high- and low-volume nodes.
//!
//! A **naked POC** is the point of control of a finished session (or day) that price has
//! not traded at since the session ended. The rule, exact and deterministic: the POC of a
//! session ending at `end` is *tested* by the first bar starting at or after `end` whose
//! range `[low, high]` contains it (both ends included); it is naked while no such bar
//! exists. Bars are the caller's (1-minute bars where kept, 1-hour bars before): a bar that
//! began before `end` never tests the POC, so a bar straddling the end does not count.

use num_bigint::BigInt;

use super::footprint::{Footprint, RowGrid};
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

/// The volume-weighted average price of a footprint and its standard-deviation bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VwapBands {
    /// The VWAP.
    pub vwap: Price,
    /// The volume-weighted standard deviation of price around it.
    pub sigma: Price,
    /// `vwap - k * sigma` and `vwap + k * sigma` for k = 1, 2, 3.
    pub bands: [(Price, Price); 3],
}

/// VWAP and bands of a footprint, exactly from its rows: each row's volume `v` counts at its
/// label price `p` (the row's lower edge), so with `V = sum(v)`, `S1 = sum(v * p)` and
/// `S2 = sum(v * p^2)` (exact, in big integers):
///
/// - `vwap = S1 / V`, rounded to the nearest 10^-12 (halves away from zero);
/// - `sigma = sqrt(V * S2 - S1^2) / V` (the population standard deviation), rounded down to
///   10^-12;
/// - band k is `vwap -/+ k * sigma`.
///
/// `None` for an empty footprint. On a grid of one tick the rows are the traded prices, and
/// the VWAP is the exact trade VWAP.
pub fn vwap_bands(footprint: &Footprint, grid: &RowGrid) -> Option<VwapBands> {
    let (mut volume, mut s1, mut s2) = (BigInt::from(0), BigInt::from(0), BigInt::from(0));
    for (row, rows) in footprint.rows() {
        let v = BigInt::from(rows.volume().units());
        let p = BigInt::from(grid.label(row).units());
        s1 += &v * &p;
        s2 += &v * &p * &p;
        volume += v;
    }
    if volume <= BigInt::from(0) {
        return None;
    }
    let two = BigInt::from(2);
    // Rounded to nearest, halves away from zero: floor((2 * S1 + V) / (2 * V)) for S1 >= 0,
    // mirrored below zero.
    let vwap = if s1 >= BigInt::from(0) {
        (&two * &s1 + &volume) / (&two * &volume)
    } else {
        -((&two * -&s1 + &volume) / (&two * &volume))
    };
    let spread = &volume * &s2 - &s1 * &s1;
    let sigma = spread.sqrt() / &volume;
    let vwap = i128::try_from(vwap).ok()?;
    let sigma = i128::try_from(sigma).ok()?;
    let band = |k: i128| {
        let width = sigma.checked_mul(k)?;
        Some((
            Price::from_units(vwap.checked_sub(width)?),
            Price::from_units(vwap.checked_add(width)?),
        ))
    };
    Some(VwapBands {
        vwap: Price::from_units(vwap),
        sigma: Price::from_units(sigma),
        bands: [band(1)?, band(2)?, band(3)?],
    })
}

/// The parameters of [`volume_nodes`], stated in every answer that uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct NodeParams {
    /// Rows on each side a node must dominate (its neighbourhood is `2 * radius + 1` rows).
    pub radius: usize,
    /// A high-volume node holds at least this many times the mean row volume (percent).
    pub hvn_percent: u32,
    /// A low-volume node holds at most this share of the mean row volume (percent).
    pub lvn_percent: u32,
}

impl Default for NodeParams {
    fn default() -> Self {
        Self {
            radius: 2,
            hvn_percent: 150,
            lvn_percent: 50,
        }
    }
}

/// High- and low-volume nodes of a profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VolumeNodes {
    /// High-volume nodes, lowest price first.
    pub hvn: Vec<Price>,
    /// Low-volume nodes, lowest price first.
    pub lvn: Vec<Price>,
}

/// High- and low-volume nodes of a footprint, by a deterministic rule on its rows from the
/// lowest to the highest traded row (rows without trades count as zero volume):
///
/// - a row is a **high-volume node** when its volume is at least that of every row within
///   `radius` rows on each side (on a plateau, the lowest row of it), and at least
///   `hvn_percent` % of the mean row volume;
/// - a row is a **low-volume node** when it lies strictly between two high-volume nodes, its
///   volume is at most that of every row within `radius` rows on each side (on a plateau, the
///   lowest row of it), and at most `lvn_percent` % of the mean row volume.
///
/// All comparisons are exact (volumes are integers of 10^-12 units; percentages compare
/// `100 * volume` with `percent * total / rows`, cross-multiplied).
pub fn volume_nodes(footprint: &Footprint, grid: &RowGrid, params: NodeParams) -> VolumeNodes {
    let Some((lo, hi)) = footprint.range() else {
        return VolumeNodes {
            hvn: Vec::new(),
            lvn: Vec::new(),
        };
    };
    let volumes: Vec<i128> = (lo..=hi)
        .map(|row| footprint.row(row).volume().units())
        .collect();
    let n = volumes.len();
    let total: i128 = volumes.iter().sum();
    let rows = i128::try_from(n).unwrap_or(i128::MAX);
    // volume >= percent% of the mean  <=>  100 * volume * rows >= percent * total.
    // volume >= (or <=) percent % of the mean  <=>  100 * volume * rows >= (<=) percent * total.
    let scaled = |v: i128| v.saturating_mul(100).saturating_mul(rows);
    let share = |percent: u32| i128::from(percent).saturating_mul(total);
    // Dominates its neighbourhood (`beats`); an equal row may only come after it, so a
    // plateau's node is its lowest row.
    let dominates = |index: usize, beats: fn(i128, i128) -> bool| {
        let from = index.saturating_sub(params.radius);
        let to = (index + params.radius).min(n - 1);
        let v = volumes[index];
        (from..=to).all(|j| j == index || beats(v, volumes[j]) || (v == volumes[j] && j > index))
    };
    let hvn_rows: Vec<usize> = (0..n)
        .filter(|&i| dominates(i, |a, b| a > b) && scaled(volumes[i]) >= share(params.hvn_percent))
        .collect();
    let lvn_rows: Vec<usize> = match (hvn_rows.first(), hvn_rows.last()) {
        (Some(&first), Some(&last)) if first < last => (first + 1..last)
            .filter(|&i| {
                dominates(i, |a, b| a < b) && scaled(volumes[i]) <= share(params.lvn_percent)
            })
            .collect(),
        _ => Vec::new(),
    };
    let price = |i: usize| grid.label(lo + i128::try_from(i).unwrap_or(0));
    VolumeNodes {
        hvn: hvn_rows.into_iter().map(price).collect(),
        lvn: lvn_rows.into_iter().map(price).collect(),
    }
}

/// A run of single prints: rows `low..=high` (labels), `rows` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SinglePrints {
    pub low: Price,
    pub high: Price,
    pub rows: usize,
}

/// Single prints of a footprint: maximal runs of at least `min_rows` consecutive rows, inside
/// its range (lowest to highest traded row), each holding at most one trade (rows without
/// trades count, as price went through them without a print). Such runs are what a fast,
/// one-way move leaves. Exact: trades are counted as the venue counts them (a Binance
/// aggregate trade counts its fills), on the answer's row grid.
pub fn single_prints(footprint: &Footprint, grid: &RowGrid, min_rows: usize) -> Vec<SinglePrints> {
    let Some((lo, hi)) = footprint.range() else {
        return Vec::new();
    };
    let mut runs = Vec::new();
    let mut start: Option<i128> = None;
    let close = |from: i128, to: i128, runs: &mut Vec<SinglePrints>| {
        let rows = usize::try_from(to - from + 1).unwrap_or(usize::MAX);
        if rows >= min_rows.max(1) {
            runs.push(SinglePrints {
                low: grid.label(from),
                high: grid.label(to),
                rows,
            });
        }
    };
    for row in lo..=hi {
        let single = footprint.row(row).trades <= 1;
        match (single, start) {
            (true, None) => start = Some(row),
            (false, Some(from)) => {
                close(from, row - 1, &mut runs);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        close(from, hi, &mut runs);
    }
    runs
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

    #[test]
    fn single_prints_are_runs_of_rows_with_at_most_one_trade() {
        use crate::model::{Qty, Side};
        let grid = RowGrid::new(p("1")).unwrap();
        let mut footprint = Footprint::new();
        let q = Qty::from_int(1);
        // Rows 100 (3 trades), 101 (1), 102 (0), 103 (1), 104 (2), 105 (1), 106 (5), 107 (1).
        for (row, trades) in [
            (100, 3),
            (101, 1),
            (103, 1),
            (104, 2),
            (105, 1),
            (106, 5),
            (107, 1),
        ] {
            for _ in 0..trades {
                footprint.add(row, Side::Buy, q, 0);
            }
        }
        // 101..103 is a run of three (102 untraded counts); 105 alone is too short; 107 is
        // the last row, alone.
        assert_eq!(
            single_prints(&footprint, &grid, 2),
            [SinglePrints {
                low: p("101"),
                high: p("103"),
                rows: 3
            }]
        );
        assert_eq!(single_prints(&footprint, &grid, 1).len(), 3);
        assert!(single_prints(&Footprint::new(), &grid, 2).is_empty());
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

    fn footprint(rows: &[(&str, &str)], grid: &RowGrid) -> Footprint {
        let mut footprint = Footprint::new();
        for (price, qty) in rows {
            footprint.add(
                grid.row(p(price)),
                crate::model::Side::Buy,
                qty.parse().unwrap(),
                0,
            );
        }
        footprint
    }

    #[test]
    fn vwap_and_bands_of_a_symmetric_profile() {
        // 1 at 100, 2 at 101, 1 at 102: VWAP 101; variance (1 + 0 + 1) / 4 = 0.5.
        let grid = RowGrid::new(p("1")).unwrap();
        let bands = vwap_bands(
            &footprint(&[("100", "1"), ("101", "2"), ("102", "1")], &grid),
            &grid,
        )
        .unwrap();
        assert_eq!(bands.vwap, p("101"));
        // sqrt(0.5) = 0.70710678118654..., rounded down to 12 places.
        assert_eq!(bands.sigma, p("0.707106781186"));
        assert_eq!(
            bands.bands[0],
            (p("100.292893218814"), p("101.707106781186"))
        );
        assert_eq!(
            bands.bands[2],
            (p("98.878679656442"), p("103.121320343558"))
        );
    }

    #[test]
    fn vwap_rounds_to_nearest_and_sigma_down() {
        // 1 at 100, 2 at 101: VWAP 302 / 3 = 100.6666...; variance 2 / 9, sigma sqrt(2) / 3.
        let grid = RowGrid::new(p("0.5")).unwrap();
        let bands = vwap_bands(&footprint(&[("100", "1"), ("101", "2")], &grid), &grid).unwrap();
        assert_eq!(bands.vwap, p("100.666666666667"));
        assert_eq!(bands.sigma, p("0.471404520791"));
        // Rows are labelled by their lower edge: 100.4 counts at 100 on this grid.
        let lower = vwap_bands(&footprint(&[("100.4", "3")], &grid), &grid).unwrap();
        assert_eq!((lower.vwap, lower.sigma), (p("100"), Price::ZERO));
        assert!(vwap_bands(&Footprint::new(), &grid).is_none());
    }

    #[test]
    fn large_volumes_and_prices_do_not_overflow() {
        // 10^9 units of volume at prices near 10^6: v * p^2 is far beyond 128 bits.
        let grid = RowGrid::new(p("0.01")).unwrap();
        let bands = vwap_bands(
            &footprint(
                &[("999999.99", "1000000000"), ("1000000.01", "1000000000")],
                &grid,
            ),
            &grid,
        )
        .unwrap();
        assert_eq!(bands.vwap, p("1000000"));
        assert_eq!(bands.sigma, p("0.01"));
    }

    fn nodes(volumes: &[(&str, &str)], params: NodeParams) -> (Vec<Price>, Vec<Price>) {
        let grid = RowGrid::new(p("1")).unwrap();
        let found = volume_nodes(&footprint(volumes, &grid), &grid, params);
        (found.hvn, found.lvn)
    }

    #[test]
    fn two_peaks_and_the_valley_between_them() {
        // Rows 100..=110: a peak at 102, a valley at 105-106 (plateau: 105 is the node),
        // a peak at 108. Mean = 60 / 11 = 5.45...: HVN at least 8.18, LVN at most 2.73.
        let profile = [
            ("100", "2"),
            ("101", "5"),
            ("102", "12"),
            ("103", "6"),
            ("104", "3"),
            ("105", "1"),
            ("106", "1"),
            ("107", "7"),
            ("108", "14"),
            ("109", "6"),
            ("110", "3"),
        ];
        let (hvn, lvn) = nodes(&profile, NodeParams::default());
        assert_eq!(hvn, [p("102"), p("108")]);
        assert_eq!(lvn, [p("105")]);
    }

    #[test]
    fn rows_without_trades_are_valleys_and_thresholds_hold() {
        // A gap at 103 (no trades) between two peaks: it is the low-volume node.
        let profile = [
            ("100", "1"),
            ("101", "9"),
            ("102", "4"),
            ("104", "4"),
            ("105", "9"),
            ("106", "1"),
        ];
        let (hvn, lvn) = nodes(&profile, NodeParams::default());
        assert_eq!(hvn, [p("101"), p("105")]);
        assert_eq!(lvn, [p("103")]);
        // A flat profile has no node above 150 % of its mean.
        let flat = [("100", "5"), ("101", "5"), ("102", "5")];
        assert_eq!(nodes(&flat, NodeParams::default()), (vec![], vec![]));
        // One peak: no valley between peaks.
        let one = [("100", "1"), ("101", "10"), ("102", "1")];
        assert_eq!(nodes(&one, NodeParams::default()), (vec![p("101")], vec![]));
    }
}
