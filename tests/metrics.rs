//! The Prometheus catalogue of a live daemon. In its own test binary because the metrics
//! registry is process-wide: gauges and counters here must not see other tests' daemons.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::live::{LONG, quality_of, status, sym, wait_book_synced, wait_streaming, wait_until};
use wadm::simulator::Misbehaviour;
use wadm_actors::model::{QualityKind, Venue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cover_connections_frames_books_and_gaps_and_follow_the_naming_rules() {
    let venue = Venue::BinanceSpot;
    // With an alert rule, so that the alert series exist (the dashboard reads them).
    let sim = common::live::simulator(&[venue], &["BTCUSDT", "ETHUSDT"]).await;
    let mut config = common::live::config_for(&sim, &[venue], &["BTCUSDT", "ETHUSDT"], &[]);
    config.alerts = common::live::alert_settings(
        r#"
        [[alerts.destinations]]
        name = "nowhere"
        kind = "webhook"
        url = "http://127.0.0.1:9/hook"
        [[alerts.rules]]
        name = "huge"
        venues = ["all"]
        symbols = ["all"]
        condition = "large_trade"
        min_qty = "1000000000"
        destinations = ["nowhere"]
        "#,
        &config.pairs(),
    );
    let daemon = wadm::app::Daemon::start(config).await.unwrap();
    wait_book_synced(&daemon, venue, "BTCUSDT").await;
    sim.misbehave(venue, Misbehaviour::SkipSequence(sym("BTCUSDT")))
        .await;
    wait_until(LONG, "a resync", || async {
        !quality_of(&daemon, venue, "BTCUSDT", QualityKind::BookResync).is_empty()
    })
    .await;
    sim.misbehave(venue, Misbehaviour::Garbage { count: 3 })
        .await;
    wait_until(LONG, "the garbage counted", || async {
        status(&daemon, venue).await.endpoints[0].parse_errors >= 3
    })
    .await;
    sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
        .await;
    wait_until(LONG, "a reconnection", || async {
        status(&daemon, venue).await.endpoints[0].reconnects == 1
    })
    .await;
    wait_streaming(&daemon, venue).await;
    // A first batch written, so the flush histogram has a sample.
    wait_until(LONG, "a first write to the store", || async {
        daemon.persistence.stats().written_total() > 0
    })
    .await;
    // Some API traffic, then the scrape itself through the API's /metrics route.
    let api = wadm_actors::api::filter(std::sync::Arc::clone(&daemon.api));
    for path in [
        "/api/v1/symbols",
        "/api/v1/nope",
        "/api/v1/trades/BTCUSDT?limit=0",
    ] {
        warp::test::request().path(path).reply(&api).await;
    }
    let scrape = warp::test::request().path("/metrics").reply(&api).await;
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(scrape.body().to_vec()).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker/README.md")).unwrap();
    let catalogue: Vec<(&str, &str)> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Metrics"))
        .filter_map(|l| {
            let mut cells = l.split('|').map(str::trim).skip(1);
            let name = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name, cells.next()?))
        })
        .collect();
    // The actors crate's catalogue (which drives its help texts) is the documented one.
    for metric in wadm_actors::metrics::CATALOGUE {
        assert!(
            catalogue.contains(&(metric.name, metric.kind.as_str())),
            "{} ({}) is in the actors' catalogue but not in docker/README.md's",
            metric.name,
            metric.kind.as_str()
        );
    }
    for needle in [
        r#"wadm_ws_connected{venue="binance-spot",endpoint="stream"} 1"#,
        r#"wadm_ws_messages_received_total{venue="binance-spot",kind="trades"}"#,
        r#"wadm_ws_messages_received_total{venue="binance-spot",kind="unparsed"}"#,
        r#"wadm_ws_received_bytes_total{venue="binance-spot"}"#,
        r#"wadm_ws_reconnects_total{venue="binance-spot",reason="#,
        r#"wadm_ws_connect_attempts_total{venue="binance-spot",outcome="connected"}"#,
        r#"wadm_ws_parse_errors_total{venue="binance-spot",reason="invalid_json"}"#,
        r#"wadm_ws_subscription_responses_total{venue="binance-spot",outcome="ack"}"#,
        r#"wadm_book_resyncs_total{venue="binance-spot",symbol="BTCUSDT"} 1"#,
        r#"wadm_data_quality_events_total{venue="binance-spot",kind="book_gap"}"#,
        r#"wadm_data_quality_events_total{venue="binance-spot",kind="reconnect"}"#,
        r#"wadm_rest_requests_total{venue="binance-spot",kind="depth",outcome="ok"}"#,
        r#"wadm_router_messages_total{venue="binance-spot"}"#,
        r#"wadm_feed_lag_seconds_bucket{venue="binance-spot",le="0.001"}"#,
        "wadm_build_info{",
        r#"wadm_api_requests_total{route="/api/v1/symbols",status="200"} 1"#,
        r#"wadm_api_requests_total{route="unmatched",status="404"} 1"#,
        r#"wadm_api_requests_total{route="/api/v1/trades/{symbol}",status="400"} 1"#,
        r#"wadm_api_request_duration_seconds_bucket{route="/api/v1/symbols",le="#,
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split_whitespace().skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(
            name.starts_with("wadm_")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}"
        );
        assert_eq!(
            name.ends_with("_total"),
            kind == "counter",
            "{name} is a {kind}: only counters end in _total"
        );
        if kind == "histogram" {
            assert!(
                name.ends_with("_seconds") || name.ends_with("_documents"),
                "{name}: histograms are in base units"
            );
        }
        assert!(
            catalogue.contains(&(name, kind)),
            "{name} ({kind}) is exported but not in the metrics catalogue of docker/README.md"
        );
    }
    // Every metric the Grafana dashboard and the alert rules use is exported by this daemon.
    let exported: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docker/grafana/dashboards/wadm.json"
    ))
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut expressions: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().clone())
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(expressions.len() >= 12, "{expressions:?}");
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docker/prometheus/alerts.yml"
    ))
    .unwrap();
    expressions.extend(
        rules
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr: "))
            .map(str::to_owned),
    );
    let mut used = std::collections::BTreeSet::new();
    for expression in &expressions {
        for (start, _) in expression.match_indices("wadm_") {
            let name: String = expression[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    assert!(used.len() >= 15, "{used:?}");
    for name in used {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        assert!(
            exported.contains(&base),
            "{name} is used by the dashboard or the alert rules but not exported:\n{text}"
        );
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
