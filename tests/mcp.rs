//! `wadm mcp` driven by a real MCP client: the official Python SDK (PyPI `mcp`, through
//! `tests/mcp/driver.py`) starts the `wadm mcp` binary and speaks to it over stdio, against an
//! in-process daemon (API keys on) fed by the simulated exchange.
//!
//! The test lists the tools and calls each one, and checks every answer against the REST
//! API's answer to the same request, fetched by the test itself. It then checks the error
//! paths: the API's refusals (unknown symbol, bad parameter, wrong key) arrive as tool errors
//! with the API's code and message; wrong arguments are refused before any request; and
//! once the daemon is stopped, every tool reports `api_unreachable` while the server keeps
//! answering.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use common::live::{
    LONG, config_from, env_for, sym, wait_book_synced, wait_last_trades, wait_streaming, wait_until,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use wadm::app::Daemon;
use wadm::config::Config;
use wadm::simulator::{Misbehaviour, Pace, SimConfig, Simulator};
use wadm_actors::api::ApiKey;
use wadm_actors::model::{Kline, KlineInterval, TimestampMs, UnixNanos, Venue};
use wadm_actors::storage::Document;

const VENUES: [Venue; 2] = [Venue::BinanceSpot, Venue::BybitLinear];
const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
/// Steps of the stream, one every 5 ms.
const STEPS: u64 = 600;

/// `wadm mcp` under the Python MCP client, asked one command at a time.
struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Driver {
    /// Starts the driver and, under it, `wadm mcp --api-url api_url` with `key` in
    /// `WADM_API_KEY`.
    fn start(api_url: &str, key: Option<&str>) -> Driver {
        let mut command = tokio::process::Command::new(common::python());
        command
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/driver.py"))
            .arg(common::wadm_binary())
            .args(["mcp", "--api-url", api_url, "--timeout", "5s"])
            .env_remove("WADM_API_URL")
            .env_remove("WADM_API_KEY")
            .env("WADM_MCP_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(key) = key {
            command.env("WADM_API_KEY", key);
        }
        let mut child = command
            .spawn()
            .expect("python3 with the mcp package: run `tests/run.sh setup`");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let collected = Arc::clone(&stderr);
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                collected.lock().unwrap().push(line);
            }
        });
        Driver {
            child,
            stdin,
            stdout,
            stderr,
            reader: Some(reader),
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Sends one command and returns its answer.
    async fn ask(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        let line = format!("{command}\n");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        match tokio::time::timeout(LONG, self.stdout.next_line()).await {
            Ok(Ok(Some(answer))) => serde_json::from_str(&answer).unwrap(),
            other => panic!(
                "no answer to {command}: {other:?}\ndriver stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Calls tool `name`.
    async fn call(&mut self, name: &str, arguments: Value) -> Value {
        self.ask(json!({"op": "call", "name": name, "arguments": arguments}))
            .await
    }

    /// Calls tool `name` and returns its structured result, which must be a success whose
    /// text is the same JSON.
    async fn data(&mut self, name: &str, arguments: Value) -> Value {
        let answer = self.call(name, arguments.clone()).await;
        assert_eq!(
            answer["is_error"],
            false,
            "{name} {arguments}: {answer}\n{}",
            self.stderr()
        );
        let text: Value = serde_json::from_str(answer["text"][0].as_str().unwrap()).unwrap();
        assert_eq!(
            text, answer["structured"],
            "{name}: text and structured agree"
        );
        answer["structured"].clone()
    }

    /// Calls tool `name` and returns the error of its tool-error result.
    async fn error(&mut self, name: &str, arguments: Value) -> Value {
        let answer = self.call(name, arguments.clone()).await;
        assert_eq!(answer["is_error"], true, "{name} {arguments}: {answer}");
        let text: Value = serde_json::from_str(answer["text"][0].as_str().unwrap()).unwrap();
        assert_eq!(text, answer["structured"]);
        answer["structured"]["error"].clone()
    }

    /// Closes the session and waits for the driver (and so the server) to exit.
    async fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let status = tokio::time::timeout(LONG, self.child.wait())
            .await
            .expect("the driver exits when its input ends")
            .unwrap();
        // The stderr reader ends with the process.
        if let Some(reader) = self.reader.take() {
            tokio::time::timeout(LONG, reader)
                .await
                .expect("the driver's stderr closes")
                .unwrap();
        }
        (status, self.stderr())
    }
}

/// The test's own REST client.
struct Rest {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Rest {
    /// (status, body) of `GET path` with the key.
    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, Some(&self.key)).await
    }

    async fn get_with(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    /// The body of `GET path`, which must be 200.
    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

/// `value` without the keys in `volatile`, at any depth: what changes between two reads of
/// an idle daemon (clock readings, ages, traffic counters).
fn stable(value: &Value, volatile: &[&str]) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(key, _)| !volatile.contains(&key.as_str()))
                .map(|(key, v)| (key.clone(), stable(v, volatile)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| stable(v, volatile)).collect()),
        other => other.clone(),
    }
}

/// Clock readings in market answers.
/// (`covered_to` of a history answer is now, while the feed streams.)
const MARKET_VOLATILE: &[&str] = &["as_of", "age_ms", "covered_to"];
/// Clock readings and traffic counters in health and status answers.
const STATUS_VOLATILE: &[&str] = &[
    "time",
    "uptime_seconds",
    "uptime_ms",
    "last_frame_age_ms",
    "frames",
    "bytes",
    "messages_handled",
    "last_data_at_ms",
    "queue_len",
    "buffered_documents",
    "persistence",
    "api",
];

fn config_of(env: &BTreeMap<String, String>, key_hash: &str) -> Config {
    let mut config = config_from(env.clone());
    // An alert on the perpetual's liquidations, delivered nowhere (a closed port): its log
    // is what get_alerts reads.
    config.alerts = common::live::alert_settings(
        r#"
        [alerts]
        attempts = 1
        [[alerts.destinations]]
        name = "nowhere"
        kind = "webhook"
        url = "http://127.0.0.1:9/hook"
        [[alerts.rules]]
        name = "liq"
        venues = ["bybit-linear"]
        symbols = ["BTCUSDT"]
        condition = "liquidation"
        min_qty = "0.000001"
        cooldown = "1h"
        destinations = ["nowhere"]
        "#,
        &config.pairs(),
    );
    config.api.settings.keys.push(ApiKey {
        name: "mcp".into(),
        hash: key_hash.to_owned(),
        prefix: None,
    });
    config
}

async fn wait_ready(daemon: &Daemon) {
    for venue in VENUES {
        wait_streaming(daemon, venue).await;
        for symbol in SYMBOLS {
            wait_book_synced(daemon, venue, symbol).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_mcp_client_reads_every_tool_and_gets_the_rest_answers_and_errors() {
    let mut sim_config = SimConfig::local(&VENUES, &SYMBOLS);
    sim_config.record_trades = true;
    sim_config.gated = true;
    sim_config.pace = Pace::RealTime {
        tick: std::time::Duration::from_millis(5),
    };
    sim_config.params.steps = Some(STEPS);
    let sim = Simulator::start(sim_config).await.unwrap();
    let env = env_for(
        &sim,
        &VENUES,
        &SYMBOLS,
        &[
            ("WADM__PERSISTENCE__RAW_TRADES", "true"),
            ("WADM__API__REQUESTS_PER_MINUTE", "6000000"),
            ("WADM__API__BURST", "100000"),
            // The finished stream goes quiet: no watchdog may reconnect and change the data.
            ("WADM__CONNECTION__BOOK_TIMEOUT", "10m"),
            ("WADM__CONNECTION__TRADE_TIMEOUT", "10m"),
            ("WADM__CONNECTION__TRANSPORT_TIMEOUT", "10m"),
        ],
    );
    let (key, hash) = wadm_actors::api::generate_key().unwrap();

    // A first daemon takes half the stream, loses its sockets once (data-quality events),
    // and stops: its open bars are stored as partial bars, which the history tools read (the
    // hour's: a minute's may close, and be stored whole, before the comparisons).
    let first = Daemon::start(config_of(&env, &hash)).await.unwrap();
    wait_ready(&first).await;
    sim.start_markets().await;
    wait_until(LONG, "a quarter of the stream", || async {
        VENUES.iter().all(|&v| sim.counters(v).steps >= STEPS / 4)
    })
    .await;
    for venue in VENUES {
        sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
            .await;
    }
    wait_until(LONG, "half the stream", || async {
        VENUES.iter().all(|&v| sim.counters(v).steps >= STEPS / 2)
    })
    .await;
    sim.pause_markets().await;
    wait_last_trades(&sim, &first, &VENUES, &SYMBOLS).await;
    first.shutdown().await.unwrap();

    // The second daemon, on the same store, takes the rest of the stream live (with a
    // liquidation cascade on the perpetual).
    let daemon = Daemon::start(config_of(&env, &hash)).await.unwrap();
    wait_ready(&daemon).await;
    sim.misbehave(
        Venue::BybitLinear,
        Misbehaviour::LiquidationCascade {
            symbol: sym("BTCUSDT"),
            count: 20,
        },
    )
    .await;
    sim.start_markets().await;
    wait_until(LONG, "the end of the stream", || async {
        sim.finished(STEPS)
    })
    .await;
    wait_last_trades(&sim, &daemon, &VENUES, &SYMBOLS).await;
    // A venue candle, stored as the persistence actor stores closed ones (none closes in a
    // few seconds of stream).
    let now = TimestampMs(UnixNanos::now().0 / 1_000_000);
    let minute = now.0 - now.0 % 60_000 - 60_000;
    let kline = Kline {
        venue: Venue::BinanceSpot,
        symbol: sym("BTCUSDT"),
        interval: KlineInterval::Minute1,
        open_time: TimestampMs(minute),
        close_time: TimestampMs(minute + 59_999),
        open: "60000.1".parse().unwrap(),
        high: "60010".parse().unwrap(),
        low: "59990.5".parse().unwrap(),
        close: "60001".parse().unwrap(),
        volume: "1.25".parse().unwrap(),
        quote_volume: "75001.2".parse().unwrap(),
        taker_buy_volume: Some("0.5".parse().unwrap()),
        taker_buy_quote_volume: Some("30000.4".parse().unwrap()),
        trade_count: Some(42),
        first_trade_id: Some(1),
        last_trade_id: Some(42),
        closed: true,
        event_time: TimestampMs(minute + 60_000),
        received_at: UnixNanos((minute + 60_001) * 1_000_000),
    };
    daemon
        .store
        .write(vec![Document::Kline(Arc::new(kline))].into())
        .await
        .unwrap();

    let rest = Rest {
        http: reqwest::Client::new(),
        base: format!("http://{}", daemon.api_addr),
        key: key.clone(),
    };
    let to = now.0 + 3_600_000;
    // Range tools: the last two hours (the whole stream).
    let since = now.0 - 2 * 3_600_000;
    // Every raw trade is stored before the comparisons start.
    let last_eth = sim
        .totals(Venue::BybitLinear, sym("ETHUSDT"))
        .last_id
        .map(|id| common::live::venue_id(Venue::BybitLinear, id))
        .unwrap();
    wait_until(LONG, "the last trades stored", || async {
        let (_, body) = rest
            .get(&format!(
                "/api/v1/trades/ETHUSDT?venue=bybit-linear&limit=50&from=0&to={to}"
            ))
            .await;
        body["trades"]
            .as_array()
            .and_then(|t| t.last())
            .is_some_and(|t| t["id"] == last_eth.as_str())
    })
    .await;

    let api_url = format!("http://{}", daemon.api_addr);
    let mut mcp = Driver::start(&api_url, Some(&key));

    // The session: server identity, instructions, tools with schemas and descriptions.
    let init = mcp.ask(json!({"op": "init"})).await;
    assert_eq!(init["server"]["name"], "wadm");
    assert!(
        init["instructions"]
            .as_str()
            .unwrap()
            .contains("list_symbols")
    );
    let tools = mcp.ask(json!({"op": "list"})).await["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "list_symbols",
            "get_volume_profile",
            "get_volume_profile_history",
            "get_order_flow",
            "get_order_flow_history",
            "get_market_context",
            "get_range_profile",
            "get_range_order_flow",
            "get_session_levels",
            "get_naked_pocs",
            "get_anchored_vwap",
            "get_liquidations",
            "get_derivatives",
            "get_order_book",
            "get_recent_trades",
            "get_klines",
            "get_data_gaps",
            "get_alerts",
            "get_collector_status",
        ]
    );
    for tool in tools.as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert!(tool["description"].as_str().unwrap().len() > 100, "{tool}");
        assert_eq!(tool["annotations"]["readOnlyHint"], true, "{tool}");
    }

    // Each tool, against the REST answer to the same request.
    let cases: Vec<(&str, Value, String)> = vec![
        ("list_symbols", json!({}), "/api/v1/symbols".into()),
        (
            "get_volume_profile",
            json!({"symbol": "btcusdt", "window": "1h"}),
            "/api/v1/volume-profile/BTCUSDT?window=1h".into(),
        ),
        (
            "get_volume_profile",
            json!({"symbol": "ETHUSDT", "venue": "bybit-linear", "window": "24h",
                   "row_size": "2", "value_area": 0.6}),
            "/api/v1/volume-profile/ETHUSDT?venue=bybit-linear&window=24h&row_size=2&value_area=0.6"
                .into(),
        ),
        (
            "get_volume_profile_history",
            json!({"symbol": "BTCUSDT", "timeframe": "1h", "from": 0, "to": to, "limit": 10}),
            format!("/api/v1/volume-profile/BTCUSDT/history?timeframe=1h&from=0&to={to}&limit=10"),
        ),
        (
            "get_order_flow",
            json!({"symbol": "BTCUSDT", "venue": "bybit-linear", "period": "1h"}),
            "/api/v1/order-flow/current/BTCUSDT?venue=bybit-linear&period=1h".into(),
        ),
        (
            "get_order_flow_history",
            json!({"symbol": "ETHUSDT", "timeframe": "1h", "from": 0, "to": to.to_string()}),
            format!("/api/v1/order-flow/ETHUSDT/history?timeframe=1h&from=0&to={to}"),
        ),
        (
            "get_order_book",
            json!({"symbol": "BTCUSDT", "depth": 5}),
            "/api/v1/orderbook/BTCUSDT?depth=5".into(),
        ),
        (
            "get_recent_trades",
            json!({"symbol": "BTCUSDT", "limit": 20}),
            "/api/v1/trades/BTCUSDT?limit=20".into(),
        ),
        (
            "get_recent_trades",
            json!({"symbol": "ETHUSDT", "venue": "bybit-linear", "limit": 50, "from": 0, "to": to}),
            format!("/api/v1/trades/ETHUSDT?venue=bybit-linear&limit=50&from=0&to={to}"),
        ),
        (
            "get_klines",
            json!({"symbol": "BTCUSDT", "from": 0, "to": to}),
            format!("/api/v1/klines/BTCUSDT?from=0&to={to}"),
        ),
        (
            "get_data_gaps",
            json!({"from": 0, "to": to, "limit": 1000}),
            format!("/api/v1/gaps?from=0&to={to}&limit=1000"),
        ),
        (
            "get_market_context",
            json!({"symbol": "BTCUSDT", "venue": "all"}),
            "/api/v1/context/BTCUSDT?venue=all".into(),
        ),
        (
            "get_range_profile",
            json!({"symbol": "BTCUSDT", "venue": "binance-spot,bybit-linear", "from": since}),
            format!("/api/v1/volume-profile/BTCUSDT?venue=binance-spot%2Cbybit-linear&from={since}"),
        ),
        (
            "get_range_order_flow",
            json!({"symbol": "ETHUSDT", "from": since, "to": to, "row_size": "1"}),
            format!("/api/v1/order-flow/ETHUSDT?from={since}&to={to}&row_size=1"),
        ),
        (
            "get_session_levels",
            json!({"symbol": "BTCUSDT", "venue": "bybit-linear"}),
            "/api/v1/sessions/BTCUSDT?venue=bybit-linear".into(),
        ),
        (
            "get_naked_pocs",
            json!({"symbol": "BTCUSDT", "lookback_days": 5}),
            "/api/v1/naked-pocs/BTCUSDT?lookback_days=5".into(),
        ),
        (
            "get_anchored_vwap",
            json!({"symbol": "ETHUSDT", "anchor": since}),
            format!("/api/v1/vwap/ETHUSDT?anchor={since}"),
        ),
        (
            "get_liquidations",
            json!({"symbol": "BTCUSDT", "venue": "bybit-linear", "from": since, "limit": 50}),
            format!("/api/v1/liquidations/BTCUSDT?venue=bybit-linear&from={since}&limit=50"),
        ),
        (
            "get_derivatives",
            json!({"symbol": "BTCUSDT", "venue": "bybit-linear", "from": since, "timeframe": "1m"}),
            format!("/api/v1/derivatives/BTCUSDT?venue=bybit-linear&from={since}&timeframe=1m"),
        ),
    ];
    for (tool, arguments, path) in &cases {
        // A minute boundary may move a window between two reads: the tool's answer must
        // equal the REST answer just before or just after it.
        let before = stable(&rest.ok(path).await, MARKET_VOLATILE);
        let answer = mcp.data(tool, arguments.clone()).await;
        let after = stable(&rest.ok(path).await, MARKET_VOLATILE);
        assert_eq!(answer["request"], format!("GET {path}"), "{tool}");
        assert!(answer["units"]["price"].is_string(), "{tool} states units");
        let data = stable(&answer["data"], MARKET_VOLATILE);
        assert!(
            data == before || data == after,
            "{tool} {arguments} equals GET {path}:\n{data}\nREST:\n{before}\n{after}"
        );
    }

    // The comparisons above were over real data.
    let answer = |i: usize| {
        let path: &String = &cases[i].2;
        let rest = &rest;
        async move { rest.ok(path).await }
    };
    assert_eq!(answer(0).await["symbols"].as_array().unwrap().len(), 2);
    assert!(
        !answer(1).await["profile"]["rows"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let history = answer(3).await;
    let bars = history["bars"].as_array().unwrap();
    assert!(
        !bars.is_empty(),
        "the first daemon's partial bars: {history}"
    );
    assert!(bars.iter().any(|b| b["partial"] == true), "{history}");
    assert!(!answer(5).await["bars"].as_array().unwrap().is_empty());
    assert_eq!(answer(6).await["bids"].as_array().unwrap().len(), 5);
    assert_eq!(answer(7).await["trades"].as_array().unwrap().len(), 20);
    assert_eq!(answer(8).await["source"], "store");
    assert!(!answer(9).await["klines"].as_array().unwrap().is_empty());
    let context = answer(11).await;
    assert!(context["last_price"].is_string(), "{context}");
    let composite = answer(12).await;
    assert_eq!(
        composite["by_venue"].as_array().unwrap().len(),
        2,
        "{composite}"
    );
    assert!(composite["profile"]["trades"].as_u64().unwrap() > 0);
    assert!(answer(13).await["order_flow"]["trades"].as_u64().unwrap() > 0);
    assert!(answer(16).await["vwap"]["vwap"].is_string());
    let liquidations = answer(17).await;
    assert_eq!(
        liquidations["events"].as_array().unwrap().len(),
        20,
        "the cascade: {liquidations}"
    );
    assert!(
        !answer(18).await["bars"].as_array().unwrap().is_empty(),
        "open interest and funding per minute"
    );
    // The alert log: the cascade fired the rule once; its delivery failed (nothing listens).
    wait_until(LONG, "the alert logged with its delivery", || async {
        let (_, log) = rest.get("/api/v1/alerts?rule=liq").await;
        log["alerts"]
            .as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["deliveries"][0]["state"] == "failed")
    })
    .await;
    let log = rest.ok(&format!("/api/v1/alerts?rule=liq&to={to}")).await;
    let alerts = mcp
        .data("get_alerts", json!({"rule": "liq", "to": to}))
        .await;
    assert_eq!(
        alerts["request"],
        format!("GET /api/v1/alerts?rule=liq&to={to}")
    );
    assert_eq!(alerts["data"], log);
    assert_eq!(log["alerts"][0]["condition"], "liquidation");
    let gaps = answer(10).await;
    assert!(
        gaps["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "reconnect"),
        "the lost sockets are recorded: {gaps}"
    );

    // Collector status: health and status, summarised or whole.
    let health = rest.ok("/health").await;
    let status = rest.ok("/api/v1/status").await;
    let summary = mcp.data("get_collector_status", json!({})).await;
    assert_eq!(summary["request"], "GET /health + GET /api/v1/status");
    let data = &summary["data"];
    assert_eq!(
        stable(&data["health"], STATUS_VOLATILE),
        stable(&health, STATUS_VOLATILE)
    );
    assert_eq!(data["health"]["status"], "ok");
    assert_eq!(
        stable(&data["venues"], STATUS_VOLATILE),
        stable(&status["venues"], STATUS_VOLATILE)
    );
    assert_eq!(
        data["persistence"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        status["persistence"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    let actors = status["actors"].as_array().unwrap();
    assert_eq!(data["actors"]["total"], actors.len());
    assert_eq!(data["actors"]["running"], actors.len());
    assert_eq!(data["actors"]["not_running"], json!([]));
    let full = mcp
        .data("get_collector_status", json!({"detail": "full"}))
        .await;
    assert_eq!(
        stable(&full["data"]["status"], STATUS_VOLATILE),
        stable(&status, STATUS_VOLATILE)
    );

    // The API's refusals, with its code and message.
    for (tool, arguments, path) in [
        (
            "get_order_flow",
            json!({"symbol": "DOGEUSDT"}),
            "/api/v1/order-flow/current/DOGEUSDT",
        ),
        (
            "get_volume_profile",
            json!({"symbol": "BTCUSDT", "row_size": "0.5"}),
            "/api/v1/volume-profile/BTCUSDT?row_size=0.5",
        ),
        (
            "get_order_book",
            json!({"symbol": "BTCUSDT", "depth": 500}),
            "/api/v1/orderbook/BTCUSDT?depth=500",
        ),
    ] {
        let error = mcp.error(tool, arguments).await;
        let (status, body) = rest.get(path).await;
        assert!(status >= 400, "{path}");
        assert_eq!(error["code"], body["error"]["code"], "{path}");
        assert_eq!(error["message"], body["error"]["message"], "{path}");
        assert_eq!(error["http_status"], status, "{path}");
        assert_eq!(error["request"], format!("GET {path}"));
    }
    // Wrong arguments are refused before any request, naming the problem.
    let error = mcp
        .error(
            "get_volume_profile",
            json!({"symbol": "BTCUSDT", "windows": "1h"}),
        )
        .await;
    assert_eq!(error["code"], "bad_parameter");
    assert!(
        error["message"].as_str().unwrap().contains("windows"),
        "{error}"
    );
    let error = mcp
        .error(
            "get_klines",
            json!({"symbol": "BTCUSDT", "from": "last tuesday"}),
        )
        .await;
    assert_eq!(
        (error["code"].as_str(), error["parameter"].as_str()),
        (Some("bad_parameter"), Some("from"))
    );
    let unknown = mcp.call("get_weather", json!({})).await;
    assert_eq!(unknown["protocol_error"]["code"], -32602, "{unknown}");

    // A wrong key is the API's 401, as the API words it.
    let mut wrong = Driver::start(&api_url, Some("wadm_not-a-key"));
    let error = wrong.error("list_symbols", json!({})).await;
    let (status, body) = rest
        .get_with("/api/v1/symbols", Some("wadm_not-a-key"))
        .await;
    assert_eq!(status, 401);
    assert_eq!(error["code"], body["error"]["code"]);
    assert_eq!(error["message"], body["error"]["message"]);
    let (exit, _) = wrong.finish().await;
    assert!(exit.success());

    // The API goes away: every tool says so, and the server keeps serving.
    daemon.shutdown().await.unwrap();
    for tool in &names {
        let arguments = match *tool {
            "get_data_gaps" | "get_collector_status" | "list_symbols" | "get_alerts" => json!({}),
            "get_range_profile" | "get_range_order_flow" => json!({"symbol": "BTCUSDT", "from": 0}),
            "get_anchored_vwap" => json!({"symbol": "BTCUSDT", "anchor": 0}),
            _ => json!({"symbol": "BTCUSDT"}),
        };
        let error = mcp.error(tool, arguments).await;
        assert_eq!(error["code"], "api_unreachable", "{tool}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&api_url), "{tool}: {message}");
    }
    let listed = mcp.ask(json!({"op": "list"})).await;
    assert_eq!(listed["tools"].as_array().unwrap().len(), names.len());
    let (exit, stderr) = mcp.finish().await;
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("tool call failed"), "{stderr}");
    assert!(!stderr.contains(&key), "the key is never logged");
    sim.stop().await;
}
