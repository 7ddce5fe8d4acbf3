//! Bars: the trades of one epoch-aligned UTC period, as a footprint plus totals and prices.

use std::fmt;
use std::str::FromStr;

use super::bar_derivatives::BarDerivatives;
use super::footprint::{Footprint, RowGrid};
use super::ids::IdRanges;
use crate::model::{Price, Qty, Side, TimestampMs, Trade, TradeFlags};

/// Bar sizes. Every bar is epoch-aligned in UTC and half-open: `[start, start + size)`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Timeframe {
    /// 1 minute: the base bar.
    #[serde(rename = "1m")]
    M1,
    /// 5 minutes.
    #[serde(rename = "5m")]
    M5,
    /// 15 minutes.
    #[serde(rename = "15m")]
    M15,
    /// 1 hour.
    #[serde(rename = "1h")]
    H1,
    /// 4 hours.
    #[serde(rename = "4h")]
    H4,
    /// 1 day (UTC midnight to midnight).
    #[serde(rename = "1d")]
    D1,
}

impl Timeframe {
    /// Every timeframe, shortest first.
    pub const ALL: [Timeframe; 6] = [
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::H1,
        Timeframe::H4,
        Timeframe::D1,
    ];

    /// Returns the length in milliseconds.
    pub const fn millis(self) -> i64 {
        match self {
            Timeframe::M1 => 60_000,
            Timeframe::M5 => 300_000,
            Timeframe::M15 => 900_000,
            Timeframe::H1 => 3_600_000,
            Timeframe::H4 => 14_400_000,
            Timeframe::D1 => 86_400_000,
        }
    }

    /// Returns the start of the bar containing `time`.
    pub const fn start_of(self, time: i64) -> i64 {
        time - time.rem_euclid(self.millis())
    }

    /// True for the timeframes whose closed bars the aggregators hand to persistence (1m,
    /// 1h). 1-day bars are summed from the stored hours once a day is over
    /// ([`BarRecord::rollup`](super::BarRecord::rollup)), so a day bar always equals its
    /// hours (a day is longer than the minutes an aggregator keeps to amend it).
    pub const fn is_recorded(self) -> bool {
        matches!(self, Timeframe::M1 | Timeframe::H1)
    }

    /// Returns the name (`1m`, `5m`, `15m`, `1h`, `4h`, `1d`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::H1 => "1h",
            Timeframe::H4 => "4h",
            Timeframe::D1 => "1d",
        }
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                format!("{text:?} is not a bar size: expected 1m, 5m, 15m, 1h, 4h or 1d")
            })
    }
}

/// A price at a time, for open and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PriceAt {
    pub price: Price,
    /// Trade time (ms).
    pub time: i64,
}

/// Additive totals of a set of trades (everything but prices), exact and subtractable.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Trades: a Binance aggregate trade counts every fill it holds (`l - f + 1`), any
    /// other trade counts one.
    pub trades: u64,
    /// Prints: trade messages as the venue sent them (an aggregate trade is one print).
    pub prints: u64,
    /// Buy-aggressor volume.
    pub buy_volume: Qty,
    /// Sell-aggressor volume.
    pub sell_volume: Qty,
}

impl Totals {
    /// Returns buy + sell volume.
    pub fn volume(&self) -> Qty {
        self.buy_volume + self.sell_volume
    }

    /// Returns buy - sell volume.
    pub fn delta(&self) -> Qty {
        self.buy_volume - self.sell_volume
    }

    /// Adds one trade.
    pub fn add(&mut self, trade: &Trade) {
        self.prints += 1;
        self.trades += trade_count(trade);
        match trade.side {
            Side::Buy => self.buy_volume += trade.qty,
            Side::Sell => self.sell_volume += trade.qty,
        }
    }

    /// Adds other totals.
    pub fn merge(&mut self, other: &Totals) {
        self.trades += other.trades;
        self.prints += other.prints;
        self.buy_volume += other.buy_volume;
        self.sell_volume += other.sell_volume;
    }

    /// Removes other totals (merged in before).
    pub fn subtract(&mut self, other: &Totals) {
        self.trades -= other.trades;
        self.prints -= other.prints;
        self.buy_volume -= other.buy_volume;
        self.sell_volume -= other.sell_volume;
    }
}

/// Returns how many trades a trade message stands for: `l - f + 1` for a Binance aggregate
/// trade, 1 for any other.
pub fn trade_count(trade: &Trade) -> u64 {
    match trade.fills {
        Some(range) if trade.flags.contains(TradeFlags::AGGREGATE) => {
            range.last.saturating_sub(range.first) + 1
        }
        _ => 1,
    }
}

/// The trades of one period: footprint, totals, open/high/low/close, and the range of raw
/// trade ids (to compare with the venue's kline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Start of the period (ms, inclusive).
    pub start: i64,
    /// End of the period (ms, exclusive).
    pub end: i64,
    /// Volume per row.
    pub footprint: Footprint,
    pub totals: Totals,
    /// First trade (earliest trade time).
    pub open: Option<PriceAt>,
    /// Last trade (latest trade time; the later arrival on a tie).
    pub close: Option<PriceAt>,
    /// Highest price.
    pub high: Option<Price>,
    /// Lowest price.
    pub low: Option<Price>,
    /// Lowest and highest raw trade id (Binance fill ids, or trade ids), when numeric.
    pub trade_ids: Option<(u64, u64)>,
    /// The venue trade ids taken (Binance aggregate or raw trade ids), when numeric: what a
    /// restart needs to know which trades the bar already holds.
    pub ids: IdRanges,
    /// Liquidations, open interest, funding, mark and index (derivatives venues only).
    pub derivatives: Option<Box<BarDerivatives>>,
}

impl Bar {
    /// Creates an empty bar of `[start, end)`.
    pub fn new(start: i64, end: i64) -> Self {
        Self {
            start,
            end,
            footprint: Footprint::new(),
            totals: Totals::default(),
            open: None,
            close: None,
            high: None,
            low: None,
            trade_ids: None,
            ids: IdRanges::new(),
            derivatives: None,
        }
    }

    /// Creates the empty bar of `timeframe` that contains `time`.
    pub fn of(timeframe: Timeframe, time: i64) -> Self {
        let start = timeframe.start_of(time);
        Self::new(start, start + timeframe.millis())
    }

    /// Returns true if `time` falls inside `[start, end)`.
    pub fn contains(&self, time: i64) -> bool {
        (self.start..self.end).contains(&time)
    }

    /// Adds a trade.
    pub fn add(&mut self, grid: &RowGrid, trade: &Trade) {
        self.add_in_row(grid.row(trade.price), trade);
    }

    /// Adds a trade whose row on the bar's grid is already known.
    pub fn add_in_row(&mut self, row: i128, trade: &Trade) {
        let time = trade.trade_time.as_millis();
        self.footprint
            .add_counted(row, trade.side, trade.qty, trade_count(trade), time);
        self.totals.add(trade);
        if let Some(id) = trade.id.as_number() {
            self.ids.insert(id);
        }
        self.note_price(PriceAt {
            price: trade.price,
            time,
        });
        let ids = match (trade.fills, trade.id.as_number()) {
            (Some(range), _) => Some((range.first, range.last)),
            (None, Some(id)) => Some((id, id)),
            (None, None) => None,
        };
        if let Some((first, last)) = ids {
            self.trade_ids = Some(match self.trade_ids {
                Some((low, high)) => (low.min(first), high.max(last)),
                None => (first, last),
            });
        }
    }

    fn note_price(&mut self, at: PriceAt) {
        if self.open.is_none_or(|open| at.time < open.time) {
            self.open = Some(at);
        }
        if self.close.is_none_or(|close| at.time >= close.time) {
            self.close = Some(at);
        }
        self.high = Some(self.high.map_or(at.price, |high| high.max(at.price)));
        self.low = Some(self.low.map_or(at.price, |low| low.min(at.price)));
    }

    /// Adds another bar (the period grows to cover both).
    pub fn merge(&mut self, other: &Bar) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.footprint.merge(&other.footprint);
        self.totals.merge(&other.totals);
        self.ids.merge(&other.ids);
        self.merge_prices(other);
        if let Some(theirs) = &other.derivatives {
            self.merge_derivatives(theirs);
        }
    }

    /// The same bar on a grid `factor` times coarser (footprint and liquidation rows).
    pub fn coarsen(&self, factor: i128) -> Bar {
        Bar {
            footprint: self.footprint.coarsen(factor),
            derivatives: self
                .derivatives
                .as_ref()
                .map(|d| Box::new(d.coarsen(factor))),
            ..self.clone()
        }
    }

    /// Adds derivatives data (of a period inside the bar's).
    pub fn merge_derivatives(&mut self, data: &BarDerivatives) {
        self.derivatives_mut().merge(data);
    }

    /// The bar's derivatives data, created empty when it has none.
    pub fn derivatives_mut(&mut self) -> &mut BarDerivatives {
        self.derivatives.get_or_insert_with(Box::default)
    }

    /// Takes the open, close, high, low and trade-id range of `other` into this bar, leaving
    /// the period, footprint and totals alone.
    pub fn merge_prices(&mut self, other: &Bar) {
        if let Some(open) = other.open
            && self.open.is_none_or(|mine| open.time < mine.time)
        {
            self.open = Some(open);
        }
        if let Some(close) = other.close
            && self.close.is_none_or(|mine| close.time >= mine.time)
        {
            self.close = Some(close);
        }
        if let Some(high) = other.high {
            self.high = Some(self.high.map_or(high, |mine| mine.max(high)));
        }
        if let Some(low) = other.low {
            self.low = Some(self.low.map_or(low, |mine| mine.min(low)));
        }
        if let Some((first, last)) = other.trade_ids {
            self.trade_ids = Some(match self.trade_ids {
                Some((low, high)) => (low.min(first), high.max(last)),
                None => (first, last),
            });
        }
    }

    /// Returns the bar's delta.
    pub fn delta(&self) -> Qty {
        self.totals.delta()
    }

    /// Returns true without trades.
    pub fn is_empty(&self) -> bool {
        self.totals.trades == 0
    }

    /// Returns the start as a timestamp.
    pub fn start_time(&self) -> TimestampMs {
        TimestampMs(self.start)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{FillRange, Symbol, TradeId, UnixNanos, Venue};

    pub(crate) fn trade(time: i64, price: &str, qty: &str, side: Side, id: u64) -> Trade {
        Trade {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            id: TradeId::Number(id),
            price: price.parse().unwrap(),
            qty: qty.parse().unwrap(),
            side,
            trade_time: TimestampMs(time),
            event_time: TimestampMs(time),
            received_at: UnixNanos(0),
            flags: TradeFlags::AGGREGATE,
            sequence: None,
            fills: Some(FillRange {
                first: id * 10,
                last: id * 10 + 2,
            }),
        }
    }

    #[test]
    fn timeframes_are_epoch_aligned_and_half_open() {
        let t = 1_700_000_303_456; // 2023-11-14T22:18:23.456Z
        assert_eq!(Timeframe::M1.start_of(t), 1_700_000_280_000);
        assert_eq!(Timeframe::M5.start_of(t), 1_700_000_100_000);
        assert_eq!(Timeframe::M15.start_of(t), 1_700_000_100_000);
        assert_eq!(Timeframe::H1.start_of(t), 1_699_999_200_000);
        assert_eq!(Timeframe::H4.start_of(t), 1_699_992_000_000);
        assert_eq!(Timeframe::D1.start_of(t), 1_699_920_000_000);
        let bar = Bar::of(Timeframe::M1, 1_700_000_160_000);
        assert!(
            bar.contains(1_700_000_160_000)
                && bar.contains(1_700_000_219_999)
                && !bar.contains(1_700_000_220_000)
        );
        assert_eq!("15m".parse::<Timeframe>().unwrap(), Timeframe::M15);
        assert!("2m".parse::<Timeframe>().is_err());
    }

    #[test]
    fn bars_keep_exact_totals_prices_and_raw_trade_ids() {
        let grid = RowGrid::new("10".parse().unwrap()).unwrap();
        let mut bar = Bar::of(Timeframe::M1, 60_000);
        bar.add(&grid, &trade(60_500, "100.5", "1", Side::Buy, 7));
        bar.add(&grid, &trade(60_100, "99", "2", Side::Sell, 6));
        bar.add(&grid, &trade(61_000, "101", "0.5", Side::Buy, 8));
        assert_eq!(bar.totals.prints, 3);
        assert_eq!(bar.totals.trades, 9);
        assert_eq!(bar.ids.ranges(), [(6, 8)]);
        assert_eq!(bar.footprint.row(10).trades, 6);
        assert_eq!(bar.delta(), "-0.5".parse().unwrap());
        assert_eq!(
            bar.open.unwrap().price,
            "99".parse().unwrap(),
            "the earliest trade opens"
        );
        assert_eq!(bar.close.unwrap().price, "101".parse().unwrap());
        assert_eq!(
            (bar.low.unwrap(), bar.high.unwrap()),
            ("99".parse().unwrap(), "101".parse().unwrap())
        );
        assert_eq!(bar.trade_ids, Some((60, 82)));
        assert_eq!(bar.footprint.row(9).bid, "2".parse().unwrap());
        assert_eq!(bar.footprint.row(10).ask, "1.5".parse().unwrap());
    }
}
