//! The persistence buffer: documents waiting for the store, bounded, with a documented drop
//! rule and batches taken most valuable first.
//!
//! **Drop rule.** The bound counts buffered documents plus the batch being written. When a
//! document arrives at the bound, the oldest buffered document of the least valuable kind
//! present is dropped to make room, provided that kind is not more valuable than the
//! newcomer; otherwise the newcomer is dropped. From least to most valuable: raw trades, book
//! snapshots, klines, liquidations, 1-minute bars, 1-hour bars, 1-day bars, fundings, alerts, data-quality events (raw trades and book
//! snapshots are the bulk and the least needed for the indicators' history; quality events
//! are rare and explain every gap). Every drop is reported to the caller, which counts it.

use std::collections::VecDeque;

use crate::storage::{Document, Kind};

/// Kinds from least to most valuable.
const BY_VALUE: [Kind; 10] = [
    Kind::Trades,
    Kind::BookSnapshots,
    Kind::Klines,
    Kind::Liquidations,
    Kind::Bars1m,
    Kind::Bars1h,
    Kind::Bars1d,
    Kind::Funding,
    Kind::Alerts,
    Kind::DataQuality,
];

fn rank(kind: Kind) -> usize {
    BY_VALUE.iter().position(|&k| k == kind).unwrap_or(0)
}

/// Documents waiting for the store.
#[derive(Debug)]
pub struct Buffer {
    /// One FIFO per kind, indexed by value rank.
    queues: [VecDeque<Document>; 10],
    buffered: usize,
    in_flight: usize,
    capacity: usize,
}

impl Buffer {
    /// A buffer holding at most `capacity` documents (buffered plus in flight).
    pub fn new(capacity: usize) -> Self {
        Self {
            queues: Default::default(),
            buffered: 0,
            in_flight: 0,
            capacity: capacity.max(1),
        }
    }

    /// Documents waiting (not counting the batch in flight).
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Documents of the batch being written.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds a document; returns the kind of the document dropped to respect the bound, if
    /// one was (possibly the newcomer itself). A document of no stored kind (a bar of a
    /// timeframe that is not persisted) is refused as dropped.
    pub fn push(&mut self, document: Document) -> Option<Kind> {
        let Some(kind) = document.kind() else {
            return Some(Kind::Bars1m);
        };
        let mut dropped = None;
        if self.buffered + self.in_flight >= self.capacity {
            let newcomer = rank(kind);
            let victim = (0..=newcomer).find(|&r| !self.queues[r].is_empty());
            match victim {
                Some(r) => {
                    self.queues[r].pop_front();
                    self.buffered -= 1;
                    dropped = Some(BY_VALUE[r]);
                }
                None => return Some(kind),
            }
        }
        self.queues[rank(kind)].push_back(document);
        self.buffered += 1;
        dropped
    }

    /// Takes up to `max` documents for one write, most valuable kinds first, oldest first
    /// within a kind. They count against the bound until [`Buffer::complete`] or
    /// [`Buffer::restore`].
    pub fn take_batch(&mut self, max: usize) -> Vec<Document> {
        let mut batch = Vec::with_capacity(max.min(self.buffered));
        for queue in self.queues.iter_mut().rev() {
            let take = (max - batch.len()).min(queue.len());
            batch.extend(queue.drain(..take));
            if batch.len() == max {
                break;
            }
        }
        self.buffered -= batch.len();
        self.in_flight += batch.len();
        batch
    }

    /// The batch in flight was written (or given up on).
    pub fn complete(&mut self, count: usize) {
        self.in_flight = self.in_flight.saturating_sub(count);
    }

    /// The batch in flight failed: its documents go back to the front, in their order.
    pub fn restore(&mut self, batch: Vec<Document>) {
        self.in_flight = self.in_flight.saturating_sub(batch.len());
        for document in batch.into_iter().rev() {
            let Some(kind) = document.kind() else {
                continue;
            };
            self.queues[rank(kind)].push_front(document);
            self.buffered += 1;
        }
    }

    /// Empties the buffer, returning how many documents of each kind it held.
    pub fn clear(&mut self) -> Vec<(Kind, usize)> {
        let counts = BY_VALUE
            .iter()
            .zip(self.queues.iter_mut())
            .filter(|(_, q)| !q.is_empty())
            .map(|(&kind, q)| {
                let n = q.len();
                q.clear();
                (kind, n)
            })
            .collect();
        self.buffered = 0;
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DataQualityEvent, Price, QualityKind, Side, Symbol, TimestampMs, Trade, TradeFlags,
        TradeId, UnixNanos, Venue,
    };

    fn quality(time: i64) -> Document {
        Document::Quality(DataQualityEvent {
            venue: Venue::BinanceSpot,
            symbol: None,
            kind: QualityKind::Reconnect,
            from_id: None,
            to_id: None,
            from_time: None,
            to_time: None,
            time: TimestampMs(time),
            cause: String::new(),
            state: None,
            recovered: None,
        })
    }

    fn trade(time: i64) -> Document {
        Document::Trade(Trade {
            venue: Venue::BinanceSpot,
            symbol: Symbol::new("BTCUSDT").unwrap_or_else(|_| unreachable!()),
            id: TradeId::Number(time.unsigned_abs()),
            price: Price::from_units(1),
            qty: crate::model::Qty::from_units(1),
            side: Side::Buy,
            trade_time: TimestampMs(time),
            event_time: TimestampMs(time),
            received_at: UnixNanos(0),
            flags: TradeFlags::NONE,
            sequence: None,
            fills: None,
        })
    }

    fn time_of(document: &Document) -> i64 {
        document.key().map(|k| k.time).unwrap_or(-1)
    }

    #[test]
    fn the_bound_counts_the_batch_in_flight_and_a_full_buffer_drops_the_oldest() {
        let mut buffer = Buffer::new(3);
        for t in 0..3 {
            assert_eq!(buffer.push(quality(t)), None);
        }
        let batch = buffer.take_batch(2);
        assert_eq!(batch.iter().map(time_of).collect::<Vec<_>>(), [0, 1]);
        assert_eq!((buffer.buffered(), buffer.in_flight()), (1, 2));
        // Full (1 buffered + 2 in flight): the oldest buffered one goes.
        assert_eq!(buffer.push(quality(3)), Some(Kind::DataQuality));
        buffer.restore(batch);
        assert_eq!((buffer.buffered(), buffer.in_flight()), (3, 0));
        let all = buffer.take_batch(10);
        assert_eq!(all.iter().map(time_of).collect::<Vec<_>>(), [0, 1, 3]);
    }

    #[test]
    fn the_least_valuable_kind_is_dropped_first_and_never_for_a_less_valuable_newcomer() {
        let mut buffer = Buffer::new(2);
        assert_eq!(buffer.push(quality(1)), None);
        assert_eq!(buffer.push(trade(2)), None);
        // A quality event evicts the trade, not the older quality event.
        assert_eq!(buffer.push(quality(3)), Some(Kind::Trades));
        // A trade cannot evict quality events: it is dropped itself.
        assert_eq!(buffer.push(trade(4)), Some(Kind::Trades));
        assert_eq!(buffer.buffered(), 2);
        assert_eq!(buffer.clear(), vec![(Kind::DataQuality, 2)]);
    }

    #[test]
    fn batches_take_the_most_valuable_kinds_first_in_arrival_order() {
        let mut buffer = Buffer::new(10);
        buffer.push(trade(1));
        buffer.push(quality(2));
        buffer.push(trade(3));
        buffer.push(quality(4));
        let first = buffer.take_batch(3);
        assert_eq!(first.iter().map(time_of).collect::<Vec<_>>(), [2, 4, 1]);
        buffer.complete(first.len());
        assert_eq!(
            buffer.take_batch(3).iter().map(time_of).collect::<Vec<_>>(),
            [3]
        );
    }
}
