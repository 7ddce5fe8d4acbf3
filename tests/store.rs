//! The store contract: one suite, run against the embedded store (SQLite in a temporary
//! directory) and against MongoDB (the wire-protocol stand-in, or `WADM_TEST_MONGODB_URI`)
//! through the real `mongodb` driver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::mongo::TestMongo;
use wadm_actors::aggregator::book_stats::BookStats;
use wadm_actors::aggregator::params::ProfileParams;
use wadm_actors::aggregator::{Bar, BarRecord, BarState, BookRecord, RowGrid, Timeframe};
use wadm_actors::model::{
    DataQualityEvent, FillRange, HoleState, Kline, KlineInterval, Level, Price, Qty, QualityKind,
    Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
use wadm_actors::storage::mongo::{MongoOptions, MongoStore};
use wadm_actors::storage::{
    Document, Kind, Order, Query, Retention, SharedStore, Store, StoreError,
};
use wadm_supervision::unix_millis;

const MIN: i64 = 60_000;

fn q(text: &str) -> Qty {
    text.parse().unwrap()
}

fn p(text: &str) -> Price {
    text.parse().unwrap()
}

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// A minute-aligned time a few minutes ago: recent enough that no retention touches it.
fn recent_minute() -> i64 {
    Timeframe::M1.start_of(unix_millis()) - 10 * MIN
}

fn trade(venue: Venue, id: TradeId, time: i64, price: &str, qty: &str, side: Side) -> Trade {
    Trade {
        venue,
        symbol: btc(),
        id,
        price: p(price),
        qty: q(qty),
        side,
        trade_time: TimestampMs(time),
        event_time: TimestampMs(time + 3),
        received_at: UnixNanos(time * 1_000_000 + 123_456),
        flags: TradeFlags::AGGREGATE,
        sequence: None,
        fills: Some(FillRange {
            first: 10,
            last: 12,
        }),
    }
}

fn bar_document(start: i64, amended: bool) -> Document {
    let grid = RowGrid::new(p("10")).unwrap();
    let mut bar = Bar::of(Timeframe::M1, start);
    for (i, (price, qty, side)) in [
        ("60001.5", "0.25", Side::Buy),
        ("60013", "1.000000000001", Side::Sell),
        ("60027.9", "0.5", Side::Buy),
        ("60020", "2", Side::Buy),
    ]
    .into_iter()
    .enumerate()
    {
        let id = TradeId::Number(100 + i as u64);
        bar.add(
            &grid,
            &trade(
                Venue::BinanceSpot,
                id,
                start + 1_000 * i as i64,
                price,
                qty,
                side,
            ),
        );
    }
    let record = BarRecord::build(
        Venue::BinanceSpot,
        btc(),
        Timeframe::M1,
        &bar,
        &grid,
        q("-12.5"),
        &ProfileParams::default(),
        Vec::new(),
        if amended {
            BarState::Amended
        } else {
            BarState::Closed
        },
    );
    Document::Bar(Arc::new(record))
}

fn book_document(time: i64) -> Document {
    let bids = vec![
        Level {
            price: p("60000.1"),
            qty: q("1.5"),
        },
        Level {
            price: p("59999.9"),
            qty: q("0.000001"),
        },
    ];
    let asks = vec![Level {
        price: p("60000.2"),
        qty: q("3"),
    }];
    Document::Book(Arc::new(BookRecord {
        venue: Venue::BybitSpot,
        symbol: btc(),
        time,
        update_id: 9_007_199_254_740_993, // not representable as a double
        stats: BookStats {
            best_bid: bids.first().copied(),
            best_ask: asks.first().copied(),
            spread: Some(p("0.1")),
            mid: Some(p("60000.15")),
            depth_levels: 10,
            bid_depth: q("1.500001"),
            ask_depth: q("3"),
            depth_imbalance: Some("-0.333333185185".parse().unwrap()),
        },
        bids,
        asks,
    }))
}

fn kline_document(open: i64) -> Document {
    Document::Kline(Arc::new(Kline {
        venue: Venue::BinanceUsdm,
        symbol: btc(),
        interval: KlineInterval::Minute1,
        open_time: TimestampMs(open),
        close_time: TimestampMs(open + MIN - 1),
        open: p("60000"),
        high: p("60100.5"),
        low: p("59950"),
        close: p("60050"),
        volume: q("12.345678"),
        quote_volume: q("740000.123456789"),
        taker_buy_volume: Some(q("6")),
        taker_buy_quote_volume: Some(q("360000")),
        trade_count: Some(321),
        first_trade_id: Some(1_000),
        last_trade_id: Some(1_320),
        closed: true,
        event_time: TimestampMs(open + MIN),
        received_at: UnixNanos((open + MIN) * 1_000_000 + 5),
    }))
}

fn quality_document(time: i64, symbol: Option<Symbol>, kind: QualityKind) -> Document {
    Document::Quality(DataQualityEvent {
        venue: Venue::BinanceSpot,
        symbol,
        kind,
        from_id: Some(41),
        to_id: Some(57),
        from_time: Some(TimestampMs(time - 1_500)),
        to_time: Some(TimestampMs(time - 20)),
        time: TimestampMs(time),
        cause: "sequence break: expected 41, got 58".into(),
        state: kind.is_hole().then_some(HoleState::Repaired),
        recovered: kind.is_hole().then_some(17),
    })
}

/// One of every kind, with awkward values: text and UUID trade ids, 12-decimal sizes, ids
/// beyond 2^53, a venue-wide quality event.
fn one_of_each(t: i64) -> Vec<Document> {
    vec![
        Document::Trade(trade(
            Venue::BinanceSpot,
            TradeId::Number(u64::MAX / 4),
            t + 1,
            "60000.123456789012",
            "0.000000000001",
            Side::Sell,
        )),
        Document::Trade(trade(
            Venue::BybitLinear,
            TradeId::from_text("2f6e4a57-6c8b-5b7e-9d3a-0c1e2f3a4b5c"),
            t + 2,
            "60000",
            "99999999.5",
            Side::Buy,
        )),
        bar_document(t, false),
        book_document(t + 5),
        kline_document(t),
        quality_document(t + 7, Some(btc()), QualityKind::TradeGap),
        quality_document(t + 8, None, QualityKind::Reconnect),
    ]
}

fn all_of(kind: Kind) -> Query {
    Query {
        kind,
        venue: None,
        symbol: None,
        from: 0,
        to: i64::MAX,
        limit: 10_000,
        order: Order::OldestFirst,
    }
}

/// A store under test and what it needs to live.
struct Harness {
    store: SharedStore,
    mongo: Option<(TestMongo, MongoStore)>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    fn embedded(retention: Retention) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention, EmbeddedOptions::default()).unwrap();
        Self {
            store: Arc::new(store),
            mongo: None,
            _dir: Some(dir),
        }
    }

    async fn mongo(retention: Retention) -> Self {
        let server = TestMongo::start();
        let store =
            MongoStore::connect(&MongoOptions::new(&server.uri, &server.database), retention)
                .await
                .unwrap();
        Self {
            store: Arc::new(store.clone()),
            mongo: Some((server, store)),
            _dir: None,
        }
    }

    async fn finish(self) {
        if let Some((_server, store)) = self.mongo {
            store.drop_database().await.unwrap();
        }
    }
}

async fn read(store: &SharedStore, query: Query) -> Vec<Document> {
    store.read(query).await.unwrap()
}

async fn every_kind_round_trips_exactly(h: &Harness) {
    let t = recent_minute();
    let documents = one_of_each(t);
    let summary = h.store.write(documents.clone().into()).await.unwrap();
    assert_eq!(
        (summary.written, summary.rejected.len()),
        (documents.len(), 0)
    );
    let mut back = Vec::new();
    for kind in Kind::ALL {
        back.extend(read(&h.store, all_of(kind)).await);
    }
    let key = |d: &Document| d.key().unwrap();
    let mut expected = documents;
    expected.sort_by_key(key);
    back.sort_by_key(key);
    assert_eq!(back, expected);
}

async fn the_same_batch_twice_leaves_one_copy_and_a_newer_version_replaces(h: &Harness) {
    let t = recent_minute();
    let batch: Arc<[Document]> = one_of_each(t).into();
    h.store.write(Arc::clone(&batch).into()).await.unwrap();
    h.store.write(Arc::clone(&batch).into()).await.unwrap();
    for kind in Kind::ALL {
        let expected = batch.iter().filter(|d| d.kind() == Some(kind)).count();
        assert_eq!(read(&h.store, all_of(kind)).await.len(), expected, "{kind}");
    }
    // An amended bar replaces the stored one; a repeated key inside one batch keeps the last.
    let amended = bar_document(t, true);
    let older = bar_document(t, false);
    h.store
        .write(vec![older, amended.clone()].into())
        .await
        .unwrap();
    assert_eq!(read(&h.store, all_of(Kind::Bars1m)).await, vec![amended]);
}

async fn range_reads_honour_bounds_order_and_limit(h: &Harness) {
    let t = recent_minute();
    let mut batch = Vec::new();
    for i in 0..10 {
        for venue in [Venue::BinanceSpot, Venue::BybitSpot] {
            batch.push(Document::Trade(trade(
                venue,
                TradeId::Number(1_000 + i),
                t + i as i64 * 100,
                "60000",
                "1",
                Side::Buy,
            )));
        }
    }
    // Two trades in the same millisecond: ids order them (numerically, 9 before 10).
    for id in [10, 9] {
        batch.push(Document::Trade(trade(
            Venue::BinanceSpot,
            TradeId::Number(id),
            t + 2_000,
            "1",
            "1",
            Side::Sell,
        )));
    }
    h.store.write(batch.into()).await.unwrap();
    let ids = |docs: Vec<Document>| -> Vec<String> {
        docs.into_iter()
            .map(|d| match d {
                Document::Trade(t) => {
                    assert_eq!(t.venue, Venue::BinanceSpot);
                    t.id.to_string()
                }
                other => panic!("not a trade: {other:?}"),
            })
            .collect()
    };
    let range = Query::range(Kind::Trades, Venue::BinanceSpot, btc(), t + 200, t + 700);
    assert_eq!(
        ids(read(&h.store, range.clone().limit(3)).await),
        ["1002", "1003", "1004"]
    );
    assert_eq!(
        ids(read(&h.store, range.clone().order(Order::NewestFirst).limit(3)).await),
        ["1006", "1005", "1004"]
    );
    assert_eq!(
        read(&h.store, range.clone()).await.len(),
        5,
        "to is exclusive"
    );
    let tie = Query::range(
        Kind::Trades,
        Venue::BinanceSpot,
        btc(),
        t + 2_000,
        t + 2_001,
    );
    assert_eq!(ids(read(&h.store, tie.clone()).await), ["9", "10"]);
    assert_eq!(
        ids(read(&h.store, tie.order(Order::NewestFirst)).await),
        ["10", "9"]
    );
    let other = Query::range(
        Kind::Trades,
        Venue::BinanceSpot,
        Symbol::new("ETHUSDT").unwrap(),
        0,
        i64::MAX,
    );
    assert!(read(&h.store, other).await.is_empty());
    for bad in [range.clone().limit(0), range.clone().limit(1_000_000), {
        let mut q = range.clone();
        q.from = q.to + 1;
        q
    }] {
        assert!(matches!(
            h.store.read(bad).await,
            Err(StoreError::Rejected(_))
        ));
    }
}

async fn a_document_the_store_cannot_take_is_rejected_alone(h: &Harness) {
    let t = recent_minute();
    let mut five_minute = match bar_document(t, false) {
        Document::Bar(bar) => (*bar).clone(),
        _ => unreachable!(),
    };
    five_minute.timeframe = Timeframe::M5;
    let batch = vec![Document::Bar(Arc::new(five_minute)), kline_document(t)];
    let summary = h.store.write(batch.into()).await.unwrap();
    assert_eq!(summary.written, 1);
    assert_eq!(summary.rejected.len(), 1);
    assert_eq!(summary.rejected[0].0, 0);
    assert_eq!(read(&h.store, all_of(Kind::Klines)).await.len(), 1);
}

/// Raw trades are insert-only: every id shape, size and optional field reads back exactly,
/// and a trade stored again (a retry, a replay, a repair), even with other contents, leaves
/// the first copy. The ids cover a number past `i64::MAX`, a UUID and free text; the sizes a
/// value whose units need more than 64 bits.
async fn raw_trades_are_insert_only_and_every_shape_reads_back(h: &Harness) {
    let t = recent_minute();
    let mut shapes = vec![
        trade(
            Venue::BinanceSpot,
            TradeId::Number(7),
            t,
            "0.000000000001",
            "1",
            Side::Buy,
        ),
        trade(
            Venue::BinanceSpot,
            TradeId::Number(u64::MAX),
            t + 1,
            "9999999.5",
            "123456789012.25",
            Side::Sell,
        ),
        trade(
            Venue::BybitLinear,
            TradeId::from_text("2f6e4a57-6c8b-5b7e-9d3a-0c1e2f3a4b5c"),
            t + 2,
            "60000.5",
            "0.001",
            Side::Buy,
        ),
        trade(
            Venue::BybitSpot,
            TradeId::from_text("abc-007"),
            t + 3,
            "1",
            "2",
            Side::Sell,
        ),
    ];
    shapes[0].fills = None;
    // The largest sequence and fill ids BSON holds (64-bit signed integers).
    shapes[1].sequence = Some(i64::MAX as u64);
    shapes[1].fills = Some(FillRange {
        first: i64::MAX as u64 - 5,
        last: i64::MAX as u64,
    });
    shapes[2].flags = TradeFlags::BLOCK_TRADE.with(TradeFlags::RETAIL_PRICE_IMPROVEMENT);
    shapes[2].sequence = Some(42);
    shapes[2].fills = None;
    let batch: Vec<Document> = shapes.iter().cloned().map(Document::Trade).collect();
    let summary = h.store.write(batch.into()).await.unwrap();
    assert_eq!((summary.written, summary.rejected.len()), (4, 0));
    // The same ids again, with other prices, and one new trade: the new one lands, the
    // stored ones stay as first written, and every trade of the batch counts as stored.
    let mut again: Vec<Document> = shapes
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.price = p("1234");
            Document::Trade(t)
        })
        .collect();
    let new = trade(
        Venue::BinanceSpot,
        TradeId::Number(8),
        t + 4,
        "5",
        "6",
        Side::Buy,
    );
    again.push(Document::Trade(new.clone()));
    let summary = h.store.write(again.into()).await.unwrap();
    assert_eq!((summary.written, summary.rejected.len()), (5, 0));
    let mut expected = shapes;
    expected.push(new);
    let back: Vec<Trade> = read(&h.store, all_of(Kind::Trades))
        .await
        .into_iter()
        .map(|d| match d {
            Document::Trade(t) => t,
            other => panic!("not a trade: {other:?}"),
        })
        .collect();
    assert_eq!(back, expected);
}

/// Fails a test that hangs (a server that stops answering) instead of waiting forever.
async fn within_a_minute(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test finishes within a minute");
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    let h = super::Harness::embedded(super::Retention::default());
                    super::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod mongodb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::within_a_minute(async {
                        let h = super::Harness::mongo(super::Retention::default()).await;
                        super::$name(&h).await;
                        h.finish().await;
                    })
                    .await;
                }
            )*
        }
    };
}

contract!(
    every_kind_round_trips_exactly,
    the_same_batch_twice_leaves_one_copy_and_a_newer_version_replaces,
    range_reads_honour_bounds_order_and_limit,
    a_document_the_store_cannot_take_is_rejected_alone,
    raw_trades_are_insert_only_and_every_shape_reads_back,
);

#[tokio::test]
async fn the_embedded_sweep_deletes_what_retention_expired_and_keeps_the_rest() {
    let retention = Retention {
        trades: Duration::from_secs(3_600),
        ..Retention::default()
    };
    let h = Harness::embedded(retention);
    let now = unix_millis();
    let old = now - 3_600_000 - 1;
    let kept = now - 3_600_000 + 1_000;
    let batch: Vec<Document> = [(1, old), (2, kept)]
        .into_iter()
        .map(|(id, time)| {
            Document::Trade(trade(
                Venue::BinanceSpot,
                TradeId::Number(id),
                time,
                "1",
                "1",
                Side::Buy,
            ))
        })
        .chain([bar_document(Timeframe::M1.start_of(old), false)])
        .collect();
    h.store.write(batch.into()).await.unwrap();
    let summary = h.store.sweep(now).await.unwrap();
    assert_eq!(summary.deleted, vec![(Kind::Trades, 1)]);
    let trades = read(&h.store, all_of(Kind::Trades)).await;
    assert_eq!(trades.len(), 1);
    assert!(matches!(&trades[0], Document::Trade(t) if t.id == TradeId::Number(2)));
    assert_eq!(
        read(&h.store, all_of(Kind::Bars1m)).await.len(),
        1,
        "bars keep 24 h"
    );
}

/// The trade sweep goes pair by pair: a pair written by an earlier opening of the file (found
/// when the store opens) is swept as well as one written since.
#[tokio::test]
async fn the_embedded_trade_sweep_covers_every_pair_including_those_of_an_earlier_run() {
    let dir = tempfile::tempdir().unwrap();
    let now = unix_millis();
    let old = now - Retention::default().millis(Kind::Trades) - 1;
    let eth = Symbol::new("ETHUSDT").unwrap();
    let open = || {
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap()
    };
    let first = open();
    let mut earlier = trade(
        Venue::BybitSpot,
        TradeId::Number(1),
        old,
        "1",
        "1",
        Side::Buy,
    );
    earlier.symbol = eth;
    first
        .write(vec![Document::Trade(earlier)].into())
        .await
        .unwrap();
    drop(first);
    let store = open();
    let batch: Vec<Document> = [(2, old), (3, now)]
        .into_iter()
        .map(|(id, time)| {
            Document::Trade(trade(
                Venue::BinanceSpot,
                TradeId::Number(id),
                time,
                "1",
                "1",
                Side::Buy,
            ))
        })
        .collect();
    store.write(batch.into()).await.unwrap();
    let summary = store.sweep(now).await.unwrap();
    assert_eq!(summary.deleted, vec![(Kind::Trades, 2)]);
    let left = store.read(all_of(Kind::Trades)).await.unwrap();
    assert!(
        matches!(&left[..], [Document::Trade(t)] if t.id == TradeId::Number(3)),
        "{left:?}"
    );
}

/// A file of schema 1 (raw trades as JSON bodies) is converted to the typed trade table when
/// opened: every trade reads back the same, and the other kinds are untouched.
#[tokio::test]
async fn an_embedded_file_of_schema_1_is_converted_and_keeps_every_trade() {
    let dir = tempfile::tempdir().unwrap();
    let t = recent_minute();
    let trades: Vec<Trade> = (0..150u64)
        .map(|i| {
            let mut trade = trade(
                if i % 2 == 0 {
                    Venue::BinanceSpot
                } else {
                    Venue::BybitLinear
                },
                if i % 2 == 0 {
                    TradeId::Number(1_000 + i)
                } else {
                    TradeId::from_text(&format!("2f6e4a57-6c8b-5b7e-9d3a-0c1e2f3a{i:04x}"))
                },
                t + i as i64,
                "60000.25",
                "0.5",
                Side::Sell,
            );
            trade.sequence = (i % 3 == 0).then_some(i);
            trade
        })
        .collect();
    {
        let file =
            rusqlite::Connection::open(dir.path().join(wadm_actors::storage::embedded::FILE_NAME))
                .unwrap();
        let mut sql = String::from("PRAGMA journal_mode = WAL; BEGIN;");
        for table in ["trades", "bars_1m"] {
            let unique = if table == "trades" {
                "venue, symbol, key"
            } else {
                "venue, symbol, time, key"
            };
            sql.push_str(&format!(
                "CREATE TABLE {table} (venue TEXT NOT NULL, symbol TEXT NOT NULL, key TEXT NOT NULL,
                     time INTEGER NOT NULL, doc TEXT NOT NULL);
                 CREATE UNIQUE INDEX {table}_key ON {table} ({unique});
                 CREATE INDEX {table}_range ON {table} (venue, symbol, time);
                 CREATE INDEX {table}_time ON {table} (time);"
            ));
        }
        sql.push_str("PRAGMA user_version = 1; COMMIT;");
        file.execute_batch(&sql).unwrap();
        for trade in &trades {
            let document = Document::Trade(trade.clone());
            let key = document.key().unwrap();
            file.execute(
                "INSERT INTO trades (venue, symbol, key, time, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    key.venue.as_str(),
                    key.symbol,
                    key.key,
                    key.time,
                    document.to_json_string().unwrap()
                ],
            )
            .unwrap();
        }
        let bar = bar_document(t, false);
        let key = bar.key().unwrap();
        file.execute(
            "INSERT INTO bars_1m (venue, symbol, key, time, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                key.venue.as_str(),
                key.symbol,
                key.key,
                key.time,
                bar.to_json_string().unwrap()
            ],
        )
        .unwrap();
    }
    let store =
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap();
    let back: Vec<Trade> = store
        .read(all_of(Kind::Trades))
        .await
        .unwrap()
        .into_iter()
        .map(|d| match d {
            Document::Trade(t) => t,
            other => panic!("not a trade: {other:?}"),
        })
        .collect();
    assert_eq!(back, trades);
    assert_eq!(
        store.read(all_of(Kind::Bars1m)).await.unwrap(),
        vec![bar_document(t, false)]
    );
    // Opened again, it is already converted.
    drop(store);
    let store =
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap();
    assert_eq!(store.read(all_of(Kind::Trades)).await.unwrap().len(), 150);
}

/// A file of schema 2 (the trade table keyed by id, with a time index) is converted to the
/// table keyed by time and id when opened: every trade reads back the same, the old index is
/// gone, and a trade written again is still ignored.
#[tokio::test]
async fn an_embedded_file_of_schema_2_is_converted_and_keeps_every_trade() {
    let dir = tempfile::tempdir().unwrap();
    let t = recent_minute();
    let documents: Vec<Document> = (0..120u64)
        .map(|i| {
            let (venue, id) = if i % 2 == 0 {
                (Venue::BinanceSpot, TradeId::Number(5_000 + i))
            } else {
                (
                    Venue::BybitLinear,
                    TradeId::from_text(&format!("3a6e4a57-6c8b-5b7e-9d3a-0c1e2f3a{i:04x}")),
                )
            };
            // Pairs of trades share a millisecond.
            Document::Trade(trade(
                venue,
                id,
                t + (i / 2) as i64,
                "60000.25",
                "0.5",
                Side::Buy,
            ))
        })
        .collect();
    let path = dir.path().join(wadm_actors::storage::embedded::FILE_NAME);
    {
        let store =
            EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default())
                .unwrap();
        store.write(documents.clone().into()).await.unwrap();
    }
    // The same rows in schema 2's layout.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "BEGIN; ALTER TABLE trades RENAME TO trades_new;
             CREATE TABLE trades (
                 venue TEXT NOT NULL, symbol TEXT NOT NULL, id NOT NULL, time INTEGER NOT NULL,
                 price NOT NULL, qty NOT NULL, side INTEGER NOT NULL, flags INTEGER NOT NULL,
                 event_time INTEGER NOT NULL, received_at INTEGER NOT NULL,
                 sequence INTEGER, fill_first INTEGER, fill_last INTEGER,
                 PRIMARY KEY (venue, symbol, id)) WITHOUT ROWID;
             CREATE INDEX trades_range ON trades (venue, symbol, time);
             INSERT INTO trades SELECT * FROM trades_new; DROP TABLE trades_new;
             PRAGMA user_version = 2; COMMIT;",
        )
        .unwrap();
    let store =
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap();
    let mut expected: Vec<Document> = documents.clone();
    expected.sort_by_key(|d| match d {
        Document::Trade(t) => (t.trade_time, t.venue),
        _ => unreachable!(),
    });
    // In time order; within a millisecond, numeric ids before UUIDs (SQLite's type order).
    assert_eq!(store.read(all_of(Kind::Trades)).await.unwrap(), expected);
    store.write(documents.into()).await.unwrap();
    assert_eq!(store.read(all_of(Kind::Trades)).await.unwrap().len(), 120);
    let file = rusqlite::Connection::open(&path).unwrap();
    let (version, indexes): (i64, i64) = (
        file.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap(),
        file.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trades' AND sql IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap(),
    );
    assert_eq!((version, indexes), (3, 0));
}

#[tokio::test]
async fn mongodb_ttl_indexes_carry_the_configured_seconds_and_follow_changes() {
    let server = TestMongo::start();
    let options = MongoOptions::new(&server.uri, &server.database);
    let first = MongoStore::connect(&options, Retention::default())
        .await
        .unwrap();
    let expected = |r: &Retention| {
        Kind::ALL
            .iter()
            .map(|&k| (k, Some(r.of(k).as_secs() as i64)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        first.ttl_seconds().await.unwrap(),
        expected(&Retention::default())
    );
    let changed = Retention {
        trades: Duration::from_secs(7_200),
        data_quality: Duration::from_secs(86_400),
        ..Retention::default()
    };
    let second = MongoStore::connect(&options, changed).await.unwrap();
    assert_eq!(second.ttl_seconds().await.unwrap(), expected(&changed));
    second.drop_database().await.unwrap();
}

#[tokio::test]
async fn mongodb_rejects_a_value_bson_cannot_hold_and_keeps_the_rest() {
    let h = Harness::mongo(Retention::default()).await;
    let t = recent_minute();
    let mut book = match book_document(t) {
        Document::Book(book) => (*book).clone(),
        _ => unreachable!(),
    };
    book.update_id = u64::MAX; // beyond BSON's signed 64-bit integers
    let batch = vec![Document::Book(Arc::new(book)), book_document(t + 1)];
    let summary = h.store.write(batch.into()).await.unwrap();
    assert_eq!((summary.written, summary.rejected.len()), (1, 1));
    assert_eq!(read(&h.store, all_of(Kind::BookSnapshots)).await.len(), 1);
    h.finish().await;
}

/// Set in the child of the crash test: the directory it writes batches into until killed.
const CRASH_CHILD_DIR: &str = "WADM_TEST_CRASH_CHILD_DIR";
const CRASH_BATCH: u64 = 500;

/// A process killed (SIGKILL) while writing batches leaves every batch whole or absent.
#[test]
fn a_batch_lands_whole_or_not_at_all_when_the_process_is_killed_mid_write() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(dir) = std::env::var(CRASH_CHILD_DIR) {
        // The child: write numbered batches forever; the parent kills it at some point.
        let store = EmbeddedStore::open(
            dir.as_ref(),
            Retention::default(),
            EmbeddedOptions::default(),
        )
        .unwrap();
        let t = recent_minute();
        for batch in 0.. {
            let documents: Vec<Document> = (0..CRASH_BATCH)
                .map(|i| {
                    Document::Trade(trade(
                        Venue::BinanceSpot,
                        TradeId::Number(batch * 1_000 + i),
                        t + i as i64,
                        "60000",
                        "1",
                        Side::Buy,
                    ))
                })
                .collect();
            runtime.block_on(store.write(documents.into())).unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_batch_lands_whole_or_not_at_all_when_the_process_is_killed_mid_write",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reader_store = || {
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap()
    };
    // Wait (with a deadline) until a good number of batches have landed, then kill.
    let file = dir.path().join(wadm_actors::storage::embedded::FILE_NAME);
    let store = std::cell::RefCell::new(None);
    runtime.block_on(common::live::wait_until(
        Duration::from_secs(60),
        "20 batches written by the child",
        || {
            if file.exists() && store.borrow().is_none() {
                // Opening can meet the writer's lock ("database is locked"): try again on
                // the next check.
                *store.borrow_mut() = EmbeddedStore::open(
                    dir.path(),
                    Retention::default(),
                    EmbeddedOptions::default(),
                )
                .ok();
            }
            let opened: Option<EmbeddedStore> = store.borrow().clone();
            async move {
                match opened {
                    Some(s) => {
                        s.read(all_of(Kind::Trades).limit(100_000))
                            .await
                            .map_or(0, |d| d.len())
                            >= 20 * CRASH_BATCH as usize
                    }
                    None => false,
                }
            }
        },
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(store);
    let store = reader_store();
    let ids: Vec<u64> = runtime
        .block_on(store.read(all_of(Kind::Trades).limit(100_000)))
        .unwrap()
        .into_iter()
        .map(|d| match d {
            Document::Trade(t) => t.id.as_number().unwrap(),
            _ => unreachable!(),
        })
        .collect();
    let mut per_batch = std::collections::BTreeMap::<u64, u64>::new();
    for id in &ids {
        *per_batch.entry(id / 1_000).or_default() += 1;
    }
    assert!(per_batch.len() >= 20);
    for (batch, count) in &per_batch {
        assert_eq!(*count, CRASH_BATCH, "batch {batch} is partial");
    }
    let batches: Vec<u64> = per_batch.keys().copied().collect();
    assert_eq!(
        batches,
        (0..batches.len() as u64).collect::<Vec<_>>(),
        "batches land in order, none missing"
    );
}
