//! `cargo bench -p wadm-actors --bench range`: the time the API takes to answer a 30-day
//! range profile of one symbol from the embedded store, and the stored documents' sizes
//! (behind the default retention of 1-hour and 1-day bars).
//!
//! The data: 32 days of a BTCUSDT-like market ending now, a random walk of 3,000 trades an
//! hour (about 0.6 % hourly and 2.8 % daily ranges at 95,000, as BTC in 2024-2025) on the
//! configured 10-dollar rows; 1-minute bars for the last 26 hours, 1-hour bars for all of it,
//! 1-day bars summed from the hours (`BarRecord::rollup`), as the daemon stores them. The
//! answer is asked through `Api::handle` (routing, parameters, store reads, the sum, the
//! profile, JSON), without the socket.
//!
//! Cases: 30 days ending two days ago (1-day bars and 1-hour bars at the edges), the same
//! from a store without 1-day bars (every hour read), and 30 days up to now (days, hours,
//! the stored minutes of the last hour).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::cast_precision_loss)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use wadm_actors::aggregator::params::ProfileParams;
use wadm_actors::aggregator::{AggregatorSnapshot, Bar, BarRecord, BarState, RowGrid, Timeframe};
use wadm_actors::api::{Api, ApiSettings, ApiSources, RateLimit, Request};
use wadm_actors::boards::{BookBoard, SnapshotBoard};
use wadm_actors::model::{
    Price, Qty, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};
use wadm_actors::persistence::PersistenceInputs;
use wadm_actors::quality::QualitySink;
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
use wadm_actors::storage::{Document, Kind, Retention, SharedStore, Store};
use wadm_supervision::StatusRegistry;
use warp::http::{HeaderMap, Method};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
const DAYS: i64 = 32;
const TRADES_PER_HOUR: u64 = 3_000;

/// A small deterministic generator (xorshift64*), so every run stores the same market.
struct Walk {
    state: u64,
    price: i128,
    id: u64,
}

impl Walk {
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The next trade at `time`: price moves up to 9 dollars (in cents), 0.0001 to 0.5 BTC.
    fn trade(&mut self, time: i64) -> Trade {
        let r = self.next();
        let step = (r % 1_801) as i128 - 900;
        self.price = (self.price + step).max(1_000_000);
        self.id += 1;
        Trade {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            id: TradeId::Number(self.id),
            // cents to 12-decimal units
            price: Price::from_units(self.price * 10_000_000_000),
            qty: Qty::from_units(((r >> 20) % 5_000 + 1) as i128 * 100_000_000),
            side: if (r >> 40).is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            trade_time: TimestampMs(time),
            event_time: TimestampMs(time),
            received_at: UnixNanos(time * 1_000_000),
            flags: TradeFlags::NONE,
            sequence: None,
            fills: None,
        }
    }
}

fn record(timeframe: Timeframe, bar: &Bar, grid: &RowGrid, cvd: Qty) -> Arc<BarRecord> {
    Arc::new(BarRecord::build(
        Venue::BinanceSpot,
        Symbol::new("BTCUSDT").unwrap(),
        timeframe,
        bar,
        grid,
        cvd,
        &ProfileParams::default(),
        Vec::new(),
        BarState::Closed,
    ))
}

/// The documents of `DAYS` days ending with the current hour: (minutes of the last 26 h,
/// hours, days).
fn market(now: i64) -> (Vec<Document>, Vec<Document>, Vec<Document>) {
    let grid = RowGrid::new("10".parse().unwrap()).unwrap();
    let mut walk = Walk {
        state: 0x9E37_79B9_7F4A_7C15,
        price: 9_500_000, // 95,000.00 in cents
        id: 0,
    };
    let end = Timeframe::H1.start_of(now);
    let start = Timeframe::D1.start_of(end - DAYS * DAY);
    let (mut minutes, mut hours, mut days) = (Vec::new(), Vec::new(), Vec::new());
    let mut day_hours: Vec<Arc<BarRecord>> = Vec::new();
    let mut cvd = Qty::ZERO;
    let mut hour = start;
    while hour < end {
        if hour % DAY == 0 {
            cvd = Qty::ZERO;
        }
        let mut hour_bar = Bar::new(hour, hour + HOUR);
        for minute in (hour..hour + HOUR).step_by(MINUTE as usize) {
            let mut minute_bar = Bar::new(minute, minute + MINUTE);
            let per_minute = TRADES_PER_HOUR / 60;
            for i in 0..per_minute {
                let trade = walk.trade(minute + (i as i64 * MINUTE) / per_minute as i64);
                minute_bar.add(&grid, &trade);
                hour_bar.add(&grid, &trade);
            }
            cvd += minute_bar.delta();
            if minute >= now - 26 * HOUR {
                minutes.push(Document::Bar(record(
                    Timeframe::M1,
                    &minute_bar,
                    &grid,
                    cvd,
                )));
            }
        }
        let stored = record(Timeframe::H1, &hour_bar, &grid, cvd);
        day_hours.push(Arc::clone(&stored));
        hours.push(Document::Bar(stored));
        hour += HOUR;
        if hour % DAY == 0 {
            let day = BarRecord::rollup(Timeframe::D1, hour - DAY, &day_hours)
                .unwrap()
                .unwrap();
            days.push(Document::Bar(Arc::new(day)));
            day_hours.clear();
        }
    }
    (minutes, hours, days)
}

fn api(store: SharedStore, retention: Retention, last: Price) -> Arc<Api> {
    let btc = Symbol::new("BTCUSDT").unwrap();
    let pairs = vec![(Venue::BinanceSpot, btc)];
    let (persistence, _records, _quality) = PersistenceInputs::new(10, 10, true);
    let settings = ApiSettings {
        rate_limit: RateLimit {
            per_minute: std::num::NonZeroU32::new(10_000_000).unwrap(),
            burst: std::num::NonZeroU32::new(10_000_000).unwrap(),
        },
        ..ApiSettings::default()
    };
    // The live side: the grid and the last trade (the level routes measure from it).
    let snapshots = Arc::new(SnapshotBoard::new([(
        Venue::BinanceSpot,
        btc,
        ProfileParams::default(),
    )]));
    let now = TimestampMs::now().as_millis();
    let mut live = AggregatorSnapshot::empty(Venue::BinanceSpot, btc, ProfileParams::default());
    live.grid = RowGrid::new("10".parse().unwrap());
    live.published_at = now;
    live.recent_trades = Arc::from(vec![Trade {
        venue: Venue::BinanceSpot,
        symbol: btc,
        id: TradeId::Number(u64::MAX / 2),
        price: last,
        qty: Qty::from_int(1),
        side: Side::Buy,
        trade_time: TimestampMs(now),
        event_time: TimestampMs(now),
        received_at: UnixNanos(now * 1_000_000),
        flags: TradeFlags::NONE,
        sequence: None,
        fills: None,
    }]);
    snapshots.publish(live);
    Api::new(
        ApiSources {
            registry: Arc::new(StatusRegistry::new()),
            snapshots,
            books: Arc::new(BookBoard::new(pairs.iter().copied())),
            quality: QualitySink::new(16),
            store,
            retention,
            persistence,
            pairs,
            metrics: Arc::new(String::new),
            version: "bench",
        },
        settings,
        "127.0.0.1:8920".parse().unwrap(),
    )
    .unwrap()
}

fn request(path: &str, query: String) -> Request {
    Request {
        method: Method::GET,
        path: path.to_owned(),
        query,
        headers: HeaderMap::new(),
        remote: None,
    }
}

/// The body of an answer.
async fn body_bytes(response: warp::reply::Response) -> Vec<u8> {
    use hyper::body::Body as _;
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(data) = frame.unwrap().into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    bytes
}

fn mean_json_bytes(documents: &[Document]) -> (f64, f64) {
    let bytes: usize = documents
        .iter()
        .map(|d| d.to_json_string().unwrap().len())
        .sum();
    let rows: usize = documents
        .iter()
        .map(|d| match d {
            Document::Bar(b) => b.report.footprint.len(),
            _ => 0,
        })
        .sum();
    let n = documents.len().max(1) as f64;
    (bytes as f64 / n, rows as f64 / n)
}

fn file_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn range(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let now = TimestampMs::now().as_millis();
    let (minutes, hours, days) = market(now);
    for (name, documents, kind) in [
        ("1m", &minutes, Kind::Bars1m),
        ("1h", &hours, Kind::Bars1h),
        ("1d", &days, Kind::Bars1d),
    ] {
        let (bytes, rows) = mean_json_bytes(documents);
        let per_month = match kind {
            Kind::Bars1m => 43_200.0,
            Kind::Bars1h => 720.0,
            _ => 30.0,
        };
        println!(
            "{name} bars: {} documents, {rows:.0} rows and {:.1} KiB of JSON each on average; {:.1} MiB of JSON per symbol per month",
            documents.len(),
            bytes / 1024.0,
            bytes * per_month / 1_048_576.0
        );
    }
    let mut stores = Vec::new();
    for with_days in [true, false] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let store =
            EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default())
                .unwrap();
        let mut all: Vec<Document> = minutes.iter().chain(&hours).cloned().collect();
        if with_days {
            all.extend(days.iter().cloned());
        }
        for chunk in all.chunks(500) {
            runtime
                .block_on(store.write(chunk.to_vec().into()))
                .unwrap();
        }
        if with_days {
            println!(
                "embedded store file with {} minutes, {} hours and {} days: {:.1} MiB",
                minutes.len(),
                hours.len(),
                days.len(),
                file_bytes(dir.path()) as f64 / 1_048_576.0
            );
        }
        stores.push((dir, Arc::new(store) as SharedStore));
    }
    let day_end = Timeframe::D1.start_of(now) - DAY;
    let thirty_days = format!("from={}&to={}", day_end - 30 * DAY, day_end);
    let to_now = format!("from={}", Timeframe::D1.start_of(now) - 29 * DAY - 7 * HOUR);
    let last = match hours.last() {
        Some(Document::Bar(bar)) => bar.close.unwrap(),
        _ => unreachable!(),
    };
    let with_days = api(Arc::clone(&stores[0].1), Retention::default(), last);
    // Without 1-day bars, and a retention that says none are kept: every hour is read.
    let hours_only = api(
        Arc::clone(&stores[1].1),
        Retention {
            bars_1d: std::time::Duration::from_secs(1),
            ..Retention::default()
        },
        last,
    );
    let mut group = c.benchmark_group("range_profile");
    group.sample_size(20);
    let profile = "/api/v1/volume-profile/BTCUSDT";
    for (name, api, path, query) in [
        (
            "30d_ending_2d_ago/days_and_hours",
            &with_days,
            profile,
            &thirty_days,
        ),
        (
            "30d_ending_2d_ago/hours_only",
            &hours_only,
            profile,
            &thirty_days,
        ),
        (
            "30d_to_now/days_hours_minutes",
            &with_days,
            profile,
            &to_now,
        ),
    ] {
        let answer = runtime.block_on(api.handle(request(path, query.clone())));
        assert_eq!(answer.status(), 200, "{name}");
        let body = runtime.block_on(body_bytes(answer));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        println!(
            "{name}: {} trades, {} rows, {} bytes, sources {}",
            json["profile"]["trades"],
            json["profile"]["rows"].as_array().map_or(0, Vec::len),
            body.len(),
            json["sources"]
        );
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(api.handle(request(path, query.clone()))));
        });
    }
    group.finish();
    // The level routes over the same month (each sums many sessions).
    let mut group = c.benchmark_group("levels");
    group.sample_size(10);
    for (name, path) in [
        ("sessions", "/api/v1/sessions/BTCUSDT"),
        ("naked_pocs_20d", "/api/v1/naked-pocs/BTCUSDT"),
        ("context", "/api/v1/context/BTCUSDT"),
    ] {
        let answer = runtime.block_on(with_days.handle(request(path, String::new())));
        assert_eq!(answer.status(), 200, "{name}");
        let body = runtime.block_on(body_bytes(answer));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        println!(
            "{name}: {} bytes, {} naked POCs",
            body.len(),
            json["naked_pocs"].as_array().map_or(0, Vec::len)
        );
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(with_days.handle(request(path, String::new()))));
        });
    }
    group.finish();
}

criterion_group!(benches, range);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
