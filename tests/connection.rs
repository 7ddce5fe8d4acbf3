//! Collectors against the simulated exchange: connections, books, resyncs, reconnection,
//! watchdogs, rotation, rejected topics, restarts.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::live::{
    LONG, daemon_for, quality_of, simulator, start, status, sym, wait_book_synced, wait_streaming,
    wait_until,
};
use wadm::app::Daemon;
use wadm::simulator::{Misbehaviour, Simulator};
use wadm_actors::connection::status::ConnectionStatus;
use wadm_actors::model::{Qty, QualityKind, Venue};
use wadm_supervision::ActorState;

/// Checks that what the aggregator received plus the recorded trade gaps accounts for every
/// trade id the simulator generated between the first and last received, with exact volumes.
async fn reconcile_trades(daemon: &Daemon, sim: &Simulator, venue: Venue, symbol: &str) -> u64 {
    // A hole in the ids is reported once it has stayed open for the gap grace period.
    wait_until(LONG, "every hole reported as a trade gap", || async {
        let counts = daemon.aggregator_counts(venue, sym(symbol)).await.unwrap();
        let lost: u64 = quality_of(daemon, venue, symbol, QualityKind::TradeGap)
            .iter()
            .map(|e| e.to_id.unwrap() - e.from_id.unwrap() + 1)
            .sum();
        let (first, last) = (
            counts.first_trade_id.unwrap(),
            counts.last_trade_id.unwrap(),
        );
        counts.trades + lost > last - first
    })
    .await;
    let counts = daemon.aggregator_counts(venue, sym(symbol)).await.unwrap();
    let (first, last) = (
        counts.first_trade_id.unwrap(),
        counts.last_trade_id.unwrap(),
    );
    let gaps: Vec<(u64, u64)> = quality_of(daemon, venue, symbol, QualityKind::TradeGap)
        .into_iter()
        .map(|e| (e.from_id.unwrap(), e.to_id.unwrap()))
        .collect();
    let totals = sim.totals(venue, sym(symbol));
    let (generated, buy, sell) = totals.range(first, last);
    let mut lost = (0u64, Qty::ZERO, Qty::ZERO);
    for &(from, to) in &gaps {
        assert!(
            first < from && to < last,
            "gap {from}..={to} outside {first}..={last}"
        );
        let (count, gap_buy, gap_sell) = totals.range(from, to);
        assert_eq!(
            count,
            to - from + 1,
            "the gap {from}..={to} names trades that exist"
        );
        lost.0 += count;
        lost.1 += gap_buy;
        lost.2 += gap_sell;
    }
    assert_eq!(
        generated,
        last - first + 1,
        "the simulator's ids are contiguous"
    );
    assert_eq!(
        counts.trades + lost.0,
        generated,
        "{venue} {symbol}: received + recorded gaps = generated"
    );
    assert_eq!(
        counts.buy_volume + lost.1,
        buy,
        "{venue} {symbol}: buy volume"
    );
    assert_eq!(
        counts.sell_volume + lost.2,
        sell,
        "{venue} {symbol}: sell volume"
    );
    gaps.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_venue_streams_trades_and_keeps_synced_books() {
    let venues = Venue::ALL;
    let (sim, daemon) = start(&venues, &["BTCUSDT", "ETHUSDT"], &[]).await;
    for venue in venues {
        for symbol in ["BTCUSDT", "ETHUSDT"] {
            wait_until(
                LONG,
                &format!("trades and a book on {venue} {symbol}"),
                || async {
                    let counts = daemon
                        .aggregator_counts(venue, sym(symbol))
                        .await
                        .unwrap_or_default();
                    counts.trades > 0
                        && counts.book_updates > 0
                        && counts.klines > 0
                        && counts.instrument.is_some()
                },
            )
            .await;
            let view = daemon.books.latest(venue, sym(symbol)).unwrap();
            assert!(
                !view.bids.is_empty() && !view.asks.is_empty(),
                "{venue} {symbol}"
            );
            assert!(
                view.bids[0].price < view.asks[0].price,
                "{venue} {symbol} book is crossed: {view:?}"
            );
        }
        let status = status(&daemon, venue).await;
        assert!(
            status.endpoints.iter().all(|e| e.state == "streaming"),
            "{status:#?}"
        );
        assert!(
            status.subscriptions.rejected.is_empty()
                && status.subscriptions.acked == status.subscriptions.total,
            "{status:#?}"
        );
        assert!(
            status.instruments.iter().all(|i| i.state == "known"),
            "{status:#?}"
        );
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_abrupt_disconnects_reconnect_resubscribe_and_record_every_lost_trade_range() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = start(&[venue], &["BTCUSDT", "ETHUSDT"], &[]).await;
    wait_streaming(&daemon, venue).await;
    for round in 1..=100u64 {
        let before = status(&daemon, venue).await.endpoints[0].session;
        sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
            .await;
        wait_until(LONG, &format!("reconnection {round}"), || async {
            let s = status(&daemon, venue).await;
            let e = &s.endpoints[0];
            e.session != before
                && e.state == "streaming"
                && e.reconnects == round
                && s.subscriptions.acked == s.subscriptions.total
        })
        .await;
    }
    let status = status(&daemon, venue).await;
    let endpoint = &status.endpoints[0];
    assert_eq!(endpoint.reconnects, 100);
    assert!(
        endpoint
            .last_close
            .as_deref()
            .unwrap()
            .starts_with("stream_ended")
            || endpoint
                .last_close
                .as_deref()
                .unwrap()
                .starts_with("read_error"),
        "{endpoint:?}"
    );
    // Data flowed before every drop, so every reconnection waited attempt 0's delay:
    // initial_backoff (5 ms) minus up to 50 % jitter.
    assert_eq!(endpoint.recent_reconnect_delays_ms.len(), 100);
    assert!(
        endpoint
            .recent_reconnect_delays_ms
            .iter()
            .all(|&ms| (2..=5).contains(&ms)),
        "{:?}",
        endpoint.recent_reconnect_delays_ms
    );
    let counters = sim.counters(venue);
    assert_eq!(counters.connections_opened, 101);
    assert!(counters.subscribe_requests >= 101);
    // Let the last socket deliver a little more, then account for every trade.
    wait_until(LONG, "trades after the last reconnection", || async {
        daemon
            .aggregator_counts(venue, sym("BTCUSDT"))
            .await
            .unwrap()
            .trades
            > 0
    })
    .await;
    let mut gaps = 0;
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        gaps += reconcile_trades(&daemon, &sim, venue, symbol).await;
    }
    assert!(
        gaps > 0,
        "trades generated while disconnected must show up as gaps"
    );
    assert_eq!(
        quality_of(&daemon, venue, "BTCUSDT", QualityKind::Reconnect).len(),
        100
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_back_off_by_the_policy_and_reset_once_data_flows() {
    let venue = Venue::BybitSpot;
    let (sim, daemon) = start(
        &[venue],
        &["BTCUSDT"],
        &[
            ("WADM__CONNECTION__BACKOFF__INITIAL_BACKOFF", "20ms"),
            ("WADM__CONNECTION__BACKOFF__MAX_BACKOFF", "1s"),
        ],
    )
    .await;
    wait_streaming(&daemon, venue).await;
    sim.refuse_connections(venue, 4);
    sim.misbehave(venue, Misbehaviour::Disconnect { clean: true })
        .await;
    wait_until(
        LONG,
        "five reconnection delays and streaming again",
        || async {
            let s = status(&daemon, venue).await;
            s.endpoints[0].recent_reconnect_delays_ms.len() == 5
                && s.endpoints[0].state == "streaming"
        },
    )
    .await;
    let status = status(&daemon, venue).await;
    // Attempt n waits 20 ms * 2^n, minus up to 50 % jitter.
    for (attempt, &delay) in status.endpoints[0]
        .recent_reconnect_delays_ms
        .iter()
        .enumerate()
    {
        let full = 20u64 << attempt;
        assert!(
            delay <= full && delay >= full / 2 - 1,
            "attempt {attempt}: {delay} ms not in [{}, {full}]",
            full / 2
        );
    }
    assert_eq!(
        status.endpoints[0].attempt, 0,
        "data flowed again, so the backoff starts over"
    );
    assert_eq!(sim.counters(venue).connections_refused, 4);
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_replaced_within_the_book_timeout() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = start(
        &[venue],
        &["BTCUSDT"],
        &[("WADM__CONNECTION__BOOK_TIMEOUT", "400ms")],
    )
    .await;
    wait_streaming(&daemon, venue).await;
    let before = status(&daemon, venue).await.endpoints[0].session;
    let silenced = Instant::now();
    sim.misbehave(venue, Misbehaviour::Silence).await;
    wait_until(LONG, "the silent socket replaced", || async {
        status(&daemon, venue).await.endpoints[0].reconnects == 1
    })
    .await;
    let detected = silenced.elapsed();
    let status_now = status(&daemon, venue).await;
    assert_eq!(
        status_now.endpoints[0].last_close.as_deref(),
        Some("book_timeout")
    );
    // Tripped by the 400 ms book watchdog (checked every 100 ms), not by anything earlier.
    assert!(
        detected >= Duration::from_millis(400) && detected < Duration::from_millis(1_000),
        "{detected:?}"
    );
    wait_until(LONG, "streaming on a new socket", || async {
        let s = status(&daemon, venue).await;
        s.endpoints[0].state == "streaming" && s.endpoints[0].session != before
    })
    .await;
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_without_book_streams_trips_the_transport_watchdog() {
    let venue = Venue::BybitSpot;
    let (sim, daemon) = start(
        &[venue],
        &["BTCUSDT"],
        &[
            ("WADM__VENUES__BYBIT_SPOT__STREAMS", "publicTrade"),
            ("WADM__CONNECTION__TRANSPORT_TIMEOUT", "300ms"),
            ("WADM__CONNECTION__PING_INTERVAL", "100ms"),
        ],
    )
    .await;
    wait_streaming(&daemon, venue).await;
    wait_until(LONG, "client pings answered", || async {
        sim.counters(venue).client_pings >= 2
    })
    .await;
    let silenced = Instant::now();
    sim.misbehave(venue, Misbehaviour::Silence).await;
    wait_until(LONG, "the silent socket replaced", || async {
        status(&daemon, venue).await.endpoints[0].reconnects == 1
    })
    .await;
    assert!(silenced.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        status(&daemon, venue).await.endpoints[0]
            .last_close
            .as_deref(),
        Some("transport_timeout")
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A skipped sequence id resyncs that one symbol from a fresh snapshot, on the same socket,
/// while the other symbol keeps streaming.
async fn skipped_sequence_resyncs_one_symbol(venue: Venue) {
    let (sim, daemon) = start(&[venue], &["BTCUSDT", "ETHUSDT"], &[]).await;
    wait_book_synced(&daemon, venue, "BTCUSDT").await;
    wait_book_synced(&daemon, venue, "ETHUSDT").await;
    let before = status(&daemon, venue).await;
    let book = |s: &ConnectionStatus, symbol: &str| {
        s.books
            .iter()
            .find(|b| b.symbol == sym(symbol))
            .unwrap()
            .clone()
    };
    let eth_before = book(&before, "ETHUSDT");
    let subscribes_before = sim.counters(venue).subscribe_requests;
    sim.misbehave(venue, Misbehaviour::SkipSequence(sym("BTCUSDT")))
        .await;
    wait_until(LONG, "BTCUSDT resynced", || async {
        let s = status(&daemon, venue).await;
        let btc = book(&s, "BTCUSDT");
        btc.resyncs == 1 && format!("{:?}", btc.state) == "Synced"
    })
    .await;
    let after = status(&daemon, venue).await;
    let gaps = quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookGap);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        gaps[0].from_id.is_some()
            && gaps[0].to_id.is_some()
            && gaps[0].symbol == Some(sym("BTCUSDT"))
    );
    assert_eq!(
        quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookResync).len(),
        1
    );
    // The socket stayed up and ETHUSDT was not disturbed.
    assert_eq!(
        after
            .endpoints
            .iter()
            .map(|e| (e.session, e.reconnects))
            .collect::<Vec<_>>(),
        before
            .endpoints
            .iter()
            .map(|e| (e.session, e.reconnects))
            .collect::<Vec<_>>()
    );
    let eth_after = book(&after, "ETHUSDT");
    assert_eq!(eth_after.resyncs, 0);
    wait_until(LONG, "ETHUSDT keeps updating", || async {
        book(&status(&daemon, venue).await, "ETHUSDT").update_id > eth_before.update_id
    })
    .await;
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm => {
            assert_eq!(
                sim.depth_requests(venue, sym("BTCUSDT")),
                2,
                "a fresh REST snapshot for BTCUSDT"
            );
            assert_eq!(sim.depth_requests(venue, sym("ETHUSDT")), 1);
        }
        Venue::BybitSpot | Venue::BybitLinear => {
            assert_eq!(
                sim.counters(venue).subscribe_requests,
                subscribes_before + 1,
                "a resubscription brings a fresh snapshot"
            );
        }
    }
    let view = daemon.books.latest(venue, sym("BTCUSDT")).unwrap();
    assert!(view.bids[0].price < view.asks[0].price);
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_spot_depth_id_resyncs_only_that_symbol() {
    skipped_sequence_resyncs_one_symbol(Venue::BinanceSpot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_usdm_pu_chain_resyncs_only_that_symbol() {
    skipped_sequence_resyncs_one_symbol(Venue::BinanceUsdm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_bybit_update_id_resyncs_only_that_symbol() {
    skipped_sequence_resyncs_one_symbol(Venue::BybitLinear).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_u1_and_a_repeated_snapshot_overwrite_the_book() {
    let venue = Venue::BybitSpot;
    let (sim, daemon) = start(&[venue], &["BTCUSDT"], &[]).await;
    wait_book_synced(&daemon, venue, "BTCUSDT").await;
    wait_until(LONG, "the book moves past u = 100", || async {
        daemon
            .books
            .latest(venue, sym("BTCUSDT"))
            .is_some_and(|v| v.update_id > 100)
    })
    .await;
    sim.misbehave(venue, Misbehaviour::ResetBook(sym("BTCUSDT")))
        .await;
    wait_until(LONG, "the reset recorded", || async {
        !quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookReset).is_empty()
    })
    .await;
    wait_until(LONG, "the book restarts from u = 1", || async {
        daemon
            .books
            .latest(venue, sym("BTCUSDT"))
            .is_some_and(|v| v.update_id < 100)
    })
    .await;
    let resyncs_before = quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookResync).len();
    sim.misbehave(venue, Misbehaviour::ResendSnapshot(sym("BTCUSDT")))
        .await;
    wait_until(LONG, "the repeated snapshot recorded", || async {
        quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookResync).len() == resyncs_before + 1
    })
    .await;
    assert!(
        quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookGap).is_empty(),
        "overwrites are not gaps"
    );
    let view = daemon.books.latest(venue, sym("BTCUSDT")).unwrap();
    assert!(view.bids[0].price < view.asks[0].price);
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

async fn rejected_topic_is_reported_and_the_others_stream(venue: Venue, topic: &str) {
    let sim = simulator(&[venue], &["BTCUSDT", "ETHUSDT"]).await;
    sim.misbehave(venue, Misbehaviour::RejectTopic(topic.to_owned()))
        .await;
    let daemon = daemon_for(&sim, &[venue], &["BTCUSDT", "ETHUSDT"], &[]).await;
    wait_until(LONG, "the rejection in status", || async {
        let s = status(&daemon, venue).await;
        s.subscriptions.rejected.iter().any(|r| r.topic == topic) && s.subscriptions.pending == 0
    })
    .await;
    let status = status(&daemon, venue).await;
    assert_eq!(status.subscriptions.rejected.len(), 1, "{status:#?}");
    assert_eq!(
        status.subscriptions.acked,
        status.subscriptions.total - 1,
        "{status:#?}"
    );
    assert!(!status.subscriptions.rejected[0].reason.is_empty());
    let events = quality_of(&daemon, venue, "ETHUSDT", QualityKind::SubscriptionRejected);
    assert_eq!(events.len(), 1);
    assert!(events[0].cause.contains(topic));
    wait_book_synced(&daemon, venue, "BTCUSDT").await;
    wait_until(LONG, "ETHUSDT trades", || async {
        daemon
            .aggregator_counts(venue, sym("ETHUSDT"))
            .await
            .is_some_and(|c| c.trades > 0)
    })
    .await;
    assert!(
        daemon.books.latest(venue, sym("ETHUSDT")).is_none(),
        "the rejected book stream delivers nothing"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_bybit_topic_is_reported_and_the_others_stream() {
    rejected_topic_is_reported_and_the_others_stream(Venue::BybitSpot, "orderbook.50.ETHUSDT")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_binance_stream_is_isolated_from_its_batch() {
    rejected_topic_is_reported_and_the_others_stream(Venue::BinanceSpot, "ethusdt@depth@100ms")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_rotates_make_before_break_without_losing_or_repeating_trades() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = start(&[venue], &["BTCUSDT"], &[]).await;
    wait_streaming(&daemon, venue).await;
    sim.misbehave(venue, Misbehaviour::ServerShutdown).await;
    wait_until(LONG, "the rotation", || async {
        let s = status(&daemon, venue).await;
        s.endpoints[0].reconnects == 1
            && s.endpoints[0].state == "streaming"
            && !s.endpoints[0].rotating
    })
    .await;
    assert_eq!(
        status(&daemon, venue).await.endpoints[0]
            .last_close
            .as_deref(),
        Some("rotation")
    );
    assert_eq!(
        reconcile_trades(&daemon, &sim, venue, "BTCUSDT").await,
        0,
        "no trade lost in a make-before-break rotation"
    );
    assert!(
        quality_of(&daemon, venue, "BTCUSDT", QualityKind::Reconnect).is_empty(),
        "a planned rotation is not a data-quality event"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_rotations_keep_every_trade_exactly_once() {
    let venue = Venue::BinanceUsdm;
    let (sim, daemon) = start(
        &[venue],
        &["BTCUSDT"],
        &[("WADM__CONNECTION__ROTATE_AFTER", "250ms")],
    )
    .await;
    wait_until(LONG, "three rotations of both sockets", || async {
        status(&daemon, venue)
            .await
            .endpoints
            .iter()
            .all(|e| e.reconnects >= 3)
    })
    .await;
    assert_eq!(reconcile_trades(&daemon, &sim, venue, "BTCUSDT").await, 0);
    assert!(quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookGap).is_empty());
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_counted_and_skipped_without_dropping_the_socket() {
    let venue = Venue::BybitLinear;
    let (sim, daemon) = start(&[venue], &["BTCUSDT"], &[]).await;
    wait_streaming(&daemon, venue).await;
    let before = status(&daemon, venue).await.endpoints[0].clone();
    sim.misbehave(venue, Misbehaviour::Garbage { count: 21 })
        .await;
    wait_until(LONG, "the garbage counted", || async {
        status(&daemon, venue).await.endpoints[0].parse_errors >= 18
    })
    .await;
    let after = status(&daemon, venue).await.endpoints[0].clone();
    assert_eq!((after.session, after.reconnects), (before.session, 0));
    assert_eq!(
        after.parse_errors, 18,
        "18 text garbage frames (3 binary ones are ignored, not parsed)"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_actor_is_restarted_with_a_new_generation() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = start(&[venue], &["BTCUSDT"], &[]).await;
    wait_streaming(&daemon, venue).await;
    let entry = daemon.registry.get("connection", venue.as_str()).unwrap();
    assert_eq!(entry.generation(), 1);
    daemon.directory.connection(venue).unwrap().kill();
    wait_until(LONG, "the restarted connection streaming", || async {
        entry.generation() == 2
            && entry.state() == ActorState::Running
            && daemon
                .connection_status(venue)
                .await
                .is_some_and(|s| s.generation == 2 && s.endpoints[0].state == "streaming")
    })
    .await;
    assert_eq!(entry.restarts(), 1);
    assert!(
        entry
            .snapshot()
            .last_error
            .unwrap()
            .contains("stopped unexpectedly")
    );
    // The old incarnation's socket is gone: one socket open at the venue.
    wait_until(LONG, "the old socket closed", || async {
        sim.counters(venue).open_connections == 1
    })
    .await;
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_is_reported_and_the_others_carry_on() {
    let venue = Venue::BinanceSpot;
    let sim = simulator(&[venue], &["BTCUSDT"]).await;
    let daemon = daemon_for(&sim, &[venue], &["BTCUSDT", "NOSUCHUSDT"], &[]).await;
    wait_until(LONG, "the unknown instrument in status", || async {
        status(&daemon, venue)
            .await
            .instruments
            .iter()
            .any(|i| i.symbol == sym("NOSUCHUSDT") && i.state == "unknown")
    })
    .await;
    assert_eq!(
        quality_of(&daemon, venue, "NOSUCHUSDT", QualityKind::UnknownInstrument).len(),
        1
    );
    wait_book_synced(&daemon, venue, "BTCUSDT").await;
    let status = status(&daemon, venue).await;
    let btc = status
        .instruments
        .iter()
        .find(|i| i.symbol == sym("BTCUSDT"))
        .unwrap();
    assert_eq!(
        (btc.state, btc.tick_size),
        ("known", Some("0.01".parse().unwrap()))
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_server_pings_are_answered() {
    let venue = Venue::BinanceSpot;
    let mut sim_config = wadm::simulator::SimConfig::local(&[venue], &["BTCUSDT"]);
    sim_config.server_ping_interval = Duration::from_millis(20);
    let (sim, daemon) = common::live::start_with(sim_config, &[venue], &["BTCUSDT"], &[]).await;
    wait_until(LONG, "pongs to the server's pings", || async {
        sim.counters(venue).pongs >= 3
    })
    .await;
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// Binance also takes the streams in the socket's URL (`/stream?streams=a/b`, how cryptofeed
/// subscribes; the pipeline bench runs it as a peer): the simulator streams them with no
/// answer frame and counts the socket as one subscribe request; an unknown stream is left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_streams_named_in_the_url_flow_without_an_answer() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, parser_for};
    use wadm_actors::model::{MarketEvent, UnixNanos};

    let venue = Venue::BinanceSpot;
    let sim = Simulator::start(wadm::simulator::SimConfig::local(&[venue], &["BTCUSDT"]))
        .await
        .unwrap();
    let base = sim.ws_url(venue).to_string();
    let url = format!(
        "{}/stream?streams=btcusdt@aggTrade/btcusdt@depth@100ms/btcusdt@nothing",
        base.trim_end_matches('/')
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let mut parser = parser_for(venue, DEFAULT_MAX_FRAME_BYTES);
    let (mut trades, mut deltas) = (0, 0);
    let deadline = Instant::now() + LONG;
    while trades < 3 || deltas < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(message))) = tokio::time::timeout(left, socket.next()).await else {
            panic!("the URL's streams did not flow: {trades} trade and {deltas} depth frames");
        };
        let Message::Text(text) = message else {
            continue;
        };
        assert!(
            text.contains(r#""stream":"btcusdt@aggTrade""#)
                || text.contains(r#""stream":"btcusdt@depth@100ms""#),
            "only the URL's known streams, and no answer frame: {text}"
        );
        match parser.parse(text.as_bytes(), UnixNanos(0)) {
            Ok(MarketEvent::Trades(_)) => trades += 1,
            Ok(MarketEvent::BookDelta(_)) => deltas += 1,
            other => panic!("{other:?} from {text}"),
        }
    }
    assert_eq!(sim.counters(venue).subscribe_requests, 1);
    sim.stop().await;
}

/// At full speed a socket holds many frames at once; the reader takes them as one burst and
/// routes each symbol's trades of the burst as one message. Every trade arrives once, in
/// order (the ids are contiguous and the volumes exact), in far fewer routed messages than
/// trade frames; a quiet feed is not held back (the streaming tests above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_frames_reaches_each_aggregator_in_few_messages_with_every_trade() {
    const STEPS: u64 = 3_000;
    let venue = Venue::BinanceSpot;
    let symbols = ["BTCUSDT", "ETHUSDT"];
    let mut sim_config = wadm::simulator::SimConfig::local(&[venue], &symbols);
    sim_config.record_trades = true;
    sim_config.pace = wadm::simulator::Pace::FullSpeed;
    sim_config.gated = true;
    sim_config.params.steps = Some(STEPS);
    let (sim, daemon) = common::live::start_with(sim_config, &[venue], &symbols, &[]).await;
    wait_until(LONG, "every subscription answered", || async {
        let status = status(&daemon, venue).await;
        status.subscriptions.total > 0 && status.subscriptions.acked == status.subscriptions.total
    })
    .await;
    sim.start_markets().await;
    wait_until(LONG, "every generated trade in its aggregator", || async {
        if sim.counters(venue).steps < STEPS {
            return false;
        }
        for symbol in symbols {
            let generated = sim.totals(venue, sym(symbol)).trades;
            let counts = daemon.aggregator_counts(venue, sym(symbol)).await;
            if counts.is_none_or(|c| c.trades < generated) {
                return false;
            }
        }
        true
    })
    .await;
    for symbol in symbols {
        assert_eq!(reconcile_trades(&daemon, &sim, venue, symbol).await, 0);
        let counts = daemon.aggregator_counts(venue, sym(symbol)).await.unwrap();
        let slot = daemon.routes.slot(venue, sym(symbol)).unwrap();
        assert_eq!(slot.dropped(), 0);
        // One aggTrade frame per trade; book views and candles are routed too.
        assert!(
            slot.sent() * 2 < counts.trades,
            "{symbol}: {} messages routed for {} trades",
            slot.sent(),
            counts.trades
        );
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
