//! Property tests of the warm start: an aggregation stopped part way through a stream and
//! rebuilt from what it stored (its bar records and raw trades, through the stored JSON
//! form) ends, after the rest of the stream, exactly where an aggregation that never
//! stopped ends: rolling windows, session, cumulative delta, developing POC, the open bar
//! of every timeframe, and the ids it has taken. Both stops are covered: a graceful one
//! (open bars stored as partial bars) and a kill (no partial bar: the open minute comes
//! back from the raw trades).
//!
//! Trades arrive mostly in time order with some late ones, and some arrive twice (a
//! reconnect repeating them): every trade is counted once on both sides.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use wadm_actors::aggregator::engine::Rolling;
use wadm_actors::aggregator::{
    AggregatorCore, AggregatorSettings, AggregatorSnapshot, BarRecord, CoreOutput, History, Record,
    RowSpec, Timeframe,
};
use wadm_actors::model::{
    FillRange, Price, Qty, QualityKind, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId,
    UnixNanos, Venue,
};

const MIN: i64 = 60_000;
/// 2023-11-14T00:00:00Z.
const DAY0: i64 = 1_699_920_000_000;

fn trade(
    venue: Venue,
    index: u64,
    time: i64,
    price_cents: i64,
    qty_milli: i64,
    buy: bool,
) -> Trade {
    let binance = matches!(venue, Venue::BinanceSpot | Venue::BinanceUsdm);
    Trade {
        venue,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        id: if binance {
            TradeId::Number(index)
        } else {
            TradeId::Uuid(u128::from(index) * 7_919 + 13)
        },
        price: Price::from_units(i128::from(price_cents) * 10_000_000_000),
        qty: Qty::from_units(i128::from(qty_milli) * 1_000_000_000),
        side: if buy { Side::Buy } else { Side::Sell },
        trade_time: TimestampMs(time),
        event_time: TimestampMs(time),
        received_at: UnixNanos(0),
        flags: if binance {
            TradeFlags::AGGREGATE
        } else {
            TradeFlags::NONE
        },
        sequence: None,
        fills: binance.then_some(FillRange {
            first: index * 3,
            last: index * 3 + 2,
        }),
    }
}

/// One arrival: a trade, and the local time it arrives at.
type Arrival = (Trade, i64);

/// Trades over a few hours around a session anchor: time steps of up to `max_step` ms, some
/// trades late by up to five minutes, some delivered a second time.
fn stream(venue: Venue, max_step: i64) -> impl Strategy<Value = Vec<Arrival>> {
    prop::collection::vec(
        (
            0..max_step,
            9_000i64..9_100,
            1i64..5_000,
            any::<bool>(),
            0u8..20,
            0..5 * MIN,
            0u8..30,
        ),
        1..500,
    )
    .prop_map(move |steps| {
        let mut time = DAY0 + 23 * 3_600_000 + 30 * MIN;
        let mut arrivals: Vec<Arrival> = Vec::new();
        for (index, (step, price, qty, buy, late, delay, repeat)) in steps.into_iter().enumerate() {
            time += step;
            let at = if late == 0 { time - delay } else { time };
            let t = trade(venue, index as u64, at, price, qty, buy);
            arrivals.push((t.clone(), time));
            if repeat == 0 {
                arrivals.push((t, time + 10));
            }
        }
        arrivals
    })
}

fn core(venue: Venue) -> AggregatorCore {
    AggregatorCore::new(
        venue,
        Symbol::new("BTCUSDT").unwrap(),
        Arc::new(AggregatorSettings::default()),
        RowSpec::Fixed("0.5".parse().unwrap()),
    )
}

/// What a store keeps of a core's records: the latest write of each 1-minute bar (through
/// its JSON form) and every raw trade.
#[derive(Default)]
struct Stored {
    bars: BTreeMap<i64, BarRecord>,
    trades: Vec<Trade>,
}

impl Stored {
    fn take(&mut self, core: &mut AggregatorCore) {
        for output in core.drain() {
            match output {
                CoreOutput::Record(Record::Bar(bar)) if bar.timeframe == Timeframe::M1 => {
                    let text = serde_json::to_string(&*bar).unwrap();
                    let back: BarRecord = serde_json::from_str(&text).unwrap();
                    assert_eq!(back, *bar, "the stored form is lossless");
                    self.bars.insert(back.report.start, back);
                }
                CoreOutput::Record(Record::Trades(trades)) => {
                    self.trades.extend(trades.iter().cloned());
                }
                _ => {}
            }
        }
    }

    fn history(&self) -> History {
        let mut trades = self.trades.clone();
        trades.sort_by_key(|t| t.trade_time);
        History {
            bars: self.bars.values().cloned().collect(),
            trades,
            raw_trades_stored: true,
            trades_complete_from: i64::MIN,
        }
    }
}

fn feed(core: &mut AggregatorCore, arrivals: &[Arrival], stored: &mut Stored) {
    for (trade, now) in arrivals {
        core.tick(*now);
        core.on_trades(vec![trade.clone()]);
        stored.take(core);
    }
}

fn state(snapshot: &AggregatorSnapshot) -> impl PartialEq + std::fmt::Debug {
    (
        Rolling::ALL.map(|r| snapshot.rolling.get(&r).map(|b| (**b).clone())),
        snapshot.session.as_ref().map(|b| (**b).clone()),
        snapshot.cvd,
        snapshot.developing_poc.to_vec(),
        snapshot.bars.clone(),
        snapshot.last_trade_time,
    )
}

fn check_restart(venue: Venue, arrivals: &[Arrival], split: usize, graceful: bool) {
    let split = split % (arrivals.len() + 1);
    let end = arrivals.last().map_or(DAY0, |(_, now)| *now) + 10 * MIN;

    let mut whole = core(venue);
    feed(&mut whole, arrivals, &mut Stored::default());
    whole.tick(end);

    let mut stored = Stored::default();
    let mut first = core(venue);
    feed(&mut first, &arrivals[..split], &mut stored);
    if graceful {
        first.report_open_bars();
        stored.take(&mut first);
    }
    let stop = arrivals[..split].last().map_or(DAY0, |(_, now)| *now);
    let mut second = core(venue);
    second.tick(stop);
    second.restore(stored.history(), QualityKind::Downtime);
    feed(&mut second, &arrivals[split..], &mut Stored::default());
    second.tick(end);

    let (a, b) = (whole.snapshot(1, end), second.snapshot(1, end));
    if state(&a) != state(&b) {
        let (ea, eb) = (whole.engine().unwrap(), second.engine().unwrap());
        for bar in ea.minute_bars(0, i64::MAX) {
            let other = eb.minute_bar(bar.start);
            if other != Some(bar) {
                let stored_bar = stored.bars.get(&bar.start).map(|b| b.prints);
                let raw = stored
                    .trades
                    .iter()
                    .filter(|t| Timeframe::M1.start_of(t.trade_time.0) == bar.start)
                    .count();
                eprintln!(
                    "DIFF minute {} graceful {graceful} split {split}/{}: whole {} second {:?} stored {:?} raw {} warm {:?}",
                    bar.start,
                    arrivals.len(),
                    bar.totals.prints,
                    other.map(|b| b.totals.prints),
                    stored_bar,
                    raw,
                    second.warm_start()
                );
            }
        }
    }
    assert_eq!(state(&a), state(&b));
    let unique: std::collections::HashSet<&TradeId> = arrivals.iter().map(|(t, _)| &t.id).collect();
    assert_eq!(
        first.counts().trades + second.counts().trades,
        unique.len() as u64,
        "every trade taken once, before or after the restart"
    );
}

/// The store answers late: the restarted core takes the rest of the stream first, cold,
/// then merges what the first one stored.
fn check_merge_later(venue: Venue, arrivals: &[Arrival], split: usize) {
    let split = split % (arrivals.len() + 1);
    let end = arrivals.last().map_or(DAY0, |(_, now)| *now) + 10 * MIN;
    let mut whole = core(venue);
    feed(&mut whole, arrivals, &mut Stored::default());
    whole.tick(end);

    let mut stored = Stored::default();
    let mut first = core(venue);
    feed(&mut first, &arrivals[..split], &mut stored);
    first.report_open_bars();
    stored.take(&mut first);
    let mut second = core(venue);
    feed(&mut second, &arrivals[split..], &mut Stored::default());
    second.restore(stored.history(), QualityKind::Downtime);
    second.tick(end);
    let (a, b) = (whole.snapshot(1, end), second.snapshot(1, end));
    assert_eq!(state(&a), state(&b));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_store_that_answers_late_is_merged_into_the_live_state(
        arrivals in stream(Venue::BinanceSpot, 20_000),
        split in any::<usize>(),
    ) {
        check_merge_later(Venue::BinanceSpot, &arrivals, split);
        let opaque: Vec<Arrival> = arrivals
            .iter()
            .map(|(t, now)| {
                let index = t.id.as_number().unwrap();
                let mut t = t.clone();
                t.venue = Venue::BybitSpot;
                t.id = TradeId::Uuid(u128::from(index) + 1);
                t.flags = TradeFlags::NONE;
                t.fills = None;
                (t, *now)
            })
            .collect();
        check_merge_later(Venue::BybitSpot, &opaque, split);
    }

    #[test]
    fn a_graceful_restart_rebuilds_exactly_what_never_stopping_holds(
        arrivals in stream(Venue::BinanceSpot, 20_000),
        split in any::<usize>(),
    ) {
        check_restart(Venue::BinanceSpot, &arrivals, split, true);
    }

    #[test]
    fn a_kill_loses_nothing_that_was_stored(
        arrivals in stream(Venue::BinanceUsdm, 20_000),
        split in any::<usize>(),
    ) {
        check_restart(Venue::BinanceUsdm, &arrivals, split, false);
    }

    #[test]
    fn opaque_ids_are_restored_from_the_stored_trades(
        arrivals in stream(Venue::BybitLinear, 20_000),
        split in any::<usize>(),
    ) {
        check_restart(Venue::BybitLinear, &arrivals, split, true);
        check_restart(Venue::BybitLinear, &arrivals, split, false);
    }
}

#[test]
fn the_stop_is_reported_as_a_hole_when_the_first_live_trade_arrives() {
    let venue = Venue::BinanceSpot;
    let t0 = DAY0 + 10 * MIN;
    let mut stored = Stored::default();
    let mut first = core(venue);
    let before: Vec<Arrival> = (0..5)
        .map(|i| {
            (
                trade(venue, i, t0 + i as i64 * 1_000, 9_000, 1_000, true),
                t0 + i as i64 * 1_000,
            )
        })
        .collect();
    feed(&mut first, &before, &mut stored);
    first.report_open_bars();
    stored.take(&mut first);

    let mut second = core(venue);
    second.tick(t0 + 3 * MIN);
    let warm = second.restore(stored.history(), QualityKind::Downtime);
    assert_eq!(
        (warm.outcome, warm.bars, warm.to),
        ("warm", 1, Some(t0 + 4_000))
    );
    let snapshot = second.snapshot(1, t0 + 3 * MIN);
    assert_eq!(
        snapshot.pending_hole,
        Some((t0 + 4_000, QualityKind::Downtime))
    );
    assert_eq!(snapshot.rolling[&Rolling::H1].totals.prints, 5);

    // The venue repeats the last trade, then trades 5 to 9 are lost, then 10 comes.
    second.on_trades(vec![before[4].0.clone()]);
    second.on_trades(vec![trade(venue, 10, t0 + 3 * MIN, 9_000, 1_000, false)]);
    let events: Vec<_> = second
        .drain()
        .filter_map(|o| match o {
            CoreOutput::Quality(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let hole = &events[0];
    assert_eq!(hole.kind, QualityKind::Downtime);
    assert_eq!(hole.hole_span(), Some((t0 + 4_000, t0 + 3 * MIN)));
    assert_eq!((hole.from_id, hole.to_id), (Some(5), Some(9)));
    assert_eq!(second.counts().duplicates, 1);
    second.tick(t0 + 10 * MIN);
    assert!(
        second.drain().all(|o| !matches!(o, CoreOutput::Quality(_))),
        "the id jump is the downtime hole, not a trade gap of its own"
    );
    assert!(second.snapshot(1, t0 + 10 * MIN).pending_hole.is_none());
}
