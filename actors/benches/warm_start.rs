//! `cargo bench -p wadm-actors --bench warm_start [-- --symbols 20 --rounds 5]`: how long a
//! start takes to rebuild every aggregator from the embedded store.
//!
//! Setup: an embedded store holding, per symbol, the last 24 h of 1-minute bars and the
//! last hour of raw trades, produced by the real aggregation core from a random walk of
//! `--trades-per-minute` trades (BTCUSDT-like prices on 10-dollar rows, so a bar has a few
//! to a dozen rows). Each round then does what a daemon start does: reads every pair's
//! history a few pairs at a time ([`warm::preload`]) and rebuilds each aggregator from it
//! ([`AggregatorCore::restore`]). Printed: the median and the spread of the rounds.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use wadm_actors::aggregator::warm::{self, LoadRequest};
use wadm_actors::aggregator::{
    AggregatorCore, AggregatorSettings, CoreOutput, Record, RowSpec, Timeframe,
};
use wadm_actors::model::{
    FillRange, Price, Qty, QualityKind, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId,
    UnixNanos, Venue,
};
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
use wadm_actors::storage::{Document, Retention, SharedStore, Store};

struct Options {
    symbols: usize,
    rounds: usize,
    trades_per_minute: u64,
}

fn options() -> Options {
    let mut options = Options {
        symbols: 20,
        rounds: 5,
        trades_per_minute: 200,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--symbols" => options.symbols = pair[1].parse().unwrap(),
            "--rounds" => options.rounds = pair[1].parse().unwrap(),
            "--trades-per-minute" => options.trades_per_minute = pair[1].parse().unwrap(),
            _ => {}
        }
    }
    options
}

fn symbol(index: usize) -> Symbol {
    Symbol::new(&format!("SYM{index}USDT")).unwrap()
}

fn settings() -> Arc<AggregatorSettings> {
    Arc::new(AggregatorSettings::default())
}

/// Fills the store with a day of one symbol's bars and an hour of its raw trades.
async fn fill(store: &EmbeddedStore, index: usize, now: i64, per_minute: u64) -> (usize, usize) {
    let venue = Venue::BinanceSpot;
    let mut core = AggregatorCore::new(
        venue,
        symbol(index),
        settings(),
        RowSpec::Fixed("10".parse().unwrap()),
    );
    let mut rng = fastrand::Rng::with_seed(index as u64);
    let start = Timeframe::M1.start_of(now - 24 * 3_600_000);
    let mut price: i64 = 6_000_000; // cents
    let mut id = 1_000u64;
    let (mut bars, mut trades) = (0, 0);
    let mut batch = Vec::new();
    let step = 60_000 / per_minute.max(1) as i64;
    let mut time = start;
    while time < now {
        price += rng.i64(-300..=300);
        let trade = Trade {
            venue,
            symbol: symbol(index),
            id: TradeId::Number(id),
            price: Price::from_units(i128::from(price) * 10_000_000_000),
            qty: Qty::from_units(i128::from(rng.u64(1..5_000)) * 100_000_000),
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
        };
        id += 1;
        core.tick(time);
        core.on_trades(vec![trade]);
        for output in core.drain() {
            match output {
                CoreOutput::Record(Record::Bar(bar)) if bar.timeframe == Timeframe::M1 => {
                    bars += 1;
                    batch.push(Document::Bar(bar));
                }
                CoreOutput::Record(Record::Trades(list)) if time >= now - 3_600_000 => {
                    trades += list.len();
                    batch.extend(list.iter().cloned().map(Document::Trade));
                }
                _ => {}
            }
        }
        if batch.len() >= 5_000 {
            store
                .write(std::mem::take(&mut batch).into())
                .await
                .unwrap();
        }
        time += step;
    }
    core.report_open_bars();
    for output in core.drain() {
        if let CoreOutput::Record(Record::Bar(bar)) = output
            && bar.timeframe == Timeframe::M1
        {
            bars += 1;
            batch.push(Document::Bar(bar));
        }
    }
    store.write(batch.into()).await.unwrap();
    (bars, trades)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let retention = Retention {
        trades: Duration::from_secs(2 * 3_600),
        ..Retention::default()
    };
    let embedded = EmbeddedStore::open(dir.path(), retention, EmbeddedOptions::default()).unwrap();
    let now = wadm_supervision::unix_millis();
    let started = Instant::now();
    let (mut bars, mut trades) = (0, 0);
    for index in 0..options.symbols {
        let (b, t) = runtime.block_on(fill(&embedded, index, now, options.trades_per_minute));
        bars += b;
        trades += t;
    }
    println!(
        "store: {} symbols, {bars} 1-minute bars, {trades} raw trades, filled in {:.1} s",
        options.symbols,
        started.elapsed().as_secs_f64()
    );
    let store: SharedStore = Arc::new(embedded);
    let requests: Vec<LoadRequest> = (0..options.symbols)
        .map(|index| LoadRequest {
            venue: Venue::BinanceSpot,
            symbol: symbol(index),
            raw_trades: true,
            recent: 1_000,
        })
        .collect();
    let (mut reads, mut rebuilds, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..options.rounds {
        let started = Instant::now();
        let loaded = runtime.block_on(warm::preload(
            &store,
            requests.clone(),
            now,
            Duration::from_secs(600),
        ));
        let read = started.elapsed();
        let rebuild_started = Instant::now();
        let mut restored_bars = 0;
        for (index, request) in requests.iter().enumerate() {
            let history = loaded[&(request.venue, request.symbol)]
                .as_ref()
                .unwrap()
                .history
                .clone();
            let mut core = AggregatorCore::new(
                request.venue,
                symbol(index),
                settings(),
                RowSpec::Fixed("10".parse().unwrap()),
            );
            let warm = core.restore(history, QualityKind::Downtime);
            assert_eq!(warm.outcome, "warm");
            restored_bars += warm.bars;
        }
        let rebuild = rebuild_started.elapsed();
        println!(
            "round {round}: read {:.0} ms, rebuild {:.0} ms, total {:.0} ms ({restored_bars} bars)",
            read.as_secs_f64() * 1e3,
            rebuild.as_secs_f64() * 1e3,
            (read + rebuild).as_secs_f64() * 1e3
        );
        reads.push(read);
        rebuilds.push(rebuild);
        totals.push(read + rebuild);
    }
    let (lowest, highest) = (
        totals.iter().min().copied().unwrap_or_default(),
        totals.iter().max().copied().unwrap_or_default(),
    );
    println!(
        "warm start of {} symbols x 24 h: median {:.2} s (read {:.2} s, rebuild {:.2} s), rounds {:.2} to {:.2} s",
        options.symbols,
        median(totals).as_secs_f64(),
        median(reads).as_secs_f64(),
        median(rebuilds).as_secs_f64(),
        lowest.as_secs_f64(),
        highest.as_secs_f64()
    );
}
