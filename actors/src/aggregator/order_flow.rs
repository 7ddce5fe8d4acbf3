//! Order flow from a footprint: diagonal and stacked imbalances, absorption, large trades,
//! and the session that cumulative delta resets at. Exact arithmetic throughout.
//!
//! - **Diagonal imbalance** (ratio `R`, minimum volume `M`): a buy imbalance at row `P` when
//!   `ask(P) >= R * bid(P - 1)`, a sell imbalance at `P` when `bid(P) >= R * ask(P + 1)`; the
//!   dominant side must be above zero and reach `M`; a zero on the other side counts; both
//!   rows must lie inside the profile's range.
//! - **Stacked imbalance**: `S` (3 by default) or more consecutive rows imbalanced on the same
//!   side; any row that is not (empty ones included) breaks the stack.
//! - **Absorption** (multiple `X`, rows `N`): aggressive volume of one side in a row of at
//!   least `X` times the window's average volume per traded row, while the window's price
//!   moved no more than `N` rows beyond that row in the aggressor's direction (sellers hitting
//!   a bid that holds; buyers lifting an offer that holds). Reported with the row, the
//!   aggressor side, its volume and the row's latest trade time.
//! - **Large trade**: a single trade of at least a fixed size, or of at least a multiple of
//!   the median size of the recent trades (the lower median of an even count; exact).

use std::collections::{BTreeMap, VecDeque};

use super::footprint::Footprint;
use crate::model::{Price, Qty, Ratio, Side, Trade};

/// Imbalance parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImbalanceParams {
    /// Ratio `R` between the dominant and the diagonal opposite volume.
    pub ratio: Ratio,
    /// Minimum volume `M` of the dominant side.
    pub min_volume: Qty,
    /// Rows `S` in a stack.
    pub stack: usize,
}

impl Default for ImbalanceParams {
    fn default() -> Self {
        Self {
            ratio: Ratio::from_int(3),
            min_volume: Qty::ZERO,
            stack: 3,
        }
    }
}

/// Imbalanced rows of each side, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imbalances {
    /// Rows with a buy imbalance.
    pub buy: Vec<i128>,
    /// Rows with a sell imbalance.
    pub sell: Vec<i128>,
}

/// Returns the diagonal imbalances of a footprint.
pub fn imbalances(footprint: &Footprint, params: &ImbalanceParams) -> Imbalances {
    let mut found = Imbalances::default();
    let Some((low, high)) = footprint.range() else {
        return found;
    };
    for (row, volume) in footprint.rows() {
        let dominant = |qty: Qty| qty.is_positive() && qty >= params.min_volume;
        if row > low
            && dominant(volume.ask)
            && params
                .ratio
                .at_least_times(volume.ask, footprint.row(row - 1).bid)
        {
            found.buy.push(row);
        }
        if row < high
            && dominant(volume.bid)
            && params
                .ratio
                .at_least_times(volume.bid, footprint.row(row + 1).ask)
        {
            found.sell.push(row);
        }
    }
    found
}

/// A run of consecutive imbalanced rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stack {
    /// Aggressor side of the imbalances.
    pub side: Side,
    /// Lowest row.
    pub from: i128,
    /// Highest row.
    pub to: i128,
}

impl Stack {
    /// Returns the number of rows.
    pub fn rows(&self) -> i128 {
        self.to - self.from + 1
    }
}

/// Returns the stacks of at least `params.stack` consecutive imbalanced rows per side,
/// buy stacks first, each ascending.
pub fn stacks(imbalances: &Imbalances, params: &ImbalanceParams) -> Vec<Stack> {
    let mut stacks = Vec::new();
    for (side, rows) in [(Side::Buy, &imbalances.buy), (Side::Sell, &imbalances.sell)] {
        let mut run: Option<(i128, i128)> = None;
        for &row in rows.iter().chain(std::iter::once(&i128::MAX)) {
            run = match run {
                Some((from, to)) if row == to + 1 => Some((from, row)),
                Some((from, to)) => {
                    if to - from + 1 >= params.stack.max(1) as i128 {
                        stacks.push(Stack { side, from, to });
                    }
                    (row != i128::MAX).then_some((row, row))
                }
                None => (row != i128::MAX).then_some((row, row)),
            };
        }
    }
    stacks
}

/// Absorption parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsorptionParams {
    /// `X`: the side's volume in the row versus the average volume per traded row.
    pub volume_multiple: Ratio,
    /// `N`: how many rows price may move beyond the row in the aggressor's direction.
    pub max_rows: i128,
}

impl Default for AbsorptionParams {
    fn default() -> Self {
        Self {
            volume_multiple: Ratio::from_int(3),
            max_rows: 2,
        }
    }
}

/// Aggressive volume absorbed at a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Absorption {
    pub row: i128,
    /// The aggressor side that was absorbed (sellers at a holding bid, buyers at a holding offer).
    pub side: Side,
    /// The aggressor's volume in the row.
    pub volume: Qty,
    /// Latest trade time in the row (ms).
    pub time: i64,
}

/// Returns the absorption events of a window.
pub fn absorption(footprint: &Footprint, params: &AbsorptionParams) -> Vec<Absorption> {
    let Some((low, high)) = footprint.range() else {
        return Vec::new();
    };
    let traded_rows = footprint.len() as i128;
    let total = footprint.total();
    // side >= X * (total / rows)  <=>  side * rows >= X * total, exactly.
    let heavy = |side: Qty| {
        side.is_positive()
            && side
                .checked_mul_int(traded_rows)
                .is_some_and(|scaled| params.volume_multiple.at_least_times(scaled, total))
    };
    let mut events = Vec::new();
    for (row, volume) in footprint.rows() {
        if heavy(volume.bid) && row - low <= params.max_rows {
            events.push(Absorption {
                row,
                side: Side::Sell,
                volume: volume.bid,
                time: volume.last_time,
            });
        }
        if heavy(volume.ask) && high - row <= params.max_rows {
            events.push(Absorption {
                row,
                side: Side::Buy,
                volume: volume.ask,
                time: volume.last_time,
            });
        }
    }
    events
}

/// Large trade parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeTradeParams {
    /// Trades of at least this size are large.
    pub min_qty: Option<Qty>,
    /// Trades of at least this multiple of the recent median size are large.
    pub median_multiple: Option<Ratio>,
    /// How many recent trades the median is taken over.
    pub median_window: usize,
}

impl Default for LargeTradeParams {
    fn default() -> Self {
        Self {
            min_qty: None,
            median_multiple: Some(Ratio::from_int(10)),
            median_window: 1_000,
        }
    }
}

/// A large trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LargeTrade {
    /// Trade time (ms).
    pub time: i64,
    pub price: Price,
    /// Size.
    pub qty: Qty,
    /// Aggressor side.
    pub side: Side,
}

/// A multiset of sizes split at its lower median: `low` holds the smaller half (one more on
/// an odd count), `high` the rest, so the lower median is the largest of `low` and insertions
/// and removals cost O(log n) however many distinct sizes there are.
#[derive(Debug, Clone, Default)]
struct SlidingMedian {
    low: BTreeMap<Qty, u32>,
    high: BTreeMap<Qty, u32>,
    low_len: usize,
    high_len: usize,
}

fn take_one(set: &mut BTreeMap<Qty, u32>, qty: Qty) -> bool {
    match set.get_mut(&qty) {
        Some(count) if *count > 1 => {
            *count -= 1;
            true
        }
        Some(_) => {
            set.remove(&qty);
            true
        }
        None => false,
    }
}

impl SlidingMedian {
    fn median(&self) -> Option<Qty> {
        self.low.last_key_value().map(|(&qty, _)| qty)
    }

    fn insert(&mut self, qty: Qty) {
        self.put(qty);
        self.rebalance();
    }

    #[cfg(test)]
    fn remove(&mut self, qty: Qty) {
        self.take(qty);
        self.rebalance();
    }

    /// Adds `new` and removes `old` (a full window sliding by one), then rebalances once:
    /// when both fall on the same side nothing moves between the halves.
    fn replace(&mut self, new: Qty, old: Qty) {
        self.put(new);
        self.take(old);
        self.rebalance();
    }

    /// Adds to the half `qty` belongs to (every size in `low` stays at most every size in
    /// `high`), without rebalancing.
    fn put(&mut self, qty: Qty) {
        if self.median().is_none_or(|median| qty <= median) {
            *self.low.entry(qty).or_default() += 1;
            self.low_len += 1;
        } else {
            *self.high.entry(qty).or_default() += 1;
            self.high_len += 1;
        }
    }

    /// Removes one `qty` from the half holding it, without rebalancing.
    fn take(&mut self, qty: Qty) {
        if self.median().is_some_and(|median| qty <= median) && take_one(&mut self.low, qty) {
            self.low_len -= 1;
        } else if take_one(&mut self.high, qty) {
            self.high_len -= 1;
        }
    }

    fn rebalance(&mut self) {
        while self.low_len > self.high_len + 1 {
            let Some((&qty, _)) = self.low.last_key_value() else {
                break;
            };
            take_one(&mut self.low, qty);
            *self.high.entry(qty).or_default() += 1;
            self.low_len -= 1;
            self.high_len += 1;
        }
        while self.high_len > self.low_len {
            let Some((&qty, _)) = self.high.first_key_value() else {
                break;
            };
            take_one(&mut self.high, qty);
            *self.low.entry(qty).or_default() += 1;
            self.high_len -= 1;
            self.low_len += 1;
        }
    }
}

/// Finds large trades against a rolling median of trade sizes.
#[derive(Debug, Clone)]
pub struct LargeTradeDetector {
    params: LargeTradeParams,
    recent: VecDeque<Qty>,
    sizes: SlidingMedian,
}

impl LargeTradeDetector {
    /// Creates a detector.
    pub fn new(params: LargeTradeParams) -> Self {
        Self {
            params,
            recent: VecDeque::new(),
            sizes: SlidingMedian::default(),
        }
    }

    /// Returns the lower median of the recent sizes.
    pub fn median(&self) -> Option<Qty> {
        self.sizes.median()
    }

    /// Judges `trade` against the trades before it, then adds it to the window.
    pub fn observe(&mut self, trade: &Trade) -> Option<LargeTrade> {
        let by_size = self.params.min_qty.is_some_and(|min| trade.qty >= min);
        let by_median = match (self.params.median_multiple, self.median()) {
            (Some(multiple), Some(median))
                if self.recent.len() >= self.params.median_window.min(10) =>
            {
                multiple.at_least_times(trade.qty, median)
            }
            _ => false,
        };
        if self.params.median_window > 0 {
            self.recent.push_back(trade.qty);
            if self.recent.len() > self.params.median_window
                && let Some(old) = self.recent.pop_front()
            {
                self.sizes.replace(trade.qty, old);
            } else {
                self.sizes.insert(trade.qty);
            }
        }
        (by_size || by_median).then(|| LargeTrade {
            time: trade.trade_time.as_millis(),
            price: trade.price,
            qty: trade.qty,
            side: trade.side,
        })
    }
}

/// Where sessions start: a time of day in UTC. Cumulative delta resets at each session start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionAnchor {
    offset_ms: i64,
}

impl SessionAnchor {
    /// Creates an anchor at `hours:minutes` UTC; `None` for an invalid time of day.
    pub fn at(hours: u32, minutes: u32) -> Option<Self> {
        (hours < 24 && minutes < 60).then_some(Self {
            offset_ms: i64::from(hours * 60 + minutes) * 60_000,
        })
    }

    /// The anchor's time of day, in minutes after midnight UTC.
    pub fn minute_of_day(&self) -> u32 {
        u32::try_from(self.offset_ms / 60_000).unwrap_or(0)
    }

    /// Parses `"HH:MM"`.
    pub fn parse(text: &str) -> Option<Self> {
        let (hours, minutes) = text.trim().split_once(':')?;
        if hours.len() != 2 || minutes.len() != 2 {
            return None;
        }
        Self::at(hours.parse().ok()?, minutes.parse().ok()?)
    }

    /// Returns the start of the session containing `time` (ms).
    pub fn session_start(&self, time: i64) -> i64 {
        const DAY: i64 = 86_400_000;
        (time - self.offset_ms).div_euclid(DAY) * DAY + self.offset_ms
    }
}

impl std::fmt::Display for SessionAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let minutes = self.offset_ms / 60_000;
        write!(f, "{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64) -> Qty {
        Qty::from_int(n)
    }

    /// A footprint of (row, bid, ask).
    fn footprint(rows: &[(i128, i64, i64)]) -> Footprint {
        let mut f = Footprint::new();
        for &(row, bid, ask) in rows {
            if bid > 0 {
                f.add(row, Side::Sell, q(bid), row as i64);
            }
            if ask > 0 {
                f.add(row, Side::Buy, q(ask), row as i64);
            }
        }
        f
    }

    #[test]
    fn buy_imbalances_compare_the_ask_with_the_bid_one_row_below() {
        // Row 2: ask 9 vs bid(1) 3 -> 9 >= 3 * 3. Row 3: ask 8 vs bid(2) 3 -> no.
        let f = footprint(&[(1, 3, 1), (2, 3, 9), (3, 1, 8)]);
        assert_eq!(imbalances(&f, &ImbalanceParams::default()).buy, vec![2]);
    }

    #[test]
    fn sell_imbalances_compare_the_bid_with_the_ask_one_row_above() {
        // Row 1: bid 6 vs ask(2) 2 -> 6 >= 3 * 2. Row 2: bid 3 vs ask(3) 1 -> 3 >= 3.
        let f = footprint(&[(1, 6, 0), (2, 3, 2), (3, 0, 1)]);
        assert_eq!(imbalances(&f, &ImbalanceParams::default()).sell, vec![1, 2]);
    }

    #[test]
    fn a_zero_on_the_other_side_counts_but_the_edges_of_the_range_do_not() {
        // Row 5 has an empty row 4 below it inside the range: ask 1 >= 3 * 0.
        // Row 3 is the lowest row: there is no row below inside the range.
        let f = footprint(&[(3, 0, 5), (5, 0, 1)]);
        let found = imbalances(&f, &ImbalanceParams::default());
        assert_eq!(found.buy, vec![5]);
        // Row 5 is the highest row: no sell imbalance can be judged there.
        let f = footprint(&[(3, 0, 0), (5, 4, 0)]);
        assert!(imbalances(&f, &ImbalanceParams::default()).sell.is_empty());
    }

    #[test]
    fn the_dominant_side_must_reach_the_minimum_volume() {
        let f = footprint(&[(1, 1, 0), (2, 0, 4), (3, 1, 6)]);
        let params = ImbalanceParams {
            min_volume: q(5),
            ..ImbalanceParams::default()
        };
        // Row 2 (ask 4) is below the minimum; row 3 (ask 6 vs bid(2) 0) qualifies.
        assert_eq!(imbalances(&f, &params).buy, vec![3]);
        assert_eq!(imbalances(&f, &ImbalanceParams::default()).buy, vec![2, 3]);
    }

    #[test]
    fn stacks_need_enough_consecutive_rows_and_a_gap_breaks_them() {
        let found = Imbalances {
            buy: vec![1, 2, 3, 5, 6, 7, 8],
            sell: vec![10, 11, 13, 14, 15],
        };
        let params = ImbalanceParams::default();
        assert_eq!(
            stacks(&found, &params),
            vec![
                Stack {
                    side: Side::Buy,
                    from: 1,
                    to: 3
                },
                Stack {
                    side: Side::Buy,
                    from: 5,
                    to: 8
                },
                Stack {
                    side: Side::Sell,
                    from: 13,
                    to: 15
                },
            ]
        );
        let four = ImbalanceParams { stack: 4, ..params };
        assert_eq!(
            stacks(&found, &four),
            vec![Stack {
                side: Side::Buy,
                from: 5,
                to: 8
            }]
        );
    }

    #[test]
    fn an_empty_row_inside_a_run_breaks_the_stack() {
        // Rows 1, 2 buy-imbalanced, row 3 empty, rows 4, 5 buy-imbalanced: no stack of 3.
        let f = footprint(&[
            (0, 1, 0),
            (1, 0, 9),
            (2, 0, 9),
            (4, 0, 9),
            (5, 0, 9),
            (6, 9, 0),
        ]);
        let found = imbalances(&f, &ImbalanceParams::default());
        assert_eq!(found.buy, vec![1, 2, 4, 5]);
        assert!(stacks(&found, &ImbalanceParams::default()).is_empty());
    }

    #[test]
    fn absorption_needs_heavy_volume_at_a_level_price_did_not_leave() {
        // 5 traded rows, total 50, average 10. Row 10 takes 30 of selling and the low is row 9:
        // price moved 1 row below it (<= 2): absorbed.
        let f = footprint(&[(9, 2, 0), (10, 30, 0), (11, 0, 6), (12, 0, 6), (13, 0, 6)]);
        let events = absorption(&f, &AbsorptionParams::default());
        assert_eq!(
            events,
            vec![Absorption {
                row: 10,
                side: Side::Sell,
                volume: q(30),
                time: 10
            }]
        );
        // Three rows below it: not absorbed.
        let f = footprint(&[(7, 2, 0), (10, 30, 0), (11, 0, 6), (12, 0, 6), (13, 0, 6)]);
        assert!(absorption(&f, &AbsorptionParams::default()).is_empty());
        // Buying into the top row, which holds: 6 rows, total 65; 40 * 6 >= 3 * 65.
        let f = footprint(&[
            (1, 5, 0),
            (2, 5, 0),
            (3, 5, 0),
            (4, 5, 0),
            (5, 5, 0),
            (6, 0, 40),
        ]);
        assert_eq!(
            absorption(&f, &AbsorptionParams::default()),
            vec![Absorption {
                row: 6,
                side: Side::Buy,
                volume: q(40),
                time: 6
            }]
        );
    }

    #[test]
    fn large_trades_by_size_and_by_median_multiple() {
        use crate::aggregator::bar::tests::trade;
        let mut detector = LargeTradeDetector::new(LargeTradeParams {
            min_qty: Some(q(100)),
            median_multiple: Some(Ratio::from_int(10)),
            median_window: 20,
        });
        for i in 0..20 {
            assert!(
                detector
                    .observe(&trade(i, "1", "1", Side::Buy, i as u64))
                    .is_none()
            );
        }
        assert_eq!(detector.median(), Some(q(1)));
        assert!(
            detector
                .observe(&trade(20, "1", "9", Side::Buy, 20))
                .is_none(),
            "9 < 10 x median"
        );
        assert!(
            detector
                .observe(&trade(21, "1", "10", Side::Sell, 21))
                .is_some(),
            "10 >= 10 x median"
        );
        let mut only_size = LargeTradeDetector::new(LargeTradeParams {
            min_qty: Some(q(100)),
            median_multiple: None,
            median_window: 0,
        });
        assert!(
            only_size
                .observe(&trade(0, "1", "100", Side::Buy, 0))
                .is_some()
        );
        assert!(
            only_size
                .observe(&trade(0, "1", "99", Side::Buy, 0))
                .is_none()
        );
    }

    proptest::proptest! {
        #[test]
        fn the_sliding_median_is_the_sorted_lower_middle(
            sizes in proptest::collection::vec(1i64..40, 1..300),
            window in 1usize..50,
        ) {
            let mut median = SlidingMedian::default();
            let mut recent: VecDeque<Qty> = VecDeque::new();
            for (i, size) in sizes.into_iter().enumerate() {
                recent.push_back(q(size));
                if recent.len() > window {
                    let old = recent.pop_front().unwrap();
                    // Both ways of sliding the window: one step, or an insert then a removal.
                    if i % 2 == 0 {
                        median.replace(q(size), old);
                    } else {
                        median.insert(q(size));
                        median.remove(old);
                    }
                } else {
                    median.insert(q(size));
                }
                let mut sorted: Vec<Qty> = recent.iter().copied().collect();
                sorted.sort();
                proptest::prop_assert_eq!(median.median(), Some(sorted[(sorted.len() - 1) / 2]));
                proptest::prop_assert_eq!(median.low_len + median.high_len, recent.len());
            }
        }
    }

    #[test]
    fn the_median_is_the_lower_middle_of_an_even_count() {
        use crate::aggregator::bar::tests::trade;
        let mut detector = LargeTradeDetector::new(LargeTradeParams {
            min_qty: None,
            median_multiple: None,
            median_window: 4,
        });
        for (i, qty) in ["4", "1", "3", "2", "9"].iter().enumerate() {
            detector.observe(&trade(i as i64, "1", qty, Side::Buy, i as u64));
        }
        // The window keeps the last 4: 1, 3, 2, 9 -> sorted 1 2 3 9 -> lower middle 2.
        assert_eq!(detector.median(), Some(q(2)));
    }

    #[test]
    fn sessions_start_at_the_anchor_time_of_day() {
        let midnight = SessionAnchor::default();
        assert_eq!(midnight.session_start(1_700_000_000_000), 1_699_920_000_000);
        let ny = SessionAnchor::parse("13:30").unwrap();
        assert_eq!(ny.to_string(), "13:30");
        // 2023-11-14T22:13:20Z -> session started 13:30 that day.
        assert_eq!(
            ny.session_start(1_700_000_000_000),
            1_699_920_000_000 + 13 * 3_600_000 + 30 * 60_000
        );
        // 2023-11-14T10:00:00Z -> before 13:30: the previous day's session.
        assert_eq!(
            ny.session_start(1_699_956_000_000),
            1_699_920_000_000 - 86_400_000 + 48_600_000
        );
        assert!(SessionAnchor::parse("24:00").is_none() && SessionAnchor::parse("9:30").is_none());
    }
}
