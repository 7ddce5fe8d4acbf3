//! Binance USD-M futures frames: `@aggTrade`, `@trade` and `@kline_<i>` from the `/market` route,
//! `@depth@100ms` from the `/public` route (diff depth with `U`, `u` and `pu`),
//! `@forceOrder` and `@markPrice@1s` from the `/market` route, `serverShutdown`, and request
//! answers.

use super::binance;
use crate::connection::parse::frame::ParseError;
use crate::connection::parse::tape::Obj;
use crate::model::{MarketEvent, UnixNanos, Venue};

const VENUE: Venue = Venue::BinanceUsdm;

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
        Some("forceOrder") => binance::force_order(VENUE, stream, data, received_at),
        Some("markPriceUpdate") => binance::mark_price(VENUE, stream, data, received_at),
        Some("serverShutdown") => binance::server_shutdown(data),
        Some(other) => Err(binance::unsupported_event(other)),
        None => Err(binance::unsupported_stream(stream)),
    }
}
