//! The derivatives state of a perpetual (issue #20): the latest mark, index, funding and
//! open interest (Bybit's ticker deltas merged into the snapshot they follow), and the
//! recent liquidations.

use std::collections::VecDeque;

use crate::model::{DerivativesTick, Liquidation};

/// Liquidations kept for the snapshot.
pub const MAX_RECENT_LIQUIDATIONS: usize = 256;

/// The latest derivatives values and recent liquidations of one pair.
#[derive(Debug, Clone, Default)]
pub struct DerivativesState {
    latest: Option<DerivativesTick>,
    recent: VecDeque<Liquidation>,
    /// Ticker deltas that came before any snapshot (nothing to merge them into), dropped.
    pub orphan_deltas: u64,
}

impl DerivativesState {
    /// Takes a tick: each changes the fields it carries (a Bybit snapshot carries all, a
    /// Binance mark price all but the open interest, which comes over REST); a delta before
    /// the first complete tick has nothing to change and is dropped, counted.
    pub fn on_tick(&mut self, tick: DerivativesTick) {
        let Some(latest) = self.latest.as_mut() else {
            if tick.complete {
                self.latest = Some(tick);
            } else {
                self.orphan_deltas += 1;
            }
            return;
        };
        latest.time = latest.time.max(tick.time);
        latest.received_at = tick.received_at;
        if tick.mark_price.is_some() {
            latest.mark_price = tick.mark_price;
        }
        if tick.index_price.is_some() {
            latest.index_price = tick.index_price;
        }
        if tick.funding_rate.is_some() {
            latest.funding_rate = tick.funding_rate;
        }
        if tick.next_funding_time.is_some() {
            latest.next_funding_time = tick.next_funding_time;
        }
        if tick.open_interest.is_some() {
            latest.open_interest = tick.open_interest;
        }
    }

    /// Takes liquidations (the newest kept).
    pub fn on_liquidations(&mut self, liquidations: Vec<Liquidation>) {
        for liquidation in liquidations {
            if self.recent.len() >= MAX_RECENT_LIQUIDATIONS {
                self.recent.pop_front();
            }
            self.recent.push_back(liquidation);
        }
    }

    /// The latest values, merged.
    pub fn latest(&self) -> Option<&DerivativesTick> {
        self.latest.as_ref()
    }

    /// The recent liquidations, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &Liquidation> {
        self.recent.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Price, Qty, Symbol, TimestampMs, UnixNanos, Venue};

    fn tick(time: i64, complete: bool, mark: Option<&str>, oi: Option<&str>) -> DerivativesTick {
        DerivativesTick {
            venue: Venue::BybitLinear,
            symbol: Symbol::new("BTCUSDT").unwrap_or_else(|_| unreachable!()),
            time: TimestampMs(time),
            received_at: UnixNanos(time * 1_000_000),
            complete,
            mark_price: mark.map(|m| m.parse::<Price>().unwrap_or_default()),
            index_price: complete.then(|| Price::from_int(100)),
            funding_rate: None,
            next_funding_time: None,
            open_interest: oi.map(|o| o.parse::<Qty>().unwrap_or_default()),
        }
    }

    #[test]
    fn deltas_change_only_what_they_carry_and_need_a_snapshot_first() {
        let mut state = DerivativesState::default();
        state.on_tick(tick(1, false, Some("101"), None));
        assert_eq!(state.orphan_deltas, 1);
        assert!(state.latest().is_none());
        state.on_tick(tick(2, true, Some("100"), Some("5")));
        state.on_tick(tick(3, false, Some("102"), None));
        state.on_tick(tick(4, false, None, Some("6")));
        let latest = state
            .latest()
            .map(|t| (t.time, t.mark_price, t.index_price, t.open_interest));
        assert_eq!(
            latest,
            Some((
                TimestampMs(4),
                Some(Price::from_int(102)),
                Some(Price::from_int(100)),
                Some(Qty::from_int(6))
            ))
        );
    }
}
