//! The persistence actor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};
use wadm_supervision::{ActorEntry, unix_millis};

use super::PersistenceSettings;
use super::buffer::Buffer;
use crate::aggregator::{BarRecord, Record, RecordSink, Timeframe};
use crate::metrics::{
    PERSISTENCE_BATCH_DOCUMENTS, PERSISTENCE_BUFFERED_DOCUMENTS,
    PERSISTENCE_DOCUMENTS_DROPPED_TOTAL, PERSISTENCE_DOCUMENTS_WRITTEN_TOTAL,
    PERSISTENCE_EXPIRED_DOCUMENTS_TOTAL, PERSISTENCE_FLUSH_DURATION_SECONDS,
    PERSISTENCE_ROLLUPS_TOTAL, PERSISTENCE_STORE_AVAILABLE, PERSISTENCE_SWEPT_DOCUMENTS_TOTAL,
    PERSISTENCE_WRITE_FAILURES_TOTAL,
};
use crate::model::{DataQualityEvent, Symbol, Trade, Venue};
use crate::storage::{Batch, Document, Kind, Query, SharedStore, StoreError, TradeRun};
use crate::util::lock;

/// How often the channels are drained into the buffer while a write is in flight.
const DRAIN_WHILE_WRITING: Duration = Duration::from_millis(50);

/// What persistence has done, for status and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PersistenceStats {
    /// Documents waiting.
    pub buffered: usize,
    /// Documents of the batch being written.
    pub in_flight: usize,
    /// Documents written, by kind.
    pub written: BTreeMap<Kind, u64>,
    /// Documents dropped, by kind and reason (`buffer_full`, `rejected`, `shutdown`).
    pub dropped: BTreeMap<String, u64>,
    /// Batches written.
    pub batches: u64,
    /// Failed write attempts.
    pub failures: u64,
    /// True while the last write succeeded (or none was needed yet).
    pub store_available: bool,
    /// The last write error.
    pub last_error: Option<String>,
    /// Size of the last batch.
    pub last_batch: usize,
    /// Duration of the last write (ms).
    pub last_flush_ms: u64,
}

impl PersistenceStats {
    /// Total documents dropped.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Total documents written.
    pub fn written_total(&self) -> u64 {
        self.written.values().sum()
    }
}

/// The inputs and buffer of persistence, shared by every incarnation of the actor.
#[derive(Debug)]
pub struct PersistenceInputs {
    records: Mutex<mpsc::Receiver<Record>>,
    quality: Mutex<mpsc::Receiver<DataQualityEvent>>,
    buffer: Mutex<Buffer>,
    stats: Mutex<PersistenceStats>,
    /// Raw trades are written (else their records are discarded on arrival).
    raw_trades: bool,
    /// Documents already older than their kind's retention are not written (a backfill of
    /// trades the sweep would delete at once).
    retention: Mutex<Option<crate::storage::Retention>>,
    /// Finished days whose stored hours changed: their 1-day bar is summed again.
    rollups: Mutex<BTreeSet<(Venue, Symbol, i64)>>,
}

impl PersistenceInputs {
    /// Creates the inputs: the sink aggregators send records to (holding at most
    /// `queue_capacity`), the sender the data-quality log forwards to, and a buffer of
    /// `buffer_capacity` documents.
    pub fn new(
        queue_capacity: usize,
        buffer_capacity: usize,
        raw_trades: bool,
    ) -> (Arc<Self>, RecordSink, mpsc::Sender<DataQualityEvent>) {
        let (sink, records) = RecordSink::channel(queue_capacity);
        let (quality_tx, quality) = mpsc::channel(queue_capacity.max(1));
        let inputs = Arc::new(Self {
            records: Mutex::new(records),
            quality: Mutex::new(quality),
            buffer: Mutex::new(Buffer::new(buffer_capacity)),
            stats: Mutex::new(PersistenceStats {
                store_available: true,
                ..PersistenceStats::default()
            }),
            raw_trades,
            retention: Mutex::new(None),
            rollups: Mutex::new(BTreeSet::new()),
        });
        (inputs, sink, quality_tx)
    }

    /// From now on, documents older than their kind's retention are counted
    /// (`wadm_persistence_expired_documents_total`) and not written.
    pub fn skip_expired(&self, retention: crate::storage::Retention) {
        *lock(&self.retention) = Some(retention);
    }

    /// A copy of the counters.
    pub fn stats(&self) -> PersistenceStats {
        let mut stats = lock(&self.stats).clone();
        let buffer = lock(&self.buffer);
        stats.buffered = buffer.buffered();
        stats.in_flight = buffer.in_flight();
        stats
    }

    fn count_drop(&self, kind: Kind, reason: &'static str, count: u64, status: &ActorEntry) {
        if count == 0 {
            return;
        }
        metrics::counter!(PERSISTENCE_DOCUMENTS_DROPPED_TOTAL, "kind" => kind.as_str(), "reason" => reason)
            .increment(count);
        status.record_drops(count);
        *lock(&self.stats)
            .dropped
            .entry(format!("{kind}/{reason}"))
            .or_default() += count;
    }

    /// Moves everything waiting in the channels into the buffer, each document straight in
    /// and raw trades as the aggregators' shared runs (not copied). Returns the documents
    /// taken in.
    fn drain(&self, status: &ActorEntry) -> usize {
        let retention = *lock(&self.retention);
        let now = unix_millis();
        let cutoff = |kind: Kind| retention.map(|r| now.saturating_sub(r.millis(kind)));
        let trade_cutoff = cutoff(Kind::Trades);
        let mut expired: BTreeMap<Kind, u64> = BTreeMap::new();
        let mut dropped: BTreeMap<Kind, u64> = BTreeMap::new();
        let mut taken = 0;
        {
            let mut buffer = lock(&self.buffer);
            let mut take = |document: Document| {
                if let Some(kind) = document.kind()
                    && cutoff(kind).is_some_and(|cutoff| document.time() < cutoff)
                {
                    *expired.entry(kind).or_default() += 1;
                    return;
                }
                taken += 1;
                if let Some(kind) = buffer.push(document) {
                    *dropped.entry(kind).or_default() += 1;
                }
            };
            {
                let mut quality = lock(&self.quality);
                while let Ok(event) = quality.try_recv() {
                    take(Document::Quality(event));
                }
            }
            let mut runs = Vec::new();
            let mut records = lock(&self.records);
            while let Ok(record) = records.try_recv() {
                match record {
                    Record::Trades(trades) => {
                        if self.raw_trades {
                            runs.push(trades);
                        }
                    }
                    other => Document::each_of_record(&other, &mut take),
                }
            }
            drop(records);
            for trades in runs {
                let run = match trade_cutoff {
                    Some(cutoff) if trades.iter().any(|t| t.trade_time.as_millis() < cutoff) => {
                        let kept: Vec<Trade> = trades
                            .iter()
                            .filter(|t| t.trade_time.as_millis() >= cutoff)
                            .cloned()
                            .collect();
                        *expired.entry(Kind::Trades).or_default() +=
                            (trades.len() - kept.len()) as u64;
                        TradeRun::new(kept.into())
                    }
                    _ => TradeRun::new(trades),
                };
                taken += run.len();
                let lost = buffer.push_trades(run);
                if lost > 0 {
                    *dropped.entry(Kind::Trades).or_default() += lost as u64;
                }
            }
        }
        for (kind, count) in expired {
            metrics::counter!(PERSISTENCE_EXPIRED_DOCUMENTS_TOTAL, "kind" => kind.as_str())
                .increment(count);
        }
        for (kind, count) in dropped {
            warn!(%kind, count, "persistence buffer full: documents dropped");
            self.count_drop(kind, "buffer_full", count, status);
        }
        taken
    }
}

/// Messages of the persistence actor.
#[derive(Debug)]
pub enum PersistenceMsg {
    /// Look at the inputs; write what is due (self-scheduled).
    Tick,
    /// Write everything buffered now (retrying until `deadline`), then answer with the stats.
    FlushAll(Duration, RpcReplyPort<PersistenceStats>),
    /// Answer with the stats.
    GetStats(RpcReplyPort<PersistenceStats>),
}

/// What each incarnation is started with.
#[derive(Debug, Clone)]
pub struct PersistenceArgs {
    pub store: SharedStore,
    /// Channels and buffer (outlive incarnations).
    pub inputs: Arc<PersistenceInputs>,
    pub settings: Arc<PersistenceSettings>,
    /// Status entry.
    pub status: Arc<ActorEntry>,
}

/// The persistence actor.
#[derive(Debug)]
pub struct PersistenceActor;

/// Its state.
#[derive(Debug)]
pub struct PersistenceState {
    args: PersistenceArgs,
    last_write: Instant,
    last_sweep: Instant,
    attempt: u32,
    retry_at: Option<Instant>,
}

/// How a pass over the buffer ended.
enum Pass {
    /// Nothing more is due.
    Idle,
    /// The store failed; retry at the given time.
    Waiting(Instant),
}

impl PersistenceState {
    fn settings(&self) -> &PersistenceSettings {
        &self.args.settings
    }

    /// Writes batches while some are due: full batches at once, a partial one when the
    /// flush interval has passed (or `everything`).
    async fn pass(&mut self, everything: bool) -> Pass {
        loop {
            self.args.inputs.drain(&self.args.status);
            if let Some(at) = self.retry_at {
                if Instant::now() < at {
                    return Pass::Waiting(at);
                }
                self.retry_at = None;
            }
            let batch = {
                let mut buffer = lock(&self.args.inputs.buffer);
                let waiting = buffer.buffered();
                let due = everything || self.last_write.elapsed() >= self.settings().flush_interval;
                if waiting == 0 {
                    self.last_write = Instant::now();
                    return Pass::Idle;
                }
                if waiting < self.settings().batch_size && !due {
                    return Pass::Idle;
                }
                buffer.take_batch(self.settings().batch_size)
            };
            if let Err(at) = self.write(batch).await {
                return Pass::Waiting(at);
            }
            self.roll_up_days().await;
        }
    }

    /// Sums the 1-day bar of every finished day whose stored hours changed, from the store,
    /// into the buffer (written with the next batch). A day the store cannot answer for now
    /// stays pending.
    async fn roll_up_days(&mut self) {
        let inputs = Arc::clone(&self.args.inputs);
        let pending = std::mem::take(&mut *lock(&inputs.rollups));
        for (venue, symbol, day) in pending {
            let query = Query::range(
                Kind::Bars1h,
                venue,
                symbol,
                day,
                day + Timeframe::D1.millis(),
            )
            .limit(100);
            let hours: Vec<Arc<BarRecord>> = match self.args.store.read(query).await {
                Ok(documents) => documents
                    .into_iter()
                    .filter_map(|d| match d {
                        Document::Bar(bar) => Some(bar),
                        _ => None,
                    })
                    .collect(),
                Err(err) => {
                    metrics::counter!(PERSISTENCE_ROLLUPS_TOTAL, "outcome" => "store_error")
                        .increment(1);
                    warn!(venue = %venue, symbol = %symbol, day, error = %err, "the hours of a finished day could not be read; its 1-day bar is summed after the next write");
                    lock(&inputs.rollups).insert((venue, symbol, day));
                    continue;
                }
            };
            match BarRecord::rollup(Timeframe::D1, day, &hours) {
                Ok(Some(record)) => {
                    metrics::counter!(PERSISTENCE_ROLLUPS_TOTAL, "outcome" => "written")
                        .increment(1);
                    let dropped = lock(&inputs.buffer).push(Document::Bar(Arc::new(record)));
                    if let Some(kind) = dropped {
                        inputs.count_drop(kind, "buffer_full", 1, &self.args.status);
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    metrics::counter!(PERSISTENCE_ROLLUPS_TOTAL, "outcome" => "unreadable")
                        .increment(1);
                    error!(venue = %venue, symbol = %symbol, day, error = %err, "a finished day's hours cannot be summed; no 1-day bar");
                }
            }
        }
    }

    /// Writes one batch; on a transient failure puts it back and returns when to retry.
    async fn write(&mut self, batch: Batch) -> Result<(), Instant> {
        let inputs = Arc::clone(&self.args.inputs);
        let status = Arc::clone(&self.args.status);
        let size = batch.len();
        let started = Instant::now();
        let write = tokio::time::timeout(
            self.settings().write_timeout,
            self.args.store.write(batch.clone()),
        );
        tokio::pin!(write);
        // The channels keep draining into the buffer while the store takes its time (a slow
        // or locked store): the buffer, with its drop rule, is the bound on what waits, not
        // the record queue, whose records each hold a burst's raw trades.
        let mut drain = tokio::time::interval_at(
            tokio::time::Instant::now() + DRAIN_WHILE_WRITING,
            DRAIN_WHILE_WRITING,
        );
        let result = loop {
            tokio::select! {
                result = &mut write => break result,
                _ = drain.tick() => {
                    self.args.inputs.drain(&self.args.status);
                }
            }
        }
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {:?}",
                self.settings().write_timeout
            )))
        });
        let elapsed = started.elapsed();
        match result {
            Ok(summary) => {
                lock(&inputs.buffer).complete(size);
                let mut rejected_kinds: BTreeMap<Kind, u64> = BTreeMap::new();
                for (index, reason) in &summary.rejected {
                    let kind = batch.kind_at(*index).unwrap_or(Kind::Bars1m);
                    error!(%kind, reason, "the store rejected a document: dropped");
                    *rejected_kinds.entry(kind).or_default() += 1;
                }
                let mut written = batch.count_by_kind();
                let now = unix_millis();
                for document in batch.documents() {
                    // An hour of a finished day: the day's bar is summed again.
                    if let Document::Bar(bar) = document
                        && bar.timeframe == Timeframe::H1
                    {
                        let day = Timeframe::D1.start_of(bar.report.start);
                        if day + Timeframe::D1.millis() <= now {
                            lock(&inputs.rollups).insert((bar.venue, bar.symbol, day));
                        }
                    }
                }
                for (kind, count) in &rejected_kinds {
                    if let Some(w) = written.get_mut(kind) {
                        *w = w.saturating_sub(*count);
                    }
                    inputs.count_drop(*kind, "rejected", *count, &status);
                }
                {
                    let mut stats = lock(&inputs.stats);
                    for (kind, count) in &written {
                        metrics::counter!(PERSISTENCE_DOCUMENTS_WRITTEN_TOTAL, "kind" => kind.as_str())
                            .increment(*count);
                        *stats.written.entry(*kind).or_default() += count;
                    }
                    stats.batches += 1;
                    stats.store_available = true;
                    stats.last_batch = size;
                    stats.last_flush_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                }
                metrics::histogram!(PERSISTENCE_BATCH_DOCUMENTS).record(size as f64);
                metrics::histogram!(PERSISTENCE_FLUSH_DURATION_SECONDS)
                    .record(elapsed.as_secs_f64());
                metrics::gauge!(PERSISTENCE_STORE_AVAILABLE).set(1.0);
                status.record_messages(written.values().sum());
                status.record_data(unix_millis());
                if self.attempt > 0 {
                    info!(
                        backend = self.args.store.backend(),
                        "the store is writable again"
                    );
                }
                self.attempt = 0;
                self.last_write = Instant::now();
                Ok(())
            }
            Err(err) if err.is_transient() => {
                lock(&inputs.buffer).restore(batch);
                let delay = self.settings().retry.random(self.attempt);
                self.attempt = self.attempt.saturating_add(1);
                metrics::counter!(PERSISTENCE_WRITE_FAILURES_TOTAL, "reason" => err.reason())
                    .increment(1);
                metrics::gauge!(PERSISTENCE_STORE_AVAILABLE).set(0.0);
                {
                    let mut stats = lock(&inputs.stats);
                    stats.failures += 1;
                    stats.store_available = false;
                    stats.last_error = Some(err.to_string());
                }
                warn!(
                    backend = self.args.store.backend(),
                    error = %err,
                    attempt = self.attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    buffered = lock(&inputs.buffer).buffered(),
                    "store write failed; the batch stays buffered"
                );
                let at = Instant::now() + delay;
                self.retry_at = Some(at);
                Err(at)
            }
            Err(err) => {
                lock(&inputs.buffer).complete(size);
                error!(error = %err, documents = size, "the store rejected a whole batch: dropped");
                metrics::counter!(PERSISTENCE_WRITE_FAILURES_TOTAL, "reason" => err.reason())
                    .increment(1);
                // The buffer holds stored kinds only, so every document is in the counts.
                for (kind, count) in batch.count_by_kind() {
                    inputs.count_drop(kind, "rejected", count, &status);
                }
                lock(&inputs.stats).last_error = Some(err.to_string());
                Ok(())
            }
        }
    }

    async fn sweep_if_due(&mut self) {
        if self.last_sweep.elapsed() < self.settings().sweep_interval {
            return;
        }
        self.last_sweep = Instant::now();
        match self.args.store.sweep(unix_millis()).await {
            Ok(summary) => {
                for (kind, count) in summary.deleted {
                    metrics::counter!(PERSISTENCE_SWEPT_DOCUMENTS_TOTAL, "kind" => kind.as_str())
                        .increment(count);
                    debug!(%kind, count, "retention sweep");
                }
            }
            Err(err) => warn!(error = %err, "retention sweep failed; retried at the next interval"),
        }
    }

    /// Writes everything, retrying until `deadline`; what is left then is dropped and
    /// counted.
    async fn flush_all(&mut self, deadline: Instant) {
        loop {
            match self.pass(true).await {
                Pass::Idle => {
                    let buffer = lock(&self.args.inputs.buffer);
                    if buffer.buffered() == 0 {
                        return;
                    }
                }
                Pass::Waiting(at) => {
                    if at >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        let left = lock(&self.args.inputs.buffer).clear();
        for (kind, count) in left {
            error!(%kind, count, "shutdown deadline passed: documents not written");
            self.args
                .inputs
                .count_drop(kind, "shutdown", count as u64, &self.args.status);
        }
    }

    fn publish(&self) {
        let stats = self.args.inputs.stats();
        metrics::gauge!(PERSISTENCE_BUFFERED_DOCUMENTS)
            .set((stats.buffered + stats.in_flight) as f64);
        self.args
            .status
            .set_queue_len(i64::try_from(stats.buffered).unwrap_or(i64::MAX));
        if let Ok(detail) = serde_json::to_value(&stats) {
            let mut detail = detail;
            if let Some(map) = detail.as_object_mut() {
                map.insert("backend".into(), self.args.store.backend().into());
                map.insert(
                    "capacity".into(),
                    lock(&self.args.inputs.buffer).capacity().into(),
                );
            }
            self.args.status.set_detail(detail);
        }
    }
}

impl Actor for PersistenceActor {
    type Msg = PersistenceMsg;
    type State = PersistenceState;
    type Arguments = PersistenceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        debug!(backend = args.store.backend(), "persistence started");
        myself.send_message(PersistenceMsg::Tick)?;
        Ok(PersistenceState {
            args,
            last_write: Instant::now(),
            last_sweep: Instant::now(),
            attempt: 0,
            retry_at: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PersistenceMsg::Tick => {
                state.pass(false).await;
                state.sweep_if_due().await;
                state.publish();
                let poll = state.settings().poll_interval;
                myself.send_after(poll, || PersistenceMsg::Tick);
            }
            PersistenceMsg::FlushAll(within, reply) => {
                state.flush_all(Instant::now() + within).await;
                state.publish();
                let _ = reply.send(state.args.inputs.stats());
            }
            PersistenceMsg::GetStats(reply) => {
                let _ = reply.send(state.args.inputs.stats());
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let deadline = Instant::now() + state.settings().shutdown_timeout;
        state.flush_all(deadline).await;
        state.publish();
        let stats = state.args.inputs.stats();
        info!(
            written = stats.written_total(),
            dropped = stats.dropped_total(),
            "persistence stopped"
        );
        Ok(())
    }
}
