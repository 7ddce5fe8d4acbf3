//! The embedded default store: one SQLite file (`wadm.sqlite3`) under the data directory,
//! compiled in (rusqlite's `bundled` feature), so the daemon runs on a fresh machine with no
//! server. One table per kind: the indexed parts as columns, the body as JSON text; raw
//! trades, the bulk, in an append-only table of typed columns ([`trades`]).
//!
//! - A batch is one `IMMEDIATE` transaction: after a crash it is there whole or not at all
//!   (WAL journal; `synchronous = NORMAL` keeps every committed batch across a process
//!   crash, and the file consistent across a power cut).
//! - Unique indexes on each kind's key make every write an upsert; raw trades are
//!   insert-only (a trade already stored is ignored).
//! - Range reads use `(venue, symbol, time)` indexes on a connection of their own, so reads
//!   never wait for a writing batch (WAL readers see the last committed state).
//! - The retention sweep deletes in chunks, each its own transaction, so writers interleave.
//! - Every call runs on tokio's blocking threads, never on a runtime worker.

mod trades;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use super::{
    Batch, Document, Kind, Order, Query, Retention, Store, StoreError, StoreFuture, SweepSummary,
    WriteSummary,
};
use crate::util::lock;

/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "wadm.sqlite3";
/// The schema this build writes (`PRAGMA user_version`): 1 had a JSON body for trades too;
/// 2 the typed trade table keyed by id with a time index; 3 keys it by time and id, with no
/// index (older files are converted when opened).
const SCHEMA_VERSION: i64 = 3;
/// Rows deleted per sweep transaction.
const SWEEP_CHUNK: usize = 5_000;

/// Options of the embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// How long a call waits for a lock held by another connection before the store counts
    /// as unavailable.
    pub busy_timeout: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    retention: Retention,
    /// The (venue, symbol) pairs with trades stored: the trade sweep goes pair by pair on
    /// the table's key.
    trade_pairs: Mutex<BTreeSet<(String, String)>>,
}

impl EmbeddedStore {
    /// Opens (creating when needed) the store under `dir`.
    pub fn open(
        dir: &Path,
        retention: Retention,
        options: EmbeddedOptions,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        let path = dir.join(FILE_NAME);
        let mut writer = open_connection(&path, options, true)?;
        migrate(&mut writer)?;
        let trade_pairs = trades::pairs(&writer).map_err(|e| sql_error(&e))?;
        let reader = open_connection(&path, options, false)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                retention,
                trade_pairs: Mutex::new(trade_pairs),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on a blocking thread.
    fn blocking<T, F>(&self, work: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&inner))
                .await
                .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
        })
    }
}

fn open_connection(
    path: &Path,
    options: EmbeddedOptions,
    write: bool,
) -> Result<Connection, StoreError> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|e| sql_error(&e))?;
    connection
        .busy_timeout(options.busy_timeout)
        .map_err(|e| sql_error(&e))?;
    if write {
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sql_error(&e))?;
        // The writer checkpoints every 10,000 WAL pages (40 MiB) rather than SQLite's 1,000,
        // and caches 16 MiB of pages rather than 2: a batch touches the end of every pair's
        // range in the trade table, and those pages, rewritten by batch after batch, are then
        // copied to the file once per checkpoint (storage README).
        connection
            .pragma_update(None, "wal_autocheckpoint", 10_000)
            .map_err(|e| sql_error(&e))?;
        connection
            .pragma_update(None, "cache_size", -16_384)
            .map_err(|e| sql_error(&e))?;
    }
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| sql_error(&e))?;
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| sql_error(&e))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Rejected(format!(
            "the database has schema version {version}; this build knows up to {SCHEMA_VERSION}"
        )));
    }
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error(&e))?;
    if version == 1 {
        let moved = trades::migrate_from_json(&tx).map_err(StoreError::Unavailable)?;
        tracing::info!(
            trades = moved,
            "embedded store: raw trades moved to the typed table (schema 1 to 3)"
        );
    }
    if version == 2 {
        let moved = trades::migrate_from_v2(&tx).map_err(|e| sql_error(&e))?;
        tracing::info!(
            trades = moved,
            "embedded store: raw trades moved to the table keyed by time (schema 2 to 3)"
        );
    }
    let mut sql = String::new();
    for kind in Kind::ALL {
        if kind == Kind::Trades {
            sql.push_str(trades::SCHEMA);
            continue;
        }
        let table = kind.as_str();
        let unique = if kind.time_in_key() {
            "venue, symbol, time, key"
        } else {
            "venue, symbol, key"
        };
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                venue TEXT NOT NULL, symbol TEXT NOT NULL, key TEXT NOT NULL,
                time INTEGER NOT NULL, doc TEXT NOT NULL);
             CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table} ({unique});
             CREATE INDEX IF NOT EXISTS {table}_range ON {table} (venue, symbol, time);
             CREATE INDEX IF NOT EXISTS {table}_time ON {table} (time);"
        ));
    }
    sql.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION};"));
    tx.execute_batch(&sql).map_err(|e| sql_error(&e))?;
    tx.commit().map_err(|e| sql_error(&e))
}

/// Maps SQLite errors: everything about reaching or changing the file is transient (locked,
/// busy, read-only, full, I/O); a value SQLite cannot take is a rejection.
fn sql_error(error: &rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) if failure.code == ErrorCode::TooBig => {
            StoreError::Rejected(error.to_string())
        }
        rusqlite::Error::ToSqlConversionFailure(_) => StoreError::Rejected(error.to_string()),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

fn upsert_sql(kind: Kind) -> String {
    let table = kind.as_str();
    if kind.time_in_key() {
        format!(
            "INSERT INTO {table} (venue, symbol, key, time, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (venue, symbol, time, key) DO UPDATE SET doc = excluded.doc"
        )
    } else {
        format!(
            "INSERT INTO {table} (venue, symbol, key, time, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (venue, symbol, key) DO UPDATE SET time = excluded.time, doc = excluded.doc"
        )
    }
}

impl Inner {
    fn write(&self, batch: &Batch) -> Result<WriteSummary, StoreError> {
        let mut summary = WriteSummary::default();
        let mut raw_trades: Vec<&crate::model::Trade> = batch.raw_trades().collect();
        let mut connection = lock(&self.writer);
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&e))?;
        for (index, document) in batch.documents().iter().enumerate() {
            if let Document::Trade(_) = document {
                continue;
            }
            let Some(key) = document.key() else {
                summary
                    .rejected
                    .push((index, "bars of this timeframe are not stored".into()));
                continue;
            };
            let body = match document.to_json_string() {
                Ok(body) => body,
                Err(e) => {
                    summary.rejected.push((index, e.to_string()));
                    continue;
                }
            };
            let mut statement = tx
                .prepare_cached(&upsert_sql(key.kind))
                .map_err(|e| sql_error(&e))?;
            statement
                .execute(params![
                    key.venue.as_str(),
                    key.symbol,
                    key.key,
                    key.time,
                    body
                ])
                .map_err(|e| sql_error(&e))?;
            summary.written += 1;
        }
        // Pair by pair, each pair's rows go in one run at its end of the table (a batch
        // holds every pair interleaved); stable, so a pair's trades keep their order. The
        // pairs' order is the venues' and the symbols' (bytes, no text conversion per
        // comparison): only grouping matters.
        raw_trades.sort_by(|a, b| (a.venue, &a.symbol).cmp(&(b.venue, &b.symbol)));
        trades::insert(&tx, &raw_trades).map_err(|e| sql_error(&e))?;
        tx.commit().map_err(|e| sql_error(&e))?;
        drop(connection);
        summary.written += raw_trades.len();
        let mut last: Option<&crate::model::Trade> = None;
        for trade in raw_trades {
            if last.is_some_and(|l| l.venue == trade.venue && l.symbol == trade.symbol) {
                continue;
            }
            last = Some(trade);
            let pair = (
                trade.venue.as_str().to_owned(),
                trade.symbol.as_str().to_owned(),
            );
            lock(&self.trade_pairs).insert(pair);
        }
        Ok(summary)
    }

    fn read(&self, query: &Query) -> Result<Vec<Document>, StoreError> {
        query.validate()?;
        let direction = match query.order {
            Order::OldestFirst => "ASC",
            Order::NewestFirst => "DESC",
        };
        let is_trades = query.kind == Kind::Trades;
        let (columns, key) = if is_trades {
            (trades::SELECT_COLUMNS, "id")
        } else {
            ("doc", "key")
        };
        let mut sql = format!(
            "SELECT {columns} FROM {} WHERE time >= ?1 AND time < ?2",
            query.kind.as_str()
        );
        let venue = query.venue.map(|v| v.as_str());
        let symbol = query.symbol.map(|s| s.as_str().to_owned());
        sql.push_str(if venue.is_some() {
            " AND venue = ?3"
        } else {
            " AND ?3 IS NULL"
        });
        sql.push_str(if symbol.is_some() {
            " AND symbol = ?4"
        } else {
            " AND ?4 IS NULL"
        });
        sql.push_str(&format!(
            " ORDER BY time {direction}, {key} {direction} LIMIT ?5"
        ));
        let connection = lock(&self.reader);
        let mut statement = connection.prepare_cached(&sql).map_err(|e| sql_error(&e))?;
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        if is_trades {
            let rows = statement
                .query_map(
                    params![query.from, query.to, venue, symbol, limit],
                    trades::from_row,
                )
                .map_err(|e| sql_error(&e))?;
            return rows
                .map(|row| {
                    row.map(Document::Trade)
                        .map_err(|e| StoreError::Corrupt(format!("trades: {e}")))
                })
                .collect();
        }
        let rows = statement
            .query_map(params![query.from, query.to, venue, symbol, limit], |row| {
                row.get::<_, String>(0)
            })
            .map_err(|e| sql_error(&e))?;
        let mut documents = Vec::new();
        for row in rows {
            let text = row.map_err(|e| sql_error(&e))?;
            documents.push(
                Document::from_json_str(query.kind, &text)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", query.kind)))?,
            );
        }
        Ok(documents)
    }

    fn sweep(&self, now_ms: i64) -> Result<SweepSummary, StoreError> {
        let mut summary = SweepSummary::default();
        for kind in Kind::ALL {
            let cutoff = now_ms.saturating_sub(self.retention.millis(kind));
            let deleted = if kind == Kind::Trades {
                self.sweep_trades(cutoff)?
            } else {
                self.sweep_kind(kind, cutoff)?
            };
            if deleted > 0 {
                summary.deleted.push((kind, deleted));
            }
        }
        Ok(summary)
    }

    /// Deletes documents of `kind` older than `cutoff`, a chunk per transaction.
    fn sweep_kind(&self, kind: Kind, cutoff: i64) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM {table} WHERE rowid IN
               (SELECT rowid FROM {table} WHERE time < ?1 LIMIT {SWEEP_CHUNK})",
            table = kind.as_str()
        );
        let mut deleted = 0u64;
        loop {
            let connection = lock(&self.writer);
            let changed = connection
                .execute(&sql, params![cutoff])
                .map_err(|e| sql_error(&e))?;
            drop(connection);
            deleted += changed as u64;
            if changed < SWEEP_CHUNK {
                return Ok(deleted);
            }
        }
    }

    /// Deletes trades older than `cutoff`, pair by pair on the table's key, a chunk per
    /// transaction.
    fn sweep_trades(&self, cutoff: i64) -> Result<u64, StoreError> {
        let pairs: Vec<(String, String)> = lock(&self.trade_pairs).iter().cloned().collect();
        let mut deleted = 0u64;
        for (venue, symbol) in pairs {
            loop {
                let connection = lock(&self.writer);
                let changed =
                    trades::sweep_chunk(&connection, &venue, &symbol, cutoff, SWEEP_CHUNK)
                        .map_err(|e| sql_error(&e))?;
                drop(connection);
                deleted += changed as u64;
                if changed < SWEEP_CHUNK {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    fn ping(&self) -> Result<(), StoreError> {
        lock(&self.reader)
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(|e| sql_error(&e))
    }
}

impl Store for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    fn write(&self, batch: Batch) -> StoreFuture<'_, WriteSummary> {
        self.blocking(move |inner| inner.write(&batch))
    }

    fn read(&self, query: Query) -> StoreFuture<'_, Vec<Document>> {
        self.blocking(move |inner| inner.read(&query))
    }

    fn sweep(&self, now_ms: i64) -> StoreFuture<'_, SweepSummary> {
        self.blocking(move |inner| inner.sweep(now_ms))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        self.blocking(Inner::ping)
    }
}
