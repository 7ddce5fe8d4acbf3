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
use std::sync::Arc;

use crate::storage::{Batch, Document, Kind, TradeRun};

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

/// Documents waiting for the store. Raw trades wait as runs of the aggregators' shared
/// batches ([`TradeRun`]), each trade counting as one document.
#[derive(Debug)]
pub struct Buffer {
    /// One FIFO per kind other than raw trades, indexed by value rank (rank 0 stays empty).
    queues: [VecDeque<Document>; 10],
    /// Raw trades, oldest first.
    runs: VecDeque<TradeRun>,
    /// Trades in `runs`.
    run_trades: usize,
    /// Documents waiting, raw trades included.
    buffered: usize,
    in_flight: usize,
    capacity: usize,
}

impl Buffer {
    /// A buffer holding at most `capacity` documents (buffered plus in flight).
    pub fn new(capacity: usize) -> Self {
        Self {
            queues: Default::default(),
            runs: VecDeque::new(),
            run_trades: 0,
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

    fn holds(&self, rank: usize) -> bool {
        if rank == 0 {
            self.run_trades > 0
        } else {
            !self.queues[rank].is_empty()
        }
    }

    /// Drops the oldest `count` buffered raw trades (fewer if fewer wait); returns how many.
    fn drop_oldest_trades(&mut self, count: usize) -> usize {
        let mut dropped = 0;
        while dropped < count
            && let Some(front) = self.runs.front_mut()
        {
            let take = (count - dropped).min(front.len());
            front.skip_front(take);
            dropped += take;
            if front.is_empty() {
                self.runs.pop_front();
            }
        }
        self.run_trades -= dropped;
        self.buffered -= dropped;
        dropped
    }

    /// Adds a document; returns the kind of the document dropped to respect the bound, if
    /// one was (possibly the newcomer itself). A document of no stored kind (a bar of a
    /// timeframe that is not persisted) is refused as dropped.
    pub fn push(&mut self, document: Document) -> Option<Kind> {
        let Some(kind) = document.kind() else {
            return Some(Kind::Bars1m);
        };
        if let Document::Trade(trade) = document {
            let dropped = self.push_trades(TradeRun::new(Arc::from([trade])));
            return (dropped > 0).then_some(Kind::Trades);
        }
        let mut dropped = None;
        if self.buffered + self.in_flight >= self.capacity {
            let newcomer = rank(kind);
            match (0..=newcomer).find(|&r| self.holds(r)) {
                Some(0) => {
                    self.drop_oldest_trades(1);
                    dropped = Some(Kind::Trades);
                }
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

    /// Adds a run of raw trades, shared, not copied; returns how many raw trades were dropped
    /// to respect the bound. The same as pushing its trades one by one: each trade beyond
    /// the bound drops the oldest raw trade waiting, and once none is left, the run's own
    /// oldest.
    pub fn push_trades(&mut self, mut run: TradeRun) -> usize {
        let room = self.capacity.saturating_sub(self.buffered + self.in_flight);
        let excess = run.len().saturating_sub(room);
        let mut dropped = self.drop_oldest_trades(excess);
        let own = (excess - dropped).min(run.len());
        run.skip_front(own);
        dropped += own;
        if !run.is_empty() {
            self.run_trades += run.len();
            self.buffered += run.len();
            self.runs.push_back(run);
        }
        dropped
    }

    /// Takes up to `max` documents for one write, most valuable kinds first, oldest first
    /// within a kind (raw trades last). They count against the bound until
    /// [`Buffer::complete`] or [`Buffer::restore`].
    pub fn take_batch(&mut self, max: usize) -> Batch {
        let mut documents = Vec::with_capacity(max.min(self.buffered - self.run_trades));
        for queue in self.queues.iter_mut().rev() {
            let take = (max - documents.len()).min(queue.len());
            documents.extend(queue.drain(..take));
            if documents.len() == max {
                break;
            }
        }
        let mut runs = Vec::new();
        let mut trades = 0;
        while trades < max - documents.len()
            && let Some(front) = self.runs.front_mut()
        {
            let run = front.take_front(max - documents.len() - trades);
            trades += run.len();
            runs.push(run);
            if front.is_empty() {
                self.runs.pop_front();
            }
        }
        self.run_trades -= trades;
        let taken = documents.len() + trades;
        self.buffered -= taken;
        self.in_flight += taken;
        Batch::new(documents, runs)
    }

    /// The batch in flight was written (or given up on).
    pub fn complete(&mut self, count: usize) {
        self.in_flight = self.in_flight.saturating_sub(count);
    }

    /// The batch in flight failed: its documents go back to the front, in their order.
    pub fn restore(&mut self, batch: Batch) {
        self.in_flight = self.in_flight.saturating_sub(batch.len());
        let (documents, runs) = batch.into_parts();
        for run in runs.into_iter().rev() {
            self.run_trades += run.len();
            self.buffered += run.len();
            self.runs.push_front(run);
        }
        for document in documents.into_iter().rev() {
            let Some(kind) = document.kind() else {
                continue;
            };
            if let Document::Trade(trade) = document {
                self.runs.push_front(TradeRun::new(Arc::from([trade])));
                self.run_trades += 1;
            } else {
                self.queues[rank(kind)].push_front(document);
            }
            self.buffered += 1;
        }
    }

    /// Empties the buffer, returning how many documents of each kind it held.
    pub fn clear(&mut self) -> Vec<(Kind, usize)> {
        let mut counts: Vec<(Kind, usize)> = BY_VALUE
            .iter()
            .zip(self.queues.iter_mut())
            .filter(|(_, q)| !q.is_empty())
            .map(|(&kind, q)| {
                let n = q.len();
                q.clear();
                (kind, n)
            })
            .collect();
        if self.run_trades > 0 {
            counts.insert(0, (Kind::Trades, self.run_trades));
        }
        self.runs.clear();
        self.run_trades = 0;
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
        Document::Trade(raw(time))
    }

    fn raw(time: i64) -> Trade {
        Trade {
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
        }
    }

    fn time_of(document: &Document) -> i64 {
        document.key().map(|k| k.time).unwrap_or(-1)
    }

    fn times(batch: &Batch) -> Vec<i64> {
        batch.to_documents().iter().map(time_of).collect()
    }

    #[test]
    fn the_bound_counts_the_batch_in_flight_and_a_full_buffer_drops_the_oldest() {
        let mut buffer = Buffer::new(3);
        for t in 0..3 {
            assert_eq!(buffer.push(quality(t)), None);
        }
        let batch = buffer.take_batch(2);
        assert_eq!(times(&batch), [0, 1]);
        assert_eq!((buffer.buffered(), buffer.in_flight()), (1, 2));
        // Full (1 buffered + 2 in flight): the oldest buffered one goes.
        assert_eq!(buffer.push(quality(3)), Some(Kind::DataQuality));
        buffer.restore(batch);
        assert_eq!((buffer.buffered(), buffer.in_flight()), (3, 0));
        let all = buffer.take_batch(10);
        assert_eq!(times(&all), [0, 1, 3]);
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
        assert_eq!(times(&first), [2, 4, 1]);
        buffer.complete(first.len());
        assert_eq!(times(&buffer.take_batch(3)), [3]);
    }

    #[test]
    fn a_run_is_split_across_batches_and_restored_in_order() {
        let mut buffer = Buffer::new(100);
        let run: Arc<[Trade]> = (1..=5).map(raw).collect::<Vec<_>>().into();
        assert_eq!(buffer.push_trades(TradeRun::new(run)), 0);
        buffer.push(quality(10));
        let first = buffer.take_batch(3);
        assert_eq!(times(&first), [10, 1, 2]);
        assert_eq!((buffer.buffered(), buffer.in_flight()), (3, 3));
        buffer.restore(first);
        assert_eq!((buffer.buffered(), buffer.in_flight()), (6, 0));
        assert_eq!(times(&buffer.take_batch(10)), [10, 1, 2, 3, 4, 5]);
        assert_eq!(buffer.clear(), vec![]);
    }

    /// The buffer of one document at a time that runs of raw trades must behave as: the
    /// documented rule, written out plainly, for raw trades and data-quality events.
    #[derive(Debug, Default)]
    struct Plain {
        trades: VecDeque<i64>,
        quality: VecDeque<i64>,
        in_flight: usize,
        capacity: usize,
        dropped: (usize, usize),
    }

    impl Plain {
        fn full(&self) -> bool {
            self.trades.len() + self.quality.len() + self.in_flight >= self.capacity
        }

        fn push_trade(&mut self, time: i64) {
            if self.full() {
                self.dropped.0 += 1;
                if self.trades.pop_front().is_none() {
                    return;
                }
            }
            self.trades.push_back(time);
        }

        fn push_quality(&mut self, time: i64) {
            if self.full() {
                if self.trades.pop_front().is_some() {
                    self.dropped.0 += 1;
                } else {
                    self.dropped.1 += 1;
                    if self.quality.pop_front().is_none() {
                        return;
                    }
                }
            }
            self.quality.push_back(time);
        }

        fn take(&mut self, max: usize) -> Vec<i64> {
            let q = max.min(self.quality.len());
            let mut batch: Vec<i64> = self.quality.drain(..q).collect();
            let t = (max - q).min(self.trades.len());
            batch.extend(self.trades.drain(..t));
            self.in_flight += batch.len();
            batch
        }
    }

    proptest::proptest! {
        #[test]
        fn runs_of_raw_trades_behave_as_one_trade_at_a_time(
            capacity in 1usize..40,
            steps in proptest::collection::vec((0u8..4, 0usize..25), 1..60),
        ) {
            let mut buffer = Buffer::new(capacity);
            let mut plain = Plain { capacity, ..Plain::default() };
            let mut dropped = (0usize, 0usize);
            let mut next = 0i64;
            let mut pending: Option<(Batch, Vec<i64>)> = None;
            let mut quality_times = std::collections::HashSet::new();
            for (op, n) in steps {
                match op {
                    0 => {
                        let run: Vec<Trade> = (next..next + n as i64).map(raw).collect();
                        for t in next..next + n as i64 {
                            plain.push_trade(t);
                        }
                        next += n as i64;
                        dropped.0 += buffer.push_trades(TradeRun::new(run.into()));
                    }
                    1 => {
                        quality_times.insert(next);
                        plain.push_quality(next);
                        match buffer.push(quality(next)) {
                            Some(Kind::Trades) => dropped.0 += 1,
                            Some(_) => dropped.1 += 1,
                            None => {}
                        }
                        next += 1;
                    }
                    2 if pending.is_none() => {
                        let batch = buffer.take_batch(n.max(1));
                        let expected = plain.take(n.max(1));
                        proptest::prop_assert_eq!(times(&batch), expected.clone());
                        pending = Some((batch, expected));
                    }
                    _ => {
                        if let Some((batch, expected)) = pending.take() {
                            if n % 2 == 0 {
                                buffer.complete(batch.len());
                                plain.in_flight -= expected.len();
                            } else {
                                buffer.restore(batch);
                                plain.in_flight -= expected.len();
                                for time in expected.into_iter().rev() {
                                    if quality_times.contains(&time) {
                                        plain.quality.push_front(time);
                                    } else {
                                        plain.trades.push_front(time);
                                    }
                                }
                            }
                        }
                    }
                }
                proptest::prop_assert_eq!(buffer.buffered(), plain.trades.len() + plain.quality.len());
                proptest::prop_assert_eq!(buffer.in_flight(), plain.in_flight);
                proptest::prop_assert_eq!(dropped, plain.dropped);
            }
            if let Some((batch, expected)) = pending.take() {
                buffer.complete(batch.len());
                plain.in_flight -= expected.len();
            }
            proptest::prop_assert_eq!(times(&buffer.take_batch(usize::MAX)), plain.take(usize::MAX));
        }
    }
}
