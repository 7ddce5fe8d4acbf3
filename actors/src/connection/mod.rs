//! The connection role: everything between a venue's WebSocket and the normalized events
//! that the aggregators consume.
//!
//! - [`ConnectionActor`]: one per venue; owns its sockets (sessions), watchdogs, rotation,
//!   reconnection and instrument metadata.
//! - [`session`]: one socket: subscribe, read, parse, keep books, route.
//! - [`parse`]: frames into normalized events: the [`FrameParser`] trait, frame kinds, the
//!   typed [`ParseError`], one simd-json parser per venue (and a serde_json baseline for
//!   tests, benchmarks and fuzzing).
//! - [`streams`]: the streams each venue offers, by their venue-native names.
//! - [`book`]: local order books kept by each venue's documented procedure; [`book_sync`]:
//!   the snapshot bookkeeping of a socket's books (queue, retries, out of sync), pure.
//! - [`requests`]: the requests a session waits for answers to, pure.
//! - [`protocol`]: endpoints, topic names, requests and rate limits of each venue.
//! - [`rest`]: parsers of REST depth snapshots, instrument metadata and trades;
//!   [`rest_client`]: the requests; [`rest_budget`]: each venue's REST weight budget.
//! - [`cursors`]: per-symbol trade continuity and book state across sessions and restarts;
//!   [`budget`]: the connection attempts of each venue host.

mod actor;
pub mod book;
pub mod book_sync;
pub mod budget;
pub mod cursors;
pub mod messages;
pub mod parse;
pub mod protocol;
pub mod requests;
pub mod rest;
pub mod rest_budget;
pub mod rest_client;
pub mod session;
pub mod settings;
pub mod status;
pub mod streams;

pub use actor::{ConnectionActor, ConnectionArgs, ConnectionState};
pub use messages::{CloseReason, ConnectionMsg, SessionEvent};
pub use parse::fields::MAX_MARKET_VALUE;
pub use parse::frame::{DEFAULT_MAX_FRAME_BYTES, FrameKind, FrameParser, ParseError};
pub use parse::venues::{BinanceParser, BybitParser};
pub use settings::ConnectionSettings;
pub use streams::{Stream, StreamClass, UnknownStream};

use crate::model::Venue;

/// Returns the simd-json parser for `venue`.
pub fn parser_for(venue: Venue, max_frame_bytes: usize) -> Box<dyn FrameParser> {
    match venue {
        Venue::BinanceSpot => Box::new(BinanceParser::spot(max_frame_bytes)),
        Venue::BinanceUsdm => Box::new(BinanceParser::usdm(max_frame_bytes)),
        Venue::BybitSpot | Venue::BybitLinear => Box::new(BybitParser::new(venue, max_frame_bytes)),
    }
}
