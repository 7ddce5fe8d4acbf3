//! The `[alerts]` configuration: destinations and rules as written (`RawAlerts`), and as
//! validated (`AlertSettings`), every problem reported at once with its path.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aggregator::Timeframe;
use crate::aggregator::engine::Rolling;
use crate::model::{Price, Qty, Ratio, Symbol, Venue};

/// `[alerts]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAlerts {
    /// Firings waiting for delivery, at most (more are dropped and counted).
    pub queue_capacity: usize,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Timeout of one delivery attempt.
    pub timeout: String,
    /// Attempts per destination (the first and the retries).
    pub attempts: u32,
    /// Delay before the first retry; doubled each time, capped by `max_backoff`.
    pub initial_backoff: String,
    pub max_backoff: String,
    /// Where alerts go.
    pub destinations: Vec<RawDestination>,
    /// What fires them.
    pub rules: Vec<RawRule>,
}

impl Default for RawAlerts {
    fn default() -> Self {
        Self {
            queue_capacity: 1_000,
            concurrency: 4,
            timeout: "5s".into(),
            attempts: 5,
            initial_backoff: "1s".into(),
            max_backoff: "1m".into(),
            destinations: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// One `[[alerts.destinations]]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    pub name: String,
    /// `webhook`, `telegram`, `discord` or `slack`.
    pub kind: String,
    pub url: String,
    /// Key of the `X-WADM-Signature` HMAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Telegram: the chat to post to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
}

/// One `[[alerts.rules]]` as written: the condition's kind and the parameters it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: String,
    /// Venues, or `["all"]`.
    #[serde(default)]
    pub venues: Vec<String>,
    /// Symbols, or `["all"]`.
    #[serde(default)]
    pub symbols: Vec<String>,
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_qty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// No second firing of the same rule and pair for this long.
    #[serde(default = "default_cooldown")]
    pub cooldown: String,
    pub destinations: Vec<String>,
}

fn default_cooldown() -> String {
    "15m".into()
}

/// How a destination wants its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    /// WADM's JSON (rule, values, summary).
    Webhook,
    /// Telegram Bot API `sendMessage` (`chat_id`, `text`).
    Telegram,
    /// Discord incoming webhook (`content`).
    Discord,
    /// Slack incoming webhook (`text`).
    Slack,
}

impl DestinationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Webhook => "webhook",
            DestinationKind::Telegram => "telegram",
            DestinationKind::Discord => "discord",
            DestinationKind::Slack => "slack",
        }
    }
}

/// A validated destination. Its URL (chat services put their token in it) and secret are
/// never printed: `Debug` shows the name and kind only.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    pub kind: DestinationKind,
    pub url: url::Url,
    pub secret: Option<String>,
    pub chat_id: Option<String>,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &"<redacted>")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The profile lines a price can cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Line {
    Poc,
    Vah,
    Val,
}

/// The window a profile line is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelWindow {
    /// A live rolling window.
    Rolling(Rolling),
    /// The current session.
    Session,
    /// The previous UTC day (from the store).
    PreviousDay,
}

impl fmt::Display for LevelWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LevelWindow::Rolling(r) => f.write_str(r.as_str()),
            LevelWindow::Session => f.write_str("session"),
            LevelWindow::PreviousDay => f.write_str("previous day"),
        }
    }
}

/// A price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A fixed price.
    Fixed(Price),
    /// POC, VAH or VAL of a window.
    Profile { window: LevelWindow, line: Line },
    /// The session VWAP (`band` 0) or one of its bands (-3..=3 standard deviations).
    Vwap { band: i64 },
    /// The nearest naked POC of the lookback (`profile.naked_poc_lookback_days`).
    NakedPoc,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::Fixed(price) => write!(f, "{price}"),
            Level::Profile { window, line } => {
                let line = match line {
                    Line::Poc => "POC",
                    Line::Vah => "VAH",
                    Line::Val => "VAL",
                };
                write!(f, "{line} ({window})")
            }
            Level::Vwap { band: 0 } => f.write_str("session VWAP"),
            Level::Vwap { band } => write!(f, "session VWAP {band:+}sd band"),
            Level::NakedPoc => f.write_str("nearest naked POC"),
        }
    }
}

/// The period a delta is taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaPeriod {
    /// The developing bar.
    Bar(Timeframe),
    /// A live rolling window.
    Rolling(Rolling),
}

impl fmt::Display for DeltaPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeltaPeriod::Bar(t) => write!(f, "{t} bar"),
            DeltaPeriod::Rolling(r) => write!(f, "last {}", r.as_str()),
        }
    }
}

/// What fires a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The last price crosses a level (either way).
    PriceCross(Level),
    /// The delta of a period reaches `threshold` (a positive threshold: at least it; a
    /// negative one: at most it).
    Delta { period: DeltaPeriod, threshold: Qty },
    /// The session's cumulative delta reaches `threshold` (same sign rule).
    Cvd { threshold: Qty },
    /// A stacked imbalance forms in the developing bar of `period`.
    StackedImbalance { period: Timeframe },
    /// Absorption forms in the developing bar of `period`.
    Absorption { period: Timeframe },
    /// A large trade of at least `min_qty`.
    LargeTrade { min_qty: Qty },
    /// A liquidation of at least `min_qty` (perpetuals).
    Liquidation { min_qty: Qty },
    /// Open interest changes by at least `percent` % (either way) within `period`.
    OpenInterestChange { percent: Ratio, period: Duration },
    /// A venue's feed has been down for at least `after`.
    FeedDown { after: Duration },
    /// The store has been unavailable for at least `after`.
    StoreDown { after: Duration },
    /// A data gap (a hole in the data-quality log) opens.
    Gap,
}

impl Condition {
    /// The kind's name, as configured.
    pub const fn kind(&self) -> &'static str {
        match self {
            Condition::PriceCross(_) => "price_cross",
            Condition::Delta { .. } => "delta",
            Condition::Cvd { .. } => "cvd",
            Condition::StackedImbalance { .. } => "stacked_imbalance",
            Condition::Absorption { .. } => "absorption",
            Condition::LargeTrade { .. } => "large_trade",
            Condition::Liquidation { .. } => "liquidation",
            Condition::OpenInterestChange { .. } => "open_interest_change",
            Condition::FeedDown { .. } => "feed_down",
            Condition::StoreDown { .. } => "store_down",
            Condition::Gap => "gap",
        }
    }

    /// True for the conditions about the daemon's health rather than a market.
    pub const fn is_health(&self) -> bool {
        matches!(
            self,
            Condition::FeedDown { .. } | Condition::StoreDown { .. } | Condition::Gap
        )
    }
}

/// Every condition kind with the parameters it takes (the others are refused).
const KINDS: [(&str, &[&str]); 11] = [
    ("price_cross", &["level", "window", "band", "price"]),
    ("delta", &["period", "threshold"]),
    ("cvd", &["threshold"]),
    ("stacked_imbalance", &["period"]),
    ("absorption", &["period"]),
    ("large_trade", &["min_qty"]),
    ("liquidation", &["min_qty"]),
    ("open_interest_change", &["percent", "period"]),
    ("feed_down", &["after"]),
    ("store_down", &["after"]),
    ("gap", &[]),
];

/// A validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// The pairs it watches (empty for `store_down`).
    pub pairs: Vec<(Venue, Symbol)>,
    pub condition: Condition,
    pub cooldown: Duration,
    /// Destination names.
    pub destinations: Vec<String>,
}

/// The validated `[alerts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub queue_capacity: usize,
    pub concurrency: usize,
    pub timeout: Duration,
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub destinations: Vec<Destination>,
    pub rules: Vec<Rule>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 1_000,
            concurrency: 4,
            timeout: Duration::from_secs(5),
            attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            destinations: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// One configuration problem: the path of the value and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertProblem {
    pub path: String,
    pub message: String,
}

struct Problems(Vec<AlertProblem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(AlertProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, path: &str, text: &str, zero_ok: bool) -> Duration {
        match humantime::parse_duration(text.trim()) {
            Ok(d) if zero_ok || !d.is_zero() => d,
            Ok(_) => {
                self.add(path, "must be longer than zero");
                Duration::from_secs(1)
            }
            Err(err) => {
                self.add(
                    path,
                    format!("{text:?} is not a duration such as \"30s\" or \"15m\" ({err})"),
                );
                Duration::from_secs(1)
            }
        }
    }

    fn decimal<T: std::str::FromStr + Default>(&mut self, path: &str, text: &str) -> T {
        text.trim().parse::<T>().unwrap_or_else(|_| {
            self.add(
                path,
                format!("{text:?} is not an exact decimal such as \"12.5\""),
            );
            T::default()
        })
    }
}

/// Validates `[alerts]` against the collected `pairs` (venue, symbol).
pub fn validate(
    raw: &RawAlerts,
    pairs: &[(Venue, Symbol)],
) -> Result<AlertSettings, Vec<AlertProblem>> {
    let mut p = Problems(Vec::new());
    if raw.queue_capacity == 0 || raw.queue_capacity > 1_000_000 {
        p.add("alerts.queue_capacity", "must be between 1 and 1000000");
    }
    if raw.concurrency == 0 || raw.concurrency > 64 {
        p.add("alerts.concurrency", "must be between 1 and 64");
    }
    if raw.attempts == 0 || raw.attempts > 20 {
        p.add("alerts.attempts", "must be between 1 and 20");
    }
    let timeout = p.duration("alerts.timeout", &raw.timeout, false);
    let initial_backoff = p.duration("alerts.initial_backoff", &raw.initial_backoff, false);
    let max_backoff = p.duration("alerts.max_backoff", &raw.max_backoff, false);
    if max_backoff < initial_backoff {
        p.add(
            "alerts.max_backoff",
            "must be at least alerts.initial_backoff",
        );
    }
    let mut destinations = Vec::new();
    let mut names = BTreeSet::new();
    for (i, d) in raw.destinations.iter().enumerate() {
        let path = format!("alerts.destinations[{i}]");
        if d.name.trim().is_empty() {
            p.add(format!("{path}.name"), "must not be empty");
        } else if !names.insert(d.name.clone()) {
            p.add(
                format!("{path}.name"),
                format!("{:?} is used twice", d.name),
            );
        }
        let kind = match d.kind.as_str() {
            "webhook" => DestinationKind::Webhook,
            "telegram" => DestinationKind::Telegram,
            "discord" => DestinationKind::Discord,
            "slack" => DestinationKind::Slack,
            other => {
                p.add(
                    format!("{path}.kind"),
                    format!("{other:?} is not one of webhook, telegram, discord, slack"),
                );
                DestinationKind::Webhook
            }
        };
        // The URL is not echoed: chat services put their token in it.
        let url = match url::Url::parse(&d.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            _ => {
                p.add(format!("{path}.url"), "must be an http:// or https:// URL");
                None
            }
        };
        if kind == DestinationKind::Telegram && d.chat_id.as_deref().is_none_or(str::is_empty) {
            p.add(
                format!("{path}.chat_id"),
                "a telegram destination needs its chat_id",
            );
        }
        if kind != DestinationKind::Telegram && d.chat_id.is_some() {
            p.add(
                format!("{path}.chat_id"),
                "only telegram destinations take a chat_id",
            );
        }
        if d.secret.as_deref().is_some_and(str::is_empty) {
            p.add(
                format!("{path}.secret"),
                "must not be empty (leave it out for no signature)",
            );
        }
        if let Some(url) = url {
            destinations.push(Destination {
                name: d.name.clone(),
                kind,
                url,
                secret: d.secret.clone(),
                chat_id: d.chat_id.clone(),
            });
        }
    }
    let mut rules = Vec::new();
    let mut rule_names = BTreeSet::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let path = format!("alerts.rules[{i}]");
        if r.name.trim().is_empty() || r.name.len() > 64 {
            p.add(format!("{path}.name"), "must be 1 to 64 characters");
        } else if !rule_names.insert(r.name.clone()) {
            p.add(
                format!("{path}.name"),
                format!("{:?} is used twice", r.name),
            );
        }
        if let Some(rule) = rule(&mut p, &path, r, pairs, &names) {
            rules.push(rule);
        }
    }
    if p.0.is_empty() {
        Ok(AlertSettings {
            queue_capacity: raw.queue_capacity,
            concurrency: raw.concurrency,
            timeout,
            attempts: raw.attempts,
            initial_backoff,
            max_backoff,
            destinations,
            rules,
        })
    } else {
        Err(p.0)
    }
}

fn rule(
    p: &mut Problems,
    path: &str,
    r: &RawRule,
    pairs: &[(Venue, Symbol)],
    destinations: &BTreeSet<String>,
) -> Option<Rule> {
    let Some((kind, allowed)) = KINDS.iter().find(|(k, _)| *k == r.condition) else {
        p.add(
            format!("{path}.condition"),
            format!(
                "{:?} is not one of {}",
                r.condition,
                KINDS.map(|(k, _)| k).join(", ")
            ),
        );
        return None;
    };
    let given: [(&str, bool); 9] = [
        ("level", r.level.is_some()),
        ("window", r.window.is_some()),
        ("band", r.band.is_some()),
        ("price", r.price.is_some()),
        ("threshold", r.threshold.is_some()),
        ("period", r.period.is_some()),
        ("min_qty", r.min_qty.is_some()),
        ("percent", r.percent.is_some()),
        ("after", r.after.is_some()),
    ];
    for (name, present) in given {
        if present && !allowed.contains(&name) {
            p.add(
                format!("{path}.{name}"),
                format!("is not a parameter of condition {kind}"),
            );
        }
    }
    let need = |p: &mut Problems, name: &str, value: &Option<String>| -> Option<String> {
        if value.is_none() {
            p.add(
                format!("{path}.{name}"),
                format!("condition {kind} needs it"),
            );
        }
        value.clone()
    };
    let condition = (|| -> Option<Condition> {
        Some(match *kind {
            "price_cross" => Condition::PriceCross(level(p, path, r)?),
            "delta" => {
                let period = need(p, "period", &r.period)?;
                let period = match period.as_str() {
                    "1m" => DeltaPeriod::Bar(Timeframe::M1),
                    "5m" => DeltaPeriod::Bar(Timeframe::M5),
                    "15m" => DeltaPeriod::Bar(Timeframe::M15),
                    "1h" => DeltaPeriod::Rolling(Rolling::H1),
                    "4h" => DeltaPeriod::Rolling(Rolling::H4),
                    "24h" => DeltaPeriod::Rolling(Rolling::H24),
                    other => {
                        p.add(
                        format!("{path}.period"),
                        format!("{other:?} is not one of 1m, 5m, 15m (the developing bar), 1h, 4h, 24h (rolling)"),
                    );
                        return None;
                    }
                };
                let text = need(p, "threshold", &r.threshold)?;
                let threshold = threshold(p, path, text)?;
                Condition::Delta { period, threshold }
            }
            "cvd" => {
                let text = need(p, "threshold", &r.threshold)?;
                Condition::Cvd {
                    threshold: threshold(p, path, text)?,
                }
            }
            "stacked_imbalance" | "absorption" => {
                let period = match r.period.as_deref().unwrap_or("1m") {
                    "1m" => Timeframe::M1,
                    "5m" => Timeframe::M5,
                    "15m" => Timeframe::M15,
                    "1h" => Timeframe::H1,
                    other => {
                        p.add(
                            format!("{path}.period"),
                            format!("{other:?} is not one of 1m, 5m, 15m, 1h (the developing bar)"),
                        );
                        return None;
                    }
                };
                if *kind == "absorption" {
                    Condition::Absorption { period }
                } else {
                    Condition::StackedImbalance { period }
                }
            }
            "large_trade" | "liquidation" => {
                let text = need(p, "min_qty", &r.min_qty)?;
                let min_qty: Qty = p.decimal(&format!("{path}.min_qty"), &text);
                if !min_qty.is_positive() {
                    p.add(format!("{path}.min_qty"), "must be above zero");
                }
                if *kind == "liquidation" {
                    Condition::Liquidation { min_qty }
                } else {
                    Condition::LargeTrade { min_qty }
                }
            }
            "open_interest_change" => {
                let text = need(p, "percent", &r.percent)?;
                let percent: Ratio = p.decimal(&format!("{path}.percent"), &text);
                if !percent.is_positive() {
                    p.add(format!("{path}.percent"), "must be above zero");
                }
                let period = need(p, "period", &r.period)?;
                let period = p.duration(&format!("{path}.period"), &period, false);
                Condition::OpenInterestChange { percent, period }
            }
            "feed_down" | "store_down" => {
                let after = need(p, "after", &r.after)?;
                let after = p.duration(&format!("{path}.after"), &after, true);
                if *kind == "feed_down" {
                    Condition::FeedDown { after }
                } else {
                    Condition::StoreDown { after }
                }
            }
            _ => Condition::Gap,
        })
    })();
    let cooldown = p.duration(&format!("{path}.cooldown"), &r.cooldown, true);
    if r.destinations.is_empty() {
        p.add(
            format!("{path}.destinations"),
            "must name at least one destination",
        );
    }
    for name in &r.destinations {
        if !destinations.contains(name) {
            p.add(
                format!("{path}.destinations"),
                format!("{name:?} is not a configured destination"),
            );
        }
    }
    let rule_pairs = match *kind {
        "store_down" => {
            if !r.venues.is_empty() || !r.symbols.is_empty() {
                p.add(path.to_owned(), "store_down takes no venues or symbols");
            }
            Vec::new()
        }
        _ => resolve_pairs(p, path, r, pairs, *kind == "feed_down"),
    };
    if matches!(*kind, "liquidation" | "open_interest_change")
        && let Some((venue, _)) = rule_pairs.iter().find(|(v, _)| !v.is_derivative())
    {
        p.add(
            format!("{path}.venues"),
            format!(
                "{venue} is spot: condition {kind} needs a perpetual (binance-usdm, bybit-linear)"
            ),
        );
    }
    Some(Rule {
        name: r.name.clone(),
        pairs: rule_pairs,
        condition: condition?,
        cooldown,
        destinations: r.destinations.clone(),
    })
}

fn threshold(p: &mut Problems, path: &str, text: String) -> Option<Qty> {
    let Ok(value) = text.trim().parse::<Qty>() else {
        p.add(
            format!("{path}.threshold"),
            format!("{text:?} is not an exact decimal such as \"-25.5\""),
        );
        return None;
    };
    if value.is_zero() {
        p.add(
            format!("{path}.threshold"),
            "must not be zero: positive fires at or above it, negative at or below it",
        );
    }
    Some(value)
}

fn level(p: &mut Problems, path: &str, r: &RawRule) -> Option<Level> {
    let Some(level) = r.level.as_deref() else {
        p.add(
            format!("{path}.level"),
            "condition price_cross needs it: poc, vah, val, vwap, naked_poc or price",
        );
        return None;
    };
    let window = |p: &mut Problems| -> Option<LevelWindow> {
        Some(match r.window.as_deref().unwrap_or("24h") {
            "1h" => LevelWindow::Rolling(Rolling::H1),
            "4h" => LevelWindow::Rolling(Rolling::H4),
            "24h" => LevelWindow::Rolling(Rolling::H24),
            "session" => LevelWindow::Session,
            "previous_day" => LevelWindow::PreviousDay,
            other => {
                p.add(
                    format!("{path}.window"),
                    format!("{other:?} is not one of 1h, 4h, 24h, session, previous_day"),
                );
                return None;
            }
        })
    };
    let refuse = |p: &mut Problems, name: &str, present: bool| {
        if present {
            p.add(
                format!("{path}.{name}"),
                format!("is not used with level {level}"),
            );
        }
    };
    match level {
        "poc" | "vah" | "val" => {
            refuse(p, "band", r.band.is_some());
            refuse(p, "price", r.price.is_some());
            let line = match level {
                "poc" => Line::Poc,
                "vah" => Line::Vah,
                _ => Line::Val,
            };
            Some(Level::Profile {
                window: window(p)?,
                line,
            })
        }
        "vwap" => {
            refuse(p, "window", r.window.is_some());
            refuse(p, "price", r.price.is_some());
            let band = r.band.unwrap_or(0);
            if !(-3..=3).contains(&band) {
                p.add(format!("{path}.band"), "must be between -3 and 3");
            }
            Some(Level::Vwap { band })
        }
        "naked_poc" => {
            refuse(p, "window", r.window.is_some());
            refuse(p, "band", r.band.is_some());
            refuse(p, "price", r.price.is_some());
            Some(Level::NakedPoc)
        }
        "price" => {
            refuse(p, "window", r.window.is_some());
            refuse(p, "band", r.band.is_some());
            let Some(text) = &r.price else {
                p.add(format!("{path}.price"), "level price needs it");
                return None;
            };
            let price: Price = p.decimal(&format!("{path}.price"), text);
            if !price.is_positive() {
                p.add(format!("{path}.price"), "must be above zero");
            }
            Some(Level::Fixed(price))
        }
        other => {
            p.add(
                format!("{path}.level"),
                format!("{other:?} is not one of poc, vah, val, vwap, naked_poc, price"),
            );
            None
        }
    }
}

/// The pairs of a rule: its venues and symbols (`all` for every one collected), each
/// combination collected; a venue or symbol not collected is a problem.
fn resolve_pairs(
    p: &mut Problems,
    path: &str,
    r: &RawRule,
    pairs: &[(Venue, Symbol)],
    venue_level: bool,
) -> Vec<(Venue, Symbol)> {
    let all = |list: &[String]| list.len() == 1 && list[0] == "all";
    if r.venues.is_empty() {
        p.add(format!("{path}.venues"), "must name venues, or [\"all\"]");
    }
    let mut venues = Vec::new();
    if !all(&r.venues) {
        for name in &r.venues {
            match name.parse::<Venue>() {
                Ok(venue) if pairs.iter().any(|(v, _)| *v == venue) => venues.push(venue),
                Ok(venue) => p.add(format!("{path}.venues"), format!("{venue} is not enabled")),
                Err(_) => p.add(format!("{path}.venues"), format!("{name:?} is not a venue")),
            }
        }
    }
    if venue_level {
        if !r.symbols.is_empty() {
            p.add(
                format!("{path}.symbols"),
                "feed_down is about venues: leave symbols out",
            );
        }
        let mut chosen: Vec<(Venue, Symbol)> = Vec::new();
        for (venue, symbol) in pairs {
            if (all(&r.venues) || venues.contains(venue)) && !chosen.iter().any(|(v, _)| v == venue)
            {
                chosen.push((*venue, *symbol));
            }
        }
        return chosen;
    }
    if r.symbols.is_empty() {
        p.add(format!("{path}.symbols"), "must name symbols, or [\"all\"]");
    }
    let mut symbols = Vec::new();
    if !all(&r.symbols) {
        for name in &r.symbols {
            match Symbol::new(&name.to_ascii_uppercase()) {
                Ok(symbol) if pairs.iter().any(|(_, s)| *s == symbol) => symbols.push(symbol),
                _ => p.add(
                    format!("{path}.symbols"),
                    format!("{name:?} is not collected"),
                ),
            }
        }
    }
    pairs
        .iter()
        .copied()
        .filter(|(v, s)| {
            (all(&r.venues) || venues.contains(v)) && (all(&r.symbols) || symbols.contains(s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(Venue, Symbol)> {
        let s = |t: &str| Symbol::new(t).unwrap_or_else(|_| unreachable!());
        vec![
            (Venue::BinanceSpot, s("BTCUSDT")),
            (Venue::BinanceSpot, s("ETHUSDT")),
            (Venue::BybitLinear, s("BTCUSDT")),
        ]
    }

    fn parse(text: &str) -> RawAlerts {
        #[derive(Deserialize)]
        struct File {
            alerts: RawAlerts,
        }
        toml::from_str::<File>(text)
            .map(|f| f.alerts)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_good_file_gives_its_rules_on_the_collected_pairs() {
        let raw = parse(
            r#"
            [[alerts.destinations]]
            name = "ops"
            kind = "webhook"
            url = "http://127.0.0.1:9/hook"
            secret = "s3cret"
            [[alerts.rules]]
            name = "poc"
            venues = ["binance-spot"]
            symbols = ["all"]
            condition = "price_cross"
            level = "poc"
            window = "session"
            cooldown = "5m"
            destinations = ["ops"]
            [[alerts.rules]]
            name = "oi"
            venues = ["all"]
            symbols = ["btcusdt"]
            condition = "open_interest_change"
            percent = "2.5"
            period = "15m"
            destinations = ["ops"]
            "#,
        );
        let raw = RawAlerts {
            rules: raw
                .rules
                .into_iter()
                .map(|mut r| {
                    if r.name == "oi" {
                        r.venues = vec!["bybit-linear".into()];
                    }
                    r
                })
                .collect(),
            ..raw
        };
        let settings = validate(&raw, &pairs()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(settings.rules[0].pairs.len(), 2);
        assert_eq!(
            settings.rules[0].condition,
            Condition::PriceCross(Level::Profile {
                window: LevelWindow::Session,
                line: Line::Poc
            })
        );
        assert_eq!(settings.rules[0].cooldown, Duration::from_secs(300));
        assert_eq!(settings.rules[1].pairs.len(), 1);
        assert!(!format!("{:?}", settings.destinations).contains("s3cret"));
        assert!(!format!("{:?}", settings.destinations).contains("127.0.0.1"));
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let raw = parse(
            r#"
            [[alerts.destinations]]
            name = "tg"
            kind = "telegram"
            url = "not a url"
            [[alerts.rules]]
            name = "a"
            venues = ["binance-spot", "kraken"]
            symbols = ["DOGEUSDT"]
            condition = "delta"
            period = "2m"
            threshold = "0"
            level = "poc"
            destinations = ["nowhere"]
            [[alerts.rules]]
            name = "a"
            venues = ["binance-spot"]
            symbols = ["BTCUSDT"]
            condition = "liquidation"
            min_qty = "-1"
            cooldown = "soon"
            destinations = ["tg"]
            [[alerts.rules]]
            name = "c"
            condition = "teleport"
            destinations = ["tg"]
            "#,
        );
        let problems = validate(&raw, &pairs()).err().unwrap_or_default();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "alerts.destinations[0].url",
            "alerts.destinations[0].chat_id",
            "alerts.rules[0].level",
            "alerts.rules[0].period",
            "alerts.rules[1].name",
            "alerts.rules[1].min_qty",
            "alerts.rules[1].cooldown",
            "alerts.rules[1].venues",
            "alerts.rules[2].condition",
        ] {
            assert!(paths.contains(&expected), "{expected} in {problems:#?}");
        }
        assert!(
            !problems.iter().any(|p| p.message.contains("not a url")),
            "URLs are not echoed"
        );
    }
}
