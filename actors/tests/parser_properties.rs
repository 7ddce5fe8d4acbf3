//! Property tests: no input makes any venue parser panic, and wherever the independent
//! serde_json baseline accepts a frame, the simd-json parser produces the identical event.
//!
//! Three generators per venue, 100 000 cases each: random bytes; valid fixture frames with
//! byte-level mutations (flips, insertions of JSON punctuation, deletions, duplications,
//! truncation, digit and case changes); and structure-aware mutations that replace one JSON
//! value of a fixture frame with a random one (wrong types, nulls, huge numbers, odd strings).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::Value;
use wadm_actors::connection::parse::baseline::SerdeJsonParser;
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, FrameParser, ParseError, parser_for};
use wadm_actors::model::{UnixNanos, Venue};

const CASES: u32 = 100_000;

fn fixture_frames(file: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/../tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            value["frame"].as_str().unwrap().as_bytes().to_vec()
        })
        .collect()
}

fn frames_for(venue: Venue) -> Vec<Vec<u8>> {
    match venue {
        Venue::BinanceSpot => fixture_frames("binance-spot.jsonl"),
        Venue::BinanceUsdm => fixture_frames("binance-usdm.jsonl"),
        Venue::BybitSpot => fixture_frames("bybit.jsonl"),
        Venue::BybitLinear => {
            let mut frames = fixture_frames("bybit.jsonl");
            frames.extend(fixture_frames("bybit-linear.jsonl"));
            frames
        }
    }
}

/// Parses with both parsers and checks the differential property.
fn check_frame(venue: Venue, frame: &[u8]) -> Result<(), TestCaseError> {
    let simd = parser_for(venue, DEFAULT_MAX_FRAME_BYTES).parse(frame, UnixNanos(7));
    let baseline = SerdeJsonParser::new(venue, DEFAULT_MAX_FRAME_BYTES).parse(frame, UnixNanos(7));
    if let Err(err) = &simd {
        // Rendering the error and its reason must not panic either.
        let _ = (err.to_string(), err.reason());
    }
    if let Ok(expected) = baseline {
        match simd {
            Ok(actual) => {
                prop_assert_eq!(actual, expected, "frame {}", String::from_utf8_lossy(frame))
            }
            // The two JSON decoders may differ on what is valid JSON at the edges (number
            // ranges, surrogates); they must never differ on what a valid frame means.
            Err(ParseError::Json { .. }) => {}
            Err(err) => prop_assert!(
                false,
                "baseline accepted but simd-json said {err:?}: {}",
                String::from_utf8_lossy(frame)
            ),
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Overwrite { at: usize, byte: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize, to: usize },
    Truncate { at: usize },
    Digit { at: usize, digit: u8 },
    FlipCase { at: usize },
}

const PUNCTUATION: &[u8] = b"{}[],:\"\\-.0123456789eE+ntrufalse ";

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = prop_oneof![
        prop::sample::select(PUNCTUATION).prop_map(|b| vec![b]),
        prop::collection::vec(any::<u8>(), 1..4),
        prop::sample::select(vec![
            "null",
            "true",
            "\"\"",
            "[]",
            "{}",
            "-1",
            "1e309",
            "18446744073709551616",
            "\"\\u0000\"",
            "\"\\ud800\""
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite { at, byte }),
        (any::<usize>(), token).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1..8usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1..24usize, any::<usize>())
            .prop_map(|(at, len, to)| Mutation::Duplicate { at, len, to }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), 0..10u8).prop_map(|(at, digit)| Mutation::Digit { at, digit }),
        any::<usize>().prop_map(|at| Mutation::FlipCase { at }),
    ]
}

fn apply(frame: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = frame.to_vec();
    for mutation in mutations {
        let len = bytes.len().max(1);
        match mutation {
            Mutation::Overwrite { at, byte } => {
                if let Some(slot) = bytes.get_mut(at % len) {
                    *slot = *byte;
                }
            }
            Mutation::Insert { at, bytes: insert } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, insert.iter().copied());
            }
            Mutation::Delete { at, len: count } => {
                let at = at % len;
                let end = (at + count).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::Duplicate { at, len: count, to } => {
                let at = at % len;
                let end = (at + count).min(bytes.len());
                let slice: Vec<u8> = bytes.get(at..end).unwrap_or_default().to_vec();
                let to = to % (bytes.len() + 1);
                bytes.splice(to..to, slice);
            }
            Mutation::Truncate { at } => bytes.truncate(at % len),
            Mutation::Digit { at, digit } => {
                // Change the next digit at or after `at`, keeping the JSON valid more often.
                let start = at % len;
                if let Some(position) = bytes.iter().skip(start).position(u8::is_ascii_digit) {
                    bytes[start + position] = b'0' + digit;
                }
            }
            Mutation::FlipCase { at } => {
                let start = at % len;
                if let Some(position) = bytes.iter().skip(start).position(u8::is_ascii_alphabetic) {
                    bytes[start + position] ^= 0x20;
                }
            }
        }
    }
    bytes
}

/// Replaces the `index`-th value (in document order, containers included) of `value` with
/// `replacement`; returns true once replaced.
fn replace_nth(value: &mut Value, index: &mut usize, replacement: &Value) -> bool {
    if *index == 0 {
        *value = replacement.clone();
        return true;
    }
    *index -= 1;
    match value {
        Value::Array(items) => items
            .iter_mut()
            .any(|item| replace_nth(item, index, replacement)),
        Value::Object(map) => map
            .values_mut()
            .any(|item| replace_nth(item, index, replacement)),
        _ => false,
    }
}

fn count_values(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_values).sum(),
        Value::Object(map) => map.values().map(count_values).sum(),
        _ => 0,
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "-?[0-9]{1,30}(\\.[0-9]{0,20})?".prop_map(Value::String),
        prop::sample::select(vec![
            "Buy",
            "Sell",
            "snapshot",
            "delta",
            "aggTrade",
            "trade",
            "depthUpdate",
            "kline",
            "BTCUSDT",
            "1m",
            "5"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        max_shrink_iters: 2_000,
        // Failing inputs are kept next to this file, so a fix can be checked against them.
        failure_persistence: Some(Box::new(prop::test_runner::FileFailurePersistence::Direct(
            "tests/parser_properties.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

macro_rules! venue_properties {
    ($module:ident, $venue:expr) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(config())]

                #[test]
                fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
                    check_frame($venue, &bytes)?;
                }

                #[test]
                fn mutated_frames_never_panic_and_agree_with_the_baseline(
                    index in any::<prop::sample::Index>(),
                    mutations in prop::collection::vec(mutation(), 1..6),
                ) {
                    let frames = frames_for($venue);
                    let frame = &frames[index.index(frames.len())];
                    check_frame($venue, &apply(frame, &mutations))?;
                }

                #[test]
                fn frames_with_a_replaced_value_never_panic_and_agree_with_the_baseline(
                    index in any::<prop::sample::Index>(),
                    position in any::<prop::sample::Index>(),
                    replacement in json_value(),
                ) {
                    let frames = frames_for($venue);
                    let frame = &frames[index.index(frames.len())];
                    let mut document: Value = serde_json::from_slice(frame).unwrap();
                    let mut nth = position.index(count_values(&document));
                    replace_nth(&mut document, &mut nth, &replacement);
                    check_frame($venue, &serde_json::to_vec(&document).unwrap())?;
                }
            }
        }
    };
}

venue_properties!(binance_spot, Venue::BinanceSpot);
venue_properties!(binance_usdm, Venue::BinanceUsdm);
venue_properties!(bybit_spot, Venue::BybitSpot);
venue_properties!(bybit_linear, Venue::BybitLinear);
