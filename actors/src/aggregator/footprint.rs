//! The footprint: aggressive volume per price row, on a fixed grid.
//!
//! Row index `k = floor(price / row_size)`; row `k` spans `[k * row, (k + 1) * row)` and is
//! labelled by its lower edge. Because every profile uses the same grid, the profile of a
//! longer window is the exact sum of its bars' footprints, and a rolling window can subtract
//! the bars that leave it.

use std::collections::BTreeMap;

use crate::model::{Price, Qty, Side};

/// The row grid of one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGrid {
    row_size: Price,
}

impl RowGrid {
    /// Creates a grid; `None` unless `row_size` is above zero.
    pub fn new(row_size: Price) -> Option<Self> {
        row_size.is_positive().then_some(Self { row_size })
    }

    /// Returns the row height.
    pub fn row_size(&self) -> Price {
        self.row_size
    }

    /// Returns the row index of a price: `floor(price / row_size)`.
    pub fn row(&self, price: Price) -> i128 {
        let (units, row) = (price.units(), self.row_size.units());
        // 128-bit division is slow; every real price and row size fits 64 bits.
        match (i64::try_from(units), i64::try_from(row)) {
            (Ok(units), Ok(row)) => i128::from(units.div_euclid(row)),
            _ => units.div_euclid(row),
        }
    }

    /// Returns a row's label: its lower edge.
    pub fn label(&self, row: i128) -> Price {
        Price::from_units(row * self.row_size.units())
    }

    /// Returns a coarser grid `factor` times taller, or `None` for a factor below 1.
    pub fn coarser(&self, factor: i128) -> Option<RowGrid> {
        (factor >= 1).then(|| RowGrid {
            row_size: Price::from_units(self.row_size.units() * factor),
        })
    }
}

/// Aggressive volume in one row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowVolume {
    /// Sell-aggressor volume (hits on the bid).
    pub bid: Qty,
    /// Buy-aggressor volume (lifts of the ask).
    pub ask: Qty,
    /// Trades in the row (Binance aggregate trades count every fill they hold).
    pub trades: u64,
    /// Time of the latest trade in the row (ms), for absorption reports.
    pub last_time: i64,
}

impl RowVolume {
    /// Returns bid + ask.
    pub fn volume(&self) -> Qty {
        self.bid + self.ask
    }

    /// Returns ask - bid.
    pub fn delta(&self) -> Qty {
        self.ask - self.bid
    }

    /// Returns the volume of the given aggressor side.
    pub fn side(&self, side: Side) -> Qty {
        match side {
            Side::Buy => self.ask,
            Side::Sell => self.bid,
        }
    }
}

/// Aggressive volume per row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    rows: BTreeMap<i128, RowVolume>,
    total: Qty,
}

impl Footprint {
    /// Creates an empty footprint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one trade of `qty` with `side` aggression to `row` at `time` (ms).
    pub fn add(&mut self, row: i128, side: Side, qty: Qty, time: i64) {
        self.add_counted(row, side, qty, 1, time);
    }

    /// Adds `qty` of `side` aggression made of `trades` trades to `row` at `time` (ms).
    pub fn add_counted(&mut self, row: i128, side: Side, qty: Qty, trades: u64, time: i64) {
        let entry = self.rows.entry(row).or_default();
        match side {
            Side::Buy => entry.ask += qty,
            Side::Sell => entry.bid += qty,
        }
        entry.trades += trades;
        entry.last_time = entry.last_time.max(time);
        self.total += qty;
    }

    /// Adds a whole row (a stored bar's row, being rebuilt).
    pub fn add_row(&mut self, row: i128, volume: RowVolume) {
        let entry = self.rows.entry(row).or_default();
        entry.bid += volume.bid;
        entry.ask += volume.ask;
        entry.trades += volume.trades;
        entry.last_time = entry.last_time.max(volume.last_time);
        self.total += volume.volume();
    }

    /// Adds every row of `other`.
    pub fn merge(&mut self, other: &Footprint) {
        for (&row, volume) in &other.rows {
            let entry = self.rows.entry(row).or_default();
            entry.bid += volume.bid;
            entry.ask += volume.ask;
            entry.trades += volume.trades;
            entry.last_time = entry.last_time.max(volume.last_time);
        }
        self.total += other.total;
    }

    /// Removes every row of `other` (which must have been merged in before); rows left
    /// without volume disappear.
    ///
    /// A row's time is not taken back, and need not be: when the footprint is a sum of
    /// time-ordered periods and the oldest leaves (a rolling window), a row whose latest
    /// trade was in the leaving period has no trade in any later one, so it is left
    /// empty and removed. Every row left keeps the exact time of its latest trade.
    pub fn subtract(&mut self, other: &Footprint) {
        for (&row, volume) in &other.rows {
            if let Some(entry) = self.rows.get_mut(&row) {
                entry.bid -= volume.bid;
                entry.ask -= volume.ask;
                entry.trades = entry.trades.saturating_sub(volume.trades);
                if entry.bid.is_zero() && entry.ask.is_zero() {
                    self.rows.remove(&row);
                }
            }
        }
        self.total -= other.total;
    }

    /// Returns the footprint on a grid `factor` times coarser (row `k` goes to `floor(k / factor)`).
    pub fn coarsen(&self, factor: i128) -> Footprint {
        if factor <= 1 {
            return self.clone();
        }
        let mut coarse = Footprint::new();
        for (&row, volume) in &self.rows {
            let entry = coarse.rows.entry(row.div_euclid(factor)).or_default();
            entry.bid += volume.bid;
            entry.ask += volume.ask;
            entry.trades += volume.trades;
            entry.last_time = entry.last_time.max(volume.last_time);
        }
        coarse.total = self.total;
        coarse
    }

    /// Returns the rows with volume, ascending.
    pub fn rows(&self) -> impl DoubleEndedIterator<Item = (i128, &RowVolume)> {
        self.rows.iter().map(|(&row, volume)| (row, volume))
    }

    /// Returns a row's volume (zero for a row without trades).
    pub fn row(&self, row: i128) -> RowVolume {
        self.rows.get(&row).copied().unwrap_or_default()
    }

    /// Returns the total volume.
    pub fn total(&self) -> Qty {
        self.total
    }

    /// Returns the lowest and highest rows with volume.
    pub fn range(&self) -> Option<(i128, i128)> {
        Some((*self.rows.keys().next()?, *self.rows.keys().next_back()?))
    }

    /// Returns the number of rows with volume.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Returns true without any volume.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    #[test]
    fn rows_are_floored_onto_the_grid_and_labelled_by_their_lower_edge() {
        let grid = RowGrid::new(p("0.5")).unwrap();
        for (price, row, label) in [
            ("100.24", 200, "100"),
            ("100.5", 201, "100.5"),
            ("100.75", 201, "100.5"),
            ("0.1", 0, "0"),
            ("-0.1", -1, "-0.5"),
        ] {
            assert_eq!(grid.row(p(price)), row, "{price}");
            assert_eq!(grid.label(row), p(label));
        }
        assert!(RowGrid::new(Price::ZERO).is_none());
        assert_eq!(grid.coarser(4).unwrap().row_size(), p("2"));
    }

    proptest::proptest! {
        #[test]
        fn the_64_bit_fast_path_floors_like_128_bit_division(units: i128, row in 1i128..i128::MAX) {
            let grid = RowGrid::new(Price::from_units(row)).unwrap();
            proptest::prop_assert_eq!(grid.row(Price::from_units(units)), units.div_euclid(row));
            let small = i128::from(units as i64);
            let small_row = i128::from((row as i64).max(1).saturating_abs());
            let grid = RowGrid::new(Price::from_units(small_row)).unwrap();
            proptest::prop_assert_eq!(grid.row(Price::from_units(small)), small.div_euclid(small_row));
        }
    }

    #[test]
    fn merge_and_subtract_are_exact_inverses() {
        let mut a = Footprint::new();
        a.add(10, Side::Buy, Qty::from_int(2), 5);
        a.add(11, Side::Sell, Qty::from_int(1), 6);
        let mut b = Footprint::new();
        b.add(11, Side::Sell, Qty::from_int(3), 7);
        b.add(12, Side::Buy, Qty::from_int(4), 8);
        let mut sum = a.clone();
        sum.merge(&b);
        assert_eq!(sum.total(), Qty::from_int(10));
        assert_eq!(sum.row(11).bid, Qty::from_int(4));
        sum.subtract(&b);
        assert_eq!(sum.total(), a.total());
        assert_eq!(
            sum.rows()
                .map(|(k, v)| (k, v.bid, v.ask))
                .collect::<Vec<_>>(),
            a.rows().map(|(k, v)| (k, v.bid, v.ask)).collect::<Vec<_>>()
        );
        assert_eq!(sum.range(), Some((10, 11)));
    }

    #[test]
    fn coarsening_sums_rows_into_taller_ones() {
        let mut f = Footprint::new();
        f.add(-1, Side::Buy, Qty::from_int(1), 0);
        f.add(0, Side::Buy, Qty::from_int(2), 0);
        f.add(3, Side::Sell, Qty::from_int(3), 0);
        f.add(4, Side::Sell, Qty::from_int(4), 0);
        let coarse = f.coarsen(4);
        let rows: Vec<_> = coarse.rows().map(|(k, v)| (k, v.volume())).collect();
        assert_eq!(
            rows,
            [
                (-1, Qty::from_int(1)),
                (0, Qty::from_int(5)),
                (1, Qty::from_int(4))
            ]
        );
        assert_eq!(coarse.total(), f.total());
    }
}
