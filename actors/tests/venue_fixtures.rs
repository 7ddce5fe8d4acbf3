//! Every documented frame in `tests/fixtures/` parses into the expected normalized values,
//! through the simd-json parser and, identically, through the serde_json baseline.

#![allow(clippy::unwrap_used)]

use wadm_actors::connection::parse::baseline::SerdeJsonParser;
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, FrameParser, parser_for};
use wadm_actors::model::*;

const RECEIVED: UnixNanos = UnixNanos(1_700_000_000_123_456_789);

struct Fixture {
    kind: String,
    frame: String,
}

fn fixtures(file: &str) -> Vec<Fixture> {
    let path = format!("{}/../tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            Fixture {
                kind: value["kind"].as_str().unwrap().to_owned(),
                frame: value["frame"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

fn p(text: &str) -> Price {
    text.parse().unwrap()
}

fn q(text: &str) -> Qty {
    text.parse().unwrap()
}

fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

fn lv(price: &str, qty: &str) -> Level {
    Level {
        price: p(price),
        qty: q(qty),
    }
}

/// Parses with both parsers, checks they agree, and returns the event.
fn parse(venue: Venue, frame: &str) -> MarketEvent {
    let simd = parser_for(venue, DEFAULT_MAX_FRAME_BYTES)
        .parse(frame.as_bytes(), RECEIVED)
        .unwrap_or_else(|err| panic!("{venue}: {err} ({err:?}) in {frame}"));
    let baseline = SerdeJsonParser::new(venue, DEFAULT_MAX_FRAME_BYTES)
        .parse(frame.as_bytes(), RECEIVED)
        .unwrap_or_else(|err| panic!("baseline {venue}: {err} ({err:?}) in {frame}"));
    assert_eq!(
        simd, baseline,
        "simd-json and serde_json disagree on {frame}"
    );
    simd
}

fn check(venue: Venue, file: &str, expected: Vec<(&str, MarketEvent)>) {
    let fixtures = fixtures(file);
    assert_eq!(
        fixtures.len(),
        expected.len(),
        "one expectation per fixture in {file}"
    );
    for (fixture, (kind, event)) in fixtures.iter().zip(expected) {
        assert_eq!(fixture.kind, kind, "fixture order in {file}");
        assert_eq!(parse(venue, &fixture.frame), event, "{file}: {kind}");
    }
}

#[test]
fn binance_spot_fixtures_parse_to_expected_values() {
    let venue = Venue::BinanceSpot;
    let bnbbtc = sym("BNBBTC");
    check(
        venue,
        "binance-spot.jsonl",
        vec![
            (
                "trade",
                MarketEvent::Trades(vec![Trade {
                    venue,
                    symbol: bnbbtc,
                    id: TradeId::Number(12345),
                    price: p("0.001"),
                    qty: q("100"),
                    side: Side::Sell, // m: true, the buyer was the maker
                    trade_time: TimestampMs(1672515782136),
                    event_time: TimestampMs(1672515782136),
                    received_at: RECEIVED,
                    flags: TradeFlags::NONE,
                    sequence: None,
                    fills: None,
                }]),
            ),
            (
                "aggTrade",
                MarketEvent::Trades(vec![Trade {
                    venue,
                    symbol: bnbbtc,
                    id: TradeId::Number(12345),
                    price: p("0.001"),
                    qty: q("100"),
                    side: Side::Buy, // m: false
                    trade_time: TimestampMs(1672515782136),
                    event_time: TimestampMs(1672515782136),
                    received_at: RECEIVED,
                    flags: TradeFlags::AGGREGATE,
                    sequence: None,
                    fills: Some(FillRange {
                        first: 100,
                        last: 105,
                    }),
                }]),
            ),
            (
                "depthUpdate",
                MarketEvent::BookDelta(BookDelta {
                    venue,
                    symbol: bnbbtc,
                    sequence: DeltaSequence::BinanceSpot {
                        first_update_id: 157,
                        final_update_id: 160,
                    },
                    bids: vec![lv("0.0024", "10"), lv("0.0023", "0")],
                    asks: vec![lv("0.0026", "100")],
                    event_time: TimestampMs(1672515782136),
                    transaction_time: None,
                    received_at: RECEIVED,
                }),
            ),
            (
                "partialDepth",
                MarketEvent::BookSnapshot(BookSnapshot {
                    venue,
                    symbol: bnbbtc,
                    sequence: SnapshotSequence::Binance {
                        last_update_id: 160,
                    },
                    bids: vec![lv("0.0024", "10")],
                    asks: vec![lv("0.0026", "100")],
                    event_time: None,
                    received_at: RECEIVED,
                }),
            ),
            (
                "kline",
                MarketEvent::Klines(vec![Kline {
                    venue,
                    symbol: bnbbtc,
                    interval: KlineInterval::Minute1,
                    open_time: TimestampMs(1672515780000),
                    close_time: TimestampMs(1672515839999),
                    open: p("0.0010"),
                    high: p("0.0025"),
                    low: p("0.0015"),
                    close: p("0.0020"),
                    volume: q("1000"),
                    quote_volume: q("1.0000"),
                    taker_buy_volume: Some(q("500")),
                    taker_buy_quote_volume: Some(q("0.500")),
                    trade_count: Some(100),
                    first_trade_id: Some(100),
                    last_trade_id: Some(200),
                    closed: false,
                    event_time: TimestampMs(1672515782136),
                    received_at: RECEIVED,
                }]),
            ),
            (
                "ack",
                MarketEvent::Control(Control::Ack {
                    request_id: Some(1),
                }),
            ),
            (
                "error",
                MarketEvent::Control(Control::Rejected {
                    request_id: None,
                    code: Some(2),
                    message: "Invalid request: unknown stream".into(),
                    topic: None,
                }),
            ),
            (
                "serverShutdown",
                MarketEvent::Control(Control::ServerShutdown {
                    event_time: TimestampMs(1770123456789),
                }),
            ),
        ],
    );
}

#[test]
fn binance_usdm_fixtures_parse_to_expected_values() {
    let venue = Venue::BinanceUsdm;
    let btc = sym("BTCUSDT");
    check(
        venue,
        "binance-usdm.jsonl",
        vec![
            (
                "aggTrade",
                MarketEvent::Trades(vec![Trade {
                    venue,
                    symbol: btc,
                    id: TradeId::Number(5933014),
                    price: p("0.001"),
                    qty: q("100"),
                    side: Side::Sell, // m: true
                    trade_time: TimestampMs(123456785),
                    event_time: TimestampMs(123456789),
                    received_at: RECEIVED,
                    flags: TradeFlags::AGGREGATE,
                    sequence: None,
                    fills: Some(FillRange {
                        first: 100,
                        last: 105,
                    }),
                }]),
            ),
            (
                "trade",
                MarketEvent::Trades(vec![Trade {
                    venue,
                    symbol: btc,
                    id: TradeId::Number(2_115_460_453),
                    price: p("41215.90"),
                    qty: q("0.001"),
                    side: Side::Sell, // m: true
                    trade_time: TimestampMs(1_649_839_266_189),
                    event_time: TimestampMs(1_649_839_266_194),
                    received_at: RECEIVED,
                    flags: TradeFlags::NONE,
                    sequence: None,
                    fills: None,
                }]),
            ),
            (
                "depthUpdate",
                MarketEvent::BookDelta(BookDelta {
                    venue,
                    symbol: btc,
                    sequence: DeltaSequence::BinanceUsdm {
                        first_update_id: 157,
                        final_update_id: 160,
                        previous_final_update_id: 149,
                    },
                    bids: vec![lv("0.0024", "10")],
                    asks: vec![lv("0.0026", "100")],
                    event_time: TimestampMs(123456789),
                    transaction_time: Some(TimestampMs(123456788)),
                    received_at: RECEIVED,
                }),
            ),
            (
                "kline",
                MarketEvent::Klines(vec![Kline {
                    venue,
                    symbol: btc,
                    interval: KlineInterval::Minute1,
                    open_time: TimestampMs(123400000),
                    close_time: TimestampMs(123459999),
                    open: p("0.0010"),
                    high: p("0.0025"),
                    low: p("0.0015"),
                    close: p("0.0020"),
                    volume: q("1000"),
                    quote_volume: q("1"),
                    taker_buy_volume: Some(q("500")),
                    taker_buy_quote_volume: Some(q("0.5")),
                    trade_count: Some(100),
                    first_trade_id: Some(100),
                    last_trade_id: Some(200),
                    closed: true,
                    event_time: TimestampMs(123456789),
                    received_at: RECEIVED,
                }]),
            ),
            (
                "forceOrder",
                MarketEvent::Liquidations(vec![Liquidation {
                    venue,
                    symbol: btc,
                    position: PositionSide::Long, // a SELL order closes a long
                    price: p("9910.5"),
                    qty: q("0.014"),
                    time: TimestampMs(1_568_014_460_891),
                    received_at: RECEIVED,
                }]),
            ),
            (
                "markPriceUpdate",
                MarketEvent::Derivatives(DerivativesTick {
                    venue,
                    symbol: btc,
                    time: TimestampMs(1_562_305_380_000),
                    received_at: RECEIVED,
                    complete: true,
                    mark_price: Some(p("11794.15")),
                    index_price: Some(p("11784.62659091")),
                    funding_rate: Some("-0.00038167".parse().unwrap()),
                    next_funding_time: Some(TimestampMs(1_562_306_400_000)),
                    open_interest: None,
                }),
            ),
            (
                "markPriceUpdate",
                MarketEvent::Derivatives(DerivativesTick {
                    venue,
                    symbol: btc,
                    time: TimestampMs(1_562_305_381_000),
                    received_at: RECEIVED,
                    complete: true,
                    mark_price: Some(p("11794.15")),
                    index_price: Some(p("11784.62")),
                    funding_rate: Some(Ratio::ZERO),
                    next_funding_time: None,
                    open_interest: None,
                }),
            ),
        ],
    );
}

fn bybit_expectations(venue: Venue) -> Vec<(&'static str, MarketEvent)> {
    let btc = sym("BTCUSDT");
    let trade = |id: &str, side, qty: &str, price: &str, time, seq| Trade {
        venue,
        symbol: btc,
        id: TradeId::from_text(id),
        price: p(price),
        qty: q(qty),
        side,
        trade_time: TimestampMs(time),
        event_time: TimestampMs(1672304486868),
        received_at: RECEIVED,
        flags: TradeFlags::NONE,
        sequence: Some(seq),
        fills: None,
    };
    vec![
        (
            "publicTrade",
            MarketEvent::Trades(vec![
                trade(
                    "20f43950-d8dd-5b31-9112-a178eb6023af",
                    Side::Buy,
                    "0.001",
                    "16578.50",
                    1672304486865,
                    1783284617,
                ),
                trade(
                    "20f43950-d8dd-5b31-9112-a178eb6023b0",
                    Side::Sell,
                    "0.250",
                    "16578.00",
                    1672304486866,
                    1783284618,
                ),
            ]),
        ),
        (
            "orderbookSnapshot",
            MarketEvent::BookSnapshot(BookSnapshot {
                venue,
                symbol: btc,
                sequence: SnapshotSequence::Bybit {
                    update_id: 18521288,
                    cross_sequence: 7961638724,
                },
                bids: vec![lv("16493.50", "0.006"), lv("16493.00", "0.100")],
                asks: vec![lv("16611.00", "0.029"), lv("16612.00", "0.213")],
                event_time: Some(TimestampMs(1672304484978)),
                received_at: RECEIVED,
            }),
        ),
        (
            "orderbookDelta",
            MarketEvent::BookDelta(BookDelta {
                venue,
                symbol: btc,
                sequence: DeltaSequence::Bybit {
                    update_id: 177400507,
                    cross_sequence: 66544703342,
                },
                bids: vec![lv("30247.20", "30.028"), lv("30240.00", "0")],
                asks: vec![lv("30248.70", "0"), lv("30249.30", "0.892")],
                event_time: TimestampMs(1687940967466),
                transaction_time: Some(TimestampMs(1687940967464)),
                received_at: RECEIVED,
            }),
        ),
        (
            "orderbookReset",
            MarketEvent::BookSnapshot(BookSnapshot {
                venue,
                symbol: btc,
                sequence: SnapshotSequence::Bybit {
                    update_id: 1,
                    cross_sequence: 66544703400,
                },
                bids: vec![lv("30247.00", "1.000")],
                asks: vec![lv("30249.00", "2.000")],
                event_time: Some(TimestampMs(1687940967500)),
                received_at: RECEIVED,
            }),
        ),
        (
            "kline",
            MarketEvent::Klines(vec![Kline {
                venue,
                symbol: btc,
                interval: KlineInterval::Minute5,
                open_time: TimestampMs(1672324800000),
                close_time: TimestampMs(1672325099999),
                open: p("16649.5"),
                high: p("16677"),
                low: p("16608"),
                close: p("16677"),
                volume: q("2.081"),
                quote_volume: q("34666.4005"),
                taker_buy_volume: None,
                taker_buy_quote_volume: None,
                trade_count: None,
                first_trade_id: None,
                last_trade_id: None,
                closed: false,
                event_time: TimestampMs(1672324988882),
                received_at: RECEIVED,
            }]),
        ),
        (
            "ack",
            MarketEvent::Control(Control::Ack {
                request_id: Some(10001),
            }),
        ),
        (
            "reject",
            MarketEvent::Control(Control::Rejected {
                request_id: Some(10002),
                code: None,
                message: "error:handler not found,topic:orderbook.500.BTCUSDT".into(),
                topic: Some("orderbook.500.BTCUSDT".into()),
            }),
        ),
        (
            "pong",
            MarketEvent::Control(Control::Pong { request_id: None }),
        ),
    ]
}

#[test]
fn bybit_fixtures_parse_to_expected_values_on_spot_and_linear() {
    for venue in [Venue::BybitSpot, Venue::BybitLinear] {
        check(venue, "bybit.jsonl", bybit_expectations(venue));
    }
}

#[test]
fn bybit_taker_side_is_taken_as_is() {
    let MarketEvent::Trades(trades) = parse(Venue::BybitSpot, &fixtures("bybit.jsonl")[0].frame)
    else {
        panic!("expected trades");
    };
    assert_eq!(trades[0].side, Side::Buy);
    assert_eq!(trades[1].side, Side::Sell);
}

/// Liquidations and mark prices are USD-M payloads: the spot parsers refuse them, the
/// simd-json parser and the baseline alike.
#[test]
fn spot_refuses_derivatives_payloads() {
    for fixture in fixtures("binance-usdm.jsonl")
        .iter()
        .filter(|f| matches!(f.kind.as_str(), "forceOrder" | "markPriceUpdate"))
    {
        let simd = parser_for(Venue::BinanceSpot, DEFAULT_MAX_FRAME_BYTES)
            .parse(fixture.frame.as_bytes(), RECEIVED)
            .unwrap_err();
        let baseline = SerdeJsonParser::new(Venue::BinanceSpot, DEFAULT_MAX_FRAME_BYTES)
            .parse(fixture.frame.as_bytes(), RECEIVED)
            .unwrap_err();
        assert_eq!(simd.reason(), "unsupported_event", "{}", fixture.frame);
        assert_eq!(baseline.reason(), simd.reason(), "{}", fixture.frame);
    }
}

/// Bybit linear's liquidations (the position's side: `Buy` is a long liquidated) and
/// tickers (a snapshot, then deltas with only what changed); spot refuses both topics.
#[test]
fn bybit_linear_derivatives_fixtures_parse_to_expected_values() {
    let venue = Venue::BybitLinear;
    let rose = sym("ROSEUSDT");
    let btc = sym("BTCUSDT");
    check(
        venue,
        "bybit-linear.jsonl",
        vec![
            (
                "allLiquidation",
                MarketEvent::Liquidations(vec![
                    Liquidation {
                        venue,
                        symbol: rose,
                        position: PositionSide::Short,
                        price: p("0.04499"),
                        qty: q("20000"),
                        time: TimestampMs(1_739_502_302_929),
                        received_at: RECEIVED,
                    },
                    Liquidation {
                        venue,
                        symbol: rose,
                        position: PositionSide::Long,
                        price: p("0.0451"),
                        qty: q("150.5"),
                        time: TimestampMs(1_739_502_303_001),
                        received_at: RECEIVED,
                    },
                ]),
            ),
            (
                "tickers",
                MarketEvent::Derivatives(DerivativesTick {
                    venue,
                    symbol: btc,
                    time: TimestampMs(1_673_272_861_686),
                    received_at: RECEIVED,
                    complete: true,
                    mark_price: Some(p("17217.33")),
                    index_price: Some(p("17227.36")),
                    funding_rate: Some("-0.000212".parse().unwrap()),
                    next_funding_time: Some(TimestampMs(1_673_280_000_000)),
                    open_interest: Some(q("68744.761")),
                }),
            ),
            (
                "tickers",
                MarketEvent::Derivatives(DerivativesTick {
                    venue,
                    symbol: btc,
                    time: TimestampMs(1_673_272_861_786),
                    received_at: RECEIVED,
                    complete: false,
                    mark_price: Some(p("17218.01")),
                    index_price: None,
                    funding_rate: None,
                    next_funding_time: None,
                    open_interest: Some(q("68745.1")),
                }),
            ),
        ],
    );
    for fixture in fixtures("bybit-linear.jsonl") {
        let simd = parser_for(Venue::BybitSpot, DEFAULT_MAX_FRAME_BYTES)
            .parse(fixture.frame.as_bytes(), RECEIVED)
            .unwrap_err();
        let baseline = SerdeJsonParser::new(Venue::BybitSpot, DEFAULT_MAX_FRAME_BYTES)
            .parse(fixture.frame.as_bytes(), RECEIVED)
            .unwrap_err();
        assert_eq!(simd.reason(), "unsupported_topic", "{}", fixture.frame);
        assert_eq!(baseline.reason(), simd.reason(), "{}", fixture.frame);
    }
}
