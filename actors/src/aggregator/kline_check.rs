//! Cross-check of trade-derived bars against the venue's own candles.
//!
//! For each closed Binance 1-minute kline, once the aggregator's bar of that minute has
//! closed too, the kline's total volume, taker-buy volume and trade count `n` must equal the
//! bar's volume, buy-aggressor volume and trade count (every fill of an aggregate trade
//! counts) exactly. A difference means trades were missed (or duplicated) and is
//! recorded as a `kline_mismatch` data-quality event carrying both sides' numbers and the
//! kline's trade-id range.
//!
//! Minutes the aggregator did not see whole are not compared: the minute of the first trade
//! after (re)start, and anything before it. Bybit candles carry no taker-buy split and are
//! not compared.

use std::collections::BTreeMap;
use std::fmt;

use super::bar::Bar;
use crate::model::{Kline, KlineInterval, Qty, Venue};

/// Closed klines waiting for their bar to close; more than this and the oldest is dropped.
const MAX_PENDING: usize = 32;

/// A disagreement between a kline and the trade-derived bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KlineMismatch {
    /// Start of the minute.
    pub open_time: i64,
    /// The kline's volume.
    pub kline_volume: Qty,
    /// The kline's taker-buy volume.
    pub kline_buy_volume: Qty,
    /// The kline's first and last trade ids.
    pub kline_ids: Option<(u64, u64)>,
    /// Trades in the kline (Binance `n`).
    pub kline_trades: Option<u64>,
    /// The bar's volume.
    pub bar_volume: Qty,
    /// The bar's buy-aggressor volume.
    pub bar_buy_volume: Qty,
    /// The bar's raw trade-id range.
    pub bar_ids: Option<(u64, u64)>,
    /// Trades in the bar (every fill of an aggregate trade counts).
    pub bar_trades: u64,
}

impl fmt::Display for KlineMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids =
            |ids: Option<(u64, u64)>| ids.map_or("none".to_owned(), |(a, b)| format!("{a}..{b}"));
        write!(
            f,
            "kline volume {} taker-buy {} (ids {}, {} trades) but trades give volume {} buy {} (ids {}, {} trades)",
            self.kline_volume,
            self.kline_buy_volume,
            ids(self.kline_ids),
            self.kline_trades.map_or("?".to_owned(), |n| n.to_string()),
            self.bar_volume,
            self.bar_buy_volume,
            ids(self.bar_ids),
            self.bar_trades,
        )
    }
}

/// Compares a closed kline with the bar of its minute (`None`: no trade in that minute).
pub fn compare(kline: &Kline, bar: Option<&Bar>) -> Result<(), Box<KlineMismatch>> {
    let (volume, buy, ids, trades) = bar.map_or((Qty::ZERO, Qty::ZERO, None, 0), |bar| {
        (
            bar.totals.volume(),
            bar.totals.buy_volume,
            bar.trade_ids,
            bar.totals.trades,
        )
    });
    let kline_buy = kline.taker_buy_volume.unwrap_or(Qty::ZERO);
    if kline.volume == volume && kline_buy == buy && kline.trade_count.is_none_or(|n| n == trades) {
        return Ok(());
    }
    Err(Box::new(KlineMismatch {
        open_time: kline.open_time.as_millis(),
        kline_volume: kline.volume,
        kline_buy_volume: kline_buy,
        kline_ids: kline.first_trade_id.zip(kline.last_trade_id),
        kline_trades: kline.trade_count,
        bar_volume: volume,
        bar_buy_volume: buy,
        bar_ids: ids,
        bar_trades: trades,
    }))
}

/// What became of a kline offered to the checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlineOutcome {
    /// Equal.
    Match,
    /// Different (reported).
    Mismatch,
    /// Not compared: a minute not seen whole, or pushed out of the pending queue.
    Skipped,
}

impl KlineOutcome {
    /// Returns a stable name, used as a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            KlineOutcome::Match => "match",
            KlineOutcome::Mismatch => "mismatch",
            KlineOutcome::Skipped => "skipped",
        }
    }
}

/// Holds closed klines until the bars of their minutes close, then compares.
#[derive(Debug, Default)]
pub struct KlineChecker {
    pending: BTreeMap<i64, Kline>,
}

impl KlineChecker {
    /// Returns true for the candles this checker compares: closed Binance 1-minute klines.
    pub fn applies_to(kline: &Kline) -> bool {
        kline.closed
            && kline.interval == KlineInterval::Minute1
            && matches!(kline.venue, Venue::BinanceSpot | Venue::BinanceUsdm)
    }

    /// Queues a closed kline; returns the outcome of any kline pushed out of the queue.
    pub fn offer(&mut self, kline: Kline) -> Option<KlineOutcome> {
        self.pending.insert(kline.open_time.as_millis(), kline);
        if self.pending.len() > MAX_PENDING {
            self.pending.pop_first();
            return Some(KlineOutcome::Skipped);
        }
        None
    }

    /// Compares every queued kline whose minute has closed. `first_minute` is the minute of
    /// the first trade this aggregator saw, `open_minute` the engine's open minute, and `bar`
    /// looks up a closed minute bar.
    pub fn settle<'a>(
        &mut self,
        first_minute: Option<i64>,
        open_minute: Option<i64>,
        bar: impl Fn(i64) -> Option<&'a Bar>,
    ) -> Vec<(KlineOutcome, Option<Box<KlineMismatch>>)> {
        let (Some(first), Some(open)) = (first_minute, open_minute) else {
            return Vec::new();
        };
        let mut settled = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() >= open {
                break;
            }
            let kline = entry.remove();
            let minute = kline.open_time.as_millis();
            if minute <= first {
                settled.push((KlineOutcome::Skipped, None));
                continue;
            }
            settled.push(match compare(&kline, bar(minute)) {
                Ok(()) => (KlineOutcome::Match, None),
                Err(mismatch) => (KlineOutcome::Mismatch, Some(mismatch)),
            });
        }
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregator::bar::tests::trade;
    use crate::aggregator::{RowGrid, Timeframe};
    use crate::model::{Side, Symbol, TimestampMs, UnixNanos};

    fn kline(open_time: i64, volume: &str, buy: &str) -> Kline {
        Kline {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            interval: KlineInterval::Minute1,
            open_time: TimestampMs(open_time),
            close_time: TimestampMs(open_time + 59_999),
            open: "1".parse().unwrap(),
            high: "1".parse().unwrap(),
            low: "1".parse().unwrap(),
            close: "1".parse().unwrap(),
            volume: volume.parse().unwrap(),
            quote_volume: Qty::ZERO,
            taker_buy_volume: Some(buy.parse().unwrap()),
            taker_buy_quote_volume: None,
            trade_count: Some(6),
            first_trade_id: Some(10),
            last_trade_id: Some(22),
            closed: true,
            event_time: TimestampMs(open_time + 60_000),
            received_at: UnixNanos(0),
        }
    }

    fn bar(minute: i64) -> Bar {
        let grid = RowGrid::new("1".parse().unwrap()).unwrap();
        let mut bar = Bar::of(Timeframe::M1, minute);
        bar.add(&grid, &trade(minute + 1, "100", "1.5", Side::Buy, 1));
        bar.add(&grid, &trade(minute + 2, "100", "2", Side::Sell, 2));
        bar
    }

    #[test]
    fn equal_volumes_match_and_any_difference_is_a_mismatch() {
        let b = bar(60_000);
        assert_eq!(compare(&kline(60_000, "3.5", "1.5"), Some(&b)), Ok(()));
        let mismatch = compare(&kline(60_000, "3.5", "2"), Some(&b)).unwrap_err();
        assert_eq!(mismatch.bar_buy_volume, "1.5".parse().unwrap());
        assert_eq!(
            mismatch.to_string(),
            "kline volume 3.5 taker-buy 2 (ids 10..22, 6 trades) but trades give volume 3.5 buy 1.5 (ids 10..22, 6 trades)"
        );
        let fewer = Kline {
            trade_count: Some(5),
            ..kline(60_000, "3.5", "1.5")
        };
        assert_eq!(
            compare(&fewer, Some(&b)).unwrap_err().bar_trades,
            6,
            "the trade count n is compared too: every fill of an aggregate trade counts"
        );
        assert!(compare(&kline(60_000, "3.6", "1.5"), Some(&b)).is_err());
        assert!(
            compare(&kline(60_000, "1", "0"), None).is_err(),
            "trades missed entirely"
        );
        let empty = Kline {
            trade_count: Some(0),
            ..kline(60_000, "0", "0")
        };
        assert_eq!(compare(&empty, None), Ok(()));
    }

    #[test]
    fn klines_wait_for_their_bar_and_partial_minutes_are_skipped() {
        let mut checker = KlineChecker::default();
        let bars = [bar(60_000), bar(120_000)];
        let lookup = |minute: i64| bars.iter().find(|b| b.start == minute);
        checker.offer(kline(60_000, "3.5", "1.5"));
        checker.offer(kline(120_000, "3.5", "1.5"));
        checker.offer(kline(180_000, "9", "1.5"));
        let settled = checker.settle(Some(60_000), Some(180_000), lookup);
        let outcomes: Vec<_> = settled.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            outcomes,
            [KlineOutcome::Skipped, KlineOutcome::Match],
            "the first minute was seen in part; 03:00 is still open"
        );
        let settled = checker.settle(Some(60_000), Some(240_000), lookup);
        assert_eq!(settled[0].0, KlineOutcome::Mismatch);
        assert!(
            checker
                .settle(Some(60_000), Some(240_000), lookup)
                .is_empty()
        );
    }

    #[test]
    fn the_pending_queue_is_bounded() {
        let mut checker = KlineChecker::default();
        let skipped: Vec<_> = (0..40)
            .filter_map(|i| checker.offer(kline(i * 60_000, "1", "1")))
            .collect();
        assert_eq!(skipped.len(), 8);
        assert!(KlineChecker::applies_to(&kline(0, "1", "1")));
        assert!(!KlineChecker::applies_to(&Kline {
            closed: false,
            ..kline(0, "1", "1")
        }));
    }
}
