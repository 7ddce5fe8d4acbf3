//! Continuity across stops, against the simulated exchange and both stores: a daemon stopped
//! and started again on the same store answers exactly what a daemon that never stopped
//! answers, says which hole the stop left, and counts every trade once whatever path brought
//! it (a venue repeating trades on reconnect, overlapping sockets, a warm start over stored
//! trades).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::live::{LONG, sym, wait_until};
use common::mongo::TestMongo;
use serde_json::Value;
use wadm::simulator::{Misbehaviour, SimConfig, Simulator};
use wadm_actors::model::{Qty, Side, Venue};
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
use wadm_actors::storage::{Document, Kind, MAX_READ_LIMIT, Query, Retention, Store};

/// Binance spot (contiguous aggregate ids) and Bybit linear (UUID ids).
const VENUES: [Venue; 2] = [Venue::BinanceSpot, Venue::BybitLinear];

/// Trades a simulated trade stands for: the simulator's aggregate trades hold three fills.
fn fills(venue: Venue) -> u64 {
    if matches!(venue, Venue::BinanceSpot | Venue::BinanceUsdm) {
        3
    } else {
        1
    }
}

/// The tests read every window many times a second.
const UNLIMITED: &[(&str, &str)] = &[
    ("WADM__API__REQUESTS_PER_MINUTE", "1000000"),
    ("WADM__API__BURST", "100000"),
];

/// Where a daemon keeps its data.
enum StoreKind {
    Embedded,
    Mongo(TestMongo),
}

impl StoreKind {
    fn env(&self, dir: &Path) -> Vec<(String, String)> {
        match self {
            StoreKind::Embedded => vec![(
                "WADM__STORAGE__EMBEDDED__PATH".into(),
                dir.join("data").display().to_string(),
            )],
            StoreKind::Mongo(mongo) => vec![
                ("MONGODB_URI".into(), mongo.uri.clone()),
                (
                    "WADM__STORAGE__MONGODB__DATABASE".into(),
                    mongo.database.clone(),
                ),
            ],
        }
    }
}

/// The `wadm` binary, and the base URL of its API.
struct Child {
    process: common::Daemon,
    base: String,
}

fn spawn(sim: &Simulator, store: &StoreKind, dir: &Path) -> Child {
    let mut env = common::live::env_for(sim, &VENUES, &["BTCUSDT"], UNLIMITED);
    env.insert("WADM__LOG__FORMAT".into(), "json".into());
    env.insert("WADM__LOG__LEVEL".into(), "info".into());
    env.extend(store.env(dir));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut process = common::Daemon::start(&["run"], &env, dir);
    let line = process.wait_for_line("wadm started", LONG);
    let log: Value = serde_json::from_str(&line).unwrap();
    let addr = log["api"].as_str().unwrap().to_owned();
    Child {
        process,
        base: format!("http://{addr}"),
    }
}

/// A GET that must succeed; a 503 (the store did not answer in time: the MongoDB stand-in is
/// slow on a loaded machine) is asked again until the deadline.
async fn get(base: &str, path: &str) -> Value {
    let deadline = std::time::Instant::now() + LONG;
    let answer = loop {
        let answer = reqwest::get(format!("{base}{path}")).await.unwrap();
        if answer.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE
            || std::time::Instant::now() > deadline
        {
            break answer;
        }
    };
    let status = answer.status();
    if !status.is_success() {
        let body = answer.text().await.unwrap_or_default();
        panic!("{path}: {status}: {body}");
    }
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

/// The trades (fills) a daemon's rolling day holds for `venue`, 0 before the first.
async fn day_trades(base: &str, venue: Venue) -> u64 {
    let answer = reqwest::get(format!(
        "{base}/api/v1/volume-profile/BTCUSDT?venue={venue}&window=24h"
    ))
    .await
    .unwrap();
    if !answer.status().is_success() {
        return 0;
    }
    let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    body["profile"]["trades"].as_u64().unwrap()
}

/// Waits until the daemon's rolling day holds every trade the simulator generated.
async fn wait_caught_up(base: &str, sim: &Simulator) {
    for venue in VENUES {
        let generated = sim.totals(venue, sym("BTCUSDT")).recorded.len() as u64 * fills(venue);
        wait_until(
            LONG,
            &format!("{base} {venue}: {generated} trades"),
            || async { day_trades(base, venue).await == generated },
        )
        .await;
    }
}

async fn wait_up(base: &str) {
    wait_until(LONG, &format!("{base} feeds up"), || async {
        reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

/// Every live answer of a pair, without what depends on the answering daemon's history
/// (coverage, the moment of the answer).
async fn answers(base: &str, venue: Venue) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for window in ["1h", "4h", "24h", "session", "1m", "5m", "15m", "1d"] {
        let path = format!("/api/v1/volume-profile/BTCUSDT?venue={venue}&window={window}");
        let mut body = get(base, &path).await;
        body.as_object_mut().unwrap().remove("coverage");
        body.as_object_mut().unwrap().remove("as_of");
        all.push((path, body));
    }
    for period in ["1m", "5m", "15m", "1h"] {
        let path = format!("/api/v1/order-flow/current/BTCUSDT?venue={venue}&period={period}");
        let mut body = get(base, &path).await;
        body.as_object_mut().unwrap().remove("coverage");
        body.as_object_mut().unwrap().remove("as_of");
        // Mark prices, open interest and liquidations pushed while a daemon is down are not
        // repaired (the venues keep no per-minute history of them to ask for): a restarted
        // daemon's derivatives part misses the downtime, which its coverage states.
        body.as_object_mut().unwrap().remove("derivatives");
        all.push((path, body));
    }
    all
}

/// Asserts that two daemons answer alike, reading both again when a minute boundary passed
/// between their reads.
async fn assert_same_answers(restarted: &str, reference: &str) {
    for venue in VENUES {
        let mut tries = 0;
        loop {
            let (a, b) = (
                answers(restarted, venue).await,
                answers(reference, venue).await,
            );
            if a == b {
                assert!(
                    a.iter()
                        .any(|(_, body)| body["profile"]["trades"].as_u64() > Some(0)),
                    "answers with data"
                );
                break;
            }
            tries += 1;
            let differs: Vec<&String> = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| x != y)
                .map(|((path, _), _)| path)
                .collect();
            assert!(
                tries < 3,
                "{venue}: the restarted daemon differs on {differs:?}:\n{a:#?}\nthe reference:\n{b:#?}"
            );
        }
    }
}

/// Waits until the wall clock is in the minute after the one `at` (ms) is in, plus `slack`.
async fn wait_next_minute(at: i64, slack: i64) {
    let target = at - at.rem_euclid(60_000) + 60_000 + slack;
    wait_until(Duration::from_secs(90), "the next minute", || async {
        wadm_supervision::unix_millis() >= target
    })
    .await;
}

/// A daemon stopped with SIGTERM and started again on the same store, beside a daemon that
/// never stopped, both on one simulated stream paused over the restart: every window, the
/// session with its CVD and developing POC, every developing bar and its footprint are
/// equal. The venue repeats its last 500 trades when the restarted daemon subscribes: they
/// are in the store already and are not counted again. The stop is a downtime hole in the
/// restarted daemon's coverage, and only windows holding it are incomplete.
async fn restart_equals_never_stopping(store: StoreKind) {
    let mut config = SimConfig::local(&VENUES, &["BTCUSDT"]);
    config.record_trades = true;
    config.gated = true;
    let sim = Simulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reference = common::live::daemon_for(&sim, &VENUES, &["BTCUSDT"], UNLIMITED).await;
    let reference_base = format!("http://{}", reference.api_addr);
    let first = spawn(&sim, &store, dir.path());
    wait_up(&first.base).await;
    wait_up(&reference_base).await;
    for venue in VENUES {
        common::live::wait_streaming(&reference, venue).await;
    }

    // Part 1, then a pause in which the first daemon stops.
    sim.start_markets().await;
    wait_until(LONG, "part 1", || async {
        VENUES
            .iter()
            .all(|&v| sim.totals(v, sym("BTCUSDT")).recorded.len() > 300)
    })
    .await;
    sim.pause_markets().await;
    wait_caught_up(&first.base, &sim).await;
    wait_caught_up(&reference_base, &sim).await;
    for venue in VENUES {
        sim.misbehave(venue, Misbehaviour::RepeatTradesOnSubscribe { count: 500 })
            .await;
    }
    first.process.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, logs) = tokio::task::spawn_blocking(move || first.process.wait_exit(LONG))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{logs}");

    // The same store, again: the state comes back before the feeds do.
    let second = spawn(&sim, &store, dir.path());
    wait_up(&second.base).await;
    let status = get(&second.base, "/api/v1/status").await;
    for aggregator in status["aggregators"].as_array().unwrap() {
        assert_eq!(aggregator["warm_start"]["outcome"], "warm", "{aggregator}");
        assert!(aggregator["warm_start"]["bars"].as_u64() >= Some(1));
    }
    wait_caught_up(&second.base, &sim).await;
    for venue in VENUES {
        sim.misbehave(venue, Misbehaviour::RepeatTradesOnSubscribe { count: 0 })
            .await;
    }
    assert_same_answers(&second.base, &reference_base).await;

    // Part 2, into the next minute: that minute's windows do not hold the stop.
    let restarted_at = wadm_supervision::unix_millis();
    sim.start_markets().await;
    wait_next_minute(restarted_at, 3_000).await;
    sim.pause_markets().await;
    wait_caught_up(&second.base, &sim).await;
    wait_caught_up(&reference_base, &sim).await;
    assert_same_answers(&second.base, &reference_base).await;

    for venue in VENUES {
        let hour = get(
            &second.base,
            &format!("/api/v1/volume-profile/BTCUSDT?venue={venue}&window=1h"),
        )
        .await;
        let holes = hour["coverage"]["holes"].as_array().unwrap();
        assert_eq!(holes.len(), 1, "{venue}: {hour}");
        assert_eq!(holes[0]["kind"], "downtime");
        assert_eq!(holes[0]["state"], "open");
        assert!(holes[0]["from"].as_i64() < holes[0]["to"].as_i64());
        assert_eq!(hour["coverage"]["complete"], false);
        let minute = get(
            &second.base,
            &format!("/api/v1/volume-profile/BTCUSDT?venue={venue}&window=1m"),
        )
        .await;
        assert!(
            minute["coverage"]["holes"].as_array().unwrap().is_empty(),
            "{minute}"
        );
        assert_eq!(
            minute["coverage"]["complete"], true,
            "a window after the stop is complete: {minute}"
        );
        let reference_hour = get(
            &reference_base,
            &format!("/api/v1/volume-profile/BTCUSDT?venue={venue}&window=1h"),
        )
        .await;
        assert!(
            reference_hour["coverage"]["holes"]
                .as_array()
                .unwrap()
                .is_empty(),
            "the daemon that never stopped has no hole: {reference_hour}"
        );
    }
    let gaps = get(&second.base, "/api/v1/gaps?limit=1000").await;
    assert_eq!(
        gaps["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "downtime")
            .count(),
        VENUES.len(),
        "{gaps}"
    );
    reference.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_embedded_store_answers_exactly_what_never_stopping_answers() {
    let _one = ONE_AT_A_TIME.lock().await;
    restart_equals_never_stopping(StoreKind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_mongodb_answers_exactly_what_never_stopping_answers() {
    let _one = ONE_AT_A_TIME.lock().await;
    restart_equals_never_stopping(StoreKind::Mongo(TestMongo::start())).await;
}

/// The tests of this file run one at a time: each runs two or three daemons, a simulator and
/// (for MongoDB) a Python stand-in; side by side on a 2-core machine they starved the
/// stand-in past the driver's 5 s timeouts.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// SIGKILL in the middle of the stream, which goes on: after the restart nothing that had
/// reached the store is missing from the windows, nothing is counted twice, and the trades
/// lost with the process are exactly the downtime hole's ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_the_windows_hold_what_was_stored_once_and_the_hole_names_the_rest() {
    let _one = ONE_AT_A_TIME.lock().await;
    let venue = Venue::BinanceSpot;
    let mut config = SimConfig::local(&VENUES, &["BTCUSDT"]);
    config.record_trades = true;
    let sim = Simulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = StoreKind::Embedded;
    let first = spawn(&sim, &store, dir.path());
    wait_until(LONG, "trades stored", || async {
        let to = wadm_supervision::unix_millis() + 60_000;
        let stored = get(
            &first.base,
            &format!("/api/v1/trades/BTCUSDT?venue={venue}&from=0&to={to}&limit=1000"),
        )
        .await;
        stored["trades"].as_array().unwrap().len() > 300
    })
    .await;
    first.process.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = tokio::task::spawn_blocking(move || first.process.wait_exit(LONG)).await;

    // What reached the store: raw trades, and the ids the stored bars hold.
    let (stored, bar_ids): (BTreeSet<u64>, BTreeSet<u64>) = {
        let store = EmbeddedStore::open(
            &dir.path().join("data"),
            Retention::default(),
            EmbeddedOptions::default(),
        )
        .unwrap();
        let now = wadm_supervision::unix_millis();
        let read = |kind| {
            store.read(
                Query::range(kind, venue, sym("BTCUSDT"), 0, now + 60_000).limit(MAX_READ_LIMIT),
            )
        };
        let trades = read(Kind::Trades)
            .await
            .unwrap()
            .into_iter()
            .map(|d| match d {
                Document::Trade(t) => t.id.as_number().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        let bars = read(Kind::Bars1m)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|d| match d {
                Document::Bar(bar) => bar
                    .ids
                    .ranges()
                    .iter()
                    .flat_map(|&(a, b)| a..=b)
                    .collect::<Vec<u64>>(),
                other => panic!("{other:?}"),
            })
            .collect();
        (trades, bars)
    };
    assert!(!stored.is_empty(), "the killed daemon stored trades");
    let first_stored = *stored.iter().chain(&bar_ids).min().unwrap();
    let last_stored = *stored.iter().chain(&bar_ids).max().unwrap();

    let second = spawn(&sim, &store, dir.path());
    wait_up(&second.base).await;
    wait_until(LONG, "the downtime hole", || async {
        get(&second.base, "/api/v1/gaps?limit=1000").await["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "downtime" && e["venue"] == venue.as_str())
    })
    .await;
    sim.pause_markets().await;
    let generated = sim.totals(venue, sym("BTCUSDT"));
    let last = generated.recorded.last().unwrap().id;
    wait_until(LONG, "the last trade taken", || async {
        let trades = get(
            &second.base,
            &format!("/api/v1/trades/BTCUSDT?venue={venue}&limit=1"),
        )
        .await;
        trades["trades"][0]["id"].as_str() == Some(last.to_string().as_str())
    })
    .await;

    let gaps = get(&second.base, "/api/v1/gaps?limit=1000").await;
    let holes: Vec<(u64, u64)> = gaps["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["venue"] == venue.as_str() && e["from_id"].is_u64())
        .map(|e| (e["from_id"].as_u64().unwrap(), e["to_id"].as_u64().unwrap()))
        .collect();
    let downtime: Vec<&Value> = gaps["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "downtime" && e["venue"] == venue.as_str())
        .collect();
    assert_eq!(downtime.len(), 1, "{gaps}");
    assert_eq!(
        downtime[0]["from_id"].as_u64(),
        Some(last_stored + 1),
        "the hole starts after the last stored trade: {gaps}"
    );
    // Every generated trade from the first stored one on is in the windows exactly once,
    // unless a recorded hole names it.
    let expected = generated
        .recorded
        .iter()
        .filter(|t| t.id >= first_stored)
        .filter(|t| !holes.iter().any(|&(a, b)| (a..=b).contains(&t.id)))
        .fold((0u64, Qty::ZERO, Qty::ZERO), |(n, buy, sell), t| {
            match t.side {
                Side::Buy => (n + 1, buy + t.qty, sell),
                Side::Sell => (n + 1, buy, sell + t.qty),
            }
        });
    let day = get(
        &second.base,
        &format!("/api/v1/volume-profile/BTCUSDT?venue={venue}&window=24h"),
    )
    .await;
    let profile = &day["profile"];
    assert_eq!(profile["trades"].as_u64(), Some(expected.0 * fills(venue)));
    assert_eq!(profile["buy_volume"], expected.1.to_string());
    assert_eq!(profile["sell_volume"], expected.2.to_string());
    let coverage_holes = day["coverage"]["holes"].as_array().unwrap();
    assert!(
        coverage_holes.iter().any(|h| h["kind"] == "downtime"),
        "{day}"
    );
    assert_eq!(day["coverage"]["complete"], false);
    sim.stop().await;
}

/// A venue that repeats its last 500 trades to every new subscription, a reconnect, and
/// sockets rotated every second (make-before-break: the old and new sockets overlap): the
/// aggregators hold every generated trade exactly once, and count the repeats. Binance
/// USD-M is read from its raw `@trade` stream here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_overlapping_trades_are_counted_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let venues = [Venue::BinanceSpot, Venue::BybitSpot, Venue::BinanceUsdm];
    let mut config = SimConfig::local(&venues, &["BTCUSDT"]);
    config.record_trades = true;
    config.gated = true;
    let sim = Simulator::start(config).await.unwrap();
    for venue in venues {
        sim.misbehave(venue, Misbehaviour::RepeatTradesOnSubscribe { count: 500 })
            .await;
    }
    let daemon = common::live::daemon_for(
        &sim,
        &venues,
        &["BTCUSDT"],
        &[
            ("WADM__CONNECTION__ROTATE_AFTER", "1s"),
            ("WADM__API__REQUESTS_PER_MINUTE", "1000000"),
            (
                "WADM__VENUES__BINANCE_USDM__STREAMS",
                "trade,depth@100ms,kline_1m",
            ),
        ],
    )
    .await;
    // USD-M's trade socket carries nothing before the markets start; the venue's repeats
    // bring a late subscriber the trades it missed.
    sim.start_markets().await;
    for venue in venues {
        common::live::wait_streaming(&daemon, venue).await;
    }
    wait_until(LONG, "trades", || async {
        venues
            .iter()
            .all(|&v| sim.totals(v, sym("BTCUSDT")).recorded.len() > 200)
    })
    .await;
    for venue in venues {
        sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
            .await;
    }
    wait_until(LONG, "rotations and reconnects", || async {
        let mut rotated = true;
        for venue in venues {
            let status = common::live::status(&daemon, venue).await;
            rotated &= status.endpoints.iter().all(|e| e.reconnects >= 3);
        }
        rotated
    })
    .await;
    sim.pause_markets().await;
    for venue in venues {
        let generated = sim.totals(venue, sym("BTCUSDT")).recorded;
        wait_until(LONG, "every trade taken", || async {
            daemon
                .aggregator_counts(venue, sym("BTCUSDT"))
                .await
                .is_some_and(|c| c.trades as usize >= generated.len())
        })
        .await;
        let counts = daemon
            .aggregator_counts(venue, sym("BTCUSDT"))
            .await
            .unwrap();
        let (buy, sell) = generated
            .iter()
            .fold((Qty::ZERO, Qty::ZERO), |(buy, sell), t| match t.side {
                Side::Buy => (buy + t.qty, sell),
                Side::Sell => (buy, sell + t.qty),
            });
        assert_eq!(
            (counts.trades, counts.buy_volume, counts.sell_volume),
            (generated.len() as u64, buy, sell),
            "{venue}: every generated trade once"
        );
        assert!(
            counts.duplicates >= 500,
            "{venue}: the repeats were seen and refused ({})",
            counts.duplicates
        );
        let gaps = common::live::quality_of(
            &daemon,
            venue,
            "BTCUSDT",
            wadm_actors::model::QualityKind::TradeGap,
        );
        if venue == Venue::BinanceSpot {
            assert!(
                gaps.is_empty(),
                "{venue}: no id is missing, so no gap: {gaps:?}"
            );
        } else {
            // Bybit's ids tell nothing: the lost socket is a time range in which trades may
            // be missing, though the repeats brought them all back here.
            assert!(gaps.iter().all(|g| g.hole_span().is_some()), "{gaps:?}");
        }
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A store that does not answer at start: the aggregators start cold and say so, take live
/// trades, and merge what the store holds once it answers again; the windows then hold the
/// stored and the live trades, each once, and the stop is a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_down_at_start_means_a_cold_start_then_a_merge_when_it_answers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mongo = TestMongo::start();
    let venues = [Venue::BinanceSpot, Venue::BybitSpot];
    let mut config = SimConfig::local(&venues, &["BTCUSDT"]);
    config.record_trades = true;
    config.gated = true;
    let sim = Simulator::start(config).await.unwrap();
    let overrides = [
        ("MONGODB_URI", mongo.uri.as_str()),
        ("WADM__STORAGE__MONGODB__DATABASE", mongo.database.as_str()),
        ("WADM__STORAGE__START_TIMEOUT", "1s"),
        ("WADM__AGGREGATOR__WARM_START_BUDGET", "2s"),
        ("WADM__AGGREGATOR__WARM_RETRY_INTERVAL", "200ms"),
    ];
    let day_prints = |daemon: &wadm::app::Daemon, venue: Venue| {
        daemon
            .snapshots
            .latest(venue, sym("BTCUSDT"))
            .and_then(|s| {
                s.rolling
                    .get(&wadm_actors::aggregator::engine::Rolling::H24)
                    .map(|b| b.totals.prints)
            })
            .unwrap_or(0)
    };
    let generated = |venue: Venue| sim.totals(venue, sym("BTCUSDT")).recorded.len() as u64;

    let first = common::live::daemon_for(&sim, &venues, &["BTCUSDT"], &overrides).await;
    for venue in venues {
        common::live::wait_streaming(&first, venue).await;
    }
    sim.start_markets().await;
    wait_until(LONG, "part 1", || async {
        venues.iter().all(|&v| generated(v) > 200)
    })
    .await;
    sim.pause_markets().await;
    for venue in venues {
        wait_until(LONG, "part 1 taken", || async {
            day_prints(&first, venue) == generated(venue)
        })
        .await;
    }
    first.shutdown().await.unwrap();

    mongo.take_down();
    let second = common::live::daemon_for(&sim, &venues, &["BTCUSDT"], &overrides).await;
    for venue in venues {
        let warm = second
            .snapshots
            .latest(venue, sym("BTCUSDT"))
            .and_then(|s| s.warm.clone())
            .unwrap();
        assert!(
            matches!(warm.outcome, "failed" | "timeout"),
            "a cold start, reported: {warm:?}"
        );
        common::live::wait_streaming(&second, venue).await;
    }
    let part1: Vec<u64> = venues.iter().map(|&v| generated(v)).collect();
    sim.start_markets().await;
    wait_until(LONG, "part 2", || async {
        venues
            .iter()
            .zip(&part1)
            .all(|(&v, &before)| day_prints(&second, v) > 100 && generated(v) > before + 100)
    })
    .await;
    sim.pause_markets().await;
    mongo.bring_up();
    for venue in venues {
        wait_until(LONG, "the warm merge", || async {
            second
                .snapshots
                .latest(venue, sym("BTCUSDT"))
                .and_then(|s| s.warm.clone())
                .is_some_and(|w| w.outcome == "warm")
        })
        .await;
        wait_until(LONG, "every trade once", || async {
            day_prints(&second, venue) == generated(venue)
        })
        .await;
        assert!(
            !common::live::quality_of(
                &second,
                venue,
                "BTCUSDT",
                wadm_actors::model::QualityKind::Downtime
            )
            .is_empty(),
            "{venue}: the stop is a hole"
        );
    }
    second.shutdown().await.unwrap();
    sim.stop().await;
}
