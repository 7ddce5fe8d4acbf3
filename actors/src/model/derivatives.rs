//! Derivatives data of perpetual futures (issue #20): liquidations, and the mark price,
//! index price, funding and open interest a venue publishes.

use super::{Price, Qty, Ratio, Symbol, TimestampMs, UnixNanos, Venue};

/// The side of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionSide {
    /// A long position (closed by a sell order).
    Long,
    /// A short position (closed by a buy order).
    Short,
}

/// A position the venue's engine closed.
///
/// Binance USD-M `forceOrder` names the side of the liquidation *order* (`SELL` closes a
/// long) and pushes at most the largest liquidation per symbol each second; Bybit
/// `allLiquidation` names the side of the *position* (`Buy`: a long was liquidated) and
/// pushes all of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Liquidation {
    pub venue: Venue,
    pub symbol: Symbol,
    /// The position liquidated.
    pub position: PositionSide,
    /// Binance: the average fill price; Bybit: the bankruptcy price.
    pub price: Price,
    /// Size filled (base asset).
    pub qty: Qty,
    /// Venue time of the liquidation (ms).
    pub time: TimestampMs,
    pub received_at: UnixNanos,
}

/// Mark price, index price, funding and open interest of a perpetual, as a venue pushed
/// them. A field the message did not carry is `None` (Bybit's ticker deltas carry only
/// what changed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DerivativesTick {
    pub venue: Venue,
    pub symbol: Symbol,
    /// Venue time of the values (ms).
    pub time: TimestampMs,
    pub received_at: UnixNanos,
    /// True for a Bybit ticker snapshot (every field present), false for a delta; true for
    /// Binance (every message is whole).
    pub complete: bool,
    pub mark_price: Option<Price>,
    pub index_price: Option<Price>,
    /// Funding rate of the current interval (signed).
    pub funding_rate: Option<Ratio>,
    /// When the next funding is settled (ms).
    pub next_funding_time: Option<TimestampMs>,
    /// Open interest (base asset).
    pub open_interest: Option<Qty>,
}
