//! `cargo bench -p wadm-actors --bench storage`: documents per second into the embedded
//! store (SQLite, on the VM's disk) in batches, for raw trades (the typed, insert-only
//! table) and for 1-minute bars with full profile and order-flow fields, as new documents
//! (inserts; trades also as 80 pairs interleaved, as the daemon's batches hold them) and as
//! the same documents again (trades: ignored as already stored; bars:
//! upserts replacing them). Every batch is one transaction, as persistence writes it.
//!
//! MongoDB: no server can run here (the tests' stand-in is a Python scan, not a benchmark), so
//! `mongodb_encoding` measures what the daemon's own CPU pays per document: building a batch's
//! write commands (raw trades as one unordered insert, bars as upserts) and serializing them
//! to the BSON bytes the driver sends.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use wadm_actors::aggregator::params::ProfileParams;
use wadm_actors::aggregator::{Bar, BarRecord, BarState, RowGrid, Timeframe};
use wadm_actors::model::{
    Price, Qty, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
use wadm_actors::storage::mongo;
use wadm_actors::storage::{Batch, Document, Retention, Store};

/// 2023-11-14T00:00:00Z.
const DAY0: i64 = 1_699_920_000_000;

static NEXT: AtomicU64 = AtomicU64::new(1);

fn trade(id: u64) -> Trade {
    let time = DAY0 + (id as i64) * 7;
    Trade {
        venue: Venue::BinanceSpot,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        id: TradeId::Number(id),
        price: Price::from_units(60_000_000_000_000_000 + (id as i128 % 997) * 100_000_000_000),
        qty: Qty::from_units(1_000_000_000 + (id as i128 % 5_000) * 1_000_000),
        side: if id.is_multiple_of(3) {
            Side::Sell
        } else {
            Side::Buy
        },
        trade_time: TimestampMs(time),
        event_time: TimestampMs(time + 2),
        received_at: UnixNanos(time * 1_000_000 + 512),
        flags: TradeFlags::AGGREGATE,
        sequence: None,
        fills: None,
    }
}

fn trades(count: usize) -> Vec<Document> {
    let first = NEXT.fetch_add(count as u64, Ordering::Relaxed);
    (first..first + count as u64)
        .map(|id| Document::Trade(trade(id)))
        .collect()
}

/// Twenty symbols, as the pipeline bench streams them on each venue.
const SYMBOLS: [&str; 20] = [
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT",
    "DOTUSDT", "LINKUSDT", "AVAXUSDT", "TRXUSDT", "ATOMUSDT", "NEARUSDT", "APTUSDT", "ARBUSDT",
    "OPUSDT", "SUIUSDT", "FILUSDT", "ETCUSDT",
];

/// Trades of 80 pairs (4 venues x 20 symbols) interleaved, as the daemon's batches hold
/// them: each pair's ids and times rise, and every batch touches every pair's end of the
/// table and of its time index.
fn mixed_trades(count: usize) -> Vec<Document> {
    let pairs = Venue::ALL.len() * SYMBOLS.len();
    let first = NEXT.fetch_add(count as u64, Ordering::Relaxed);
    (first..first + count as u64)
        .map(|n| {
            let pair = n as usize % pairs;
            let mut trade = trade(n);
            trade.venue = Venue::ALL[pair % Venue::ALL.len()];
            trade.symbol = Symbol::new(SYMBOLS[pair / Venue::ALL.len()]).unwrap();
            Document::Trade(trade)
        })
        .collect()
}

/// 1-minute bars of about 40 traded rows each (a busy BTCUSDT minute on 10-dollar rows).
fn bars(count: usize) -> Vec<Document> {
    let first = NEXT.fetch_add(count as u64, Ordering::Relaxed);
    let grid = RowGrid::new("1".parse().unwrap()).unwrap();
    (first..first + count as u64)
        .map(|n| {
            let start = DAY0 + n as i64 * 60_000;
            let mut bar = Bar::of(Timeframe::M1, start);
            for i in 0..400u64 {
                let mut t = trade(n * 1_000 + i);
                t.trade_time = TimestampMs(start + i as i64 * 100);
                t.price = Price::from_units(
                    60_000_000_000_000_000 + ((i * 7919) % 40) as i128 * 1_000_000_000_000,
                );
                bar.add(&grid, &t);
            }
            let record = BarRecord::build(
                Venue::BinanceSpot,
                Symbol::new("BTCUSDT").unwrap(),
                Timeframe::M1,
                &bar,
                &grid,
                Qty::from_units(12_000_000_000_000),
                &ProfileParams::default(),
                Vec::new(),
                BarState::Closed,
            );
            Document::Bar(Arc::new(record))
        })
        .collect()
}

fn embedded(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let store =
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap();
    let mut group = c.benchmark_group("embedded");
    group.sample_size(20);
    type Make = fn(usize) -> Vec<Document>;
    let cases: [(&str, usize, Make); 7] = [
        ("trades_insert", 100, trades),
        ("trades_insert", 1_000, trades),
        ("trades_insert", 10_000, trades),
        ("trades_insert_80_pairs", 1_000, mixed_trades),
        ("trades_insert_80_pairs", 10_000, mixed_trades),
        ("bars_1m_insert", 10, bars),
        ("bars_1m_insert", 100, bars),
    ];
    for (name, size, make) in cases {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("{name}/{size}"), |b| {
            b.iter_batched(
                || Batch::from(make(size)),
                |batch| runtime.block_on(store.write(batch)).unwrap(),
                BatchSize::PerIteration,
            );
        });
    }
    // The same batch again (a retried batch, a replay): trades already stored are ignored,
    // bars replace themselves (amended bars).
    let again = Batch::from(trades(1_000));
    runtime.block_on(store.write(again.clone())).unwrap();
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("trades_repeat/1000", |b| {
        b.iter(|| runtime.block_on(store.write(again.clone())).unwrap());
    });
    let again = Batch::from(bars(100));
    runtime.block_on(store.write(again.clone())).unwrap();
    group.throughput(Throughput::Elements(100));
    group.bench_function("bars_1m_upsert/100", |b| {
        b.iter(|| runtime.block_on(store.write(again.clone())).unwrap());
    });
    group.finish();
}

fn mongodb_encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("mongodb_encoding");
    group.sample_size(20);
    type Make = fn(usize) -> Vec<Document>;
    let cases: [(&str, usize, Make); 2] = [
        ("trades_insert", 1_000, trades),
        ("bars_1m_upsert", 100, bars),
    ];
    for (name, size, make) in cases {
        let batch = make(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("{name}/{size}"), |b| {
            b.iter(|| {
                let (commands, _) = mongo::commands(&batch);
                let mut bytes = Vec::new();
                for command in &commands {
                    command.body.to_writer(&mut bytes).unwrap();
                }
                bytes.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, embedded, mongodb_encoding);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
