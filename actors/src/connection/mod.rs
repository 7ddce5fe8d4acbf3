//! The connection role: everything between a venue's WebSocket and the normalized events
//! that the aggregators consume.
//!
//! - [`frame`]: the [`FrameParser`] trait, frame kinds and the typed [`ParseError`].
//! - [`venues`]: one simd-json parser per venue.
//! - [`streams`]: the streams each venue offers, by their venue-native names.
//! - [`book`]: local order books kept by each venue's documented procedure.
//! - [`rest`]: parsers of REST depth snapshots and instrument metadata.
//! - [`baseline`]: the same parsers on serde_json, kept as the benchmark baseline and as a
//!   differential oracle in tests.

pub mod baseline;
pub mod book;
mod fields;
pub mod frame;
pub mod rest;
pub mod streams;
mod tape;
pub mod venues;

pub use frame::{DEFAULT_MAX_FRAME_BYTES, FrameKind, FrameParser, ParseError};
pub use streams::{Stream, StreamClass, UnknownStream};
pub use venues::{BinanceParser, BybitParser};

use crate::model::Venue;

/// Returns the simd-json parser for `venue`.
pub fn parser_for(venue: Venue, max_frame_bytes: usize) -> Box<dyn FrameParser> {
    match venue {
        Venue::BinanceSpot => Box::new(BinanceParser::spot(max_frame_bytes)),
        Venue::BinanceUsdm => Box::new(BinanceParser::usdm(max_frame_bytes)),
        Venue::BybitSpot | Venue::BybitLinear => Box::new(BybitParser::new(venue, max_frame_bytes)),
    }
}
