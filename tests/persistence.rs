//! The persistence actor against real stores: outages (the embedded file locked by another
//! process, the MongoDB stand-in down) lose nothing within the buffer bound, duplicate
//! nothing, and count every drop past it exactly; shutdown writes everything held; a finished
//! day's stored hours are summed into its 1-day bar (again when an hour changes); and the
//! daemon stores what it collects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::live::{LONG, quality_of, start, sym, wait_book_synced, wait_until};
use common::mongo::TestMongo;
use ractor::{Actor, ActorRef};
use wadm::simulator::Misbehaviour;
use wadm_actors::aggregator::{Record, RecordSink};
use wadm_actors::model::{
    Price, Qty, QualityKind, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos,
    Venue,
};
use wadm_actors::persistence::{
    PersistenceActor, PersistenceArgs, PersistenceInputs, PersistenceMsg, PersistenceSettings,
};
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore, FILE_NAME};
use wadm_actors::storage::mongo::{MongoOptions, MongoStore};
use wadm_actors::storage::{Document, Kind, Order, Query, Retention, SharedStore};
use wadm_supervision::{Backoff, StatusRegistry, unix_millis};

fn settings(batch_size: usize, capacity: usize, flush_interval: Duration) -> PersistenceSettings {
    PersistenceSettings {
        batch_size,
        flush_interval,
        buffer_capacity: capacity,
        write_timeout: Duration::from_secs(5),
        retry: Backoff::try_new(
            Duration::from_millis(10),
            Duration::from_millis(50),
            2.0,
            0.0,
        )
        .unwrap(),
        sweep_interval: Duration::from_secs(3_600),
        shutdown_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(5),
    }
}

fn trade(id: u64, time: i64) -> Trade {
    Trade {
        venue: Venue::BinanceSpot,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        id: TradeId::Number(id),
        price: "60000.5".parse::<Price>().unwrap(),
        qty: "0.001".parse::<Qty>().unwrap(),
        side: Side::Buy,
        trade_time: TimestampMs(time),
        event_time: TimestampMs(time),
        received_at: UnixNanos(time * 1_000_000),
        flags: TradeFlags::NONE,
        sequence: None,
        fills: None,
    }
}

struct Running {
    actor: ActorRef<PersistenceMsg>,
    handle: tokio::task::JoinHandle<()>,
    inputs: Arc<PersistenceInputs>,
    sink: RecordSink,
    status: Arc<wadm_supervision::ActorEntry>,
}

async fn spawn(store: SharedStore, settings: PersistenceSettings) -> Running {
    let (inputs, sink, _quality) = PersistenceInputs::new(100_000, settings.buffer_capacity, true);
    let status = StatusRegistry::new().entry("persistence", store.backend());
    let args = PersistenceArgs {
        store,
        inputs: Arc::clone(&inputs),
        settings: Arc::new(settings),
        status: Arc::clone(&status),
    };
    let (actor, handle) = Actor::spawn(None, PersistenceActor, args).await.unwrap();
    Running {
        actor,
        handle,
        inputs,
        sink,
        status,
    }
}

impl Running {
    fn send_trades(&self, ids: std::ops::RangeInclusive<u64>, time: i64) {
        for id in ids {
            let record = Record::Trades(Arc::from(vec![trade(id, time + id as i64)]));
            assert!(self.sink.offer(Venue::BinanceSpot, record, &self.status));
        }
    }

    async fn stop(self) {
        self.actor.stop(None);
        self.handle.await.unwrap();
    }
}

async fn stored_trade_ids(store: &SharedStore) -> Vec<u64> {
    let query = Query {
        kind: Kind::Trades,
        venue: None,
        symbol: None,
        from: 0,
        to: i64::MAX,
        limit: 100_000,
        order: Order::OldestFirst,
    };
    store
        .read(query)
        .await
        .unwrap()
        .into_iter()
        .map(|d| match d {
            Document::Trade(t) => t.id.as_number().unwrap(),
            other => panic!("not a trade: {other:?}"),
        })
        .collect()
}

/// Drives one outage: 60 documents while the store is down, 90 more (past the bound of 100),
/// recovery; exactly the newest 100 land once each, and exactly 50 drops are counted.
async fn outage_loses_nothing_within_the_bound(
    store: SharedStore,
    take_down: impl FnOnce(),
    bring_up: impl FnOnce(),
) {
    let time = unix_millis() - 60_000;
    let running = spawn(
        Arc::clone(&store),
        settings(10, 100, Duration::from_millis(10)),
    )
    .await;
    // The store works: the first documents land.
    running.send_trades(1..=5, time);
    wait_until(LONG, "the first writes", || async {
        running.inputs.stats().written_total() == 5
    })
    .await;
    take_down();
    running.send_trades(6..=65, time);
    wait_until(LONG, "a failed write", || async {
        running.inputs.stats().failures >= 1
    })
    .await;
    running.send_trades(66..=155, time);
    wait_until(LONG, "everything taken in", || async {
        let stats = running.inputs.stats();
        stats.buffered + stats.in_flight == 100 && stats.dropped_total() == 50
    })
    .await;
    let stats = running.inputs.stats();
    assert_eq!(stats.written_total(), 5, "nothing written while down");
    assert!(!stats.store_available);
    assert_eq!(
        stats.dropped.get("trades/buffer_full"),
        Some(&50),
        "{:?}",
        stats.dropped
    );
    assert_eq!(running.status.snapshot().drops, 50);
    bring_up();
    wait_until(LONG, "the backlog written", || async {
        running.inputs.stats().written_total() == 105
    })
    .await;
    let ids = stored_trade_ids(&store).await;
    let expected: Vec<u64> = (1..=5).chain(56..=155).collect();
    assert_eq!(ids, expected, "the oldest 50 dropped, the rest once each");
    assert_eq!(running.inputs.stats().dropped_total(), 50);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_locked_by_another_process_loses_nothing_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(
        dir.path(),
        Retention::default(),
        EmbeddedOptions {
            busy_timeout: Duration::from_millis(20),
        },
    )
    .unwrap();
    // Another process holding the write lock (a backup tool, a stray sqlite3 shell).
    let locker = Arc::new(std::sync::Mutex::new(
        rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap(),
    ));
    let (down, up) = (Arc::clone(&locker), Arc::clone(&locker));
    outage_loses_nothing_within_the_bound(
        Arc::new(store),
        move || {
            down.lock()
                .unwrap()
                .execute_batch("BEGIN EXCLUSIVE")
                .unwrap()
        },
        move || up.lock().unwrap().execute_batch("ROLLBACK").unwrap(),
    )
    .await;
}

/// A write the store holds up (the embedded file locked, SQLite waiting out its busy timeout)
/// does not stop persistence from taking the records in: they go into the buffer, whose bound
/// and drop rule apply, rather than piling up in the record queue (each of whose records can
/// hold a burst's trades) until the write ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_taken_into_the_buffer_while_a_write_waits_on_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(
        EmbeddedStore::open(
            dir.path(),
            Retention::default(),
            EmbeddedOptions {
                busy_timeout: Duration::from_secs(4),
            },
        )
        .unwrap(),
    );
    let locker = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let time = unix_millis() - 60_000;
    let running = spawn(
        Arc::clone(&store),
        settings(10, 1_000, Duration::from_millis(10)),
    )
    .await;
    running.send_trades(1..=5, time);
    wait_until(LONG, "the first writes", || async {
        running.inputs.stats().written_total() == 5
    })
    .await;
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    running.send_trades(6..=20, time);
    wait_until(LONG, "a write in flight", || async {
        running.inputs.stats().in_flight > 0
    })
    .await;
    running.send_trades(21..=60, time);
    // Well within the store's 4 s wait: every record is in the buffer or the write.
    wait_until(Duration::from_secs(2), "the records taken in", || async {
        let stats = running.inputs.stats();
        stats.buffered + stats.in_flight == 55
    })
    .await;
    let stats = running.inputs.stats();
    assert_eq!(stats.failures, 0, "the write is still waiting");
    assert_eq!(stats.written_total(), 5);
    locker.execute_batch("ROLLBACK").unwrap();
    wait_until(LONG, "everything written", || async {
        running.inputs.stats().written_total() == 60
    })
    .await;
    assert_eq!(stored_trade_ids(&store).await, (1..=60).collect::<Vec<_>>());
    assert_eq!(running.inputs.stats().dropped_total(), 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mongodb_outage_loses_nothing_within_the_bound() {
    let server = Arc::new(TestMongo::start());
    if !server.is_standin() {
        eprintln!("a real MongoDB cannot be taken down by the test: outage not simulated");
        return;
    }
    let mut options = MongoOptions::new(&server.uri, &server.database);
    options.server_selection_timeout = Duration::from_millis(200);
    options.connect_timeout = Duration::from_millis(200);
    let store = MongoStore::connect(&options, Retention::default())
        .await
        .unwrap();
    let (down, up) = (Arc::clone(&server), Arc::clone(&server));
    outage_loses_nothing_within_the_bound(
        Arc::new(store.clone()),
        move || down.take_down(),
        move || up.bring_up(),
    )
    .await;
    store.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_full_buffer_writes_everything_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap(),
    );
    // Nothing is due on its own: batches of 1 000 and an hour between flushes.
    let running = spawn(
        Arc::clone(&store),
        settings(1_000, 500, Duration::from_secs(3_600)),
    )
    .await;
    running.send_trades(1..=500, unix_millis() - 60_000);
    wait_until(LONG, "a full buffer", || async {
        running.inputs.stats().buffered == 500
    })
    .await;
    assert_eq!(running.inputs.stats().written_total(), 0);
    let inputs = Arc::clone(&running.inputs);
    running.stop().await;
    assert_eq!(inputs.stats().written_total(), 500);
    assert_eq!(inputs.stats().dropped_total(), 0);
    assert_eq!(
        stored_trade_ids(&store).await,
        (1..=500).collect::<Vec<_>>()
    );
}

/// The 1-day bar of a finished day is written once its hours are, and equals the bar built
/// directly from every trade of the day; an hour amended later (a repaired trade) rewrites
/// it; the hours of today make none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_days_hours_are_summed_into_its_day_bar() {
    use wadm_actors::aggregator::params::ProfileParams;
    use wadm_actors::aggregator::{Bar, BarRecord, BarState, RowGrid, Timeframe};

    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap(),
    );
    let running = spawn(
        Arc::clone(&store),
        settings(100, 1_000, Duration::from_millis(10)),
    )
    .await;
    let grid = RowGrid::new("0.5".parse().unwrap()).unwrap();
    let params = ProfileParams::default();
    let yesterday = Timeframe::D1.start_of(unix_millis()) - Timeframe::D1.millis();
    let hour = Timeframe::H1.millis();
    let mut day = Bar::new(yesterday, yesterday + Timeframe::D1.millis());
    // Each hour's CVD is the session's (anchored at 00:00) at its end, as the aggregator
    // stores it: the delta of the day's trades up to then.
    let hour_record = |trades: &[Trade], start: i64, before: Qty, state: BarState| {
        let mut bar = Bar::new(start, start + hour);
        for t in trades {
            bar.add(&grid, t);
        }
        let record = BarRecord::build(
            Venue::BinanceSpot,
            sym("BTCUSDT"),
            Timeframe::H1,
            &bar,
            &grid,
            before + bar.delta(),
            &params,
            Vec::new(),
            state,
        );
        Record::Bar(Arc::new(record))
    };
    let mut hours = Vec::new();
    for (index, h) in [0_i64, 5, 23].into_iter().enumerate() {
        let start = yesterday + h * hour;
        let mut trades: Vec<Trade> = (0..4)
            .map(|i| {
                let mut t = trade(100 * index as u64 + i, start + 1_000 * i as i64);
                t.price =
                    Price::from_units(t.price.units() + i128::from(i as i32) * 700_000_000_000);
                t.side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
                t
            })
            .collect();
        for t in &trades {
            day.add(&grid, t);
        }
        hours.push((start, std::mem::take(&mut trades)));
    }
    let mut cvd = Qty::ZERO;
    for (start, trades) in &hours {
        let record = hour_record(trades, *start, cvd, BarState::Closed);
        if let Record::Bar(bar) = &record {
            cvd = bar.report.cvd;
        }
        assert!(
            running
                .sink
                .offer(Venue::BinanceSpot, record, &running.status)
        );
    }
    // An hour of today: its day is not finished, no day bar.
    let today = yesterday + Timeframe::D1.millis();
    assert!(running.sink.offer(
        Venue::BinanceSpot,
        hour_record(
            &[trade(9_000, today + 10)],
            today,
            Qty::ZERO,
            BarState::Closed
        ),
        &running.status
    ));
    let day_bar = |store: SharedStore| async move {
        let query = Query::range(
            Kind::Bars1d,
            Venue::BinanceSpot,
            sym("BTCUSDT"),
            0,
            i64::MAX,
        );
        store.read(query).await.unwrap()
    };
    let expected = |day: &Bar| {
        wadm_actors::aggregator::WindowReport::of(
            day,
            &grid,
            params.value_area,
            &params.imbalance,
            day.delta(),
        )
    };
    let want = expected(&day);
    wait_until(LONG, "the day bar", || async {
        matches!(&day_bar(Arc::clone(&store)).await[..], [Document::Bar(b)] if b.report.trades == want.trades)
    })
    .await;
    let stored = day_bar(Arc::clone(&store)).await;
    let [Document::Bar(record)] = &stored[..] else {
        panic!("one day bar: {stored:?}");
    };
    assert_eq!(record.timeframe, Timeframe::D1);
    assert_eq!(record.report, want);
    assert!(!record.amended);
    // A repaired trade amends the 05:00 hour (the later hours' stored CVD stays as it
    // was): the day bar follows.
    let first_hour_delta = match hour_record(&hours[0].1, hours[0].0, Qty::ZERO, BarState::Closed) {
        Record::Bar(bar) => bar.report.delta,
        _ => unreachable!(),
    };
    let (start, trades) = &mut hours[1];
    let late = trade(555, *start + 30_000);
    trades.push(late.clone());
    day.add(&grid, &late);
    assert!(running.sink.offer(
        Venue::BinanceSpot,
        hour_record(trades, *start, first_hour_delta, BarState::Amended),
        &running.status
    ));
    let want = expected(&day);
    wait_until(LONG, "the day bar amended", || async {
        matches!(&day_bar(Arc::clone(&store)).await[..], [Document::Bar(b)] if b.report == want && b.amended)
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_all_answers_once_everything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap(),
    );
    let running = spawn(
        Arc::clone(&store),
        settings(7, 1_000, Duration::from_secs(3_600)),
    )
    .await;
    running.send_trades(1..=30, unix_millis() - 60_000);
    let stats = ractor::call_t!(
        running.actor,
        |reply| PersistenceMsg::FlushAll(Duration::from_secs(10), reply),
        20_000
    )
    .unwrap();
    assert_eq!((stats.written_total(), stats.buffered), (30, 0));
    assert!(
        stats.batches >= 5,
        "batches of at most 7: {}",
        stats.batches
    );
    assert_eq!(stored_trade_ids(&store).await.len(), 30);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_stores_raw_trades_and_data_quality_events() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = start(&[venue], &["BTCUSDT"], &[]).await;
    wait_book_synced(&daemon, venue, "BTCUSDT").await;
    sim.misbehave(venue, Misbehaviour::SkipSequence(sym("BTCUSDT")))
        .await;
    wait_until(LONG, "a resync", || async {
        !quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookResync).is_empty()
    })
    .await;
    wait_until(LONG, "trades and the resync stored", || async {
        let stats = daemon.persistence.stats();
        stats.written.get(&Kind::Trades).copied().unwrap_or(0) >= 50
            && stats.written.get(&Kind::DataQuality).copied().unwrap_or(0) >= 1
    })
    .await;
    let query = |kind| Query {
        kind,
        venue: Some(venue),
        symbol: Some(sym("BTCUSDT")),
        from: 0,
        to: i64::MAX,
        limit: 100_000,
        order: Order::OldestFirst,
    };
    let stored = daemon.store.read(query(Kind::DataQuality)).await.unwrap();
    assert!(
        stored
            .iter()
            .any(|d| matches!(d, Document::Quality(q) if q.kind == QualityKind::BookResync))
    );
    let trades = daemon.store.read(query(Kind::Trades)).await.unwrap();
    assert!(trades.len() >= 50);
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
