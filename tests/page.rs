//! The live web page (issue #22) in headless Chromium (Debian's chromium and chromedriver,
//! driven by Selenium: `tests/page/drive.py`) against a daemon fed by the simulator, with an
//! API key configured: the page shows the 401 until the key is typed in; then its symbol list,
//! POC/VAH/VAL labels and a footprint cell equal the API's answers, with no console error; a
//! feed dropped by the simulator turns red in the status strip within seconds. The screenshot
//! is saved as `target/test-artifacts/page.png`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::live::{LONG, config_from, env_for, wait_last_trades, wait_streaming, wait_until};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use wadm::simulator::{Misbehaviour, Pace, SimConfig, Simulator};
use wadm_actors::api::ApiKey;
use wadm_actors::model::Venue;

const VENUES: [Venue; 2] = [Venue::BinanceSpot, Venue::BybitSpot];
const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

async fn get(addr: &str, key: &str, path: &str) -> Value {
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_apis_answers_and_a_dropped_feed_in_red() {
    let mut sim_config = SimConfig::local(&VENUES, &SYMBOLS);
    sim_config.record_trades = true;
    sim_config.gated = true;
    sim_config.pace = Pace::RealTime {
        tick: Duration::from_millis(5),
    };
    let sim = Simulator::start(sim_config).await.unwrap();
    let env = env_for(
        &sim,
        &VENUES,
        &SYMBOLS,
        &[
            ("WADM__API__REQUESTS_PER_MINUTE", "600000"),
            ("WADM__API__BURST", "10000"),
            // Paused markets go quiet: no watchdog may turn a feed red before the test does.
            ("WADM__CONNECTION__BOOK_TIMEOUT", "10m"),
            ("WADM__CONNECTION__TRADE_TIMEOUT", "10m"),
            ("WADM__CONNECTION__TRANSPORT_TIMEOUT", "10m"),
        ],
    );
    let (key, hash) = wadm_actors::api::generate_key().unwrap();
    let mut config = config_from(env);
    config.api.settings.keys.push(ApiKey {
        name: "page".into(),
        hash,
        prefix: None,
    });
    let daemon = wadm::app::Daemon::start(config).await.unwrap();
    for venue in VENUES {
        wait_streaming(&daemon, venue).await;
    }
    sim.start_markets().await;
    wait_until(LONG, "trades on every pair", || async {
        VENUES.iter().all(|&v| {
            SYMBOLS.iter().all(|s| {
                daemon
                    .snapshots
                    .latest(v, common::live::sym(s))
                    .is_some_and(|s| !s.recent_trades.is_empty())
            })
        })
    })
    .await;
    // Still markets: what the page shows and what the API answers are the same data.
    sim.pause_markets().await;
    wait_last_trades(&sim, &daemon, &VENUES, &SYMBOLS).await;
    let addr = daemon.api_addr.to_string();

    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("page.png");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/page/drive.py");
    let mut driver = tokio::process::Command::new(common::python())
        .arg(&script)
        .arg(format!("http://{addr}/"))
        .arg(&key)
        .arg(&shot)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(90), lines.next_line())
            .await
            .expect("the driver answers")
            .unwrap()
            .expect("the driver is still running");
        serde_json::from_str(&line).unwrap()
    };

    let unauthorized = next().await;
    assert_eq!(unauthorized["step"], "unauthorized");
    assert!(
        unauthorized["message"].as_str().unwrap().contains("401"),
        "{unauthorized}"
    );

    let loaded = next().await;
    assert_eq!(loaded["step"], "loaded", "{loaded}");
    assert_eq!(
        loaded["console"],
        serde_json::json!([]),
        "no console error: {loaded}"
    );
    assert_eq!(loaded["message"], "", "{loaded}");
    let symbols = get(&addr, &key, "/api/v1/symbols").await;
    let expected: Vec<&str> = symbols["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    let shown: Vec<&str> = loaded["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(shown, expected);
    let venue = loaded["venue"].as_str().unwrap();
    let profile = get(
        &addr,
        &key,
        &format!(
            "/api/v1/volume-profile/{}?venue={venue}&window=24h",
            expected[0]
        ),
    )
    .await;
    for line in ["poc", "vah", "val"] {
        assert_eq!(
            loaded["levels"][line], profile["profile"][line],
            "{line}: {loaded}"
        );
    }
    // A footprint cell: the API's row of that bar and price.
    let page = get(
        &addr,
        &key,
        &format!("/api/v1/page/{}?venue={venue}", expected[0]),
    )
    .await;
    let bars: Vec<&Value> = page["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&page["current"]))
        .collect();
    let cells = loaded["cells"].as_array().unwrap();
    assert!(!cells.is_empty());
    for cell in cells {
        let testid = cell["testid"].as_str().unwrap();
        let (start, price) = testid
            .strip_prefix("fp-")
            .and_then(|rest| rest.split_once('-'))
            .unwrap();
        let bar = bars
            .iter()
            .find(|b| b["start"].as_i64() == start.parse().ok())
            .unwrap_or_else(|| panic!("{testid} in {page}"));
        let row = bar["footprint"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["price"] == price)
            .unwrap();
        assert_eq!(
            (&cell["bid"], &cell["ask"]),
            (&row["bid"], &row["ask"]),
            "{testid}"
        );
        assert_eq!(
            cell["text"].as_str().unwrap(),
            format!(
                "{} x {}",
                row["bid"].as_str().unwrap(),
                row["ask"].as_str().unwrap()
            )
        );
    }

    // A feed dropped: the strip shows it red within seconds.
    sim.refuse_connections(Venue::BinanceSpot, 1_000_000);
    sim.misbehave(
        Venue::BinanceSpot,
        Misbehaviour::Disconnect { clean: false },
    )
    .await;
    let stdin = driver.stdin.as_mut().unwrap();
    stdin.write_all(b"drop\n").await.unwrap();
    stdin.flush().await.unwrap();
    let red = next().await;
    assert_eq!(red["step"], "red", "{red}");
    assert!(red["seconds"].as_f64().unwrap() < 10.0, "{red}");
    assert!(
        red["phone_overflow"].as_i64().unwrap() <= 0,
        "wider than a phone: {red}"
    );
    assert_eq!(red["console"], serde_json::json!([]), "{red}");
    assert!(shot.exists(), "the screenshot is saved");
    assert!(driver.wait().await.unwrap().success());
    sim.accept_connections(Venue::BinanceSpot);
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}
