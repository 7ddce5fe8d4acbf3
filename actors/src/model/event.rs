//! The normalized event a venue parser produces from one WebSocket frame.

use super::{BookDelta, BookSnapshot, Control, DerivativesTick, Kline, Liquidation, Trade};

/// Everything one frame can carry, after parsing and normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketEvent {
    /// One or more trades of one (venue, symbol), in venue order. Binance sends one per
    /// frame; Bybit up to 1024.
    Trades(Vec<Trade>),
    /// A book snapshot (Bybit snapshot message, Binance partial depth).
    BookSnapshot(BookSnapshot),
    /// A book delta.
    BookDelta(BookDelta),
    /// Candles of one (venue, symbol).
    Klines(Vec<Kline>),
    /// Liquidations of one (venue, symbol) (Bybit pushes several at once).
    Liquidations(Vec<Liquidation>),
    /// Mark, index, funding and open interest of one (venue, symbol).
    Derivatives(DerivativesTick),
    /// A control message.
    Control(Control),
}
