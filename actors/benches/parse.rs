//! `cargo bench --bench parse`: frames per second for every frame kind, through the simd-json
//! venue parsers and, in the same run on the same frames, through the serde_json baseline that
//! produces the same normalized types.
//!
//! Frames are the documented fixtures plus a few realistic larger ones (a 20-level depth diff,
//! a 50-level Bybit snapshot, a 50-trade Bybit batch), since production frames are bigger than
//! the documentation's examples.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wadm_actors::connection::parse::baseline::SerdeJsonParser;
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, FrameParser, parser_for};
use wadm_actors::model::{UnixNanos, Venue};

fn fixture(file: &str, kind: &str) -> String {
    let path = format!("{}/../tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|value| value["kind"] == kind)
        .map(|value| value["frame"].as_str().unwrap().to_owned())
        .unwrap()
}

fn levels(count: usize, base: f64, step: f64) -> String {
    let mut out = String::from("[");
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            "[\"{:.2}\",\"{:.6}\"]",
            base + step * i as f64,
            0.125 + i as f64 * 0.5
        )
        .unwrap();
    }
    out.push(']');
    out
}

fn binance_depth_20() -> String {
    format!(
        r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1672515782136,"s":"BTCUSDT","U":42000001,"u":42000020,"b":{},"a":{}}}}}"#,
        levels(10, 96000.0, -0.01),
        levels(10, 96000.01, 0.01)
    )
}

fn bybit_snapshot_50() -> String {
    format!(
        r#"{{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{{"s":"BTCUSDT","b":{},"a":{},"u":18521288,"seq":7961638724}},"cts":1672304484976}}"#,
        levels(50, 96000.0, -0.1),
        levels(50, 96000.1, 0.1)
    )
}

fn bybit_trades_50() -> String {
    let mut items = Vec::new();
    for i in 0..50 {
        items.push(format!(
            r#"{{"T":{},"s":"BTCUSDT","S":"{}","v":"0.{:03}","p":"{:.2}","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb60{:04x}","BT":false,"seq":{}}}"#,
            1672304486865u64 + i,
            if i % 3 == 0 { "Sell" } else { "Buy" },
            i + 1,
            96000.0 + i as f64 * 0.1,
            i,
            1783284617u64 + i
        ));
    }
    format!(
        r#"{{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{}]}}"#,
        items.join(",")
    )
}

fn cases() -> Vec<(&'static str, Venue, String)> {
    vec![
        (
            "binance_spot/trade",
            Venue::BinanceSpot,
            fixture("binance-spot.jsonl", "trade"),
        ),
        (
            "binance_spot/agg_trade",
            Venue::BinanceSpot,
            fixture("binance-spot.jsonl", "aggTrade"),
        ),
        (
            "binance_spot/depth_update",
            Venue::BinanceSpot,
            fixture("binance-spot.jsonl", "depthUpdate"),
        ),
        (
            "binance_spot/depth_update_20_levels",
            Venue::BinanceSpot,
            binance_depth_20(),
        ),
        (
            "binance_spot/partial_depth",
            Venue::BinanceSpot,
            fixture("binance-spot.jsonl", "partialDepth"),
        ),
        (
            "binance_spot/kline",
            Venue::BinanceSpot,
            fixture("binance-spot.jsonl", "kline"),
        ),
        (
            "binance_spot/ack",
            Venue::BinanceSpot,
            fixture("binance-spot.jsonl", "ack"),
        ),
        (
            "binance_spot/server_shutdown",
            Venue::BinanceSpot,
            fixture("binance-spot.jsonl", "serverShutdown"),
        ),
        (
            "binance_usdm/agg_trade",
            Venue::BinanceUsdm,
            fixture("binance-usdm.jsonl", "aggTrade"),
        ),
        (
            "binance_usdm/depth_update",
            Venue::BinanceUsdm,
            fixture("binance-usdm.jsonl", "depthUpdate"),
        ),
        (
            "binance_usdm/kline",
            Venue::BinanceUsdm,
            fixture("binance-usdm.jsonl", "kline"),
        ),
        (
            "bybit/public_trade_2",
            Venue::BybitLinear,
            fixture("bybit.jsonl", "publicTrade"),
        ),
        (
            "bybit/public_trade_50",
            Venue::BybitLinear,
            bybit_trades_50(),
        ),
        (
            "bybit/orderbook_snapshot",
            Venue::BybitLinear,
            fixture("bybit.jsonl", "orderbookSnapshot"),
        ),
        (
            "bybit/orderbook_snapshot_50_levels",
            Venue::BybitLinear,
            bybit_snapshot_50(),
        ),
        (
            "bybit/orderbook_delta",
            Venue::BybitLinear,
            fixture("bybit.jsonl", "orderbookDelta"),
        ),
        (
            "bybit/kline",
            Venue::BybitLinear,
            fixture("bybit.jsonl", "kline"),
        ),
        ("bybit/ack", Venue::BybitSpot, fixture("bybit.jsonl", "ack")),
        (
            "bybit/pong",
            Venue::BybitSpot,
            fixture("bybit.jsonl", "pong"),
        ),
    ]
}

fn bench_parsers(c: &mut Criterion) {
    for (name, venue, frame) in cases() {
        let bytes = frame.as_bytes();
        let mut simd = parser_for(venue, DEFAULT_MAX_FRAME_BYTES);
        let mut baseline = SerdeJsonParser::new(venue, DEFAULT_MAX_FRAME_BYTES);
        // Both must accept the frame and agree, or the comparison would be meaningless.
        assert_eq!(
            simd.parse(bytes, UnixNanos(1)).unwrap(),
            baseline.parse(bytes, UnixNanos(1)).unwrap(),
            "{name}"
        );
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("simd_json", bytes.len()), |b| {
            b.iter(|| simd.parse(black_box(bytes), UnixNanos(1)).unwrap())
        });
        group.bench_function(BenchmarkId::new("serde_json", bytes.len()), |b| {
            b.iter(|| baseline.parse(black_box(bytes), UnixNanos(1)).unwrap())
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(5));
    targets = bench_parsers
}
criterion_main!(benches);
