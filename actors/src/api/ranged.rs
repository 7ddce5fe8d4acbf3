//! The range answers (issue #19): the volume profile and order flow of any minute-aligned
//! range `[from, to)`, summed exactly from stored 1-day, 1-hour and 1-minute bars and the
//! aggregator's latest minutes as [`range::plan`] lays them out, for one venue or a
//! composite of several (`venue=binance-spot,bybit-spot` or `venue=all`).
//!
//! A composite sums the venues' footprints on one grid: the least common multiple of their
//! configured row sizes (each venue's rows fall whole into it), or a `row_size` that is a
//! multiple of it. Each venue's own totals and coverage are listed beside the sum, with spot
//! against derivatives delta.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::Api;
use super::error::ApiError;
use super::history::MAX_TIME_MS;
use super::params::{Params, printable};
use super::range::{self, Kept, RangePlan, Source};
use super::reply::json_response;
use super::views::{
    FlowView, ProfileView, analyse, answer_params, derivatives_view, nodes_view, row_factor,
    vwap_view, with_value_area,
};
use crate::aggregator::recent::RECENT_MINUTES;
use crate::aggregator::{Bar, BarRecord, ProfileParams, RowGrid, Timeframe};
use crate::model::{Price, Qty, Symbol, Venue};
use crate::quality::Coverage;
use crate::storage::{Document, Kind, Query};

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// Stored bars read per store call.
const PAGE: usize = 5_000;

/// What was read from one source of a pair's range.
#[derive(Debug, Clone, Copy, Serialize)]
struct SourceRead {
    source: Source,
    from: i64,
    to: i64,
    /// Bars summed from it.
    bars: u64,
}

/// One pair's part of a range answer, summed on the pair's own grid.
#[derive(Debug)]
struct PairRange {
    venue: Venue,
    /// The pair's row grid (the live one, else the stored bars').
    grid: Option<RowGrid>,
    bar: Bar,
    plan: RangePlan,
    reads: Vec<SourceRead>,
    /// Stored bars that could not be used (unreadable, or on a grid the answer's cannot
    /// hold), logged one by one.
    left_out: u64,
    coverage: Coverage,
    /// Times of the earliest and latest trade summed.
    first_trade: Option<i64>,
    last_trade: Option<i64>,
}

impl PairRange {
    /// Sums `bars` (on the pair's grid), read from `source` for `[from, to)`.
    fn take(&mut self, source: Source, (from, to): (i64, i64), bars: &[Bar]) {
        for bar in bars {
            add(&mut self.bar, bar);
            if let Some(open) = bar.open {
                self.first_trade = Some(self.first_trade.map_or(open.time, |f| f.min(open.time)));
            }
            if let Some(close) = bar.close {
                self.last_trade = Some(self.last_trade.map_or(close.time, |l| l.max(close.time)));
            }
        }
        self.reads.push(SourceRead {
            source,
            from,
            to,
            bars: bars.len() as u64,
        });
    }
}

/// A range summed over one or several venues.
#[derive(Debug)]
pub(super) struct RangeSum {
    /// The sum on `base`, its period the range covered exactly.
    pub bar: Bar,
    /// The common grid of the venues (their row sizes' least common multiple).
    pub base: RowGrid,
    parts: Vec<PairRange>,
    /// What every venue covers.
    pub coverage: Coverage,
    /// The range includes the open minute.
    pub developing: bool,
}

impl RangeSum {
    /// Each venue's own sum and its grid (`None` while unknown).
    pub(super) fn venue_sums(&self) -> impl Iterator<Item = (Venue, &Bar, Option<RowGrid>)> {
        self.parts.iter().map(|p| (p.venue, &p.bar, p.grid))
    }
}

/// Adds `part` (rows on the same grid) to `sum`; the period of `sum` is left as it is.
fn add(sum: &mut Bar, part: &Bar) {
    sum.footprint.merge(&part.footprint);
    sum.totals.merge(&part.totals);
    sum.merge_prices(part);
    if let Some(data) = &part.derivatives {
        sum.merge_derivatives(data);
    }
}

fn floor_minute(time: i64) -> i64 {
    time.div_euclid(MINUTE) * MINUTE
}

/// `from` (required) and `to` (default: the end of the current minute, so the open minute's
/// trades so far are in), both rounded down to their minute; `to` never past the current
/// minute.
pub(super) fn bounds(
    params: &Params,
    now: i64,
    (start, missing): (&'static str, &'static str),
) -> Result<(i64, i64), ApiError> {
    let open_end = floor_minute(now) + MINUTE;
    let Some(from) = params.int(start, 0..=MAX_TIME_MS)? else {
        return Err(ApiError::bad_parameter(start, missing));
    };
    let from = floor_minute(from);
    let to = params
        .int("to", 1..=MAX_TIME_MS)?
        .map_or(open_end, |to| floor_minute(to).min(open_end));
    if from >= to {
        return Err(ApiError::bad_parameter(
            start,
            format!("{from} is not before `to` ({to}) once both are rounded down to the minute"),
        ));
    }
    Ok((from, to))
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// The grid every pair's rows fall into whole: the least common multiple of their row sizes.
fn common_grid(grids: &[(Venue, RowGrid)]) -> Result<Option<RowGrid>, ApiError> {
    let mut units: Option<i128> = None;
    for (_, grid) in grids {
        let size = grid.row_size().units();
        units = Some(match units {
            None => size,
            Some(lcm) => (lcm / gcd(lcm, size)).checked_mul(size).ok_or_else(|| {
                ApiError::bad_parameter(
                    "venue",
                    "the venues' row sizes have no usable common multiple",
                )
            })?,
        });
    }
    Ok(units.and_then(|u| RowGrid::new(Price::from_units(u))))
}

/// A summary of one part of a composite.
#[derive(Debug, Serialize)]
struct PartTotals {
    trades: u64,
    volume: Qty,
    buy_volume: Qty,
    sell_volume: Qty,
    delta: Qty,
}

impl PartTotals {
    fn of(bar: &Bar) -> Self {
        Self {
            trades: bar.totals.trades,
            volume: bar.totals.volume(),
            buy_volume: bar.totals.buy_volume,
            sell_volume: bar.totals.sell_volume,
            delta: bar.delta(),
        }
    }
}

impl Api {
    /// The venues of a range request: `venue` as one venue, a comma-separated list, or
    /// `all` (every venue collecting the symbol); without it, the symbol's default venue.
    pub(super) fn range_venues(
        &self,
        symbol: &str,
        params: &Params,
    ) -> Result<(Vec<Venue>, Symbol), ApiError> {
        let list = params
            .get("venue")
            .filter(|v| v.contains(',') || *v == "all");
        let Some(list) = list else {
            let (venue, symbol) = self.resolve(symbol, params)?;
            return Ok((vec![venue], symbol));
        };
        let (_, symbol) = self.resolve(symbol, &Params::parse(None, &[])?)?;
        let carrying: Vec<Venue> = self
            .sources
            .pairs
            .iter()
            .filter(|(_, s)| *s == symbol)
            .map(|(v, _)| *v)
            .collect();
        if list == "all" {
            return Ok((carrying, symbol));
        }
        let mut venues = Vec::new();
        for name in list.split(',') {
            let venue: Venue = name.trim().parse().map_err(|_| {
                ApiError::bad_parameter("venue", format!("{:?} is not a venue", printable(name)))
            })?;
            if !carrying.contains(&venue) {
                return Err(ApiError::unknown_symbol(format!(
                    "{symbol} is not collected on {venue}"
                )));
            }
            if !venues.contains(&venue) {
                venues.push(venue);
            }
        }
        Ok((venues, symbol))
    }

    /// Where a pair's data is kept now: its live part (from its latest snapshot) and the
    /// stored kinds (from retention).
    fn kept(&self, venue: Venue, symbol: Symbol, now: i64) -> Kept {
        let snapshot = self.sources.snapshots.latest(venue, symbol);
        let live_from = snapshot.as_ref().and_then(|s| {
            s.closed_minutes_from
                .or(s.bars.get(&Timeframe::M1).map(|bar| bar.start))
        });
        let retention = &self.sources.retention;
        Kept {
            live_from,
            settled: live_from.unwrap_or(now - RECENT_MINUTES * MINUTE),
            m1_from: now.saturating_sub(retention.millis(Kind::Bars1m)),
            h1_from: now.saturating_sub(retention.millis(Kind::Bars1h)),
            d1_from: now.saturating_sub(retention.millis(Kind::Bars1d)),
        }
    }

    /// The plans of `[from, to)` for each venue, narrowed until every venue covers the same
    /// range exactly (they differ only where one venue's live part starts elsewhere).
    fn plans(
        &self,
        venues: &[Venue],
        symbol: Symbol,
        (from, to): (i64, i64),
        now: i64,
    ) -> Vec<RangePlan> {
        let kept: Vec<Kept> = venues.iter().map(|v| self.kept(*v, symbol, now)).collect();
        let (mut from, mut to) = (from, to);
        let mut plans: Vec<RangePlan> = Vec::new();
        for _ in 0..4 {
            plans = kept.iter().map(|k| range::plan(from, to, *k)).collect();
            let common_from = plans.iter().map(|p| p.effective_from).max().unwrap_or(from);
            let common_to = plans.iter().map(|p| p.effective_to).min().unwrap_or(to);
            if plans
                .iter()
                .all(|p| (p.effective_from, p.effective_to) == (common_from, common_to))
                || common_from >= common_to
            {
                break;
            }
            (from, to) = (common_from, common_to);
        }
        plans
    }

    /// Reads and sums one pair's range as planned.
    async fn pair_range(
        &self,
        venue: Venue,
        symbol: Symbol,
        plan: RangePlan,
    ) -> Result<PairRange, ApiError> {
        let snapshot = self.sources.snapshots.latest(venue, symbol);
        let open = snapshot
            .as_ref()
            .and_then(|s| s.bars.get(&Timeframe::M1).cloned());
        let (from, to) = (plan.effective_from, plan.effective_to);
        let mut part = PairRange {
            venue,
            grid: snapshot.as_ref().and_then(|s| s.grid),
            bar: Bar::new(plan.effective_from, plan.effective_to),
            reads: Vec::new(),
            left_out: 0,
            coverage: Coverage::of(from, to, None, Vec::new()),
            plan: plan.clone(),
            first_trade: None,
            last_trade: None,
        };
        let hours_kept = wadm_supervision::unix_millis()
            .saturating_sub(self.sources.retention.millis(Kind::Bars1h));
        for segment in &plan.segments {
            let source = segment.source;
            let kind = match source {
                Source::Live => {
                    let Some(snapshot) = snapshot.as_ref() else {
                        continue;
                    };
                    let inside = |bar: &&std::sync::Arc<Bar>| {
                        (segment.from..segment.to).contains(&bar.start)
                    };
                    let bars: Vec<Bar> = snapshot
                        .closed_minutes
                        .iter()
                        .chain(open.iter())
                        .filter(inside)
                        .map(|bar| (**bar).clone())
                        .collect();
                    part.take(source, (segment.from, segment.to), &bars);
                    continue;
                }
                Source::Bars1m => Kind::Bars1m,
                Source::Bars1h => Kind::Bars1h,
                Source::Bars1d => Kind::Bars1d,
            };
            let records = self
                .read_bars(kind, venue, symbol, (segment.from, segment.to))
                .await?;
            let days: BTreeSet<i64> = records.iter().map(|r| r.report.start).collect();
            let bars = self.stored_parts(&records, &mut part);
            part.take(source, (segment.from, segment.to), &bars);
            if source != Source::Bars1d {
                continue;
            }
            // A day whose 1-day bar is missing (stored before day bars were, or its sum
            // failed) is read from its hours while they are kept.
            for day in (segment.from..segment.to).step_by(DAY as usize) {
                if days.contains(&day) || day < hours_kept {
                    continue;
                }
                let records = self
                    .read_bars(Kind::Bars1h, venue, symbol, (day, day + DAY))
                    .await?;
                let bars = self.stored_parts(&records, &mut part);
                part.take(Source::Bars1h, (day, day + DAY), &bars);
            }
        }
        let (first, last) = (part.first_trade, part.last_trade);
        part.coverage = self
            .history_coverage(
                venue,
                symbol,
                plan.effective_from,
                plan.effective_to.max(plan.effective_from),
                first,
                last,
            )
            .await?;
        Ok(part)
    }

    /// The stored bars of `kind` starting in `[from, to)`, oldest first.
    pub(super) async fn read_bars(
        &self,
        kind: Kind,
        venue: Venue,
        symbol: Symbol,
        (from, to): (i64, i64),
    ) -> Result<Vec<std::sync::Arc<BarRecord>>, ApiError> {
        let mut records = Vec::new();
        let mut cursor = from;
        loop {
            let documents = self
                .sources
                .store
                .read(Query::range(kind, venue, symbol, cursor, to).limit(PAGE))
                .await
                .map_err(super::history::store_error)?;
            let count = documents.len();
            for document in documents {
                if let Document::Bar(record) = document {
                    cursor = record.report.start + 1;
                    records.push(record);
                }
            }
            if count < PAGE {
                return Ok(records);
            }
        }
    }

    /// The usable stored bars on the pair's grid; the others are counted as left out.
    fn stored_parts(
        &self,
        records: &[std::sync::Arc<BarRecord>],
        part: &mut PairRange,
    ) -> Vec<Bar> {
        let mut bars = Vec::with_capacity(records.len());
        for record in records {
            match self.stored_part(record, &mut part.grid) {
                Some(bar) => bars.push(bar),
                None => part.left_out += 1,
            }
        }
        bars
    }

    /// A stored bar on the pair's grid (taken from the first stored bar when the live grid
    /// is not known yet), or `None` (logged) when it is unreadable or its rows do not fall
    /// whole into the grid's.
    fn stored_part(&self, record: &BarRecord, grid: &mut Option<RowGrid>) -> Option<Bar> {
        let used = match *grid {
            Some(grid) => record.to_bar_on(&grid),
            None => record
                .grid()
                .and_then(|stored| record.to_bar_on(grid.insert(stored))),
        };
        used.inspect_err(|err| {
            tracing::warn!(venue = %record.venue, symbol = %record.symbol, start = record.report.start, error = %err, "a stored bar cannot be used; left out of the range");
        })
        .ok()
    }

    /// Sums `[from, to)` of `symbol` over `venues` (one or several) on their common grid.
    pub(super) async fn range_sum(
        &self,
        venues: &[Venue],
        symbol: Symbol,
        (from, to): (i64, i64),
        now: i64,
    ) -> Result<RangeSum, ApiError> {
        let plans = self.plans(venues, symbol, (from, to), now);
        let mut parts = Vec::with_capacity(venues.len());
        for (venue, plan) in venues.iter().zip(plans) {
            parts.push(self.pair_range(*venue, symbol, plan).await?);
        }
        let grids: Vec<(Venue, RowGrid)> = parts
            .iter()
            .filter_map(|p| p.grid.map(|g| (p.venue, g)))
            .collect();
        let Some(base) = common_grid(&grids)? else {
            return Err(ApiError::no_data(format!(
                "{symbol}: no row size is known yet on {} (waiting for the venue's tick size, and nothing stored)",
                venues
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        // The answer covers what every venue covers exactly.
        let effective_from = parts
            .iter()
            .map(|p| p.plan.effective_from)
            .max()
            .unwrap_or(from);
        let effective_to = parts
            .iter()
            .map(|p| p.plan.effective_to)
            .min()
            .unwrap_or(from)
            .max(effective_from);
        let mut bar = Bar::new(effective_from, effective_to);
        let composite = parts.len() > 1;
        for part in &parts {
            if let Some(grid) = part.grid {
                let factor = base.row_size().units() / grid.row_size().units();
                if factor > 1 || composite {
                    let mut piece = part.bar.coarsen(factor);
                    if composite {
                        // Liquidations add up across venues; open interest, funding and
                        // prices are each venue's own (in `by_venue`).
                        piece.derivatives =
                            piece.derivatives.map(|d| Box::new(d.liquidations_only()));
                    }
                    add(&mut bar, &piece);
                } else {
                    add(&mut bar, &part.bar);
                }
            }
        }
        let coverage = combined_coverage(&parts, effective_from, effective_to);
        Ok(RangeSum {
            bar,
            base,
            parts,
            coverage,
            developing: effective_to > floor_minute(now),
        })
    }

    /// `GET /api/v1/volume-profile/{symbol}?from=` and `GET /api/v1/order-flow/{symbol}`.
    pub(super) async fn range_answer(
        &self,
        symbol: &str,
        params: &Params,
        flow: bool,
    ) -> Result<Response, ApiError> {
        let now = wadm_supervision::unix_millis();
        let (venues, symbol) = self.range_venues(symbol, params)?;
        let (from, to) = bounds(
            params,
            now,
            (
                "from",
                "a range needs `from` (Unix ms; `to` defaults to now)",
            ),
        )?;
        let RangeSum {
            bar: sum,
            base,
            parts,
            coverage,
            developing,
        } = self.range_sum(&venues, symbol, (from, to), now).await?;
        let (effective_from, effective_to) = (sum.start, sum.end);
        let factor = row_factor(params, &base)?;
        let profile = with_value_area(
            params,
            self.sources
                .snapshots
                .latest(venues[0], symbol)
                .map_or_else(ProfileParams::default, |s| s.params),
        )?;
        let by_venue: Vec<serde_json::Value> = parts
            .iter()
            .map(|part| {
                serde_json::json!({
                    "venue": part.venue,
                    "market": part.venue.market(),
                    "row_size": part.grid.map(|g| g.row_size()),
                    "effective_from": part.plan.effective_from,
                    "effective_to": part.plan.effective_to,
                    "totals": PartTotals::of(&part.bar),
                    "sources": part.reads,
                    "left_out_bars": part.left_out,
                    "coverage": part.coverage,
                    "derivatives": part.grid.and_then(|grid| derivatives_view(&part.bar, &grid, 1)),
                })
            })
            .collect();
        let delta = sum.delta();
        let (report, absorption) = analyse(&sum, &base, factor, &profile, delta);
        let mut body = serde_json::json!({
            "symbol": symbol,
            "venues": venues,
            "from": from,
            "to": to,
            "effective_from": effective_from,
            "effective_to": effective_to,
            "narrowed": effective_from != from || effective_to != to,
            "developing": developing,
            "as_of": now,
            "coverage": coverage,
            "params": answer_params(&base, factor, &profile),
        });
        if venues.len() == 1 {
            body["venue"] = serde_json::json!(venues[0]);
            if let Some(part) = parts.first() {
                body["sources"] = serde_json::json!(part.reads);
                body["left_out_bars"] = serde_json::json!(part.left_out);
            }
        } else {
            body["by_venue"] = serde_json::json!(by_venue);
            body["by_market"] = by_market(&parts);
        }
        if let Some(data) = derivatives_view(&sum, &base, factor) {
            body["derivatives"] = serde_json::json!(data);
        }
        if flow {
            body["order_flow"] = serde_json::json!(FlowView::of(report, absorption));
        } else {
            body["profile"] = serde_json::json!(ProfileView::from(report));
            body["vwap"] = vwap_view(&sum, &base);
            body["volume_nodes"] = nodes_view(&sum, &base, factor);
        }
        Ok(json_response(StatusCode::OK, &body))
    }
}

/// Spot against derivatives: each market's totals and whether their deltas point the same
/// way (`null` unless both are present and neither delta is zero).
fn by_market(parts: &[PairRange]) -> serde_json::Value {
    let mut markets: BTreeMap<&'static str, Bar> = BTreeMap::new();
    for part in parts {
        let sum = markets
            .entry(part.venue.market())
            .or_insert_with(|| Bar::new(part.bar.start, part.bar.end));
        sum.totals.merge(&part.bar.totals);
    }
    let sign = |market: &str| {
        markets
            .get(market)
            .map(|bar| bar.delta())
            .filter(|delta| !delta.is_zero())
            .map(|delta| delta.is_positive())
    };
    let agree = match (sign("spot"), sign("derivatives")) {
        (Some(spot), Some(derivatives)) => Some(spot == derivatives),
        _ => None,
    };
    serde_json::json!({
        "spot": markets.get("spot").map(PartTotals::of),
        "derivatives": markets.get("derivatives").map(PartTotals::of),
        "deltas_agree": agree,
    })
}

/// The coverage of a composite: data from where every venue's has begun to where the first
/// one's ends, every venue's holes, complete only when each venue's is.
fn combined_coverage(parts: &[PairRange], from: i64, to: i64) -> Coverage {
    let to = to.max(from);
    let starts: Option<Vec<i64>> = parts.iter().map(|p| p.coverage.covered_from).collect();
    let ends: Option<Vec<i64>> = parts.iter().map(|p| p.coverage.covered_to).collect();
    let data = starts
        .zip(ends)
        .and_then(|(s, e)| Some((s.into_iter().max()?, e.into_iter().min()?)));
    let holes = parts
        .iter()
        .flat_map(|p| p.coverage.holes.clone())
        .collect();
    let mut coverage = Coverage::of(from, to, data, holes);
    coverage.complete &= parts.iter().all(|p| p.coverage.complete);
    coverage
}
