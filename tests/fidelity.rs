//! End to end: the daemon against the simulated exchange on all four venues, with the
//! embedded store. A known finite stream is generated while the sockets are forced to drop;
//! after a graceful shutdown, what the store holds is reconciled with what was generated:
//! raw trades one for one, 1m and 1h bar totals exactly, and every missing trade inside a
//! recorded gap.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::live::{
    LONG, config_for, sym, venue_id, wait_book_synced, wait_last_trades, wait_until,
};
use wadm::app::Daemon;
use wadm::simulator::{Misbehaviour, SimConfig, Simulator};
use wadm_actors::model::{DataQualityEvent, Qty, QualityKind, Side, Trade, Venue};
use wadm_actors::storage::{Document, Kind, MAX_READ_LIMIT, Query, SharedStore};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
/// Steps of the stream: one every 5 ms, so about 6 s of trading.
const STEPS: u64 = 1_200;

/// Reads every document of `kind` for one (venue, symbol), or venue-wide with `symbol` None.
async fn read_all(
    store: &SharedStore,
    kind: Kind,
    venue: Venue,
    symbol: Option<&str>,
) -> Vec<Document> {
    let query = Query {
        kind,
        venue: Some(venue),
        symbol: symbol.map(sym),
        from: 0,
        to: i64::MAX / 2,
        limit: MAX_READ_LIMIT,
        order: wadm_actors::storage::Order::OldestFirst,
    };
    let documents = store.read(query).await.unwrap();
    assert!(documents.len() < MAX_READ_LIMIT, "the read was truncated");
    documents
}

/// (trades, buy volume, sell volume) summed over the stored bars of `kind`.
async fn bar_totals(
    store: &SharedStore,
    kind: Kind,
    venue: Venue,
    symbol: &str,
) -> (u64, Qty, Qty) {
    let mut totals = (0, Qty::ZERO, Qty::ZERO);
    for document in read_all(store, kind, venue, Some(symbol)).await {
        let Document::Bar(bar) = document else {
            panic!("a {kind:?} read returned {document:?}");
        };
        // Prints: one per stored trade message. Binance aggregate trades (the simulator's
        // hold three fills each) count every fill in `trades`.
        let fills = if matches!(venue, Venue::BinanceSpot | Venue::BinanceUsdm) {
            3
        } else {
            1
        };
        assert_eq!(bar.report.trades, fills * bar.prints, "{venue} {symbol}");
        totals.0 += bar.prints;
        totals.1 += bar.report.buy_volume;
        totals.2 += bar.report.sell_volume;
    }
    totals
}

/// Whether a generated trade the store does not hold lies inside a recorded gap: an id range
/// (Binance) or a time range (Bybit, whose ids are not contiguous).
fn covered(gaps: &[DataQualityEvent], id: u64, time: i64) -> bool {
    gaps.iter().any(|gap| {
        let by_id = matches!((gap.from_id, gap.to_id), (Some(from), Some(to)) if (from..=to).contains(&id));
        let by_time = matches!((gap.from_time, gap.to_time), (Some(from), Some(to)) if (from.0..=to.0).contains(&time));
        by_id || by_time
    })
}

/// Drops every venue's sockets, abruptly or cleanly, once the stream reaches `step`.
async fn disconnect_at(sim: &Simulator, step: u64, clean: bool) {
    wait_until(LONG, &format!("step {step}"), || async {
        Venue::ALL.iter().all(|&v| sim.counters(v).steps >= step)
    })
    .await;
    for venue in Venue::ALL {
        sim.misbehave(venue, Misbehaviour::Disconnect { clean })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_trades_and_bars_reconcile_with_the_generated_stream_across_forced_disconnects() {
    let mut sim_config = SimConfig::local(&Venue::ALL, &SYMBOLS);
    sim_config.record_trades = true;
    sim_config.gated = true;
    sim_config.pace = wadm::simulator::Pace::RealTime {
        tick: Duration::from_millis(5),
    };
    sim_config.params.steps = Some(STEPS);
    let sim = Simulator::start(sim_config).await.unwrap();
    let config = config_for(
        &sim,
        &Venue::ALL,
        &SYMBOLS,
        &[("WADM__PERSISTENCE__RAW_TRADES", "true")],
    );
    let daemon = Daemon::start(config).await.unwrap();
    let store = std::sync::Arc::clone(&daemon.store);
    for venue in Venue::ALL {
        // Before the markets start only books move: every subscription answered and every
        // book synced is the ready state.
        wait_until(LONG, &format!("{venue} subscribed"), || async {
            daemon.connection_status(venue).await.is_some_and(|s| {
                s.subscriptions.total > 0 && s.subscriptions.acked == s.subscriptions.total
            })
        })
        .await;
        for symbol in SYMBOLS {
            wait_book_synced(&daemon, venue, symbol).await;
        }
    }

    sim.start_markets().await;
    disconnect_at(&sim, STEPS / 3, false).await;
    disconnect_at(&sim, 2 * STEPS / 3, true).await;
    wait_until(LONG, "the end of the stream", || async {
        sim.finished(STEPS)
    })
    .await;
    // Everything generated after the last reconnection arrives.
    wait_last_trades(&sim, &daemon, &Venue::ALL, &SYMBOLS).await;
    // The shutdown closes the open bars as partial bars and flushes persistence.
    daemon.shutdown().await.unwrap();

    let mut missing_total = 0;
    for venue in Venue::ALL {
        let gaps: Vec<DataQualityEvent> = read_all(&store, Kind::DataQuality, venue, None)
            .await
            .into_iter()
            .filter_map(|d| match d {
                Document::Quality(event) if event.kind == QualityKind::TradeGap => Some(event),
                _ => None,
            })
            .collect();
        let reconnects = read_all(&store, Kind::DataQuality, venue, None)
            .await
            .into_iter()
            .filter(|d| matches!(d, Document::Quality(e) if e.kind == QualityKind::Reconnect))
            .count();
        assert!(
            reconnects >= 2,
            "{venue}: both drops are recorded ({reconnects})"
        );
        for symbol in SYMBOLS {
            let generated = sim.totals(venue, sym(symbol));
            assert!(generated.trades > 1_000, "{venue} {symbol}: a real stream");
            let stored: BTreeMap<String, Trade> =
                read_all(&store, Kind::Trades, venue, Some(symbol))
                    .await
                    .into_iter()
                    .map(|d| match d {
                        Document::Trade(t) => (t.id.to_string(), t),
                        other => panic!("a trades read returned {other:?}"),
                    })
                    .collect();
            let symbol_gaps: Vec<DataQualityEvent> = gaps
                .iter()
                .filter(|g| g.symbol == Some(sym(symbol)))
                .cloned()
                .collect();
            let mut expected = (0u64, Qty::ZERO, Qty::ZERO);
            let mut missing = 0;
            for trade in &generated.recorded {
                match stored.get(&venue_id(venue, trade.id)) {
                    Some(kept) => {
                        assert_eq!(
                            (kept.price, kept.qty, kept.side, kept.trade_time.0),
                            (trade.price, trade.qty, trade.side, trade.time),
                            "{venue} {symbol} trade {}",
                            trade.id
                        );
                        expected.0 += 1;
                        match trade.side {
                            Side::Buy => expected.1 += trade.qty,
                            Side::Sell => expected.2 += trade.qty,
                        }
                    }
                    None => {
                        assert!(
                            covered(&symbol_gaps, trade.id, trade.time),
                            "{venue} {symbol}: trade {} at {} is missing outside every recorded gap {symbol_gaps:?}",
                            trade.id,
                            trade.time
                        );
                        missing += 1;
                    }
                }
            }
            assert_eq!(
                stored.len() as u64,
                expected.0,
                "{venue} {symbol}: every stored trade was generated, once"
            );
            assert_eq!(
                expected.0 + missing,
                generated.trades,
                "{venue} {symbol}: stored + missing = generated"
            );
            for kind in [Kind::Bars1m, Kind::Bars1h] {
                assert_eq!(
                    bar_totals(&store, kind, venue, symbol).await,
                    expected,
                    "{venue} {symbol}: {kind:?} totals = the stored trades'"
                );
            }
            missing_total += missing;
        }
    }
    assert!(
        missing_total > 0,
        "trades generated while the sockets were down must be missing (and covered by gaps)"
    );
    sim.stop().await;
}

/// One "aggregator stopped" log line: what an aggregator had taken when the daemon stopped.
#[derive(Debug)]
struct Stopped {
    trades: u64,
    buy: Qty,
    sell: Qty,
    route_dropped: u64,
}

/// Reads the JSON log lines of a stopped daemon: each aggregator's accounting, by
/// (venue, symbol), and persistence's `dropped` total.
fn shutdown_accounting(logs: &str) -> (BTreeMap<(String, String), Stopped>, u64) {
    let mut stopped = BTreeMap::new();
    let mut persistence_dropped = None;
    for line in logs.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let text = |key: &str| entry[key].as_str().map(str::to_owned);
        let number = |key: &str| entry[key].as_u64();
        match entry["message"].as_str() {
            Some("aggregator stopped") => {
                let key = (text("venue").unwrap(), text("symbol").unwrap());
                let value = Stopped {
                    trades: number("trades").unwrap(),
                    buy: text("buy_volume").unwrap().parse().unwrap(),
                    sell: text("sell_volume").unwrap().parse().unwrap(),
                    route_dropped: number("route_dropped").unwrap(),
                };
                assert!(
                    stopped.insert(key, value).is_none(),
                    "one line per aggregator"
                );
            }
            Some("persistence stopped") => persistence_dropped = number("dropped"),
            _ => {}
        }
    }
    (
        stopped,
        persistence_dropped.expect("persistence logged its accounting"),
    )
}

/// Steps of the full-speed stream of the SIGTERM test.
const FULL_SPEED_STEPS: u64 = 2_000;

/// SIGTERM to the daemon binary while the simulator streams at full speed: it exits 0 within
/// the deadline, and every trade it had received is in the store (raw trades and 1m and 1h
/// bars, the open ones as partial bars), with nothing dropped on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_full_speed_ingest_loses_nothing_that_was_received() {
    let mut sim_config = SimConfig::local(&Venue::ALL, &SYMBOLS);
    sim_config.record_trades = true;
    sim_config.pace = wadm::simulator::Pace::FullSpeed;
    // A finite stream, so that what is in flight fits the daemon's default buffers even in
    // a debug build; the signal comes in its middle.
    sim_config.params.steps = Some(FULL_SPEED_STEPS);
    let sim = Simulator::start(sim_config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = common::live::env_for(
        &sim,
        &Venue::ALL,
        &SYMBOLS,
        &[
            ("WADM__PERSISTENCE__RAW_TRADES", "true"),
            ("WADM__LOG__FORMAT", "json"),
            ("WADM__LOG__LEVEL", "info"),
            ("WADM__STORAGE__EMBEDDED__PATH", data.to_str().unwrap()),
        ],
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut daemon = common::Daemon::start(&["run"], &env, dir.path());
    daemon.wait_for_line("wadm started", LONG);
    // Ingest at full speed until every venue has streamed half of its steps.
    wait_until(LONG, "full-speed ingest", || async {
        Venue::ALL
            .iter()
            .all(|&v| sim.counters(v).steps >= FULL_SPEED_STEPS / 2)
    })
    .await;
    let running = Venue::ALL
        .iter()
        .filter(|&&v| sim.counters(v).steps < FULL_SPEED_STEPS)
        .count();
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, logs) = tokio::task::spawn_blocking(move || daemon.wait_exit(LONG))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        running > 0,
        "a stream was still running when the signal came"
    );
    let (stopped, persistence_dropped) = shutdown_accounting(&logs);
    let notable: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("stopped"))
        .collect();
    assert_eq!(persistence_dropped, 0, "{}", notable.join("\n"));
    assert_eq!(stopped.len(), Venue::ALL.len() * SYMBOLS.len(), "{logs}");

    let store: SharedStore = std::sync::Arc::new(
        wadm_actors::storage::embedded::EmbeddedStore::open(
            &data,
            wadm_actors::storage::Retention::default(),
            wadm_actors::storage::embedded::EmbeddedOptions::default(),
        )
        .unwrap(),
    );
    for venue in Venue::ALL {
        for symbol in SYMBOLS {
            let taken = &stopped[&(venue.as_str().to_owned(), symbol.to_owned())];
            assert_eq!(
                taken.route_dropped, 0,
                "{venue} {symbol}: nothing dropped on the way"
            );
            assert!(taken.trades > 100, "{venue} {symbol}: {taken:?}");
            // What the daemon received is one contiguous run of the generated stream (one
            // socket, in order, no disconnect; the first trades may precede the subscription),
            // and the store holds exactly that run.
            let generated = sim.totals(venue, sym(symbol));
            let stored: Vec<Trade> = read_all(&store, Kind::Trades, venue, Some(symbol))
                .await
                .into_iter()
                .map(|d| match d {
                    Document::Trade(t) => t,
                    other => panic!("a trades read returned {other:?}"),
                })
                .collect();
            let mut stored_ids: Vec<String> = stored.iter().map(|t| t.id.to_string()).collect();
            stored_ids.sort();
            let first = generated
                .recorded
                .iter()
                .position(|t| stored_ids.binary_search(&venue_id(venue, t.id)).is_ok())
                .unwrap();
            let received = generated
                .recorded
                .get(first..first + usize::try_from(taken.trades).unwrap())
                .unwrap();
            let mut received_ids: Vec<String> =
                received.iter().map(|t| venue_id(venue, t.id)).collect();
            received_ids.sort();
            assert_eq!(
                stored_ids, received_ids,
                "{venue} {symbol}: stored raw trades"
            );
            let mut expected = (0u64, Qty::ZERO, Qty::ZERO);
            for trade in received {
                expected.0 += 1;
                match trade.side {
                    Side::Buy => expected.1 += trade.qty,
                    Side::Sell => expected.2 += trade.qty,
                }
            }
            assert_eq!(
                (taken.trades, taken.buy, taken.sell),
                expected,
                "{venue} {symbol}: the aggregator took exactly the received prefix"
            );
            for kind in [Kind::Bars1m, Kind::Bars1h] {
                assert_eq!(
                    bar_totals(&store, kind, venue, symbol).await,
                    expected,
                    "{venue} {symbol}: {kind:?} totals"
                );
            }
        }
    }
    sim.stop().await;
}

/// An aggregator that dies (a panic ends it the same way: no `post_stop`) comes back from the
/// store: the new incarnation holds every trade that reached the store, the span between the
/// latest of them and its first live trade is a recorded hole, and the messages queued for
/// the dead one are counted as dropped with the trades they held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_crash_is_rebuilt_from_the_store_and_its_hole_recorded() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = common::live::start(&[venue], &["BTCUSDT"], &[]).await;
    let slot = daemon.routes.slot(venue, sym("BTCUSDT")).unwrap();
    wait_until(LONG, "raw trades in the store", || async {
        !read_all(&daemon.store, Kind::Trades, venue, Some("BTCUSDT"))
            .await
            .is_empty()
    })
    .await;
    let first = slot.actor().unwrap();
    first.kill();
    wait_until(LONG, "a new incarnation", || async {
        slot.actor()
            .is_some_and(|actor| actor.get_id() != first.get_id())
    })
    .await;
    wait_until(LONG, "the restart hole", || async {
        !common::live::quality_of(&daemon, venue, "BTCUSDT", QualityKind::AggregatorRestart)
            .is_empty()
    })
    .await;
    let events =
        common::live::quality_of(&daemon, venue, "BTCUSDT", QualityKind::AggregatorRestart);
    assert_eq!(events.len(), 1, "{events:?}");
    let (from, to) = (events[0].from_time.unwrap().0, events[0].to_time.unwrap().0);
    assert!(from <= to && to <= wadm_actors::model::TimestampMs::now().0);
    let snapshot = daemon.snapshots.latest(venue, sym("BTCUSDT")).unwrap();
    let warm = snapshot.warm.clone().unwrap();
    assert_eq!(warm.outcome, "warm", "{warm:?}");
    assert!(
        snapshot.earliest_trade.unwrap() < from,
        "the restored trades are in the windows"
    );
    assert!(
        slot.dropped_trades() <= slot.dropped() * 3,
        "at most 3 trades a message here"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
