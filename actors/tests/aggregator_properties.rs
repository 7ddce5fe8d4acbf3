//! Property tests of the aggregation engine against direct computation over the same trades:
//!
//! - every closed (or amended) bar of every timeframe equals the bar built directly from the
//!   trades inside its period, so rollups of 1-minute bars are exact;
//! - rolling windows equal the trades of their minutes;
//! - footprint rows sum to the window's volume and delta;
//! - the cumulative delta at each minute's close, and at the end, is the sum of the deltas of
//!   the session's trades.
//!
//! Trades arrive mostly in time order with some late ones (a few minutes behind), as venues
//! and reconnections deliver them.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use wadm_actors::aggregator::engine::{Engine, EngineEvent, EngineParams, Rolling};
use wadm_actors::aggregator::order_flow::SessionAnchor;
use wadm_actors::aggregator::{Bar, RowGrid, Timeframe};
use wadm_actors::model::{
    FillRange, Price, Qty, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};

const MIN: i64 = 60_000;
/// 2023-11-14T00:00:00Z.
const DAY0: i64 = 1_699_920_000_000;

fn trade(index: u64, time: i64, price_cents: i64, qty_milli: i64, buy: bool) -> Trade {
    Trade {
        venue: Venue::BinanceSpot,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        id: TradeId::Number(index),
        price: Price::from_units(i128::from(price_cents) * 10_000_000_000),
        qty: Qty::from_units(i128::from(qty_milli) * 1_000_000_000),
        side: if buy { Side::Buy } else { Side::Sell },
        trade_time: TimestampMs(time),
        event_time: TimestampMs(time),
        received_at: UnixNanos(0),
        flags: TradeFlags::AGGREGATE,
        sequence: None,
        fills: Some(FillRange {
            first: index * 2,
            last: index * 2 + 1,
        }),
    }
}

/// Trades over about two days: time steps of up to `max_step` ms, and some trades delayed by
/// up to five minutes behind the stream (late arrivals).
fn trades(max_step: i64) -> impl Strategy<Value = Vec<Trade>> {
    prop::collection::vec(
        (
            0..max_step,
            9_000i64..11_000,
            1i64..5_000,
            any::<bool>(),
            0u8..20,
            0..5 * MIN,
        ),
        1..600,
    )
    .prop_map(|steps| {
        let mut time = DAY0 + 23 * 3_600_000 + 50 * MIN;
        steps
            .into_iter()
            .enumerate()
            .map(|(index, (step, price, qty, buy, late, delay))| {
                time += step;
                let at = if late == 0 { time - delay } else { time };
                trade(index as u64, at, price, qty, buy)
            })
            .collect()
    })
}

fn params(anchor: SessionAnchor) -> EngineParams {
    EngineParams::new(RowGrid::new("0.5".parse().unwrap()).unwrap(), anchor)
}

fn direct(timeframe: Timeframe, trades: &[Trade], grid: &RowGrid) -> BTreeMap<i64, Bar> {
    let mut bars = BTreeMap::new();
    for trade in trades {
        let time = trade.trade_time.0;
        bars.entry(timeframe.start_of(time))
            .or_insert_with(|| Bar::of(timeframe, time))
            .add(grid, trade);
    }
    bars
}

fn rows(bar: &Bar) -> Vec<(i128, Qty, Qty)> {
    bar.footprint
        .rows()
        .map(|(row, v)| (row, v.bid, v.ask))
        .collect()
}

fn check_sums(bar: &Bar) {
    let volume: Qty = bar.footprint.rows().map(|(_, v)| v.volume()).sum();
    let delta: Qty = bar.footprint.rows().map(|(_, v)| v.delta()).sum();
    assert_eq!(volume, bar.totals.volume());
    assert_eq!(bar.footprint.total(), bar.totals.volume());
    assert_eq!(delta, bar.totals.delta());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn closed_bars_equal_a_direct_computation_over_their_trades(trades in trades(40_000)) {
        let grid = RowGrid::new("0.5".parse().unwrap()).unwrap();
        let mut engine = Engine::new(params(SessionAnchor::default()));
        let mut reported: BTreeMap<(Timeframe, i64), Bar> = BTreeMap::new();
        let mut events = Vec::new();
        for trade in &trades {
            events.extend(engine.add_trade(trade));
            // Late trades' amendments, as the aggregator's tick takes them.
            events.extend(engine.take_amended());
        }
        events.extend(engine.advance_clock(DAY0 + 10 * 86_400_000));
        for event in events {
            let (timeframe, bar) = match event {
                EngineEvent::Closed { timeframe, bar, .. } | EngineEvent::Amended { timeframe, bar, .. } => (timeframe, bar),
            };
            check_sums(&bar);
            reported.insert((timeframe, bar.start), (*bar).clone());
        }
        prop_assert_eq!(engine.stats().trades, trades.len() as u64);
        for timeframe in Timeframe::ALL {
            let expected = direct(timeframe, &trades, &grid);
            let got: BTreeMap<i64, Bar> = reported
                .iter()
                .filter(|((tf, _), _)| *tf == timeframe)
                .map(|((_, start), bar)| (*start, bar.clone()))
                .collect();
            prop_assert_eq!(got, expected, "{}", timeframe);
        }
    }

    #[test]
    fn rolling_windows_and_the_session_equal_their_trades(trades in trades(20_000), anchor_minute in 0u32..1_440) {
        let grid = RowGrid::new("0.5".parse().unwrap()).unwrap();
        let anchor = SessionAnchor::at(anchor_minute / 60, anchor_minute % 60).unwrap();
        let mut engine = Engine::new(params(anchor));
        for trade in &trades {
            engine.add_trade(trade);
        }
        let open = engine.open_minute().unwrap();
        let mut windows: Vec<Bar> = Rolling::ALL.iter().map(|&r| engine.rolling_window(r).unwrap()).collect();
        windows.push(engine.session().unwrap());
        for window in windows {
            prop_assert_eq!(window.end, open + MIN);
            let inside: Vec<Trade> = trades
                .iter()
                .filter(|t| (window.start..window.end).contains(&t.trade_time.0))
                .cloned()
                .collect();
            let mut expected = Bar::new(window.start, window.end);
            for trade in &inside {
                expected.add(&grid, trade);
            }
            check_sums(&window);
            prop_assert_eq!(rows(&window), rows(&expected));
            prop_assert_eq!(&window.totals, &expected.totals);
            prop_assert_eq!((window.low, window.high), (expected.low, expected.high));
        }
    }

    #[test]
    fn cumulative_delta_is_the_sum_of_the_session_deltas(trades in trades(30_000), anchor_minute in 0u32..1_440) {
        let anchor = SessionAnchor::at(anchor_minute / 60, anchor_minute % 60).unwrap();
        let mut engine = Engine::new(params(anchor));
        let delta = |t: &Trade| if t.side == Side::Buy { t.qty } else { -t.qty };
        for (index, trade) in trades.iter().enumerate() {
            for event in engine.add_trade(trade) {
                if let EngineEvent::Closed { timeframe: Timeframe::M1, bar, cvd } = event {
                    let session = anchor.session_start(bar.start);
                    let expected: Qty = trades[..index]
                        .iter()
                        .filter(|t| anchor.session_start(t.trade_time.0) == session)
                        .map(delta)
                        .sum();
                    prop_assert_eq!(cvd, expected);
                }
            }
        }
        let session = engine.session().unwrap().start;
        let expected: Qty = trades.iter().filter(|t| t.trade_time.0 >= session).map(delta).sum();
        prop_assert_eq!(engine.cvd(), expected);
    }
}
