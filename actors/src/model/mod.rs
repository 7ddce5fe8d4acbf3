//! Plain data types shared by every actor: venues, symbols, exact decimals, trades, books,
//! candles and control messages. No I/O and no behaviour beyond parsing and formatting.
//!
//! Prices and quantities are exact fixed-point values ([`Price`], [`Qty`]); there is no
//! `f64` anywhere in this model.

mod book;
mod control;
pub mod decimal;
mod derivatives;
mod event;
mod instrument;
mod kline;
mod quality;
mod symbol;
mod time;
mod trade;
mod venue;

pub use book::{BookDelta, BookSnapshot, BookView, DeltaSequence, Level, SnapshotSequence};
pub use control::Control;
pub use decimal::{DecimalError, Price, Qty, Ratio};
pub use derivatives::{DerivativesTick, Liquidation, PositionSide};
pub use event::MarketEvent;
pub use instrument::InstrumentInfo;
pub use kline::{Kline, KlineInterval};
pub use quality::{DataQualityEvent, HoleState, QualityKind};
pub use symbol::{MAX_SYMBOL_LEN, Symbol, SymbolError};
pub use time::{TimestampMs, UnixNanos};
pub use trade::{FillRange, Side, Trade, TradeFlags, TradeId};
pub use venue::{Exchange, UnknownVenue, Venue};
