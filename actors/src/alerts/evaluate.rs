//! Rule evaluation, pure: market conditions on each published snapshot of a pair, health
//! conditions (feeds, store, gaps) on facts gathered each second. Each rule and pair keeps
//! its own state:
//!
//! - **Events** (a crossing, a new stack, absorption, large trade or liquidation, a hole that
//!   opens) fire when they happen; one within the rule's cooldown of the last firing is
//!   suppressed (counted), not postponed.
//! - **States** (a delta or CVD beyond its threshold, open interest moved, a feed or the store
//!   down long enough) fire once when they become true; if that happens within the cooldown,
//!   they fire when it ends if still true. They fire again only after being false once.
//!
//! Large trades and liquidations older than the evaluator (an aggregator restores recent
//! large trades from the store) and stacks, absorption and holes present at the first look
//! at a pair do not fire: a restart does not replay old events.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::{Value, json};

use super::config::{Condition, DeltaPeriod, Level, LevelWindow, Line, Rule};
use crate::aggregator::report::{AbsorptionRow, WindowReport};
use crate::aggregator::{AggregatorSnapshot, Bar, RowGrid, levels};
use crate::model::{DataQualityEvent, Price, Qty, Ratio, Symbol, Venue};

/// Levels that need the store, fetched next to the evaluator now and then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceLevels {
    /// POC, VAH, VAL of the previous UTC day.
    pub previous_day: Option<(Price, Price, Price)>,
    /// Naked POCs of the lookback.
    pub naked_pocs: Vec<Price>,
}

/// What the daemon's health looks like now.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Each enabled venue's feed: up or not.
    pub feeds: Vec<(Venue, bool)>,
    pub store_up: bool,
    /// The holes of each pair known to the data-quality log (recent ones).
    pub holes: Vec<((Venue, Symbol), Vec<DataQualityEvent>)>,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub rule: String,
    pub condition: &'static str,
    pub venue: Option<Venue>,
    pub symbol: Option<Symbol>,
    /// When it fired (Unix ms).
    pub time: i64,
    /// The values that fired it.
    pub values: Value,
    /// One line a person reads.
    pub summary: String,
    pub destinations: Vec<String>,
}

/// What a rule remembers of a pair (or of a venue, or of the store).
#[derive(Debug, Clone, Default)]
struct PairState {
    seen: bool,
    last_price: Option<Price>,
    /// Event keys already reported (stacks and absorption of the current bar, large trades,
    /// liquidations, holes).
    keys: BTreeSet<String>,
    /// The bar the keys belong to (stacks, absorption).
    bar_start: Option<i64>,
    /// Newest event time taken (large trades, liquidations).
    newest: i64,
    /// A state condition is true and was announced.
    announced: bool,
    /// When a health condition became true.
    since: Option<i64>,
    last_fired: Option<i64>,
    /// Open interest samples (time, value) over the rule's period.
    open_interest: VecDeque<(i64, Qty)>,
}

/// Why a rule did not fire on a true condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    Cooldown,
}

/// The rules and their state.
#[derive(Debug, Default)]
pub struct Evaluator {
    rules: Vec<Rule>,
    state: HashMap<(String, Option<Venue>, Option<Symbol>), PairState>,
    /// Firings suppressed by a cooldown, by rule.
    pub suppressed: BTreeMap<String, u64>,
    /// When it started (Unix ms): older large trades and liquidations are not news.
    started_at: i64,
}

/// Outcome of one look at a condition.
enum Look {
    Nothing,
    /// Something happened (an event).
    Event(Value, String),
    /// The state holds now.
    Holds(Value, String),
}

impl Evaluator {
    /// An evaluator of `rules`, started at `now` (Unix ms).
    pub fn new(rules: Vec<Rule>, now: i64) -> Self {
        Self {
            rules,
            started_at: now,
            ..Self::default()
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many of a rule's pairs (or venues) hold a state condition now, announced.
    pub fn holding(&self, rule: &str) -> usize {
        self.state
            .iter()
            .filter(|((name, _, _), state)| name == rule && state.announced)
            .count()
    }

    /// Replaces the rules; a rule kept unchanged (same name and definition) keeps its state.
    pub fn replace_rules(&mut self, rules: Vec<Rule>) {
        let kept: BTreeSet<String> = rules
            .iter()
            .filter(|r| self.rules.contains(r))
            .map(|r| r.name.clone())
            .collect();
        self.state.retain(|(name, _, _), _| kept.contains(name));
        self.rules = rules;
    }

    /// The market rules watching the snapshot's pair, looked at on it.
    pub fn on_snapshot(
        &mut self,
        snapshot: &AggregatorSnapshot,
        refs: Option<&ReferenceLevels>,
        now: i64,
    ) -> Vec<Firing> {
        let pair = (snapshot.venue, snapshot.symbol);
        let Some(grid) = snapshot.grid else {
            return Vec::new();
        };
        let mut firings = Vec::new();
        let mut cache = SnapshotCache::default();
        // The rules are taken out for the loop (`decide` needs the rest of `self`), not copied.
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            if rule.condition.is_health() || !rule.pairs.contains(&pair) {
                continue;
            }
            let key = (rule.name.clone(), Some(pair.0), Some(pair.1));
            let started_at = self.started_at;
            let state = self.state.entry(key).or_insert_with(|| PairState {
                newest: started_at,
                ..PairState::default()
            });
            let look = look_market(rule, state, snapshot, &grid, refs, &mut cache, now);
            if let Some(firing) = self.decide(rule, Some(pair), look, now) {
                firings.push(firing);
            }
        }
        self.rules = rules;
        firings
    }

    /// The health rules, looked at on `health`.
    pub fn on_health(&mut self, health: &Health, now: i64) -> Vec<Firing> {
        let mut firings = Vec::new();
        for rule in self.rules.clone() {
            match &rule.condition {
                Condition::StoreDown { after } => {
                    let key = (rule.name.clone(), None, None);
                    let state = self.state.entry(key).or_default();
                    let look = down_for(state, !health.store_up, *after, now, || {
                        "the store".to_owned()
                    });
                    if let Some(f) = self.decide(&rule, None, look, now) {
                        firings.push(f);
                    }
                }
                Condition::FeedDown { after } => {
                    for &(venue, up) in &health.feeds {
                        if !rule.pairs.iter().any(|(v, _)| *v == venue) {
                            continue;
                        }
                        let key = (rule.name.clone(), Some(venue), None);
                        let state = self.state.entry(key).or_default();
                        let look = down_for(state, !up, *after, now, || format!("{venue} feed"));
                        let pair = rule.pairs.iter().find(|(v, _)| *v == venue).copied();
                        if let Some(mut f) = self.decide(&rule, pair, look, now) {
                            f.symbol = None;
                            firings.push(f);
                        }
                    }
                }
                Condition::Gap => {
                    for (pair, holes) in &health.holes {
                        if !rule.pairs.contains(pair) {
                            continue;
                        }
                        let key = (rule.name.clone(), Some(pair.0), Some(pair.1));
                        let state = self.state.entry(key).or_default();
                        let look = new_holes(state, holes);
                        if let Some(f) = self.decide(&rule, Some(*pair), look, now) {
                            firings.push(f);
                        }
                    }
                }
                _ => {}
            }
        }
        firings
    }

    /// Applies the cooldown and the state rule to a look.
    fn decide(
        &mut self,
        rule: &Rule,
        pair: Option<(Venue, Symbol)>,
        look: Look,
        now: i64,
    ) -> Option<Firing> {
        let key = (
            rule.name.clone(),
            pair.map(|p| p.0),
            match rule.condition {
                Condition::FeedDown { .. } => None,
                _ => pair.map(|p| p.1),
            },
        );
        let state = self.state.entry(key).or_default();
        let cooled = state
            .last_fired
            .is_none_or(|last| now - last >= millis(rule.cooldown));
        let (values, summary) = match look {
            Look::Nothing => {
                state.announced = false;
                return None;
            }
            Look::Event(values, summary) => {
                if !cooled {
                    *self.suppressed.entry(rule.name.clone()).or_default() += 1;
                    return None;
                }
                (values, summary)
            }
            Look::Holds(values, summary) => {
                if state.announced || !cooled {
                    return None;
                }
                state.announced = true;
                (values, summary)
            }
        };
        state.last_fired = Some(now);
        let summary = match pair {
            Some((venue, symbol)) if !matches!(rule.condition, Condition::FeedDown { .. }) => {
                format!("[{}] {symbol} {venue}: {summary}", rule.name)
            }
            _ => format!("[{}] {summary}", rule.name),
        };
        Some(Firing {
            rule: rule.name.clone(),
            condition: rule.condition.kind(),
            venue: pair.map(|p| p.0),
            symbol: pair.map(|p| p.1),
            time: now,
            values,
            summary,
            destinations: rule.destinations.clone(),
        })
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Reports of the snapshot's windows, computed once per snapshot however many rules ask.
#[derive(Default)]
struct SnapshotCache {
    reports: HashMap<String, Option<WindowReport>>,
    vwap: Option<Option<levels::VwapBands>>,
}

impl SnapshotCache {
    fn report(
        &mut self,
        name: &str,
        bar: Option<&Bar>,
        snapshot: &AggregatorSnapshot,
        grid: &RowGrid,
    ) -> Option<WindowReport> {
        self.reports
            .entry(name.to_owned())
            .or_insert_with(|| {
                let bar = bar?;
                let p = &snapshot.params;
                Some(WindowReport::of(
                    bar,
                    grid,
                    p.value_area,
                    &p.imbalance,
                    snapshot.cvd,
                ))
            })
            .clone()
    }
}

fn look_market(
    rule: &Rule,
    state: &mut PairState,
    snapshot: &AggregatorSnapshot,
    grid: &RowGrid,
    refs: Option<&ReferenceLevels>,
    cache: &mut SnapshotCache,
    now: i64,
) -> Look {
    let first = !state.seen;
    state.seen = true;
    match &rule.condition {
        Condition::PriceCross(level) => {
            let price = snapshot.recent_trades.last().map(|t| t.price);
            let before = std::mem::replace(&mut state.last_price, price);
            let (Some(price), Some(before)) = (price, before) else {
                return Look::Nothing;
            };
            let Some(at) = level_price(level, price, snapshot, grid, refs, cache) else {
                return Look::Nothing;
            };
            let direction = if before < at && price >= at {
                "above"
            } else if before > at && price <= at {
                "below"
            } else {
                return Look::Nothing;
            };
            Look::Event(
                json!({"price": price, "previous_price": before, "level": at, "level_name": level.to_string(), "direction": direction}),
                format!("price {price} crossed {direction} {level} at {at}"),
            )
        }
        Condition::Delta { period, threshold } => {
            let bar = match period {
                DeltaPeriod::Bar(t) => snapshot.bars.get(t),
                DeltaPeriod::Rolling(r) => snapshot.rolling.get(r),
            };
            let Some(delta) = bar.map(|b| b.delta()) else {
                return Look::Nothing;
            };
            beyond(delta, *threshold, || {
                (
                    json!({"delta": delta, "threshold": threshold, "period": period.to_string()}),
                    format!("delta of the {period} is {delta} (threshold {threshold})"),
                )
            })
        }
        Condition::Cvd { threshold } => {
            let cvd = snapshot.cvd;
            beyond(cvd, *threshold, || {
                (
                    json!({"cvd": cvd, "threshold": threshold}),
                    format!("session CVD is {cvd} (threshold {threshold})"),
                )
            })
        }
        Condition::StackedImbalance { period } | Condition::Absorption { period } => {
            let Some(bar) = snapshot.bars.get(period) else {
                return Look::Nothing;
            };
            if state.bar_start != Some(bar.start) {
                state.bar_start = Some(bar.start);
                state.keys.clear();
            }
            let stacks = matches!(rule.condition, Condition::StackedImbalance { .. });
            let found: Vec<(String, Value)> = if stacks {
                let name = format!("bar {period}");
                cache
                    .report(&name, Some(bar), snapshot, grid)
                    .map(|r| r.stacked_imbalances)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| (format!("{:?}:{}:{}", s.side, s.from, s.to), json!(s)))
                    .collect()
            } else {
                AbsorptionRow::of_bar(bar, grid, &snapshot.params.absorption)
                    .into_iter()
                    .map(|a| (format!("{:?}:{}", a.side, a.price), json!(a)))
                    .collect()
            };
            let new: Vec<Value> = found
                .into_iter()
                .filter(|(key, _)| state.keys.insert(key.clone()))
                .map(|(_, v)| v)
                .collect();
            if first || new.is_empty() {
                return Look::Nothing;
            }
            let what = if stacks {
                "stacked imbalance"
            } else {
                "absorption"
            };
            let summary = format!(
                "{} new {what} in the {period} bar: {}",
                new.len(),
                brief(&new)
            );
            Look::Event(
                json!({"period": period, "bar_start": bar.start, "new": new}),
                summary,
            )
        }
        Condition::LargeTrade { min_qty } => {
            let mut big = Vec::new();
            for t in snapshot.large_trades.iter() {
                let key = format!("{}:{}:{}:{:?}", t.time, t.price, t.qty, t.side);
                if t.time >= state.newest && state.keys.insert(key) && t.qty >= *min_qty {
                    big.push(t);
                }
            }
            forget_before_newest(state, snapshot.large_trades.iter().map(|t| t.time).max());
            if big.is_empty() {
                return Look::Nothing;
            }
            let largest = big.iter().map(|t| t.qty).max().unwrap_or_default();
            Look::Event(
                json!({"min_qty": min_qty, "trades": big}),
                format!(
                    "{} large trade(s) of at least {min_qty}, the largest {largest}",
                    big.len()
                ),
            )
        }
        Condition::Liquidation { min_qty } => {
            let mut new = Vec::new();
            for l in snapshot.liquidations.iter() {
                let key = format!(
                    "{}:{}:{}:{:?}",
                    l.time.as_millis(),
                    l.price,
                    l.qty,
                    l.position
                );
                if l.time.as_millis() >= state.newest && state.keys.insert(key) && l.qty >= *min_qty
                {
                    new.push(l);
                }
            }
            let newest = snapshot
                .liquidations
                .iter()
                .map(|l| l.time.as_millis())
                .max();
            forget_before_newest(state, newest);
            if new.is_empty() {
                return Look::Nothing;
            }
            let total: Qty = new.iter().map(|l| l.qty).sum();
            Look::Event(
                json!({"min_qty": min_qty, "liquidations": new}),
                format!(
                    "{} liquidation(s) of at least {min_qty}, {total} in all",
                    new.len()
                ),
            )
        }
        Condition::OpenInterestChange { percent, period } => {
            let Some((time, oi)) = snapshot
                .derivatives
                .as_ref()
                .and_then(|d| d.open_interest.map(|oi| (d.time.as_millis(), oi)))
            else {
                return Look::Nothing;
            };
            if state.open_interest.back().is_none_or(|(t, _)| *t < time) {
                state.open_interest.push_back((time, oi));
            }
            let span = millis(*period);
            while state.open_interest.len() > 2
                && state
                    .open_interest
                    .get(1)
                    .is_some_and(|(t, _)| *t <= time - span)
            {
                state.open_interest.pop_front();
            }
            let Some(&(then, base)) = state.open_interest.front() else {
                return Look::Nothing;
            };
            if then > time - span || !base.is_positive() {
                // Not a whole period of samples yet.
                return Look::Nothing;
            }
            let change = oi - base;
            let Some(ratio) = Ratio::of(change, base) else {
                return Look::Nothing;
            };
            let change_percent = Ratio::from_units(ratio.units() * 100);
            if change_percent.units().abs() < percent.units() {
                return Look::Nothing;
            }
            let _ = now;
            Look::Holds(
                json!({"open_interest": oi, "before": base, "before_time": then, "change_percent": change_percent, "percent": percent}),
                format!(
                    "open interest {oi} moved {change_percent} % from {base} within {}",
                    humantime::format_duration(*period)
                ),
            )
        }
        Condition::FeedDown { .. } | Condition::StoreDown { .. } | Condition::Gap => Look::Nothing,
    }
}

/// Moves the newest time taken to `newest` and forgets the keys of older events (keys
/// start with their time).
fn forget_before_newest(state: &mut PairState, newest: Option<i64>) {
    if let Some(newest) = newest {
        state.newest = state.newest.max(newest);
        let keep = state.newest;
        state.keys.retain(|k| {
            k.split(':')
                .next()
                .and_then(|t| t.parse::<i64>().ok())
                .is_some_and(|t| t >= keep)
        });
    }
}

/// A delta or CVD against a signed threshold.
fn beyond(value: Qty, threshold: Qty, describe: impl FnOnce() -> (Value, String)) -> Look {
    let holds = if threshold.is_positive() {
        value >= threshold
    } else {
        value <= threshold
    };
    if holds {
        let (values, summary) = describe();
        Look::Holds(values, summary)
    } else {
        Look::Nothing
    }
}

/// A health state held for at least `after`.
fn down_for(
    state: &mut PairState,
    down: bool,
    after: std::time::Duration,
    now: i64,
    what: impl FnOnce() -> String,
) -> Look {
    if !down {
        state.since = None;
        return Look::Nothing;
    }
    let since = *state.since.get_or_insert(now);
    if now - since < millis(after) {
        return Look::Nothing;
    }
    Look::Holds(
        json!({"down_since": since, "down_ms": now - since}),
        format!("{} down for {} s", what(), (now - since) / 1_000),
    )
}

/// Holes not seen before (none on the first look).
fn new_holes(state: &mut PairState, holes: &[DataQualityEvent]) -> Look {
    let first = !state.seen;
    state.seen = true;
    let new: Vec<&DataQualityEvent> = holes
        .iter()
        .filter(|h| state.keys.insert(format!("{:?}:{}", h.kind, h.key())))
        .collect();
    if first || new.is_empty() {
        return Look::Nothing;
    }
    let kinds: Vec<String> = new
        .iter()
        .map(|h| format!("{:?}", h.kind).to_lowercase())
        .collect();
    Look::Event(
        json!({"holes": new}),
        format!(
            "{} data gap(s) opened ({}): {}",
            new.len(),
            kinds.join(", "),
            new[0].cause
        ),
    )
}

/// A few items of a list, for a summary line.
fn brief(items: &[Value]) -> String {
    let mut parts: Vec<String> = items
        .iter()
        .take(3)
        .map(|v| {
            let side = v["side"].as_str().unwrap_or("");
            let price = v["from"].as_str().or(v["price"].as_str()).unwrap_or("");
            format!("{side} at {price}")
        })
        .collect();
    if items.len() > 3 {
        parts.push(format!("and {} more", items.len() - 3));
    }
    parts.join(", ")
}

/// The price of a level now.
fn level_price(
    level: &Level,
    _price: Price,
    snapshot: &AggregatorSnapshot,
    grid: &RowGrid,
    refs: Option<&ReferenceLevels>,
    cache: &mut SnapshotCache,
) -> Option<Price> {
    match level {
        Level::Fixed(price) => Some(*price),
        Level::Profile { window, line } => {
            let (name, bar) = match window {
                LevelWindow::Rolling(r) => {
                    (r.as_str().to_owned(), snapshot.rolling.get(r).map(|b| &**b))
                }
                LevelWindow::Session => ("session".to_owned(), snapshot.session.as_deref()),
                LevelWindow::PreviousDay => {
                    let (poc, vah, val) = refs?.previous_day?;
                    return Some(match line {
                        Line::Poc => poc,
                        Line::Vah => vah,
                        Line::Val => val,
                    });
                }
            };
            let report = cache.report(&name, bar, snapshot, grid)?;
            match line {
                Line::Poc => report.poc,
                Line::Vah => report.vah,
                Line::Val => report.val,
            }
        }
        Level::Vwap { band } => {
            let bands = (*cache.vwap.get_or_insert_with(|| {
                snapshot
                    .session
                    .as_ref()
                    .and_then(|s| levels::vwap_bands(&s.footprint, grid))
            }))?;
            let k = band.unsigned_abs() as usize;
            Some(match band.signum() {
                0 => bands.vwap,
                1 => bands.bands.get(k - 1)?.1,
                _ => bands.bands.get(k - 1)?.0,
            })
        }
        Level::NakedPoc => {
            // The nearest to the last price.
            let last = snapshot.recent_trades.last()?.price;
            refs?
                .naked_pocs
                .iter()
                .copied()
                .min_by_key(|p| (*p - last).units().abs())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::aggregator::Timeframe;
    use crate::aggregator::engine::Rolling;
    use crate::aggregator::order_flow::LargeTrade;
    use crate::aggregator::params::ProfileParams;
    use crate::alerts::config::{Condition, DeltaPeriod, Level, LevelWindow, Line, Rule};
    use crate::model::{
        DerivativesTick, Liquidation, PositionSide, QualityKind, Side, TimestampMs, Trade,
        TradeFlags, TradeId, UnixNanos,
    };

    const T0: i64 = 1_767_225_600_000;
    const COOLDOWN: Duration = Duration::from_secs(60);

    fn sym() -> Symbol {
        Symbol::new("BTCUSDT").unwrap_or_else(|_| unreachable!())
    }

    fn pair() -> (Venue, Symbol) {
        (Venue::BybitLinear, sym())
    }

    fn rule(condition: Condition) -> Rule {
        Rule {
            name: "r".into(),
            pairs: vec![pair()],
            condition,
            cooldown: COOLDOWN,
            destinations: vec!["d".into()],
        }
    }

    fn trade(id: u64, price: i64, qty: i64, side: Side) -> Trade {
        Trade {
            venue: Venue::BybitLinear,
            symbol: sym(),
            id: TradeId::Number(id),
            price: Price::from_int(price),
            qty: Qty::from_int(qty),
            side,
            trade_time: TimestampMs(T0 + id as i64),
            event_time: TimestampMs(T0 + id as i64),
            received_at: UnixNanos(0),
            flags: TradeFlags::NONE,
            sequence: None,
            fills: None,
        }
    }

    fn grid() -> RowGrid {
        RowGrid::new(Price::from_int(1)).unwrap_or_else(|| unreachable!())
    }

    /// A snapshot whose bars, windows and session hold `trades`, the last one's price last.
    fn snapshot(trades: &[Trade]) -> AggregatorSnapshot {
        let mut s = AggregatorSnapshot::empty(Venue::BybitLinear, sym(), ProfileParams::default());
        s.grid = Some(grid());
        let mut bar = Bar::new(T0, T0 + 60_000);
        for t in trades {
            bar.add(&grid(), t);
        }
        let bar = Arc::new(bar);
        for tf in [Timeframe::M1, Timeframe::M5] {
            s.bars.insert(tf, Arc::clone(&bar));
        }
        s.rolling.insert(Rolling::H1, Arc::clone(&bar));
        s.session = Some(Arc::clone(&bar));
        s.cvd = bar.delta();
        s.recent_trades = trades
            .iter()
            .rev()
            .take(1)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        s
    }

    fn with_price(mut s: AggregatorSnapshot, price: i64) -> AggregatorSnapshot {
        let mut last = trade(999, price, 1, Side::Buy);
        last.qty = Qty::from_int(1);
        s.recent_trades = vec![last].into();
        s
    }

    /// Runs `steps` (snapshot, time offset in s) and returns the times (s) at which it fired.
    fn fired_at(condition: Condition, steps: Vec<(AggregatorSnapshot, i64)>) -> Vec<i64> {
        let mut e = Evaluator::new(vec![rule(condition)], T0 + 2);
        let refs = ReferenceLevels {
            previous_day: Some((
                Price::from_int(105),
                Price::from_int(110),
                Price::from_int(95),
            )),
            naked_pocs: vec![Price::from_int(120), Price::from_int(80)],
        };
        steps
            .into_iter()
            .filter(|(s, at)| !e.on_snapshot(s, Some(&refs), T0 + at * 1_000).is_empty())
            .map(|(_, at)| at)
            .collect()
    }

    /// The price moves over `level` and back at the given seconds.
    fn crossing(condition: Condition, base: &[Trade], below: i64, above: i64) -> Vec<i64> {
        let s = snapshot(base);
        let steps = [
            (below, 0),
            (above, 1),
            (below, 10),
            (above, 30),
            (below, 61),
            (above, 62),
        ]
        .into_iter()
        .map(|(price, at)| (with_price(s.clone(), price), at))
        .collect();
        fired_at(condition, steps)
    }

    fn profile_trades() -> Vec<Trade> {
        // POC 100 (most volume), value area around it.
        let mut trades = Vec::new();
        for (i, (price, qty)) in [(98, 1), (99, 3), (100, 10), (101, 3), (102, 1)]
            .iter()
            .enumerate()
        {
            trades.push(trade(i as u64 + 1, *price, *qty, Side::Buy));
        }
        trades
    }

    #[test]
    fn price_crosses_fire_once_per_cooldown_for_every_kind_of_level() {
        let base = profile_trades();
        // A crossing at 1 s fires; those at 10 and 30 s are in the cooldown; 61 s fires.
        let expected = vec![1, 61];
        assert_eq!(
            crossing(
                Condition::PriceCross(Level::Fixed(Price::from_int(150))),
                &base,
                140,
                160
            ),
            expected
        );
        for line in [Line::Poc, Line::Vah, Line::Val] {
            let level = Level::Profile {
                window: LevelWindow::Rolling(Rolling::H1),
                line,
            };
            let at = level_price(
                &level,
                Price::from_int(1),
                &snapshot(&base),
                &grid(),
                None,
                &mut SnapshotCache::default(),
            )
            .unwrap_or_else(|| unreachable!());
            let at = at.units() / Price::from_int(1).units();
            assert_eq!(
                crossing(
                    Condition::PriceCross(level),
                    &base,
                    at as i64 - 5,
                    at as i64 + 5
                ),
                expected,
                "{line:?}"
            );
        }
        let session_poc = Level::Profile {
            window: LevelWindow::Session,
            line: Line::Poc,
        };
        assert_eq!(
            crossing(Condition::PriceCross(session_poc), &base, 90, 110),
            expected
        );
        let previous_vah = Level::Profile {
            window: LevelWindow::PreviousDay,
            line: Line::Vah,
        };
        assert_eq!(
            crossing(Condition::PriceCross(previous_vah), &base, 108, 112),
            expected
        );
        assert_eq!(
            crossing(Condition::PriceCross(Level::NakedPoc), &base, 115, 125),
            expected
        );
        assert_eq!(
            crossing(
                Condition::PriceCross(Level::Vwap { band: 0 }),
                &base,
                90,
                110
            ),
            expected
        );
        assert_eq!(
            crossing(
                Condition::PriceCross(Level::Vwap { band: 2 }),
                &base,
                95,
                130
            ),
            expected
        );
    }

    #[test]
    fn delta_and_cvd_fire_when_they_reach_the_threshold_and_again_only_after_falling_back() {
        let small = snapshot(&[trade(1, 100, 1, Side::Buy)]);
        let big = snapshot(&[trade(1, 100, 1, Side::Buy), trade(2, 100, 9, Side::Buy)]);
        let sold = snapshot(&[trade(1, 100, 20, Side::Sell)]);
        let steps = |s: Vec<(&AggregatorSnapshot, i64)>| {
            s.into_iter()
                .map(|(s, at)| (s.clone(), at))
                .collect::<Vec<_>>()
        };
        // Reaches 10 at 1 s; holds (no refire); falls back; reaches again inside the cooldown
        // (postponed to its end while it holds); after.
        let run = |condition: Condition| {
            fired_at(
                condition,
                steps(vec![
                    (&small, 0),
                    (&big, 1),
                    (&big, 5),
                    (&small, 10),
                    (&big, 20),
                    (&big, 59),
                    (&big, 61),
                    (&big, 70),
                    (&small, 80),
                    (&big, 200),
                ]),
            )
        };
        let threshold = Qty::from_int(10);
        assert_eq!(
            run(Condition::Delta {
                period: DeltaPeriod::Bar(Timeframe::M1),
                threshold
            }),
            vec![1, 61, 200]
        );
        assert_eq!(
            run(Condition::Delta {
                period: DeltaPeriod::Rolling(Rolling::H1),
                threshold
            }),
            vec![1, 61, 200]
        );
        assert_eq!(run(Condition::Cvd { threshold }), vec![1, 61, 200]);
        // A negative threshold: at or below it.
        assert_eq!(
            fired_at(
                Condition::Cvd {
                    threshold: Qty::from_int(-15)
                },
                steps(vec![(&small, 0), (&sold, 1), (&sold, 2)])
            ),
            vec![1]
        );
    }

    #[test]
    fn stacks_absorption_large_trades_and_liquidations_fire_on_new_ones_only() {
        // Three rows of buy imbalances (ask >= 3 x the bid one row down).
        let mut stacked = vec![
            trade(1, 99, 1, Side::Sell),
            trade(2, 100, 1, Side::Sell),
            trade(3, 101, 1, Side::Sell),
        ];
        let quiet = snapshot(&stacked);
        stacked.extend([
            trade(4, 100, 30, Side::Buy),
            trade(5, 101, 30, Side::Buy),
            trade(6, 102, 30, Side::Buy),
        ]);
        let formed = snapshot(&stacked);
        let steps = vec![(quiet.clone(), 0), (formed.clone(), 1), (formed.clone(), 2)];
        assert_eq!(
            fired_at(
                Condition::StackedImbalance {
                    period: Timeframe::M1
                },
                steps
            ),
            vec![1]
        );

        // Large trades: new ones at or above the size.
        let large = |s: &AggregatorSnapshot, list: &[(i64, i64)]| {
            let mut s = s.clone();
            s.large_trades = list
                .iter()
                .map(|(t, q)| LargeTrade {
                    time: T0 + t,
                    price: Price::from_int(100),
                    qty: Qty::from_int(*q),
                    side: Side::Buy,
                })
                .collect::<Vec<_>>()
                .into();
            s
        };
        let steps = vec![
            (large(&quiet, &[(1, 50)]), 0),
            (large(&quiet, &[(1, 50), (2, 5)]), 1),
            (large(&quiet, &[(1, 50), (2, 5), (3, 50)]), 2),
            (large(&quiet, &[(1, 50), (2, 5), (3, 50), (4, 60)]), 30),
            (
                large(&quiet, &[(1, 50), (2, 5), (3, 50), (4, 60), (5, 70)]),
                63,
            ),
        ];
        assert_eq!(
            fired_at(
                Condition::LargeTrade {
                    min_qty: Qty::from_int(10)
                },
                steps
            ),
            vec![2, 63]
        );

        let liquidated = |list: &[(i64, i64)]| {
            let mut s = quiet.clone();
            s.liquidations = list
                .iter()
                .map(|(t, q)| Liquidation {
                    venue: Venue::BybitLinear,
                    symbol: sym(),
                    position: PositionSide::Long,
                    price: Price::from_int(100),
                    qty: Qty::from_int(*q),
                    time: TimestampMs(T0 + t),
                    received_at: UnixNanos(0),
                })
                .collect::<Vec<_>>()
                .into();
            s
        };
        let steps = vec![
            (liquidated(&[(1, 9)]), 0),
            (liquidated(&[(1, 9), (2, 3)]), 1),
            (liquidated(&[(1, 9), (2, 3), (3, 8)]), 2),
            (liquidated(&[(1, 9), (2, 3), (3, 8)]), 3),
            (liquidated(&[(3, 8), (4, 9)]), 70),
        ];
        assert_eq!(
            fired_at(
                Condition::Liquidation {
                    min_qty: Qty::from_int(5)
                },
                steps
            ),
            vec![2, 70]
        );
    }

    #[test]
    fn absorption_fires_when_it_forms() {
        // Heavy selling into one row while the price does not move below it.
        let mut trades: Vec<Trade> = (0..10)
            .map(|i| trade(i + 1, 100 + (i as i64 % 5), 1, Side::Buy))
            .collect();
        let before = snapshot(&trades);
        trades.push(trade(50, 100, 200, Side::Sell));
        let after = snapshot(&trades);
        assert!(
            !AbsorptionRow::of_bar(
                &after.bars[&Timeframe::M1],
                &grid(),
                &after.params.absorption
            )
            .is_empty()
        );
        let steps = vec![(before, 0), (after.clone(), 1), (after, 2)];
        assert_eq!(
            fired_at(
                Condition::Absorption {
                    period: Timeframe::M1
                },
                steps
            ),
            vec![1]
        );
    }

    #[test]
    fn open_interest_change_needs_a_whole_period_and_fires_on_the_move() {
        let at = |t: i64, oi: i64| {
            let mut s = snapshot(&profile_trades());
            s.derivatives = Some(DerivativesTick {
                venue: Venue::BybitLinear,
                symbol: sym(),
                time: TimestampMs(T0 + t * 1_000),
                received_at: UnixNanos(0),
                complete: true,
                mark_price: None,
                index_price: None,
                funding_rate: None,
                next_funding_time: None,
                open_interest: Some(Qty::from_int(oi)),
            });
            (s, t)
        };
        let condition = Condition::OpenInterestChange {
            percent: "5".parse().unwrap_or_default(),
            period: Duration::from_secs(10),
        };
        // 1000 -> 1060 within 5 s: not a whole period yet; at 10 s +6 % over 10 s fires once.
        let steps = vec![
            at(0, 1_000),
            at(5, 1_060),
            at(10, 1_060),
            at(12, 1_061),
            at(30, 1_061),
            at(40, 1_000),
            at(130, 1_000),
            at(140, 1_100),
        ];
        assert_eq!(fired_at(condition, steps), vec![10, 140]);
    }

    #[test]
    fn health_rules_fire_after_their_delay_and_gaps_when_they_open() {
        let mut e = Evaluator::new(
            vec![
                Rule {
                    name: "feed".into(),
                    condition: Condition::FeedDown {
                        after: Duration::from_secs(5),
                    },
                    ..rule(Condition::Gap)
                },
                Rule {
                    name: "store".into(),
                    pairs: vec![],
                    condition: Condition::StoreDown {
                        after: Duration::from_secs(0),
                    },
                    ..rule(Condition::Gap)
                },
                Rule {
                    name: "gap".into(),
                    ..rule(Condition::Gap)
                },
            ],
            T0,
        );
        let hole = |n: u64| DataQualityEvent {
            venue: Venue::BybitLinear,
            symbol: Some(sym()),
            kind: QualityKind::TradeGap,
            from_id: Some(n),
            to_id: Some(n + 5),
            from_time: None,
            to_time: None,
            time: TimestampMs(T0),
            cause: "trade id jump".into(),
            state: None,
            recovered: None,
        };
        let health = |feed_up: bool, store_up: bool, holes: Vec<DataQualityEvent>| Health {
            feeds: vec![(Venue::BybitLinear, feed_up)],
            store_up,
            holes: vec![(pair(), holes)],
        };
        let names = |f: Vec<Firing>| f.into_iter().map(|f| f.rule).collect::<Vec<_>>();
        assert!(
            e.on_health(&health(true, true, vec![hole(1)]), T0)
                .is_empty(),
            "the first look fires nothing"
        );
        assert!(
            e.on_health(&health(false, true, vec![hole(1)]), T0 + 1_000)
                .is_empty()
        );
        assert_eq!(
            names(e.on_health(&health(false, false, vec![hole(1), hole(10)]), T0 + 6_000)),
            ["feed", "store", "gap"]
        );
        assert!(
            e.on_health(&health(false, false, vec![hole(1), hole(10)]), T0 + 7_000)
                .is_empty(),
            "still down: once"
        );
    }

    #[test]
    fn nothing_fires_on_the_first_look_and_replaced_rules_keep_their_state() {
        let s = with_price(snapshot(&profile_trades()), 160);
        let mut e = Evaluator::new(
            vec![rule(Condition::PriceCross(Level::Fixed(Price::from_int(
                150,
            ))))],
            T0,
        );
        assert!(e.on_snapshot(&s, None, T0).is_empty());
        let kept = e.rules().to_vec();
        e.replace_rules(kept);
        let below = with_price(s.clone(), 140);
        assert_eq!(
            e.on_snapshot(&below, None, T0 + 1_000).len(),
            1,
            "the price before the reload is remembered"
        );
    }
}
