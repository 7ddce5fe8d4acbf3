//! Instrument metadata from a venue's REST instrument endpoint.

use super::{Price, Qty, Symbol, Venue};

/// Tick and lot size of one instrument on one venue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstrumentInfo {
    pub venue: Venue,
    /// Instrument.
    pub symbol: Symbol,
    /// Price increment.
    pub tick_size: Price,
    /// Quantity increment.
    pub lot_size: Qty,
    /// True if the venue reports the instrument as trading.
    pub trading: bool,
}
