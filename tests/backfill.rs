//! Gap repair and start-up backfill against the simulated exchange's REST history: holes
//! closed with the trades the venue still has (and declared unrepairable where it has not),
//! the history before the first live trade fetched on an empty store, and a REST budget that
//! never exceeds the venue's limit nor sends while the venue says to wait.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::live::{LONG, daemon_for, quality_of, sym, wait_streaming, wait_until};
use serde_json::Value;
use wadm::app::Daemon;
use wadm::simulator::{Misbehaviour, SimConfig, SimHistory, Simulator};
use wadm_actors::aggregator::engine::Rolling;
use wadm_actors::aggregator::params::ProfileParams;
use wadm_actors::aggregator::{Bar, RowGrid, WindowReport};
use wadm_actors::model::{HoleState, Qty, QualityKind, Side, Trade, Venue};
use wadm_actors::storage::{Document, Kind, MAX_READ_LIMIT, Query};

/// Repair on, a start-up backfill of `on_start`, a fast scan.
fn repairing(on_start: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("WADM__BACKFILL__ON_START", on_start),
        ("WADM__BACKFILL__REPAIR", "true"),
        ("WADM__BACKFILL__SCAN_INTERVAL", "100ms"),
        ("WADM__API__REQUESTS_PER_MINUTE", "1000000"),
    ]
}

/// The simulator's aggregate trades hold three fills each.
fn fills(venue: Venue) -> u64 {
    if venue.exchange() == wadm_actors::model::Exchange::Binance {
        3
    } else {
        1
    }
}

/// The backfill actor's status of `venue`.
fn backfill_status(daemon: &Daemon, venue: Venue) -> Value {
    daemon
        .registry
        .snapshot()
        .into_iter()
        .find(|a| a.kind == "backfill" && a.key == venue.as_str())
        .and_then(|a| a.detail)
        .unwrap_or(Value::Null)
}

fn finished(daemon: &Daemon, venue: Venue, kind: &str) -> Vec<Value> {
    backfill_status(daemon, venue)["done"]
        .as_array()
        .map(|done| done.iter().filter(|j| j["kind"] == kind).cloned().collect())
        .unwrap_or_default()
}

async fn get(daemon: &Daemon, path: &str) -> Value {
    let answer = reqwest::get(format!("http://{}{path}", daemon.api_addr))
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

/// The generated trades of `symbol` on `venue` timed at or after `from`, as (count, buy, sell).
fn generated_since(sim: &Simulator, venue: Venue, from: i64) -> (u64, Qty, Qty) {
    generated_between(sim, venue, from, i64::MAX)
}

/// The generated trades timed in `[from, until)`, as (count, buy, sell).
fn generated_between(sim: &Simulator, venue: Venue, from: i64, until: i64) -> (u64, Qty, Qty) {
    sim.totals(venue, sym("BTCUSDT"))
        .recorded
        .iter()
        .filter(|t| (from..until).contains(&t.time))
        .fold((0, Qty::ZERO, Qty::ZERO), |(n, buy, sell), t| {
            match t.side {
                Side::Buy => (n + 1, buy + t.qty, sell),
                Side::Sell => (n + 1, buy, sell + t.qty),
            }
        })
}

/// A simulator with a day of history behind it, drops of every Binance socket in the middle
/// of the stream: the start-up backfill brings the day before the first live trade, every
/// trade gap is repaired by id, and then the rolling day and the stored 1-minute and 1-hour
/// bars hold exactly the generated stream, each trade once; the gaps read `repaired` and the
/// 24 h answer says it is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_gaps_are_repaired_by_id_and_the_day_is_complete() {
    let venues = [Venue::BinanceSpot, Venue::BinanceUsdm];
    let mut config = SimConfig::local(&venues, &["BTCUSDT"]);
    config.record_trades = true;
    config.history = Some(SimHistory {
        span: Duration::from_secs(24 * 3_600 + 600),
        trades_per_minute: 3,
    });
    let sim = Simulator::start(config).await.unwrap();
    let daemon = daemon_for(&sim, &venues, &["BTCUSDT"], &repairing("24h")).await;
    for venue in venues {
        wait_streaming(&daemon, venue).await;
        wait_until(LONG, "the start-up backfill", || async {
            !finished(&daemon, venue, "startup").is_empty()
        })
        .await;
    }
    // Abrupt drops until each venue has a recorded trade gap: a drop loses no trade when the
    // daemon is back within the simulator's step (10 ms here), so three may not be enough.
    let mut drops = 0;
    loop {
        let before: Vec<usize> = venues
            .iter()
            .map(|&v| sim.totals(v, sym("BTCUSDT")).recorded.len())
            .collect();
        wait_until(LONG, "trades between drops", || async {
            venues
                .iter()
                .zip(&before)
                .all(|(&v, &n)| sim.totals(v, sym("BTCUSDT")).recorded.len() > n + 50)
        })
        .await;
        for venue in venues {
            sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
                .await;
        }
        drops += 1;
        if drops < 3 {
            continue;
        }
        // A hole shows when a trade after it arrives, and is a gap after `gap_grace`.
        let after: Vec<usize> = venues
            .iter()
            .map(|&v| sim.totals(v, sym("BTCUSDT")).recorded.len())
            .collect();
        for (venue, &n) in venues.iter().zip(&after) {
            wait_streaming(&daemon, *venue).await;
            wait_until(LONG, "trades after the last drop", || async {
                daemon
                    .snapshots
                    .latest(*venue, sym("BTCUSDT"))
                    .and_then(|s| s.counts.last_trade_id)
                    .zip(
                        sim.totals(*venue, sym("BTCUSDT"))
                            .recorded
                            .get(n + 20)
                            .map(|t| t.id),
                    )
                    .is_some_and(|(taken, wanted)| taken >= wanted)
            })
            .await;
        }
        let gap_grace = Duration::from_millis(500);
        let deadline = std::time::Instant::now() + 4 * gap_grace;
        let gaps_found = || {
            venues.iter().all(|&venue| {
                !quality_of(&daemon, venue, "BTCUSDT", QualityKind::TradeGap).is_empty()
            })
        };
        while !gaps_found() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if gaps_found() {
            eprintln!("trade gaps on both venues after {drops} drops");
            break;
        }
        assert!(drops < 20, "no trade gap on some venue after {drops} drops");
    }
    sim.pause_markets().await;
    for venue in venues {
        let deadline = std::time::Instant::now() + LONG;
        loop {
            let gaps = quality_of(&daemon, venue, "BTCUSDT", QualityKind::TradeGap);
            if !gaps.is_empty() && gaps.iter().all(|g| g.state == Some(HoleState::Repaired)) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{venue}: every gap repaired: {gaps:?}; backfill {}",
                backfill_status(&daemon, venue)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let gaps = quality_of(&daemon, venue, "BTCUSDT", QualityKind::TradeGap);
        let recovered: u64 = gaps.iter().filter_map(|g| g.recovered).sum();
        let missing: u64 = gaps
            .iter()
            .map(|g| g.to_id.unwrap() - g.from_id.unwrap() + 1)
            .sum();
        assert_eq!(
            recovered, missing,
            "{venue}: every missing trade recovered: {gaps:?}"
        );
        assert!(recovered > 0);

        // The rolling day holds every generated trade of its span, once, and says it is
        // complete (once the feed streams again after the last drop).
        let deadline = std::time::Instant::now() + LONG;
        loop {
            let day = get(
                &daemon,
                &format!("/api/v1/volume-profile/BTCUSDT?venue={venue}&window=24h"),
            )
            .await;
            let start = day["profile"]["start"].as_i64().unwrap();
            let expected = generated_since(&sim, venue, start);
            let got = (
                day["profile"]["trades"].as_u64(),
                day["profile"]["buy_volume"].clone(),
                day["profile"]["sell_volume"].clone(),
            );
            let want = (
                Some(expected.0 * fills(venue)),
                Value::from(expected.1.to_string()),
                Value::from(expected.2.to_string()),
            );
            if got == want && day["coverage"]["complete"] == true {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{venue}: the day holds {got:?}, generated {want:?}; coverage {}",
                day["coverage"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The stored bars hold the same trades: every minute and hour amended by the repair
        // was written again (the open minute and hour are stored when they close).
        let backfill_start = generated_first_minute(&daemon, venue).await;
        let now = wadm_supervision::unix_millis();
        let hour = now - now.rem_euclid(3_600_000);
        let minute = now - now.rem_euclid(60_000);
        for (kind, until) in [(Kind::Bars1m, minute), (Kind::Bars1h, hour)] {
            let expected = generated_between(&sim, venue, backfill_start, until);
            let deadline = std::time::Instant::now() + LONG;
            loop {
                let stored = stored_totals(&daemon, venue, kind, backfill_start, until).await;
                if stored == expected {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{venue}: {kind:?} stored {stored:?}, generated {expected:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// The first minute the daemon holds (where the start-up backfill began).
async fn generated_first_minute(daemon: &Daemon, venue: Venue) -> i64 {
    daemon
        .snapshots
        .latest(venue, sym("BTCUSDT"))
        .and_then(|s| s.earliest_trade)
        .map(|t| t - t.rem_euclid(60_000))
        .unwrap()
}

/// (prints, buy, sell) of the stored bars of `kind` ending after `from` and starting before
/// `until`.
async fn stored_totals(
    daemon: &Daemon,
    venue: Venue,
    kind: Kind,
    from: i64,
    until: i64,
) -> (u64, Qty, Qty) {
    let documents = daemon
        .store
        .read(Query::range(kind, venue, sym("BTCUSDT"), 0, i64::MAX / 2).limit(MAX_READ_LIMIT))
        .await
        .unwrap();
    documents
        .iter()
        .filter_map(|d| match d {
            Document::Bar(bar) if bar.report.end > from && bar.report.start < until => Some(bar),
            _ => None,
        })
        .fold((0, Qty::ZERO, Qty::ZERO), |(n, buy, sell), bar| {
            (
                n + bar.prints,
                buy + bar.report.buy_volume,
                sell + bar.report.sell_volume,
            )
        })
}

/// Bybit: a short gap (the venue's last 1,000 linear trades still reach back to it) is
/// repaired; a long one on spot (where `recent-trade` holds only 60) is `unrepairable` and
/// the coverage says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_short_gaps_are_repaired_and_long_ones_declared_unrepairable() {
    let venues = [Venue::BybitLinear, Venue::BybitSpot];
    let mut config = SimConfig::local(&venues, &["BTCUSDT"]);
    config.record_trades = true;
    config.gated = true;
    let sim = Simulator::start(config).await.unwrap();
    let daemon = daemon_for(&sim, &venues, &["BTCUSDT"], &repairing("0")).await;
    for venue in venues {
        wait_streaming(&daemon, venue).await;
    }
    sim.start_markets().await;
    wait_until(LONG, "trades", || async {
        venues
            .iter()
            .all(|&v| sim.totals(v, sym("BTCUSDT")).recorded.len() > 100)
    })
    .await;
    // Linear: a quick reconnect. Spot: a few hundred trades while the socket is refused.
    sim.misbehave(
        Venue::BybitLinear,
        Misbehaviour::Disconnect { clean: false },
    )
    .await;
    let before = sim.totals(Venue::BybitSpot, sym("BTCUSDT")).recorded.len();
    sim.refuse_connections(Venue::BybitSpot, 1_000_000);
    sim.misbehave(Venue::BybitSpot, Misbehaviour::Disconnect { clean: false })
        .await;
    wait_until(LONG, "a long outage on spot", || async {
        sim.totals(Venue::BybitSpot, sym("BTCUSDT")).recorded.len() > before + 300
    })
    .await;
    sim.accept_connections(Venue::BybitSpot);
    for venue in venues {
        wait_until(LONG, &format!("{venue}: the gap closed"), || async {
            quality_of(&daemon, venue, "BTCUSDT", QualityKind::TradeGap)
                .iter()
                .any(|g| matches!(g.state, Some(HoleState::Repaired | HoleState::Unrepairable)))
        })
        .await;
    }
    sim.pause_markets().await;
    let linear = quality_of(
        &daemon,
        Venue::BybitLinear,
        "BTCUSDT",
        QualityKind::TradeGap,
    );
    assert!(
        linear.iter().all(|g| g.state == Some(HoleState::Repaired)),
        "{linear:?}"
    );
    let generated = sim
        .totals(Venue::BybitLinear, sym("BTCUSDT"))
        .recorded
        .len() as u64;
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let day = get(
            &daemon,
            "/api/v1/volume-profile/BTCUSDT?venue=bybit-linear&window=24h",
        )
        .await;
        let taken = day["profile"]["trades"].as_u64();
        if taken == Some(generated) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "every linear trade taken once: {taken:?} of {generated}; gaps {:?}; backfill {}",
            quality_of(
                &daemon,
                Venue::BybitLinear,
                "BTCUSDT",
                QualityKind::TradeGap
            ),
            backfill_status(&daemon, Venue::BybitLinear)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let spot = quality_of(&daemon, Venue::BybitSpot, "BTCUSDT", QualityKind::TradeGap);
    assert!(
        spot.iter().any(|g| g.state == Some(HoleState::Unrepairable)
            && g.cause.contains("recent-trade reaches back only")),
        "{spot:?}"
    );
    let hour = get(
        &daemon,
        "/api/v1/volume-profile/BTCUSDT?venue=bybit-spot&window=1h",
    )
    .await;
    let holes = hour["coverage"]["holes"].as_array().unwrap();
    assert!(holes.iter().any(|h| h["state"] == "unrepairable"), "{hour}");
    assert_eq!(hour["coverage"]["complete"], false);
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// An empty store, `on_start = "2h"`, a simulator holding two hours of history: once the
/// start-up backfill is done, the rolling 4 h profile (the two hours and what came live)
/// equals the profile computed directly over the simulator's own trades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_on_an_empty_store_backfills_the_window_exactly() {
    let venue = Venue::BinanceSpot;
    let mut config = SimConfig::local(&[venue], &["BTCUSDT"]);
    config.record_trades = true;
    config.history = Some(SimHistory {
        span: Duration::from_secs(2 * 3_600 + 300),
        trades_per_minute: 60,
    });
    let sim = Simulator::start(config).await.unwrap();
    let daemon = daemon_for(&sim, &[venue], &["BTCUSDT"], &repairing("2h")).await;
    wait_streaming(&daemon, venue).await;
    wait_until(LONG, "the start-up backfill", || async {
        !finished(&daemon, venue, "startup").is_empty()
    })
    .await;
    sim.pause_markets().await;
    let backfilled = &finished(&daemon, venue, "startup")[0];
    assert_eq!(backfilled["state"], "repaired", "{backfilled}");
    assert!(
        backfilled["progress"]["taken"].as_u64() > Some(7_000),
        "{backfilled}"
    );

    let taken = backfilled["progress"]["taken"].as_u64().unwrap();
    wait_until(LONG, "the snapshot holds the backfill", || async {
        daemon
            .snapshots
            .latest(venue, sym("BTCUSDT"))
            .is_some_and(|s| s.counts.past_trades == taken)
    })
    .await;
    let first_minute = generated_first_minute(&daemon, venue).await;
    let generated: Vec<Trade> = sim
        .totals(venue, sym("BTCUSDT"))
        .recorded
        .iter()
        .filter(|t| t.time >= first_minute)
        .map(|t| common::live::stream_trade(t, venue, sym("BTCUSDT")))
        .collect();
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let snapshot = daemon.snapshots.latest(venue, sym("BTCUSDT")).unwrap();
        let prints = snapshot.rolling[&Rolling::H4].totals.prints;
        if prints == generated.len() as u64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "every trade taken: {prints} of {}; {:?}; backfill {}",
            generated.len(),
            snapshot.counts,
            backfill_status(&daemon, venue)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snapshot = daemon.snapshots.latest(venue, sym("BTCUSDT")).unwrap();
    let window = &snapshot.rolling[&Rolling::H4];
    let grid: RowGrid = snapshot.grid.unwrap();
    let mut direct = Bar::new(window.start, window.end);
    for trade in &generated {
        direct.add(&grid, trade);
    }
    let params = ProfileParams::default();
    let expected = WindowReport::of(
        &direct,
        &grid,
        params.value_area,
        &params.imbalance,
        Qty::ZERO,
    );
    let got = WindowReport::of(
        window,
        &grid,
        params.value_area,
        &params.imbalance,
        Qty::ZERO,
    );
    assert_eq!(got, expected);
    assert!(expected.poc.is_some());
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A simulator that counts weight per minute against a limit of 400 and answers 429 and 418
/// on demand: the start-up backfill and the repairs never pass 80 % of the limit in any
/// minute, and nothing is sent to the venue while a `Retry-After` runs, whatever asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_budget_keeps_under_the_limit_and_waits_out_429_and_418() {
    let venue = Venue::BinanceSpot;
    let mut config = SimConfig::local(&[venue], &["BTCUSDT"]);
    config.record_trades = true;
    config.history = Some(SimHistory {
        span: Duration::from_secs(3_600),
        trades_per_minute: 600,
    });
    let sim = Simulator::start(config).await.unwrap();
    sim.set_rest_limit(venue, 400);
    let mut overrides = repairing("1h");
    overrides.push(("WADM__VENUES__BINANCE_SPOT__REST_LIMIT", "400"));
    // The backfill of 36,000 trades takes 36 requests of weight 4 a minute's budget allows.
    let daemon = daemon_for(&sim, &[venue], &["BTCUSDT"], &overrides).await;
    wait_streaming(&daemon, venue).await;
    wait_until(LONG, "a few backfill requests", || async {
        sim.rest_counters(venue).trade_requests >= 5
    })
    .await;
    sim.force_rest_status(venue, 429, 2, 1);
    wait_until(LONG, "the 429", || async {
        sim.rest_counters(venue).forced >= 1
    })
    .await;
    let after_429 = sim.rest_counters(venue).requests;
    wait_until(LONG, "requests after the hold", || async {
        sim.rest_counters(venue).requests > after_429
    })
    .await;
    sim.force_rest_status(venue, 418, 2, 1);
    wait_until(LONG, "the 418", || async {
        sim.rest_counters(venue).forced >= 2
    })
    .await;
    let after_418 = sim.rest_counters(venue).requests;
    wait_until(LONG, "requests after the ban", || async {
        sim.rest_counters(venue).requests > after_418
    })
    .await;
    let counters = sim.rest_counters(venue);
    assert_eq!(
        counters.during_hold, 0,
        "nothing sent while told to wait: {counters:?}"
    );
    assert_eq!(counters.over_limit, 0, "never over the limit: {counters:?}");
    assert!(
        counters.max_window_weight <= 320,
        "at most 80 % of 400 a minute: {counters:?}"
    );
    let metrics = reqwest::get(format!("http://{}/metrics", daemon.api_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for status in ["429", "418"] {
        assert!(
            metrics.contains(&format!(
                "wadm_rest_rate_limited_total{{venue=\"binance-spot\",status=\"{status}\"}} 1"
            )),
            "{status} counted"
        );
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
