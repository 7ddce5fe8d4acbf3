//! Derivatives data (issue #20) from the simulated exchange, read with a plain WebSocket
//! client and WADM's parsers: Binance USD-M liquidations and mark prices on the `/market`
//! route (and nothing on `/public`, where a wrong subscription is acknowledged and stays
//! silent), the open interest over REST, Bybit linear liquidations and tickers; each value
//! equals the simulator's own record.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::live::{LONG, sym};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use wadm::simulator::{Misbehaviour, Pace, SimConfig, Simulator};
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, parser_for};
use wadm_actors::model::{MarketEvent, PositionSide, Price, Qty, UnixNanos, Venue};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket, subscribes, and waits for the acknowledgement (so that what the test
/// asks of the market afterwards comes after the subscription).
async fn open(url: &str, subscribe: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
        .send(Message::Text(subscribe.to_owned().into()))
        .await
        .unwrap();
    let deadline = Instant::now() + LONG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(message))) = tokio::time::timeout(left, socket.next()).await else {
            panic!("no acknowledgement of {subscribe}");
        };
        if let Message::Text(text) = message
            && (text.contains(r#""result":null"#) || text.contains(r#""success":true"#))
        {
            return socket;
        }
    }
}

/// The events `socket` carries until `done` holds of them (or the deadline passes).
async fn read_until(
    socket: &mut Socket,
    venue: Venue,
    mut done: impl FnMut(&[MarketEvent]) -> bool,
) -> Vec<MarketEvent> {
    let mut parser = parser_for(venue, DEFAULT_MAX_FRAME_BYTES);
    let deadline = Instant::now() + LONG;
    let mut events = Vec::new();
    while !done(&events) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; got {events:?}");
        let Ok(Some(Ok(message))) = tokio::time::timeout(left, socket.next()).await else {
            panic!("the socket ended; got {events:?}");
        };
        if let Message::Text(text) = message
            && let Ok(event) = parser.parse(text.as_bytes(), UnixNanos(0))
        {
            events.push(event);
        }
    }
    events
}

fn liquidations(events: &[MarketEvent]) -> Vec<&wadm_actors::model::Liquidation> {
    events
        .iter()
        .flat_map(|e| match e {
            MarketEvent::Liquidations(l) => l.iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn ticks(events: &[MarketEvent]) -> Vec<&wadm_actors::model::DerivativesTick> {
    events
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Derivatives(d) => Some(d),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usdm_liquidations_and_mark_prices_come_on_the_market_route_only() {
    wadm_actors::util::install_crypto_provider();
    let venue = Venue::BinanceUsdm;
    let mut config = SimConfig::local(&[venue], &["BTCUSDT"]);
    config.record_trades = true;
    let sim = Simulator::start(config).await.unwrap();
    let base = sim.ws_url(venue).to_string();
    let base = base.trim_end_matches('/');
    let subscribe =
        r#"{"method":"SUBSCRIBE","params":["btcusdt@forceOrder","btcusdt@markPrice@1s"],"id":1}"#;
    let mut market = open(&format!("{base}/market/stream"), subscribe).await;
    // The same streams on the wrong route: acknowledged, then silent.
    let mut public = open(&format!("{base}/public/stream"), subscribe).await;
    sim.misbehave(
        venue,
        Misbehaviour::LiquidationCascade {
            symbol: sym("BTCUSDT"),
            count: 300,
        },
    )
    .await;
    let events = read_until(&mut market, venue, |events| {
        ticks(events).len() >= 3 && liquidations(events).len() >= 2
    })
    .await;
    let totals = sim.totals(venue, sym("BTCUSDT"));
    // Every liquidation received is one the simulator pushed, the largest of its second.
    let pushed: Vec<_> = totals.liquidations.iter().filter(|(_, p)| *p).collect();
    assert!(
        totals.liquidations.len() > pushed.len(),
        "more made than pushed"
    );
    for liquidation in liquidations(&events) {
        assert!(
            pushed.iter().any(|(made, _)| made.qty == liquidation.qty
                && made.price == liquidation.price
                && made.position == liquidation.position
                && made.time == liquidation.time.as_millis()),
            "{liquidation:?}"
        );
    }
    for tick in ticks(&events) {
        assert!(
            totals
                .derivatives
                .iter()
                .any(|d| d.time == tick.time.as_millis()
                    && Some(d.mark) == tick.mark_price
                    && Some(d.index) == tick.index_price
                    && Some(d.funding_rate) == tick.funding_rate),
            "{tick:?}"
        );
    }
    // The wrong route was acknowledged (in `open`) and carried nothing while the right one
    // streamed seconds of data (whatever had been sent is queued by now).
    let silent = tokio::time::timeout(Duration::from_millis(50), public.next()).await;
    assert!(
        !matches!(silent, Ok(Some(Ok(Message::Text(_))))),
        "the /public route must not carry market streams: {silent:?}"
    );
    // Open interest over REST, trading paused: the simulator's current value.
    sim.pause_markets().await;
    let answer: serde_json::Value = reqwest::get(format!(
        "{}fapi/v1/openInterest?symbol=BTCUSDT",
        sim.rest_url()
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .map(|b| serde_json::from_slice(&b).unwrap())
    .unwrap();
    let (oi, _) = sim.open_interest(venue, sym("BTCUSDT")).unwrap();
    let served: wadm_actors::model::Qty = answer["openInterest"].as_str().unwrap().parse().unwrap();
    assert_eq!(served, oi, "{answer}");
    assert_eq!(answer["symbol"], "BTCUSDT");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_linear_liquidations_and_tickers_equal_the_record() {
    let venue = Venue::BybitLinear;
    let mut config = SimConfig::local(&[venue], &["BTCUSDT"]);
    config.record_trades = true;
    let sim = Simulator::start(config).await.unwrap();
    let url = sim.ws_url(venue).to_string();
    let mut socket = open(
        &url,
        r#"{"op":"subscribe","req_id":"1","args":["allLiquidation.BTCUSDT","tickers.BTCUSDT"]}"#,
    )
    .await;
    sim.misbehave(
        venue,
        Misbehaviour::LiquidationCascade {
            symbol: sym("BTCUSDT"),
            count: 20,
        },
    )
    .await;
    let events = read_until(&mut socket, venue, |events| {
        ticks(events).len() >= 3 && liquidations(events).len() >= 20
    })
    .await;
    let totals = sim.totals(venue, sym("BTCUSDT"));
    // All liquidations are pushed on Bybit, in order.
    let made: Vec<_> = totals.liquidations.iter().map(|(l, _)| *l).collect();
    let got = liquidations(&events);
    assert_eq!(got.len(), made.len());
    for (made, got) in made.iter().zip(&got) {
        assert_eq!(
            (made.qty, made.price, made.position, made.time),
            (got.qty, got.price, got.position, got.time.as_millis())
        );
    }
    // The first ticker is the whole snapshot; deltas carry mark, index and open interest.
    let ticks = ticks(&events);
    assert!(ticks[0].complete && ticks[0].funding_rate.is_some());
    for tick in &ticks[1..] {
        assert!(!tick.complete);
        assert!(
            totals
                .derivatives
                .iter()
                .any(|d| d.time == tick.time.as_millis()
                    && Some(d.mark) == tick.mark_price
                    && Some(d.open_interest) == tick.open_interest),
            "{tick:?}"
        );
    }
    sim.stop().await;
}

/// The daemon collecting the derivatives streams: each aggregator's snapshot holds the
/// latest mark, index, funding and open interest (Bybit's deltas merged into its snapshot)
/// and the liquidations received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_routes_derivatives_data_to_its_aggregators() {
    let venues = [Venue::BinanceUsdm, Venue::BybitLinear];
    let (sim, daemon) = common::live::start(
        &venues,
        &["BTCUSDT"],
        &[
            (
                "WADM__VENUES__BINANCE_USDM__STREAMS",
                "aggTrade,depth@100ms,forceOrder,markPrice@1s",
            ),
            (
                "WADM__VENUES__BYBIT_LINEAR__STREAMS",
                "publicTrade,orderbook.50,allLiquidation,tickers",
            ),
        ],
    )
    .await;
    for venue in venues {
        common::live::wait_streaming(&daemon, venue).await;
        sim.misbehave(
            venue,
            Misbehaviour::LiquidationCascade {
                symbol: sym("BTCUSDT"),
                count: 50,
            },
        )
        .await;
    }
    for venue in venues {
        common::live::wait_until(LONG, "derivatives in the snapshot", || async {
            daemon
                .snapshots
                .latest(venue, sym("BTCUSDT"))
                .is_some_and(|s| {
                    s.derivatives
                        .as_ref()
                        .is_some_and(|d| d.mark_price.is_some() && d.funding_rate.is_some())
                        && !s.liquidations.is_empty()
                })
        })
        .await;
        let snapshot = daemon.snapshots.latest(venue, sym("BTCUSDT")).unwrap();
        let totals = sim.totals(venue, sym("BTCUSDT"));
        let latest = snapshot.derivatives.clone().unwrap();
        assert!(
            totals
                .derivatives
                .iter()
                .any(|d| Some(d.mark) == latest.mark_price && Some(d.index) == latest.index_price),
            "{venue}: {latest:?}"
        );
        if venue == Venue::BybitLinear {
            assert!(latest.open_interest.is_some(), "{latest:?}");
        }
        for liquidation in snapshot.liquidations.iter() {
            assert!(
                totals.liquidations.iter().any(|(made, pushed)| *pushed
                    && made.qty == liquidation.qty
                    && made.time == liquidation.time.as_millis()),
                "{venue}: {liquidation:?}"
            );
        }
    }
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

async fn get(daemon: &wadm::app::Daemon, path: &str) -> serde_json::Value {
    let answer = reqwest::get(format!("http://{}{path}", daemon.api_addr))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

fn qty(value: &serde_json::Value) -> Qty {
    value.as_str().unwrap_or("0").parse().unwrap()
}

/// Liquidated (size, count) of a position side in an answer.
fn side(value: &serde_json::Value) -> (Qty, u64) {
    (qty(&value["qty"]), value["count"].as_u64().unwrap())
}

/// The acceptance of issue #20: a daemon collects both perpetuals from the simulator while
/// it makes a liquidation cascade on each and changes its funding; per 1-minute bar, the
/// liquidations by position side and the open interest open/high/low/close equal the
/// simulator's own record exactly (what it pushed, and for Binance the open interest it
/// answered over REST); the funding change appears in the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_minute_liquidations_and_open_interest_equal_the_simulators_record() {
    let venues = [Venue::BinanceUsdm, Venue::BybitLinear];
    let symbol = sym("BTCUSDT");
    let mut sim_config = SimConfig::local(&venues, &["BTCUSDT"]);
    sim_config.record_trades = true;
    sim_config.gated = true;
    sim_config.pace = Pace::RealTime {
        tick: Duration::from_millis(5),
    };
    let sim = Simulator::start(sim_config).await.unwrap();
    let daemon = common::live::daemon_for(
        &sim,
        &venues,
        &["BTCUSDT"],
        &[
            ("WADM__CONNECTION__OPEN_INTEREST_INTERVAL", "200ms"),
            ("WADM__API__REQUESTS_PER_MINUTE", "6000000"),
            ("WADM__API__BURST", "100000"),
        ],
    )
    .await;
    for venue in venues {
        common::live::wait_streaming(&daemon, venue).await;
    }
    let start = now_ms() - 60_000;
    sim.start_markets().await;
    for venue in venues {
        sim.misbehave(
            venue,
            Misbehaviour::LiquidationCascade { symbol, count: 30 },
        )
        .await;
    }
    let derivatives_path = |venue: Venue| {
        format!("/api/v1/derivatives/BTCUSDT?venue={venue}&from={start}&timeframe=1m")
    };
    // A funding rate in the answer, then the simulator changes it: the new one appears.
    for venue in venues {
        common::live::wait_until(LONG, "a funding rate in the answer", || async {
            get(&daemon, &derivatives_path(venue)).await["latest"]["funding_rate"].is_string()
        })
        .await;
        let first = get(&daemon, &derivatives_path(venue)).await["latest"]["funding_rate"].clone();
        common::live::wait_until(LONG, "the funding change in the answer", || async {
            let answer = get(&daemon, &derivatives_path(venue)).await;
            let latest = &answer["latest"]["funding_rate"];
            let last_bar = answer["bars"]
                .as_array()
                .and_then(|bars| bars.last())
                .map(|bar| bar["funding_rate"].clone());
            latest.is_string() && *latest != first && last_bar.as_ref() == Some(latest)
        })
        .await;
    }
    common::live::wait_until(LONG, "the cascades made", || async {
        venues
            .iter()
            .all(|&venue| sim.totals(venue, symbol).liquidations.len() >= 30)
    })
    .await;
    sim.pause_markets().await;
    let paused_at = now_ms();
    // Everything pushed (or answered) before the pause has reached the daemon.
    for venue in venues {
        common::live::wait_until(LONG, "the daemon holds what was pushed", || async {
            let totals = sim.totals(venue, symbol);
            let pushed = totals.liquidations.iter().filter(|(_, p)| *p).count();
            let liquidations = get(
                &daemon,
                &format!("/api/v1/liquidations/BTCUSDT?venue={venue}&from={start}&limit=1000"),
            )
            .await;
            let latest = get(&daemon, &derivatives_path(venue)).await["latest"].clone();
            let oi_now = match venue {
                Venue::BinanceUsdm => sim.open_interest(venue, symbol).map(|(oi, _)| oi),
                _ => totals.derivatives.last().map(|d| d.open_interest),
            };
            let mark_now = totals.derivatives.last().map(|d| d.mark);
            liquidations["events"].as_array().unwrap().len() == pushed
                && latest["open_interest"]
                    .as_str()
                    .map(|s| s.parse::<Qty>().unwrap())
                    == oi_now
                && latest["mark_price"]
                    .as_str()
                    .map(|s| s.parse::<Price>().unwrap())
                    == mark_now
                && latest["time"].as_i64().unwrap_or(0)
                    >= totals.derivatives.last().map_or(0, |d| d.time)
        })
        .await;
    }
    let mut all_longs = Qty::ZERO;
    let mut all_shorts = Qty::ZERO;
    for venue in venues {
        let totals = sim.totals(venue, symbol);
        let answer = get(&daemon, &derivatives_path(venue)).await;
        let bars = answer["bars"].as_array().unwrap().clone();
        assert!(!bars.is_empty(), "{answer}");
        // Liquidations per minute and position side: what the venue pushed.
        let mut expected: BTreeMap<i64, [(Qty, u64); 2]> = BTreeMap::new();
        for (made, _) in totals.liquidations.iter().filter(|(_, pushed)| *pushed) {
            let entry = expected
                .entry(made.time - made.time.rem_euclid(60_000))
                .or_default();
            let slot = &mut entry[usize::from(made.position == PositionSide::Short)];
            slot.0 += made.qty;
            slot.1 += 1;
        }
        let mut got: BTreeMap<i64, [(Qty, u64); 2]> = BTreeMap::new();
        for bar in &bars {
            let sides = [
                side(&bar["liquidations"]["longs"]),
                side(&bar["liquidations"]["shorts"]),
            ];
            if sides.iter().any(|(_, count)| *count > 0) {
                got.insert(bar["start"].as_i64().unwrap(), sides);
            }
        }
        assert_eq!(got, expected, "{venue}: liquidations per minute");
        assert!(!expected.is_empty());
        all_longs += expected.values().map(|s| s[0].0).sum::<Qty>();
        all_shorts += expected.values().map(|s| s[1].0).sum::<Qty>();
        // Open interest per minute: the values the daemon could see, in time order.
        let observed: Vec<(Qty, i64)> = match venue {
            Venue::BinanceUsdm => totals.open_interest_served.clone(),
            _ => totals
                .derivatives
                .iter()
                .map(|d| (d.open_interest, d.time))
                .collect(),
        };
        let mut with_oi = 0;
        for bar in &bars {
            let start = bar["start"].as_i64().unwrap();
            let oi = &bar["open_interest"];
            let mut minute: Vec<(Qty, i64)> = observed
                .iter()
                .copied()
                .filter(|(_, time)| (start..start + 60_000).contains(time))
                .collect();
            if oi.is_null() {
                assert!(minute.is_empty(), "{venue} {start}: {minute:?}");
                continue;
            }
            with_oi += 1;
            minute.sort_by_key(|(_, time)| *time);
            let close_time = oi["close_time"].as_i64().unwrap();
            // Answers served after the pause and after the daemon's answer repeat the value.
            let (seen, later): (Vec<_>, Vec<_>) =
                minute.iter().partition(|(_, time)| *time <= close_time);
            for (value, time) in later {
                assert!(
                    time >= paused_at && value == qty(&oi["close"]),
                    "{venue}: {time}"
                );
            }
            let values: Vec<Qty> = seen.iter().map(|(v, _)| *v).collect();
            assert_eq!(
                (
                    qty(&oi["open"]),
                    qty(&oi["high"]),
                    qty(&oi["low"]),
                    qty(&oi["close"]),
                    oi["open_time"].as_i64().unwrap()
                ),
                (
                    values[0],
                    values.iter().copied().max().unwrap(),
                    values.iter().copied().min().unwrap(),
                    *values.last().unwrap(),
                    seen[0].1
                ),
                "{venue} {start}: open interest"
            );
            assert_eq!(qty(&oi["change"]), *values.last().unwrap() - values[0]);
        }
        assert!(with_oi > 0, "{venue}: {answer}");
        // The range's liquidation clusters add up to the events.
        let liquidations = get(
            &daemon,
            &format!("/api/v1/liquidations/BTCUSDT?venue={venue}&from={start}&limit=1000"),
        )
        .await;
        let longs: Qty = expected.values().map(|s| s[0].0).sum();
        assert_eq!(side(&liquidations["longs_liquidated"]).0, longs);
        let row_total: Qty = liquidations["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| qty(&r["longs"]["qty"]) + qty(&r["shorts"]["qty"]))
            .sum();
        let all: Qty = expected.values().map(|s| s[0].0 + s[1].0).sum();
        assert_eq!(row_total, all);
        assert_eq!(
            liquidations["sampling"].as_array().unwrap().is_empty(),
            venue == Venue::BybitLinear
        );
    }
    // The range answers of both perpetuals summed: their liquidations add up, exactly.
    let composite = get(
        &daemon,
        &format!("/api/v1/order-flow/BTCUSDT?venue=all&from={start}"),
    )
    .await;
    let data = &composite["derivatives"];
    assert_eq!(
        (
            side(&data["liquidations"]["longs"]).0,
            side(&data["liquidations"]["shorts"]).0
        ),
        (all_longs, all_shorts),
        "{composite}"
    );
    assert!(data["open_interest"].is_null(), "per venue only: {data}");
    assert!(
        composite["by_venue"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["derivatives"]["open_interest"].is_object()),
        "{composite}"
    );
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

/// Mark prices and tickers tick every second: a socket on which they stop is replaced
/// within `connection.derivatives_timeout`, even when trades could be quiet for minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_derivatives_stream_is_replaced_within_its_timeout() {
    let venue = Venue::BinanceUsdm;
    let (sim, daemon) = common::live::start(
        &[venue],
        &["BTCUSDT"],
        &[("WADM__CONNECTION__DERIVATIVES_TIMEOUT", "400ms")],
    )
    .await;
    common::live::wait_streaming(&daemon, venue).await;
    sim.misbehave(venue, Misbehaviour::Silence).await;
    common::live::wait_until(LONG, "the market socket replaced", || async {
        common::live::status(&daemon, venue)
            .await
            .endpoints
            .iter()
            .any(|e| e.name == "market" && e.last_close.as_deref() == Some("derivatives_timeout"))
    })
    .await;
    daemon.shutdown().await.unwrap();
    sim.stop().await;
}

fn now_ms() -> i64 {
    UnixNanos::now().0 / 1_000_000
}
