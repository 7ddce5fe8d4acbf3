//! Parsing: venue frames (and REST answers) into normalized events, exactly.
//!
//! - [`frame`]: the [`FrameParser`](frame::FrameParser) trait, frame kinds and the typed
//!   [`ParseError`](frame::ParseError).
//! - `tape`: one-pass field extraction over simd-json's tape; `fields`: the exact field
//!   conversions (decimals, ids, times) every parser shares.
//! - [`venues`]: one simd-json parser per venue.
//! - `baseline`: the same parsers on serde_json, the benchmark baseline and the differential
//!   oracle of the tests and fuzz targets; compiled only for them (feature `baseline`).

#[cfg(any(test, feature = "baseline"))]
pub mod baseline;
pub(crate) mod fields;
pub mod frame;
pub(crate) mod tape;
pub mod venues;
