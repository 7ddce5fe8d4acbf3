//! `wadm profile`: a trades file in, the profile and order flow out, through the binary.
//! Expected values are worked out by hand from DESIGN.md section 5 in the comments.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;
use serde_json::{Value, json};
use wadm_actors::model::Qty;

/// 2023-11-14T22:13:20Z; its minute starts at 1_699_999_980_000.
const T: i64 = 1_700_000_000_000;

fn line(ts: i64, price: &str, qty: &str, side: &str) -> String {
    format!(r#"{{"ts": {ts}, "price": "{price}", "qty": "{qty}", "side": "{side}"}}"#)
}

fn run(input: &str, args: &[&str]) -> Output {
    let mut child = Command::new(common::wadm_binary())
        .args(["profile", "--input", "-"])
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn profile(input: &str, args: &[&str]) -> Value {
    let output = run(input, args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Rows of 1: row 101 bid 3 ask 1, row 102 bid 1 ask 9, row 103 bid 2 ask 8, row 104 ask 10.
fn staircase() -> String {
    [
        line(T, "102.5", "9", "buy"),
        line(T + 1, "101.1", "3", "sell"),
        line(T + 2, "103", "8", "buy"),
        line(T + 3, "102.2", "1", "sell"),
        line(T + 4, "101.9", "1", "buy"),
        line(T + 5, "104", "10", "buy"),
        line(T + 6, "103.5", "2", "sell"),
    ]
    .join("\n")
}

#[test]
fn computes_every_field_of_a_window_by_the_design_rules() {
    let out = profile(&staircase(), &["--row-size", "1", "--window", "1m"]);
    assert_eq!(
        out["parameters"],
        json!({"row_size": "1", "value_area": "0.7", "window": "1m", "imbalance_ratio": "3",
               "imbalance_min_volume": "0", "stack": 3, "session_anchor": "00:00"})
    );
    let w = &out["windows"][0];
    assert_eq!(out["windows"].as_array().unwrap().len(), 1);
    assert_eq!(
        (w["start"].as_i64(), w["end"].as_i64()),
        (Some(1_699_999_980_000), Some(1_700_000_040_000))
    );
    assert_eq!(
        (
            &w["trades"],
            &w["buy_volume"],
            &w["sell_volume"],
            &w["volume"],
            &w["delta"],
            &w["cvd"]
        ),
        (
            &json!(7),
            &json!("28"),
            &json!("6"),
            &json!("34"),
            &json!("22"),
            &json!("22")
        )
    );
    assert_eq!((&w["low"], &w["high"]), (&json!("101.1"), &json!("104")));
    // Rows 102, 103 and 104 tie at 10. The middle of 101..104 is 102.5: 102 and 103 are
    // equally close; above the middle (103, 104: 20) outweighs below (101, 102: 14) -> 103.
    assert_eq!((&w["poc"], &w["poc_volume"]), (&json!("103"), &json!("10")));
    // Target 0.7 * 34 = 23.8. From 103 (10): above is 104 (10, the edge), below is 102 + 101
    // (14): below wins, 24 >= 23.8, stop.
    assert_eq!(
        (&w["val"], &w["vah"], &w["value_area_volume"]),
        (&json!("101"), &json!("103"), &json!("24"))
    );
    assert_eq!(
        w["footprint"],
        json!([
            {"price": "101", "bid": "3", "ask": "1", "volume": "4", "delta": "-2", "trades": 2, "last_time": T + 4},
            {"price": "102", "bid": "1", "ask": "9", "volume": "10", "delta": "8", "trades": 2, "last_time": T + 3},
            {"price": "103", "bid": "2", "ask": "8", "volume": "10", "delta": "6", "trades": 2, "last_time": T + 6},
            {"price": "104", "bid": "0", "ask": "10", "volume": "10", "delta": "10", "trades": 1, "last_time": T + 5},
        ])
    );
    // ask(102) 9 >= 3 * bid(101) 3; ask(103) 8 >= 3 * 1; ask(104) 10 >= 3 * 2. Row 101 is the
    // lowest row: its diagonal partner is outside the range.
    assert_eq!(w["buy_imbalances"], json!(["102", "103", "104"]));
    assert_eq!(w["sell_imbalances"], json!([]));
    assert_eq!(
        w["stacked_imbalances"],
        json!([{"side": "buy", "from": "102", "to": "104", "rows": 3}])
    );
}

#[test]
fn the_minimum_volume_removes_imbalances_and_a_gap_breaks_the_stack() {
    let out = profile(
        &staircase(),
        &["--row-size", "1", "--imbalance-min-volume", "9"],
    );
    let w = &out["windows"][0];
    assert_eq!(
        w["buy_imbalances"],
        json!(["102", "104"]),
        "ask(103) = 8 < 9"
    );
    assert_eq!(w["stacked_imbalances"], json!([]));
    let out = profile(
        &staircase(),
        &[
            "--row-size",
            "1",
            "--stack",
            "2",
            "--imbalance-ratio",
            "4.5",
        ],
    );
    // Ratio 4.5: 9 < 13.5 at 102; 8 >= 4.5 at 103; 10 >= 9 at 104.
    let w = &out["windows"][0];
    assert_eq!(w["buy_imbalances"], json!(["103", "104"]));
    assert_eq!(
        w["stacked_imbalances"],
        json!([{"side": "buy", "from": "103", "to": "104", "rows": 2}])
    );
}

#[test]
fn prices_off_the_grid_fall_into_the_row_below_and_all_spans_the_trades() {
    let input = [
        line(T + 500, "100.24", "1", "buy"),
        line(T + 90_000, "100.76", "2", "sell"),
        line(T + 100, "100.5", "0.5", "buy"),
    ]
    .join("\n");
    let out = profile(&input, &["--row-size", "0.5"]);
    assert_eq!(out["parameters"]["window"], json!("all"));
    let w = &out["windows"][0];
    assert_eq!(
        (w["start"].as_i64(), w["end"].as_i64()),
        (Some(T + 100), Some(T + 90_001))
    );
    assert_eq!(
        w["footprint"],
        json!([
            {"price": "100", "bid": "0", "ask": "1", "volume": "1", "delta": "1", "trades": 1, "last_time": T + 500},
            {"price": "100.5", "bid": "2", "ask": "0.5", "volume": "2.5", "delta": "-1.5", "trades": 2, "last_time": T + 90_000},
        ])
    );
    // The POC row alone holds 2.5 >= 0.7 * 3.5 = 2.45: the value area stops there.
    assert_eq!(
        (&w["poc"], &w["val"], &w["vah"]),
        (&json!("100.5"), &json!("100.5"), &json!("100.5"))
    );
    let wide = profile(&input, &["--row-size", "0.5", "--value-area", "0.8"]);
    assert_eq!(
        (
            &wide["windows"][0]["val"],
            &wide["windows"][0]["value_area_volume"]
        ),
        (&json!("100"), &json!("3.5"))
    );
}

#[test]
fn cumulative_delta_resets_at_the_session_anchor() {
    // 2023-11-14T23:59:00Z and 2023-11-15T00:01:00Z.
    let before = 1_700_006_340_000;
    let after = 1_700_006_460_000;
    let input = [
        line(before, "10", "5", "buy"),
        line(after, "10", "2", "sell"),
    ]
    .join("\n");
    let out = profile(&input, &["--row-size", "1", "--window", "1m"]);
    let cvd: Vec<&Value> = out["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["cvd"])
        .collect();
    assert_eq!(
        cvd,
        [&json!("5"), &json!("-2")],
        "the midnight session starts from zero"
    );
    let out = profile(
        &input,
        &[
            "--row-size",
            "1",
            "--window",
            "1m",
            "--session-anchor",
            "12:00",
        ],
    );
    let cvd: Vec<&Value> = out["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["cvd"])
        .collect();
    assert_eq!(cvd, [&json!("5"), &json!("3")], "one session from 12:00");
    assert_eq!(out["parameters"]["session_anchor"], json!("12:00"));
}

#[test]
fn bad_lines_are_reported_with_their_numbers_and_nothing_is_printed() {
    let input = [
        line(T, "100", "1", "buy"),
        r#"{"ts": 1700000000000, "price": 100.5, "qty": "1", "side": "buy"}"#.to_owned(),
        r#"{"ts": 1700000000000, "qty": "1", "side": "buy"}"#.to_owned(),
        String::new(),
        line(T, "100", "0", "buy"),
        line(T, "100", "1", "hold"),
        r#"{"ts": 1700000000000, "price": "1", "qty": "1", "side": "buy", "venue": "x"}"#
            .to_owned(),
        "{not json".to_owned(),
        line(-5, "100", "1", "sell"),
        line(i64::MAX, "100", "1", "sell"),
    ]
    .join("\n");
    let output = run(&input, &["--row-size", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "-: line 2: write decimals as strings",
        "-: line 3: missing field `price`",
        "-: line 5: qty must be above 0",
        "-: line 6: unknown variant `hold`",
        "-: line 7: unknown field `venue`",
        "-: line 8: not valid JSON",
        "-: line 9: ts must be milliseconds between 0 and",
        "-: line 10: ts must be milliseconds between 0 and 253402300799999 (year 9999), not 9223372036854775807",
        "8 bad lines in -; nothing computed",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("line 1:") && !stderr.contains("line 4:"),
        "{stderr}"
    );
}

#[test]
fn invalid_options_are_refused_before_reading() {
    for args in [
        &["--row-size", "0"][..],
        &["--row-size", "1", "--value-area", "1.5"],
        &["--row-size", "1", "--window", "2m"],
        &["--row-size", "1", "--stack", "1"],
        &["--row-size", "1", "--imbalance-ratio", "0.5"],
        &["--row-size", "1", "--session-anchor", "25:00"],
        &["--window", "1m"],
    ] {
        let output = run("", args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    let output = Command::new(common::wadm_binary())
        .args([
            "profile",
            "--input",
            "/nonexistent/trades.jsonl",
            "--row-size",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot open /nonexistent/trades.jsonl")
    );
}

fn qty(value: &Value) -> Qty {
    value.as_str().unwrap().parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// 5-minute windows equal the sums of their 1-minute windows, row by row, and the whole
    /// file's footprint sums to its volume.
    #[test]
    fn longer_windows_are_exact_sums_of_shorter_ones(
        trades in prop::collection::vec((0i64..1_800_000, 1u32..400, 1u32..1_000, any::<bool>()), 1..200)
    ) {
        let input: Vec<String> = trades
            .iter()
            .map(|&(offset, cents, milli, buy)| {
                let price = format!("{}.{:02}", 100 + cents / 100, cents % 100);
                let qty = format!("{}.{:03}", milli / 1000, milli % 1000);
                line(T + offset, &price, &qty, if buy { "buy" } else { "sell" })
            })
            .collect();
        let input = input.join("\n");
        let one = profile(&input, &["--row-size", "0.25", "--window", "1m"]);
        let five = profile(&input, &["--row-size", "0.25", "--window", "5m"]);
        let mut windows = 0;
        for window in five["windows"].as_array().unwrap() {
            let (start, end) = (window["start"].as_i64().unwrap(), window["end"].as_i64().unwrap());
            prop_assert_eq!(end - start, 300_000);
            let mut rows: BTreeMap<String, (Qty, Qty)> = BTreeMap::new();
            let mut count = 0;
            for minute in one["windows"].as_array().unwrap() {
                if (start..end).contains(&minute["start"].as_i64().unwrap()) {
                    count += minute["trades"].as_i64().unwrap();
                    for row in minute["footprint"].as_array().unwrap() {
                        let entry = rows.entry(row["price"].as_str().unwrap().to_owned()).or_default();
                        entry.0 += qty(&row["bid"]);
                        entry.1 += qty(&row["ask"]);
                    }
                }
            }
            prop_assert_eq!(count, window["trades"].as_i64().unwrap());
            for row in window["footprint"].as_array().unwrap() {
                let (bid, ask) = rows.remove(row["price"].as_str().unwrap()).unwrap();
                prop_assert_eq!((bid, ask), (qty(&row["bid"]), qty(&row["ask"])));
            }
            prop_assert!(rows.is_empty());
            windows += count;
        }
        prop_assert_eq!(windows, trades.len() as i64);
        let all = profile(&input, &["--row-size", "0.25"]);
        let whole = &all["windows"][0];
        prop_assert_eq!(whole["trades"].as_i64().unwrap(), trades.len() as i64);
        let footprint: Qty = whole["footprint"].as_array().unwrap().iter().map(|row| qty(&row["volume"])).sum();
        prop_assert_eq!(footprint, qty(&whole["volume"]));
        let delta: Qty = whole["footprint"].as_array().unwrap().iter().map(|row| qty(&row["delta"])).sum();
        prop_assert_eq!(delta, qty(&whole["delta"]));
    }
}
