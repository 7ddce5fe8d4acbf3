//! Derivatives answers (issue #20): liquidations over a range, as events and as clusters
//! per footprint row (`/api/v1/liquidations`), and open interest, funding, mark, index and
//! basis as a series of bars with the fundings settled (`/api/v1/derivatives`). Both are
//! summed exactly from the bars' derivatives part by the range answers' machinery.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use super::Api;
use super::error::ApiError;
use super::history::MAX_TIME_MS;
use super::params::{Params, printable};
use super::ranged::{RangeSum, bounds};
use super::reply::json_response;
use super::views::{derivatives_view, row_factor};
use crate::aggregator::bar_derivatives::{DerivativesReport, LiquidationRow};
use crate::aggregator::{AggregatorSnapshot, Bar, RowGrid, Timeframe};
use crate::model::{Liquidation, Symbol, Venue};
use crate::storage::{Document, Kind, Order, Query};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Events listed at most.
const MAX_EVENTS: i64 = 1_000;
/// Events listed by default.
const DEFAULT_EVENTS: i64 = 100;
/// Bars listed at most, and by default.
const MAX_BARS: i64 = 1_000;
const DEFAULT_BARS: i64 = 120;
/// The largest clusters listed apart.
const LARGEST_ROWS: usize = 5;

/// What a venue's liquidation feed leaves out, said in every answer that sums it.
fn sampling(venue: Venue) -> Option<&'static str> {
    (venue == Venue::BinanceUsdm).then_some(
        "Binance sends at most the largest liquidation per symbol each second: counts and sizes are a lower bound",
    )
}

/// `from`/`to` of a derivatives answer: `from` defaults to the hour before `to`.
fn span(params: &Params, now: i64) -> Result<(i64, i64), ApiError> {
    if params.get("from").is_some() {
        return bounds(params, now, ("from", "`from` is Unix ms"));
    }
    let open_end = now.div_euclid(MINUTE) * MINUTE + MINUTE;
    let to = params.int("to", 1..=MAX_TIME_MS)?.map_or(open_end, |to| {
        (to.div_euclid(MINUTE) * MINUTE).min(open_end)
    });
    if to < MINUTE {
        return Err(ApiError::bad_parameter(
            "to",
            format!("{to} leaves no whole minute before it"),
        ));
    }
    Ok(((to - HOUR).max(0), to))
}

/// The derivatives venues of a request (a composite keeps only those).
fn derivatives_venues(venues: Vec<Venue>, symbol: Symbol) -> Result<Vec<Venue>, ApiError> {
    let spot: Vec<Venue> = venues
        .iter()
        .copied()
        .filter(|v| !v.is_derivative())
        .collect();
    let kept: Vec<Venue> = venues.into_iter().filter(|v| v.is_derivative()).collect();
    if kept.is_empty() {
        return Err(ApiError::bad_parameter(
            "venue",
            format!(
                "{} is spot: liquidations, open interest and funding exist on perpetuals (binance-usdm, bybit-linear) collecting {symbol}",
                spot.iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(kept)
}

/// The report's rows with the most liquidated, largest first.
fn largest(rows: &[LiquidationRow]) -> Vec<&LiquidationRow> {
    let mut by_size: Vec<&LiquidationRow> = rows.iter().collect();
    by_size.sort_by_key(|r| std::cmp::Reverse(r.longs.qty + r.shorts.qty));
    by_size.truncate(LARGEST_ROWS);
    by_size
}

/// A liquidation's identity, for merging stored and live lists.
fn identity(l: &Liquidation) -> (Venue, i64, String, String, bool) {
    (
        l.venue,
        l.time.as_millis(),
        l.price.to_string(),
        l.qty.to_string(),
        l.position == crate::model::PositionSide::Long,
    )
}

/// One bar of the derivatives series.
fn series_point(bar: &Bar, grid: &RowGrid) -> Option<Value> {
    let report = derivatives_view(bar, grid, 1)?;
    Some(json!({
        "start": bar.start,
        "end": bar.end,
        "open_interest": report.open_interest,
        "funding_rate": report.funding_rate,
        "mark_price": report.mark_price,
        "index_price": report.index_price,
        "basis": report.basis,
        "liquidations": report.liquidations,
    }))
}

/// The latest values a venue pushed (merged), with the basis.
pub(super) fn latest_view(snapshot: &AggregatorSnapshot) -> Value {
    let Some(tick) = &snapshot.derivatives else {
        return Value::Null;
    };
    json!({
        "time": tick.time,
        "mark_price": tick.mark_price,
        "index_price": tick.index_price,
        "basis": tick.mark_price.zip(tick.index_price).map(|(m, i)| m - i),
        "funding_rate": tick.funding_rate,
        "next_funding_time": tick.next_funding_time,
        "open_interest": tick.open_interest,
    })
}

/// A compact derivatives brief of a live window (for the market context): liquidations,
/// open-interest change, and the latest values. `None` on spot.
pub(super) fn window_brief(snapshot: &AggregatorSnapshot, window: &Bar) -> Option<Value> {
    let grid = snapshot.grid?;
    let report: DerivativesReport = derivatives_view(window, &grid, 1)?;
    Some(json!({
        "longs_liquidated": report.liquidations.longs,
        "shorts_liquidated": report.liquidations.shorts,
        "largest_liquidation_rows": largest(&report.liquidation_rows),
        "open_interest_change": report.open_interest.as_ref().map(|oi| oi.change),
        "open_interest": report.open_interest.as_ref().map(|oi| oi.close),
        "latest": latest_view(snapshot),
        "sampling": sampling(snapshot.venue),
    }))
}

impl Api {
    /// `GET /api/v1/liquidations/{symbol}?venue=&from=&to=&row_size=&limit=`.
    pub(super) async fn liquidations(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "from", "to", "row_size", "limit"])?;
        let now = wadm_supervision::unix_millis();
        let (venues, symbol) = self.range_venues(symbol, &params)?;
        let venues = derivatives_venues(venues, symbol)?;
        let (from, to) = span(&params, now)?;
        let limit = params
            .int("limit", 1..=MAX_EVENTS)?
            .unwrap_or(DEFAULT_EVENTS) as usize;
        let sum: RangeSum = self.range_sum(&venues, symbol, (from, to), now).await?;
        let factor = row_factor(&params, &sum.base)?;
        let report = derivatives_view(&sum.bar, &sum.base, factor).unwrap_or_default();
        let (effective_from, effective_to) = (sum.bar.start, sum.bar.end);
        // Events: the stored ones, and those the aggregators hold that are not stored yet.
        let mut events: Vec<Liquidation> = Vec::new();
        let mut truncated = false;
        for &venue in &venues {
            let documents = self
                .sources
                .store
                .read(Query {
                    kind: Kind::Liquidations,
                    venue: Some(venue),
                    symbol: Some(symbol),
                    from: effective_from,
                    to: effective_to,
                    limit,
                    order: Order::NewestFirst,
                })
                .await
                .map_err(super::history::store_error)?;
            truncated |= documents.len() >= limit;
            let mut stored: BTreeMap<(Venue, i64, String, String, bool), usize> = BTreeMap::new();
            for document in documents {
                if let Document::Liquidation(liquidation, _) = document {
                    *stored.entry(identity(&liquidation)).or_default() += 1;
                    events.push(liquidation);
                }
            }
            if let Some(snapshot) = self.sources.snapshots.latest(venue, symbol) {
                for live in snapshot.liquidations.iter() {
                    let time = live.time.as_millis();
                    if !(effective_from..effective_to).contains(&time) {
                        continue;
                    }
                    match stored.get_mut(&identity(live)) {
                        Some(count) if *count > 0 => *count -= 1,
                        _ => events.push(live.clone()),
                    }
                }
            }
        }
        events.sort_by_key(|l| std::cmp::Reverse(l.time));
        truncated |= events.len() > limit;
        events.truncate(limit);
        events.reverse();
        let sampling: Vec<Value> = venues
            .iter()
            .filter_map(|v| sampling(*v).map(|note| json!({"venue": v, "note": note})))
            .collect();
        let by_venue: Vec<Value> = sum
            .venue_sums()
            .map(|(venue, bar, grid)| {
                let data = grid.and_then(|g| derivatives_view(bar, &g, 1));
                json!({
                    "venue": venue,
                    "longs": data.as_ref().map(|d| d.liquidations.longs),
                    "shorts": data.as_ref().map(|d| d.liquidations.shorts),
                })
            })
            .collect();
        let grid = sum.base.coarser(factor).unwrap_or(sum.base);
        let body = json!({
            "symbol": symbol,
            "venues": venues,
            "from": from,
            "to": to,
            "effective_from": effective_from,
            "effective_to": effective_to,
            "narrowed": effective_from != from || effective_to != to,
            "developing": sum.developing,
            "as_of": now,
            "coverage": sum.coverage,
            "row_size": grid.row_size(),
            "longs_liquidated": report.liquidations.longs,
            "shorts_liquidated": report.liquidations.shorts,
            "by_venue": by_venue,
            "largest_rows": largest(&report.liquidation_rows),
            "rows": report.liquidation_rows,
            "events": events,
            "events_truncated": truncated,
            "sampling": sampling,
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    /// `GET /api/v1/derivatives/{symbol}?venue=&from=&to=&timeframe=&limit=`.
    pub(super) async fn derivatives(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "from", "to", "timeframe", "limit"])?;
        let now = wadm_supervision::unix_millis();
        let (venue, symbol) = self.resolve(symbol, &params)?;
        derivatives_venues(vec![venue], symbol)?;
        let (from, to) = span(&params, now)?;
        let timeframe = params
            .parsed("timeframe", |t| {
                t.parse::<Timeframe>().map_err(|_| {
                    format!("{:?} is not one of 1m, 5m, 15m, 1h, 4h, 1d", printable(t))
                })
            })?
            .unwrap_or(if to - from <= 2 * HOUR {
                Timeframe::M1
            } else {
                Timeframe::H1
            });
        let limit = params.int("limit", 1..=MAX_BARS)?.unwrap_or(DEFAULT_BARS) as usize;
        let snapshot = self.sources.snapshots.latest(venue, symbol);
        let live_grid = snapshot.as_ref().and_then(|s| s.grid);
        let (stored, grid, cut) = self
            .stored_bars(venue, symbol, timeframe, (from, to, limit), live_grid)
            .await?;
        // The bars the store does not hold yet: closed lately, and the open one.
        let mut bars: BTreeMap<i64, Bar> = stored.into_iter().map(|b| (b.start, b)).collect();
        let stored_until = bars.values().map(|b| b.end).max().unwrap_or(i64::MIN);
        if let Some(snapshot) = &snapshot {
            let recent = snapshot
                .closed_minutes
                .iter()
                .filter(|_| timeframe == Timeframe::M1)
                .chain(snapshot.last_closed.get(&timeframe))
                .chain(snapshot.bars.get(&timeframe));
            for bar in recent {
                if bar.start >= stored_until && bar.start >= from && bar.start < to {
                    bars.insert(bar.start, (**bar).clone());
                }
            }
        }
        let bars: Vec<Bar> = bars.into_values().rev().take(limit).rev().collect();
        let Some(grid) = grid.or(live_grid) else {
            return Err(ApiError::no_data(format!(
                "{symbol} on {venue}: no row size is known yet (waiting for the venue's tick size, and nothing stored)"
            )));
        };
        let series: Vec<Value> = bars.iter().filter_map(|b| series_point(b, &grid)).collect();
        // The whole span listed, summed.
        let mut whole = Bar::new(
            bars.first().map_or(from, |b| b.start),
            bars.last().map_or(to, |b| b.end),
        );
        for bar in &bars {
            if let Some(data) = &bar.derivatives {
                whole.merge_derivatives(data);
            }
        }
        let summary = derivatives_view(&whole, &grid, 1);
        let fundings = self
            .sources
            .store
            .read(Query {
                kind: Kind::Funding,
                venue: Some(venue),
                symbol: Some(symbol),
                from,
                to,
                limit: 100,
                order: Order::NewestFirst,
            })
            .await
            .map_err(super::history::store_error)?;
        let fundings: Vec<Value> = fundings
            .iter()
            .rev()
            .filter_map(|d| match d {
                Document::Funding(f) => Some(json!({
                    "funding_time": f.funding_time,
                    "funding_rate": f.funding_rate,
                })),
                _ => None,
            })
            .collect();
        let window_from = match bars.first() {
            Some(first) if cut || params.get("from").is_none() => first.start,
            _ => from,
        };
        let coverage = self
            .history_coverage(
                venue,
                symbol,
                window_from,
                to,
                bars.first().map(|b| b.start),
                bars.last().map(|b| b.end),
            )
            .await?;
        let body = json!({
            "venue": venue,
            "symbol": symbol,
            "timeframe": timeframe,
            "from": from,
            "to": to,
            "as_of": now,
            "coverage": coverage,
            "latest": snapshot.as_deref().map_or(Value::Null, latest_view),
            "summary": summary.map(|s| json!({
                "open_interest": s.open_interest,
                "longs_liquidated": s.liquidations.longs,
                "shorts_liquidated": s.liquidations.shorts,
            })),
            "fundings_settled": fundings,
            "bars": series,
            "bars_truncated": cut,
            "open_interest_source": if venue == Venue::BinanceUsdm { "polled over REST (connection.open_interest_interval)" } else { "pushed in tickers" },
        });
        Ok(json_response(StatusCode::OK, &body))
    }
}
