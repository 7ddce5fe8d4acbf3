// Shared by every target: parse with the simd-json parser, never panic, and wherever the
// serde_json baseline accepts the input, produce exactly its result.

use wadm_actors::connection::parse::baseline::SerdeJsonParser;
use wadm_actors::connection::{DEFAULT_MAX_FRAME_BYTES, FrameParser, ParseError, parser_for};
use wadm_actors::model::{UnixNanos, Venue};

pub fn check(venue: Venue, data: &[u8]) {
    let simd = parser_for(venue, DEFAULT_MAX_FRAME_BYTES).parse(data, UnixNanos(0));
    let baseline = SerdeJsonParser::new(venue, DEFAULT_MAX_FRAME_BYTES).parse(data, UnixNanos(0));
    if let Err(err) = &simd {
        let _ = (err.to_string(), err.reason());
    }
    if let Ok(expected) = baseline {
        match simd {
            Ok(actual) => assert_eq!(actual, expected),
            Err(ParseError::Json { .. }) => {}
            Err(err) => panic!("baseline accepted the frame, simd-json said {err:?}"),
        }
    }
}
