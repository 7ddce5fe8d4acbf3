//! `wadm profile`: the volume profile and order flow of a trades file, offline, with exactly
//! the maths the daemon uses.
//!
//! Input: JSON lines, one trade per line,
//! `{"ts": <ms>, "price": "<decimal>", "qty": "<decimal>", "side": "buy"|"sell"}`
//! (`side` is the aggressor). Blank lines are ignored; any other line that is not such a
//! trade (malformed JSON, a missing or unknown field, a float, a price or size of zero or
//! below, a negative time) is reported with its line number, and nothing is printed.
//! Trades may come in any order.
//!
//! Output: one JSON document: the parameters, then each window with trades, oldest first
//! (see [`WindowReport`]). Windows are epoch-aligned UTC, half-open; `all` is one window from
//! the first trade to just after the last. A window's `cvd` is the cumulative delta from the
//! session start (`--session-anchor`, UTC midnight by default) before its last trade through
//! its end.
//!
//! Trades are folded into 1-minute bars as they are read, and windows are sums of those bars,
//! so memory grows with the minutes and rows traded, not with the number of trades.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};
use wadm_actors::aggregator::order_flow::{ImbalanceParams, SessionAnchor};
use wadm_actors::aggregator::{Bar, RowGrid, Timeframe, WindowReport};
use wadm_actors::connection::MAX_MARKET_VALUE;
use wadm_actors::model::{
    Price, Qty, Ratio, Side, Symbol, TimestampMs, Trade, TradeFlags, TradeId, UnixNanos, Venue,
};

/// How many bad lines are listed before the rest are only counted.
pub const MAX_LISTED_ERRORS: usize = 50;

/// The window of `wadm profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Window {
    /// Epoch-aligned bars of one timeframe.
    Bars(Timeframe),
    /// One window over every trade.
    All,
}

impl From<Window> for String {
    fn from(window: Window) -> String {
        match window {
            Window::Bars(timeframe) => timeframe.as_str().to_owned(),
            Window::All => "all".to_owned(),
        }
    }
}

impl std::str::FromStr for Window {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "all" => Ok(Window::All),
            _ => text
                .parse::<Timeframe>()
                .map(Window::Bars)
                .map_err(|_| format!("{text:?} is not one of 1m, 5m, 15m, 1h, 4h, 1d, all")),
        }
    }
}

/// The parameters of a run, printed with its result.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProfileOptions {
    /// Row height.
    pub row_size: Price,
    /// Value-area share.
    pub value_area: Ratio,
    pub window: Window,
    /// Diagonal imbalance ratio.
    pub imbalance_ratio: Ratio,
    /// Volume the dominant side of an imbalance must reach.
    pub imbalance_min_volume: Qty,
    /// Rows in a stacked imbalance.
    pub stack: usize,
    /// Session start (UTC time of day) for cumulative delta.
    #[serde(serialize_with = "display")]
    pub session_anchor: SessionAnchor,
}

fn display<S: serde::Serializer>(value: &SessionAnchor, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The document `wadm profile` prints.
#[derive(Debug, Serialize)]
pub struct ProfileOutput {
    /// The parameters used.
    pub parameters: ProfileOptions,
    /// Windows with trades, oldest first.
    pub windows: Vec<WindowReport>,
}

/// One bad input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a profile could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The row size is not above zero.
    #[error("the row size must be above zero, not {0}")]
    RowSize(Price),
    /// The input could not be read.
    #[error("cannot read the input: {0}")]
    Read(#[from] std::io::Error),
    /// Some lines are not trades.
    #[error("{total} bad line{s} in the input", s = if *.total == 1 { "" } else { "s" })]
    BadLines {
        /// The first [`MAX_LISTED_ERRORS`] of them.
        listed: Vec<LineError>,
        /// How many there are.
        total: u64,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TradeLine {
    ts: i64,
    price: Price,
    qty: Qty,
    side: Side,
}

/// Parses one line into a trade.
fn parse_line(text: &str, line: u64) -> Result<Trade, String> {
    let parsed: TradeLine = serde_json::from_str(text).map_err(|err| {
        // serde_json appends " at line 1 column N"; the column is the useful part.
        let message = err.to_string();
        let message = match message.rsplit_once(" at line 1 column ") {
            Some((what, column)) => format!("{what} (column {column})"),
            None => message,
        };
        if err.is_syntax() || err.is_eof() {
            format!("not valid JSON: {message}")
        } else {
            message
        }
    })?;
    let max = Qty::from_int(MAX_MARKET_VALUE).units();
    if !TimestampMs(parsed.ts).is_plausible() {
        return Err(format!(
            "ts must be milliseconds between 0 and {} (year 9999), not {}",
            TimestampMs::MAX_PLAUSIBLE,
            parsed.ts
        ));
    }
    if !parsed.price.is_positive() || parsed.price.units() > max {
        return Err(format!(
            "price must be above 0 and at most 10^14, not {}",
            parsed.price
        ));
    }
    if !parsed.qty.is_positive() || parsed.qty.units() > max {
        return Err(format!(
            "qty must be above 0 and at most 10^14, not {}",
            parsed.qty
        ));
    }
    Ok(Trade {
        venue: Venue::BinanceSpot,
        symbol: Symbol::new("FILE").map_err(|err| err.to_string())?,
        id: TradeId::Number(line),
        price: parsed.price,
        qty: parsed.qty,
        side: parsed.side,
        trade_time: TimestampMs(parsed.ts),
        event_time: TimestampMs(parsed.ts),
        received_at: UnixNanos(0),
        flags: TradeFlags::NONE,
        sequence: None,
        fills: None,
    })
}

/// Computes the profile of the trades read from `input`.
pub fn profile(
    input: impl BufRead,
    options: &ProfileOptions,
) -> Result<ProfileOutput, ProfileError> {
    let grid = RowGrid::new(options.row_size).ok_or(ProfileError::RowSize(options.row_size))?;
    let mut minutes: BTreeMap<i64, Bar> = BTreeMap::new();
    let mut listed = Vec::new();
    let mut total_errors = 0u64;
    for (index, line) in input.lines().enumerate() {
        let line_number = index as u64 + 1;
        let text = line?;
        if text.trim().is_empty() {
            continue;
        }
        match parse_line(&text, line_number) {
            Ok(trade) => {
                let time = trade.trade_time.as_millis();
                minutes
                    .entry(Timeframe::M1.start_of(time))
                    .or_insert_with(|| Bar::of(Timeframe::M1, time))
                    .add(&grid, &trade);
            }
            Err(message) => {
                total_errors += 1;
                if listed.len() < MAX_LISTED_ERRORS {
                    listed.push(LineError {
                        line: line_number,
                        message,
                    });
                }
            }
        }
    }
    if total_errors > 0 {
        return Err(ProfileError::BadLines {
            listed,
            total: total_errors,
        });
    }
    Ok(ProfileOutput {
        parameters: *options,
        windows: windows(&minutes, &grid, options),
    })
}

fn windows(
    minutes: &BTreeMap<i64, Bar>,
    grid: &RowGrid,
    options: &ProfileOptions,
) -> Vec<WindowReport> {
    let mut bars: Vec<Bar> = Vec::new();
    for minute in minutes.values() {
        let start = match options.window {
            Window::Bars(timeframe) => timeframe.start_of(minute.start),
            Window::All => i64::MIN,
        };
        match bars.last_mut() {
            Some(bar) if bar.start == start || options.window == Window::All => bar.merge(minute),
            _ => {
                let mut bar = match options.window {
                    Window::Bars(timeframe) => Bar::of(timeframe, start),
                    Window::All => Bar::new(minute.start, minute.end),
                };
                bar.merge(minute);
                bars.push(bar);
            }
        }
    }
    if options.window == Window::All
        && let Some(bar) = bars.last_mut()
        && let (Some(open), Some(close)) = (bar.open, bar.close)
    {
        bar.start = open.time;
        bar.end = close.time + 1;
    }
    let imbalance = ImbalanceParams {
        ratio: options.imbalance_ratio,
        min_volume: options.imbalance_min_volume,
        stack: options.stack,
    };
    bars.iter()
        .map(|bar| {
            let last_trade = bar.close.map_or(bar.start, |close| close.time);
            let session = options.session_anchor.session_start(last_trade);
            let cvd: Qty = minutes
                .range(session..bar.end)
                .map(|(_, m)| m.delta())
                .sum();
            WindowReport::of(bar, grid, options.value_area, &imbalance, cvd)
        })
        .collect()
}
