//! Alerts (issue #21) end to end: a daemon fed by the simulated exchange fires its rules on
//! the live stream and delivers them to a local webhook receiver (signed, retried after a
//! 500, in the chat services' shapes), logs them with their delivery state (REST), keeps
//! its aggregators' latency while a receiver never answers (its drops counted), and reloads
//! its rules on SIGHUP (a bad file keeps them, every problem logged).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::live::{LONG, sym, wait_until};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use wadm::simulator::{Misbehaviour, Simulator};
use wadm_actors::alerts::AlertSettings;
use wadm_actors::model::{Symbol, Venue};
use warp::Filter as _;

/// One request the receiver took.
#[derive(Debug, Clone)]
struct Received {
    hook: String,
    signature: Option<String>,
    body: Vec<u8>,
    answered: u16,
}

/// A local webhook receiver: `POST /hook/<name>` answers the statuses scripted for the
/// name (200 once the script is empty); `never` never answers.
#[derive(Clone)]
struct Receiver {
    addr: std::net::SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: &[(&str, &[u16])]) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<HashMap<String, VecDeque<u16>>>> = Arc::new(Mutex::new(
            script
                .iter()
                .map(|(name, statuses)| ((*name).to_owned(), statuses.iter().copied().collect()))
                .collect(),
        ));
        let log = Arc::clone(&received);
        let route = warp::post()
            .and(warp::path!("hook" / String))
            .and(warp::header::optional::<String>("x-wadm-signature"))
            .and(warp::body::bytes())
            .then(
                move |hook: String, signature: Option<String>, body: warp::hyper::body::Bytes| {
                    let (log, script) = (Arc::clone(&log), Arc::clone(&script));
                    async move {
                        if hook == "never" {
                            log.lock().unwrap().push(Received {
                                hook: hook.clone(),
                                signature: signature.clone(),
                                body: body.to_vec(),
                                answered: 0,
                            });
                            std::future::pending::<()>().await;
                        }
                        let status = script
                            .lock()
                            .unwrap()
                            .get_mut(&hook)
                            .and_then(VecDeque::pop_front)
                            .unwrap_or(200);
                        log.lock().unwrap().push(Received {
                            hook,
                            signature,
                            body: body.to_vec(),
                            answered: status,
                        });
                        warp::reply::with_status(
                            "ok",
                            warp::http::StatusCode::from_u16(status).unwrap(),
                        )
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Self { addr, received }
    }

    fn url(&self, hook: &str) -> String {
        format!("http://{}/hook/{hook}", self.addr)
    }

    fn of(&self, hook: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.hook == hook)
            .cloned()
            .collect()
    }
}

fn settings(text: &str, pairs: &[(Venue, Symbol)]) -> AlertSettings {
    common::live::alert_settings(text, pairs)
}

async fn get(daemon: &wadm::app::Daemon, path: &str) -> Value {
    let answer = reqwest::get(format!("http://{}{path}", daemon.api_addr))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

async fn metrics(daemon: &wadm::app::Daemon) -> String {
    reqwest::get(format!("http://{}/metrics", daemon.api_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of a metric line starting with `series`, or 0.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    format!(
        "sha256={}",
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// A liquidation cascade on the perpetual fires the rule once (the rest of the cascade is
/// within its cooldown), a second cascade after the cooldown fires it again; each firing
/// reaches every destination: the webhook signed (the HMAC verifies), the flaky one after
/// its 500, the Telegram one in the Bot API's shape; the log says each was delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_fires_once_per_cooldown_and_reaches_every_destination() {
    let receiver = Receiver::start(&[("flaky", &[500])]).await;
    let venue = Venue::BybitLinear;
    let (sim, mut config) = sim_and_config(&[venue]).await;
    let pairs = config.pairs();
    config.alerts = settings(
        &format!(
            r#"
            [alerts]
            initial_backoff = "100ms"
            max_backoff = "200ms"
            [[alerts.destinations]]
            name = "ops"
            kind = "webhook"
            url = "{ops}"
            secret = "k1"
            [[alerts.destinations]]
            name = "flaky"
            kind = "webhook"
            url = "{flaky}"
            [[alerts.destinations]]
            name = "phone"
            kind = "telegram"
            url = "{tg}"
            chat_id = "42"
            [[alerts.rules]]
            name = "liq"
            venues = ["bybit-linear"]
            symbols = ["BTCUSDT"]
            condition = "liquidation"
            min_qty = "0.000001"
            cooldown = "3s"
            destinations = ["ops", "flaky", "phone"]
            "#,
            ops = receiver.url("ops"),
            flaky = receiver.url("flaky"),
            tg = receiver.url("tg"),
        ),
        &pairs,
    );
    let daemon = wadm::app::Daemon::start(config).await.unwrap();
    common::live::wait_streaming(&daemon, venue).await;
    let cascade = Misbehaviour::LiquidationCascade {
        symbol: sym("BTCUSDT"),
        count: 30,
    };
    sim.misbehave(venue, cascade.clone()).await;
    wait_until(LONG, "the first alert delivered", || async {
        receiver.of("ops").len() == 1 && receiver.of("tg").len() == 1
    })
    .await;
    let first_at = std::time::Instant::now();
    // The rest of the cascade falls in the cooldown.
    wait_until(LONG, "the cascade made", || async {
        sim.totals(venue, sym("BTCUSDT")).liquidations.len() >= 30
    })
    .await;
    let cooldown = Duration::from_secs(3);
    tokio::time::sleep(cooldown.saturating_sub(first_at.elapsed())).await;
    assert_eq!(
        receiver.of("ops").len(),
        1,
        "nothing more within the cooldown"
    );
    sim.misbehave(venue, cascade).await;
    wait_until(LONG, "the second alert delivered", || async {
        receiver.of("ops").len() == 2 && receiver.of("flaky").len() == 3
    })
    .await;

    // Signed with the destination's secret; the unsigned one carries no signature.
    for request in receiver.of("ops") {
        assert_eq!(request.signature, Some(hmac_hex("k1", &request.body)));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["rule"], "liq");
        assert_eq!(body["condition"], "liquidation");
        assert!(
            body["summary"].as_str().unwrap().contains("liquidation"),
            "{body}"
        );
        assert!(
            !body["values"]["liquidations"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    assert!(receiver.of("flaky").iter().all(|r| r.signature.is_none()));
    let flaky: Vec<u16> = receiver.of("flaky").iter().map(|r| r.answered).collect();
    assert_eq!(flaky, [500, 200, 200], "retried after the 500");
    let telegram: Value = serde_json::from_slice(&receiver.of("tg")[0].body).unwrap();
    assert_eq!(telegram["chat_id"], "42");
    assert!(
        telegram["text"]
            .as_str()
            .unwrap()
            .starts_with("[liq] BTCUSDT bybit-linear:")
    );

    // The log: two firings, every delivery done, the flaky one in two attempts the first time.
    wait_until(LONG, "the log complete", || async {
        let log = get(&daemon, "/api/v1/alerts?rule=liq").await;
        log["alerts"].as_array().is_some_and(|a| {
            a.len() == 2
                && a.iter().all(|alert| {
                    alert["deliveries"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|d| d["state"] == "delivered")
                })
        })
    })
    .await;
    let log = get(&daemon, "/api/v1/alerts?venue=bybit-linear&symbol=BTCUSDT").await;
    let first = &log["alerts"][0];
    let flaky = first["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "flaky")
        .unwrap();
    assert_eq!(flaky["attempts"], 2, "{first}");
    assert_eq!(flaky["last_status"], 200);
    let text = metrics(&daemon).await;
    assert_eq!(
        metric(&text, "wadm_alerts_fired_total{rule=\"liq\"}"),
        2.0,
        "{text}"
    );
    assert!(metric(&text, "wadm_alerts_suppressed_total{rule=\"liq\"}") >= 1.0);
    assert_eq!(
        metric(
            &text,
            "wadm_alert_deliveries_total{destination=\"flaky\",outcome=\"delivered\"}"
        ),
        2.0
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A receiver that never answers: the single delivery slot and the one-place queue fill,
/// the other firings are dropped and counted (and logged as dropped), and the aggregators'
/// latency stays what it was before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_slows_nothing_and_drops_are_counted() {
    let receiver = Receiver::start(&[]).await;
    let venue = Venue::BybitLinear;
    let (sim, mut config) = sim_and_config(&[venue]).await;
    let pairs = config.pairs();
    config.alerts = settings(
        &format!(
            r#"
            [alerts]
            queue_capacity = 1
            concurrency = 1
            attempts = 1
            timeout = "10m"
            [[alerts.destinations]]
            name = "void"
            kind = "webhook"
            url = "{void}"
            [[alerts.rules]]
            name = "every"
            venues = ["bybit-linear"]
            symbols = ["BTCUSDT"]
            condition = "liquidation"
            min_qty = "0.000001"
            cooldown = "0s"
            destinations = ["void"]
            "#,
            void = receiver.url("never"),
        ),
        &pairs,
    );
    let daemon = wadm::app::Daemon::start(config).await.unwrap();
    common::live::wait_streaming(&daemon, venue).await;
    // The aggregators' latency before, over a few seconds of trading.
    let start = latency(&metrics(&daemon).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = latency(&metrics(&daemon).await).since(&start);
    // Firing after firing (each look at a snapshot fires once for all its new liquidations).
    for fired in 1..=14 {
        sim.misbehave(
            venue,
            Misbehaviour::LiquidationCascade {
                symbol: sym("BTCUSDT"),
                count: 3,
            },
        )
        .await;
        wait_until(LONG, "the next firing", || async {
            metric(
                &metrics(&daemon).await,
                "wadm_alerts_fired_total{rule=\"every\"}",
            ) >= f64::from(fired)
        })
        .await;
    }
    wait_until(LONG, "firings dropped", || async {
        metric(
            &metrics(&daemon).await,
            "wadm_alert_deliveries_total{destination=\"void\",outcome=\"dropped\"}",
        ) >= 10.0
    })
    .await;
    let during_start = latency(&metrics(&daemon).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = latency(&metrics(&daemon).await).since(&during_start);
    assert!(receiver.of("never").len() == 1, "one delivery hangs");
    let (p99_before, p99_during) = (before.quantile(0.99), during.quantile(0.99));
    println!(
        "pipeline latency p99 (bucket bound): {p99_before} s before, {p99_during} s while deliveries hang ({} and {} observations)",
        before.count, during.count
    );
    assert!(
        before.count > 100.0 && during.count > 100.0,
        "{before:?} {during:?}"
    );
    assert!(
        p99_during <= (2.0 * p99_before).max(0.005),
        "p99 before {p99_before} s, while deliveries hang {p99_during} s"
    );
    wait_until(LONG, "the drops logged", || async {
        get(&daemon, "/api/v1/alerts?rule=every&limit=1000").await["alerts"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .filter(|alert| alert["deliveries"][0]["state"] == "dropped")
                    .count()
                    >= 10
            })
    })
    .await;
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A simulator of `venues` (BTCUSDT) and a daemon configuration for it.
async fn sim_and_config(venues: &[Venue]) -> (Simulator, wadm::config::Config) {
    let sim = common::live::simulator(venues, &["BTCUSDT"]).await;
    let config = common::live::config_for(
        &sim,
        venues,
        &["BTCUSDT"],
        &[
            ("WADM__API__REQUESTS_PER_MINUTE", "6000000"),
            ("WADM__API__BURST", "100000"),
        ],
    );
    (sim, config)
}

/// The cumulative buckets of `wadm_pipeline_latency_seconds` (all labels summed).
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    count: f64,
}

impl Histogram {
    fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|(le, n)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(l, _)| l == le)
                        .map_or(0.0, |(_, m)| *m);
                    (*le, n - before)
                })
                .collect(),
            count: self.count - earlier.count,
        }
    }

    /// The upper bound of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> f64 {
        let target = self.count * q;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= target)
            .map_or(f64::INFINITY, |(le, _)| *le)
    }
}

fn latency(text: &str) -> Histogram {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let mut count = 0.0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("wadm_pipeline_latency_seconds_bucket{") {
            let le = rest
                .split("le=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(|s| {
                    if s == "+Inf" {
                        f64::INFINITY
                    } else {
                        s.parse().unwrap_or(0.0)
                    }
                });
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            if let Some(le) = le {
                match buckets.iter_mut().find(|(l, _)| *l == le) {
                    Some((_, n)) => *n += value,
                    None => buckets.push((le, value)),
                }
            }
        } else if line.starts_with("wadm_pipeline_latency_seconds_count") {
            count += line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Histogram { buckets, count }
}

/// A rules file: one rule named `name` that never fires, delivered to a closed port.
fn rules_file(name: &str) -> String {
    format!(
        r#"
[[alerts.destinations]]
name = "ops"
kind = "webhook"
url = "http://127.0.0.1:9/hook-token-{name}"
secret = "s3cret-{name}"
[[alerts.rules]]
name = "{name}"
venues = ["bybit-spot"]
symbols = ["BTCUSDT"]
condition = "large_trade"
min_qty = "1000000000"
destinations = ["ops"]
"#
    )
}

const BAD_RULES: &str = r#"
[[alerts.destinations]]
name = "ops"
kind = "pager"
url = "http://127.0.0.1:9/hook"
[[alerts.rules]]
name = "broken"
venues = ["bybit-spot"]
symbols = ["BTCUSDT"]
condition = "teleport"
destinations = ["ops"]
[[alerts.rules]]
name = "late"
venues = ["bybit-spot"]
symbols = ["BTCUSDT"]
condition = "delta"
period = "5m"
threshold = "abc"
cooldown = "later"
destinations = ["nobody"]
"#;

/// The rule names in force (the alerts actor's status), and the aggregators' restarts.
async fn in_force(addr: &str) -> (Vec<String>, u64) {
    let status: Value = serde_json::from_slice(
        &reqwest::get(format!("http://{addr}/api/v1/status"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let actors = status["actors"].as_array().unwrap();
    let rules = actors
        .iter()
        .find(|a| a["kind"] == "alerts")
        .and_then(|a| a["detail"]["rules"].as_array())
        .map(|rules| {
            rules
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let restarts = actors
        .iter()
        .filter(|a| a["kind"] == "aggregator")
        .map(|a| a["restarts"].as_u64().unwrap())
        .sum();
    (rules, restarts)
}

/// SIGHUP to the `wadm` process: a file with problems keeps the rules in force and logs
/// every problem; a good one applies its rules at once, nothing restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_good_rules_and_keeps_them_when_the_file_has_problems() {
    use nix::sys::signal::Signal;
    wadm_actors::util::install_crypto_provider();
    let venues = [Venue::BybitSpot];
    let sim = common::live::simulator(&venues, &["BTCUSDT"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wadm.toml");
    std::fs::write(&file, rules_file("first")).unwrap();
    let env = common::live::env_for(&sim, &venues, &["BTCUSDT"], &[]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let path = file.display().to_string();
    let mut daemon = common::Daemon::start(&["run", "--config", &path], &env, dir.path());
    let started = daemon.wait_for_line("wadm started", LONG);
    let addr = started
        .split("api=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    wait_until(LONG, "the first rules in force", || async {
        in_force(&addr).await.0 == ["first"]
    })
    .await;

    std::fs::write(&file, BAD_RULES).unwrap();
    daemon.signal(Signal::SIGHUP);
    for problem in [
        "alerts.destinations[0].kind",
        "alerts.rules[0].condition",
        "alerts.rules[1].threshold",
        "alerts.rules[1].cooldown",
        "alerts.rules[1].destinations",
    ] {
        daemon.wait_for_line(problem, LONG);
    }
    daemon.wait_for_line("keeping the alert rules in force", LONG);
    assert_eq!(in_force(&addr).await, (vec!["first".to_owned()], 0));

    std::fs::write(&file, rules_file("second")).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_line("alert rules reloaded", LONG);
    wait_until(LONG, "the new rules in force", || async {
        in_force(&addr).await.0 == ["second"]
    })
    .await;
    assert_eq!(in_force(&addr).await.1, 0, "no aggregator restarted");
    daemon.signal(Signal::SIGTERM);
    let (exit, stderr) = daemon.wait_exit(LONG);
    assert_eq!(exit.code(), Some(0));
    // Secrets and URLs (chat services put their token in them) are never logged.
    for secret in ["s3cret-", "hook-token-"] {
        assert!(!stderr.contains(secret), "{secret} logged:\n{stderr}");
    }
    sim.stop().await;
}

/// What a phase of the crafted stream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Events: a second one within the cooldown is suppressed.
    Event,
    /// States: no second firing while it holds; again after it stopped holding.
    State,
}

/// The status of one rule in force: (fired so far, suppressed so far, pairs holding).
async fn rule_counts(daemon: &wadm::app::Daemon, name: &str) -> (f64, f64, u64) {
    let text = metrics(daemon).await;
    let fired = metric(
        &text,
        &format!("wadm_alerts_fired_total{{rule=\"{name}\"}}"),
    );
    let suppressed = metric(
        &text,
        &format!("wadm_alerts_suppressed_total{{rule=\"{name}\"}}"),
    );
    let status = get(daemon, "/api/v1/status").await;
    let holding = status["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "alerts")
        .and_then(|a| a["detail"]["rules"].as_array())
        .and_then(|rules| rules.iter().find(|r| r["name"] == name))
        .and_then(|r| r["holding"].as_u64())
        .unwrap_or(0);
    (fired, suppressed, holding)
}

/// Each condition kind alone (the rules reloaded phase by phase, as SIGHUP does), on a
/// stream the simulator crafts on command: it fires once, not again within its cooldown
/// (an event then is suppressed; a state that holds does not fire twice), and again after;
/// every firing reaches the local receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_condition_kind_fires_once_per_cooldown_on_a_crafted_stream() {
    let receiver = Receiver::start(&[]).await;
    let venue = Venue::BinanceUsdm;
    let symbol = sym("BTCUSDT");
    let sim = common::live::simulator(&[venue], &["BTCUSDT"]).await;
    let config = common::live::config_for(
        &sim,
        &[venue],
        &["BTCUSDT"],
        &[
            ("WADM__API__REQUESTS_PER_MINUTE", "6000000"),
            ("WADM__API__BURST", "100000"),
            ("WADM__CONNECTION__OPEN_INTEREST_INTERVAL", "200ms"),
        ],
    );
    let store_file = match &config.storage {
        wadm::config::StorageConfig::Embedded { path } => {
            path.join(wadm_actors::storage::embedded::FILE_NAME)
        }
        other => panic!("{other:?}"),
    };
    let pairs = config.pairs();
    let daemon = wadm::app::Daemon::start(config).await.unwrap();
    common::live::wait_streaming(&daemon, venue).await;
    let cooldown_ms: u64 = 1_500;
    let last_price = || {
        daemon
            .snapshots
            .latest(venue, symbol)
            .and_then(|s| s.recent_trades.last().map(|t| t.price))
    };
    wait_until(LONG, "a first trade", || async { last_price().is_some() }).await;
    let burst = |side, lots, count, step_ticks| Misbehaviour::Burst {
        symbol,
        side,
        lots,
        count,
        step_ticks,
    };
    use wadm_actors::model::Side::{Buy, Sell};
    let locker = rusqlite::Connection::open(&store_file).unwrap();
    let lot_qty = |lots: u64| format!("{}", lots as f64 / 1_000.0);

    let phases: Vec<(&str, String, Shape)> = vec![
        (
            "oi",
            "condition = \"open_interest_change\"\npercent = \"5\"\nperiod = \"1s\"".into(),
            Shape::State,
        ),
        (
            "liq",
            "condition = \"liquidation\"\nmin_qty = \"0.000001\"".into(),
            Shape::Event,
        ),
        ("gap", "condition = \"gap\"".into(), Shape::Event),
        (
            "feed",
            "condition = \"feed_down\"\nafter = \"1s\"".into(),
            Shape::State,
        ),
        (
            "store",
            "condition = \"store_down\"\nafter = \"0s\"".into(),
            Shape::State,
        ),
        ("cross", String::new(), Shape::Event),
        (
            "delta",
            format!(
                "condition = \"delta\"\nperiod = \"1h\"\nthreshold = \"{}\"",
                lot_qty(2_000_000)
            ),
            Shape::State,
        ),
        (
            "cvd",
            format!(
                "condition = \"cvd\"\nthreshold = \"{}\"",
                lot_qty(2_000_000)
            ),
            Shape::State,
        ),
        (
            "large",
            format!(
                "condition = \"large_trade\"\nmin_qty = \"{}\"",
                lot_qty(500_000)
            ),
            Shape::Event,
        ),
        (
            "stack",
            "condition = \"stacked_imbalance\"\nperiod = \"1m\"".into(),
            Shape::Event,
        ),
        (
            "absorb",
            "condition = \"absorption\"\nperiod = \"1m\"".into(),
            Shape::Event,
        ),
    ];
    for (kind, params, shape) in phases {
        // Rule names of their own: the metrics are the process's, shared with the other
        // tests of this file.
        let name = format!("kind-{kind}");
        let name = name.as_str();
        let params = if kind == "cross" {
            // A level 5 USDT above the price: a jump of 10 crosses it, one of -20 back.
            let level = last_price().unwrap() + "5".parse().unwrap();
            format!("condition = \"price_cross\"\nlevel = \"price\"\nprice = \"{level}\"")
        } else {
            params
        };
        let (venues, symbols) = match kind {
            "store" => ("", ""),
            "feed" => ("venues = [\"binance-usdm\"]", ""),
            _ => ("venues = [\"binance-usdm\"]", "symbols = [\"BTCUSDT\"]"),
        };
        if matches!(kind, "delta" | "cvd") {
            // The previous phase's last burst (it brings delta and CVD back) is taken before
            // the rule's first look.
            let settled: wadm_actors::model::Qty = "1000".parse().unwrap();
            wait_until(
                LONG,
                &format!("{name}: the earlier bursts settled"),
                || async {
                    let s = daemon.snapshots.latest(venue, symbol).unwrap();
                    let hour = s
                        .rolling
                        .get(&wadm_actors::aggregator::engine::Rolling::H1)
                        .map(|b| b.delta());
                    s.cvd < settled && hour.is_some_and(|d| d < settled)
                },
            )
            .await;
        }
        daemon.reload_alerts(settings(
            &format!(
                "[[alerts.destinations]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}\"\n[[alerts.rules]]\nname = \"{name}\"\n{venues}\n{symbols}\n{params}\ncooldown = \"{cooldown_ms}ms\"\ndestinations = [\"ops\"]\n",
                receiver.url(name),
            ),
            &pairs,
        ));
        wait_until(
            LONG,
            &format!("{name}: the phase's rule in force"),
            || async {
                let status = get(&daemon, "/api/v1/status").await;
                status["actors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["kind"] == "alerts" && a["detail"]["rules"][0]["name"] == name)
            },
        )
        .await;
        // The stimulus of the phase (the n-th time), and its end for states.
        let stimulus = |n: u32| {
            let sim = &sim;
            let locker = &locker;
            async move {
                match kind {
                    "oi" => {
                        // A whole period of samples first.
                        tokio::time::sleep(Duration::from_millis(1_200)).await;
                        sim.misbehave(
                            venue,
                            Misbehaviour::ShiftOpenInterest {
                                symbol,
                                percent: 20,
                            },
                        )
                        .await;
                    }
                    "liq" => {
                        sim.misbehave(venue, Misbehaviour::LiquidationCascade { symbol, count: 2 })
                            .await
                    }
                    "gap" => {
                        sim.misbehave(venue, Misbehaviour::SkipTradeIds { symbol, count: 5 })
                            .await
                    }
                    "feed" => {
                        sim.refuse_connections(venue, 1_000_000);
                        sim.misbehave(venue, Misbehaviour::Disconnect { clean: false })
                            .await;
                    }
                    "store" => locker.execute_batch("BEGIN EXCLUSIVE").unwrap(),
                    "cross" => {
                        let step = if n == 2 { -200 } else { 100 * i64::from(n) };
                        sim.misbehave(venue, burst(if step > 0 { Buy } else { Sell }, 10, 1, step))
                            .await;
                    }
                    "delta" | "cvd" => sim.misbehave(venue, burst(Buy, 1_500_000, 3, 0)).await,
                    "large" => sim.misbehave(venue, burst(Buy, 1_000_000, 1, 0)).await,
                    "stack" => sim.misbehave(venue, burst(Buy, 1_000_000, 4, 100)).await,
                    "absorb" => {
                        // Heavy selling at a new low of the bar (50 rows down), held.
                        let lots = 20_000_000 * 2u32.pow(n - 1).min(4);
                        sim.misbehave(venue, burst(Sell, lots, 1, -5_000)).await;
                    }
                    _ => unreachable!(),
                }
            }
        };
        let end = || {
            let sim = &sim;
            let locker = &locker;
            async move {
                match kind {
                    "feed" => sim.accept_connections(venue),
                    "store" => locker.execute_batch("ROLLBACK").unwrap(),
                    "delta" | "cvd" => sim.misbehave(venue, burst(Sell, 1_500_000, 3, 0)).await,
                    // Open interest stops moving: a period later it no longer holds.
                    _ => {}
                }
            }
        };
        let deadline = Duration::from_secs(30);
        stimulus(1).await;
        wait_until(deadline, &format!("{name}: the first firing"), || async {
            rule_counts(&daemon, name).await.0 == 1.0
        })
        .await;
        let first = std::time::Instant::now();
        match shape {
            Shape::Event => {
                stimulus(2).await;
                wait_until(
                    deadline,
                    &format!("{name}: the second suppressed"),
                    || async { rule_counts(&daemon, name).await.1 >= 1.0 },
                )
                .await;
                assert_eq!(
                    rule_counts(&daemon, name).await.0,
                    1.0,
                    "{name}: within the cooldown"
                );
            }
            Shape::State => {
                // Holding past the cooldown: still one firing.
                wait_until(
                    deadline,
                    "the state seen holding past the cooldown",
                    || async {
                        first.elapsed() > Duration::from_millis(cooldown_ms + 500)
                            && rule_counts(&daemon, name).await.2 >= 1
                            || kind == "oi"
                    },
                )
                .await;
                assert_eq!(
                    rule_counts(&daemon, name).await.0,
                    1.0,
                    "{name}: once while it holds"
                );
                end().await;
                wait_until(deadline, &format!("{name}: the state over"), || async {
                    rule_counts(&daemon, name).await.2 == 0
                })
                .await;
            }
        }
        wait_until(deadline, &format!("{name}: the cooldown over"), || async {
            first.elapsed() > Duration::from_millis(cooldown_ms)
        })
        .await;
        stimulus(3).await;
        wait_until(deadline, &format!("{name}: the second firing"), || async {
            rule_counts(&daemon, name).await.0 == 2.0
        })
        .await;
        end().await;
        wait_until(
            deadline,
            &format!("{name}: both firings delivered"),
            || async { receiver.of(name).len() == 2 },
        )
        .await;
        let body: Value = serde_json::from_slice(&receiver.of(name)[0].body).unwrap();
        assert_eq!(body["rule"], name);
        println!("{name}: {}", body["summary"]);
        if kind == "feed" {
            common::live::wait_streaming(&daemon, venue).await;
        }
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
