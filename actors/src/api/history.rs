//! The history routes: closed bars, raw trades, candles and data-quality events, read from
//! the store.
//!
//! Every history answer holds the newest `limit` items of `[from, to)` (ms), listed oldest
//! first; to page back, ask again with `to` set to the first item's time. 1m, 1h and 1d bars
//! are stored; 5m and 15m are summed from the stored 1m bars and 4h from the stored 1h bars
//! (footprints add exactly; POC, value area, imbalances and absorption are computed on the
//! sum).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::Api;
use super::error::ApiError;
use super::params::{Params, printable};
use super::reply::json_response;
use super::views::{
    FlowView, ProfileView, analyse, answer_params, derivatives_view, row_factor, with_value_area,
};
use crate::aggregator::bar_derivatives::DerivativesReport;
use crate::aggregator::{Bar, BarRecord, ProfileParams, RowGrid, Timeframe};
use crate::model::{DataQualityEvent, Qty, Symbol, Venue};
use crate::quality::{Coverage, Hole};
use crate::storage::{Document, Kind, MAX_READ_LIMIT, Order, Query, StoreError};

/// How far around a history range stored data-quality events are read for its holes (a
/// hole is found after it begins, and repaired later still).
const HOLE_LOOKBACK_MS: i64 = 6 * 3_600_000;

/// Largest `limit` of a history answer.
pub const MAX_LIMIT: i64 = 1000;

/// Default `limit`.
pub const DEFAULT_LIMIT: i64 = 100;

/// Latest time accepted (the last millisecond of year 9999).
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A summed bar and what it was made of.
struct Summed {
    /// The stored bar itself, when the answer is one stored bar (1m, 1h or 1d).
    stored: Option<Arc<BarRecord>>,
    bar: Bar,
    cvd: Qty,
    base_bars: u64,
    amended: bool,
    partial: bool,
    latest_end: i64,
}

#[derive(Serialize)]
struct HistoryBar<T: Serialize> {
    #[serde(flatten)]
    view: T,
    open: Option<crate::model::Price>,
    close: Option<crate::model::Price>,
    /// Stored bars summed into this one (1 for 1m, 1h and 1d).
    base_bars: u64,
    /// True when a late trade changed a stored bar after it was first written.
    amended: bool,
    /// True when a stored bar was written before its period ended (the daemon stopped).
    partial: bool,
    /// Liquidations, open interest, funding, mark, index (derivatives venues).
    #[serde(skip_serializing_if = "Option::is_none")]
    derivatives: Option<DerivativesReport>,
}

impl<T: Serialize> HistoryBar<T> {
    /// The answer item of a summed bar, its indicators in `view`.
    fn of(view: T, summed: &Summed, derivatives: Option<DerivativesReport>) -> Self {
        Self {
            derivatives,
            view,
            open: summed.bar.open.map(|o| o.price),
            close: summed.bar.close.map(|c| c.price),
            base_bars: summed.base_bars,
            amended: summed.amended,
            partial: summed.partial,
        }
    }
}

/// Encodes documents read newest first as the items of an answer, oldest first (each as the
/// value it holds: a trade, a candle, an event).
fn encode_oldest_first(documents: &[Document]) -> Result<Vec<serde_json::Value>, ApiError> {
    documents
        .iter()
        .rev()
        .map(|document| {
            match document {
                Document::Trade(t) => serde_json::to_value(t),
                Document::Bar(b) => serde_json::to_value(b.as_ref()),
                Document::Book(b) => serde_json::to_value(b.as_ref()),
                Document::Kline(k) => serde_json::to_value(&**k),
                Document::Quality(q) => serde_json::to_value(q),
                Document::Liquidation(l, _) => serde_json::to_value(l),
                Document::Funding(f) => serde_json::to_value(f.as_ref()),
                Document::Alert(a) => serde_json::to_value(a.as_ref()),
            }
            .map_err(|e| ApiError::internal(format!("a document could not be encoded: {e}")))
        })
        .collect()
}

pub(super) fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Unavailable(message) => ApiError::store_unavailable(message),
        StoreError::Rejected(message) | StoreError::Corrupt(message) => {
            ApiError::internal(format!("the store could not answer: {message}"))
        }
    }
}

/// `from`, `to` and `limit`.
fn range(params: &Params) -> Result<(i64, i64, usize), ApiError> {
    let now = wadm_supervision::unix_millis();
    let to = params.int("to", 1..=MAX_TIME_MS)?.unwrap_or(now + 1);
    let from = params.int("from", 0..=MAX_TIME_MS)?.unwrap_or(0);
    if from >= to {
        return Err(ApiError::bad_parameter(
            "from",
            format!("{from} is not before `to` ({to})"),
        ));
    }
    let limit = params.int("limit", 1..=MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
    Ok((from, to, limit as usize))
}

fn timeframe(params: &Params) -> Result<Timeframe, ApiError> {
    Ok(params
        .parsed("timeframe", |t| {
            t.parse::<Timeframe>()
                .map_err(|_| format!("{:?} is not one of 1m, 5m, 15m, 1h, 4h, 1d", printable(t)))
        })?
        .unwrap_or(Timeframe::H1))
}

impl Api {
    async fn read(&self, query: Query) -> Result<Vec<Document>, ApiError> {
        self.sources.store.read(query).await.map_err(store_error)
    }

    /// The newest `limit` documents of a kind in `[from, to)`, encoded oldest first.
    async fn read_items(
        &self,
        kind: Kind,
        venue: Option<Venue>,
        symbol: Option<Symbol>,
        (from, to, limit): (i64, i64, usize),
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        let documents = self
            .read(Query {
                kind,
                venue,
                symbol,
                from,
                to,
                limit,
                order: Order::NewestFirst,
            })
            .await?;
        encode_oldest_first(&documents)
    }

    /// Reads and sums the bars of a history request.
    async fn summed_bars(
        &self,
        venue: Venue,
        symbol: Symbol,
        timeframe: Timeframe,
        (from, to, limit): (i64, i64, usize),
        grid: Option<RowGrid>,
    ) -> Result<(Vec<Summed>, Option<RowGrid>, bool), ApiError> {
        let (kind, base) = match timeframe {
            Timeframe::M1 | Timeframe::M5 | Timeframe::M15 => (Kind::Bars1m, Timeframe::M1),
            Timeframe::H1 | Timeframe::H4 => (Kind::Bars1h, Timeframe::H1),
            Timeframe::D1 => (Kind::Bars1d, Timeframe::D1),
        };
        let per = (timeframe.millis() / base.millis()) as usize;
        let read_limit = (limit * per + per).min(MAX_READ_LIMIT);
        let documents = self
            .read(Query {
                kind,
                venue: Some(venue),
                symbol: Some(symbol),
                from: timeframe.start_of(from),
                to,
                limit: read_limit,
                order: Order::NewestFirst,
            })
            .await?;
        let mut cut = documents.len() >= read_limit;
        let stored: Vec<&Arc<BarRecord>> = documents
            .iter()
            .filter_map(|d| match d {
                Document::Bar(bar) => Some(bar),
                _ => None,
            })
            .collect();
        // The live grid, else the newest stored bar's.
        let Some(grid) = grid.or_else(|| stored.first().and_then(|b| b.grid().ok())) else {
            return Ok((Vec::new(), None, cut));
        };
        let mut groups: BTreeMap<i64, Summed> = BTreeMap::new();
        for record in stored {
            let rebuilt = match record.to_bar_on(&grid) {
                Ok(bar) => bar,
                Err(err) => {
                    tracing::warn!(venue = %venue, symbol = %symbol, start = record.report.start, error = %err, "a stored bar cannot be used; left out of the answer");
                    continue;
                }
            };
            let factor = grid.row_size().units() / record.row_size.units();
            let start = timeframe.start_of(record.report.start);
            let summed = groups.entry(start).or_insert_with(|| Summed {
                stored: None,
                bar: Bar::new(start, start + timeframe.millis()),
                cvd: record.report.cvd,
                base_bars: 0,
                amended: false,
                partial: false,
                latest_end: i64::MIN,
            });
            // The cvd of a sum is the one at its last stored bar's end.
            if rebuilt.end >= summed.latest_end {
                summed.cvd = record.report.cvd;
                summed.latest_end = rebuilt.end;
            }
            let (start, end) = (summed.bar.start, summed.bar.end);
            summed.bar.merge(&rebuilt);
            summed.bar.start = start;
            summed.bar.end = end;
            summed.base_bars += 1;
            summed.amended |= record.amended;
            summed.partial |= record.partial;
            summed.stored = (summed.base_bars == 1 && timeframe == base && factor == 1)
                .then(|| Arc::clone(record));
        }
        cut |= groups.len() > limit;
        let newest: Vec<Summed> = groups.into_values().rev().take(limit).collect();
        Ok((newest.into_iter().rev().collect(), Some(grid), cut))
    }

    /// The stored bars of `timeframe` in `[from, to)` (the newest `limit`, oldest first;
    /// 5m, 15m and 4h summed), on the live grid or else the newest stored bar's, and whether
    /// `limit` cut the list.
    pub(super) async fn stored_bars(
        &self,
        venue: Venue,
        symbol: Symbol,
        timeframe: Timeframe,
        range: (i64, i64, usize),
        grid: Option<RowGrid>,
    ) -> Result<(Vec<Bar>, Option<RowGrid>, bool), ApiError> {
        let (summed, grid, cut) = self
            .summed_bars(venue, symbol, timeframe, range, grid)
            .await?;
        Ok((summed.into_iter().map(|s| s.bar).collect(), grid, cut))
    }

    async fn bar_history(
        &self,
        symbol: &str,
        query: Option<&str>,
        flow: bool,
    ) -> Result<Response, ApiError> {
        let allowed: &[&str] = if flow {
            &["venue", "timeframe", "from", "to", "limit", "row_size"]
        } else {
            &[
                "venue",
                "timeframe",
                "from",
                "to",
                "limit",
                "row_size",
                "value_area",
            ]
        };
        let params = Params::parse(query, allowed)?;
        let (venue, symbol) = self.resolve(symbol, &params)?;
        let timeframe = timeframe(&params)?;
        let range = range(&params)?;
        let snapshot = self.sources.snapshots.latest(venue, symbol);
        let live_grid = snapshot.as_ref().and_then(|s| s.grid);
        let profile: ProfileParams = snapshot.as_ref().map(|s| s.params).unwrap_or_default();
        let profile = with_value_area(&params, profile)?;
        // row_size is checked against the live grid when known (else after the read).
        let early_factor = live_grid.map(|g| row_factor(&params, &g)).transpose()?;
        let (bars, grid, cut) = self
            .summed_bars(venue, symbol, timeframe, range, live_grid)
            .await?;
        // Without `from`, or cut by `limit`, the answer is about the bars it lists.
        let first = bars.first().map(|s| s.bar.start);
        let window_from = match first {
            Some(first) if cut || params.get("from").is_none() => first,
            _ => range.0,
        };
        let coverage = self
            .history_coverage(
                venue,
                symbol,
                window_from,
                range.1,
                first,
                bars.last().map(|s| s.bar.end),
            )
            .await?;
        let factor = match (early_factor, grid) {
            (Some(factor), _) => factor,
            (None, Some(grid)) => row_factor(&params, &grid)?,
            (None, None) => 1,
        };
        let items: Vec<serde_json::Value> = match grid {
            None => Vec::new(),
            Some(grid) => bars
                .iter()
                .map(|s| {
                    // A stored bar computed with the parameters asked for is served as it
                    // was stored; anything else is computed with the aggregator's code.
                    let (report, absorption) = match &s.stored {
                        Some(stored) if factor == 1 && stored.params.matches(&profile) => {
                            (stored.report.clone(), stored.absorption.clone())
                        }
                        _ => analyse(&s.bar, &grid, factor, &profile, s.cvd),
                    };
                    let value = if flow {
                        let derivatives = derivatives_view(&s.bar, &grid, factor);
                        serde_json::to_value(HistoryBar::of(
                            FlowView::of(report, absorption),
                            s,
                            derivatives,
                        ))
                    } else {
                        serde_json::to_value(HistoryBar::of(ProfileView::from(report), s, None))
                    };
                    value
                        .map_err(|e| ApiError::internal(format!("a bar could not be encoded: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };
        let body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            "timeframe": timeframe,
            "from": range.0,
            "to": range.1,
            "limit": range.2,
            "coverage": coverage,
            "params": grid.map(|g| answer_params(&g, factor, &profile)),
            "bars": items,
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    /// The coverage of a history answer about `[from, to)` whose stored items begin at
    /// `first` and end at `last`: data runs from the earliest known (a stored item, or the
    /// earliest trade the aggregator holds) to now while the feed streams; holes come from
    /// the data-quality log in memory and in the store.
    pub(super) async fn history_coverage(
        &self,
        venue: Venue,
        symbol: Symbol,
        from: i64,
        to: i64,
        first: Option<i64>,
        last: Option<i64>,
    ) -> Result<Coverage, ApiError> {
        let now = wadm_supervision::unix_millis();
        let from = from.min(to);
        let snapshot = self.sources.snapshots.latest(venue, symbol);
        let mut holes: Vec<DataQualityEvent> = self.sources.quality.holes(venue, symbol, from, to);
        // Holes of older ranges are in the store (events are keyed by when they were found,
        // which is after the hole: read a little past `to`).
        let stored = self
            .read(
                Query::range(
                    Kind::DataQuality,
                    venue,
                    symbol,
                    from.saturating_sub(HOLE_LOOKBACK_MS),
                    to.saturating_add(HOLE_LOOKBACK_MS),
                )
                .limit(MAX_READ_LIMIT),
            )
            .await?;
        for document in stored {
            if let Document::Quality(event) = document
                && event.kind.is_hole()
                && !holes
                    .iter()
                    .any(|known| known.time == event.time && known.kind == event.kind)
            {
                holes.push(event);
            }
        }
        let holes = holes.iter().filter_map(Hole::of).collect();
        let live = snapshot.as_ref();
        let start = [first, live.and_then(|s| s.earliest_trade)]
            .into_iter()
            .flatten()
            .min();
        let end = match live {
            Some(snapshot) => {
                let feed_up = self.feed_is_up(venue);
                if feed_up && snapshot.earliest_trade.is_some() {
                    Some(to.min(now))
                } else {
                    [last, snapshot.last_trade_time].into_iter().flatten().max()
                }
            }
            None => last,
        };
        Ok(Coverage::of(from, to, start.zip(end), holes))
    }

    pub(super) async fn profile_history(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        self.bar_history(symbol, query, false).await
    }

    pub(super) async fn order_flow_history(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        self.bar_history(symbol, query, true).await
    }

    pub(super) async fn trades(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "from", "to", "limit"])?;
        let (venue, symbol) = self.resolve(symbol, &params)?;
        let (from, to, limit) = range(&params)?;
        let ranged = params.get("from").is_some() || params.get("to").is_some();
        let (source, trades, coverage) = if ranged {
            let trades = self
                .read_items(Kind::Trades, Some(venue), Some(symbol), (from, to, limit))
                .await?;
            let time_of = |item: Option<&serde_json::Value>| {
                item.and_then(|t| t.get("trade_time"))
                    .and_then(serde_json::Value::as_i64)
            };
            let (first, last) = (time_of(trades.first()), time_of(trades.last()));
            let window_from = match first {
                Some(first) if trades.len() >= limit || params.get("from").is_none() => first,
                _ => from,
            };
            let coverage = self
                .history_coverage(venue, symbol, window_from, to, first, last)
                .await?;
            ("store", trades, Some(coverage))
        } else {
            let snapshot = self.sources.snapshots.latest(venue, symbol);
            let recent = snapshot
                .as_ref()
                .map(|s| &s.recent_trades[..])
                .unwrap_or(&[]);
            let skip = recent.len().saturating_sub(limit);
            let trades = recent[skip..]
                .iter()
                .map(|t| {
                    serde_json::to_value(t).map_err(|e| {
                        ApiError::internal(format!("a trade could not be encoded: {e}"))
                    })
                })
                .collect::<Result<_, _>>()?;
            ("live", trades, None)
        };
        let mut body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            "source": source,
            "limit": limit,
            "trades": trades,
        });
        if let Some(coverage) = coverage {
            body["coverage"] = serde_json::json!(coverage);
        }
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(super) async fn klines(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "from", "to", "limit"])?;
        let (venue, symbol) = self.resolve(symbol, &params)?;
        let (from, to, limit) = range(&params)?;
        let klines = self
            .read_items(Kind::Klines, Some(venue), Some(symbol), (from, to, limit))
            .await?;
        let body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            "from": from,
            "to": to,
            "limit": limit,
            "klines": klines,
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(super) async fn gaps(&self, query: Option<&str>) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "symbol", "from", "to", "limit"])?;
        let (from, to, limit) = range(&params)?;
        let venue = super::views::venue_param(&params)?;
        let symbol = match params.get("symbol") {
            Some(text) => Some(self.resolve(text, &params)?.1),
            None => None,
        };
        let events = self
            .read_items(Kind::DataQuality, venue, symbol, (from, to, limit))
            .await?;
        let body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            "from": from,
            "to": to,
            "limit": limit,
            "events": events,
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    /// `GET /api/v1/alerts`: the alert log, newest `limit` of `[from, to)` oldest first,
    /// each with its delivery state per destination; `rule`, `venue`, `symbol` filter.
    pub(super) async fn alerts(&self, query: Option<&str>) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["rule", "venue", "symbol", "from", "to", "limit"])?;
        let (from, to, limit) = range(&params)?;
        let venue = super::views::venue_param(&params)?;
        let symbol = match params.get("symbol") {
            Some(text) => Some(self.resolve(text, &params)?.1),
            None => None,
        };
        let rule = params.get("rule").map(str::to_owned);
        // With a rule, read wider and keep that rule's.
        let read_limit = if rule.is_some() {
            MAX_READ_LIMIT
        } else {
            limit
        };
        let documents = self
            .read(Query {
                kind: Kind::Alerts,
                venue,
                symbol,
                from,
                to,
                limit: read_limit,
                order: Order::NewestFirst,
            })
            .await?;
        let mut alerts: Vec<&crate::alerts::AlertRecord> = documents
            .iter()
            .filter_map(|d| match d {
                Document::Alert(a) if rule.as_ref().is_none_or(|r| *r == a.rule) => Some(&**a),
                _ => None,
            })
            .take(limit)
            .collect();
        alerts.reverse();
        let body = serde_json::json!({
            "rule": rule,
            "venue": venue,
            "symbol": symbol,
            "from": from,
            "to": to,
            "limit": limit,
            "alerts": alerts,
        });
        Ok(json_response(StatusCode::OK, &body))
    }
}
