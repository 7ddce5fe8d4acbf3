//! The tools `wadm mcp` offers: their arguments (with the JSON schema a model reads), the API
//! request each one makes, and the units its answer is in.
//!
//! Arguments are checked here and a wrong one is a tool error the model can read and correct
//! (code `bad_parameter`, like the API's), not a protocol error: unknown argument names are
//! refused, times may be Unix milliseconds, UTC date-times or `now-6h`, decimals may be
//! strings or numbers. Everything else (bounds, row-size multiples, unknown symbols) the API
//! itself checks, and its refusals reach the model with the API's code and message.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::ApiRequest;

/// A wrong argument: the tool error `bad_parameter` naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct ArgError {
    /// The argument (or `arguments` for the object as a whole).
    pub parameter: String,
    /// What is wrong.
    pub message: String,
}

impl ArgError {
    fn new(parameter: &str, message: impl Into<String>) -> Self {
        Self {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

/// What every answer spanning time says of its coverage, for the tool descriptions.
macro_rules! coverage_note {
    () => {
        " Every answer has coverage: from/to is the window asked for, covered_from/covered_to \
         the part data covers, holes the known gaps inside it (kind trade_gap, downtime or \
         aggregator_restart, with their state), and complete is true only when the whole \
         window is covered with no open hole. When complete is false, say what the numbers \
         miss (e.g. \"covers only the last 3 h\" or \"missing 3 minutes at 14:02\")."
    };
}

const SYMBOL: &str = "Symbol as the exchanges write it, e.g. BTCUSDT (case-insensitive). \
    list_symbols names the collected ones.";
const VENUE: &str = "Exchange venue. Omit it for the first configured venue collecting the \
    symbol (the answer names the venue used).";
const ROW_SIZE: &str = "Price height of one profile row: a whole multiple of the symbol's \
    configured row size (list_symbols shows it), e.g. \"50\". Larger rows give fewer, coarser \
    rows. Default: the configured row size.";
const VALUE_AREA: &str = "Share of the volume inside the value area, above 0 and at most 1, \
    e.g. 0.7. Default: the configured share (0.7 unless changed).";
const FROM: &str = "Start of the time range, inclusive: Unix milliseconds, a UTC date-time \
    such as \"2026-11-21T14:00:00Z\" or \"2026-11-21\", or relative to now such as \"now-6h\".";
const TO: &str = "End of the time range, exclusive; same forms as from. Default: now.";
const LIMIT: &str = "How many items at most (1 to 1000); the newest items of the range are \
    returned, oldest first. Default: 100.";

/// Exchange venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VenueArg {
    /// Binance spot.
    BinanceSpot,
    /// Binance USD-M perpetual futures.
    BinanceUsdm,
    /// Bybit spot.
    BybitSpot,
    /// Bybit linear (USDT) perpetual futures.
    BybitLinear,
}

impl VenueArg {
    fn as_str(self) -> &'static str {
        match self {
            VenueArg::BinanceSpot => "binance-spot",
            VenueArg::BinanceUsdm => "binance-usdm",
            VenueArg::BybitSpot => "bybit-spot",
            VenueArg::BybitLinear => "bybit-linear",
        }
    }
}

/// One venue, several (comma-separated), or `all`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct VenuesArg(String);

impl JsonSchema for VenuesArg {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Venues".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "One venue (binance-spot, binance-usdm, bybit-spot, bybit-linear), several separated by commas to sum them (a composite), or \"all\" for every venue collecting the symbol. Default: the first venue collecting it.",
            "examples": ["binance-spot", "binance-spot,bybit-spot", "all"]
        })
    }
}

/// Window of a current volume profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProfileWindow {
    /// The last hour, rolling.
    #[serde(rename = "1h")]
    H1,
    /// The last 4 hours, rolling.
    #[serde(rename = "4h")]
    H4,
    /// The last 24 hours, rolling.
    #[serde(rename = "24h")]
    H24,
    /// Since the session start (the configured session anchor, UTC).
    #[serde(rename = "session")]
    Session,
    /// The developing 1-minute bar.
    #[serde(rename = "1m")]
    M1,
    /// The developing 5-minute bar.
    #[serde(rename = "5m")]
    M5,
    /// The developing 15-minute bar.
    #[serde(rename = "15m")]
    M15,
    /// The developing UTC day.
    #[serde(rename = "1d")]
    D1,
}

/// Timeframe of closed history bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Timeframe {
    /// 1-minute bars.
    #[serde(rename = "1m")]
    M1,
    /// 5-minute bars.
    #[serde(rename = "5m")]
    M5,
    /// 15-minute bars.
    #[serde(rename = "15m")]
    M15,
    /// 1-hour bars.
    #[serde(rename = "1h")]
    H1,
    /// 4-hour bars.
    #[serde(rename = "4h")]
    H4,
    /// UTC days.
    #[serde(rename = "1d")]
    D1,
}

/// Period of the developing order-flow bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FlowPeriod {
    /// The developing 1-minute bar.
    #[serde(rename = "1m")]
    M1,
    /// The developing 5-minute bar.
    #[serde(rename = "5m")]
    M5,
    /// The developing 15-minute bar.
    #[serde(rename = "15m")]
    M15,
    /// The developing 1-hour bar.
    #[serde(rename = "1h")]
    H1,
}

/// How much of the collector status to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    /// Health, feeds, persistence, and only the actors that are not running.
    #[default]
    Summary,
    /// Everything, including every actor of the tree.
    Full,
}

/// The text of an enum argument as the API spells it (its serde name).
fn wire<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        _ => String::new(),
    }
}

/// A point in time as a model may write it: Unix milliseconds, a UTC date-time, or
/// `now`/`now-<duration>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TimeArg {
    /// Unix milliseconds.
    Millis(i64),
    /// Text to parse.
    Text(String),
}

impl JsonSchema for TimeArg {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Time".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["integer", "string"],
            "examples": [1_795_300_000_000_i64, "2026-11-21T14:00:00Z", "now-6h"]
        })
    }
}

impl TimeArg {
    /// Unix milliseconds, relative forms taken against `now`.
    fn millis(&self, parameter: &str, now: SystemTime) -> Result<i64, ArgError> {
        let text = match self {
            TimeArg::Millis(ms) if *ms >= 0 => return Ok(*ms),
            TimeArg::Millis(ms) => {
                return Err(ArgError::new(parameter, format!("{ms} is before 1970")));
            }
            TimeArg::Text(text) => text.trim(),
        };
        let bad = |why: &str| {
            ArgError::new(
                parameter,
                format!(
                    "{text:?} {why}; write Unix milliseconds, a UTC date-time such as \
                     \"2026-11-21T14:00:00Z\", or \"now-6h\""
                ),
            )
        };
        let time = if let Ok(ms) = text.parse::<i64>() {
            return TimeArg::Millis(ms).millis(parameter, now);
        } else if text == "now" {
            now
        } else if let Some(ago) = text.strip_prefix("now-") {
            let ago = humantime::parse_duration(ago.trim()).map_err(|e| bad(&e.to_string()))?;
            now.checked_sub(ago).ok_or_else(|| bad("is before 1970"))?
        } else if text.len() == 10 {
            humantime::parse_rfc3339(&format!("{text}T00:00:00Z"))
                .map_err(|e| bad(&e.to_string()))?
        } else {
            humantime::parse_rfc3339_weak(text.trim_end_matches("+00:00"))
                .map_err(|e| bad(&e.to_string()))?
        };
        let ms = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| bad("is before 1970"))?
            .as_millis();
        i64::try_from(ms).map_err(|_| bad("is too far in the future"))
    }
}

/// A decimal as a model may write it: a string (exact) or a JSON number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DecimalArg {
    /// A decimal string, passed on as written.
    Text(String),
    /// A JSON number, passed on as its shortest text.
    Number(serde_json::Number),
}

impl JsonSchema for DecimalArg {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "number"],
            "examples": ["50", 0.7]
        })
    }
}

impl std::fmt::Display for DecimalArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecimalArg::Text(text) => f.write_str(text.trim()),
            DecimalArg::Number(number) => write!(f, "{number}"),
        }
    }
}

/// The symbol path segment: trimmed and upper-cased; an empty one is refused.
fn symbol_segment(symbol: &str) -> Result<String, ArgError> {
    let symbol = symbol.trim();
    if symbol.is_empty() {
        return Err(ArgError::new("symbol", "must not be empty"));
    }
    Ok(symbol.to_ascii_uppercase())
}

/// `from`/`to` in Unix milliseconds.
fn range(
    from: Option<&TimeArg>,
    to: Option<&TimeArg>,
    now: SystemTime,
) -> Result<(Option<i64>, Option<i64>), ArgError> {
    let from = from.map(|t| t.millis("from", now)).transpose()?;
    let to = to.map(|t| t.millis("to", now)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ArgError::new(
            "to",
            format!("{to} is not after from ({from})"),
        ));
    }
    Ok((from, to))
}

/// Arguments of `list_symbols` and other tools without any.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Arguments of `get_volume_profile`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeProfileArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    #[schemars(description = VENUE)]
    venue: Option<VenueArg>,
    /// Window: "1h", "4h" or "24h" roll back from now; "session" runs from the session
    /// start; "1m", "5m", "15m", "1d" are the developing (still open) bar. Default "24h".
    window: Option<ProfileWindow>,
    #[schemars(description = ROW_SIZE)]
    row_size: Option<DecimalArg>,
    #[schemars(description = VALUE_AREA)]
    value_area: Option<DecimalArg>,
}

/// Arguments of `get_volume_profile_history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeProfileHistoryArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    #[schemars(description = VENUE)]
    venue: Option<VenueArg>,
    /// Bar length. Default "1h".
    timeframe: Option<Timeframe>,
    #[schemars(description = FROM)]
    from: Option<TimeArg>,
    #[schemars(description = TO)]
    to: Option<TimeArg>,
    #[schemars(description = LIMIT, range(min = 1, max = 1000))]
    limit: Option<u32>,
    #[schemars(description = ROW_SIZE)]
    row_size: Option<DecimalArg>,
    #[schemars(description = VALUE_AREA)]
    value_area: Option<DecimalArg>,
}

/// Arguments of `get_order_flow`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderFlowArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    #[schemars(description = VENUE)]
    venue: Option<VenueArg>,
    /// Length of the developing (still open) bar whose order flow is returned. Default "5m".
    period: Option<FlowPeriod>,
    #[schemars(description = ROW_SIZE)]
    row_size: Option<DecimalArg>,
}

/// Arguments of `get_order_flow_history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderFlowHistoryArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    #[schemars(description = VENUE)]
    venue: Option<VenueArg>,
    /// Bar length. Default "1h".
    timeframe: Option<Timeframe>,
    #[schemars(description = FROM)]
    from: Option<TimeArg>,
    #[schemars(description = TO)]
    to: Option<TimeArg>,
    #[schemars(description = LIMIT, range(min = 1, max = 1000))]
    limit: Option<u32>,
    #[schemars(description = ROW_SIZE)]
    row_size: Option<DecimalArg>,
}

/// Arguments of `get_order_book`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBookArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    #[schemars(description = VENUE)]
    venue: Option<VenueArg>,
    /// Price levels per side, best first (1 to 100). Default 20.
    #[schemars(range(min = 1, max = 100))]
    depth: Option<u32>,
}

/// Arguments of `get_recent_trades`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TradesArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    #[schemars(description = VENUE)]
    venue: Option<VenueArg>,
    #[schemars(description = LIMIT, range(min = 1, max = 1000))]
    limit: Option<u32>,
    /// With from or to: raw trades of that range from the store (kept only when raw-trade
    /// persistence is on). Without: the latest trades held in memory. Same forms as in
    /// other tools.
    from: Option<TimeArg>,
    #[schemars(description = TO)]
    to: Option<TimeArg>,
}

/// Arguments of `get_klines`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KlinesArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    #[schemars(description = VENUE)]
    venue: Option<VenueArg>,
    #[schemars(description = FROM)]
    from: Option<TimeArg>,
    #[schemars(description = TO)]
    to: Option<TimeArg>,
    #[schemars(description = LIMIT, range(min = 1, max = 1000))]
    limit: Option<u32>,
}

/// Arguments of `get_data_gaps`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GapsArgs {
    /// Only events of this venue. Default: every venue.
    venue: Option<VenueArg>,
    /// Only events of this symbol (and venue-wide events). Default: every symbol.
    symbol: Option<String>,
    #[schemars(description = FROM)]
    from: Option<TimeArg>,
    #[schemars(description = TO)]
    to: Option<TimeArg>,
    #[schemars(description = LIMIT, range(min = 1, max = 1000))]
    limit: Option<u32>,
}

/// Arguments of `get_range_profile`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeProfileArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    venue: Option<VenuesArg>,
    #[schemars(description = RANGE_FROM)]
    from: TimeArg,
    #[schemars(description = RANGE_TO)]
    to: Option<TimeArg>,
    #[schemars(description = ROW_SIZE)]
    row_size: Option<DecimalArg>,
    #[schemars(description = VALUE_AREA)]
    value_area: Option<DecimalArg>,
}

/// Arguments of `get_range_order_flow`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeFlowArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    venue: Option<VenuesArg>,
    #[schemars(description = RANGE_FROM)]
    from: TimeArg,
    #[schemars(description = RANGE_TO)]
    to: Option<TimeArg>,
    #[schemars(description = ROW_SIZE)]
    row_size: Option<DecimalArg>,
}

const RANGE_FROM: &str = "Start of the range (required): Unix ms, a UTC date-time such as \
    \"2026-11-21T14:00:00Z\", a date \"2026-11-21\", or \"now-3d\". Rounded down to its minute.";
const RANGE_TO: &str = "End of the range, exclusive, in the same forms. Default: now (the open \
    minute's trades so far are in).";

/// Arguments of `get_session_levels`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    venue: Option<VenuesArg>,
    #[schemars(description = VALUE_AREA)]
    value_area: Option<DecimalArg>,
}

/// Arguments of `get_naked_pocs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NakedPocsArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    venue: Option<VenuesArg>,
    /// Days back to look for untested POCs (1 to 400). Default 20.
    #[schemars(range(min = 1, max = 400))]
    lookback_days: Option<u32>,
}

/// Arguments of `get_anchored_vwap`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchoredVwapArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    venue: Option<VenuesArg>,
    /// Where the VWAP starts (required): a swing low or high, an event, a session start.
    /// Unix ms, a UTC date-time, a date, or "now-6h".
    anchor: TimeArg,
    #[schemars(description = TO)]
    to: Option<TimeArg>,
}

/// Arguments of `get_market_context`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    venue: Option<VenuesArg>,
}

/// Arguments of `get_liquidations`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiquidationsArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    /// A perpetual venue (binance-usdm, bybit-linear), a comma-separated list, or "all"
    /// (every perpetual collecting the symbol, summed). Default: the first configured venue
    /// collecting the symbol.
    venue: Option<VenuesArg>,
    /// Start: Unix ms, a UTC date-time, a date, or "now-6h". Default: one hour before `to`.
    from: Option<TimeArg>,
    #[schemars(description = RANGE_TO)]
    to: Option<TimeArg>,
    #[schemars(description = ROW_SIZE)]
    row_size: Option<DecimalArg>,
    /// Events listed, the newest (1 to 1000). Default 100.
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<u32>,
}

/// Arguments of `get_derivatives`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivativesArgs {
    #[schemars(description = SYMBOL)]
    symbol: String,
    /// A perpetual venue: binance-usdm or bybit-linear. Default: the first configured venue
    /// collecting the symbol.
    venue: Option<VenueArg>,
    /// Start: Unix ms, a UTC date-time, a date, or "now-1d". Default: one hour before `to`.
    from: Option<TimeArg>,
    #[schemars(description = RANGE_TO)]
    to: Option<TimeArg>,
    /// Bar length of the series. Default "1m" for up to 2 hours, else "1h".
    timeframe: Option<Timeframe>,
    /// Bars listed, the newest (1 to 1000). Default 120.
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<u32>,
}

/// Arguments of `get_alerts`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsArgs {
    /// Only this rule's firings.
    rule: Option<String>,
    /// Only alerts about this venue.
    venue: Option<VenueArg>,
    /// Only alerts about this symbol.
    symbol: Option<String>,
    #[schemars(description = FROM)]
    from: Option<TimeArg>,
    #[schemars(description = TO)]
    to: Option<TimeArg>,
    #[schemars(description = LIMIT, range(min = 1, max = 1000))]
    limit: Option<u32>,
}

/// Arguments of `get_collector_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {
    /// "summary" (default): health, each venue's connections, subscriptions and books,
    /// persistence, and the actors that are not running. "full": also every actor.
    detail: Option<Detail>,
}

/// What a tool asks of the API.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// One GET; its answer is the tool's data.
    One(ApiRequest),
    /// `/health` and `/api/v1/status`, summarised or whole.
    Status(Detail),
}

/// The arguments of a tool.
pub trait ToolArgs: DeserializeOwned + JsonSchema + 'static {
    /// The API requests these arguments ask for.
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError>;
}

/// `api/v1/<route>/<symbol>` with `venue`.
fn symbol_route(
    route: &[&str],
    symbol: &str,
    venue: Option<VenueArg>,
) -> Result<ApiRequest, ArgError> {
    let mut segments = vec!["api", "v1"];
    segments.extend_from_slice(route);
    Ok(ApiRequest::new(&segments)
        .segment(&symbol_segment(symbol)?)
        .param("venue", venue.map(VenueArg::as_str)))
}

impl ToolArgs for NoArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::One(ApiRequest::new(&["api", "v1", "symbols"])))
    }
}

impl ToolArgs for VolumeProfileArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::One(
            symbol_route(&["volume-profile"], &self.symbol, self.venue)?
                .param("window", self.window.map(wire))
                .param("row_size", self.row_size)
                .param("value_area", self.value_area),
        ))
    }
}

impl ToolArgs for VolumeProfileHistoryArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        Ok(Plan::One(
            symbol_route(&["volume-profile"], &self.symbol, self.venue)?
                .segment("history")
                .param("timeframe", self.timeframe.map(wire))
                .param("from", from)
                .param("to", to)
                .param("limit", self.limit)
                .param("row_size", self.row_size)
                .param("value_area", self.value_area),
        ))
    }
}

impl ToolArgs for OrderFlowArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::One(
            symbol_route(&["order-flow", "current"], &self.symbol, self.venue)?
                .param("period", self.period.map(wire))
                .param("row_size", self.row_size),
        ))
    }
}

impl ToolArgs for OrderFlowHistoryArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        Ok(Plan::One(
            symbol_route(&["order-flow"], &self.symbol, self.venue)?
                .segment("history")
                .param("timeframe", self.timeframe.map(wire))
                .param("from", from)
                .param("to", to)
                .param("limit", self.limit)
                .param("row_size", self.row_size),
        ))
    }
}

impl ToolArgs for OrderBookArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::One(
            symbol_route(&["orderbook"], &self.symbol, self.venue)?.param("depth", self.depth),
        ))
    }
}

impl ToolArgs for TradesArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        Ok(Plan::One(
            symbol_route(&["trades"], &self.symbol, self.venue)?
                .param("limit", self.limit)
                .param("from", from)
                .param("to", to),
        ))
    }
}

impl ToolArgs for KlinesArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        Ok(Plan::One(
            symbol_route(&["klines"], &self.symbol, self.venue)?
                .param("from", from)
                .param("to", to)
                .param("limit", self.limit),
        ))
    }
}

impl ToolArgs for GapsArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        let symbol = self.symbol.as_deref().map(symbol_segment).transpose()?;
        Ok(Plan::One(
            ApiRequest::new(&["api", "v1", "gaps"])
                .param("venue", self.venue.map(VenueArg::as_str))
                .param("symbol", symbol)
                .param("from", from)
                .param("to", to)
                .param("limit", self.limit),
        ))
    }
}

/// `api/v1/<route>/<symbol>` with `venue` as one venue, a list or `all`.
fn venues_route(
    route: &[&str],
    symbol: &str,
    venue: Option<VenuesArg>,
) -> Result<ApiRequest, ArgError> {
    let mut segments = vec!["api", "v1"];
    segments.extend_from_slice(route);
    Ok(ApiRequest::new(&segments)
        .segment(&symbol_segment(symbol)?)
        .param("venue", venue.map(|v| v.0.trim().to_owned())))
}

/// A range tool's `from` and `to`.
fn from_to(
    from: &TimeArg,
    to: Option<&TimeArg>,
    now: SystemTime,
) -> Result<(i64, Option<i64>), ArgError> {
    let (from, to) = range(Some(from), to, now)?;
    Ok((from.unwrap_or(0), to))
}

impl ToolArgs for RangeProfileArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let args = self;
        let (from, to) = from_to(&args.from, args.to.as_ref(), now)?;
        Ok(Plan::One(
            venues_route(&["volume-profile"], &args.symbol, args.venue)?
                .param("from", Some(from))
                .param("to", to)
                .param("row_size", args.row_size)
                .param("value_area", args.value_area),
        ))
    }
}

impl ToolArgs for RangeFlowArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let args = self;
        let (from, to) = from_to(&args.from, args.to.as_ref(), now)?;
        Ok(Plan::One(
            venues_route(&["order-flow"], &args.symbol, args.venue)?
                .param("from", Some(from))
                .param("to", to)
                .param("row_size", args.row_size),
        ))
    }
}

impl ToolArgs for SessionsArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::One(
            venues_route(&["sessions"], &self.symbol, self.venue)?
                .param("value_area", self.value_area),
        ))
    }
}

impl ToolArgs for NakedPocsArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::One(
            venues_route(&["naked-pocs"], &self.symbol, self.venue)?
                .param("lookback_days", self.lookback_days),
        ))
    }
}

impl ToolArgs for AnchoredVwapArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (anchor, to) = range(Some(&self.anchor), self.to.as_ref(), now)?;
        Ok(Plan::One(
            venues_route(&["vwap"], &self.symbol, self.venue)?
                .param("anchor", anchor)
                .param("to", to),
        ))
    }
}

impl ToolArgs for ContextArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::One(venues_route(
            &["context"],
            &self.symbol,
            self.venue,
        )?))
    }
}

impl ToolArgs for LiquidationsArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        Ok(Plan::One(
            venues_route(&["liquidations"], &self.symbol, self.venue)?
                .param("from", from)
                .param("to", to)
                .param("row_size", self.row_size)
                .param("limit", self.limit),
        ))
    }
}

impl ToolArgs for DerivativesArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        Ok(Plan::One(
            symbol_route(&["derivatives"], &self.symbol, self.venue)?
                .param("from", from)
                .param("to", to)
                .param("timeframe", self.timeframe.map(wire))
                .param("limit", self.limit),
        ))
    }
}

impl ToolArgs for AlertsArgs {
    fn plan(self, now: SystemTime) -> Result<Plan, ArgError> {
        let (from, to) = range(self.from.as_ref(), self.to.as_ref(), now)?;
        let symbol = self.symbol.as_deref().map(symbol_segment).transpose()?;
        Ok(Plan::One(
            ApiRequest::new(&["api", "v1", "alerts"])
                .param("rule", self.rule)
                .param("venue", self.venue.map(VenueArg::as_str))
                .param("symbol", symbol)
                .param("from", from)
                .param("to", to)
                .param("limit", self.limit),
        ))
    }
}

impl ToolArgs for StatusArgs {
    fn plan(self, _: SystemTime) -> Result<Plan, ArgError> {
        Ok(Plan::Status(self.detail.unwrap_or_default()))
    }
}

/// Parses `arguments` as `A` and plans its requests.
fn plan_of<A: ToolArgs>(arguments: JsonObject, now: SystemTime) -> Result<Plan, ArgError> {
    let args: A = serde_json::from_value(Value::Object(arguments)).map_err(|err| {
        // serde names the field in its message ("unknown field `windows`, expected one of
        // ..."); the JSON path says where a nested value went wrong.
        ArgError::new("arguments", err.to_string())
    })?;
    args.plan(now)
}

/// Units of market data, stated in every market tool's answer.
fn market_units() -> Value {
    json!({
        "price": "quote currency per base unit (USDT for BTCUSDT), exact decimal string",
        "volume": "base asset (BTC for BTCUSDT), exact decimal string: qty, volume, bid, ask, buy_volume, sell_volume, delta, cvd",
        "delta": "aggressor buys minus aggressor sells; bid = sold into bids, ask = bought from asks",
        "time": "Unix ms, UTC (a trade's received_at: Unix ns)",
    })
}

/// Units of the collector status.
fn status_units() -> Value {
    json!({
        "time": "Unix epoch milliseconds, UTC (fields ending _at_ms, time)",
        "duration": "milliseconds (fields ending _ms), seconds (uptime_seconds)",
    })
}

/// One tool: its name, what the model reads about it, and how it runs.
#[derive(Debug, Clone, Copy)]
pub struct ToolDef {
    /// Tool name.
    pub name: &'static str,
    /// Short title.
    pub title: &'static str,
    /// What the model reads.
    pub description: &'static str,
    schema: fn() -> Result<Arc<JsonObject>, String>,
    plan: fn(JsonObject, SystemTime) -> Result<Plan, ArgError>,
    units: fn() -> Value,
}

impl ToolDef {
    const fn of<A: ToolArgs>(
        name: &'static str,
        title: &'static str,
        description: &'static str,
        units: fn() -> Value,
    ) -> Self {
        Self {
            name,
            title,
            description,
            schema: rmcp::handler::server::common::schema_for_input::<A>,
            plan: plan_of::<A>,
            units,
        }
    }

    /// The MCP tool: name, title, description, input schema, read-only annotations.
    pub fn tool(&self) -> Result<Tool, String> {
        let mut schema = (self.schema)()?;
        // Some clients want `properties` on every object schema, even an empty one.
        if !schema.contains_key("properties") {
            Arc::make_mut(&mut schema).insert("properties".into(), json!({}));
        }
        let annotations = ToolAnnotations::with_title(self.title)
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false);
        Ok(Tool::new(self.name, self.description, schema)
            .with_title(self.title)
            .with_annotations(annotations))
    }

    /// The requests `arguments` ask for.
    pub fn plan(&self, arguments: JsonObject, now: SystemTime) -> Result<Plan, ArgError> {
        (self.plan)(arguments, now)
    }

    /// The units this tool's data is in.
    pub fn units(&self) -> Value {
        (self.units)()
    }
}

/// Every tool, in the order they are listed.
pub const TOOLS: &[ToolDef] = &[
    ToolDef::of::<NoArgs>(
        "list_symbols",
        "List symbols and venues",
        "Lists every symbol WADM collects, with each venue collecting it (binance-spot, \
         binance-usdm, bybit-spot, bybit-linear), its profile row size, the time of its latest \
         trade and how many trades it has taken since the daemon started. Call this first to \
         learn which symbol and venue names the other tools accept.",
        market_units,
    ),
    ToolDef::of::<VolumeProfileArgs>(
        "get_volume_profile",
        "Current volume profile",
        concat!(
            "Volume profile of one symbol right now: traded volume per price row over a rolling \
         window (1h, 4h, 24h), the session, or the developing bar. Returns total, buy and sell \
         volume, trade count (a Binance aggregate trade counts every fill), high/low, POC (the row with the most volume), VAH/VAL (top and \
         bottom of the value area, the rows around the POC holding value_area of the volume) \
         and every row with its bid (sold) and ask (bought) volume and delta. params states \
         the row size and value area used. Use row_size to coarsen a long window.",
            coverage_note!()
        ),
        market_units,
    ),
    ToolDef::of::<VolumeProfileHistoryArgs>(
        "get_volume_profile_history",
        "Volume profile history",
        concat!(
            "Volume profiles of closed bars (1m to 1d) in a time range, oldest first: per bar its \
         start/end, volume, POC, VAH, VAL and rows. Answers hold the newest limit bars of \
         [from, to); page back by calling again with to set to the first bar's start. Bars \
         marked partial were closed early by a daemon stop.",
            coverage_note!()
        ),
        market_units,
    ),
    ToolDef::of::<OrderFlowArgs>(
        "get_order_flow",
        "Current order flow",
        concat!(
            "Order flow of the developing (still open) 1m, 5m, 15m or 1h bar of one symbol: delta \
         (aggressive buy minus sell volume), cumulative delta since the session start (cvd), \
         buy/sell volume, the footprint (bid/ask volume per price row), diagonal buy and sell \
         imbalances and stacked imbalances (price rows), absorption events, and large trades. \
         params states the imbalance ratio, stack length and absorption thresholds used.",
            coverage_note!()
        ),
        market_units,
    ),
    ToolDef::of::<OrderFlowHistoryArgs>(
        "get_order_flow_history",
        "Order flow history",
        concat!(
            "Order flow of closed bars (1m to 1d) in a time range, oldest first: per bar its \
         delta, cvd, buy/sell volume, footprint, imbalances, stacks and absorption. Answers \
         hold the newest limit bars of [from, to); page back with to set to the first bar's \
         start.",
            coverage_note!()
        ),
        market_units,
    ),
    ToolDef::of::<ContextArgs>(
        "get_market_context",
        "Market context (start here)",
        "The picture of one symbol in one compact call: the last price; the day's, previous \
         day's, week's and previous week's POC, VAH, VAL, high, low, CVD and VWAP, and where the \
         last price sits against each value area (above_value, inside_value, below_value) and \
         VWAP band (e.g. 1sd_to_2sd_below); each named session (asia, london, new_york) now \
         and last time; the three nearest untested (naked) POCs above and below with their \
         distance; per venue the last hour's delta, session CVD, stacked imbalances, \
         absorption and large trades (on perpetuals also derivatives_1h: longs and shorts \
         liquidated, open-interest change, and the latest mark, index, basis, funding and open \
         interest); and the data's coverage per venue (complete_24h, open holes, whether the \
         feed is up). Use venue=all for every venue summed. Ask the other \
         tools for detail.",
        market_units,
    ),
    ToolDef::of::<RangeProfileArgs>(
        "get_range_profile",
        "Volume profile of any range",
        concat!(
            "Volume profile of any time range (a trading range since Monday, the last 3 days, a \
         month), summed exactly from stored daily, hourly and minute bars and the live minutes: \
         POC, VAH, VAL, rows, VWAP with 1/2/3 standard-deviation bands, and high/low-volume \
         nodes (HVN/LVN, the rule stated). venue may list several venues or all to sum them on \
         one row grid (by_venue and by_market then compare spot with derivatives). \
         effective_from/effective_to say what the answer covers exactly (a start inside an \
         hour older than the kept minutes moves to the next whole hour; narrowed says so).",
            coverage_note!()
        ),
        market_units,
    ),
    ToolDef::of::<RangeFlowArgs>(
        "get_range_order_flow",
        "Order flow of any range",
        concat!(
            "Order flow of any time range, summed exactly like get_range_profile: delta (cvd is \
         the cumulative delta from the range's start), buy and sell volume, footprint, \
         imbalances, stacked imbalances and absorption. With several venues (or all), by_market \
         sets spot delta against derivatives delta and says whether they agree: divergence \
         between spot and perpetual buying is a classic Wyckoff tell.",
            coverage_note!()
        ),
        market_units,
    ),
    ToolDef::of::<SessionsArgs>(
        "get_session_levels",
        "Session, day and week levels",
        "For each named UTC session (asia, london, new_york by default) and the daily session: \
         the current instance (developing) and the previous one, plus this week and last week \
         (Monday 00:00 UTC): POC, VAH, VAL, high, low, volume, CVD (the session's cumulative \
         delta), VWAP with bands, and where the last price sits against them. Use it to answer \
         \"is price above yesterday's value area\" or \"did London sell into Asia's high\".",
        market_units,
    ),
    ToolDef::of::<NakedPocsArgs>(
        "get_naked_pocs",
        "Naked (untested) POCs",
        "Points of control of the sessions and days of the last lookback_days (default 20) that \
         price has not traded at since they formed, newest first: the session, when it formed, \
         its price and its distance from the last price (positive: above). Untested POCs act as \
         magnets and targets. The rule is stated in the answer.",
        market_units,
    ),
    ToolDef::of::<AnchoredVwapArgs>(
        "get_anchored_vwap",
        "Anchored VWAP with bands",
        "VWAP anchored at any moment (a swing low, a breakout, an event) up to now: the \
         volume-weighted average price with 1/2/3 standard-deviation bands, computed exactly \
         from the footprint (formula in rule), and where the last price sits against them. \
         Above an anchored VWAP from a low, buyers since then are in profit on average.",
        market_units,
    ),
    ToolDef::of::<LiquidationsArgs>(
        "get_liquidations",
        "Liquidations (perpetuals)",
        concat!(
            "Forced closes of leveraged positions on a perpetual over a range (default: the last \
         hour): longs_liquidated (longs closed by sell orders: capitulation of buyers, often \
         at selling climaxes and springs) and shorts_liquidated (short squeezes, often at \
         buying climaxes and upthrusts), each as size and count; the same per price row \
         (rows, largest_rows: where the cascades hit); and the events. Binance sends at most \
         the largest liquidation per symbol each second, so its sums are a lower bound \
         (sampling says so). venue=all sums the perpetuals.",
            coverage_note!()
        ),
        market_units,
    ),
    ToolDef::of::<DerivativesArgs>(
        "get_derivatives",
        "Open interest, funding, mark and index",
        "Positioning on a perpetual over a range (default: the last hour), per bar: open \
         interest open/high/low/close and change (rising open interest with price = new \
         positions behind the move; falling = positions closing, a move that may exhaust), \
         funding rate (positive: longs pay shorts, crowded longs), mark and index price and \
         basis (mark - index: premium of the perpetual over spot), and liquidations; the \
         summary of the span, the fundings settled in it, and the latest values. Binance \
         open interest is polled (every 10 s by default), Bybit's is pushed.",
        market_units,
    ),
    ToolDef::of::<OrderBookArgs>(
        "get_order_book",
        "Order book",
        "The live order book of one symbol: best bid, best ask, spread, and depth price levels \
         per side (bids highest first, asks lowest first) with their quantities, plus the \
         venue's update id, event time and the book's age in milliseconds.",
        market_units,
    ),
    ToolDef::of::<TradesArgs>(
        "get_recent_trades",
        "Recent trades",
        "Individual trades of one symbol, oldest first: id, price, qty, aggressor side (buy = \
         the buyer took the ask), trade time. Without from/to: the latest trades held in \
         memory (source live); with from/to: trades of that range from the store (source \
         store), which holds them only when raw-trade persistence is on.",
        market_units,
    ),
    ToolDef::of::<KlinesArgs>(
        "get_klines",
        "Klines (candles)",
        "The venue's own closed 1-minute candles of one symbol from the store, oldest first: \
         open_time, close_time, open, high, low, close, volume (base asset), quote_volume, and \
         on Binance taker_buy_volume and trade_count, as the exchange reported them. WADM \
         cross-checks them against its own bars.",
        market_units,
    ),
    ToolDef::of::<GapsArgs>(
        "get_data_gaps",
        "Data-quality gaps",
        "Data-quality events from the store, oldest first: trade gaps (the missing id range \
         on Binance; on Bybit the time range in which trades may be missing), book resyncs, \
         reconnects, rejected frames, drops, aggregator restarts, downtime (the daemon was \
         stopped). Holes carry a state: open, repairing, repaired or unrepairable. Profile \
         and order-flow answers already list the holes of their window in coverage.",
        market_units,
    ),
    ToolDef::of::<AlertsArgs>(
        "get_alerts",
        "Alert log",
        "The alerts the operator's rules fired, oldest first: the rule, its condition (a price \
         crossing a POC, VAH, VAL, VWAP band or naked POC; delta or CVD beyond a threshold; a \
         stacked imbalance or absorption forming; a large trade or liquidation; an open \
         interest move; a feed or the store down; a data gap), the pair, when, the values \
         that fired it, a one-line summary, and per destination whether it was delivered. \
         Useful to see what happened while nobody was looking.",
        status_units,
    ),
    ToolDef::of::<StatusArgs>(
        "get_collector_status",
        "Collector status",
        "Is WADM collecting? Returns /health (ok, degraded or down, with reasons, per feed and \
         for the store) and the collector status: per venue its socket endpoints (state, \
         reconnects, last frame age), subscriptions and order books; persistence (buffered, \
         written, dropped); per aggregator how it started (warm from the store, or cold) and \
         whether its 24 h window is complete; and the actors that are not running. detail=full adds every \
         actor of the supervision tree.",
        status_units,
    ),
];

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    TOOLS.iter().find(|tool| tool.name == name)
}

/// Per aggregator: how it started and whether its rolling 24 h window is complete.
fn summarise_aggregators(aggregators: Option<&Value>) -> Value {
    let list = aggregators
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|a| {
                    json!({
                        "venue": a.get("venue"),
                        "symbol": a.get("symbol"),
                        "warm_start": a.pointer("/warm_start/outcome"),
                        "covered_from": a.pointer("/coverage_24h/covered_from"),
                        "complete_24h": a.pointer("/coverage_24h/complete"),
                        "holes_24h": a
                            .pointer("/coverage_24h/holes")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len),
                    })
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Value::Array(list)
}

/// The status data: health and status, summarised for `Detail::Summary`.
pub fn status_data(detail: Detail, health: Value, status: Value) -> Value {
    match detail {
        Detail::Full => json!({ "health": health, "status": status }),
        Detail::Summary => {
            let actors = status
                .get("actors")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let not_running: Vec<Value> = actors
                .iter()
                .filter(|a| a.get("state").and_then(Value::as_str) != Some("running"))
                .cloned()
                .collect();
            json!({
                "health": health,
                "time": status.get("time"),
                "venues": status.get("venues"),
                "persistence": status.get("persistence"),
                "aggregators": summarise_aggregators(status.get("aggregators")),
                "actors": {
                    "total": actors.len(),
                    "running": actors.len() - not_running.len(),
                    "not_running": not_running,
                },
            })
        }
    }
}

/// `now` for relative times (a clock before 1970 counts as 1970).
pub fn now() -> SystemTime {
    SystemTime::now().max(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(duration: Duration) -> i64 {
        i64::try_from(duration.as_millis()).unwrap()
    }

    fn args(value: Value) -> JsonObject {
        match value {
            Value::Object(object) => object,
            other => panic!("not an object: {other}"),
        }
    }

    fn request(tool: &str, arguments: Value) -> String {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_300_000);
        match find(tool).unwrap().plan(args(arguments), now).unwrap() {
            Plan::One(request) => request.describe(),
            Plan::Status(detail) => format!("status {detail:?}"),
        }
    }

    fn refused(tool: &str, arguments: Value) -> ArgError {
        find(tool)
            .unwrap()
            .plan(args(arguments), now())
            .unwrap_err()
    }

    #[test]
    fn every_tool_has_an_object_schema_that_refuses_unknown_arguments() {
        assert_eq!(TOOLS.len(), 19);
        for def in TOOLS {
            let tool = def.tool().unwrap();
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                def.name
            );
            assert!(tool.input_schema["properties"].is_object(), "{}", def.name);
            assert_eq!(
                tool.input_schema.get("additionalProperties"),
                Some(&json!(false)),
                "{}",
                def.name
            );
            assert!(def.description.len() > 100, "{} is described", def.name);
            let annotations = tool.annotations.unwrap();
            assert_eq!(annotations.read_only_hint, Some(true));
        }
        let schema = find("get_volume_profile")
            .unwrap()
            .tool()
            .unwrap()
            .input_schema;
        assert_eq!(schema["required"], json!(["symbol"]));
        let window = serde_json::to_string(&schema["$defs"]["ProfileWindow"]).unwrap();
        for name in ["1h", "4h", "24h", "session", "1m", "5m", "15m", "1d"] {
            assert!(window.contains(&format!("\"{name}\"")), "{window}");
        }
        assert!(
            schema["properties"]["symbol"]["description"]
                .as_str()
                .unwrap()
                .contains("BTCUSDT")
        );
    }

    #[test]
    fn range_and_level_tools_ask_their_routes() {
        let now_ms = 1_795_300_000_000_i64; // the clock of `request`
        assert_eq!(
            request(
                "get_range_profile",
                json!({"symbol": "btcusdt", "venue": "all", "from": "2026-11-21T00:00:00Z",
                       "to": 1_795_800_000_000_i64, "row_size": "50"})
            ),
            "GET /api/v1/volume-profile/BTCUSDT?venue=all&from=1795219200000&to=1795800000000&row_size=50"
        );
        let three_days = now_ms - 3 * 86_400_000;
        assert_eq!(
            request(
                "get_range_order_flow",
                json!({"symbol": "ETHUSDT", "venue": "binance-spot,bybit-spot", "from": "now-3d"})
            ),
            format!(
                "GET /api/v1/order-flow/ETHUSDT?venue=binance-spot%2Cbybit-spot&from={three_days}"
            )
        );
        assert_eq!(
            request(
                "get_naked_pocs",
                json!({"symbol": "BTCUSDT", "lookback_days": 7})
            ),
            "GET /api/v1/naked-pocs/BTCUSDT?lookback_days=7"
        );
        assert_eq!(
            request(
                "get_anchored_vwap",
                json!({"symbol": "BTCUSDT", "anchor": 1_795_737_600_000_i64})
            ),
            "GET /api/v1/vwap/BTCUSDT?anchor=1795737600000"
        );
        assert_eq!(
            request("get_market_context", json!({"symbol": "BTCUSDT"})),
            "GET /api/v1/context/BTCUSDT"
        );
        assert_eq!(
            request(
                "get_session_levels",
                json!({"symbol": "BTCUSDT", "value_area": "0.8"})
            ),
            "GET /api/v1/sessions/BTCUSDT?value_area=0.8"
        );
        // A range needs its start; order flow has no value area.
        assert_eq!(
            refused("get_range_profile", json!({"symbol": "BTCUSDT"})).parameter,
            "arguments"
        );
        assert_eq!(
            refused(
                "get_range_order_flow",
                json!({"symbol": "BTCUSDT", "from": 0, "value_area": "0.7"})
            )
            .parameter,
            "arguments"
        );
        assert_eq!(
            refused("get_anchored_vwap", json!({"symbol": "BTCUSDT"})).parameter,
            "arguments"
        );
    }

    #[test]
    fn arguments_become_the_api_request() {
        assert_eq!(request("list_symbols", json!({})), "GET /api/v1/symbols");
        assert_eq!(
            request(
                "get_volume_profile",
                json!({"symbol": " btcusdt", "venue": "bybit-linear", "window": "session",
                       "row_size": "50", "value_area": 0.68})
            ),
            "GET /api/v1/volume-profile/BTCUSDT?venue=bybit-linear&window=session&row_size=50&value_area=0.68"
        );
        assert_eq!(
            request(
                "get_volume_profile_history",
                json!({"symbol": "ETHUSDT", "timeframe": "4h", "from": "2026-11-21",
                       "to": "now-1h", "limit": 5})
            ),
            format!(
                "GET /api/v1/volume-profile/ETHUSDT/history?timeframe=4h&from=1795219200000&to={}&limit=5",
                1_795_300_000_000_i64 - 3_600_000
            )
        );
        assert_eq!(
            request(
                "get_order_flow",
                json!({"symbol": "SOLUSDT", "period": "1h"})
            ),
            "GET /api/v1/order-flow/current/SOLUSDT?period=1h"
        );
        assert_eq!(
            request(
                "get_order_flow_history",
                json!({"symbol": "SOLUSDT", "from": 1_000, "to": "2026-11-21T10:30:00Z"})
            ),
            "GET /api/v1/order-flow/SOLUSDT/history?from=1000&to=1795257000000"
        );
        assert_eq!(
            request("get_order_book", json!({"symbol": "BTCUSDT", "depth": 5})),
            "GET /api/v1/orderbook/BTCUSDT?depth=5"
        );
        assert_eq!(
            request(
                "get_recent_trades",
                json!({"symbol": "BTCUSDT", "from": "now-90s"})
            ),
            format!(
                "GET /api/v1/trades/BTCUSDT?from={}",
                1_795_300_000_000_i64 - ms(Duration::from_secs(90))
            )
        );
        assert_eq!(
            request("get_klines", json!({"symbol": "BTCUSDT", "limit": 3})),
            "GET /api/v1/klines/BTCUSDT?limit=3"
        );
        assert_eq!(
            request(
                "get_data_gaps",
                json!({"venue": "binance-spot", "symbol": "ethusdt"})
            ),
            "GET /api/v1/gaps?venue=binance-spot&symbol=ETHUSDT"
        );
        assert_eq!(request("get_collector_status", json!({})), "status Summary");
        assert_eq!(
            request("get_collector_status", json!({"detail": "full"})),
            "status Full"
        );
    }

    #[test]
    fn wrong_arguments_are_named() {
        let err = refused(
            "get_volume_profile",
            json!({"symbol": "BTCUSDT", "windows": "1h"}),
        );
        assert_eq!(err.parameter, "arguments");
        assert!(err.message.contains("unknown field `windows`"), "{err}");
        let err = refused("get_volume_profile", json!({"venue": "binance-spot"}));
        assert!(err.message.contains("missing field `symbol`"), "{err}");
        let err = refused(
            "get_volume_profile",
            json!({"symbol": "BTCUSDT", "window": "2h"}),
        );
        assert!(err.message.contains("2h"), "{err}");
        let err = refused("get_order_book", json!({"symbol": "  "}));
        assert_eq!(err.parameter, "symbol");
        let err = refused(
            "get_klines",
            json!({"symbol": "BTCUSDT", "from": "yesterday"}),
        );
        assert_eq!(err.parameter, "from");
        assert!(err.message.contains("now-6h"), "{err}");
        let err = refused("get_klines", json!({"symbol": "BTCUSDT", "from": -5}));
        assert!(err.message.contains("before 1970"), "{err}");
        let err = refused("get_data_gaps", json!({"from": "now-1h", "to": "now-2h"}));
        assert_eq!(err.parameter, "to");
        let err = refused("get_collector_status", json!({"detail": "everything"}));
        assert!(err.message.contains("everything"), "{err}");
    }

    #[test]
    fn the_summary_keeps_what_is_not_running() {
        let status = json!({
            "time": 5,
            "actors": [
                {"key": "a", "state": "running"},
                {"key": "b", "state": "restarting"},
            ],
            "venues": [{"venue": "binance-spot"}],
            "persistence": {"dropped": {}},
            "aggregators": [{
                "venue": "binance-spot", "symbol": "BTCUSDT", "generation": 1,
                "warm_start": {"outcome": "warm", "bars": 1440},
                "coverage_24h": {"covered_from": 7, "complete": false, "holes": [{"kind": "downtime"}]},
            }],
            "api": {"requests": 1},
        });
        let health = json!({"status": "degraded"});
        let summary = status_data(Detail::Summary, health.clone(), status.clone());
        assert_eq!(
            summary,
            json!({
                "health": health,
                "time": 5,
                "venues": [{"venue": "binance-spot"}],
                "persistence": {"dropped": {}},
                "aggregators": [{
                    "venue": "binance-spot", "symbol": "BTCUSDT", "warm_start": "warm",
                    "covered_from": 7, "complete_24h": false, "holes_24h": 1,
                }],
                "actors": {"total": 2, "running": 1, "not_running": [{"key": "b", "state": "restarting"}]},
            })
        );
        assert_eq!(
            status_data(Detail::Full, health.clone(), status.clone()),
            json!({"health": health, "status": status})
        );
    }
}
