//! The faults a hostile black-box probe found, each shown fixed against a live daemon and the
//! simulated exchange: idle-connection floods, slowloris, `CONNECT`, and more (issue 17).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::live::{LONG, start, sym, wait_streaming, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wadm::app::Daemon;
use wadm::simulator::Misbehaviour;
use wadm_actors::model::{QualityKind, Venue};

/// Sends a raw request on a fresh connection and reads the whole answer.
async fn raw(daemon: &Daemon, request: &str) -> String {
    let mut stream = TcpStream::connect(daemon.api_addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(LONG, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits until the peer closes `stream` (a read returns 0 or fails), or fails after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0_u8; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection is still open after {within:?}"),
        }
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(daemon: &Daemon) -> String {
    reqwest::get(format!("http://{}/metrics", daemon.api_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// 5,000 connections that send nothing, against a daemon allowed 1,024 open files: the
/// server holds at most its share of them (the oldest idle ones make room), so `/health`
/// still answers and a venue that drops its socket is reconnected at once (before, the
/// idle sockets took every file descriptor: `accept` and the venue's `connect` failed with
/// "Too many open files").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_idle_connections_stop_neither_health_nor_the_feeds() {
    let venue = Venue::BinanceSpot;
    let sim = common::live::simulator(&[venue], &["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let env = common::live::env_for(&sim, &[venue], &["BTCUSDT"], &[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut daemon = common::Daemon::start_with_file_limit(1_024, &["run"], &env, dir.path());
    let started = daemon.wait_for_line("wadm started", LONG);
    let addr: std::net::SocketAddr = started
        .split("api=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap();
    wait_until(LONG, "/health to answer 200", || async {
        health_at(addr).await == Some(200)
    })
    .await;

    let mut idle = Vec::with_capacity(5_000);
    for _ in 0..5_000 {
        match TcpStream::connect(addr).await {
            Ok(stream) => idle.push(stream),
            Err(err) => panic!("connect {} failed: {err}", idle.len()),
        }
    }
    assert_eq!(health_at(addr).await, Some(200), "/health under the flood");

    // The venue drops its socket: the daemon reconnects while the flood holds.
    let opened = sim.counters(venue).connections_opened;
    sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
        .await;
    wait_until(LONG, "the venue socket to be reopened", || async {
        sim.counters(venue).connections_opened > opened
    })
    .await;
    wait_until(
        LONG,
        "/health to answer 200 after the reconnect",
        || async { health_at(addr).await == Some(200) },
    )
    .await;
    let status: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!("http://{addr}/api/v1/status"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let api = status["actors"]
        .as_array()
        .and_then(|actors| actors.iter().find(|a| a["kind"] == "api"))
        .cloned()
        .unwrap_or_default();
    assert!(
        api["detail"]["max_connections"].as_u64() <= Some(1_024 - 256),
        "{api}"
    );
    drop(idle);
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let (exit, _) = daemon.wait_exit(LONG);
    assert_eq!(exit.code(), Some(0));
    sim.stop().await;
}

async fn health_at(addr: std::net::SocketAddr) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .ok()
        .map(|answer| answer.status().as_u16())
}

/// A client that sends its request head a line a second is closed at `api.header_timeout`,
/// and so is a keep-alive connection that sends nothing after its first answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_keep_alive_connections_are_closed() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = start(
        &[venue],
        &["BTCUSDT"],
        &[("WADM__API__HEADER_TIMEOUT", "2s")],
    )
    .await;

    let mut slow = TcpStream::connect(daemon.api_addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if slow
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
        slow
    });
    let mut slow = trickle.await.unwrap();
    let took = closed_within(&mut slow, Duration::from_secs(1)).await;
    assert!(took < Duration::from_secs(1), "{took:?}");

    let mut kept = TcpStream::connect(daemon.api_addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0_u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let took = closed_within(&mut kept, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "{took:?}");

    let text = metrics(&daemon).await;
    assert!(
        metric(
            &text,
            "wadm_api_connection_errors_total{reason=\"header_timeout\"}"
        ) >= 2.0,
        "{text}"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// `CONNECT host:port` and `OPTIONS *` get a 400, no panic; the server goes on, and the
/// absolute form of a target is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_asterisk_targets_get_a_400_without_a_panic() {
    let venue = Venue::BinanceSpot;
    let (sim, daemon) = start(&[venue], &["BTCUSDT"], &[]).await;
    wait_streaming(&daemon, venue).await;
    for request in [
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let answer = raw(&daemon, request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{request:?}: {answer}");
        assert!(answer.contains("\"bad_request\""), "{answer}");
    }
    // The absolute form is a path too (RFC 9112 3.2.2).
    let answer = raw(
        &daemon,
        "GET http://example.com/health HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.contains("\"uptime_seconds\""),
        "the health answer: {answer}"
    );
    let text = metrics(&daemon).await;
    assert_eq!(metric(&text, "wadm_api_panics_total"), 0.0);
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A daemon binary with one key configured (`extra` appended to its `[[api.keys]]` entry).
fn keyed_daemon(dir: &std::path::Path, key: &str, extra: &str) -> (common::Daemon, String) {
    let hash = wadm_actors::api::hash_key(key).unwrap();
    let config = dir.join("wadm.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbind = \"127.0.0.1:0\"\nrequests_per_minute = 100000\nburst = 1000\n\n[[api.keys]]\nname = \"mcp\"\nhash = \"{hash}\"\n{extra}"
        ),
    )
    .unwrap();
    let data = dir.join("data");
    let mut daemon = common::Daemon::start(
        &["--config", config.to_str().unwrap(), "run"],
        &[
            ("COLLECTORS_ENABLED", "false"),
            ("WADM__STORAGE__EMBEDDED__PATH", data.to_str().unwrap()),
        ],
        dir,
    );
    let started = daemon.wait_for_line("wadm started", LONG);
    let addr = started
        .split("api=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    (daemon, addr)
}

/// An HTTP client (reqwest needs the process's TLS provider, even for plain HTTP).
fn http_client(builder: reqwest::ClientBuilder) -> reqwest::Client {
    wadm_actors::util::install_crypto_provider();
    builder.build().unwrap()
}

async fn status_with_key(client: &reqwest::Client, addr: &str, key: &str) -> u16 {
    client
        .get(format!("http://{addr}/api/v1/symbols"))
        .header("X-API-Key", key)
        .send()
        .await
        .map_or(0, |answer| answer.status().as_u16())
}

/// 200 bad keys from one IP, then the good key from it, on a daemon that has never seen the
/// good key: with the key's prefix configured the bad keys cost nothing and the good key
/// passes; without it, 200 repeats of one bad key do not lock the good key out either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_from_an_ip_do_not_lock_out_a_good_key_from_it() {
    let (key, _) = wadm_actors::api::generate_key().unwrap();
    let client = http_client(reqwest::Client::builder());

    let dir = tempfile::tempdir().unwrap();
    let prefix = &key[..wadm_actors::api::PREFIX_LEN];
    let (daemon, addr) = keyed_daemon(dir.path(), &key, &format!("prefix = \"{prefix}\"\n"));
    for i in 0..200 {
        let bad = format!("wadm_{i:064x}");
        assert_eq!(status_with_key(&client, &addr, &bad).await, 401);
    }
    assert_eq!(status_with_key(&client, &addr, &key).await, 200);
    drop(daemon);

    let dir = tempfile::tempdir().unwrap();
    let (daemon, addr) = keyed_daemon(dir.path(), &key, "");
    let bad = format!("wadm_{:064x}", 7);
    for _ in 0..200 {
        assert_eq!(status_with_key(&client, &addr, &bad).await, 401);
    }
    assert_eq!(status_with_key(&client, &addr, &key).await, 200);
    drop(daemon);
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// 400 distinct bad keys from 400 client IPs (127.0.1.0/23), eight at a time, each verified
/// with argon2 (no prefix configured: the worst case): the daemon's RSS grows by less than
/// 32 MiB (one argon2 buffer of 19 MiB, reused; before, every blocking thread kept its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_stays_bounded_after_400_bad_keys() {
    let (key, _) = wadm_actors::api::generate_key().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, addr) = keyed_daemon(dir.path(), &key, "");
    // One verification allocates the buffer.
    assert_eq!(
        status_with_key(&http_client(reqwest::Client::builder()), &addr, &key).await,
        200
    );
    let before = rss_kib(daemon.pid());
    let mut refused = 0;
    for batch in 0..50_u32 {
        let mut requests = Vec::new();
        for i in 0..8_u32 {
            let n = batch * 8 + i;
            let source = std::net::Ipv4Addr::new(
                127,
                0,
                1 + u8::try_from(n / 250).unwrap(),
                1 + u8::try_from(n % 250).unwrap(),
            );
            let client =
                http_client(reqwest::Client::builder().local_address(std::net::IpAddr::V4(source)));
            let addr = addr.clone();
            requests.push(tokio::spawn(async move {
                status_with_key(&client, &addr, &format!("wadm_{n:064x}")).await
            }));
        }
        for request in requests {
            if request.await.unwrap() == 401 {
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 400, "every bad key verified and refused");
    let after = rss_kib(daemon.pid());
    eprintln!("RSS after 400 bad keys: {before} KiB -> {after} KiB");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    drop(daemon);
}

async fn health_body(daemon: &Daemon) -> serde_json::Value {
    let answer = reqwest::get(format!("http://{}/health", daemon.api_addr))
        .await
        .unwrap();
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

async fn orderbook_status(daemon: &Daemon) -> u16 {
    reqwest::get(format!(
        "http://{}/api/v1/orderbook/BTCUSDT?venue=binance-spot",
        daemon.api_addr
    ))
    .await
    .unwrap()
    .status()
    .as_u16()
}

fn book_state(daemon: &Daemon) -> String {
    daemon
        .registry
        .snapshot()
        .into_iter()
        .find(|a| a.kind == "connection")
        .and_then(|a| a.detail)
        .and_then(|d| d["books"][0]["state"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Binance snapshots older than the stream, then ahead of it: each is fetched again only
/// after a backoff (a few requests, not a hot loop); after `snapshot_attempts` in a row the
/// book is out of sync: a data-quality event, `/health` degraded naming it, the status, and
/// no book served (the frozen book of a snapshot ahead of the stream is withdrawn). Once
/// snapshots fit again the book is served, `in_sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_that_do_not_fit_the_stream_are_retried_with_backoff_and_reported() {
    let venue = Venue::BinanceSpot;
    let sim = common::live::simulator(&[venue], &["BTCUSDT"]).await;
    sim.misbehave(venue, Misbehaviour::OffsetSnapshots(-1_000_000))
        .await;
    let daemon = common::live::daemon_for(
        &sim,
        &[venue],
        &["BTCUSDT"],
        &[
            ("WADM__CONNECTION__SNAPSHOT_ATTEMPTS", "3"),
            ("WADM__CONNECTION__SNAPSHOT_AHEAD_TOLERANCE", "500ms"),
            ("WADM__CONNECTION__BACKOFF__INITIAL_BACKOFF", "300ms"),
            ("WADM__CONNECTION__BACKOFF__MAX_BACKOFF", "1s"),
            ("WADM__CONNECTION__BACKOFF__JITTER", "0"),
            ("WADM__API__REQUESTS_PER_MINUTE", "100000"),
        ],
    )
    .await;
    let out_of_sync =
        || common::live::quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookOutOfSync).len();
    wait_until(LONG, "the book declared out of sync (too old)", || async {
        out_of_sync() == 1 && book_state(&daemon) == "out_of_sync"
    })
    .await;
    let health = health_body(&daemon).await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reasons"].as_array().unwrap().iter().any(|r| r
            .as_str()
            .is_some_and(|r| r.starts_with("book binance-spot BTCUSDT"))),
        "{health}"
    );
    assert_eq!(orderbook_status(&daemon).await, 503);
    // Paced by the backoff (at most 1 s apart now), not a hot loop.
    let before = sim.depth_requests(venue, sym("BTCUSDT"));
    let started = Instant::now();
    wait_until(LONG, "two more snapshot attempts", || async {
        sim.depth_requests(venue, sym("BTCUSDT")) >= before + 2
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(sim.depth_requests(venue, sym("BTCUSDT")) <= before + 4);
    assert_eq!(sim.rest_counters(venue).over_limit, 0);

    sim.misbehave(venue, Misbehaviour::OffsetSnapshots(0)).await;
    wait_until(LONG, "the book served again", || async {
        orderbook_status(&daemon).await == 200 && book_state(&daemon) == "synced"
    })
    .await;
    wait_until(LONG, "health ok again", || async {
        health_body(&daemon).await["status"] == "ok"
    })
    .await;

    // A snapshot ahead of the stream: before, the book froze and was served as live.
    sim.misbehave(venue, Misbehaviour::OffsetSnapshots(1_000_000))
        .await;
    sim.misbehave(venue, Misbehaviour::SkipSequence(sym("BTCUSDT")))
        .await;
    wait_until(LONG, "the book declared out of sync (too new)", || async {
        out_of_sync() == 2 && book_state(&daemon) == "out_of_sync"
    })
    .await;
    assert_eq!(orderbook_status(&daemon).await, 503);
    let event = common::live::quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookOutOfSync)
        .pop()
        .unwrap();
    assert!(event.cause.contains("ahead of the stream"), "{event:?}");
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A depth snapshot answered 429 with `Retry-After: 5`: nothing goes to the venue for 5 s
/// (the simulator counts requests arriving inside the hold), then the book syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_a_snapshot_holds_all_rest_to_the_venue_for_its_retry_after() {
    let venue = Venue::BinanceSpot;
    let sim = common::live::simulator(&[venue], &["BTCUSDT"]).await;
    let daemon = common::live::daemon_for(&sim, &[venue], &["BTCUSDT"], &[]).await;
    common::live::wait_book_synced(&daemon, venue, "BTCUSDT").await;
    let before = sim.depth_requests(venue, sym("BTCUSDT"));
    sim.force_rest_status(venue, 429, 5, 1);
    let forced_at = Instant::now();
    sim.misbehave(venue, Misbehaviour::SkipSequence(sym("BTCUSDT")))
        .await;
    wait_until(LONG, "the forced 429", || async {
        sim.rest_counters(venue).forced == 1
    })
    .await;
    wait_until(LONG, "a snapshot after the hold", || async {
        sim.depth_requests(venue, sym("BTCUSDT")) > before
    })
    .await;
    assert!(
        forced_at.elapsed() >= Duration::from_millis(4_900),
        "{:?}",
        forced_at.elapsed()
    );
    assert_eq!(sim.rest_counters(venue).during_hold, 0);
    common::live::wait_book_synced(&daemon, venue, "BTCUSDT").await;
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// Binance spot keeps dropping until its connection budget is spent; Bybit, on its own
/// budget, then drops once and is back at once (before, one budget for every venue made it
/// wait for Binance's window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_venue_does_not_delay_another_venues_reconnect() {
    let venues = [Venue::BinanceSpot, Venue::BybitSpot];
    let (sim, daemon) = start(
        &venues,
        &["BTCUSDT"],
        &[
            ("WADM__CONNECTION__BUDGET__BINANCE_SPOT", "3"),
            ("WADM__CONNECTION__BUDGET__BYBIT", "3"),
        ],
    )
    .await;
    for venue in venues {
        wait_streaming(&daemon, venue).await;
    }
    let waits = |text: &str| {
        metric(
            text,
            "wadm_ws_connect_budget_waits_total{venue=\"binance-spot\"}",
        )
    };
    let mut flaps = 0;
    while waits(&metrics(&daemon).await) == 0.0 {
        assert!(flaps < 10, "the Binance budget was never spent");
        let opened = sim.counters(Venue::BinanceSpot).connections_opened;
        sim.misbehave(
            Venue::BinanceSpot,
            Misbehaviour::Disconnect { clean: false },
        )
        .await;
        flaps += 1;
        wait_until(
            LONG,
            "Binance to reconnect or wait for its budget",
            || async {
                sim.counters(Venue::BinanceSpot).connections_opened > opened
                    || waits(&metrics(&daemon).await) > 0.0
            },
        )
        .await;
    }
    let opened = sim.counters(Venue::BybitSpot).connections_opened;
    let dropped = Instant::now();
    sim.misbehave(Venue::BybitSpot, Misbehaviour::Disconnect { clean: false })
        .await;
    wait_until(LONG, "Bybit to reconnect", || async {
        sim.counters(Venue::BybitSpot).connections_opened > opened
    })
    .await;
    assert!(
        dropped.elapsed() < Duration::from_secs(5),
        "{:?}",
        dropped.elapsed()
    );
    wait_streaming(&daemon, Venue::BybitSpot).await;
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
