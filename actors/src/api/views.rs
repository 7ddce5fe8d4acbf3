//! The live routes: health, status, symbols, and the current profile, order flow and book,
//! all read from what the actors publish (no mailbox round trip on the request path).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::Api;
use super::error::ApiError;
use super::params::{Params, printable};
use super::reply::json_response;
use crate::aggregator::bar_derivatives::DerivativesReport;
use crate::aggregator::engine::Rolling;
use crate::aggregator::levels;
use crate::aggregator::order_flow::LargeTrade;
use crate::aggregator::report::{FootprintRow, StackReport};
use crate::aggregator::{
    AbsorptionRow, AggregatorSnapshot, Bar, BarParams, ProfileParams, RowGrid, Timeframe,
    WindowReport,
};
use crate::model::{HoleState, Level, Price, Qty, Ratio, Symbol, Venue};
use crate::quality::{Coverage, Hole};

/// Shortest run of single-print rows reported.
const SINGLE_PRINT_ROWS: usize = 2;

/// Largest row-size multiple a request may ask for.
pub const MAX_ROW_FACTOR: i128 = 10_000;

/// Deepest book answer, per side.
pub const MAX_BOOK_DEPTH: i64 = 100;

/// The parameters an answer was computed with.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerParams {
    /// Row height of the profile.
    pub row_size: Price,
    /// The configured row height (`row_size` is a whole multiple of it).
    pub base_row_size: Price,
    /// Indicator parameters.
    #[serde(flatten)]
    pub indicators: BarParams,
}

/// A profile: totals, prices, POC, value area and rows.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileView {
    /// Start (ms, inclusive).
    pub start: i64,
    /// End (ms, exclusive).
    pub end: i64,
    pub trades: u64,
    /// Total volume.
    pub volume: Qty,
    /// Buy-aggressor volume.
    pub buy_volume: Qty,
    /// Sell-aggressor volume.
    pub sell_volume: Qty,
    /// Lowest trade price.
    pub low: Option<Price>,
    /// Highest trade price.
    pub high: Option<Price>,
    /// Point of control.
    pub poc: Option<Price>,
    /// Volume of the POC row.
    pub poc_volume: Option<Qty>,
    /// Value area high.
    pub vah: Option<Price>,
    /// Value area low.
    pub val: Option<Price>,
    /// Volume inside the value area.
    pub value_area_volume: Option<Qty>,
    /// Rows, ascending by price.
    pub rows: Vec<FootprintRow>,
}

impl From<WindowReport> for ProfileView {
    fn from(r: WindowReport) -> Self {
        Self {
            start: r.start,
            end: r.end,
            trades: r.trades,
            volume: r.volume,
            buy_volume: r.buy_volume,
            sell_volume: r.sell_volume,
            low: r.low,
            high: r.high,
            poc: r.poc,
            poc_volume: r.poc_volume,
            vah: r.vah,
            val: r.val,
            value_area_volume: r.value_area_volume,
            rows: r.footprint,
        }
    }
}

/// Order flow of a window.
#[derive(Debug, Clone, Serialize)]
pub struct FlowView {
    /// Start (ms, inclusive).
    pub start: i64,
    /// End (ms, exclusive).
    pub end: i64,
    pub trades: u64,
    /// Buy-aggressor volume.
    pub buy_volume: Qty,
    /// Sell-aggressor volume.
    pub sell_volume: Qty,
    /// Total volume.
    pub volume: Qty,
    /// Buy minus sell volume.
    pub delta: Qty,
    /// Session cumulative delta at the window's end (now, for a developing window).
    pub cvd: Qty,
    /// Footprint rows, ascending.
    pub footprint: Vec<FootprintRow>,
    /// Rows with a buy imbalance.
    pub buy_imbalances: Vec<Price>,
    /// Rows with a sell imbalance.
    pub sell_imbalances: Vec<Price>,
    pub stacked_imbalances: Vec<StackReport>,
    /// Absorption events.
    pub absorption: Vec<AbsorptionRow>,
}

impl FlowView {
    pub(super) fn of(report: WindowReport, absorption: Vec<AbsorptionRow>) -> Self {
        Self {
            start: report.start,
            end: report.end,
            trades: report.trades,
            buy_volume: report.buy_volume,
            sell_volume: report.sell_volume,
            volume: report.volume,
            delta: report.delta,
            cvd: report.cvd,
            footprint: report.footprint,
            buy_imbalances: report.buy_imbalances,
            sell_imbalances: report.sell_imbalances,
            stacked_imbalances: report.stacked_imbalances,
            absorption,
        }
    }
}

/// Computes a bar's report and absorption on a grid `factor` times the base grid.
pub(super) fn analyse(
    bar: &Bar,
    base: &RowGrid,
    factor: i128,
    params: &ProfileParams,
    cvd: Qty,
) -> (WindowReport, Vec<AbsorptionRow>) {
    let grid = base.coarser(factor).unwrap_or(*base);
    let coarse;
    let bar = if factor > 1 {
        coarse = bar.coarsen(factor);
        &coarse
    } else {
        bar
    };
    let report = WindowReport::of(bar, &grid, params.value_area, &params.imbalance, cvd);
    let absorption = AbsorptionRow::of_bar(bar, &grid, &params.absorption);
    (report, absorption)
}

/// The derivatives part of a bar (liquidations with their rows on a grid `factor` times the
/// base grid, open interest, funding, mark, index, basis), `None` when it has none (spot).
pub(super) fn derivatives_view(
    bar: &Bar,
    base: &RowGrid,
    factor: i128,
) -> Option<DerivativesReport> {
    let data = bar.derivatives.as_ref()?;
    let grid = base.coarser(factor).unwrap_or(*base);
    Some(DerivativesReport::of(&data.coarsen(factor), &grid))
}

/// The window's VWAP and its 1/2/3-sigma bands, on the configured (finest) row grid
/// (`levels::vwap_bands`); `null` for an empty window.
pub(super) fn vwap_view(bar: &Bar, base: &RowGrid) -> serde_json::Value {
    match levels::vwap_bands(&bar.footprint, base) {
        None => serde_json::Value::Null,
        Some(bands) => serde_json::json!({
            "vwap": bands.vwap,
            "sigma": bands.sigma,
            "bands": bands
                .bands
                .iter()
                .zip(1..)
                .map(|((low, high), k)| serde_json::json!({ "k": k, "low": low, "high": high }))
                .collect::<Vec<_>>(),
            "rule": "rows count at their lower edge on the configured row size; vwap = sum(v p) / sum(v) rounded to 1e-12; sigma = sqrt(V sum(v p^2) - sum(v p)^2) / V rounded down",
        }),
    }
}

/// The window's high- and low-volume nodes on the answer's row grid, with the rule's
/// parameters (`levels::volume_nodes`).
pub(super) fn nodes_view(bar: &Bar, base: &RowGrid, factor: i128) -> serde_json::Value {
    let grid = base.coarser(factor).unwrap_or(*base);
    let coarse;
    let footprint = if factor > 1 {
        coarse = bar.footprint.coarsen(factor);
        &coarse
    } else {
        &bar.footprint
    };
    let params = levels::NodeParams::default();
    let nodes = levels::volume_nodes(footprint, &grid, params);
    serde_json::json!({
        "hvn": nodes.hvn,
        "lvn": nodes.lvn,
        "single_prints": levels::single_prints(footprint, &grid, SINGLE_PRINT_ROWS),
        "single_print_rule": "runs of at least 2 consecutive rows inside the profile's range each holding at most one trade (an untraded row counts; a Binance aggregate trade counts its fills)",
        "params": params,
        "rule": "HVN: a row whose volume is at least that of every row within radius rows on each side (a plateau's lowest row) and at least hvn_percent % of the mean row volume; LVN: between two HVNs, a neighbourhood minimum likewise, at most lvn_percent % of the mean; untraded rows count as 0",
    })
}

/// Parses `row_size` (a whole multiple of `base`) into a factor, 1 without it.
pub(super) fn row_factor(params: &Params, base: &RowGrid) -> Result<i128, ApiError> {
    let Some(row) = params.parsed("row_size", |t| {
        t.parse::<Price>()
            .map_err(|e| format!("{:?} is not a decimal: {e}", printable(t)))
    })?
    else {
        return Ok(1);
    };
    let base_units = base.row_size().units();
    if !row.is_positive() || row.units() % base_units != 0 {
        return Err(ApiError::bad_parameter(
            "row_size",
            format!(
                "{row} is not a whole multiple of the configured row size {}",
                base.row_size()
            ),
        ));
    }
    let factor = row.units() / base_units;
    if factor > MAX_ROW_FACTOR {
        return Err(ApiError::bad_parameter(
            "row_size",
            format!(
                "{row} is more than {MAX_ROW_FACTOR} times the configured row size {}",
                base.row_size()
            ),
        ));
    }
    Ok(factor)
}

/// Applies a `value_area` parameter (above 0, at most 1) to the parameters.
pub(super) fn with_value_area(
    params: &Params,
    mut profile: ProfileParams,
) -> Result<ProfileParams, ApiError> {
    if let Some(share) = params.parsed("value_area", |t| {
        let share: Ratio = t
            .parse()
            .map_err(|e| format!("{:?} is not a decimal: {e}", printable(t)))?;
        if share.is_positive() && share <= Ratio::from_int(1) {
            Ok(share)
        } else {
            Err(format!("{share} is not above 0 and at most 1"))
        }
    })? {
        profile.value_area = share;
    }
    Ok(profile)
}

/// The `venue` parameter, if given.
pub(super) fn venue_param(params: &Params) -> Result<Option<Venue>, ApiError> {
    params.parsed("venue", |text| {
        text.parse::<Venue>().map_err(|_| {
            let names: Vec<&str> = Venue::ALL.iter().map(|v| v.as_str()).collect();
            format!(
                "{:?} is not a venue: expected one of {}",
                printable(text),
                names.join(", ")
            )
        })
    })
}

/// The window of a current volume profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
    Rolling(Rolling),
    Session,
    Bar(Timeframe),
}

const WINDOWS: &str = "1h, 4h, 24h (rolling), session, or a bar size 1m, 5m, 15m, 1d";

pub(super) fn parse_window(text: &str) -> Result<Window, String> {
    Ok(match text {
        "1h" => Window::Rolling(Rolling::H1),
        "4h" => Window::Rolling(Rolling::H4),
        "24h" => Window::Rolling(Rolling::H24),
        "session" => Window::Session,
        "1m" => Window::Bar(Timeframe::M1),
        "5m" => Window::Bar(Timeframe::M5),
        "15m" => Window::Bar(Timeframe::M15),
        "1d" => Window::Bar(Timeframe::D1),
        other => return Err(format!("{:?} is not one of {WINDOWS}", printable(other))),
    })
}

#[derive(Serialize)]
struct Feed {
    venue: String,
    state: &'static str,
    reason: Option<String>,
}

impl Api {
    /// Resolves the path's symbol and the `venue` parameter to a collected pair.
    pub(super) fn resolve(
        &self,
        symbol: &str,
        params: &Params,
    ) -> Result<(Venue, Symbol), ApiError> {
        let unknown = || {
            ApiError::unknown_symbol(format!(
                "{} is not collected; see /api/v1/symbols",
                printable(symbol)
            ))
        };
        let symbol = Symbol::new(&symbol.to_ascii_uppercase()).map_err(|_| unknown())?;
        let venue = venue_param(params)?;
        let mut carrying = self.sources.pairs.iter().filter(|(_, s)| *s == symbol);
        match venue {
            Some(venue) => {
                if carrying.clone().any(|(v, _)| *v == venue) {
                    Ok((venue, symbol))
                } else {
                    let others: Vec<&str> = carrying.map(|(v, _)| v.as_str()).collect();
                    Err(ApiError::unknown_symbol(if others.is_empty() {
                        format!("{symbol} is not collected; see /api/v1/symbols")
                    } else {
                        format!(
                            "{symbol} is not collected on {venue}; it is on {}",
                            others.join(", ")
                        )
                    }))
                }
            }
            None => carrying.next().copied().ok_or_else(unknown),
        }
    }

    fn snapshot(&self, venue: Venue, symbol: Symbol) -> Result<Arc<AggregatorSnapshot>, ApiError> {
        self.sources.snapshots.latest(venue, symbol).ok_or_else(|| {
            ApiError::unknown_symbol(format!("{symbol} is not collected on {venue}"))
        })
    }

    /// The live snapshot and its grid, or 503 while the aggregator has seen no trade.
    pub(super) fn live(
        &self,
        venue: Venue,
        symbol: Symbol,
    ) -> Result<(Arc<AggregatorSnapshot>, RowGrid), ApiError> {
        let snapshot = self.snapshot(venue, symbol)?;
        let Some(grid) = snapshot.grid else {
            return Err(ApiError::no_data(format!(
                "{symbol} on {venue}: the row size is not known yet (waiting for the venue's tick size)"
            )));
        };
        if snapshot.last_trade_time.is_none() {
            return Err(ApiError::no_data(format!(
                "{symbol} on {venue}: no trade received yet"
            )));
        }
        Ok((snapshot, grid))
    }

    /// Each enabled venue's feed: why it is down, or `None` while it streams.
    pub(super) fn feeds(&self) -> Vec<(String, Option<String>)> {
        self.sources
            .registry
            .snapshot()
            .iter()
            .filter(|s| s.kind == "connection")
            .map(|status| {
                let streaming = status
                    .detail
                    .as_ref()
                    .and_then(|d| d.get("endpoints"))
                    .and_then(|e| e.as_array())
                    .is_some_and(|endpoints| {
                        endpoints
                            .iter()
                            .any(|e| e.get("state").and_then(|s| s.as_str()) == Some("streaming"))
                    });
                let reason = if status.state != wadm_supervision::ActorState::Running {
                    Some(format!("connection actor is {:?}", status.state).to_lowercase())
                } else if !streaming {
                    Some("no endpoint is streaming".to_owned())
                } else {
                    None
                };
                (status.key.clone(), reason)
            })
            .collect()
    }

    /// Books whose snapshots keep not fitting the stream, as health reasons.
    fn books_out_of_sync(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        for status in self.sources.registry.snapshot() {
            if status.kind != "connection" {
                continue;
            }
            let books = status
                .detail
                .as_ref()
                .and_then(|d| d.get("books"))
                .and_then(|b| b.as_array())
                .cloned()
                .unwrap_or_default();
            for book in books {
                if book.get("state").and_then(|s| s.as_str()) == Some("out_of_sync") {
                    reasons.push(format!(
                        "book {} {}: {} snapshots in a row did not fit the stream; not served",
                        status.key,
                        book.get("symbol").and_then(|s| s.as_str()).unwrap_or("?"),
                        book.get("unusable_snapshots")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(0)
                    ));
                }
            }
        }
        reasons
    }

    /// True while the venue's feed streams.
    pub(super) fn feed_is_up(&self, venue: Venue) -> bool {
        self.feeds()
            .iter()
            .any(|(key, reason)| key == venue.as_str() && reason.is_none())
    }

    /// The coverage of a live window `[from, to)` of a pair: its data begins at the
    /// earliest trade in memory and runs to now while the venue's feed streams (else to the
    /// latest trade); holes come from the data-quality log, plus a stop not yet closed by a
    /// live trade.
    pub(super) fn live_coverage(
        &self,
        snapshot: &AggregatorSnapshot,
        from: i64,
        to: i64,
    ) -> Coverage {
        let now = wadm_supervision::unix_millis();
        let (venue, symbol) = (snapshot.venue, snapshot.symbol);
        let mut holes: Vec<Hole> = self
            .sources
            .quality
            .holes(venue, symbol, from, to)
            .iter()
            .filter_map(Hole::of)
            .collect();
        if let Some((last, kind)) = snapshot.pending_hole {
            holes.push(Hole {
                from: last,
                to: now.max(last),
                kind,
                state: HoleState::Open,
                from_id: None,
                to_id: None,
                recovered: None,
                cause: "no trade since the restart yet: trades since the last one stored may be missing".into(),
            });
        }
        let end = if self.feed_is_up(venue) {
            Some(to.min(now))
        } else {
            snapshot.last_trade_time
        };
        let data = snapshot.earliest_trade.zip(end);
        Coverage::of(from, to, data, holes)
    }

    pub(super) fn health(&self, _params: Params) -> Result<Response, ApiError> {
        let mut reasons = Vec::new();
        let mut feeds = Vec::new();
        for (venue, reason) in self.feeds() {
            if let Some(reason) = &reason {
                reasons.push(format!("feed {venue}: {reason}"));
            }
            feeds.push(Feed {
                venue,
                state: if reason.is_none() { "up" } else { "down" },
                reason,
            });
        }
        reasons.extend(self.books_out_of_sync());
        let working = feeds.iter().filter(|f| f.reason.is_none()).count();
        if feeds.is_empty() {
            reasons.push("no venue is enabled".to_owned());
        }
        let stats = self.sources.persistence.stats();
        if !stats.store_available {
            reasons.push(format!(
                "store {}: {}",
                self.sources.store.backend(),
                stats.last_error.as_deref().unwrap_or("unavailable")
            ));
        }
        let status = if working == 0 || !stats.store_available {
            "down"
        } else if reasons.is_empty() {
            "ok"
        } else {
            "degraded"
        };
        let now = wadm_supervision::unix_millis();
        let body = serde_json::json!({
            "status": status,
            "reasons": reasons,
            "feeds": feeds,
            "store": {
                "backend": self.sources.store.backend(),
                "available": stats.store_available,
                "buffered_documents": stats.buffered + stats.in_flight,
            },
            "version": self.sources.version,
            "uptime_seconds": (now - self.started_at_ms).max(0) / 1000,
            "time": now,
        });
        let code = if status == "down" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        Ok(json_response(code, &body))
    }

    pub(super) fn status(&self, _params: Params) -> Result<Response, ApiError> {
        let actors = self.sources.registry.snapshot();
        let venues: Vec<serde_json::Value> = actors
            .iter()
            .filter(|a| a.kind == "connection")
            .map(|a| {
                let detail = a.detail.clone().unwrap_or(serde_json::Value::Null);
                serde_json::json!({
                    "venue": a.key,
                    "state": a.state,
                    "endpoints": detail.get("endpoints").cloned().unwrap_or_default(),
                    "subscriptions": detail.get("subscriptions").cloned().unwrap_or_default(),
                    "books": detail.get("books").cloned().unwrap_or_default(),
                })
            })
            .collect();
        let aggregators: Vec<serde_json::Value> = self
            .sources
            .pairs
            .iter()
            .filter_map(|&(venue, symbol)| self.sources.snapshots.latest(venue, symbol))
            .map(|snapshot| {
                let day = snapshot.rolling.get(&Rolling::H24).map(|bar| {
                    self.live_coverage(&snapshot, bar.start, bar.end.min(snapshot.published_at))
                });
                serde_json::json!({
                    "venue": snapshot.venue,
                    "symbol": snapshot.symbol,
                    "generation": snapshot.generation,
                    "warm_start": snapshot.warm,
                    "earliest_trade": snapshot.earliest_trade,
                    "last_trade_time": snapshot.last_trade_time,
                    "coverage_24h": day,
                })
            })
            .collect();
        let body = serde_json::json!({
            "time": wadm_supervision::unix_millis(),
            "actors": actors,
            "venues": venues,
            "aggregators": aggregators,
            "persistence": self.sources.persistence.stats(),
            "api": {
                "requests": self.counters.requests.load(std::sync::atomic::Ordering::Relaxed),
                "unauthorized": self.counters.unauthorized.load(std::sync::atomic::Ordering::Relaxed),
                "rate_limited": self.counters.rate_limited.load(std::sync::atomic::Ordering::Relaxed),
                "rate_limit_subjects": self.limits.tracked(),
            },
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(super) fn symbols(&self, _params: Params) -> Result<Response, ApiError> {
        let mut by_symbol: BTreeMap<Symbol, Vec<serde_json::Value>> = BTreeMap::new();
        let mut order = Vec::new();
        for &(venue, symbol) in &self.sources.pairs {
            let snapshot = self.sources.snapshots.latest(venue, symbol);
            let book = self.sources.books.latest(venue, symbol);
            let entry = serde_json::json!({
                "venue": venue,
                "row_size": snapshot.as_ref().and_then(|s| s.grid).map(|g| g.row_size()),
                "last_trade_time": snapshot.as_ref().and_then(|s| s.last_trade_time),
                "trades": snapshot.as_ref().map_or(0, |s| s.engine.trades),
                "book_update_id": book.as_ref().map(|b| b.update_id),
            });
            if !by_symbol.contains_key(&symbol) {
                order.push(symbol);
            }
            by_symbol.entry(symbol).or_default().push(entry);
        }
        let symbols: Vec<serde_json::Value> = order
            .into_iter()
            .map(|symbol| {
                serde_json::json!({
                    "symbol": symbol,
                    "venues": by_symbol.remove(&symbol).unwrap_or_default(),
                })
            })
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "symbols": symbols }),
        ))
    }

    pub(super) async fn volume_profile(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(
            query,
            &["venue", "window", "row_size", "value_area", "from", "to"],
        )?;
        if params.get("from").is_some() || params.get("to").is_some() {
            if params.get("window").is_some() {
                return Err(ApiError::bad_parameter(
                    "window",
                    "give either a live `window` or a range (`from`, `to`), not both",
                ));
            }
            return self.range_answer(symbol, &params, false).await;
        }
        let (venue, symbol) = self.resolve(symbol, &params)?;
        let window = params
            .parsed("window", parse_window)?
            .unwrap_or(Window::Rolling(Rolling::H24));
        let profile = with_value_area(&params, self.snapshot(venue, symbol)?.params)?;
        let (snapshot, grid) = self.live(venue, symbol)?;
        let factor = row_factor(&params, &grid)?;
        let (name, bar) = match window {
            Window::Rolling(r) => (r.as_str(), snapshot.rolling.get(&r)),
            Window::Session => ("session", snapshot.session.as_ref()),
            Window::Bar(t) => (t.as_str(), snapshot.bars.get(&t)),
        };
        let Some(bar) = bar else {
            return Err(ApiError::no_data(format!(
                "{symbol} on {venue}: the {name} window has not started yet"
            )));
        };
        let (report, _) = analyse(bar, &grid, factor, &profile, snapshot.cvd);
        let coverage = self.live_coverage(&snapshot, bar.start, bar.end.min(snapshot.published_at));
        let mut body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            "window": name,
            "developing": true,
            "as_of": snapshot.published_at,
            "last_trade_time": snapshot.last_trade_time,
            "coverage": coverage,
            "params": answer_params(&grid, factor, &profile),
            "profile": ProfileView::from(report),
            "vwap": vwap_view(bar, &grid),
            "volume_nodes": nodes_view(bar, &grid, factor),
        });
        if window == Window::Session {
            body["developing_poc"] = serde_json::json!(developing_poc(&snapshot, &grid, factor));
        }
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(super) fn order_flow(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "period", "row_size"])?;
        let (venue, symbol) = self.resolve(symbol, &params)?;
        let period = params
            .parsed("period", |t| match t {
                "1m" => Ok(Timeframe::M1),
                "5m" => Ok(Timeframe::M5),
                "15m" => Ok(Timeframe::M15),
                "1h" => Ok(Timeframe::H1),
                other => Err(format!(
                    "{:?} is not one of 1m, 5m, 15m, 1h",
                    printable(other)
                )),
            })?
            .unwrap_or(Timeframe::M5);
        let (snapshot, grid) = self.live(venue, symbol)?;
        let factor = row_factor(&params, &grid)?;
        let Some(bar) = snapshot.bars.get(&period) else {
            return Err(ApiError::no_data(format!(
                "{symbol} on {venue}: no {period} bar has started yet"
            )));
        };
        let (report, absorption) = analyse(bar, &grid, factor, &snapshot.params, snapshot.cvd);
        let large_trades: Vec<&LargeTrade> = snapshot
            .large_trades
            .iter()
            .filter(|t| bar.contains(t.time))
            .collect();
        let coverage = self.live_coverage(&snapshot, bar.start, bar.end.min(snapshot.published_at));
        let body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            "period": period,
            "developing": true,
            "as_of": snapshot.published_at,
            "last_trade_time": snapshot.last_trade_time,
            "coverage": coverage,
            "params": answer_params(&grid, factor, &snapshot.params),
            "order_flow": FlowView::of(report, absorption),
            "large_trades": large_trades,
        });
        let mut body = body;
        if let Some(data) = derivatives_view(bar, &grid, factor) {
            body["derivatives"] = serde_json::json!(data);
        }
        Ok(json_response(StatusCode::OK, &body))
    }

    pub(super) fn orderbook(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "depth"])?;
        let (venue, symbol) = self.resolve(symbol, &params)?;
        let depth = params.int("depth", 1..=MAX_BOOK_DEPTH)?.unwrap_or(20) as usize;
        let Some(view) = self.sources.books.latest(venue, symbol) else {
            return Err(ApiError::no_data(format!(
                "{symbol} on {venue}: the order book is not synchronised yet"
            )));
        };
        let now_ms = wadm_supervision::unix_millis();
        let received_ms = view.received_at.to_millis().0;
        let best_bid = view.bids.first().map(|l| l.price);
        let best_ask = view.asks.first().map(|l| l.price);
        let side =
            |levels: &[Level]| -> Vec<Level> { levels.iter().take(depth).copied().collect() };
        let age_ms = (now_ms - received_ms).max(0);
        let body = serde_json::json!({
            "venue": venue,
            "symbol": symbol,
            // Only a book in sync with the venue's stream is ever served (one that falls out of
            // sync is withdrawn until it is rebuilt); `stale` says no update came for a while.
            "in_sync": true,
            "stale": age_ms > STALE_BOOK_MS,
            "update_id": view.update_id,
            "event_time": view.event_time,
            "received_at": received_ms,
            "age_ms": age_ms,
            "depth": depth,
            "best_bid": best_bid,
            "best_ask": best_ask,
            "spread": best_bid.zip(best_ask).map(|(b, a)| a - b),
            "bids": side(&view.bids),
            "asks": side(&view.asks),
        });
        Ok(json_response(StatusCode::OK, &body))
    }
}

/// A served book whose last update is older than this (ms) is marked `stale` (books move
/// every 100 ms; the connection replaces a socket silent for `connection.book_timeout`).
const STALE_BOOK_MS: i64 = 5_000;

/// A point of the session's developing POC: the POC after the minute ending at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PocPoint {
    /// End of the minute (ms).
    pub time: i64,
    /// The session POC then (row label).
    pub poc: Price,
}

/// The session POC after each closed minute with trades, listed where it moved. On the
/// configured grid only (a coarser `row_size` would need each minute's profile again).
fn developing_poc(snapshot: &AggregatorSnapshot, grid: &RowGrid, factor: i128) -> Vec<PocPoint> {
    if factor != 1 {
        return Vec::new();
    }
    let mut points: Vec<PocPoint> = Vec::new();
    for &(time, row) in snapshot.developing_poc.iter() {
        let poc = grid.label(row);
        if points.last().is_none_or(|last| last.poc != poc) {
            points.push(PocPoint { time, poc });
        }
    }
    points
}

/// The parameters an answer states.
pub(super) fn answer_params(base: &RowGrid, factor: i128, profile: &ProfileParams) -> AnswerParams {
    AnswerParams {
        row_size: base.coarser(factor).unwrap_or(*base).row_size(),
        base_row_size: base.row_size(),
        indicators: BarParams::of(profile),
    }
}
