//! Levels a model asks about (issue #19), each summed exactly from the range answers'
//! machinery (`ranged.rs`): the named sessions' and the day's and week's profile, CVD and
//! VWAP (`/api/v1/sessions`), naked POCs (`/api/v1/naked-pocs`), VWAP anchored anywhere
//! (`/api/v1/vwap`), and one compact market context (`/api/v1/context`).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use super::Api;
use super::calendar::{SessionSpec, weeks};
use super::error::ApiError;
use super::history::MAX_TIME_MS;
use super::params::Params;
use super::ranged::RangeSum;
use super::reply::json_response;
use super::views::with_value_area;
use crate::aggregator::engine::Rolling;
use crate::aggregator::levels::{self, BarRange, SessionPoc};
use crate::aggregator::{AggregatorSnapshot, ProfileParams, Timeframe, WindowReport};
use crate::model::{Price, Symbol, Venue};
use crate::storage::Kind;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// Where a price sits against a value area.
fn against_value(
    price: Option<Price>,
    val: Option<Price>,
    vah: Option<Price>,
) -> Option<&'static str> {
    let (price, val, vah) = (price?, val?, vah?);
    Some(if price > vah {
        "above_value"
    } else if price < val {
        "below_value"
    } else {
        "inside_value"
    })
}

/// Where a price sits against VWAP and its bands: `above_3sd`, `2sd_to_3sd_above`, ...,
/// `below_3sd`.
fn against_vwap(price: Price, bands: &levels::VwapBands) -> &'static str {
    const ABOVE: [&str; 4] = [
        "vwap_to_1sd_above",
        "1sd_to_2sd_above",
        "2sd_to_3sd_above",
        "above_3sd",
    ];
    const BELOW: [&str; 4] = [
        "vwap_to_1sd_below",
        "1sd_to_2sd_below",
        "2sd_to_3sd_below",
        "below_3sd",
    ];
    if price >= bands.vwap {
        let k = bands
            .bands
            .iter()
            .take_while(|(_, high)| price > *high)
            .count();
        ABOVE[k]
    } else {
        let k = bands
            .bands
            .iter()
            .take_while(|(low, _)| price < *low)
            .count();
        BELOW[k]
    }
}

fn vwap_json(bands: &levels::VwapBands) -> Value {
    json!({
        "vwap": bands.vwap,
        "sigma": bands.sigma,
        "bands": bands.bands.iter().zip(1..).map(|((low, high), k)| json!({"k": k, "low": low, "high": high})).collect::<Vec<_>>(),
    })
}

/// The levels of one summed range (a session, day or week): profile, CVD (its delta: every
/// session's cumulative delta starts at its start) and VWAP.
fn level(sum: &RangeSum, profile: &ProfileParams, last: Option<Price>) -> Value {
    let report = WindowReport::of(
        &sum.bar,
        &sum.base,
        profile.value_area,
        &profile.imbalance,
        sum.bar.delta(),
    );
    let bands = levels::vwap_bands(&sum.bar.footprint, &sum.base);
    json!({
        "from": sum.bar.start,
        "to": sum.bar.end,
        "developing": sum.developing,
        "trades": report.trades,
        "poc": report.poc,
        "vah": report.vah,
        "val": report.val,
        "high": report.high,
        "low": report.low,
        "volume": report.volume,
        "cvd": report.delta,
        "vwap": bands.as_ref().map(vwap_json),
        "last_price_vs_value": against_value(last, report.val, report.vah),
        "last_price_vs_vwap": bands.as_ref().zip(last).map(|(b, p)| against_vwap(p, b)),
        "complete": sum.coverage.complete,
        "holes": sum.coverage.holes.len(),
    })
}

/// The latest trade price across `venues` (the newest trade wins).
pub(super) fn last_price(snapshots: &[std::sync::Arc<AggregatorSnapshot>]) -> Option<Price> {
    snapshots
        .iter()
        .filter_map(|s| s.recent_trades.last())
        .max_by_key(|t| t.trade_time)
        .map(|t| t.price)
}

impl Api {
    pub(super) fn snapshots_of(
        &self,
        venues: &[Venue],
        symbol: Symbol,
    ) -> Vec<std::sync::Arc<AggregatorSnapshot>> {
        venues
            .iter()
            .filter_map(|v| self.sources.snapshots.latest(*v, symbol))
            .collect()
    }

    /// The named sessions and the daily one (anchored at the first venue's session anchor).
    pub(super) fn all_sessions(&self, profile: &ProfileParams) -> Vec<SessionSpec> {
        let mut all = self.settings.sessions.clone();
        all.push(SessionSpec::daily(profile.session.minute_of_day()));
        all
    }

    /// The levels of `[from, to)`, `null` when nothing can be summed there (no grid yet).
    async fn level_of(
        &self,
        venues: &[Venue],
        symbol: Symbol,
        (from, to): (i64, i64),
        now: i64,
        profile: &ProfileParams,
        last: Option<Price>,
    ) -> Result<Value, ApiError> {
        let to = to.min(now.div_euclid(MINUTE) * MINUTE + MINUTE);
        if from >= to {
            return Ok(Value::Null);
        }
        let sum = self.range_sum(venues, symbol, (from, to), now).await?;
        Ok(level(&sum, profile, last))
    }

    /// A session's current instance (`null` between instances) and its previous one.
    pub(super) async fn session_levels(
        &self,
        spec: &SessionSpec,
        venues: &[Venue],
        symbol: Symbol,
        now: i64,
        profile: &ProfileParams,
        last: Option<Price>,
    ) -> Result<(Value, Value), ApiError> {
        let current = match spec.current(now) {
            Some(range) => {
                self.level_of(venues, symbol, range, now, profile, last)
                    .await?
            }
            None => Value::Null,
        };
        let previous = match spec.finished(now, 1).first() {
            Some(&range) => {
                self.level_of(venues, symbol, range, now, profile, last)
                    .await?
            }
            None => Value::Null,
        };
        Ok((current, previous))
    }

    fn profile_of(
        &self,
        venues: &[Venue],
        symbol: Symbol,
        params: &Params,
    ) -> Result<ProfileParams, ApiError> {
        with_value_area(
            params,
            self.sources
                .snapshots
                .latest(venues[0], symbol)
                .map_or_else(ProfileParams::default, |s| s.params),
        )
    }

    /// `GET /api/v1/sessions/{symbol}`: each named session's and the day's current and
    /// previous instance, and this and last week.
    pub(super) async fn sessions(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "value_area"])?;
        let now = wadm_supervision::unix_millis();
        let (venues, symbol) = self.range_venues(symbol, &params)?;
        let profile = self.profile_of(&venues, symbol, &params)?;
        let last = last_price(&self.snapshots_of(&venues, symbol));
        let mut sessions = Vec::new();
        for spec in self.all_sessions(&profile) {
            let (current, previous) = self
                .session_levels(&spec, &venues, symbol, now, &profile, last)
                .await?;
            sessions.push(json!({
                "name": spec.name,
                "hours_utc": spec.to_string(),
                "current": current,
                "previous": previous,
            }));
        }
        let (this_week, last_week) = weeks(now);
        let body = json!({
            "symbol": symbol,
            "venues": venues,
            "as_of": now,
            "last_price": last,
            "sessions": sessions,
            "week": self.level_of(&venues, symbol, this_week, now, &profile, last).await?,
            "previous_week": self.level_of(&venues, symbol, last_week, now, &profile, last).await?,
            "params": crate::aggregator::BarParams::of(&profile),
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    /// The naked POCs of the sessions and days that ended in the last `days` days, newest
    /// first.
    pub(super) async fn naked(
        &self,
        venues: &[Venue],
        symbol: Symbol,
        days: u32,
        now: i64,
        profile: &ProfileParams,
        last: Price,
    ) -> Result<Vec<Value>, ApiError> {
        let since = now - i64::from(days) * DAY;
        let mut candidates: Vec<(String, i64, i64)> = Vec::new();
        for spec in self.all_sessions(profile) {
            for (start, end) in spec.finished(now, days as usize + 1) {
                if end > since {
                    candidates.push((spec.name.clone(), start, end));
                }
            }
        }
        let mut sessions = Vec::new();
        let mut names: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
        for (name, start, end) in &candidates {
            let sum = self.range_sum(venues, symbol, (*start, *end), now).await?;
            if let Some((row, _)) = crate::aggregator::volume_profile::poc(&sum.bar.footprint) {
                let poc = sum.base.label(row);
                if !sessions
                    .iter()
                    .any(|s: &SessionPoc| (s.start, s.end) == (*start, *end))
                {
                    sessions.push(SessionPoc {
                        start: *start,
                        end: *end,
                        poc,
                    });
                }
                names.entry((*start, *end)).or_default().push(name.clone());
            }
        }
        let Some(first_end) = sessions.iter().map(|s| s.end).min() else {
            return Ok(Vec::new());
        };
        let bars = self.traded_ranges(venues, symbol, first_end, now).await?;
        Ok(levels::naked_pocs(&sessions, &bars, last)
            .into_iter()
            .map(|naked| {
                json!({
                    "session": names.get(&(naked.session_start, naked.formed_at)).map(|n| n.join(",")),
                    "session_start": naked.session_start,
                    "formed_at": naked.formed_at,
                    "price": naked.price,
                    "distance": naked.distance,
                })
            })
            .collect())
    }

    /// The price ranges traded since `from`, bar by bar: stored 1-day bars where hours are
    /// no longer kept, stored 1-hour bars, the stored minutes of the last two hours (the
    /// newest hours may still be on their way to the store) and the live minutes.
    async fn traded_ranges(
        &self,
        venues: &[Venue],
        symbol: Symbol,
        from: i64,
        now: i64,
    ) -> Result<Vec<BarRange>, ApiError> {
        let hours_kept = now.saturating_sub(self.sources.retention.millis(Kind::Bars1h));
        let mut ranges = Vec::new();
        for &venue in venues {
            let mut reads = vec![
                (Kind::Bars1h, from.max(hours_kept), now),
                (Kind::Bars1m, from.max(now - 2 * HOUR), now),
            ];
            if from < hours_kept {
                reads.push((Kind::Bars1d, Timeframe::D1.start_of(from), hours_kept));
            }
            for (kind, start, end) in reads {
                if start >= end {
                    continue;
                }
                for record in self.read_bars(kind, venue, symbol, (start, end)).await? {
                    if let (Some(low), Some(high)) = (record.report.low, record.report.high) {
                        ranges.push(BarRange {
                            start: record.report.start,
                            low,
                            high,
                        });
                    }
                }
            }
            if let Some(snapshot) = self.sources.snapshots.latest(venue, symbol) {
                let open = snapshot.bars.get(&Timeframe::M1).cloned();
                for bar in snapshot.closed_minutes.iter().chain(open.iter()) {
                    if let (Some(low), Some(high)) = (bar.low, bar.high) {
                        ranges.push(BarRange {
                            start: bar.start,
                            low,
                            high,
                        });
                    }
                }
            }
        }
        Ok(ranges)
    }

    /// `GET /api/v1/naked-pocs/{symbol}`.
    pub(super) async fn naked_pocs(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "lookback_days"])?;
        let now = wadm_supervision::unix_millis();
        let (venues, symbol) = self.range_venues(symbol, &params)?;
        let days = params
            .int("lookback_days", 1..=400)?
            .map_or(self.settings.naked_poc_days, |d| d as u32);
        let profile = self.profile_of(&venues, symbol, &params)?;
        let Some(last) = last_price(&self.snapshots_of(&venues, symbol)) else {
            return Err(ApiError::no_data(format!(
                "{symbol}: no trade received yet, so no distance to measure"
            )));
        };
        let naked = self
            .naked(&venues, symbol, days, now, &profile, last)
            .await?;
        let body = json!({
            "symbol": symbol,
            "venues": venues,
            "as_of": now,
            "last_price": last,
            "lookback_days": days,
            "sessions": self.all_sessions(&profile).iter().map(|s| json!({"name": s.name, "hours_utc": s.to_string()})).collect::<Vec<_>>(),
            "rule": "the POC of a finished session or day is naked while no bar starting at or after its end traded at its price (low <= poc <= high); bars: 1-day where hours are no longer kept, 1-hour, then minutes",
            "naked_pocs": naked,
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    /// `GET /api/v1/vwap/{symbol}?anchor=`: VWAP and bands from any minute to now (or `to`).
    pub(super) async fn anchored_vwap(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue", "anchor", "to"])?;
        let now = wadm_supervision::unix_millis();
        let (venues, symbol) = self.range_venues(symbol, &params)?;
        let anchor = params.int("anchor", 0..=MAX_TIME_MS)?;
        let (from, to) = super::ranged::bounds(
            &params,
            now,
            ("anchor", "the VWAP's anchor (Unix ms) is required"),
        )?;
        let sum = self.range_sum(&venues, symbol, (from, to), now).await?;
        let last = last_price(&self.snapshots_of(&venues, symbol));
        let bands = levels::vwap_bands(&sum.bar.footprint, &sum.base);
        let body = json!({
            "symbol": symbol,
            "venues": venues,
            "anchor": anchor,
            "effective_from": sum.bar.start,
            "effective_to": sum.bar.end,
            "developing": sum.developing,
            "as_of": now,
            "last_price": last,
            "row_size": sum.base.row_size(),
            "volume": sum.bar.totals.volume(),
            "vwap": bands.as_ref().map(vwap_json),
            "last_price_vs_vwap": bands.as_ref().zip(last).map(|(b, p)| against_vwap(p, b)),
            "rule": "rows count at their lower edge on the row size; vwap = sum(v p) / sum(v) rounded to 1e-12; sigma = sqrt(V sum(v p^2) - sum(v p)^2) / V rounded down; bands vwap +- k sigma",
            "coverage": sum.coverage,
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    /// `GET /api/v1/context/{symbol}`: the picture in one compact answer.
    pub(super) async fn context(
        &self,
        symbol: &str,
        query: Option<&str>,
    ) -> Result<Response, ApiError> {
        let params = Params::parse(query, &["venue"])?;
        let now = wadm_supervision::unix_millis();
        let (venues, symbol) = self.range_venues(symbol, &params)?;
        let profile = self.profile_of(&venues, symbol, &params)?;
        let snapshots = self.snapshots_of(&venues, symbol);
        let Some(last) = last_price(&snapshots) else {
            return Err(ApiError::no_data(format!(
                "{symbol}: no trade received yet"
            )));
        };
        let brief = |level: Value| -> Value {
            if level.is_null() {
                return level;
            }
            json!({
                "from": level["from"], "to": level["to"], "developing": level["developing"],
                "poc": level["poc"], "vah": level["vah"], "val": level["val"],
                "high": level["high"], "low": level["low"], "cvd": level["cvd"],
                "vwap": level["vwap"]["vwap"],
                "vs_value": level["last_price_vs_value"], "vs_vwap": level["last_price_vs_vwap"],
                "complete": level["complete"],
            })
        };
        let mut sessions = Vec::new();
        let mut day = Value::Null;
        let mut previous_day = Value::Null;
        for spec in self.all_sessions(&profile) {
            let (current, previous) = self
                .session_levels(&spec, &venues, symbol, now, &profile, Some(last))
                .await?;
            if spec.name == "daily" {
                // The day's VWAP bands in full: the model's main mean-reversion frame.
                day = current.clone();
                if let Some(vwap) = current.get("vwap") {
                    day = json!({"levels": brief(current.clone()), "vwap_bands": vwap["bands"], "sigma": vwap["sigma"]});
                }
                previous_day = brief(previous);
                continue;
            }
            sessions.push(json!({
                "name": spec.name,
                "hours_utc": spec.to_string(),
                "current": brief(current),
                "previous": brief(previous),
            }));
        }
        let (this_week, last_week) = weeks(now);
        let week = brief(
            self.level_of(&venues, symbol, this_week, now, &profile, Some(last))
                .await?,
        );
        let previous_week = brief(
            self.level_of(&venues, symbol, last_week, now, &profile, Some(last))
                .await?,
        );
        // The naked POCs nearest the price: three above, three below.
        let naked = self
            .naked(
                &venues,
                symbol,
                self.settings.naked_poc_days,
                now,
                &profile,
                last,
            )
            .await?;
        let distance = |v: &Value| -> Option<Price> { v["distance"].as_str()?.parse().ok() };
        let mut above: Vec<&Value> = naked
            .iter()
            .filter(|n| distance(n).is_some_and(|d| d.is_positive()))
            .collect();
        let mut below: Vec<&Value> = naked
            .iter()
            .filter(|n| distance(n).is_some_and(|d| !d.is_positive()))
            .collect();
        above.sort_by_key(|n| distance(n));
        below.sort_by_key(|n| std::cmp::Reverse(distance(n)));
        let nearest: Vec<&Value> = above
            .into_iter()
            .take(3)
            .chain(below.into_iter().take(3))
            .collect();
        // The last hour's order flow, per venue, from the live rolling window.
        let mut flow = Vec::new();
        for snapshot in &snapshots {
            let Some(window) = snapshot.rolling.get(&Rolling::H1) else {
                continue;
            };
            let Some(grid) = snapshot.grid else {
                continue;
            };
            let (report, absorption) =
                super::views::analyse(window, &grid, 1, &snapshot.params, snapshot.cvd);
            let large: Vec<Value> = snapshot
                .large_trades
                .iter()
                .filter(|t| t.time >= now - HOUR)
                .rev()
                .take(5)
                .map(|t| json!({"time": t.time, "price": t.price, "qty": t.qty, "side": t.side}))
                .collect();
            let mut entry = json!({
                "venue": snapshot.venue,
                "delta_1h": report.delta,
                "volume_1h": report.volume,
                "session_cvd": snapshot.cvd,
                "stacked_imbalances": report.stacked_imbalances.iter().rev().take(3).collect::<Vec<_>>(),
                "absorption": absorption.iter().rev().take(3).map(|a| json!({"price": a.price, "side": a.side, "volume": a.volume, "time": a.time})).collect::<Vec<_>>(),
                "large_trades": large,
            });
            if let Some(brief) = super::derivatives::window_brief(snapshot, window) {
                entry["derivatives_1h"] = brief;
            }
            flow.push(entry);
        }
        let coverage: Vec<Value> = snapshots
            .iter()
            .map(|s| {
                let c = self.live_coverage(s, now - DAY, now);
                json!({
                    "venue": s.venue,
                    "data_from": c.covered_from,
                    "complete_24h": c.complete,
                    "open_holes": c.holes.iter().filter(|h| h.state.is_open()).count(),
                    "feed_up": self.feed_is_up(s.venue),
                })
            })
            .collect();
        let body = json!({
            "symbol": symbol,
            "venues": venues,
            "as_of": now,
            "last_price": last,
            "row_size": snapshots.first().and_then(|s| s.grid).map(|g| g.row_size()),
            "day": day,
            "previous_day": previous_day,
            "week": week,
            "previous_week": previous_week,
            "sessions": sessions,
            "naked_pocs_nearest": nearest,
            "order_flow_1h": flow,
            "coverage": coverage,
            "notes": "prices and volumes are exact decimals; cvd = the period's cumulative delta (buy minus sell aggression); vs_value: the last price against the period's value area; vs_vwap: against its VWAP bands (sd = standard deviation); naked POCs: distance = poc - last price",
        });
        Ok(json_response(StatusCode::OK, &body))
    }
}
