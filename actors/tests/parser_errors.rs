//! Malformed and unusual frames: each gives a typed error with a stable reason, or parses
//! the same way whatever the key order, escaping or extra fields.

#![allow(clippy::unwrap_used)]

use wadm_actors::connection::parse::baseline::SerdeJsonParser;
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, FrameParser, ParseError, parser_for};
use wadm_actors::model::{MarketEvent, Side, UnixNanos, Venue};

fn parse(venue: Venue, frame: &[u8]) -> Result<MarketEvent, ParseError> {
    parser_for(venue, DEFAULT_MAX_FRAME_BYTES).parse(frame, UnixNanos(1))
}

fn reason(venue: Venue, frame: &[u8]) -> &'static str {
    match parse(venue, frame) {
        Ok(event) => panic!(
            "{venue}: expected an error for {}, got {event:?}",
            String::from_utf8_lossy(frame)
        ),
        Err(err) => {
            // Display and source chains must render without panicking too.
            let _ = err.to_string();
            err.reason()
        }
    }
}

const AGG: &str = r#"{"stream":"bnbbtc@aggTrade","data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":7,"p":"1.5","q":"2","f":1,"l":2,"T":1,"m":true}}"#;

#[test]
fn binance_malformed_frames_give_typed_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let long_decimal = format!(
        r#"{{"stream":"bnbbtc@aggTrade","data":{{"e":"aggTrade","E":1,"s":"BNBBTC","a":7,"p":"{}","q":"2","f":1,"l":2,"T":1,"m":true}}}}"#,
        "9".repeat(70)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty frame", b"".to_vec(), "invalid_json"),
        ("truncated frame", AGG.as_bytes()[..60].to_vec(), "invalid_json"),
        ("invalid utf-8", b"{\"stream\":\"\xff\xfe\"}".to_vec(), "invalid_json"),
        ("deep nesting", deep.into_bytes(), "invalid_json"),
        ("top-level array", b"[1,2,3]".to_vec(), "wrong_type"),
        ("empty object", b"{}".to_vec(), "unknown_shape"),
        ("null data", br#"{"stream":"bnbbtc@aggTrade","data":null}"#.to_vec(), "missing_field"),
        ("string data", br#"{"stream":"bnbbtc@aggTrade","data":"x"}"#.to_vec(), "wrong_type"),
        ("numeric price", AGG.replace(r#""p":"1.5""#, r#""p":1.5"#).into_bytes(), "wrong_type"),
        ("missing size", AGG.replace(r#""q":"2","#, "").into_bytes(), "missing_field"),
        ("negative id", AGG.replace(r#""a":7"#, r#""a":-7"#).into_bytes(), "wrong_type"),
        ("fractional id", AGG.replace(r#""a":7"#, r#""a":7.5"#).into_bytes(), "wrong_type"),
        ("time past i64", AGG.replace(r#""T":1"#, r#""T":18446744073709551615"#).into_bytes(), "wrong_type"),
        ("string maker flag", AGG.replace(r#""m":true"#, r#""m":"true""#).into_bytes(), "wrong_type"),
        ("overlong decimal", long_decimal.into_bytes(), "invalid_decimal"),
        ("too precise decimal", AGG.replace(r#""p":"1.5""#, r#""p":"1.0000000000001""#).into_bytes(), "invalid_decimal"),
        ("exponent decimal", AGG.replace(r#""p":"1.5""#, r#""p":"1e5""#).into_bytes(), "invalid_decimal"),
        ("negative size", AGG.replace(r#""q":"2""#, r#""q":"-2""#).into_bytes(), "invalid_decimal"),
        ("zero size", AGG.replace(r#""q":"2""#, r#""q":"0.000""#).into_bytes(), "invalid_value"),
        ("zero price", AGG.replace(r#""p":"1.5""#, r#""p":"0""#).into_bytes(), "invalid_value"),
        ("bad symbol", AGG.replace(r#""s":"BNBBTC""#, r#""s":"BNB/BTC""#).into_bytes(), "invalid_symbol"),
        ("symbol mismatch", AGG.replace("bnbbtc@", "ethbtc@").into_bytes(), "symbol_mismatch"),
        ("unknown event", AGG.replace(r#""e":"aggTrade""#, r#""e":"24hrTicker""#).into_bytes(), "unsupported_event"),
        (
            "unknown stream without event type",
            br#"{"stream":"bnbbtc@bookTicker","data":{"u":1,"s":"BNBBTC","b":"1","B":"1","a":"2","A":"1"}}"#.to_vec(),
            "unsupported_stream",
        ),
        (
            "depth ids out of order",
            br#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":9,"u":8,"b":[],"a":[]}}"#.to_vec(),
            "invalid_value",
        ),
        (
            "depth level with one element",
            br#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1"]],"a":[]}}"#.to_vec(),
            "wrong_type",
        ),
        (
            "depth level with numbers",
            br#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[[1,2]],"a":[]}}"#.to_vec(),
            "wrong_type",
        ),
        (
            "kline with unknown interval",
            br#"{"stream":"bnbbtc@kline_7m","data":{"e":"kline","E":1,"s":"BNBBTC","k":{"t":0,"T":1,"i":"7m","f":1,"L":2,"o":"1","c":"1","h":"1","l":"1","v":"1","n":1,"x":false,"q":"1","V":"1","Q":"1"}}}"#.to_vec(),
            "invalid_value",
        ),
        ("ack with a string id", br#"{"result":null,"id":"x"}"#.to_vec(), "wrong_type"),
    ];
    for (name, frame, expected) in cases {
        assert_eq!(reason(Venue::BinanceSpot, &frame), expected, "{name}");
    }
}

#[test]
fn binance_usdm_rules_differ_from_spot_where_the_venue_does() {
    let no_pu = br#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}"#;
    assert_eq!(reason(Venue::BinanceUsdm, no_pu), "missing_field");
    assert!(
        parse(Venue::BinanceSpot, no_pu).is_ok(),
        "spot diffs carry no pu"
    );
    let raw_trade = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}"#;
    assert!(
        parse(Venue::BinanceUsdm, raw_trade).is_ok()
            && parse(Venue::BinanceSpot, raw_trade).is_ok(),
        "raw trades are taken on both (USD-M's, undocumented, carry the order type X)"
    );
    let no_id = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","p":"1","q":"1","T":1,"X":"MARKET","m":true}}"#;
    assert_eq!(reason(Venue::BinanceUsdm, no_id), "missing_field");
    let partial =
        br#"{"stream":"btcusdt@depth20@100ms","data":{"lastUpdateId":1,"bids":[],"asks":[]}}"#;
    assert_eq!(reason(Venue::BinanceUsdm, partial), "unsupported_stream");
}

#[test]
fn oversized_frames_are_rejected_before_decoding() {
    let mut parser = parser_for(Venue::BinanceSpot, 64);
    let err = parser.parse(AGG.as_bytes(), UnixNanos(1)).unwrap_err();
    assert_eq!(err.reason(), "frame_too_large");
    let mut baseline = SerdeJsonParser::new(Venue::BinanceSpot, 64);
    assert_eq!(
        baseline
            .parse(AGG.as_bytes(), UnixNanos(1))
            .unwrap_err()
            .reason(),
        "frame_too_large"
    );
}

#[test]
fn key_order_escapes_and_unknown_fields_do_not_change_the_result() {
    let reference = parse(Venue::BinanceSpot, AGG.as_bytes()).unwrap();
    let variants = [
        // data before stream
        r#"{"data":{"e":"aggTrade","E":1,"s":"BNBBTC","a":7,"p":"1.5","q":"2","f":1,"l":2,"T":1,"m":true},"stream":"bnbbtc@aggTrade"}"#.to_owned(),
        // shuffled payload keys, unknown fields, whitespace
        "{ \"stream\" : \"bnbbtc@aggTrade\" , \"extra\": [1, {\"x\": null}], \"data\": {\"m\":true,\"T\":1,\"l\":2,\"f\":1,\"q\":\"2\",\"p\":\"1.5\",\"a\":7,\"s\":\"BNBBTC\",\"E\":1,\"e\":\"aggTrade\",\"M\":true,\"nq\":\"2\"} }\n".to_owned(),
        // escaped characters in strings
        AGG.replace(r#""s":"BNBBTC""#, r#""s":"\u0042NBBTC""#),
        // a bare event, as the raw /ws endpoint sends it
        r#"{"e":"aggTrade","E":1,"s":"BNBBTC","a":7,"p":"1.5","q":"2","f":1,"l":2,"T":1,"m":true}"#.to_owned(),
    ];
    for variant in variants {
        assert_eq!(
            parse(Venue::BinanceSpot, variant.as_bytes()).unwrap(),
            reference,
            "{variant}"
        );
        let baseline = SerdeJsonParser::new(Venue::BinanceSpot, DEFAULT_MAX_FRAME_BYTES)
            .parse(variant.as_bytes(), UnixNanos(1))
            .unwrap();
        assert_eq!(baseline, reference, "baseline: {variant}");
    }
}

#[test]
fn binance_error_shapes_are_rejections() {
    let nested = br#"{"error":{"code":-1121,"msg":"Invalid symbol."},"id":3}"#;
    match parse(Venue::BinanceUsdm, nested).unwrap() {
        MarketEvent::Control(wadm_actors::model::Control::Rejected {
            request_id,
            code,
            message,
            ..
        }) => {
            assert_eq!(
                (request_id, code, &*message),
                (Some(3), Some(-1121), "Invalid symbol.")
            );
        }
        other => panic!("{other:?}"),
    }
    let long_message = format!(r#"{{"code":1,"msg":"{}"}}"#, "x".repeat(10_000));
    match parse(Venue::BinanceSpot, long_message.as_bytes()).unwrap() {
        MarketEvent::Control(wadm_actors::model::Control::Rejected { message, .. }) => {
            assert_eq!(message.len(), 256)
        }
        other => panic!("{other:?}"),
    }
}

const BYBIT_TRADE: &str = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":2,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"0.5","p":"100","i":"1","BT":true,"seq":9}]}"#;
const BYBIT_BOOK: &str = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":2,"data":{"s":"BTCUSDT","b":[["1","2"]],"a":[],"u":5,"seq":6}}"#;

#[test]
fn bybit_malformed_frames_give_typed_errors() {
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown topic", BYBIT_TRADE.replace("publicTrade.BTCUSDT", "lt.BTCUSDT"), "unsupported_topic"),
        ("lower-case side", BYBIT_TRADE.replace(r#""S":"Buy""#, r#""S":"buy""#), "invalid_value"),
        ("item symbol mismatch", BYBIT_TRADE.replace(r#""s":"BTCUSDT""#, r#""s":"ETHUSDT""#), "symbol_mismatch"),
        ("data not an array", BYBIT_TRADE.replace(r#""data":["#, r#""data":{"x":["#).replace("}]}", "}]}}"), "wrong_type"),
        ("trade item not an object", BYBIT_TRADE.replace(r#""data":[{"#, r#""data":[1,{"#), "wrong_type"),
        ("numeric trade id", BYBIT_TRADE.replace(r#""i":"1""#, r#""i":1"#), "wrong_type"),
        ("string block flag", BYBIT_TRADE.replace(r#""BT":true"#, r#""BT":"true""#), "wrong_type"),
        ("missing ts", BYBIT_TRADE.replace(r#""ts":2,"#, ""), "missing_field"),
        ("unknown book type", BYBIT_BOOK.replace(r#""type":"delta""#, r#""type":"partial""#), "invalid_value"),
        ("book without seq", BYBIT_BOOK.replace(r#","seq":6"#, ""), "missing_field"),
        ("book symbol mismatch", BYBIT_BOOK.replace(r#""s":"BTCUSDT""#, r#""s":"ETHUSDT""#), "symbol_mismatch"),
        ("book level decimal", BYBIT_BOOK.replace(r#"["1","2"]"#, r#"["1","2.0000000000009"]"#), "invalid_decimal"),
        (
            "kline interval differs from topic",
            r#"{"topic":"kline.1.BTCUSDT","data":[{"start":0,"end":59999,"interval":"5","open":"1","close":"1","high":"1","low":"1","volume":"1","turnover":"1","confirm":true,"timestamp":1}],"ts":1,"type":"snapshot"}"#.to_owned(),
            "invalid_value",
        ),
        ("message without op or success", r#"{"ret_msg":"hello","conn_id":"x"}"#.to_owned(), "unknown_shape"),
        ("numeric request id", r#"{"success":true,"op":"subscribe","req_id":5}"#.to_owned(), "wrong_type"),
    ];
    for venue in [Venue::BybitSpot, Venue::BybitLinear] {
        for (name, frame, expected) in &cases {
            assert_eq!(
                reason(venue, frame.as_bytes()),
                *expected,
                "{venue}: {name}"
            );
        }
    }
}

#[test]
fn bybit_spot_pong_shape_and_block_trades_are_understood() {
    let spot_pong = br#"{"req_id":"12","op":"pong","args":["1675418560633"],"conn_id":"cfcb4ocsvfriu23r3er0-1b"}"#;
    assert_eq!(
        parse(Venue::BybitSpot, spot_pong).unwrap(),
        MarketEvent::Control(wadm_actors::model::Control::Pong {
            request_id: Some(12)
        })
    );
    let MarketEvent::Trades(trades) = parse(Venue::BybitLinear, BYBIT_TRADE.as_bytes()).unwrap()
    else {
        panic!("expected trades");
    };
    assert!(
        trades[0]
            .flags
            .contains(wadm_actors::model::TradeFlags::BLOCK_TRADE)
    );
    assert_eq!(trades[0].side, Side::Buy);
    assert_eq!(trades[0].sequence, Some(9));
}
