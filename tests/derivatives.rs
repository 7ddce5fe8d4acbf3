//! Derivatives data (issue #20) from the simulated exchange, read with a plain WebSocket
//! client and WADM's parsers: Binance USD-M liquidations and mark prices on the `/market`
//! route (and nothing on `/public`, where a wrong subscription is acknowledged and stays
//! silent), the open interest over REST, Bybit linear liquidations and tickers; each value
//! equals the simulator's own record.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::live::{LONG, sym};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use wadm::simulator::{Misbehaviour, SimConfig, Simulator};
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, parser_for};
use wadm_actors::model::{MarketEvent, UnixNanos, Venue};

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
