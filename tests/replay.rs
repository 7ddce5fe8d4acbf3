//! Recording and replay: the daemon records what a simulated exchange sends, and
//! `wadm replay` of that recording finds exactly the trades the generator made.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::live::{config_for, simulator, wait_until};
use serde_json::Value;
use wadm::app::Daemon;
use wadm::offline::replay::Replay;
use wadm_actors::model::{Symbol, Venue};
use wadm_actors::recorder::recordings;

const LONG: Duration = Duration::from_secs(30);
/// The simulator's Bybit spot trade ids are this plus the generator's id.
const BYBIT_SPOT_ID_BASE: u64 = 2_100_000_000_000_000_000;

#[tokio::test]
async fn a_replay_of_a_recording_finds_exactly_the_generated_trades() {
    let venues = [Venue::BinanceSpot, Venue::BinanceUsdm, Venue::BybitSpot];
    let symbols = ["BTCUSDT", "ETHUSDT"];
    let sim = simulator(&venues, &symbols).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().display().to_string();
    let overrides = [
        ("WADM__RECORDING__ENABLED", "true"),
        ("WADM__RECORDING__PATH", path.as_str()),
        ("WADM__RECORDING__MAX_FILE_BYTES", "65536"),
        ("WADM__RECORDING__MAX_FILES", "1000"),
    ];
    let config = config_for(&sim, &venues, &symbols, &overrides);
    let daemon = Daemon::start(config.clone()).await.unwrap();
    for venue in venues {
        for symbol in symbols {
            let symbol = Symbol::new(symbol).unwrap();
            wait_until(LONG, "trades reach the aggregator", || async {
                daemon
                    .snapshots
                    .latest(venue, symbol)
                    .is_some_and(|s| s.counts.trades >= 200)
            })
            .await;
        }
    }
    daemon.shutdown().await.unwrap();

    let files = recordings(dir.path()).unwrap();
    assert!(files.len() > 1, "the recording rotated: {files:?}");
    for file in &files {
        assert!(std::fs::metadata(file).unwrap().len() <= 65_536);
    }
    let mut replay = Replay::new(&config);
    for file in &files {
        replay.file(file).unwrap();
    }
    let outcome = replay.finish();
    assert_eq!(outcome.summary.bad_lines, 0);
    assert_eq!(outcome.summary.symbols.len(), venues.len() * symbols.len());
    for summary in &outcome.summary.symbols {
        let what = format!("{} {}", summary.venue, summary.symbol);
        let base = if summary.venue == Venue::BybitSpot {
            BYBIT_SPOT_ID_BASE
        } else {
            0
        };
        let first = summary.first_trade_id.unwrap() - base;
        let last = summary.last_trade_id.unwrap() - base;
        let (generated, buy, sell) = sim.totals(summary.venue, summary.symbol).range(first, last);
        assert_eq!(
            (summary.trades, summary.buy_volume, summary.sell_volume),
            (generated, buy, sell),
            "{what}: the replay holds exactly the generated trades {first}..={last}"
        );
        assert!(summary.trades >= 200, "{what}");
        assert_eq!(
            (summary.gaps, summary.missing_trades, summary.dropped_trades),
            (0, 0, 0),
            "{what}"
        );
        assert!(summary.bars >= 1, "{what}");
        assert_eq!(summary.klines_mismatched, 0, "{what}");
    }
    for (venue, stats) in &outcome.summary.venues {
        assert!(
            stats.parse_errors.is_empty(),
            "{venue}: {:?}",
            stats.parse_errors
        );
        assert!(stats.book_frames > 0 && stats.control > 0, "{venue}");
    }
    sim.stop().await;

    // The command line: the same directory, with a torn last line appended.
    let last = files.last().unwrap();
    let mut text = std::fs::read_to_string(last).unwrap();
    text.push_str("{\"venue\":\"binance-spot\",\"recei");
    std::fs::write(last, text).unwrap();
    let output = run_replay(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a recorded frame"), "{stderr}");
    assert!(stderr.contains(&last.display().to_string()), "{stderr}");
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["bad_lines"], 1);
    let cli_trades: u64 = printed["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["trades"].as_u64().unwrap())
        .sum();
    let library_trades: u64 = outcome.summary.symbols.iter().map(|s| s.trades).sum();
    assert_eq!(cli_trades, library_trades);
}

fn run_replay(dir: &Path) -> std::process::Output {
    Command::new(common::wadm_binary())
        .arg("replay")
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .output()
        .unwrap()
}
