//! Messages of the aggregator actor.

use std::sync::Arc;

use ractor::RpcReplyPort;

use crate::model::{
    BookView, DerivativesTick, InstrumentInfo, Kline, Liquidation, Qty, Trade, TradeId,
};

/// Messages handled by [`super::AggregatorActor`].
#[derive(Debug)]
pub enum AggregatorMsg {
    /// Trades of this (venue, symbol), in venue order.
    Trades(Vec<Trade>),
    /// Trades of the past fetched from the venue (repair, backfill), answered with what
    /// became of them.
    PastTrades(Vec<Trade>, RpcReplyPort<super::aggregation::PastOutcome>),
    /// The latest top of the local book.
    Book(Arc<BookView>),
    /// Venue candles.
    Klines(Vec<Kline>),
    /// Liquidations (derivatives venues).
    Liquidations(Vec<Liquidation>),
    /// Mark, index, funding, open interest (derivatives venues).
    Derivatives(DerivativesTick),
    /// Instrument metadata (tick and lot size).
    Instrument(InstrumentInfo),
    /// Returns what the aggregator has seen.
    GetCounts(RpcReplyPort<AggregatorCounts>),
    /// The aggregator's own timer: close due bars, publish the snapshot.
    Tick,
    /// Read the store again after a warm start that could not (self-sent).
    WarmRetry,
    /// What that read found (self-sent).
    WarmLoaded(Box<Result<super::warm::Loaded, String>>),
}

impl AggregatorMsg {
    /// True for the messages a route delivers (counted against its capacity).
    pub fn is_routed(&self) -> bool {
        // Past trades come straight from repair, not through a route.
        matches!(
            self,
            AggregatorMsg::Trades(_)
                | AggregatorMsg::Book(_)
                | AggregatorMsg::Klines(_)
                | AggregatorMsg::Liquidations(_)
                | AggregatorMsg::Derivatives(_)
                | AggregatorMsg::Instrument(_)
        )
    }

    /// Returns the number of trades the message holds.
    pub fn trade_count(&self) -> u64 {
        match self {
            AggregatorMsg::Trades(trades) => trades.len() as u64,
            _ => 0,
        }
    }
}

/// What an aggregator has seen, for status and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AggregatorCounts {
    /// Trades taken (prints: an aggregate trade counts once).
    pub trades: u64,
    /// Trades refused as already taken (or older than the ledger remembers).
    pub duplicates: u64,
    /// Trades of the past taken from REST (repair, backfill).
    pub past_trades: u64,
    /// Buy-aggressor volume.
    pub buy_volume: Qty,
    /// Sell-aggressor volume.
    pub sell_volume: Qty,
    /// First numeric trade id received.
    pub first_trade_id: Option<u64>,
    /// Last numeric trade id received.
    pub last_trade_id: Option<u64>,
    /// Last trade id received, whatever its form (Bybit linear ids are UUIDs).
    pub last_trade: Option<TradeId>,
    /// Book views received.
    pub book_updates: u64,
    /// Update id of the last book view.
    pub last_book_update_id: Option<u64>,
    /// Candles received.
    pub klines: u64,
    /// Latest instrument metadata.
    pub instrument: Option<InstrumentInfo>,
}
