//! Volume profile: point of control and value area, computed from a footprint exactly.
//!
//! - **POC**: the row with the most volume. Ties: the tied row closest to the middle of the
//!   profile's range (`(lowest row + highest row) / 2`); if two are equally close, the one on
//!   the side of the middle holding more volume; if still equal, the lower price.
//! - **Value area** (share `p`, 70 % by default): start at the POC; repeatedly compare the
//!   volume of the next two rows above with the next two rows below (fewer at the range edge;
//!   empty rows inside the range count as zero), add the larger pair (a tie goes above); stop
//!   as soon as the included volume is at least `p` of the total. Empty rows at the edges of
//!   the result are trimmed, so VAL and VAH are always traded rows.
//! - An empty profile has no POC, VAL or VAH.

use super::footprint::Footprint;
use crate::model::{Qty, Ratio};

/// POC and value area of a profile, as row indices (label them with the grid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileLevels {
    /// Point of control.
    pub poc: i128,
    /// Volume of the POC row.
    pub poc_volume: Qty,
    /// Lowest row of the value area.
    pub val: i128,
    /// Highest row of the value area.
    pub vah: i128,
    /// Volume inside the value area.
    pub value_area_volume: Qty,
}

/// Returns the point of control and its volume, or `None` for an empty profile.
pub fn poc(footprint: &Footprint) -> Option<(i128, Qty)> {
    let (low, high) = footprint.range()?;
    let max = footprint.rows().map(|(_, v)| v.volume()).max()?;
    // Twice the middle, so the comparison stays in integers.
    let middle2 = low + high;
    let candidates: Vec<i128> = footprint
        .rows()
        .filter(|(_, v)| v.volume() == max)
        .map(|(k, _)| k)
        .collect();
    let distance = |k: i128| (2 * k - middle2).abs();
    let closest = candidates.iter().map(|&k| distance(k)).min()?;
    let nearest: Vec<i128> = candidates
        .into_iter()
        .filter(|&k| distance(k) == closest)
        .collect();
    let chosen = match nearest.as_slice() {
        [only] => *only,
        [below, above, ..] => {
            // Equally close on both sides of the middle: the heavier side wins, then the lower.
            let (mut volume_below, mut volume_above) = (Qty::ZERO, Qty::ZERO);
            for (k, v) in footprint.rows() {
                if 2 * k < middle2 {
                    volume_below += v.volume();
                } else if 2 * k > middle2 {
                    volume_above += v.volume();
                }
            }
            if volume_above > volume_below {
                *above
            } else {
                *below
            }
        }
        [] => return None,
    };
    Some((chosen, max))
}

/// Returns the POC and the value area holding at least `share` of the volume.
pub fn profile_levels(footprint: &Footprint, share: Ratio) -> Option<ProfileLevels> {
    let (poc, poc_volume) = poc(footprint)?;
    let (low, high) = footprint.range()?;
    let total = footprint.total();
    let reached = |included: Qty| share.at_least_times(included, total) || included >= total;
    let (mut lo, mut hi) = (poc, poc);
    let mut included = poc_volume;
    while !reached(included) {
        let above: Vec<i128> = (hi + 1..=hi + 2).filter(|&k| k <= high).collect();
        let below: Vec<i128> = (lo - 2..=lo - 1).rev().filter(|&k| k >= low).collect();
        if above.is_empty() && below.is_empty() {
            break;
        }
        let sum = |rows: &[i128]| rows.iter().map(|&k| footprint.row(k).volume()).sum::<Qty>();
        let (volume_above, volume_below) = (sum(&above), sum(&below));
        if !above.is_empty() && (below.is_empty() || volume_above >= volume_below) {
            hi += above.len() as i128;
            included += volume_above;
        } else {
            lo -= below.len() as i128;
            included += volume_below;
        }
    }
    while hi > poc && footprint.row(hi).volume().is_zero() {
        hi -= 1;
    }
    while lo < poc && footprint.row(lo).volume().is_zero() {
        lo += 1;
    }
    Some(ProfileLevels {
        poc,
        poc_volume,
        val: lo,
        vah: hi,
        value_area_volume: included,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Side;

    fn q(n: i64) -> Qty {
        Qty::from_int(n)
    }

    /// A footprint of (row, volume) with buys only.
    fn profile(rows: &[(i128, i64)]) -> Footprint {
        let mut f = Footprint::new();
        for &(row, volume) in rows {
            if volume > 0 {
                f.add(row, Side::Buy, q(volume), 0);
            }
        }
        f
    }

    fn share(text: &str) -> Ratio {
        text.parse().unwrap()
    }

    #[test]
    fn an_empty_profile_has_no_levels() {
        assert_eq!(poc(&Footprint::new()), None);
        assert_eq!(profile_levels(&Footprint::new(), share("0.7")), None);
    }

    #[test]
    fn a_single_trade_is_its_own_poc_and_value_area() {
        let levels = profile_levels(&profile(&[(42, 3)]), share("0.7")).unwrap();
        assert_eq!((levels.poc, levels.val, levels.vah), (42, 42, 42));
        assert_eq!((levels.poc_volume, levels.value_area_volume), (q(3), q(3)));
    }

    #[test]
    fn poc_tie_goes_to_the_row_closest_to_the_middle() {
        // Range 0..=10, middle 5: the tied rows 1, 6 and 9 are 4, 1 and 4 away.
        let f = profile(&[(0, 1), (1, 9), (6, 9), (9, 9), (10, 1)]);
        assert_eq!(poc(&f), Some((6, q(9))));
    }

    #[test]
    fn poc_tie_at_equal_distance_goes_to_the_heavier_side_of_the_middle() {
        // Range 0..=10, middle 5: rows 3 and 7 tie at distance 2; more volume above the middle.
        let f = profile(&[(0, 1), (3, 5), (7, 5), (9, 4), (10, 1)]);
        assert_eq!(poc(&f), Some((7, q(5))));
        // The same with the weight below.
        let f = profile(&[(0, 1), (1, 4), (3, 5), (7, 5), (10, 1)]);
        assert_eq!(poc(&f), Some((3, q(5))));
    }

    #[test]
    fn poc_tie_with_equal_sides_goes_to_the_lower_price() {
        let f = profile(&[(0, 1), (3, 5), (7, 5), (10, 1)]);
        assert_eq!(poc(&f), Some((3, q(5))));
    }

    #[test]
    fn the_middle_row_itself_wins_a_tie() {
        // Range 0..=4, middle 2 is a row: distance 0 beats everything.
        let f = profile(&[(0, 5), (2, 5), (4, 5)]);
        assert_eq!(poc(&f), Some((2, q(5))));
    }

    #[test]
    fn a_one_price_window_is_all_value_area() {
        let levels = profile_levels(&profile(&[(7, 10)]), share("1")).unwrap();
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (7, 7, q(10))
        );
    }

    #[test]
    fn the_larger_pair_is_added_and_a_tie_goes_above() {
        // POC 5 (20). Above 6,7 = 8; below 4,3 = 8: tie goes above.
        let f = profile(&[(3, 4), (4, 4), (5, 20), (6, 4), (7, 4)]);
        let levels = profile_levels(&f, share("0.7")).unwrap();
        // 20 < 25.2 -> add above (6,7): 28 >= 25.2 -> stop.
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (5, 7, q(28))
        );
    }

    #[test]
    fn stops_exactly_at_the_target() {
        // Total 100, target 70 exactly. POC 5 (50). Below 4,3 = 20 > above 6,7 = 10.
        let f = profile(&[(3, 10), (4, 10), (5, 50), (6, 5), (7, 5), (8, 20)]);
        let levels = profile_levels(&f, share("0.7")).unwrap();
        // 50 -> +20 (below) = 70 = target: stop there, not one pair later.
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (3, 5, q(70))
        );
    }

    #[test]
    fn empty_rows_inside_the_range_count_as_zero_in_the_comparison() {
        // POC 5 (10). Above: 6 (empty) + 7 (7) = 7; below: 4 (empty) + 3 (6) = 6 -> above.
        let f = profile(&[(0, 1), (2, 8), (3, 6), (5, 10), (7, 7), (8, 1)]);
        let levels = profile_levels(&f, share("0.5")).unwrap();
        // 10 -> +7 = 17 >= 16.5: stop.
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (5, 7, q(17))
        );
    }

    #[test]
    fn empty_rows_at_the_edges_of_the_result_are_trimmed() {
        // Range 3..=7, POC 7 (20) at the top: the pair below is 6 (10) and 5 (empty).
        let f = profile(&[(3, 1), (6, 10), (7, 20)]);
        let levels = profile_levels(&f, share("0.9")).unwrap();
        // 20 -> +10 = 30 >= 27.9: the pass reached row 5, empty, so VAL is row 6.
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (6, 7, q(30))
        );
        // And at the top: POC 3 at the bottom, the pair above is 4 (10) and 5 (empty).
        let f = profile(&[(3, 20), (4, 10), (7, 1)]);
        let levels = profile_levels(&f, share("0.9")).unwrap();
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (3, 4, q(30))
        );
    }

    #[test]
    fn fewer_rows_are_compared_at_the_range_edge() {
        // POC 1 at the bottom edge: below has one row (0), above two (2, 3).
        let f = profile(&[(0, 9), (1, 10), (2, 4), (3, 4)]);
        let levels = profile_levels(&f, share("0.6")).unwrap();
        // Target 16.2: 10 -> below (9) beats above (8) -> 19: stop.
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (0, 1, q(19))
        );
    }

    #[test]
    fn a_full_share_takes_every_row() {
        let f = profile(&[(0, 1), (5, 10), (9, 1)]);
        let levels = profile_levels(&f, share("1")).unwrap();
        assert_eq!(
            (levels.val, levels.vah, levels.value_area_volume),
            (0, 9, q(12))
        );
    }
}
