//! `wadm backfill`: the venues' daily trade archives, served by the simulated exchange from
//! its own history, imported into the store as the bars the daemon builds, exactly; twice
//! with identical stores; refused on a checksum mismatch; resumed after an interruption
//! (a download cut short continues with `Range`); and recorded holes inside the imported
//! days marked repaired.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::live::{config_for, env_for, sym};
use wadm::archive::source::DownloadProgress;
use wadm::archive::{
    DAY_MS, DayOutcome, ImportProgress, ImportRequest, ImportSummary, Silent, format_day,
};
use wadm::config::Config;
use wadm::simulator::{SimConfig, SimHistory, Simulator};
use wadm_actors::aggregator::params::ProfileParams;
use wadm_actors::aggregator::{Bar, BarRecord, WindowReport};
use wadm_actors::model::{
    DataQualityEvent, HoleState, Qty, QualityKind, Side, TimestampMs, Trade, TradeFlags, Venue,
};
use wadm_actors::storage::{Document, Kind, MAX_READ_LIMIT, Query, SharedStore};

/// The archives' trades a minute (so a day is 28,800 trades).
const PER_MINUTE: u32 = 20;

/// Bars, raw trades and quality events kept long enough for yesterday to stay.
const KEEP: &[(&str, &str)] = &[
    ("WADM__RETENTION__BARS_1M", "72h"),
    ("WADM__RETENTION__RAW_TRADES", "72h"),
];

/// A simulator of `venues` with history covering the last two whole UTC days.
async fn simulator(venues: &[Venue]) -> Simulator {
    let mut config = SimConfig::local(venues, &["BTCUSDT"]);
    config.record_trades = true;
    config.history = Some(SimHistory {
        span: Duration::from_secs(3 * 24 * 3_600),
        trades_per_minute: PER_MINUTE,
    });
    Simulator::start(config).await.unwrap()
}

fn yesterday() -> i64 {
    TimestampMs::now().as_millis().div_euclid(DAY_MS) * DAY_MS - DAY_MS
}

fn request(venue: Venue, from: i64, to: i64, cache: &Path) -> ImportRequest {
    ImportRequest {
        venue,
        symbol: sym("BTCUSDT"),
        from,
        to,
        cache_dir: cache.to_path_buf(),
        force: false,
        keep_files: false,
    }
}

async fn store_of(config: &Config) -> SharedStore {
    wadm::app::open_store(config).await.unwrap()
}

async fn import(
    config: &Config,
    request: &ImportRequest,
    progress: &dyn ImportProgress,
    cancel: Arc<AtomicBool>,
) -> ImportSummary {
    wadm::archive::import_into_configured_store(config, request, progress, cancel)
        .await
        .unwrap()
}

/// Every document of the pair over `[from, to)`, as (kind, JSON text), in key order.
async fn contents(store: &SharedStore, venue: Venue, from: i64, to: i64) -> Vec<(Kind, String)> {
    let mut all = Vec::new();
    for kind in Kind::ALL {
        let query = Query::range(kind, venue, sym("BTCUSDT"), from, to).limit(MAX_READ_LIMIT);
        for document in store.read(query).await.unwrap() {
            all.push((kind, document.to_json_string().unwrap()));
        }
    }
    all
}

async fn bars(store: &SharedStore, venue: Venue, kind: Kind, from: i64, to: i64) -> Vec<BarRecord> {
    let query = Query::range(kind, venue, sym("BTCUSDT"), from, to).limit(MAX_READ_LIMIT);
    store
        .read(query)
        .await
        .unwrap()
        .into_iter()
        .map(|document| match document {
            Document::Bar(bar) => (*bar).clone(),
            other => panic!("not a bar: {other:?}"),
        })
        .collect()
}

/// The simulator's trades of `[from, to)` as the trades the stream would carry.
fn generated(sim: &Simulator, venue: Venue, from: i64, to: i64) -> Vec<Trade> {
    sim.totals(venue, sym("BTCUSDT"))
        .recorded
        .iter()
        .filter(|t| (from..to).contains(&t.time))
        .map(|t| common::live::stream_trade(t, venue, sym("BTCUSDT")))
        .collect()
}

/// Each stored bar's report equals the report computed directly from the generated trades of
/// its period (CVD: the session's, from the day's start at 00:00 UTC); every generated trade
/// is in exactly one 1-minute bar and one 1-hour bar.
fn assert_bars_exact(
    sim: &Simulator,
    venue: Venue,
    day: i64,
    stored: &[BarRecord],
    per_day: usize,
) {
    assert_eq!(stored.len(), per_day, "bars of the day");
    let params = ProfileParams::default();
    let trades = generated(sim, venue, day, day + DAY_MS);
    let mut counted = 0;
    for bar in stored {
        let grid = bar.grid().unwrap();
        let (start, end) = (bar.report.start, bar.report.end);
        let mut direct = Bar::new(start, end);
        let mut cvd = Qty::ZERO;
        for trade in trades.iter().filter(|t| t.trade_time.as_millis() < end) {
            match trade.side {
                Side::Buy => cvd += trade.qty,
                Side::Sell => cvd -= trade.qty,
            }
            if trade.trade_time.as_millis() >= start {
                direct.add(&grid, trade);
                counted += 1;
            }
        }
        let expected = WindowReport::of(&direct, &grid, params.value_area, &params.imbalance, cvd);
        assert_eq!(bar.report, expected, "bar {} of {venue}", format_day(start));
        assert!(!bar.amended && !bar.partial);
    }
    assert_eq!(counted, trades.len(), "each trade in one bar");
}

/// The archive of yesterday imported by the `wadm backfill` command: every 1-minute and
/// 1-hour bar equals the direct computation from the generated trades, and the raw trades are
/// stored; a second import (forced) leaves the store byte for byte identical, and a third
/// (not forced) skips the day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_archives_import_exactly_and_twice_identically() {
    let venue = Venue::BinanceSpot;
    let sim = simulator(&[venue]).await;
    let env = env_for(&sim, &[venue], &["BTCUSDT"], KEEP);
    let config = common::live::config_from(env.clone());
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let day = yesterday();

    let output = std::process::Command::new(common::wadm_binary())
        .args([
            "backfill",
            "--venue",
            venue.as_str(),
            "--symbol",
            "BTCUSDT",
            "--from",
            &format_day(day),
            "--to",
            &format_day(day),
            "--cache-dir",
            &cache.path().display().to_string(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(&env)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let outcome = &summary["days"][0];
    let generated_trades = generated(&sim, venue, day, day + DAY_MS).len() as u64;
    assert_eq!(outcome["outcome"], "imported", "{summary}");
    assert_eq!(outcome["trades"], generated_trades, "{summary}");
    assert_eq!(outcome["raw_trades"], generated_trades, "{summary}");
    assert_eq!(outcome["bars_1h"], 24, "{summary}");
    assert_eq!(
        outcome["sha256"].as_str().map(str::len),
        Some(64),
        "{summary}"
    );
    assert!(
        !cache
            .path()
            .join("binance-spot/BTCUSDT")
            .join(format!("BTCUSDT-aggTrades-{}.zip", format_day(day)))
            .exists(),
        "the file is deleted after import"
    );

    let store = store_of(&config).await;
    let minutes = bars(&store, venue, Kind::Bars1m, day, day + DAY_MS).await;
    let traded_minutes = {
        let mut minutes: Vec<i64> = generated(&sim, venue, day, day + DAY_MS)
            .iter()
            .map(|t| t.trade_time.as_millis().div_euclid(60_000))
            .collect();
        minutes.dedup();
        minutes.len()
    };
    assert_bars_exact(&sim, venue, day, &minutes, traded_minutes);
    let hours = bars(&store, venue, Kind::Bars1h, day, day + DAY_MS).await;
    assert_bars_exact(&sim, venue, day, &hours, 24);
    let first = contents(&store, venue, day, day + DAY_MS).await;
    drop(store);

    let mut again = request(venue, day, day, cache.path());
    again.force = true;
    let summary = import(&config, &again, &Silent, Arc::default()).await;
    assert_eq!(summary.days[0].outcome, "imported", "{summary:?}");
    let store = store_of(&config).await;
    assert!(
        first == contents(&store, venue, day, day + DAY_MS).await,
        "a second import changes nothing"
    );
    drop(store);

    let summary = import(
        &config,
        &request(venue, day, day, cache.path()),
        &Silent,
        Arc::default(),
    )
    .await;
    assert_eq!(summary.days[0].outcome, "skipped", "{summary:?}");
    assert!(summary.complete());
    sim.stop().await;
}

/// A `.CHECKSUM` that does not match the file: the day is refused, nothing of it is stored,
/// the file is deleted; with the right checksum the next run imports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_whose_checksum_does_not_match_is_refused() {
    let venue = Venue::BinanceUsdm;
    let sim = simulator(&[venue]).await;
    let config = config_for(&sim, &[venue], &["BTCUSDT"], KEEP);
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let day = yesterday();

    sim.corrupt_archive_checksums(true);
    let summary = import(
        &config,
        &request(venue, day, day, cache.path()),
        &Silent,
        Arc::default(),
    )
    .await;
    let outcome = &summary.days[0];
    assert_eq!(outcome.outcome, "failed", "{summary:?}");
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("does not match the published")),
        "{summary:?}"
    );
    assert!(!summary.complete());
    let store = store_of(&config).await;
    assert!(
        contents(&store, venue, day, day + DAY_MS).await.is_empty(),
        "nothing stored"
    );
    let folder = cache.path().join("binance-usdm/BTCUSDT");
    assert!(
        std::fs::read_dir(&folder).unwrap().next().is_none(),
        "no file nor marker is kept"
    );

    sim.corrupt_archive_checksums(false);
    let summary = import(
        &config,
        &request(venue, day, day, cache.path()),
        &Silent,
        Arc::default(),
    )
    .await;
    assert_eq!(summary.days[0].outcome, "imported", "{summary:?}");
    let hours = bars(&store, venue, Kind::Bars1h, day, day + DAY_MS).await;
    assert_bars_exact(&sim, venue, day, &hours, 24);
    sim.stop().await;
}

/// Stops the import (as Ctrl-C does) when the second day's reading begins.
#[derive(Debug)]
struct StopInSecondDay {
    cancel: Arc<AtomicBool>,
    days: AtomicU64,
}

impl DownloadProgress for StopInSecondDay {
    fn start(&self, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&self, _: u64) {}
}

impl ImportProgress for StopInSecondDay {
    fn reading(&self, _: &str) {
        if self.days.fetch_add(1, Ordering::Relaxed) == 1 {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }

    fn read(&self, _: u64) {}

    fn finished(&self, _: &DayOutcome) {}
}

/// Interrupted in its second day, an import keeps the first day; the next run skips it,
/// imports the second, and a download cut short is continued with a `Range` request. The
/// bars of both days hold every generated trade once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_import_resumes_where_it_stopped() {
    let venue = Venue::BinanceSpot;
    let sim = simulator(&[venue]).await;
    let config = config_for(&sim, &[venue], &["BTCUSDT"], KEEP);
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (first, second) = (yesterday() - DAY_MS, yesterday());

    let cancel = Arc::new(AtomicBool::new(false));
    let stopper = StopInSecondDay {
        cancel: Arc::clone(&cancel),
        days: AtomicU64::new(0),
    };
    let summary = import(
        &config,
        &request(venue, first, second, cache.path()),
        &stopper,
        cancel,
    )
    .await;
    assert!(summary.interrupted, "{summary:?}");
    assert_eq!(summary.days.len(), 1, "{summary:?}");
    assert_eq!(summary.days[0].outcome, "imported");

    // The second day's download cut short at half: the next run asks for the rest.
    let folder = cache.path().join("binance-spot/BTCUSDT");
    let name = format!("BTCUSDT-aggTrades-{}.zip", format_day(second));
    let bytes = sim.archive_bytes(venue, sym("BTCUSDT"), second);
    std::fs::write(
        folder.join(format!("{name}.part")),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let _ = std::fs::remove_file(folder.join(&name));
    let ranged_before = sim.archive_counters(venue).ranged;

    let summary = import(
        &config,
        &request(venue, first, second, cache.path()),
        &Silent,
        Arc::default(),
    )
    .await;
    let outcomes: Vec<&str> = summary.days.iter().map(|d| d.outcome.as_str()).collect();
    assert_eq!(outcomes, ["skipped", "imported"], "{summary:?}");
    assert_eq!(sim.archive_counters(venue).ranged, ranged_before + 1);

    let store = store_of(&config).await;
    for day in [first, second] {
        let hours = bars(&store, venue, Kind::Bars1h, day, day + DAY_MS).await;
        assert_eq!(hours.len(), 24);
        let stored: u64 = hours.iter().map(|h| h.report.trades).sum();
        let (buy, sell) = hours.iter().fold((Qty::ZERO, Qty::ZERO), |(b, s), h| {
            (b + h.report.buy_volume, s + h.report.sell_volume)
        });
        let trades = generated(&sim, venue, day, day + DAY_MS);
        let expected = trades
            .iter()
            .fold((Qty::ZERO, Qty::ZERO), |(b, s), t| match t.side {
                Side::Buy => (b + t.qty, s),
                Side::Sell => (b, s + t.qty),
            });
        assert_eq!(
            stored,
            3 * trades.len() as u64,
            "fills of {}",
            format_day(day)
        );
        assert_eq!((buy, sell), expected, "volumes of {}", format_day(day));
    }
    sim.stop().await;
}

/// Bybit linear's archive (a header, newest first, times in seconds): the bars equal the
/// direct computation, and a hole recorded inside the day is marked repaired with the count
/// of archive trades in its range; a hole reaching past the imported days stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_archives_import_exactly_and_close_the_holes_inside_them() {
    let venue = Venue::BybitLinear;
    let sim = simulator(&[venue]).await;
    let config = config_for(&sim, &[venue], &["BTCUSDT"], KEEP);
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let day = yesterday();

    let hole = |from: i64, to: i64| {
        let mut event = DataQualityEvent::now(
            venue,
            Some(sym("BTCUSDT")),
            QualityKind::Downtime,
            "stopped",
        );
        event.from_time = Some(TimestampMs(from));
        event.to_time = Some(TimestampMs(to));
        event.time = TimestampMs(to + 1_000);
        event
    };
    let inside = hole(day + 3_600_000, day + 3 * 3_600_000);
    let across = hole(day + DAY_MS - 60_000, day + DAY_MS + 60_000);
    let store = store_of(&config).await;
    store
        .write(
            vec![
                Document::Quality(inside.clone()),
                Document::Quality(across.clone()),
            ]
            .into(),
        )
        .await
        .unwrap();

    let summary = import(
        &config,
        &request(venue, day, day, cache.path()),
        &Silent,
        Arc::default(),
    )
    .await;
    assert_eq!(summary.days[0].outcome, "imported", "{summary:?}");
    assert_eq!(summary.days[0].holes_repaired, 1, "{summary:?}");
    assert_eq!(summary.days[0].sha256, None, "Bybit publishes no checksum");

    let hours = bars(&store, venue, Kind::Bars1h, day, day + DAY_MS).await;
    let bybit: Vec<BarRecord> = hours;
    // Bybit bars count trades one by one: compare against the generated trades as Bybit
    // trades (one fill each).
    let params = ProfileParams::default();
    let trades = generated(&sim, venue, day, day + DAY_MS);
    assert_eq!(bybit.len(), 24);
    let mut cvd = Qty::ZERO;
    for bar in &bybit {
        let grid = bar.grid().unwrap();
        let mut direct = Bar::new(bar.report.start, bar.report.end);
        for trade in trades
            .iter()
            .filter(|t| (bar.report.start..bar.report.end).contains(&t.trade_time.as_millis()))
        {
            let mut one = trade.clone();
            one.fills = None;
            one.flags = TradeFlags::NONE;
            direct.add(&grid, &one);
            match trade.side {
                Side::Buy => cvd += trade.qty,
                Side::Sell => cvd -= trade.qty,
            }
        }
        let expected = WindowReport::of(&direct, &grid, params.value_area, &params.imbalance, cvd);
        assert_eq!(bar.report, expected);
    }

    let events: BTreeMap<i64, DataQualityEvent> = store
        .read(Query::range(Kind::DataQuality, venue, sym("BTCUSDT"), day, i64::MAX).limit(100))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|d| match d {
            Document::Quality(event) => Some((event.from_time?.as_millis(), event)),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    let repaired = &events[&inside.from_time.unwrap().as_millis()];
    assert_eq!(repaired.state, Some(HoleState::Repaired));
    let within = trades
        .iter()
        .filter(|t| (day + 3_600_000..=day + 3 * 3_600_000).contains(&t.trade_time.as_millis()))
        .count() as u64;
    assert_eq!(repaired.recovered, Some(within));
    assert_eq!(
        events[&across.from_time.unwrap().as_millis()].state,
        Some(HoleState::Open)
    );
    sim.stop().await;
}
