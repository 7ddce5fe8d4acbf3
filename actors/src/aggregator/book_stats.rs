//! Statistics of the local book: best bid and ask, spread, mid, and the depth imbalance of
//! the top N levels, `(bid depth - ask depth) / (bid depth + ask depth)` in `[-1, 1]`.

use crate::model::{BookView, Level, Price, Qty, Ratio};

/// Book statistics at one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookStats {
    pub best_bid: Option<Level>,
    pub best_ask: Option<Level>,
    /// Best ask minus best bid.
    pub spread: Option<Price>,
    /// `(best bid + best ask) / 2` (exact for any venue price: they have at most 11 decimals).
    pub mid: Option<Price>,
    /// Levels per side the depth figures cover.
    pub depth_levels: usize,
    /// Bid size over the top levels.
    pub bid_depth: Qty,
    /// Ask size over the top levels.
    pub ask_depth: Qty,
    /// `(bid depth - ask depth) / (bid depth + ask depth)`, truncated to 12 decimals.
    pub depth_imbalance: Option<Ratio>,
}

/// Returns the statistics of `view` over its top `levels` levels per side.
pub fn book_stats(view: &BookView, levels: usize) -> BookStats {
    let best_bid = view.bids.first().copied();
    let best_ask = view.asks.first().copied();
    let bid_depth: Qty = view.bids.iter().take(levels).map(|l| l.qty).sum();
    let ask_depth: Qty = view.asks.iter().take(levels).map(|l| l.qty).sum();
    let (spread, mid) = match (best_bid, best_ask) {
        (Some(bid), Some(ask)) => (
            Some(ask.price - bid.price),
            Some(Price::from_units(
                (bid.price.units() + ask.price.units()).div_euclid(2),
            )),
        ),
        _ => (None, None),
    };
    BookStats {
        best_bid,
        best_ask,
        spread,
        mid,
        depth_levels: levels,
        bid_depth,
        ask_depth,
        depth_imbalance: Ratio::of(bid_depth - ask_depth, bid_depth + ask_depth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Symbol, UnixNanos, Venue};

    fn lv(price: &str, qty: &str) -> Level {
        Level {
            price: price.parse().unwrap(),
            qty: qty.parse().unwrap(),
        }
    }

    #[test]
    fn computes_spread_mid_and_top_n_imbalance() {
        let view = BookView {
            venue: Venue::BybitSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            update_id: 1,
            bids: vec![lv("100.1", "3"), lv("100", "1"), lv("99", "100")],
            asks: vec![lv("100.4", "1"), lv("100.5", "1")],
            event_time: None,
            received_at: UnixNanos(0),
        };
        let stats = book_stats(&view, 2);
        assert_eq!(stats.spread, Some("0.3".parse().unwrap()));
        assert_eq!(stats.mid, Some("100.25".parse().unwrap()));
        assert_eq!(
            (stats.bid_depth, stats.ask_depth),
            ("4".parse().unwrap(), "2".parse().unwrap())
        );
        assert_eq!(stats.depth_imbalance.unwrap().to_string(), "0.333333333333");
        let empty = BookView {
            bids: vec![],
            asks: vec![],
            ..view
        };
        let stats = book_stats(&empty, 5);
        assert_eq!(
            (stats.spread, stats.mid, stats.depth_imbalance),
            (None, None, None)
        );
    }
}
