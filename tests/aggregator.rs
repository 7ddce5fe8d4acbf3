//! The aggregator actor: what it publishes, persists and reports, first driven directly
//! through its route with trades of known times, then live behind a simulated exchange.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::live::{start, wait_until};
use ractor::Actor;
use tokio::sync::mpsc;
use wadm_actors::aggregator::engine::Rolling;
use wadm_actors::aggregator::{
    AggregatorActor, AggregatorArgs, AggregatorMsg, AggregatorSettings, AggregatorSnapshot,
    ProfileParams, Record, RecordSink, RowSpec, Timeframe,
};
use wadm_actors::boards::SnapshotBoard;
use wadm_actors::model::{
    BookView, FillRange, InstrumentInfo, Kline, KlineInterval, Level, Qty, QualityKind, Side,
    Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};
use wadm_actors::quality::QualitySink;
use wadm_actors::routing::{RouteSlot, RoutingTable};
use wadm_supervision::{ActorEntry, StatusRegistry, unix_millis};

const LONG: Duration = Duration::from_secs(20);
const MIN: i64 = 60_000;

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

fn q(text: &str) -> Qty {
    text.parse().unwrap()
}

fn trade(id: u64, time: i64, price: &str, qty: &str, side: Side) -> Trade {
    Trade {
        venue: Venue::BinanceSpot,
        symbol: btc(),
        id: TradeId::Number(id),
        price: price.parse().unwrap(),
        qty: q(qty),
        side,
        trade_time: TimestampMs(time),
        event_time: TimestampMs(time),
        received_at: UnixNanos(0),
        flags: TradeFlags::AGGREGATE,
        sequence: None,
        fills: Some(FillRange {
            first: id,
            last: id,
        }),
    }
}

fn kline(open_time: i64, volume: &str, buy: &str) -> Kline {
    let price = "100".parse().unwrap();
    Kline {
        venue: Venue::BinanceSpot,
        symbol: btc(),
        interval: KlineInterval::Minute1,
        open_time: TimestampMs(open_time),
        close_time: TimestampMs(open_time + MIN - 1),
        open: price,
        high: price,
        low: price,
        close: price,
        volume: q(volume),
        quote_volume: Qty::ZERO,
        taker_buy_volume: Some(q(buy)),
        taker_buy_quote_volume: None,
        trade_count: Some(1),
        first_trade_id: Some(2),
        last_trade_id: Some(2),
        closed: true,
        event_time: TimestampMs(open_time + MIN),
        received_at: UnixNanos(0),
    }
}

/// An aggregator spawned on its own, with a record channel and a quality log to watch.
struct Harness {
    route: Arc<RouteSlot>,
    board: Arc<SnapshotBoard>,
    quality: QualitySink,
    status: Arc<ActorEntry>,
    records: mpsc::Receiver<Record>,
    actor: ractor::ActorRef<AggregatorMsg>,
}

impl Harness {
    async fn start(row: RowSpec, records_capacity: usize) -> Harness {
        let table = RoutingTable::new([(Venue::BinanceSpot, btc())], 1_000);
        let route = table.slot(Venue::BinanceSpot, btc()).unwrap();
        let params = ProfileParams::default();
        let board = Arc::new(SnapshotBoard::new([(Venue::BinanceSpot, btc(), params)]));
        let quality = QualitySink::new(100);
        let status = StatusRegistry::new().entry("aggregator", "binance-spot/BTCUSDT");
        let (sink, records) = RecordSink::channel(records_capacity);
        let settings = AggregatorSettings {
            publish_interval: Duration::from_millis(5),
            book_snapshot_interval: Duration::from_millis(5),
            // Bars close only on trades of later minutes: the test chooses the times.
            close_grace: Duration::from_secs(3_600),
            ..AggregatorSettings::default()
        };
        let args = AggregatorArgs {
            venue: Venue::BinanceSpot,
            symbol: btc(),
            generation: 1,
            route: Arc::clone(&route),
            status: Arc::clone(&status),
            settings: Arc::new(settings),
            row,
            snapshots: Arc::clone(&board),
            records: Some(sink),
            quality: quality.clone(),
            store: None,
            preloaded: None,
        };
        let (actor, _) = Actor::spawn(None, AggregatorActor, args).await.unwrap();
        Harness {
            route,
            board,
            quality,
            status,
            records,
            actor,
        }
    }

    fn send(&self, message: AggregatorMsg) {
        self.route.send(message).unwrap();
    }

    fn snapshot(&self) -> Arc<AggregatorSnapshot> {
        self.board.latest(Venue::BinanceSpot, btc()).unwrap()
    }

    async fn snapshot_when(
        &self,
        what: &str,
        condition: impl Fn(&AggregatorSnapshot) -> bool,
    ) -> Arc<AggregatorSnapshot> {
        wait_until(LONG, what, || async { condition(&self.snapshot()) }).await;
        self.snapshot()
    }

    /// Receives records until `pick` accepts one, or fails at the deadline.
    async fn record<T>(&mut self, what: &str, pick: impl Fn(Record) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let record = tokio::time::timeout_at(deadline, self.records.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("the record channel stays open");
            if let Some(found) = pick(record) {
                return found;
            }
        }
    }
}

#[tokio::test]
async fn closed_bars_book_snapshots_and_kline_checks_reach_their_consumers() {
    let mut h = Harness::start(RowSpec::Fixed("1".parse().unwrap()), 10_000).await;
    let t0 = Timeframe::M1.start_of(unix_millis()) - 5 * MIN;
    h.send(AggregatorMsg::Trades(vec![trade(
        1,
        t0 + 1_000,
        "100",
        "1",
        Side::Buy,
    )]));
    h.send(AggregatorMsg::Trades(vec![trade(
        2,
        t0 + MIN + 1,
        "101.5",
        "2",
        Side::Sell,
    )]));
    h.send(AggregatorMsg::Trades(vec![trade(
        3,
        t0 + 2 * MIN,
        "102",
        "1",
        Side::Buy,
    )]));

    let closed = h
        .record("the 1m bar of the second minute", |r| match r {
            Record::Bar(bar) if bar.report.start == t0 + MIN => Some(bar),
            _ => None,
        })
        .await;
    assert_eq!(closed.timeframe, Timeframe::M1);
    assert!(!closed.amended);
    assert_eq!(
        closed.report.cvd,
        q("-1"),
        "the session's delta at the close"
    );
    assert_eq!(closed.report.sell_volume, q("2"));
    let rebuilt = closed.to_bar().unwrap();
    assert_eq!(rebuilt.footprint.row(101).bid, q("2"));
    assert_eq!(closed.row_size, "1".parse().unwrap());

    // The venue's candle of the second minute disagrees on taker-buy volume.
    h.send(AggregatorMsg::Klines(vec![
        kline(t0, "1", "1"),
        kline(t0 + MIN, "2", "0.5"),
    ]));
    h.record("the closed candle", |r| match r {
        Record::Kline(k) if k.open_time.0 == t0 + MIN => Some(()),
        _ => None,
    })
    .await;
    wait_until(LONG, "the kline mismatch", || async {
        h.quality
            .recent()
            .iter()
            .any(|e| e.kind == QualityKind::KlineMismatch)
    })
    .await;
    let mismatch = h
        .quality
        .recent()
        .into_iter()
        .find(|e| e.kind == QualityKind::KlineMismatch)
        .unwrap();
    assert_eq!(mismatch.time.0, t0 + MIN);
    assert_eq!((mismatch.from_id, mismatch.to_id), (Some(2), Some(2)));
    assert!(
        mismatch.cause.contains("taker-buy 0.5") && mismatch.cause.contains("buy 0 "),
        "{}",
        mismatch.cause
    );
    assert_eq!(
        h.quality.recent().len(),
        1,
        "the first minute was seen in part and is not compared"
    );

    // A late trade for the first minute amends it.
    h.send(AggregatorMsg::Trades(vec![trade(
        4,
        t0 + 30_000,
        "99",
        "3",
        Side::Sell,
    )]));
    let amended = h
        .record("the amended first minute", |r| match r {
            Record::Bar(bar) if bar.amended => Some(bar),
            _ => None,
        })
        .await;
    assert_eq!(
        (amended.report.start, amended.prints, amended.report.trades),
        (t0, 2, 2)
    );
    assert_eq!(
        amended.report.cvd,
        q("-2"),
        "the session's delta through the amended minute: +1 and the late -3"
    );

    // Book views become periodic snapshots, top N per side.
    let view = BookView {
        venue: Venue::BinanceSpot,
        symbol: btc(),
        update_id: 77,
        bids: (0..30)
            .map(|i| Level {
                price: Qty::from_int(100 - i).to_string().parse().unwrap(),
                qty: q("1"),
            })
            .collect(),
        asks: vec![Level {
            price: "100.5".parse().unwrap(),
            qty: q("2"),
        }],
        event_time: None,
        received_at: UnixNanos(0),
    };
    h.send(AggregatorMsg::Book(Arc::new(view)));
    let book = h
        .record("a book snapshot", |r| match r {
            Record::Book(book) => Some(book),
            _ => None,
        })
        .await;
    assert_eq!(
        (book.update_id, book.bids.len(), book.asks.len()),
        (77, 20, 1)
    );
    assert_eq!(book.stats.spread, Some("0.5".parse().unwrap()));

    let snapshot = h
        .snapshot_when("the snapshot with every trade", |s| {
            s.counts.trades == 4 && s.book.is_some()
        })
        .await;
    assert_eq!(snapshot.engine.late_amended, 1);
    assert_eq!(snapshot.cvd, q("-3"));
    let day = &snapshot.rolling[&Rolling::H24];
    assert_eq!((day.totals.trades, day.totals.volume()), (4, q("7")));
    assert_eq!(snapshot.bars[&Timeframe::M1].start, t0 + 2 * MIN);
    assert_eq!(snapshot.last_closed[&Timeframe::M1].start, t0 + MIN);
    assert_eq!(snapshot.recent_trades.len(), 4);
    assert_eq!(h.status.snapshot().drops, 0);
    h.actor.stop(None);
}

#[tokio::test]
async fn a_future_stamped_trade_does_not_move_the_open_bar() {
    let h = Harness::start(RowSpec::Fixed("1".parse().unwrap()), 10_000).await;
    let now = unix_millis();
    // The first trade after the start is stamped four minutes ahead of the local clock.
    h.send(AggregatorMsg::Trades(vec![trade(
        1,
        now + 4 * MIN,
        "100",
        "1",
        Side::Buy,
    )]));
    for id in 2..=11 {
        h.send(AggregatorMsg::Trades(vec![trade(
            id,
            now,
            "101",
            "1",
            Side::Sell,
        )]));
    }
    let live = h
        .snapshot_when("the real trades counted", |s| s.counts.trades == 10)
        .await;
    let minute = &live.bars[&Timeframe::M1];
    assert_eq!(
        minute.start,
        Timeframe::M1.start_of(now),
        "the open bar is the local minute"
    );
    assert_eq!(minute.totals.prints, 10);
    assert_eq!(live.engine.late_amended + live.engine.late_dropped, 0);
    // A trade stamped before the venues existed is refused, not stored as a bar of 1970.
    h.send(AggregatorMsg::Trades(vec![trade(
        12,
        0,
        "1",
        "1",
        Side::Buy,
    )]));
    h.send(AggregatorMsg::Trades(vec![trade(
        13,
        now,
        "101",
        "1",
        Side::Buy,
    )]));
    let after = h
        .snapshot_when("the next real trade", |s| s.counts.trades == 11)
        .await;
    assert_eq!(
        after.bars[&Timeframe::M1].start,
        Timeframe::M1.start_of(now)
    );
    assert_eq!(after.rolling[&Rolling::H24].totals.prints, 11);
    h.actor.stop(None);
}

#[tokio::test]
async fn trades_wait_for_the_tick_size_when_rows_are_counted_in_ticks() {
    let h = Harness::start(RowSpec::Ticks(10), 10_000).await;
    let now = unix_millis();
    h.send(AggregatorMsg::Trades(vec![
        trade(1, now, "100.04", "1", Side::Buy),
        trade(2, now, "100.16", "1", Side::Sell),
    ]));
    let waiting = h
        .snapshot_when("the trades counted", |s| s.counts.trades == 2)
        .await;
    assert!(waiting.grid.is_none() && waiting.rolling.is_empty());
    h.send(AggregatorMsg::Instrument(InstrumentInfo {
        venue: Venue::BinanceSpot,
        symbol: btc(),
        tick_size: "0.01".parse().unwrap(),
        lot_size: q("0.001"),
        trading: true,
    }));
    let ready = h
        .snapshot_when("the grid known", |s| s.grid.is_some())
        .await;
    assert_eq!(ready.grid.unwrap().row_size(), "0.1".parse().unwrap());
    let hour = &ready.rolling[&Rolling::H1];
    assert_eq!(hour.totals.trades, 2, "the waiting trades were taken in");
    let rows: Vec<i128> = hour.footprint.rows().map(|(row, _)| row).collect();
    assert_eq!(rows, [1000, 1001]);
    h.actor.stop(None);
}

#[tokio::test]
async fn a_full_persistence_queue_drops_records_and_counts_them() {
    let h = Harness::start(RowSpec::Fixed("1".parse().unwrap()), 2).await;
    let now = unix_millis();
    for id in 0..5 {
        h.send(AggregatorMsg::Trades(vec![trade(
            id,
            now,
            "100",
            "1",
            Side::Buy,
        )]));
    }
    h.snapshot_when("every batch handled", |s| s.counts.trades == 5)
        .await;
    assert_eq!(h.status.snapshot().drops, 3, "2 queued, 3 dropped");
    assert_eq!(
        h.route.dropped(),
        0,
        "the aggregator itself took every message"
    );
    h.actor.stop(None);
}

#[tokio::test]
async fn live_snapshots_hold_exactly_the_simulated_trades() {
    let venues = [Venue::BinanceSpot, Venue::BinanceUsdm];
    let (sim, daemon) = start(
        &venues,
        &["BTCUSDT", "ETHUSDT"],
        &[("WADM__AGGREGATOR__PUBLISH_INTERVAL", "10ms")],
    )
    .await;
    for venue in venues {
        for symbol in ["BTCUSDT", "ETHUSDT"] {
            let symbol = Symbol::new(symbol).unwrap();
            wait_until(LONG, "a few hundred trades in the snapshot", || async {
                daemon
                    .snapshots
                    .latest(venue, symbol)
                    .is_some_and(|s| s.counts.trades >= 300)
            })
            .await;
            let snapshot = daemon.snapshots.latest(venue, symbol).unwrap();
            let counts = &snapshot.counts;
            let day = &snapshot.rolling[&Rolling::H24];
            assert_eq!(day.totals.prints, counts.trades, "{venue} {symbol}");
            assert_eq!(
                day.totals.trades,
                3 * counts.trades,
                "an aggregate trade stands for l - f + 1 trades (3 in the simulator)"
            );
            assert_eq!(day.totals.buy_volume, counts.buy_volume);
            assert_eq!(day.totals.sell_volume, counts.sell_volume);
            assert_eq!(
                day.footprint.total(),
                counts.buy_volume + counts.sell_volume
            );
            let (first, last) = (
                counts.first_trade_id.unwrap(),
                counts.last_trade_id.unwrap(),
            );
            let (generated, buy, sell) = sim.totals(venue, symbol).range(first, last);
            assert_eq!(
                (generated, buy, sell),
                (counts.trades, counts.buy_volume, counts.sell_volume),
                "{venue} {symbol}: the snapshot holds exactly the generated trades {first}..={last}"
            );
            let row = snapshot.grid.unwrap().row_size();
            assert!(row.is_positive());
            assert_eq!(
                snapshot.engine.late_dropped + snapshot.engine.future_dropped,
                0
            );
        }
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
