//! `cargo bench -p wadm-actors --bench aggregator`: trades per second through the indicator
//! maths alone (the per-symbol engine), through the aggregation core (engine, counts, recent
//! trades, records), and through the aggregator actor (mailbox, route accounting, snapshots
//! published every 250 ms); the cost of a published snapshot and of a 24-hour profile; and
//! the memory one symbol's 24 hours of state takes.
//!
//! The trade stream is a random walk of 1-3 trades per 10 ms around 60 000 on a 0.1 tick
//! with rows of 10 ticks, sizes of 0.00001-0.05 (5 000 distinct sizes, as real
//! streams have thousands): BTCUSDT at a busy pace.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use ractor::Actor;
use wadm_actors::aggregator::engine::{Engine, EngineParams, Rolling};
use wadm_actors::aggregator::order_flow::{ImbalanceParams, SessionAnchor};
use wadm_actors::aggregator::{
    AggregatorActor, AggregatorArgs, AggregatorCore, AggregatorMsg, AggregatorSettings, RowGrid,
    RowSpec, WindowReport,
};
use wadm_actors::boards::SnapshotBoard;
use wadm_actors::model::{
    FillRange, Price, Qty, Ratio, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos,
    Venue,
};
use wadm_actors::quality::QualitySink;
use wadm_actors::routing::RoutingTable;
use wadm_supervision::{StatusRegistry, unix_millis};

const TRADES: usize = 100_000;
/// 2023-11-14T00:00:00Z.
const DAY0: i64 = 1_699_920_000_000;

fn grid() -> RowGrid {
    RowGrid::new("1".parse().unwrap()).unwrap()
}

/// `count` trades from `start`, 1-3 per 10 ms.
fn stream(count: usize, start: i64) -> Vec<Trade> {
    let mut rng = fastrand::Rng::with_seed(7);
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let mut ticks: i64 = 600_000;
    let mut time = start;
    (0..count as u64)
        .map(|id| {
            if rng.u8(0..3) == 0 {
                time += 10;
            }
            match rng.u8(0..10) {
                0 => ticks += 1,
                1 => ticks -= 1,
                _ => {}
            }
            Trade {
                venue: Venue::BinanceSpot,
                symbol,
                id: TradeId::Number(id),
                price: Price::from_units(i128::from(ticks) * 100_000_000_000),
                qty: Qty::from_units(i128::from(rng.u32(1..=5_000)) * 10_000_000),
                side: if rng.bool() { Side::Buy } else { Side::Sell },
                trade_time: TimestampMs(time),
                event_time: TimestampMs(time),
                received_at: UnixNanos(0),
                flags: TradeFlags::AGGREGATE,
                sequence: None,
                fills: Some(FillRange {
                    first: id * 2,
                    last: id * 2 + 1,
                }),
            }
        })
        .collect()
}

fn params() -> EngineParams {
    EngineParams::new(grid(), SessionAnchor::default())
}

fn maths(c: &mut Criterion) {
    let trades = stream(TRADES, DAY0);
    let mut group = c.benchmark_group("aggregator");
    group.throughput(Throughput::Elements(TRADES as u64));
    group.sample_size(20);
    group.bench_function("engine_trades", |b| {
        b.iter_batched(
            || Engine::new(params()),
            |mut engine| {
                for trade in &trades {
                    black_box(engine.add_trade(trade));
                }
                engine
            },
            BatchSize::LargeInput,
        );
    });
    let settings = Arc::new(AggregatorSettings::default());
    let row = RowSpec::Fixed("1".parse().unwrap());
    for batch in [1, 50] {
        let batches: Vec<Vec<Trade>> = trades.chunks(batch).map(<[Trade]>::to_vec).collect();
        group.bench_function(format!("core_trades_batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    let core = AggregatorCore::new(
                        Venue::BinanceSpot,
                        Symbol::new("BTCUSDT").unwrap(),
                        Arc::clone(&settings),
                        row,
                    );
                    (core, batches.clone())
                },
                |(mut core, batches)| {
                    for batch in batches {
                        core.on_trades(batch);
                        core.drain().for_each(drop);
                    }
                    core
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

/// A core holding six hours of the stream, for the cost of what the API reads.
fn loaded_core(hours: i64) -> AggregatorCore {
    let count = (hours * 3_600_000 / 10 * 2) as usize;
    let mut core = AggregatorCore::new(
        Venue::BinanceSpot,
        Symbol::new("BTCUSDT").unwrap(),
        Arc::new(AggregatorSettings::default()),
        RowSpec::Fixed("1".parse().unwrap()),
    );
    for chunk in stream(count, DAY0).chunks(1_000) {
        core.on_trades(chunk.to_vec());
        core.drain().for_each(drop);
    }
    core
}

fn reads(c: &mut Criterion) {
    let mut core = loaded_core(6);
    let mut group = c.benchmark_group("aggregator_reads");
    group.sample_size(20);
    group.bench_function("snapshot_6h_of_trades", |b| {
        b.iter(|| black_box(core.snapshot(1, DAY0)));
    });
    let engine = core.engine().unwrap();
    let window = engine.rolling_window(Rolling::H24).unwrap();
    let imbalance = ImbalanceParams::default();
    let share = Ratio::from_units(700_000_000_000);
    group.bench_function("window_report_24h", |b| {
        b.iter(|| {
            black_box(WindowReport::of(
                &window,
                &grid(),
                share,
                &imbalance,
                Qty::ZERO,
            ))
        });
    });
    group.finish();
}

fn actor(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let table = RoutingTable::new([(Venue::BinanceSpot, symbol)], 1_000_000);
    let route = table.slot(Venue::BinanceSpot, symbol).unwrap();
    let args = AggregatorArgs {
        venue: Venue::BinanceSpot,
        symbol,
        generation: 1,
        route: Arc::clone(&route),
        status: StatusRegistry::new().entry("aggregator", "bench"),
        settings: Arc::new(AggregatorSettings::default()),
        row: RowSpec::Fixed("1".parse().unwrap()),
        snapshots: Arc::new(SnapshotBoard::default()),
        records: None,
        quality: QualitySink::new(100),
        store: None,
        preloaded: None,
    };
    let (actor, _) = runtime
        .block_on(Actor::spawn(None, AggregatorActor, args))
        .unwrap();
    let template = stream(TRADES, 0);
    let mut group = c.benchmark_group("aggregator");
    group.throughput(Throughput::Elements(TRADES as u64));
    group.sample_size(10);
    // Each pass sends new trade ids: repeated ids would be refused as duplicates, and the
    // bench would time the refusals.
    let mut offset = 0;
    for batch in [1, 50] {
        group.bench_function(format!("actor_trades_batch_{batch}"), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        offset += TRADES as u64;
                        // Trades are timed now, as live, so the clock never makes them late.
                        let now = unix_millis();
                        let messages: Vec<Vec<Trade>> = template
                            .chunks(batch)
                            .map(|chunk| {
                                chunk
                                    .iter()
                                    .map(|t| Trade {
                                        id: match t.id {
                                            TradeId::Number(id) => TradeId::Number(id + offset),
                                            ref other => other.clone(),
                                        },
                                        trade_time: TimestampMs(now),
                                        ..t.clone()
                                    })
                                    .collect()
                            })
                            .collect();
                        let start = Instant::now();
                        for message in messages {
                            route.send(AggregatorMsg::Trades(message)).unwrap();
                        }
                        ractor::call!(actor, AggregatorMsg::GetCounts).unwrap();
                        elapsed += start.elapsed();
                    }
                    elapsed
                })
            });
        });
    }
    group.finish();
    actor.stop(None);
}

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Prints how much memory one symbol's 24 hours of state takes: a day of minutes, each with
/// 500 trades spread over 20 rows around a drifting price (about 8 trades a second on
/// BTCUSDT with $10 rows, in a busy market).
fn memory() {
    let mut rng = fastrand::Rng::with_seed(11);
    let template = stream(1, DAY0).remove(0);
    let before = resident_bytes();
    let mut engine = Engine::new(params());
    let mut center: i64 = 600_000;
    let mut id = 0;
    for minute in 0..1_440 {
        center += rng.i64(-50..=50);
        for i in 0..500 {
            id += 1;
            let ticks = center + rng.i64(-100..100);
            engine.add_trade(&Trade {
                id: TradeId::Number(id),
                price: Price::from_units(i128::from(ticks) * 100_000_000_000),
                qty: Qty::from_units(i128::from(rng.u32(1..=5_000)) * 10_000_000),
                side: if rng.bool() { Side::Buy } else { Side::Sell },
                trade_time: TimestampMs(DAY0 + minute * 60_000 + i * 100),
                ..template.clone()
            });
        }
    }
    let after = resident_bytes();
    let minutes = engine.minute_bars(0, i64::MAX).count();
    let rows: usize = engine
        .minute_bars(0, i64::MAX)
        .map(|bar| bar.footprint.len())
        .sum();
    let window_rows = engine
        .rolling_window(Rolling::H24)
        .map_or(0, |w| w.footprint.len());
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "memory: one symbol's 24 h engine state ({minutes} minute bars, {rows} minute rows, a 24 h window of {window_rows} rows, 720000 trades): {:.1} MiB resident",
            after.saturating_sub(before) as f64 / (1024.0 * 1024.0)
        );
    }
    black_box(engine);
}

criterion_group!(benches, maths, reads, actor);

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
