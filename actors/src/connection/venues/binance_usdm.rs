//! Binance USD-M futures frames: `@aggTrade` and `@kline_<i>` from the `/market` route,
//! `@depth@100ms` from the `/public` route (diff depth with `U`, `u` and `pu`),
//! `serverShutdown`, and request answers.

use super::binance;
use crate::connection::frame::{FrameKind, ParseError};
use crate::connection::tape::{Obj, pick};
use crate::model::{BookDelta, DeltaSequence, MarketEvent, TimestampMs, UnixNanos, Venue};

const VENUE: Venue = Venue::BinanceUsdm;

/// Parses a payload of this venue.
pub(super) fn payload(
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    match binance::event_type(&data)? {
        Some("aggTrade") => binance::agg_trade(VENUE, stream, data, received_at),
        Some("depthUpdate") => depth_update(stream, data, received_at),
        Some("kline") => binance::kline(VENUE, stream, data, received_at),
        Some("serverShutdown") => binance::server_shutdown(data),
        Some(other) => Err(binance::unsupported_event(other)),
        None => Err(binance::unsupported_stream(stream)),
    }
}

/// `{"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":157,"u":160,"pu":149,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}`
fn depth_update(
    stream: Option<&str>,
    data: Obj<'_, '_>,
    received_at: UnixNanos,
) -> Result<MarketEvent, ParseError> {
    let kind = FrameKind::DepthUpdate;
    let f = pick!(data.as_kind(kind);
        symbol = "s", first = "U", last = "u", previous = "pu", bids = "b", asks = "a",
        event_time = "E", transaction_time = "T",
    );
    let (first_update_id, final_update_id) = binance::depth_update_ids(&f.first(), &f.last())?;
    Ok(MarketEvent::BookDelta(BookDelta {
        venue: VENUE,
        symbol: binance::payload_symbol(stream, &f.symbol(), kind)?,
        sequence: DeltaSequence::BinanceUsdm {
            first_update_id,
            final_update_id,
            previous_final_update_id: f.previous().u64()?,
        },
        bids: f.bids().levels()?,
        asks: f.asks().levels()?,
        event_time: TimestampMs(f.event_time().i64()?),
        transaction_time: f.transaction_time().opt_i64()?.map(TimestampMs),
        received_at,
    }))
}
