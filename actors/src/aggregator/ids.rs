//! Sets of numeric trade ids as sorted, disjoint, inclusive ranges.
//!
//! Binance trade ids are contiguous per symbol, so the ids of a bar, or every id an
//! aggregator has taken in a day, are one range plus one per hole: a few numbers however
//! many trades. Bars store theirs, so a restarted aggregator knows exactly which trades it
//! already holds; the [`super::ledger::TradeLedger`] keeps the same set over its horizon.

use serde::{Deserialize, Serialize};

/// A set of `u64` ids kept as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdRanges {
    ranges: Vec<(u64, u64)>,
}

impl IdRanges {
    /// Creates an empty set.
    pub const fn new() -> Self {
        Self { ranges: Vec::new() }
    }

    /// Builds a set from ranges in any order, overlapping or not; inverted ranges are
    /// skipped.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut set = Self::new();
        for (first, last) in ranges {
            set.insert_range(first, last);
        }
        set
    }

    /// Returns the ranges, ascending.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Returns true without ids.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Returns the lowest id.
    pub fn first(&self) -> Option<u64> {
        self.ranges.first().map(|&(first, _)| first)
    }

    /// Returns the highest id.
    pub fn last(&self) -> Option<u64> {
        self.ranges.last().map(|&(_, last)| last)
    }

    /// Returns the number of ids.
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(first, last)| last - first + 1)
            .sum()
    }

    /// Returns true if `id` is in the set.
    pub fn contains(&self, id: u64) -> bool {
        // The index of the first range ending at or after `id`.
        let at = self.ranges.partition_point(|&(_, last)| last < id);
        self.ranges.get(at).is_some_and(|&(first, _)| first <= id)
    }

    /// Adds `id`; returns false if it was there already. Ids in ascending order cost O(1).
    pub fn insert(&mut self, id: u64) -> bool {
        if let Some(last) = self.ranges.last_mut() {
            if id == last.1.wrapping_add(1) && last.1 != u64::MAX {
                last.1 = id;
                return true;
            }
            if id > last.1 {
                self.ranges.push((id, id));
                return true;
            }
        }
        if self.contains(id) {
            return false;
        }
        self.insert_range(id, id);
        true
    }

    /// Adds every id of `first..=last`.
    pub fn insert_range(&mut self, first: u64, last: u64) {
        if first > last {
            return;
        }
        // Ranges that touch or overlap the new one merge with it.
        let start = self
            .ranges
            .partition_point(|&(_, end)| end.saturating_add(1) < first);
        let end = self
            .ranges
            .partition_point(|&(begin, _)| begin <= last.saturating_add(1));
        if start >= end {
            self.ranges.insert(start, (first, last));
            return;
        }
        let merged = (
            first.min(self.ranges[start].0),
            last.max(self.ranges[end - 1].1),
        );
        self.ranges.splice(start..end, [merged]);
    }

    /// Adds every id of `other`.
    pub fn merge(&mut self, other: &IdRanges) {
        if self.ranges.is_empty() {
            self.ranges.clone_from(&other.ranges);
            return;
        }
        for &(first, last) in &other.ranges {
            self.insert_range(first, last);
        }
    }

    /// Forgets every id below `id`.
    pub fn forget_below(&mut self, id: u64) {
        let keep = self.ranges.partition_point(|&(_, last)| last < id);
        self.ranges.drain(..keep);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(id);
        }
    }

    /// Returns the ids of `first..=last` missing from the set, as ranges.
    pub fn missing(&self, first: u64, last: u64) -> Vec<(u64, u64)> {
        let mut holes = Vec::new();
        if first > last {
            return holes;
        }
        let mut next = first;
        let from = self.ranges.partition_point(|&(_, end)| end < first);
        for &(begin, end) in &self.ranges[from..] {
            if begin > last {
                break;
            }
            if begin > next {
                holes.push((next, begin - 1));
            }
            next = match end.checked_add(1) {
                Some(next) => next,
                None => return holes,
            };
            if next > last {
                return holes;
            }
        }
        holes.push((next, last));
        holes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ascending_ids_extend_one_range_and_a_jump_opens_another() {
        let mut set = IdRanges::new();
        for id in [5, 6, 7, 10, 11] {
            assert!(set.insert(id));
        }
        assert!(!set.insert(6), "already there");
        assert_eq!(set.ranges(), [(5, 7), (10, 11)]);
        assert!(set.insert(8));
        assert!(set.insert(9));
        assert_eq!(set.ranges(), [(5, 11)], "filled holes merge");
        assert_eq!(set.len(), 7);
    }

    #[test]
    fn missing_lists_the_holes_of_a_span() {
        let set = IdRanges::from_ranges([(10, 12), (15, 15), (20, 30)]);
        assert_eq!(set.missing(8, 25), vec![(8, 9), (13, 14), (16, 19)]);
        assert_eq!(set.missing(11, 12), vec![]);
        assert_eq!(set.missing(31, 32), vec![(31, 32)]);
    }

    #[test]
    fn forgetting_trims_the_low_end() {
        let mut set = IdRanges::from_ranges([(1, 5), (8, 12)]);
        set.forget_below(10);
        assert_eq!(set.ranges(), [(10, 12)]);
        set.forget_below(100);
        assert!(set.is_empty());
    }

    #[test]
    fn the_extremes_of_u64_do_not_overflow() {
        let mut set = IdRanges::new();
        assert!(set.insert(u64::MAX));
        assert!(set.insert(0));
        assert!(set.insert(u64::MAX - 1));
        assert_eq!(set.ranges(), [(0, 0), (u64::MAX - 1, u64::MAX)]);
        assert_eq!(
            set.missing(u64::MAX - 2, u64::MAX),
            vec![(u64::MAX - 2, u64::MAX - 2)]
        );
    }

    proptest! {
        #[test]
        fn the_set_equals_a_plain_set(ids in proptest::collection::vec(0u64..200, 0..300)) {
            let mut set = IdRanges::new();
            let mut plain = std::collections::BTreeSet::new();
            for id in ids {
                prop_assert_eq!(set.insert(id), plain.insert(id));
            }
            for id in 0..210 {
                prop_assert_eq!(set.contains(id), plain.contains(&id));
            }
            prop_assert_eq!(set.len(), plain.len() as u64);
            for pair in set.ranges().windows(2) {
                prop_assert!(pair[0].1 + 1 < pair[1].0, "disjoint and not adjacent");
            }
            let missing: u64 = set.missing(0, 209).iter().map(|(a, b)| b - a + 1).sum();
            prop_assert_eq!(missing, 210 - plain.len() as u64);
        }
    }
}
