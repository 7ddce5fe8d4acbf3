//! The derivatives part of a bar (issue #20): liquidated volume by position side, in total
//! and per footprint row; open interest open/high/low/close; the last funding rate, mark
//! and index price. Exact and mergeable like the rest of a bar, so longer bars, range sums
//! and restarts carry it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::footprint::RowGrid;
use crate::model::{DerivativesTick, Liquidation, PositionSide, Price, Qty, Ratio};

/// Liquidated size and count of one position side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liquidated {
    /// Size liquidated (base asset).
    pub qty: Qty,
    /// Liquidations.
    pub count: u64,
}

impl Liquidated {
    fn add(&mut self, other: Liquidated) {
        self.qty += other.qty;
        self.count += other.count;
    }
}

/// Liquidations by the side of the position closed: longs are closed by sell orders
/// (they push the price down), shorts by buy orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiquidationSides {
    pub longs: Liquidated,
    pub shorts: Liquidated,
}

impl LiquidationSides {
    /// Adds one liquidation.
    pub fn add(&mut self, position: PositionSide, qty: Qty) {
        let side = match position {
            PositionSide::Long => &mut self.longs,
            PositionSide::Short => &mut self.shorts,
        };
        side.add(Liquidated { qty, count: 1 });
    }

    /// Adds other sides.
    pub fn merge(&mut self, other: &LiquidationSides) {
        self.longs.add(other.longs);
        self.shorts.add(other.shorts);
    }

    /// Size liquidated on both sides.
    pub fn qty(&self) -> Qty {
        self.longs.qty + self.shorts.qty
    }

    /// Liquidations on both sides.
    pub fn count(&self) -> u64 {
        self.longs.count + self.shorts.count
    }

    /// True without liquidations.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

/// A value at a venue time (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueAt<T> {
    pub value: T,
    pub time: i64,
}

impl<T: Copy> ValueAt<T> {
    /// The later of two (`other` on a tie: it came later).
    fn later(mine: Option<Self>, other: Option<Self>) -> Option<Self> {
        match (mine, other) {
            (Some(m), Some(o)) => Some(if o.time >= m.time { o } else { m }),
            (m, o) => o.or(m),
        }
    }
}

/// Open interest over a bar: the first, highest, lowest and last value observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInterestRange {
    pub open: ValueAt<Qty>,
    pub high: Qty,
    pub low: Qty,
    pub close: ValueAt<Qty>,
}

impl OpenInterestRange {
    fn of(value: Qty, time: i64) -> Self {
        Self {
            open: ValueAt { value, time },
            high: value,
            low: value,
            close: ValueAt { value, time },
        }
    }

    fn merge(&mut self, other: &OpenInterestRange) {
        if other.open.time < self.open.time {
            self.open = other.open;
        }
        if other.close.time >= self.close.time {
            self.close = other.close;
        }
        self.high = self.high.max(other.high);
        self.low = self.low.min(other.low);
    }

    /// Close minus open.
    pub fn change(&self) -> Qty {
        self.close.value - self.open.value
    }
}

/// The derivatives data of one bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BarDerivatives {
    /// Liquidations in the bar.
    pub liquidations: LiquidationSides,
    /// Liquidations per footprint row (by the liquidation's price).
    pub rows: BTreeMap<i128, LiquidationSides>,
    pub open_interest: Option<OpenInterestRange>,
    /// The last funding rate observed, and the next funding time it applies to.
    pub funding_rate: Option<ValueAt<Ratio>>,
    pub next_funding_time: Option<i64>,
    pub mark_price: Option<ValueAt<Price>>,
    pub index_price: Option<ValueAt<Price>>,
}

impl BarDerivatives {
    /// Adds a liquidation, in the row of its price.
    pub fn add_liquidation(&mut self, grid: &RowGrid, liquidation: &Liquidation) {
        self.liquidations.add(liquidation.position, liquidation.qty);
        self.rows
            .entry(grid.row(liquidation.price))
            .or_default()
            .add(liquidation.position, liquidation.qty);
    }

    /// Takes the values of a tick (merged: every field the venue has published so far),
    /// observed at its venue time.
    pub fn observe(&mut self, tick: &DerivativesTick) {
        let time = tick.time.as_millis();
        if let Some(value) = tick.open_interest {
            let point = OpenInterestRange::of(value, time);
            match &mut self.open_interest {
                Some(range) => range.merge(&point),
                None => self.open_interest = Some(point),
            }
        }
        if let Some(value) = tick.funding_rate {
            let before = self.funding_rate;
            self.funding_rate = ValueAt::later(before, Some(ValueAt { value, time }));
            if self.funding_rate != before {
                self.next_funding_time = tick
                    .next_funding_time
                    .map(|t| t.as_millis())
                    .or(self.next_funding_time);
            }
        }
        let at = |value: Option<Price>| value.map(|value| ValueAt { value, time });
        self.mark_price = ValueAt::later(self.mark_price, at(tick.mark_price));
        self.index_price = ValueAt::later(self.index_price, at(tick.index_price));
    }

    /// Adds another bar's derivatives (the later values win; liquidations add).
    pub fn merge(&mut self, other: &BarDerivatives) {
        self.liquidations.merge(&other.liquidations);
        for (&row, sides) in &other.rows {
            self.rows.entry(row).or_default().merge(sides);
        }
        match (&mut self.open_interest, &other.open_interest) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.open_interest = Some(*theirs),
            _ => {}
        }
        let later_funding = ValueAt::later(self.funding_rate, other.funding_rate);
        if later_funding != self.funding_rate {
            self.next_funding_time = other.next_funding_time.or(self.next_funding_time);
        }
        self.funding_rate = later_funding;
        self.mark_price = ValueAt::later(self.mark_price, other.mark_price);
        self.index_price = ValueAt::later(self.index_price, other.index_price);
    }

    /// The same on a grid `factor` times coarser.
    pub fn coarsen(&self, factor: i128) -> BarDerivatives {
        let mut coarse = self.clone();
        if factor > 1 {
            coarse.rows = BTreeMap::new();
            for (&row, sides) in &self.rows {
                coarse
                    .rows
                    .entry(row.div_euclid(factor))
                    .or_default()
                    .merge(sides);
            }
        }
        coarse
    }

    /// Only the liquidations: what venues' bars add up to in a composite (open interest,
    /// funding and prices are per venue).
    pub fn liquidations_only(&self) -> BarDerivatives {
        BarDerivatives {
            liquidations: self.liquidations,
            rows: self.rows.clone(),
            ..BarDerivatives::default()
        }
    }
}

fn at<T>(value: Option<T>, time: Option<i64>) -> Option<ValueAt<T>> {
    value.zip(time).map(|(value, time)| ValueAt { value, time })
}

/// Liquidations of one footprint row, as answered and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiquidationRow {
    /// The row's lower edge.
    pub price: Price,
    pub longs: Liquidated,
    pub shorts: Liquidated,
}

/// Open interest over a bar or range, as answered and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInterestReport {
    pub open: Qty,
    pub high: Qty,
    pub low: Qty,
    pub close: Qty,
    /// Close minus open.
    pub change: Qty,
    /// Venue times of the first and last value (ms).
    pub open_time: i64,
    pub close_time: i64,
}

/// The derivatives part of a bar or range, as answered and stored: liquidations by side and
/// per row, open interest, the last funding rate, mark and index, and the basis (mark
/// minus index).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivativesReport {
    /// Longs liquidated (closed by sell orders) and shorts liquidated (by buy orders).
    pub liquidations: LiquidationSides,
    /// Liquidations per footprint row, ascending price.
    #[serde(default)]
    pub liquidation_rows: Vec<LiquidationRow>,
    #[serde(default)]
    pub open_interest: Option<OpenInterestReport>,
    /// The last funding rate observed (of the funding interval then running).
    #[serde(default)]
    pub funding_rate: Option<Ratio>,
    #[serde(default)]
    pub funding_rate_time: Option<i64>,
    #[serde(default)]
    pub next_funding_time: Option<i64>,
    /// The last mark and index prices observed, and when.
    #[serde(default)]
    pub mark_price: Option<Price>,
    #[serde(default)]
    pub mark_price_time: Option<i64>,
    #[serde(default)]
    pub index_price: Option<Price>,
    #[serde(default)]
    pub index_price_time: Option<i64>,
    /// Mark minus index.
    #[serde(default)]
    pub basis: Option<Price>,
}

/// Why a stored derivatives part cannot be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffGridRow(pub Price);

impl DerivativesReport {
    /// The report of `data` on `grid`.
    pub fn of(data: &BarDerivatives, grid: &RowGrid) -> Self {
        let mark = data.mark_price;
        let index = data.index_price;
        Self {
            liquidations: data.liquidations,
            liquidation_rows: data
                .rows
                .iter()
                .map(|(&row, sides)| LiquidationRow {
                    price: grid.label(row),
                    longs: sides.longs,
                    shorts: sides.shorts,
                })
                .collect(),
            open_interest: data.open_interest.map(|oi| OpenInterestReport {
                open: oi.open.value,
                high: oi.high,
                low: oi.low,
                close: oi.close.value,
                change: oi.change(),
                open_time: oi.open.time,
                close_time: oi.close.time,
            }),
            funding_rate: data.funding_rate.map(|f| f.value),
            funding_rate_time: data.funding_rate.map(|f| f.time),
            next_funding_time: data.next_funding_time,
            mark_price: mark.map(|m| m.value),
            mark_price_time: mark.map(|m| m.time),
            index_price: index.map(|i| i.value),
            index_price_time: index.map(|i| i.time),
            basis: mark.zip(index).map(|(m, i)| m.value - i.value),
        }
    }

    /// Rebuilds the bar's data on `grid` (each row's price must be on it).
    pub fn to_data(&self, grid: &RowGrid) -> Result<BarDerivatives, OffGridRow> {
        let mut rows = BTreeMap::new();
        for row in &self.liquidation_rows {
            let index = grid.row(row.price);
            if grid.label(index) != row.price {
                return Err(OffGridRow(row.price));
            }
            rows.insert(
                index,
                LiquidationSides {
                    longs: row.longs,
                    shorts: row.shorts,
                },
            );
        }
        Ok(BarDerivatives {
            liquidations: self.liquidations,
            rows,
            open_interest: self.open_interest.as_ref().map(|oi| OpenInterestRange {
                open: ValueAt {
                    value: oi.open,
                    time: oi.open_time,
                },
                high: oi.high,
                low: oi.low,
                close: ValueAt {
                    value: oi.close,
                    time: oi.close_time,
                },
            }),
            funding_rate: at(self.funding_rate, self.funding_rate_time),
            next_funding_time: self.next_funding_time,
            mark_price: at(self.mark_price, self.mark_price_time),
            index_price: at(self.index_price, self.index_price_time),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Symbol, TimestampMs, UnixNanos, Venue};

    fn q(text: &str) -> Qty {
        text.parse().unwrap_or_default()
    }

    fn liquidation(position: PositionSide, price: i64, qty: &str) -> Liquidation {
        Liquidation {
            venue: Venue::BybitLinear,
            symbol: Symbol::new("BTCUSDT").unwrap_or_else(|_| unreachable!()),
            position,
            price: Price::from_int(price),
            qty: q(qty),
            time: TimestampMs(0),
            received_at: UnixNanos(0),
        }
    }

    fn tick(
        time: i64,
        oi: Option<&str>,
        mark: Option<i64>,
        funding: Option<&str>,
    ) -> DerivativesTick {
        DerivativesTick {
            venue: Venue::BybitLinear,
            symbol: Symbol::new("BTCUSDT").unwrap_or_else(|_| unreachable!()),
            time: TimestampMs(time),
            received_at: UnixNanos(0),
            complete: true,
            mark_price: mark.map(Price::from_int),
            index_price: mark.map(|m| Price::from_int(m - 2)),
            funding_rate: funding.map(|f| f.parse().unwrap_or_default()),
            next_funding_time: funding.map(|_| TimestampMs(time + 1_000)),
            open_interest: oi.map(q),
        }
    }

    #[test]
    fn liquidations_add_by_position_and_row_and_coarsen() {
        let grid = RowGrid::new(Price::from_int(10)).unwrap_or_else(|| unreachable!());
        let mut data = BarDerivatives::default();
        data.add_liquidation(&grid, &liquidation(PositionSide::Long, 101, "1.5"));
        data.add_liquidation(&grid, &liquidation(PositionSide::Long, 109, "0.5"));
        data.add_liquidation(&grid, &liquidation(PositionSide::Short, 121, "2"));
        assert_eq!(
            data.liquidations.longs,
            Liquidated {
                qty: q("2"),
                count: 2
            }
        );
        assert_eq!(
            data.liquidations.shorts,
            Liquidated {
                qty: q("2"),
                count: 1
            }
        );
        assert_eq!(data.rows.len(), 2);
        assert_eq!(data.rows[&10].longs.qty, q("2"));
        let coarse = data.coarsen(5);
        assert_eq!(coarse.rows.len(), 1);
        assert_eq!(coarse.rows[&2].qty(), q("4"));
        let report = DerivativesReport::of(&data, &grid);
        assert_eq!(report.liquidation_rows[1].price, Price::from_int(120));
        assert_eq!(report.to_data(&grid), Ok(data));
    }

    #[test]
    fn open_interest_is_first_high_low_last_by_time_and_merges_in_any_order() {
        let mut a = BarDerivatives::default();
        a.observe(&tick(1_000, Some("10"), Some(100), Some("0.0001")));
        a.observe(&tick(2_000, Some("14"), Some(101), None));
        a.observe(&tick(3_000, Some("9"), None, None));
        let mut b = BarDerivatives::default();
        b.observe(&tick(4_000, Some("11"), Some(103), Some("-0.0002")));
        let oi = a.open_interest.unwrap_or_else(|| unreachable!());
        assert_eq!(
            (oi.open.value, oi.high, oi.low, oi.close.value),
            (q("10"), q("14"), q("9"), q("9"))
        );
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba, "merging is order-free");
        let report = DerivativesReport::of(
            &ab,
            &RowGrid::new(Price::from_int(1)).unwrap_or_else(|| unreachable!()),
        );
        let oi = report
            .open_interest
            .clone()
            .unwrap_or_else(|| unreachable!());
        assert_eq!(
            (oi.open, oi.close, oi.change, oi.high, oi.low),
            (q("10"), q("11"), q("1"), q("14"), q("9"))
        );
        assert_eq!(
            report.funding_rate,
            Some("-0.0002".parse().unwrap_or_default())
        );
        assert_eq!(report.next_funding_time, Some(5_000));
        assert_eq!(report.mark_price, Some(Price::from_int(103)));
        assert_eq!(report.basis, Some(Price::from_int(2)));
    }
}
