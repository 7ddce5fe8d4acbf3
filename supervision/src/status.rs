//! The status registry: one entry per supervised actor, read by the status endpoint.
//!
//! Hot counters (messages handled, drops, last data time, queue length) are atomics the
//! actor bumps without a lock; lifecycle fields (state, generation, restarts, last error,
//! start time) change rarely and sit behind a small mutex. An actor may also publish a
//! free-form `detail` document (a connection's sockets and subscriptions, say).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Nanoseconds since the Unix epoch, now: the one reading of the wall clock in WADM (a
/// clock before 1970 reads as 0, one past 2262 saturates, rather than failing).
pub fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now ([`unix_nanos`] truncated).
pub fn unix_millis() -> i64 {
    unix_nanos().div_euclid(1_000_000)
}

/// The lifecycle state of an actor, as its supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorState {
    /// Being spawned.
    Starting,
    /// Running.
    Running,
    /// Failed; a restart is scheduled.
    Restarting,
    /// Stopped on purpose.
    Stopped,
    /// Failed too often; its supervisor gave up and escalated.
    Escalated,
}

/// Lifecycle fields, changed by the supervisor.
#[derive(Debug, Clone)]
struct Lifecycle {
    state: ActorState,
    generation: u64,
    restarts: u64,
    last_error: Option<String>,
    started_at_ms: Option<i64>,
    detail: Option<serde_json::Value>,
}

/// The status of one actor.
#[derive(Debug)]
pub struct ActorEntry {
    kind: String,
    key: String,
    messages_handled: AtomicU64,
    drops: AtomicU64,
    last_data_at_ms: AtomicI64,
    queue_len: AtomicI64,
    lifecycle: Mutex<Lifecycle>,
}

impl ActorEntry {
    fn new(kind: &str, key: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            key: key.to_owned(),
            messages_handled: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            last_data_at_ms: AtomicI64::new(0),
            queue_len: AtomicI64::new(0),
            lifecycle: Mutex::new(Lifecycle {
                state: ActorState::Starting,
                generation: 0,
                restarts: 0,
                last_error: None,
                started_at_ms: None,
                detail: None,
            }),
        }
    }

    fn lifecycle(&self) -> MutexGuard<'_, Lifecycle> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.lifecycle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the actor kind (`connection`, `aggregator`, ...).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Returns the actor key (`binance-spot`, `binance-spot/BTCUSDT`, ...).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Counts `count` handled messages.
    pub fn record_messages(&self, count: u64) {
        self.messages_handled.fetch_add(count, Ordering::Relaxed);
    }

    /// Records that market data arrived at `at_ms` (Unix milliseconds).
    pub fn record_data(&self, at_ms: i64) {
        self.last_data_at_ms.fetch_max(at_ms, Ordering::Relaxed);
    }

    /// Counts `count` dropped items.
    pub fn record_drops(&self, count: u64) {
        self.drops.fetch_add(count, Ordering::Relaxed);
    }

    /// Sets the current queue length (messages waiting for this actor).
    pub fn set_queue_len(&self, len: i64) {
        self.queue_len.store(len, Ordering::Relaxed);
    }

    /// Publishes a detail document, replacing the previous one.
    pub fn set_detail(&self, detail: serde_json::Value) {
        self.lifecycle().detail = Some(detail);
    }

    /// Returns the generation of the current incarnation.
    pub fn generation(&self) -> u64 {
        self.lifecycle().generation
    }

    /// Returns the total number of restarts.
    pub fn restarts(&self) -> u64 {
        self.lifecycle().restarts
    }

    /// Returns the lifecycle state.
    pub fn state(&self) -> ActorState {
        self.lifecycle().state
    }

    /// Marks a new incarnation as started.
    pub fn mark_started(&self, generation: u64) {
        let mut life = self.lifecycle();
        life.state = ActorState::Running;
        life.generation = generation;
        life.started_at_ms = Some(unix_millis());
    }

    /// Marks the actor as failed with a restart scheduled.
    pub fn mark_restarting(&self, error: &str) {
        let mut life = self.lifecycle();
        life.state = ActorState::Restarting;
        life.restarts += 1;
        life.last_error = Some(error.to_owned());
    }

    /// Marks the actor as given up on.
    pub fn mark_escalated(&self, error: &str) {
        let mut life = self.lifecycle();
        life.state = ActorState::Escalated;
        life.last_error = Some(error.to_owned());
    }

    /// Marks the actor as stopped on purpose.
    pub fn mark_stopped(&self) {
        self.lifecycle().state = ActorState::Stopped;
    }

    /// Returns a serializable copy of the entry.
    pub fn snapshot(&self) -> ActorStatus {
        let life = self.lifecycle().clone();
        let now = unix_millis();
        let last_data = self.last_data_at_ms.load(Ordering::Relaxed);
        ActorStatus {
            kind: self.kind.clone(),
            key: self.key.clone(),
            state: life.state,
            generation: life.generation,
            restarts: life.restarts,
            last_error: life.last_error,
            started_at_ms: life.started_at_ms,
            uptime_ms: match (life.state, life.started_at_ms) {
                (ActorState::Running, Some(started)) => Some(now.saturating_sub(started).max(0)),
                _ => None,
            },
            last_data_at_ms: (last_data > 0).then_some(last_data),
            messages_handled: self.messages_handled.load(Ordering::Relaxed),
            queue_len: self.queue_len.load(Ordering::Relaxed),
            drops: self.drops.load(Ordering::Relaxed),
            detail: life.detail,
        }
    }
}

/// A point-in-time copy of one actor's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActorStatus {
    /// Actor kind.
    pub kind: String,
    /// Actor key.
    pub key: String,
    /// Lifecycle state.
    pub state: ActorState,
    /// Incarnation number, from 1.
    pub generation: u64,
    /// Restarts over the actor's life.
    pub restarts: u64,
    /// The error that caused the last restart or escalation.
    pub last_error: Option<String>,
    /// When the current incarnation started (Unix ms).
    pub started_at_ms: Option<i64>,
    /// How long the current incarnation has been running.
    pub uptime_ms: Option<i64>,
    /// When market data last arrived (Unix ms).
    pub last_data_at_ms: Option<i64>,
    /// Messages handled over the actor's life.
    pub messages_handled: u64,
    /// Messages waiting for the actor.
    pub queue_len: i64,
    /// Items dropped over the actor's life.
    pub drops: u64,
    /// Actor-specific detail.
    pub detail: Option<serde_json::Value>,
}

/// Every actor's status, by (kind, key).
#[derive(Debug, Default)]
pub struct StatusRegistry {
    entries: RwLock<BTreeMap<(String, String), Arc<ActorEntry>>>,
}

impl StatusRegistry {
    /// Creates an empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the entry of (`kind`, `key`), creating it if needed. Entries outlive
    /// incarnations: a restarted actor keeps its counters and restart count.
    pub fn entry(&self, kind: &str, key: &str) -> Arc<ActorEntry> {
        let id = (kind.to_owned(), key.to_owned());
        if let Some(entry) = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Arc::clone(entry);
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            entries
                .entry(id)
                .or_insert_with(|| Arc::new(ActorEntry::new(kind, key))),
        )
    }

    /// Returns the entry of (`kind`, `key`) if it exists.
    pub fn get(&self, kind: &str, key: &str) -> Option<Arc<ActorEntry>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(kind.to_owned(), key.to_owned()))
            .cloned()
    }

    /// Returns every actor's status, ordered by kind then key.
    pub fn snapshot(&self) -> Vec<ActorStatus> {
        let entries: Vec<Arc<ActorEntry>> = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        entries.iter().map(|entry| entry.snapshot()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_counters_across_incarnations() {
        let registry = StatusRegistry::new();
        let entry = registry.entry("connection", "binance-spot");
        entry.mark_started(1);
        entry.record_messages(5);
        entry.record_drops(2);
        entry.record_data(1_000);
        entry.record_data(500);
        entry.mark_restarting("socket closed");
        let again = registry.entry("connection", "binance-spot");
        again.mark_started(2);
        again.record_messages(1);
        let status = registry.snapshot();
        assert_eq!(status.len(), 1);
        let s = &status[0];
        assert_eq!(
            (s.state, s.generation, s.restarts),
            (ActorState::Running, 2, 1)
        );
        assert_eq!(
            (s.messages_handled, s.drops, s.last_data_at_ms),
            (6, 2, Some(1_000))
        );
        assert_eq!(s.last_error.as_deref(), Some("socket closed"));
        assert!(s.uptime_ms.is_some());
    }

    #[test]
    fn snapshot_is_ordered_and_serializes() {
        let registry = StatusRegistry::new();
        registry.entry("supervisor", "root");
        registry
            .entry("connection", "bybit-spot")
            .set_detail(serde_json::json!({"sockets": 1}));
        registry.entry("connection", "binance-spot");
        let keys: Vec<_> = registry
            .snapshot()
            .into_iter()
            .map(|s| format!("{}/{}", s.kind, s.key))
            .collect();
        assert_eq!(
            keys,
            [
                "connection/binance-spot",
                "connection/bybit-spot",
                "supervisor/root"
            ]
        );
        let json = serde_json::to_value(registry.snapshot()).unwrap();
        assert_eq!(json[1]["detail"]["sockets"], 1);
        assert_eq!(json[0]["state"], "starting");
    }
}
