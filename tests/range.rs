//! Range answers (issue #19) against the simulated exchange: three days of history imported
//! from its daily archives (`wadm backfill`), today's part repaired from its REST history by
//! the daemon, and live trades; the profile of any range, summed from stored 1-day, 1-hour
//! and 1-minute bars and the live minutes, equals the profile computed directly from the
//! simulator's own trades. A composite across venues equals the sum of the venues' answers
//! row by row.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::live::{LONG, config_for, stream_trade, sym, wait_streaming, wait_until};
use serde_json::Value;
use wadm::app::Daemon;
use wadm::archive::{DAY_MS, ImportRequest, Silent};
use wadm::simulator::{SimConfig, SimHistory, Simulator};
use wadm_actors::aggregator::params::ProfileParams;
use wadm_actors::aggregator::{Bar, RowGrid, WindowReport};
use wadm_actors::model::{Price, Qty, TimestampMs, Venue};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

async fn get(daemon: &Daemon, path: &str) -> Value {
    let answer = reqwest::get(format!("http://{}{path}", daemon.api_addr))
        .await
        .unwrap();
    let status = answer.status();
    let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Asks `path` until `ok` holds of the answer (persistence writes a moment after the
/// aggregators close or amend bars), failing after [`LONG`] naming `what`.
async fn answer_when(
    daemon: &Daemon,
    path: &str,
    what: &str,
    mut ok: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let answer = get(daemon, path).await;
        if ok(&answer) {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn price(value: &Value) -> Price {
    value.as_str().unwrap().parse().unwrap()
}

/// The trade `venue`'s stream carries for a simulated trade: Binance's aggregate of three
/// fills, or Bybit's single trade.
fn venue_trade(
    trade: &wadm::simulator::render::SimTrade,
    venue: Venue,
    symbol: &str,
) -> wadm_actors::model::Trade {
    let mut carried = stream_trade(trade, venue, sym(symbol));
    if venue.exchange() == wadm_actors::model::Exchange::Bybit {
        carried.flags = wadm_actors::model::TradeFlags::NONE;
        carried.fills = None;
    }
    carried
}

/// The profile of the simulator's trades of `[from, to)` on `row_size`, computed directly.
fn direct(
    sim: &Simulator,
    venue: Venue,
    symbol: &str,
    (from, to): (i64, i64),
    row_size: Price,
) -> WindowReport {
    let grid = RowGrid::new(row_size).unwrap();
    let mut bar = Bar::new(from, to);
    for trade in sim.totals(venue, sym(symbol)).recorded.iter() {
        if (from..to).contains(&trade.time) {
            bar.add(&grid, &venue_trade(trade, venue, symbol));
        }
    }
    let params = ProfileParams::default();
    WindowReport::of(
        &bar,
        &grid,
        params.value_area,
        &params.imbalance,
        bar.delta(),
    )
}

/// Asserts a range answer's profile equals the direct computation over its effective range.
fn assert_profile_exact(
    sim: &Simulator,
    venue: Venue,
    symbol: &str,
    answer: &Value,
) -> WindowReport {
    let from = answer["effective_from"].as_i64().unwrap();
    let to = answer["effective_to"].as_i64().unwrap();
    let row_size = price(&answer["params"]["row_size"]);
    let expected = direct(sim, venue, symbol, (from, to), row_size);
    let profile = &answer["profile"];
    let what = format!("{from}..{to} sources {}", answer["sources"]);
    assert_eq!(profile["trades"], expected.trades, "{what}");
    assert_eq!(
        profile["volume"],
        serde_json::json!(expected.volume),
        "{what}"
    );
    assert_eq!(
        profile["buy_volume"],
        serde_json::json!(expected.buy_volume),
        "{what}"
    );
    assert_eq!(
        profile["sell_volume"],
        serde_json::json!(expected.sell_volume),
        "{what}"
    );
    assert_eq!(
        profile["rows"],
        serde_json::json!(expected.footprint),
        "{what}"
    );
    assert_eq!(profile["poc"], serde_json::json!(expected.poc), "{what}");
    assert_eq!(profile["vah"], serde_json::json!(expected.vah), "{what}");
    assert_eq!(profile["val"], serde_json::json!(expected.val), "{what}");
    assert_eq!(profile["low"], serde_json::json!(expected.low), "{what}");
    assert_eq!(profile["high"], serde_json::json!(expected.high), "{what}");
    expected
}

fn sources(answer: &Value) -> Vec<String> {
    answer["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap().to_owned())
        .collect()
}

/// Three days of simulated history, the days before today imported from the simulator's
/// archives, today's part before the daemon started repaired from its aggregate-trade
/// history, then live trades: the profile of the whole span (read from 1-day, 1-hour and
/// 1-minute bars and the live minutes) and of ranges whose edges lie inside the stored
/// minutes, inside hours older than them, and in the open minute, each equal the direct
/// computation from the simulator's trades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_profiles_over_three_days_equal_the_simulated_trades() {
    let venue = Venue::BinanceSpot;
    let mut sim_config = SimConfig::local(&[venue], &["BTCUSDT"]);
    sim_config.record_trades = true;
    sim_config.history = Some(SimHistory {
        span: Duration::from_secs(3 * 24 * 3_600),
        trades_per_minute: 4,
    });
    let sim = Simulator::start(sim_config).await.unwrap();
    let config = config_for(
        &sim,
        &[venue],
        &["BTCUSDT"],
        &[
            ("WADM__BACKFILL__REPAIR", "true"),
            ("WADM__BACKFILL__SCAN_INTERVAL", "100ms"),
            ("WADM__API__REQUESTS_PER_MINUTE", "1000000"),
        ],
    );
    let today = TimestampMs::now().as_millis().div_euclid(DAY_MS) * DAY_MS;
    let cache = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let summary = wadm::archive::import_into_configured_store(
        &config,
        &ImportRequest {
            venue,
            symbol: sym("BTCUSDT"),
            from: today - 3 * DAY_MS,
            to: today - DAY_MS,
            cache_dir: cache.path().to_path_buf(),
            force: false,
            keep_files: false,
        },
        &Silent,
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    assert!(summary.complete(), "{summary:?}");
    let imported_days: u64 = summary.days.iter().map(|d| d.bars_1d).sum();
    assert_eq!(
        imported_days, 3,
        "a 1-day bar per imported day: {summary:?}"
    );

    // One day's 1-day bar goes missing (a store from before day bars, or a sum that
    // failed): that day is read from its hours.
    let wadm::config::StorageConfig::Embedded { path } = &config.storage else {
        panic!("the embedded store");
    };
    let file = path.join(wadm_actors::storage::embedded::FILE_NAME);
    let removed = rusqlite::Connection::open(file)
        .unwrap()
        .execute("DELETE FROM bars_1d WHERE time = ?1", [today - 2 * DAY_MS])
        .unwrap();
    assert_eq!(removed, 1);

    let daemon = Daemon::start(config).await.unwrap();
    wait_streaming(&daemon, venue).await;
    // The stop from the end of yesterday to the first live trade is repaired by id.
    wait_until(LONG, "the downtime hole repaired", || async {
        let gaps = get(&daemon, "/api/v1/gaps?venue=binance-spot&limit=100").await;
        gaps["events"].as_array().is_some_and(|events| {
            events.iter().any(|e| e["kind"] == "downtime")
                && events
                    .iter()
                    .filter(|e| e["kind"] == "downtime")
                    .all(|e| e["state"] == "repaired")
        })
    })
    .await;
    // A few live minutes' worth of minute closes, then the market stops.
    let started = TimestampMs::now().as_millis();
    wait_until(Duration::from_secs(90), "a live minute closed", || async {
        TimestampMs::now().as_millis() >= (started / MINUTE + 1) * MINUTE + 3_000
    })
    .await;
    sim.pause_markets().await;
    let history_start = sim
        .totals(venue, sym("BTCUSDT"))
        .recorded
        .first()
        .unwrap()
        .time;
    let generated = count(&sim, venue, "BTCUSDT", 0, i64::MAX);
    let path = format!("/api/v1/volume-profile/BTCUSDT?from={history_start}");
    // Persistence writes the repaired hours (and their days) a moment after the repair.
    let whole = answer_when(&daemon, &path, "every generated trade in the range", |v| {
        v["profile"]["trades"].as_u64() == Some(direct_count(&sim, venue, v))
    })
    .await;
    // The first hours lie before the stored minutes: the range starts at the next hour.
    let effective_from = whole["effective_from"].as_i64().unwrap();
    assert_eq!(effective_from, (history_start / HOUR + 1) * HOUR, "{whole}");
    assert_eq!(whole["narrowed"], true);
    // The hours left of the first day (none when the history began in a day's last hour),
    // the whole days, the day without its bar, today's hours (none while the stored minutes
    // reach back to midnight), minutes, the live part.
    let leading = usize::from(effective_from % DAY_MS != 0);
    let parts = whole["sources"].as_array().unwrap();
    let minutes_from = parts[parts.len().saturating_sub(2)]["from"]
        .as_i64()
        .unwrap();
    let today_hours = usize::from(minutes_from > today);
    let mut expected_sources = vec!["bars_1h"; leading];
    expected_sources.extend(["bars_1d", "bars_1h"]);
    expected_sources.extend(vec!["bars_1h"; today_hours]);
    expected_sources.extend(["bars_1m", "live"]);
    assert_eq!(sources(&whole), expected_sources, "{}", whole["sources"]);
    // The day without its bar: read from its 24 hours.
    let days = &whole["sources"][leading];
    let hours = &whole["sources"][leading + 1];
    assert_eq!(days["bars"], 1, "{}", whole["sources"]);
    assert_eq!(hours["from"], today - 2 * DAY_MS);
    assert_eq!(hours["bars"], 24, "{}", whole["sources"]);
    assert_eq!(whole["developing"], true);
    let expected = assert_profile_exact(&sim, venue, "BTCUSDT", &whole);
    assert!(
        expected.trades > 3 * 24 * 60 * 4 * 3 / 2,
        "{}",
        expected.trades
    );
    let skipped = generated - direct_count_since(&sim, venue, effective_from);
    assert!(
        skipped > 0,
        "the narrowed start leaves the first partial hour out"
    );

    // From inside the stored minutes (not on an hour) to a minute inside the last hour.
    let now = TimestampMs::now().as_millis();
    // Seven and a half minutes past an hour, about 20 h back: never on an hour, whatever the
    // clock (`now - 20 h + 7 min` was on one when the test ran at 53 minutes past).
    let from = (now - 20 * HOUR) / HOUR * HOUR + 7 * MINUTE + 30_000;
    let to = now - 30 * MINUTE;
    let inner = get(
        &daemon,
        &format!("/api/v1/volume-profile/BTCUSDT?from={from}&to={to}"),
    )
    .await;
    assert_eq!(inner["effective_from"], from / MINUTE * MINUTE);
    assert_eq!(inner["effective_to"], to / MINUTE * MINUTE);
    assert_eq!(sources(&inner)[0], "bars_1m", "{}", inner["sources"]);
    assert!(sources(&inner).contains(&"bars_1h".to_owned()));
    assert_profile_exact(&sim, venue, "BTCUSDT", &inner);

    // Order flow of the same range: the same totals, delta equal to buy minus sell.
    let flow = get(
        &daemon,
        &format!("/api/v1/order-flow/BTCUSDT?from={from}&to={to}"),
    )
    .await;
    let direct_flow = direct(
        &sim,
        venue,
        "BTCUSDT",
        (
            flow["effective_from"].as_i64().unwrap(),
            flow["effective_to"].as_i64().unwrap(),
        ),
        price(&flow["params"]["row_size"]),
    );
    assert_eq!(
        flow["order_flow"]["delta"],
        serde_json::json!(direct_flow.delta)
    );
    assert_eq!(
        flow["order_flow"]["cvd"],
        serde_json::json!(direct_flow.delta)
    );
    assert_eq!(
        flow["order_flow"]["footprint"],
        serde_json::json!(direct_flow.footprint)
    );

    // Coarser rows are the direct computation on the coarser grid.
    let base = price(&whole["params"]["base_row_size"]);
    let coarse_size = Price::from_units(base.units() * 50);
    let coarse = get(
        &daemon,
        &format!("/api/v1/volume-profile/BTCUSDT?from={history_start}&row_size={coarse_size}"),
    )
    .await;
    assert_eq!(price(&coarse["params"]["row_size"]), coarse_size);
    assert_profile_exact(&sim, venue, "BTCUSDT", &coarse);

    // A window and a range together, a range of less than a minute, no `from`: refused.
    for query in [
        format!("window=24h&from={from}"),
        format!("from={now}&to={now}"),
        "to=5".to_owned(),
    ] {
        let answer = reqwest::get(format!(
            "http://{}/api/v1/volume-profile/BTCUSDT?{query}",
            daemon.api_addr
        ))
        .await
        .unwrap();
        assert_eq!(answer.status(), 400, "{query}");
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// The trades of `[from, to)` counted as the stream carries them (an aggregate trade
/// counts its fills).
fn count(sim: &Simulator, venue: Venue, symbol: &str, from: i64, to: i64) -> u64 {
    sim.totals(venue, sym(symbol))
        .recorded
        .iter()
        .filter(|t| (from..to).contains(&t.time))
        .map(|t| wadm_actors::aggregator::bar::trade_count(&venue_trade(t, venue, symbol)))
        .sum()
}

fn direct_count(sim: &Simulator, venue: Venue, answer: &Value) -> u64 {
    let from = answer["effective_from"].as_i64().unwrap_or(0);
    let to = answer["effective_to"].as_i64().unwrap_or(0);
    count(sim, venue, "BTCUSDT", from, to)
}

fn direct_count_since(sim: &Simulator, venue: Venue, from: i64) -> u64 {
    count(sim, venue, "BTCUSDT", from, i64::MAX)
}

const SYMBOL: &str = "ADAUSDT";

/// Binance spot, Bybit spot and Bybit linear live: the composite of the last minutes
/// (`venue=all`) is, row by row on the composite's row size, the sum of each venue's own
/// answer coarsened to it; its totals split into spot and derivatives; the market context of
/// the composite stays under 8 KB; a row size that is not a multiple of every venue's is
/// refused, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_composite_across_venues_is_the_sum_of_their_profiles_row_by_row() {
    let venues = [Venue::BinanceSpot, Venue::BybitSpot, Venue::BybitLinear];
    // ADAUSDT has no configured row size: 10 ticks of each venue's. Bybit spot's tick is
    // set ten times finer, so its rows nest ten to one into the others'.
    let mut sim_config = SimConfig::local(&venues, &[SYMBOL]);
    sim_config.record_trades = true;
    sim_config.gated = true;
    let (sim, daemon) = common::live::start_with(
        sim_config,
        &venues,
        &[SYMBOL],
        &[
            ("WADM__API__REQUESTS_PER_MINUTE", "1000000"),
            ("WADM__VENUES__BYBIT_SPOT__TICK_SIZES__ADAUSDT", "0.0001"),
        ],
    )
    .await;
    for venue in venues {
        wait_streaming(&daemon, venue).await;
    }
    sim.start_markets().await;
    wait_until(LONG, "trades on every venue", || async {
        venues
            .iter()
            .all(|&v| sim.totals(v, sym(SYMBOL)).recorded.len() > 200)
    })
    .await;
    sim.pause_markets().await;
    let from = TimestampMs::now().as_millis() - 10 * MINUTE;
    let expected: u64 = venues
        .iter()
        .map(|&v| count(&sim, v, SYMBOL, 0, i64::MAX))
        .sum();
    let all = answer_when(
        &daemon,
        &format!("/api/v1/volume-profile/ADAUSDT?venue=all&from={from}"),
        &format!(
            "every trade in the composite: {:?}",
            venues.map(|v| count(&sim, v, SYMBOL, 0, i64::MAX))
        ),
        |v| v["profile"]["trades"].as_u64() == Some(expected),
    )
    .await;
    let row_size = price(&all["params"]["row_size"]);
    let mut summed: BTreeMap<Price, (Qty, Qty)> = BTreeMap::new();
    for venue in venues {
        let one = get(
            &daemon,
            &format!("/api/v1/volume-profile/ADAUSDT?venue={venue}&from={from}"),
        )
        .await;
        let own = price(&one["params"]["row_size"]);
        assert_eq!(row_size.units() % own.units(), 0, "{venue} rows nest");
        assert_profile_exact(&sim, venue, SYMBOL, &one);
        for row in one["profile"]["rows"].as_array().unwrap() {
            let p = price(&row["price"]);
            let label =
                Price::from_units(p.units().div_euclid(row_size.units()) * row_size.units());
            let entry = summed.entry(label).or_insert((Qty::ZERO, Qty::ZERO));
            entry.0 += row["bid"].as_str().unwrap().parse::<Qty>().unwrap();
            entry.1 += row["ask"].as_str().unwrap().parse::<Qty>().unwrap();
        }
    }
    let rows: BTreeMap<Price, (Qty, Qty)> = all["profile"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                price(&row["price"]),
                (
                    row["bid"].as_str().unwrap().parse().unwrap(),
                    row["ask"].as_str().unwrap().parse().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        rows, summed,
        "the composite is the sum of the venues row by row"
    );
    assert_eq!(all["venues"].as_array().unwrap().len(), 3);
    let spot: u64 = ["binance-spot", "bybit-spot"]
        .iter()
        .map(|v| {
            all["by_venue"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["venue"] == *v)
                .unwrap()["totals"]["trades"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(all["by_market"]["spot"]["trades"], spot);
    assert_eq!(
        all["by_market"]["derivatives"]["trades"],
        count(&sim, Venue::BybitLinear, SYMBOL, 0, i64::MAX)
    );
    // The context of the busy composite stays small.
    let context = reqwest::get(format!(
        "http://{}/api/v1/context/ADAUSDT?venue=all",
        daemon.api_addr
    ))
    .await
    .unwrap();
    assert_eq!(context.status(), 200);
    let bytes = context.bytes().await.unwrap();
    assert!(bytes.len() < 8_192, "the context is {} bytes", bytes.len());
    let context: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        context["order_flow_1h"].as_array().unwrap().len(),
        3,
        "{context}"
    );
    // Two venues by name, as the whole.
    let pair = get(
        &daemon,
        &format!("/api/v1/volume-profile/ADAUSDT?venue=binance-spot,bybit-spot&from={from}"),
    )
    .await;
    assert_eq!(pair["by_market"]["spot"]["trades"], spot);
    assert!(pair["by_market"]["derivatives"].is_null());
    // A row size that is not a multiple of every venue's rows.
    let finest = Price::from_units(row_size.units() / 10);
    let refused = reqwest::get(format!(
        "http://{}/api/v1/volume-profile/ADAUSDT?venue=all&from={from}&row_size={finest}",
        daemon.api_addr
    ))
    .await
    .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("multiple"),
        "{body}"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// A fixed trade set stored as the daemon stores it (1-hour bars and their 1-day sums) two
/// days back and yesterday, the last price 130 published live, on 10-dollar rows, with one
/// named session `morning` (00:00-06:00). Every expectation is worked out by hand:
///
/// | when | trades (side qty @ price) | row |
/// |---|---|---|
/// | day D 01:00 | buy 2 @ 100, sell 1 @ 110, buy 1 @ 120 | 100, 110, 120 |
/// | day D 10:00 | buy 5 @ 200 | 200 |
/// | day D+1 02:00 | sell 3 @ 150 | 150 |
/// | day D+1 12:00 | buy 1 @ 195, buy 1 @ 205 | 190, 200 |
///
/// - Day D+1 (yesterday): POC 150 (3 of 5); value area (3.5 needed): the pair above 160+170
///   adds 0, the next pair 180+190 adds 1, so VAH 190, VAL 150; high 205, low 150; CVD
///   -3 + 2 = -1. VWAP on row lower edges = (3*150 + 190 + 200) / 5 = 168; variance
///   (3*150^2 + 190^2 + 200^2) / 5 - 168^2 = 28720 - 28224 = 496, sigma = sqrt(496) =
///   22.271057451320 (rounded down to 12 decimals); band 1 = 168 -+ sigma.
/// - Day D: rows 100:2, 110:1, 120:1, 130..190:0, 200:5 (11 rows, mean 9/11): HVNs 100 and 200
///   (they dominate two rows each side and hold at least 150 % of the mean); between them the
///   LVN is 130 (the lowest row of the zero plateau that is a neighbourhood minimum).
/// - Naked POCs (last 130): morning D (POC 100, ends D 06:00) is never traded again: naked,
///   distance -30; day D (POC 200) is traded at by D+1 12:00 (195..205): tested; morning D+1
///   and day D+1 (POC 150) are naked, distance +20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_levels_naked_pocs_vwap_bands_and_volume_nodes_equal_the_hand_computation() {
    use wadm_actors::aggregator::{
        AggregatorSnapshot, BarRecord, BarState, ProfileParams, Timeframe,
    };
    use wadm_actors::api::calendar::SessionSpec;
    use wadm_actors::api::{Api, ApiSettings, ApiSources, RateLimit};
    use wadm_actors::boards::{BookBoard, SnapshotBoard};
    use wadm_actors::model::{Side, Trade, TradeFlags, TradeId, UnixNanos};
    use wadm_actors::persistence::PersistenceInputs;
    use wadm_actors::quality::QualitySink;
    use wadm_actors::storage::embedded::{EmbeddedOptions, EmbeddedStore};
    use wadm_actors::storage::{Document, Retention, SharedStore};

    let btc = sym("BTCUSDT");
    let venue = Venue::BinanceSpot;
    let grid = RowGrid::new("10".parse().unwrap()).unwrap();
    let now = TimestampMs::now().as_millis();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let (d, d1) = (today - 2 * DAY_MS, today - DAY_MS);
    let mut id = 0;
    let mut trade = |side: Side, qty: &str, price: &str, time: i64| {
        id += 1;
        Trade {
            venue,
            symbol: btc,
            id: TradeId::Number(id),
            price: price.parse().unwrap(),
            qty: qty.parse().unwrap(),
            side,
            trade_time: TimestampMs(time),
            event_time: TimestampMs(time),
            received_at: UnixNanos(time * 1_000_000),
            flags: TradeFlags::NONE,
            sequence: None,
            fills: None,
        }
    };
    let hours: Vec<(i64, Vec<Trade>)> = vec![
        (
            d + HOUR,
            vec![
                trade(Side::Buy, "2", "100", d + HOUR + 1),
                trade(Side::Sell, "1", "110", d + HOUR + 2),
                trade(Side::Buy, "1", "120", d + HOUR + 3),
            ],
        ),
        (
            d + 10 * HOUR,
            vec![trade(Side::Buy, "5", "200", d + 10 * HOUR + 1)],
        ),
        (
            d1 + 2 * HOUR,
            vec![trade(Side::Sell, "3", "150", d1 + 2 * HOUR + 1)],
        ),
        (
            d1 + 12 * HOUR,
            vec![
                trade(Side::Buy, "1", "195", d1 + 12 * HOUR + 1),
                trade(Side::Buy, "1", "205", d1 + 12 * HOUR + 2),
            ],
        ),
    ];
    let params = ProfileParams::default();
    let mut documents = Vec::new();
    let mut by_day: BTreeMap<i64, Vec<Arc<BarRecord>>> = BTreeMap::new();
    let mut cvd = BTreeMap::<i64, Qty>::new();
    for (start, trades) in &hours {
        let mut bar = Bar::new(*start, start + HOUR);
        for t in trades {
            bar.add(&grid, t);
        }
        let day = start.div_euclid(DAY_MS) * DAY_MS;
        let session_cvd = cvd.entry(day).or_insert(Qty::ZERO);
        *session_cvd += bar.delta();
        let record = Arc::new(BarRecord::build(
            venue,
            btc,
            Timeframe::H1,
            &bar,
            &grid,
            *session_cvd,
            &params,
            Vec::new(),
            BarState::Closed,
        ));
        by_day.entry(day).or_default().push(Arc::clone(&record));
        documents.push(Document::Bar(record));
    }
    for (day, records) in &by_day {
        let record = BarRecord::rollup(Timeframe::D1, *day, records)
            .unwrap()
            .unwrap();
        documents.push(Document::Bar(Arc::new(record)));
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let store: SharedStore = Arc::new(
        EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default()).unwrap(),
    );
    store.write(documents.into()).await.unwrap();
    let snapshots = Arc::new(SnapshotBoard::new([(venue, btc, params)]));
    let mut live = AggregatorSnapshot::empty(venue, btc, params);
    live.grid = Some(grid);
    live.published_at = now;
    live.last_trade_time = Some(now - 1_000);
    live.recent_trades = Arc::from(vec![trade(Side::Sell, "0.5", "130", now - 1_000)]);
    snapshots.publish(live);
    let (persistence, _records, _quality) = PersistenceInputs::new(10, 10, true);
    let pairs = vec![(venue, btc)];
    let api = Api::new(
        ApiSources {
            registry: Arc::new(wadm_supervision::StatusRegistry::new()),
            snapshots,
            books: Arc::new(BookBoard::new(pairs.iter().copied())),
            quality: QualitySink::new(16),
            store,
            retention: Retention::default(),
            persistence,
            pairs,
            metrics: Arc::new(String::new),
            version: "test",
        },
        ApiSettings {
            rate_limit: RateLimit {
                per_minute: 6_000_000.try_into().unwrap(),
                burst: 100_000.try_into().unwrap(),
            },
            sessions: vec![SessionSpec::parse("morning", "00:00-06:00").unwrap()],
            ..ApiSettings::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let get = |path: String| {
        let api = Arc::clone(&api);
        async move {
            let response = warp::test::request()
                .path(&path)
                .reply(&wadm_actors::api::filter(api))
                .await;
            let body: Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(response.status(), 200, "{path}: {body}");
            body
        }
    };

    // Yesterday as the daily session's previous instance.
    let sessions = get("/api/v1/sessions/BTCUSDT".to_owned()).await;
    let daily = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "daily")
        .unwrap();
    let yesterday = &daily["previous"];
    assert_eq!(
        (yesterday["from"].as_i64(), yesterday["to"].as_i64()),
        (Some(d1), Some(today))
    );
    assert_eq!(yesterday["poc"], "150");
    assert_eq!(yesterday["vah"], "190");
    assert_eq!(yesterday["val"], "150");
    assert_eq!(yesterday["high"], "205");
    assert_eq!(yesterday["low"], "150");
    assert_eq!(yesterday["cvd"], "-1");
    assert_eq!(yesterday["volume"], "5");
    assert_eq!(yesterday["vwap"]["vwap"], "168");
    assert_eq!(yesterday["vwap"]["sigma"], "22.27105745132");
    assert_eq!(yesterday["vwap"]["bands"][0]["low"], "145.72894254868");
    assert_eq!(yesterday["vwap"]["bands"][0]["high"], "190.27105745132");
    // 130 is below yesterday's value area (150..190) and between 1 and 2 sigma under VWAP.
    assert_eq!(yesterday["last_price_vs_value"], "below_value");
    assert_eq!(yesterday["last_price_vs_vwap"], "1sd_to_2sd_below");
    // The morning session: yesterday's (POC 150), or today's (no trade) once it is over.
    let morning = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "morning")
        .unwrap();
    if now >= today + 6 * HOUR {
        assert_eq!(morning["previous"]["trades"], 0, "{morning}");
        assert_eq!(morning["current"], Value::Null);
    } else {
        assert_eq!(morning["previous"]["poc"], "150", "{morning}");
        assert_eq!(morning["current"]["trades"], 0, "{morning}");
    }

    // Day D's volume nodes.
    let day_d = get(format!("/api/v1/volume-profile/BTCUSDT?from={d}&to={d1}")).await;
    assert_eq!(
        day_d["volume_nodes"]["hvn"],
        serde_json::json!(["100", "200"])
    );
    assert_eq!(day_d["volume_nodes"]["lvn"], serde_json::json!(["130"]));
    // One trade a row at most (the 2 at 100 was one trade): the whole day is one run.
    assert_eq!(
        day_d["volume_nodes"]["single_prints"],
        serde_json::json!([{"low": "100", "high": "200", "rows": 11}])
    );
    assert_eq!(day_d["profile"]["poc"], "200");

    // Naked POCs, newest first.
    let naked = get("/api/v1/naked-pocs/BTCUSDT".to_owned()).await;
    let listed: Vec<(String, String, i64)> = naked["naked_pocs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["price"].as_str().unwrap().to_owned(),
                n["distance"].as_str().unwrap().to_owned(),
                n["formed_at"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("150".to_owned(), "20".to_owned(), today),
            ("150".to_owned(), "20".to_owned(), d1 + 6 * HOUR),
            ("100".to_owned(), "-30".to_owned(), d + 6 * HOUR),
        ],
        "{naked}"
    );
    assert_eq!(naked["last_price"], "130");

    // VWAP anchored at yesterday's start, to today's start: yesterday's.
    let anchored = get(format!("/api/v1/vwap/BTCUSDT?anchor={d1}&to={today}")).await;
    assert_eq!(anchored["vwap"], yesterday["vwap"]);
    assert_eq!(anchored["last_price_vs_vwap"], "1sd_to_2sd_below");

    // The context: small, with the same levels.
    let response = warp::test::request()
        .path("/api/v1/context/BTCUSDT")
        .reply(&wadm_actors::api::filter(Arc::clone(&api)))
        .await;
    assert_eq!(response.status(), 200);
    let context: Value = serde_json::from_slice(response.body()).unwrap();
    assert!(
        response.body().len() < 8_192,
        "{} bytes",
        response.body().len()
    );
    assert_eq!(context["previous_day"]["poc"], "150");
    assert_eq!(context["previous_day"]["vs_value"], "below_value");
    assert_eq!(context["naked_pocs_nearest"].as_array().unwrap().len(), 3);
    assert_eq!(context["last_price"], "130");
}
