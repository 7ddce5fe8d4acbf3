//! Binance spot frames, from `wss://stream.binance.com:9443/stream?streams=...`:
//! `@trade`, `@aggTrade`, `@depth@100ms` (diff depth with `U`/`u`), `@depth<N>` (partial
//! depth), `@kline_<i>`, `serverShutdown`, and request answers.

use super::binance;
use crate::connection::parse::fields;
use crate::connection::parse::frame::{FrameKind, ParseError};
use crate::connection::parse::tape::{Obj, pick};
use crate::model::{BookSnapshot, MarketEvent, SnapshotSequence, UnixNanos, Venue};

const VENUE: Venue = Venue::BinanceSpot;

/// Parses a payload of this venue.
pub(super) fn payload(
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    match binance::event_type(&data)? {
        Some("aggTrade") => binance::agg_trade(VENUE, stream, data, received_at),
        Some("trade") => binance::trade(VENUE, stream, data, received_at),
        Some("depthUpdate") => binance::depth_update(VENUE, stream, data, received_at),
        Some("kline") => binance::kline(VENUE, stream, data, received_at),
        Some("serverShutdown") => binance::server_shutdown(data),
        Some(other) => Err(binance::unsupported_event(other)),
        None => match stream {
            Some(name) if fields::binance_partial_depth_levels(name).is_some() => {
                partial_depth(name, data, received_at)
            }
            _ => Err(binance::unsupported_stream(stream)),
        },
    }
}

/// `{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}` on
/// `bnbbtc@depth20@100ms`: the symbol is only in the stream name.
fn partial_depth(
    stream: &str,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let f = pick!(data.as_kind(FrameKind::PartialDepth); last = "lastUpdateId", bids = "bids", asks = "asks");
    Ok(MarketEvent::BookSnapshot(BookSnapshot {
        venue: VENUE,
        symbol: fields::binance_stream_symbol(stream)?,
        sequence: SnapshotSequence::Binance {
            last_update_id: f.last().u64()?,
        },
        bids: f.bids().levels()?,
        asks: f.asks().levels()?,
        event_time: None,
        received_at,
    }))
}
