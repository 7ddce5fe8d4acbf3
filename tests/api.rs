//! The REST API: every route and every error status through warp's test harness, keys,
//! rate limits, CORS, the bind rule, the OpenAPI document, and the answers of a live daemon
//! checked against the aggregator maths applied to the simulator's own trades.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::live::{LONG, start, sym, wait_book_synced, wait_until};
use serde_json::Value;
use wadm::simulator::render::SimTrade;
use wadm_actors::aggregator::order_flow;
use wadm_actors::aggregator::{Bar, ProfileParams, RowGrid, WindowReport};
use wadm_actors::api::{
    Api, ApiKey, ApiSettings, ApiSources, OPENAPI_JSON, ROUTES, RateLimit, filter, hash_key,
};
use wadm_actors::boards::BookBoard;
use wadm_actors::boards::SnapshotBoard;
use wadm_actors::model::{Price, Qty, Side, Symbol, Trade, Venue};
use wadm_actors::persistence::PersistenceInputs;
use wadm_actors::quality::QualitySink;
use wadm_actors::storage::Retention;
use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
use wadm_supervision::StatusRegistry;
use warp::http::StatusCode;

const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 1], 40_000);

/// One answer: status, headers, and the body as JSON (a string when it is not JSON).
struct Answer {
    status: StatusCode,
    headers: warp::http::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

async fn request(api: &Arc<Api>, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = warp::test::request()
        .method(method)
        .path(path)
        .remote_addr(SocketAddr::from(CLIENT));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = builder.reply(&filter(Arc::clone(api))).await;
    let body = serde_json::from_slice(response.body())
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(response.body()).into_owned()));
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body,
    }
}

async fn get(api: &Arc<Api>, path: &str) -> Answer {
    request(api, "GET", path, &[]).await
}

/// Settings whose rate limit no test reaches (tests of the limit set their own).
fn generous() -> ApiSettings {
    ApiSettings {
        rate_limit: RateLimit {
            per_minute: 6_000_000.try_into().unwrap(),
            burst: 100_000.try_into().unwrap(),
        },
        ..ApiSettings::default()
    }
}

/// Overrides giving a live daemon the same.
const GENEROUS: &[(&str, &str)] = &[
    ("WADM__API__REQUESTS_PER_MINUTE", "6000000"),
    ("WADM__API__BURST", "100000"),
];

/// An API over empty boards, a fresh embedded store and no feeds, for BTCUSDT on Binance spot.
fn bare_api(settings: ApiSettings, bind: &str) -> Result<Arc<Api>, String> {
    let btc = sym("BTCUSDT");
    let pairs = vec![(Venue::BinanceSpot, btc)];
    let dir = tempfile::Builder::new()
        .prefix("wadm-api-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .keep();
    let store = EmbeddedStore::open(&dir, Retention::default(), EmbeddedOptions::default())
        .expect("the store opens");
    let (persistence, _records, _quality) = PersistenceInputs::new(10, 10, true);
    Api::new(
        ApiSources {
            registry: Arc::new(StatusRegistry::new()),
            snapshots: Arc::new(SnapshotBoard::new([(
                Venue::BinanceSpot,
                btc,
                ProfileParams::default(),
            )])),
            books: Arc::new(BookBoard::new(pairs.iter().copied())),
            quality: QualitySink::new(16),
            store: Arc::new(store),
            retention: Retention::default(),
            persistence,
            pairs,
            metrics: Arc::new(|| "# TYPE wadm_x counter\nwadm_x 1\n".to_owned()),
            version: "test",
        },
        settings,
        bind.parse().unwrap(),
    )
}

#[tokio::test]
async fn an_api_without_data_answers_503_with_the_reason_and_health_is_down() {
    let api = bare_api(generous(), "127.0.0.1:8920").unwrap();
    for path in [
        "/api/v1/volume-profile/BTCUSDT",
        "/api/v1/order-flow/current/BTCUSDT",
        "/api/v1/orderbook/BTCUSDT",
    ] {
        let answer = get(&api, path).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(answer.code(), "no_data", "{path}");
        assert!(answer.message().contains("BTCUSDT"), "{}", answer.message());
    }
    let health = get(&api, "/health").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.body["status"], "down");
    assert!(
        health.body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("no venue"))
    );
    // History routes read the store: empty, not an error.
    let history = get(&api, "/api/v1/volume-profile/BTCUSDT/history?timeframe=5m").await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.body["bars"], serde_json::json!([]));
    // Live trades without data: an empty list.
    let trades = get(&api, "/api/v1/trades/BTCUSDT").await;
    assert_eq!(trades.status, StatusCode::OK);
    assert_eq!(trades.body["source"], "live");
}

#[tokio::test]
async fn requests_are_refused_with_the_documented_status_and_code() {
    let api = bare_api(generous(), "127.0.0.1:8920").unwrap();
    let cases: &[(&str, &str, StatusCode, &str, &str)] = &[
        ("GET", "/nope", StatusCode::NOT_FOUND, "not_found", "/nope"),
        (
            "GET",
            "/api/v1/symbols/",
            StatusCode::NOT_FOUND,
            "not_found",
            "",
        ),
        (
            "GET",
            "/api/v1/trades/DOGEUSDT",
            StatusCode::NOT_FOUND,
            "unknown_symbol",
            "DOGEUSDT",
        ),
        (
            "GET",
            "/api/v1/trades/BTC$USDT",
            StatusCode::NOT_FOUND,
            "unknown_symbol",
            "",
        ),
        (
            "GET",
            "/api/v1/trades/BTCUSDT?venue=bybit-spot",
            StatusCode::NOT_FOUND,
            "unknown_symbol",
            "not collected on bybit-spot",
        ),
        (
            "POST",
            "/api/v1/symbols",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "POST",
        ),
        (
            "DELETE",
            "/health",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "",
        ),
        (
            "GET",
            "/api/v1/symbols?x=1",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`x`",
        ),
        (
            "GET",
            "/api/v1/trades/BTCUSDT?limit=0",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`limit`",
        ),
        (
            "GET",
            "/api/v1/trades/BTCUSDT?limit=1001",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "1 to 1000",
        ),
        (
            "GET",
            "/api/v1/trades/BTCUSDT?limit=1&limit=2",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "more than once",
        ),
        (
            "GET",
            "/api/v1/trades/BTCUSDT?lmit=5",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`lmit`",
        ),
        (
            "GET",
            "/api/v1/trades/BTCUSDT?venue=ftx",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`venue`",
        ),
        (
            "GET",
            "/api/v1/klines/BTCUSDT?from=10&to=5",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`from`",
        ),
        (
            "GET",
            "/api/v1/gaps?to=-1",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`to`",
        ),
        (
            "GET",
            "/api/v1/volume-profile/BTCUSDT?window=2h",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`window`",
        ),
        (
            "GET",
            "/api/v1/volume-profile/BTCUSDT?value_area=1.5",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`value_area`",
        ),
        (
            "GET",
            "/api/v1/order-flow/current/BTCUSDT?period=4h",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`period`",
        ),
        (
            "GET",
            "/api/v1/order-flow/BTCUSDT/history?value_area=0.5",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`value_area`",
        ),
        (
            "GET",
            "/api/v1/volume-profile/BTCUSDT/history?timeframe=2m",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`timeframe`",
        ),
        (
            "GET",
            "/api/v1/orderbook/BTCUSDT?depth=101",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "`depth`",
        ),
        (
            "GET",
            "/metrics?format=json",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "takes no parameters",
        ),
    ];
    for &(method, path, status, code, needle) in cases {
        let answer = request(&api, method, path, &[]).await;
        assert_eq!(answer.status, status, "{method} {path}: {:?}", answer.body);
        assert_eq!(answer.code(), code, "{method} {path}");
        assert!(
            answer.message().contains(needle),
            "{method} {path}: {}",
            answer.message()
        );
        assert_eq!(
            answer.headers["content-type"], "application/json",
            "{method} {path}"
        );
    }
    let refused = request(&api, "PUT", "/api/v1/gaps", &[]).await;
    assert_eq!(refused.headers["allow"], "GET");
    let with_body = request(&api, "GET", "/api/v1/symbols", &[("content-length", "3")]).await;
    assert_eq!(with_body.status, StatusCode::BAD_REQUEST);
    let long = format!("/api/v1/gaps?limit=1&venue={}", "x".repeat(3000));
    assert_eq!(get(&api, &long).await.code(), "bad_request");
}

#[tokio::test]
async fn keys_are_required_from_either_header_and_health_stays_open() {
    let key = "wadm_test_key_0123456789";
    let settings = ApiSettings {
        keys: vec![ApiKey {
            name: "mcp".into(),
            hash: hash_key(key).unwrap(),
            prefix: None,
        }],
        ..generous()
    };
    // With keys, a non-loopback bind is fine.
    let api = bare_api(settings, "0.0.0.0:8920").unwrap();
    let missing = get(&api, "/api/v1/symbols").await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.code(), "unauthorized");
    assert!(missing.headers.contains_key("www-authenticate"));
    let wrong = request(
        &api,
        "GET",
        "/api/v1/symbols",
        &[("x-api-key", "wadm_wrong")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.message().contains("wadm_wrong"));
    let basic = request(&api, "GET", "/metrics", &[("authorization", "Basic abc")]).await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    let by_header = request(&api, "GET", "/api/v1/symbols", &[("x-api-key", key)]).await;
    assert_eq!(by_header.status, StatusCode::OK);
    let bearer = format!("Bearer {key}");
    let by_bearer = request(&api, "GET", "/metrics", &[("authorization", &bearer)]).await;
    assert_eq!(by_bearer.status, StatusCode::OK);
    assert_eq!(by_bearer.body, "# TYPE wadm_x counter\nwadm_x 1\n");
    let health = get(&api, "/health").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "open, and down: no feed"
    );
    assert_eq!(health.body["status"], "down");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_spares_health_and_metrics() {
    let settings = ApiSettings {
        rate_limit: RateLimit {
            per_minute: 6.try_into().unwrap(),
            burst: 3.try_into().unwrap(),
        },
        ..ApiSettings::default()
    };
    let api = bare_api(settings, "127.0.0.1:8920").unwrap();
    for _ in 0..3 {
        assert_eq!(get(&api, "/api/v1/symbols").await.status, StatusCode::OK);
    }
    let limited = get(&api, "/api/v1/gaps").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "one request per 10 s: {retry}");
    for _ in 0..10 {
        assert_ne!(
            get(&api, "/health").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(get(&api, "/metrics").await.status, StatusCode::OK);
    }
    // Another client has its own bucket.
    let other = warp::test::request()
        .path("/api/v1/symbols")
        .remote_addr(SocketAddr::from(([127, 0, 0, 2], 1)))
        .reply(&filter(Arc::clone(&api)))
        .await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_keys_only_a_loopback_bind_is_accepted_unless_explicitly_allowed() {
    let refused = bare_api(ApiSettings::default(), "0.0.0.0:8920")
        .err()
        .unwrap();
    assert!(refused.contains("allow_unauthenticated"), "{refused}");
    assert!(bare_api(ApiSettings::default(), "[::1]:8920").is_ok());
    let allowed = ApiSettings {
        allow_unauthenticated: true,
        ..ApiSettings::default()
    };
    assert!(bare_api(allowed, "0.0.0.0:8920").is_ok());
    // The configuration says the same, naming the key.
    let problems = wadm::config::load(&wadm::config::LoadOptions {
        defaults_file: None,
        config_file: None,
        env: [("WADM__API__BIND".to_owned(), "0.0.0.0:8920".to_owned())].into(),
    })
    .err()
    .unwrap()
    .to_string();
    assert!(problems.contains("api.bind"), "{problems}");
    assert!(problems.contains("allow_unauthenticated"), "{problems}");
}

#[tokio::test]
async fn an_api_published_beyond_loopback_needs_keys_whatever_else_is_set() {
    // A container binds 0.0.0.0; where its port is published decides.
    let published = |host: &str| ApiSettings {
        published_host: Some(host.to_owned()),
        allow_unauthenticated: true,
        ..ApiSettings::default()
    };
    for host in ["0.0.0.0", "203.0.113.7", "wadm.example.com", "::"] {
        let refused = bare_api(published(host), "0.0.0.0:8920").err().unwrap();
        assert!(refused.contains("published"), "{host}: {refused}");
    }
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let settings = ApiSettings {
            allow_unauthenticated: false,
            ..published(host)
        };
        assert!(bare_api(settings, "0.0.0.0:8920").is_ok(), "{host}");
    }
    let problems = wadm::config::load(&wadm::config::LoadOptions {
        defaults_file: None,
        config_file: None,
        env: [
            ("WADM__API__BIND".to_owned(), "0.0.0.0:8920".to_owned()),
            ("WADM__API__PUBLISHED_HOST".to_owned(), "0.0.0.0".to_owned()),
            (
                "WADM__API__ALLOW_UNAUTHENTICATED".to_owned(),
                "true".to_owned(),
            ),
        ]
        .into(),
    })
    .err()
    .unwrap()
    .to_string();
    assert!(problems.contains("api.published_host"), "{problems}");
}

#[tokio::test]
async fn without_keys_a_request_through_a_reverse_proxy_is_refused() {
    let api = bare_api(generous(), "127.0.0.1:8920").unwrap();
    assert_eq!(get(&api, "/api/v1/symbols").await.status, StatusCode::OK);
    for header in ["X-Forwarded-For", "Forwarded", "X-Real-IP", "Via"] {
        let answer = request(&api, "GET", "/api/v1/symbols", &[(header, "203.0.113.7")]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{header}");
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("proxy")),
            "{}",
            answer.body
        );
    }
    // /health stays open (the proxy's own checks), and an explicit opt-in allows the rest.
    let health = request(
        &api,
        "GET",
        "/health",
        &[("X-Forwarded-For", "203.0.113.7")],
    )
    .await;
    assert_ne!(health.status, StatusCode::UNAUTHORIZED);
    let open = bare_api(
        ApiSettings {
            allow_unauthenticated: true,
            ..generous()
        },
        "127.0.0.1:8920",
    )
    .unwrap();
    let answer = request(&open, "GET", "/api/v1/symbols", &[("Via", "1.1 caddy")]).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let settings = ApiSettings {
        cors_origins: vec!["http://localhost:3000".into()],
        ..generous()
    };
    let api = bare_api(settings, "127.0.0.1:8920").unwrap();
    let allowed = request(
        &api,
        "GET",
        "/api/v1/symbols",
        &[("origin", "http://localhost:3000")],
    )
    .await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let preflight = request(
        &api,
        "OPTIONS",
        "/api/v1/symbols",
        &[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert!(
        preflight.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-api-key")
    );
    let stranger = request(
        &api,
        "OPTIONS",
        "/api/v1/symbols",
        &[("origin", "http://evil.test")],
    )
    .await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    assert_eq!(stranger.code(), "origin_not_allowed");
    let plain = request(
        &api,
        "GET",
        "/api/v1/symbols",
        &[("origin", "http://evil.test")],
    )
    .await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(!plain.headers.contains_key("access-control-allow-origin"));
}

/// The documented paths are the routes, and every documented parameter is accepted.
#[tokio::test]
async fn the_openapi_document_describes_every_route_and_parameter() {
    let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut routes = ROUTES.to_vec();
    documented.sort_unstable();
    routes.sort_unstable();
    assert_eq!(documented, routes);
    let api = bare_api(generous(), "127.0.0.1:8920").unwrap();
    let served = get(&api, "/api/v1/openapi.json").await;
    assert_eq!(served.body, doc);
    for (path, item) in doc["paths"].as_object().unwrap() {
        let operation = &item["get"];
        assert!(operation["responses"]["200"].is_object(), "{path}");
        let concrete = path
            .replace("{symbol}", "BTCUSDT")
            .replace("{asset}", "app.js");
        for parameter in operation["parameters"].as_array().unwrap() {
            if parameter["in"] != "query" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap();
            let value = match name {
                "venue" => "binance-spot",
                "window" | "timeframe" | "period" => "1h",
                "row_size" => "10",
                "value_area" => "0.5",
                "symbol" => "BTCUSDT",
                _ => "1",
            };
            let answer = get(&api, &format!("{concrete}?{name}={value}")).await;
            assert!(
                !answer.message().contains("unknown parameter"),
                "{path} documents {name} but refuses it: {}",
                answer.message()
            );
            for status in ["400", "503"] {
                if answer.status.as_str() == status {
                    assert!(
                        operation["responses"][status].is_object(),
                        "{path}?{name}: {status} is not documented"
                    );
                }
            }
        }
        let undocumented = get(&api, &format!("{concrete}?undocumented=1")).await;
        assert_eq!(undocumented.status, StatusCode::BAD_REQUEST, "{path}");
    }
}

fn trade_of(sim: &SimTrade, symbol: Symbol) -> Trade {
    common::live::stream_trade(sim, Venue::BinanceSpot, symbol)
}

fn decimal<T: std::str::FromStr>(value: &Value) -> T
where
    T::Err: std::fmt::Debug,
{
    value.as_str().unwrap().parse().unwrap()
}

/// Daemon + simulated exchange + embedded store: the live answers equal the aggregator maths
/// over the very trades the simulator generated (those the answering snapshot had seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_profile_and_order_flow_equal_the_maths_over_the_simulated_trades() {
    let venue = Venue::BinanceSpot;
    let btc = sym("BTCUSDT");
    let (sim, daemon) = start(&[venue], &["BTCUSDT"], GENEROUS).await;
    wait_book_synced(&daemon, venue, "BTCUSDT").await;
    wait_until(LONG, "200 trades aggregated", || async {
        daemon
            .snapshots
            .latest(venue, btc)
            .is_some_and(|s| s.counts.trades >= 200)
    })
    .await;
    // Answers and the snapshot they came from: read until no publish happened in between.
    let mut attempts = 0;
    let (snapshot, profile, flow) = loop {
        attempts += 1;
        assert!(
            attempts < 1000,
            "the snapshot never held still between two answers"
        );
        let before = daemon.snapshots.latest(venue, btc).unwrap();
        let profile = get(
            &daemon.api,
            "/api/v1/volume-profile/btcusdt?window=1h&row_size=20&value_area=0.6",
        )
        .await;
        let flow = get(&daemon.api, "/api/v1/order-flow/current/BTCUSDT?period=1h").await;
        let after = daemon.snapshots.latest(venue, btc).unwrap();
        if Arc::ptr_eq(&before, &after) {
            break (after, profile, flow);
        }
    };
    assert_eq!(profile.status, StatusCode::OK, "{:?}", profile.body);
    assert_eq!(flow.status, StatusCode::OK, "{:?}", flow.body);
    let (first, last) = (
        snapshot.counts.first_trade_id.unwrap(),
        snapshot.counts.last_trade_id.unwrap(),
    );
    let generated = sim.totals(venue, btc).recorded;
    let seen: Vec<Trade> = generated
        .iter()
        .filter(|t| (first..=last).contains(&t.id))
        .map(|t| trade_of(t, btc))
        .collect();
    assert_eq!(
        seen.len() as u64,
        last - first + 1,
        "every id was generated once"
    );

    // Volume profile of the rolling hour, on rows twice the configured height.
    assert_eq!(profile.body["venue"], "binance-spot");
    assert_eq!(profile.body["params"]["row_size"], "20");
    assert_eq!(profile.body["params"]["value_area"], "0.6");
    let base: Price = decimal(&profile.body["params"]["base_row_size"]);
    let grid = RowGrid::new(base).unwrap().coarser(2).unwrap();
    let (start_ms, end_ms) = (
        profile.body["profile"]["start"].as_i64().unwrap(),
        profile.body["profile"]["end"].as_i64().unwrap(),
    );
    let mut bar = Bar::new(start_ms, end_ms);
    let (from, to) = (bar.start, bar.end);
    for trade in seen.iter().filter(|t| (from..to).contains(&t.trade_time.0)) {
        bar.add(&grid, trade);
    }
    let value_area = "0.6".parse().unwrap();
    let params = ProfileParams::default();
    let expected = WindowReport::of(&bar, &grid, value_area, &params.imbalance, Qty::ZERO);
    let answer = &profile.body["profile"];
    assert_eq!(answer["trades"].as_u64().unwrap(), expected.trades);
    assert!(expected.trades > 0);
    for (field, value) in [
        ("volume", Some(expected.volume)),
        ("buy_volume", Some(expected.buy_volume)),
        ("sell_volume", Some(expected.sell_volume)),
        ("poc_volume", expected.poc_volume),
        ("value_area_volume", expected.value_area_volume),
    ] {
        assert_eq!(
            answer[field].as_str().map(|t| t.parse::<Qty>().unwrap()),
            value,
            "{field}"
        );
    }
    for (field, value) in [
        ("poc", expected.poc),
        ("vah", expected.vah),
        ("val", expected.val),
        ("low", expected.low),
        ("high", expected.high),
    ] {
        assert_eq!(
            answer[field].as_str().map(|t| t.parse::<Price>().unwrap()),
            value,
            "{field}"
        );
    }
    assert_eq!(
        answer["rows"],
        serde_json::to_value(&expected.footprint).unwrap()
    );
    // The VWAP, independently: each trade at its row's lower edge on the configured rows,
    // sum(v p) / sum(v) rounded to the nearest unit (the sums fit 128 bits here).
    let (mut volume, mut weighted) = (0i128, 0i128);
    for trade in seen.iter().filter(|t| (from..to).contains(&t.trade_time.0)) {
        let edge = trade.price.units().div_euclid(base.units()) * base.units();
        volume += trade.qty.units();
        weighted += trade.qty.units() * edge;
    }
    let vwap = Price::from_units((2 * weighted + volume) / (2 * volume));
    assert_eq!(decimal::<Price>(&profile.body["vwap"]["vwap"]), vwap);
    let sigma: Price = decimal(&profile.body["vwap"]["sigma"]);
    let band = &profile.body["vwap"]["bands"][1];
    assert_eq!(band["k"], 2);
    assert_eq!(
        (
            decimal::<Price>(&band["low"]),
            decimal::<Price>(&band["high"])
        ),
        (
            Price::from_units(vwap.units() - 2 * sigma.units()),
            Price::from_units(vwap.units() + 2 * sigma.units())
        )
    );
    // The volume nodes' rule and parameters are stated with them.
    let nodes = &profile.body["volume_nodes"];
    assert_eq!(nodes["params"]["radius"], 2);
    assert!(nodes["rule"].as_str().is_some_and(|r| r.contains("HVN")));

    // Order flow of the developing hour bar, on the configured rows.
    let grid = RowGrid::new(base).unwrap();
    let flow_answer = &flow.body["order_flow"];
    let mut bar = Bar::new(
        flow_answer["start"].as_i64().unwrap(),
        flow_answer["end"].as_i64().unwrap(),
    );
    let (from, to) = (bar.start, bar.end);
    for trade in seen.iter().filter(|t| (from..to).contains(&t.trade_time.0)) {
        bar.add(&grid, trade);
    }
    let session_start = params
        .session
        .session_start(snapshot.last_trade_time.unwrap());
    let cvd = seen
        .iter()
        .filter(|t| t.trade_time.0 >= session_start)
        .fold(Qty::ZERO, |cvd, t| match t.side {
            Side::Buy => cvd + t.qty,
            Side::Sell => cvd - t.qty,
        });
    let expected = WindowReport::of(&bar, &grid, params.value_area, &params.imbalance, cvd);
    assert_eq!(flow_answer["trades"].as_u64().unwrap(), expected.trades);
    assert_eq!(decimal::<Qty>(&flow_answer["delta"]), expected.delta);
    assert_eq!(decimal::<Qty>(&flow_answer["cvd"]), cvd);
    assert_eq!(
        decimal::<Qty>(&flow_answer["buy_volume"]),
        expected.buy_volume
    );
    assert_eq!(
        decimal::<Qty>(&flow_answer["sell_volume"]),
        expected.sell_volume
    );
    for field in [
        "footprint",
        "buy_imbalances",
        "sell_imbalances",
        "stacked_imbalances",
    ] {
        let expected = serde_json::to_value(&expected).unwrap();
        assert_eq!(flow_answer[field], expected[field], "{field}");
    }
    let absorption: Vec<Value> = order_flow::absorption(&bar.footprint, &params.absorption)
        .iter()
        .map(|a| {
            serde_json::json!({
                "price": grid.label(a.row), "side": a.side, "volume": a.volume, "time": a.time,
            })
        })
        .collect();
    assert_eq!(flow_answer["absorption"], Value::Array(absorption));

    // The other live routes answer from the same daemon.
    for path in [
        "/health",
        "/api/v1/status",
        "/api/v1/symbols",
        "/api/v1/orderbook/BTCUSDT?depth=5",
        "/api/v1/trades/BTCUSDT?limit=3",
        "/api/v1/volume-profile/BTCUSDT?window=session",
        "/api/v1/volume-profile/BTCUSDT?window=1m",
        "/api/v1/order-flow/current/BTCUSDT",
    ] {
        let answer = get(&daemon.api, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
    }
    let book = get(&daemon.api, "/api/v1/orderbook/BTCUSDT?depth=5").await;
    assert_eq!(book.body["bids"].as_array().unwrap().len(), 5);
    assert!(book.body["update_id"].as_u64().unwrap() > 0);
    let trades = get(&daemon.api, "/api/v1/trades/BTCUSDT?limit=3").await;
    assert_eq!(trades.body["trades"].as_array().unwrap().len(), 3);
    let status = get(&daemon.api, "/api/v1/status").await;
    let kinds: Vec<&str> = status.body["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    for kind in ["api", "connection", "aggregator", "persistence"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(status.body["venues"][0]["venue"], "binance-spot");
    let health = get(&daemon.api, "/health").await;
    assert_eq!(health.body["status"], "ok", "{:?}", health.body);

    // Stored data comes back through the history routes once persistence has written it.
    wait_until(LONG, "raw trades stored", || async {
        let answer = get(&daemon.api, "/api/v1/trades/BTCUSDT?from=0&limit=5").await;
        answer.body["trades"]
            .as_array()
            .is_some_and(|t| t.len() == 5)
    })
    .await;
    let stored = get(&daemon.api, "/api/v1/trades/BTCUSDT?from=0&limit=5").await;
    assert_eq!(stored.body["source"], "store");
    let times: Vec<i64> = stored.body["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trade_time"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// One blocking HTTP/1.1 GET over a fresh connection; returns the status line and body.
fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The daemon binary with keys configured and every log level on: neither the key (good or
/// bad) nor its hash appears anywhere in what it logs, while requests with it succeed.
#[test]
fn keys_never_appear_in_logs_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let key = "wadm_5ecret_key_for_the_log_test_0123456789abcdef";
    let wrong = "wadm_wrong_key_for_the_log_test_fedcba9876543210";
    let hash = hash_key(key).unwrap();
    let config = dir.path().join("wadm.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbind = \"127.0.0.1:0\"\n\n[[api.keys]]\nname = \"mcp\"\nhash = \"{hash}\"\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut daemon = common::Daemon::start(
        &["--config", config.to_str().unwrap(), "run"],
        &[
            ("COLLECTORS_ENABLED", "false"),
            ("WADM__LOG__LEVEL", "trace"),
            ("WADM__STORAGE__EMBEDDED__PATH", data.to_str().unwrap()),
        ],
        dir.path(),
    );
    let started = daemon.wait_for_line("wadm started", LONG);
    let addr = started
        .split("api=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {key}");
    let (ok, _) = http_get(&addr, "/api/v1/symbols", &[("X-API-Key", key)]);
    assert!(ok.contains(" 200 "), "{ok}");
    let (ok, _) = http_get(&addr, "/api/v1/status", &[("Authorization", &bearer)]);
    assert!(ok.contains(" 200 "), "{ok}");
    let (refused, body) = http_get(&addr, "/api/v1/symbols", &[("X-API-Key", wrong)]);
    assert!(refused.contains(" 401 "), "{refused}");
    assert!(!body.contains(wrong));
    let (refused, _) = http_get(&addr, &format!("/api/v1/gaps?key={key}"), &[]);
    assert!(refused.contains(" 401 "), "{refused}");
    daemon.wait_for_line("API key accepted", LONG);
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, logs) = daemon.wait_exit(LONG);
    assert!(status.success(), "{logs}");
    assert!(logs.contains("TRACE"), "trace logging was on");
    for secret in [key, wrong, hash.as_str(), &hash[hash.len() - 20..]] {
        assert!(!logs.contains(secret), "{secret} was logged:\n{logs}");
    }
}
