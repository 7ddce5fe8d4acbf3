//! The simulated exchange's REST trade history and rate limits.
//!
//! | venue | path | answers |
//! |---|---|---|
//! | binance-spot | `/api/v3/aggTrades` | by `fromId`, or by `startTime`/`endTime` (at most an hour apart), `limit` up to 1,000 |
//! | binance-usdm | `/fapi/v1/aggTrades` | the same, without `M` |
//! | binance-usdm | `/fapi/v1/openInterest` | the open interest now (weight 1) |
//! | bybit-spot, bybit-linear | `/v5/market/recent-trade` | the last `limit` trades (60 at most on spot, 1,000 on linear), newest first |
//!
//! Trades come from the simulator's own record (so `record_trades` must be on), history
//! included ([`super::SimConfig::history`]).
//!
//! Every REST request (these, depth snapshots, instruments) takes its weight from the
//! venue's limit in fixed windows (Binance: weight per minute, answered in
//! `X-MBX-USED-WEIGHT-1M`; Bybit: requests per 5 s). Over the limit it answers 429 with
//! `Retry-After`. A test can make the next requests answer 429 or 418 with a
//! `Retry-After`; requests arriving before that has passed are counted as violations.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use wadm_actors::model::{Side, Symbol, Venue};
use warp::http::StatusCode;
use warp::reply::Reply;

use super::Inner;
use super::render::{self, SimTrade};

/// What one venue's REST side has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RestCounters {
    /// Requests answered (any status).
    pub requests: u64,
    /// Trade-history requests among them.
    pub trade_requests: u64,
    /// The most weight used in any one window.
    pub max_window_weight: u64,
    /// Requests answered 429 because the window's limit was passed.
    pub over_limit: u64,
    /// Requests answered with a forced 429 or 418.
    pub forced: u64,
    /// Requests that arrived while a 429's or 418's `Retry-After` had not passed.
    pub during_hold: u64,
}

#[derive(Debug)]
struct VenueLimit {
    limit: u64,
    window_ms: i64,
    window_start: i64,
    used: u64,
    forced: VecDeque<(u16, u64)>,
    hold_until: Option<Instant>,
    counters: RestCounters,
}

/// The rate limits of every simulated venue.
#[derive(Debug, Default)]
pub struct RestLimits {
    venues: Mutex<HashMap<Venue, VenueLimit>>,
}

fn documented(venue: Venue) -> (u64, i64) {
    match venue {
        Venue::BinanceSpot => (6_000, 60_000),
        Venue::BinanceUsdm => (2_400, 60_000),
        Venue::BybitSpot | Venue::BybitLinear => (600, 5_000),
    }
}

impl RestLimits {
    fn with<R>(&self, venue: Venue, f: impl FnOnce(&mut VenueLimit) -> R) -> R {
        let mut venues = self.venues.lock().unwrap_or_else(|p| p.into_inner());
        let state = venues.entry(venue).or_insert_with(|| {
            let (limit, window_ms) = documented(venue);
            VenueLimit {
                limit,
                window_ms,
                window_start: 0,
                used: 0,
                forced: VecDeque::new(),
                hold_until: None,
                counters: RestCounters::default(),
            }
        });
        f(state)
    }

    /// Sets `venue`'s limit (weight or requests per window).
    pub fn set_limit(&self, venue: Venue, limit: u64) {
        self.with(venue, |state| state.limit = limit.max(1));
    }

    /// Makes the next `count` requests to `venue` answer `status` (429 or 418) with
    /// `Retry-After: retry_after` seconds.
    pub fn force(&self, venue: Venue, status: u16, retry_after: u64, count: usize) {
        self.with(venue, |state| {
            state
                .forced
                .extend(std::iter::repeat_n((status, retry_after), count));
        });
    }

    /// Returns what `venue`'s REST side has seen.
    pub fn counters(&self, venue: Venue) -> RestCounters {
        self.with(venue, |state| state.counters)
    }

    /// Admits a request of `weight`: the headers to add to its answer, or the refusal
    /// (429 or 418, and its `Retry-After`).
    fn check(
        &self,
        venue: Venue,
        weight: u64,
        trades: bool,
    ) -> Result<Vec<(&'static str, String)>, (u16, u64)> {
        let now = Instant::now();
        let now_ms = wadm_actors::model::TimestampMs::now().as_millis();
        self.with(venue, |state| {
            state.counters.requests += 1;
            if trades {
                state.counters.trade_requests += 1;
            }
            if state.hold_until.is_some_and(|until| now < until) {
                state.counters.during_hold += 1;
            }
            if let Some((status, retry_after)) = state.forced.pop_front() {
                state.counters.forced += 1;
                state.hold_until = Some(now + Duration::from_secs(retry_after));
                return Err((status, retry_after));
            }
            let start = now_ms - now_ms.rem_euclid(state.window_ms);
            if start != state.window_start {
                state.window_start = start;
                state.used = 0;
            }
            state.used += weight;
            state.counters.max_window_weight = state.counters.max_window_weight.max(state.used);
            if state.used > state.limit {
                state.counters.over_limit += 1;
                let retry_after =
                    u64::try_from((start + state.window_ms - now_ms).max(1_000) / 1_000)
                        .unwrap_or(1);
                return Err((429, retry_after));
            }
            Ok(match venue {
                Venue::BinanceSpot | Venue::BinanceUsdm => {
                    vec![("x-mbx-used-weight-1m", state.used.to_string())]
                }
                Venue::BybitSpot | Venue::BybitLinear => Vec::new(),
            })
        })
    }
}

impl RestLimits {
    /// Admits a request of `weight`: the headers to add to its answer, or the 429/418
    /// answer to give instead.
    pub(super) fn admit(
        &self,
        venue: Venue,
        weight: u64,
        trades: bool,
    ) -> Result<Vec<(&'static str, String)>, Box<warp::reply::Response>> {
        self.check(venue, weight, trades)
            .map_err(|(status, retry_after)| Box::new(limited(status, retry_after)))
    }
}

fn limited(status: u16, retry_after: u64) -> warp::reply::Response {
    let body = serde_json::json!({"code": -1003, "msg": "Too many requests; simulated limit."});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let mut response = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    if let Ok(value) = retry_after.to_string().parse() {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// Answers with `respond()` if `venue` admits a request of `weight`, with its headers.
pub(super) fn limited_answer(
    inner: &Inner,
    venue: Venue,
    weight: u64,
    trades: bool,
    respond: impl FnOnce() -> warp::reply::Response,
) -> warp::reply::Response {
    match inner.rest.admit(venue, weight, trades) {
        Ok(headers) => with_headers(respond(), headers),
        Err(refused) => *refused,
    }
}

/// Adds the budget headers [`RestLimits::admit`] gave to an answer.
pub(super) fn with_headers(
    mut response: warp::reply::Response,
    headers: Vec<(&'static str, String)>,
) -> warp::reply::Response {
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn error(status: StatusCode, code: i64, msg: &str) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"code": code, "msg": msg})),
        status,
    )
    .into_response()
}

/// `GET /fapi/v1/openInterest?symbol=` (weight 1):
/// `{"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}`.
pub(super) fn open_interest(
    inner: &Inner,
    query: &HashMap<String, String>,
) -> warp::reply::Response {
    let venue = Venue::BinanceUsdm;
    limited_answer(inner, venue, 1, false, || {
        let Some(symbol) = query.get("symbol").and_then(|s| Symbol::new(s).ok()) else {
            return error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
        };
        match inner.shared.serve_open_interest(venue, symbol) {
            Some((oi, time)) => warp::reply::json(&serde_json::json!({
                "openInterest": render::fixed(oi.units(), 3),
                "symbol": symbol,
                "time": time,
            }))
            .into_response(),
            None => error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol."),
        }
    })
}

/// `GET /api/v3/aggTrades` and `GET /fapi/v1/aggTrades`.
pub(super) fn agg_trades(
    inner: &Inner,
    venue: Venue,
    query: &HashMap<String, String>,
) -> warp::reply::Response {
    let weight = if venue == Venue::BinanceUsdm { 20 } else { 4 };
    limited_answer(inner, venue, weight, true, || {
        let Some(symbol) = query.get("symbol").and_then(|s| Symbol::new(s).ok()) else {
            return error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
        };
        let number = |key: &str| query.get(key).and_then(|v| v.parse::<i64>().ok());
        let limit = number("limit").unwrap_or(500).clamp(1, 1_000) as usize;
        let (from_id, start, end) = (number("fromId"), number("startTime"), number("endTime"));
        if let (Some(start), Some(end)) = (start, end)
            && end - start > 3_600_000
        {
            return error(
                StatusCode::BAD_REQUEST,
                -1127,
                "More than 1 hours between startTime and endTime.",
            );
        }
        let places = render::places(venue);
        let rows: Vec<serde_json::Value> =
            inner
                .shared
                .with_recorded(venue, symbol, |trades: &[SimTrade]| {
                    let first = match (from_id, start) {
                        (Some(id), _) => trades.partition_point(|t| (t.id as i64) < id),
                        (None, Some(start)) => trades.partition_point(|t| t.time < start),
                        (None, None) => trades.len().saturating_sub(limit),
                    };
                    trades[first.min(trades.len())..]
                        .iter()
                        .take_while(|t| end.is_none_or(|end| t.time <= end))
                        .take(limit)
                        .map(|t| {
                            let mut row = serde_json::json!({
                                "a": t.id,
                                "p": render::fixed(t.price.units(), places),
                                "q": render::fixed(t.qty.units(), places),
                                "f": t.id * 3,
                                "l": t.id * 3 + 2,
                                "T": t.time,
                                "m": t.side == Side::Sell,
                            });
                            if venue == Venue::BinanceSpot {
                                row["M"] = true.into();
                            }
                            row
                        })
                        .collect()
                });
        warp::reply::json(&rows).into_response()
    })
}

/// `GET /v5/market/recent-trade?category=spot|linear&symbol=S&limit=N`.
pub(super) fn recent_trades(
    inner: &Inner,
    query: &HashMap<String, String>,
) -> warp::reply::Response {
    let venue = match query.get("category").map(String::as_str) {
        Some("spot") => Venue::BybitSpot,
        Some("linear") => Venue::BybitLinear,
        _ => return bybit_error(10001, "params error: category invalid"),
    };
    limited_answer(inner, venue, 1, true, || {
        let Some(symbol) = query.get("symbol").and_then(|s| Symbol::new(s).ok()) else {
            return bybit_error(10001, "params error: symbol invalid");
        };
        let most = if venue == Venue::BybitSpot { 60 } else { 1_000 };
        let limit = query
            .get("limit")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(if venue == Venue::BybitSpot { 60 } else { 500 })
            .clamp(1, most);
        let places = render::places(venue);
        let list: Vec<serde_json::Value> =
            inner
                .shared
                .with_recorded(venue, symbol, |trades: &[SimTrade]| {
                    trades
                        .iter()
                        .rev()
                        .take(limit)
                        .map(|t| {
                            serde_json::json!({
                                "execId": render::bybit_trade_id(venue, t.id),
                                "symbol": symbol.as_str(),
                                "price": render::fixed(t.price.units(), places),
                                "size": render::fixed(t.qty.units(), places),
                                "side": if t.side == Side::Buy { "Buy" } else { "Sell" },
                                "time": t.time.to_string(),
                                "isBlockTrade": false,
                                "isRPITrade": false,
                            })
                        })
                        .collect()
                });
        let category = if venue == Venue::BybitSpot {
            "spot"
        } else {
            "linear"
        };
        warp::reply::json(&serde_json::json!({
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": category, "list": list},
            "retExtInfo": {},
            "time": wadm_actors::model::TimestampMs::now().as_millis(),
        }))
        .into_response()
    })
}

fn bybit_error(code: i64, msg: &str) -> warp::reply::Response {
    warp::reply::json(&serde_json::json!({"retCode": code, "retMsg": msg, "result": {}}))
        .into_response()
}
