//! What one store write carries: documents, and raw trades as shared runs.
//!
//! Raw trades are the bulk of every write (issue #23). An aggregator hands persistence the
//! trades of one message as an `Arc<[Trade]>`; persistence buffers and writes slices of that
//! same allocation ([`TradeRun`]) instead of copying each trade into a document of its own,
//! so a raw trade is copied once between the socket and the store's statement, not three
//! times.
//!
//! Positions in a batch (those [`WriteSummary::rejected`](super::WriteSummary) lists) count
//! the documents first, then the raw trades of the runs in order.

use std::ops::Range;
use std::sync::Arc;

use super::{Document, Kind};
use crate::model::Trade;

/// Consecutive raw trades of one aggregator record, shared rather than copied.
#[derive(Debug, Clone)]
pub struct TradeRun {
    trades: Arc<[Trade]>,
    range: Range<usize>,
}

impl TradeRun {
    /// All the trades of `trades`.
    pub fn new(trades: Arc<[Trade]>) -> Self {
        let range = 0..trades.len();
        Self { trades, range }
    }

    /// The trades of the run.
    pub fn as_slice(&self) -> &[Trade] {
        self.trades.get(self.range.clone()).unwrap_or_default()
    }

    /// Trades in the run.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// True when the run holds no trade.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// Leaves out the first `count` trades (all of them if there are fewer).
    pub fn skip_front(&mut self, count: usize) {
        self.range.start = self.range.start.saturating_add(count).min(self.range.end);
    }

    /// Splits off and returns the first `count` trades (all of them if there are fewer).
    pub fn take_front(&mut self, count: usize) -> TradeRun {
        let split = self.range.start.saturating_add(count).min(self.range.end);
        let front = TradeRun {
            trades: Arc::clone(&self.trades),
            range: self.range.start..split,
        };
        self.range.start = split;
        front
    }
}

/// One write: documents (each upserted on its key) and raw trades (inserted; one already
/// stored is left as it is). Cheap to clone: both lists are shared.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    documents: Arc<[Document]>,
    trades: Arc<[TradeRun]>,
}

impl Batch {
    /// A batch of documents and runs of raw trades.
    pub fn new(documents: Vec<Document>, trades: Vec<TradeRun>) -> Self {
        Self {
            documents: documents.into(),
            trades: trades.into(),
        }
    }

    /// The documents (raw trades among them are [`Document::Trade`]s).
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// The runs of raw trades.
    pub fn runs(&self) -> &[TradeRun] {
        &self.trades
    }

    /// Documents plus the trades of the runs.
    pub fn len(&self) -> usize {
        self.documents.len() + self.run_trades()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Trades held in runs.
    pub fn run_trades(&self) -> usize {
        self.trades.iter().map(TradeRun::len).sum()
    }

    /// Every raw trade: the [`Document::Trade`]s, then the trades of the runs.
    pub fn raw_trades(&self) -> impl Iterator<Item = &Trade> {
        self.documents
            .iter()
            .filter_map(|document| match document {
                Document::Trade(trade) => Some(trade),
                _ => None,
            })
            .chain(self.trades.iter().flat_map(TradeRun::as_slice))
    }

    /// How many documents of each stored kind the batch holds, raw trades included.
    pub fn count_by_kind(&self) -> std::collections::BTreeMap<Kind, u64> {
        let mut counts = std::collections::BTreeMap::new();
        let run_trades = self.run_trades() as u64;
        if run_trades > 0 {
            counts.insert(Kind::Trades, run_trades);
        }
        for kind in self.documents.iter().filter_map(Document::kind) {
            *counts.entry(kind).or_default() += 1;
        }
        counts
    }

    /// The kind of what stands at `position` (see the module documentation), if anything
    /// does and it is of a stored kind.
    pub fn kind_at(&self, position: usize) -> Option<Kind> {
        match self.documents.get(position) {
            Some(document) => document.kind(),
            None => (position - self.documents.len() < self.run_trades()).then_some(Kind::Trades),
        }
    }

    /// Every document and raw trade as a list of documents, in position order (for a store
    /// that encodes each document on its own anyway).
    pub fn to_documents(&self) -> Vec<Document> {
        let mut all = Vec::with_capacity(self.len());
        all.extend(self.documents.iter().cloned());
        all.extend(
            self.trades
                .iter()
                .flat_map(TradeRun::as_slice)
                .cloned()
                .map(Document::Trade),
        );
        all
    }

    /// The documents and runs as lists of their own (the runs' trades stay shared).
    pub fn into_parts(self) -> (Vec<Document>, Vec<TradeRun>) {
        (self.documents.to_vec(), self.trades.to_vec())
    }
}

impl From<Vec<Document>> for Batch {
    fn from(documents: Vec<Document>) -> Self {
        Self::new(documents, Vec::new())
    }
}

impl From<Arc<[Document]>> for Batch {
    fn from(documents: Arc<[Document]>) -> Self {
        Self {
            documents,
            trades: Arc::from([]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DataQualityEvent, Price, Qty, QualityKind, Side, Symbol, TimestampMs, TradeFlags, TradeId,
        UnixNanos, Venue,
    };

    fn trade(id: u64) -> Trade {
        Trade {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            id: TradeId::Number(id),
            price: Price::from_units(1),
            qty: Qty::from_units(1),
            side: Side::Buy,
            trade_time: TimestampMs(1_700_000_000_000),
            event_time: TimestampMs(1_700_000_000_000),
            received_at: UnixNanos(0),
            flags: TradeFlags::NONE,
            sequence: None,
            fills: None,
        }
    }

    fn ids(trades: impl IntoIterator<Item = impl std::borrow::Borrow<Trade>>) -> Vec<u64> {
        trades
            .into_iter()
            .filter_map(|t| t.borrow().id.as_number())
            .collect()
    }

    #[test]
    fn a_run_splits_and_skips_without_copying_and_never_past_its_end() {
        let shared: Arc<[Trade]> = (1..=5).map(trade).collect::<Vec<_>>().into();
        let mut run = TradeRun::new(Arc::clone(&shared));
        let front = run.take_front(2);
        assert_eq!(ids(front.as_slice()), [1, 2]);
        assert_eq!(ids(run.as_slice()), [3, 4, 5]);
        run.skip_front(1);
        assert_eq!(ids(run.as_slice()), [4, 5]);
        assert_eq!(Arc::strong_count(&shared), 3);
        assert_eq!(run.take_front(10).len(), 2);
        assert!(run.is_empty());
        run.skip_front(3);
        assert_eq!(run.as_slice().len(), 0);
    }

    #[test]
    fn positions_count_the_documents_then_the_trades_of_the_runs() {
        let quality = Document::Quality(DataQualityEvent::now(
            Venue::BinanceSpot,
            None,
            QualityKind::Reconnect,
            "",
        ));
        let mut second = TradeRun::new((3..=6).map(trade).collect::<Vec<_>>().into());
        second.skip_front(1);
        let batch = Batch::new(
            vec![quality, Document::Trade(trade(1))],
            vec![TradeRun::new(vec![trade(2)].into()), second],
        );
        assert_eq!((batch.len(), batch.run_trades()), (6, 4));
        assert_eq!(batch.kind_at(0), Some(Kind::DataQuality));
        assert_eq!(batch.kind_at(1), Some(Kind::Trades));
        assert_eq!(batch.kind_at(5), Some(Kind::Trades));
        assert_eq!(batch.kind_at(6), None);
        assert_eq!(ids(batch.raw_trades()), [1, 2, 4, 5, 6]);
        assert_eq!(
            batch.count_by_kind().into_iter().collect::<Vec<_>>(),
            [(Kind::Trades, 5), (Kind::DataQuality, 1)]
        );
        let flat = batch.to_documents();
        assert_eq!(flat.len(), 6);
        assert_eq!(
            ids(flat.iter().filter_map(|d| match d {
                Document::Trade(t) => Some(t),
                _ => None,
            })),
            [1, 2, 4, 5, 6]
        );
    }
}
