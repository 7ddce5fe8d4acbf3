//! The history routes: closed bars, raw trades, candles and data-quality events, read from
//! the store.
//!
//! Every history answer holds the newest `limit` items of `[from, to)` (ms), listed oldest
//! first; to page back, ask again with `to` set to the first item's time. Bars of 5m and 15m
//! are summed from the stored 1m bars, and 4h and 1d from the stored 1h bars (footprints add
//! exactly; POC, value area, imbalances and absorption are computed on the sum).

use std::collections::BTreeMap;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::Api;
use super::error::ApiError;
use super::params::{Params, printable};
use super::reply::json_response;
use super::views::{FlowView, ProfileView, analyse, answer_params, row_factor, with_value_area};
use crate::aggregator::bar::PriceAt;
use crate::aggregator::{Bar, ProfileParams, RowGrid, Timeframe};
use crate::model::{Qty, Side, Symbol, Venue};
use crate::storage::documents::StoredBar;
use crate::storage::{Document, Kind, MAX_READ_LIMIT, Order, Query, StoreError};

/// Largest `limit` of a history answer.
pub const MAX_LIMIT: i64 = 1000;

/// Default `limit`.
pub const DEFAULT_LIMIT: i64 = 100;

/// Latest time accepted (the last millisecond of year 9999).
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A summed bar and what it was made of.
struct Summed {
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
    /// Stored bars summed into this one (1 for 1m and 1h).
    base_bars: u64,
    /// True when a late trade changed a stored bar after it was first written.
    amended: bool,
    /// True when a stored bar was written before its period ended (the daemon stopped).
    partial: bool,
}

impl<T: Serialize> HistoryBar<T> {
    /// The answer item of a summed bar, its indicators in `view`.
    fn of(view: T, summed: &Summed) -> Self {
        Self {
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
                Document::Kline(k) => serde_json::to_value(k),
                Document::Quality(q) => serde_json::to_value(q),
            }
            .map_err(|e| ApiError::internal(format!("a document could not be encoded: {e}")))
        })
        .collect()
}

fn store_error(err: StoreError) -> ApiError {
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

/// Rebuilds a stored bar on `grid` (its labels land in the grid's rows). A row's latest trade
/// time is exact where the bar recorded absorption there, else the bar's start.
fn rebuild(stored: &StoredBar, grid: &RowGrid) -> Bar {
    let report = &stored.report;
    let mut bar = Bar::new(report.start, report.end);
    for row in &report.footprint {
        let time = stored
            .absorption
            .iter()
            .filter(|a| a.price == row.price)
            .map(|a| a.time)
            .max()
            .unwrap_or(report.start);
        let index = grid.row(row.price);
        if !row.bid.is_zero() {
            bar.footprint.add(index, Side::Sell, row.bid, time);
        }
        if !row.ask.is_zero() {
            bar.footprint.add(index, Side::Buy, row.ask, time);
        }
    }
    bar.totals.trades = report.trades;
    bar.totals.fills = report.trades;
    bar.totals.buy_volume = report.buy_volume;
    bar.totals.sell_volume = report.sell_volume;
    bar.open = stored.open.map(|price| PriceAt {
        price,
        time: report.start,
    });
    bar.close = stored.close.map(|price| PriceAt {
        price,
        time: report.end - 1,
    });
    bar.high = report.high;
    bar.low = report.low;
    bar.trade_ids = stored.first_trade_id.zip(stored.last_trade_id);
    bar
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
    ) -> Result<(Vec<Summed>, Option<RowGrid>), ApiError> {
        let (kind, base) = match timeframe {
            Timeframe::M1 | Timeframe::M5 | Timeframe::M15 => (Kind::Bars1m, Timeframe::M1),
            Timeframe::H1 | Timeframe::H4 | Timeframe::D1 => (Kind::Bars1h, Timeframe::H1),
        };
        let per = (timeframe.millis() / base.millis()) as usize;
        let documents = self
            .read(Query {
                kind,
                venue: Some(venue),
                symbol: Some(symbol),
                from: timeframe.start_of(from),
                to,
                limit: (limit * per + per).min(MAX_READ_LIMIT),
                order: Order::NewestFirst,
            })
            .await?;
        let stored: Vec<&StoredBar> = documents
            .iter()
            .filter_map(|d| match d {
                Document::Bar(bar) => Some(bar.as_ref()),
                _ => None,
            })
            .collect();
        // The live grid, else the newest stored bar's.
        let Some(grid) = grid.or_else(|| stored.first().and_then(|b| RowGrid::new(b.row_size)))
        else {
            return Ok((Vec::new(), None));
        };
        let mut groups: BTreeMap<i64, Summed> = BTreeMap::new();
        for bar in stored {
            let start = timeframe.start_of(bar.report.start);
            let summed = groups.entry(start).or_insert_with(|| Summed {
                bar: Bar::new(start, start + timeframe.millis()),
                cvd: bar.report.cvd,
                base_bars: 0,
                amended: false,
                partial: false,
                latest_end: i64::MIN,
            });
            let rebuilt = rebuild(bar, &grid);
            // The cvd of a sum is the one at its last stored bar's end.
            if rebuilt.end >= summed.latest_end {
                summed.cvd = bar.report.cvd;
                summed.latest_end = rebuilt.end;
            }
            let (start, end) = (summed.bar.start, summed.bar.end);
            summed.bar.merge(&rebuilt);
            summed.bar.start = start;
            summed.bar.end = end;
            summed.base_bars += 1;
            summed.amended |= bar.amended;
            summed.partial |= bar.partial;
        }
        let newest: Vec<Summed> = groups.into_values().rev().take(limit).collect();
        Ok((newest.into_iter().rev().collect(), Some(grid)))
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
        let (bars, grid) = self
            .summed_bars(venue, symbol, timeframe, range, live_grid)
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
                    let (report, absorption) = analyse(&s.bar, &grid, factor, &profile, s.cvd);
                    let value = if flow {
                        serde_json::to_value(HistoryBar::of(FlowView::of(report, absorption), s))
                    } else {
                        serde_json::to_value(HistoryBar::of(ProfileView::from(report), s))
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
            "params": grid.map(|g| answer_params(&g, factor, &profile)),
            "bars": items,
        });
        Ok(json_response(StatusCode::OK, &body))
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
        let (source, trades) = if ranged {
            let trades = self
                .read_items(Kind::Trades, Some(venue), Some(symbol), (from, to, limit))
                .await?;
            ("store", trades)
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
            ("live", trades)
        };
        let body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            "source": source,
            "limit": limit,
            "trades": trades,
        });
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
}
