//! The MongoDB store, on the official `mongodb` driver.
//!
//! One collection per kind (named as [`Kind::as_str`]), each document
//! `{venue, symbol, key, time: <BSON date>, data: {...}}` with the body under `data`
//! (decimals as exact strings). Indexes, created at start: `key` (unique, on the kind's
//! unique key), `range` (`venue, symbol, time`) and `ttl` (`time`, `expireAfterSeconds` the
//! kind's retention; changed in place with `collMod` when the configuration changes).
//!
//! A batch is one unordered `update` command per kind with replacement upserts, so a
//! duplicate or one bad document does not block the rest; the server's per-document write
//! errors come back as rejections. Raw trades, which never change, are inserted instead
//! (one unordered `insert` command): a trade already stored answers with a duplicate-key
//! error, which means it is there, and counts as written. Keys repeated within a batch are reduced to their last
//! document first (an unordered batch does not apply in order). The URI and credentials are
//! never logged: `Debug` shows only the database name.

use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{self, Bson, Document as BsonDocument, doc};
use mongodb::options::{ClientOptions, Credential, IndexOptions};
use mongodb::{Client, Database, IndexModel};

use crate::model::TimestampMs;

use super::{
    Batch, DocKey, Document, Kind, Order, Query, Retention, Store, StoreError, StoreFuture,
    StoredLiquidation, SweepSummary, WriteSummary,
};

/// How to reach MongoDB.
#[derive(Clone, PartialEq, Eq)]
pub struct MongoOptions {
    /// Connection string (may carry credentials).
    pub uri: String,
    /// Database name.
    pub database: String,
    /// User name, when not in the URI.
    pub username: Option<String>,
    /// Password, when not in the URI.
    pub password: Option<String>,
    /// How long an operation waits for a usable server before the store counts as
    /// unavailable.
    pub server_selection_timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for MongoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoOptions")
            .field("database", &self.database)
            .field("server_selection_timeout", &self.server_selection_timeout)
            .finish_non_exhaustive()
    }
}

impl MongoOptions {
    /// Options for `uri` and `database` with default timeouts and no separate credentials.
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            database: database.into(),
            username: None,
            password: None,
            server_selection_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The MongoDB store.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    retention: Retention,
    /// Set once the indexes are in place; until then every call tries to create them first,
    /// so a server unreachable at start only delays writes (they stay buffered).
    indexes: Arc<tokio::sync::OnceCell<()>>,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("database", &self.db.name())
            .finish_non_exhaustive()
    }
}

fn driver_error(error: &mongodb::error::Error) -> StoreError {
    use mongodb::error::ErrorKind;
    match *error.kind {
        ErrorKind::InvalidArgument { .. } | ErrorKind::BsonSerialization(_) => {
            StoreError::Rejected(error.to_string())
        }
        ErrorKind::BsonDeserialization(_) => StoreError::Corrupt(error.to_string()),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

impl MongoStore {
    /// Parses the options and creates the client; nothing is contacted yet.
    pub async fn new(options: &MongoOptions, retention: Retention) -> Result<Self, StoreError> {
        let mut client_options = ClientOptions::parse(&options.uri)
            .await
            .map_err(|e| StoreError::Rejected(format!("MongoDB URI: {}", e.kind)))?;
        client_options.app_name = Some("wadm".into());
        client_options.server_selection_timeout = Some(options.server_selection_timeout);
        client_options.connect_timeout = Some(options.connect_timeout);
        if let Some(username) = &options.username {
            client_options.credential = Some(
                Credential::builder()
                    .username(username.clone())
                    .password(options.password.clone())
                    .build(),
            );
        }
        let client = Client::with_options(client_options).map_err(|e| driver_error(&e))?;
        let db = client.database(&options.database);
        Ok(Self {
            client,
            db,
            retention,
            indexes: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// Makes sure the indexes exist (once per store).
    async fn ready(&self) -> Result<(), StoreError> {
        self.indexes
            .get_or_try_init(|| self.ensure_indexes())
            .await
            .map(|_| ())
    }

    /// Connects and makes sure every collection has its indexes, with TTLs of the configured
    /// retention (changed in place where they differ).
    pub async fn connect(options: &MongoOptions, retention: Retention) -> Result<Self, StoreError> {
        let store = Self::new(options, retention).await?;
        store.ready().await?;
        Ok(store)
    }

    /// Creates the indexes of every collection; updates TTLs that differ from the retention.
    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        for kind in Kind::ALL {
            let collection = self.db.collection::<BsonDocument>(kind.as_str());
            let seconds = i64::try_from(self.retention.of(kind).as_secs()).unwrap_or(i64::MAX);
            // A missing collection answers NamespaceNotFound (26): nothing to update.
            if let Ok(Some(current)) = self.ttl_index(kind).await
                && current != Some(seconds)
            {
                self.db
                    .run_command(doc! {
                        "collMod": kind.as_str(),
                        "index": {"name": "ttl", "expireAfterSeconds": seconds},
                    })
                    .await
                    .map_err(|e| driver_error(&e))?;
            }
            let key = if kind.time_in_key() {
                doc! {"venue": 1, "symbol": 1, "time": 1, "key": 1}
            } else {
                doc! {"venue": 1, "symbol": 1, "key": 1}
            };
            let models = vec![
                IndexModel::builder()
                    .keys(key)
                    .options(
                        IndexOptions::builder()
                            .name("key".to_owned())
                            .unique(true)
                            .build(),
                    )
                    .build(),
                IndexModel::builder()
                    .keys(doc! {"venue": 1, "symbol": 1, "time": 1})
                    .options(IndexOptions::builder().name("range".to_owned()).build())
                    .build(),
                IndexModel::builder()
                    .keys(doc! {"time": 1})
                    .options(
                        IndexOptions::builder()
                            .name("ttl".to_owned())
                            .expire_after(Duration::from_secs(seconds.unsigned_abs()))
                            .build(),
                    )
                    .build(),
            ];
            collection
                .create_indexes(models)
                .await
                .map_err(|e| driver_error(&e))?;
        }
        Ok(())
    }

    /// The `ttl` index of `kind`'s collection: `None` when it has none, else its
    /// `expireAfterSeconds` as the server has it.
    async fn ttl_index(&self, kind: Kind) -> Result<Option<Option<i64>>, mongodb::error::Error> {
        let answer = self
            .db
            .run_command(doc! {"listIndexes": kind.as_str()})
            .await?;
        let batch = answer
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .cloned()
            .unwrap_or_default();
        Ok(batch.iter().find_map(|index| {
            let index = index.as_document()?;
            (index.get_str("name").ok()? == "ttl")
                .then(|| bson_i64(index.get("expireAfterSeconds")))
        }))
    }

    /// The TTL (`expireAfterSeconds`) of each collection's `ttl` index, as the server has it.
    pub async fn ttl_seconds(&self) -> Result<Vec<(Kind, Option<i64>)>, StoreError> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let ttl = self.ttl_index(kind).await.map_err(|e| driver_error(&e))?;
            out.push((kind, ttl.flatten()));
        }
        Ok(out)
    }

    /// Drops the whole database (tests, and an operator's reset).
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        self.db.drop().await.map_err(|e| driver_error(&e))
    }

    /// Closes the client (after the last use).
    pub async fn shutdown(self) {
        self.client.shutdown().await;
    }

    async fn write_batch(&self, batch: &Batch) -> Result<WriteSummary, StoreError> {
        self.ready().await?;
        // Every document is encoded on its own here, raw trades too: one list, in the
        // batch's position order.
        let documents = batch.to_documents();
        let (commands, mut summary) = commands(&documents);
        for command in commands {
            let answer = self
                .db
                .run_command(command.body)
                .await
                .map_err(|e| driver_error(&e))?;
            let errors = answer.get_array("writeErrors").cloned().unwrap_or_default();
            let mut failed = 0;
            for error in errors {
                let Some(error) = error.as_document() else {
                    continue;
                };
                // Insert-only: the trade is already stored.
                if command.kind == Kind::Trades
                    && bson_i64(error.get("code")) == Some(DUPLICATE_KEY)
                {
                    continue;
                }
                failed += 1;
                let position = bson_i64(error.get("index"))
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| command.indexes.get(i).copied())
                    .unwrap_or(usize::MAX);
                let message = error.get_str("errmsg").unwrap_or("write error").to_owned();
                summary.rejected.push((position, message));
            }
            summary.written += command.indexes.len().saturating_sub(failed);
        }
        summary.rejected.sort_by_key(|(index, _)| *index);
        Ok(summary)
    }

    async fn read_range(&self, query: &Query) -> Result<Vec<Document>, StoreError> {
        query.validate()?;
        self.ready().await?;
        let direction = match query.order {
            Order::OldestFirst => 1,
            Order::NewestFirst => -1,
        };
        // Bounds beyond any plausible time (year 9999) select the same documents.
        let bound =
            |ms: i64| bson::DateTime::from_millis(ms.clamp(0, TimestampMs::MAX_PLAUSIBLE + 1));
        let mut filter = doc! {
            "time": {"$gte": bound(query.from), "$lt": bound(query.to)}
        };
        if let Some(venue) = query.venue {
            filter.insert("venue", venue.as_str());
        }
        if let Some(symbol) = query.symbol {
            filter.insert("symbol", symbol.as_str());
        }
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let mut cursor = self
            .db
            .collection::<BsonDocument>(query.kind.as_str())
            .find(filter)
            .sort(doc! {"time": direction, "key": direction})
            .limit(limit)
            .await
            .map_err(|e| driver_error(&e))?;
        let mut documents = Vec::new();
        while cursor.advance().await.map_err(|e| driver_error(&e))? {
            let stored: BsonDocument =
                cursor.deserialize_current().map_err(|e| driver_error(&e))?;
            let data = stored
                .get("data")
                .cloned()
                .ok_or_else(|| StoreError::Corrupt(format!("{}: no data field", query.kind)))?;
            let value = data.into_relaxed_extjson();
            documents.push(
                Document::from_json(query.kind, value)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", query.kind)))?,
            );
        }
        Ok(documents)
    }
}

/// One write command of a batch: its kind, the command document as sent, and the batch
/// index of each of its operations (the server's errors name operations by position).
#[derive(Debug)]
pub struct WriteCommand {
    pub kind: Kind,
    pub body: BsonDocument,
    pub indexes: Vec<usize>,
}

/// The commands that write `batch`, one per kind (an unordered `insert` of raw trades, an
/// unordered `update` with replacement upserts of the rest), and what is already known of
/// the outcome: documents that cannot be stored are rejected, and a key repeated within the
/// batch counts as written once its last document is (an unordered batch does not apply in
/// order).
pub fn commands(batch: &[Document]) -> (Vec<WriteCommand>, WriteSummary) {
    let mut summary = WriteSummary::default();
    // Per kind, the batch indexes of the last document of each key.
    let mut per_kind: std::collections::BTreeMap<Kind, Vec<(usize, DocKey)>> =
        std::collections::BTreeMap::new();
    let mut seen: std::collections::HashMap<DocKey, usize> = std::collections::HashMap::new();
    for (index, document) in batch.iter().enumerate() {
        match document.key() {
            Some(key) => {
                seen.insert(key, index);
            }
            None => summary
                .rejected
                .push((index, "bars of this timeframe are not stored".into())),
        }
    }
    let mut last: Vec<(usize, DocKey)> = seen.into_iter().map(|(k, i)| (i, k)).collect();
    last.sort_by_key(|(index, _)| *index);
    summary.written += batch.len() - summary.rejected.len() - last.len();
    for (index, key) in last {
        per_kind.entry(key.kind).or_default().push((index, key));
    }
    let mut commands = Vec::with_capacity(per_kind.len());
    for (kind, entries) in per_kind {
        let mut operations = Vec::with_capacity(entries.len());
        let mut indexes = Vec::with_capacity(entries.len());
        for (index, key) in entries {
            match body_bson(&batch[index]) {
                Ok(data) => {
                    let time = Bson::DateTime(bson::DateTime::from_millis(key.time));
                    let stored = doc! {
                        "venue": key.venue.as_str(),
                        "symbol": &key.symbol,
                        "key": &key.key,
                        "time": time.clone(),
                        "data": data,
                    };
                    operations.push(if kind == Kind::Trades {
                        stored
                    } else {
                        let filter = if kind.time_in_key() {
                            doc! {"venue": key.venue.as_str(), "symbol": &key.symbol, "time": time, "key": &key.key}
                        } else {
                            doc! {"venue": key.venue.as_str(), "symbol": &key.symbol, "key": &key.key}
                        };
                        doc! {"q": filter, "u": stored, "upsert": true}
                    });
                    indexes.push(index);
                }
                Err(e) => summary.rejected.push((index, e.to_string())),
            }
        }
        if operations.is_empty() {
            continue;
        }
        let body = if kind == Kind::Trades {
            doc! {"insert": kind.as_str(), "documents": operations, "ordered": false}
        } else {
            doc! {"update": kind.as_str(), "updates": operations, "ordered": false}
        };
        commands.push(WriteCommand {
            kind,
            body,
            indexes,
        });
    }
    (commands, summary)
}

/// The server's error code for a unique-index violation.
const DUPLICATE_KEY: i64 = 11_000;

fn bson_i64(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        // Servers may answer whole numbers as doubles; only exact integers are accepted.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        Bson::Double(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(*v as i64),
        _ => None,
    }
}

fn body_bson(document: &Document) -> Result<Bson, bson::ser::Error> {
    match document {
        Document::Trade(t) => bson::to_bson(t),
        Document::Bar(b) => bson::to_bson(&**b),
        Document::Book(b) => bson::to_bson(&**b),
        Document::Kline(k) => bson::to_bson(&**k),
        Document::Quality(q) => bson::to_bson(q),
        Document::Liquidation(l, occurrence) => bson::to_bson(&StoredLiquidation {
            liquidation: l.clone(),
            occurrence: *occurrence,
        }),
        Document::Funding(f) => bson::to_bson(&**f),
        Document::Alert(a) => bson::to_bson(&**a),
    }
}

impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    fn write(&self, batch: Batch) -> StoreFuture<'_, WriteSummary> {
        Box::pin(async move { self.write_batch(&batch).await })
    }

    fn read(&self, query: Query) -> StoreFuture<'_, Vec<Document>> {
        Box::pin(async move { self.read_range(&query).await })
    }

    fn sweep(&self, _now_ms: i64) -> StoreFuture<'_, SweepSummary> {
        // TTL indexes expire documents on the server.
        Box::pin(async { Ok(SweepSummary::default()) })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.db
                .run_command(doc! {"ping": 1})
                .await
                .map(|_| ())
                .map_err(|e| driver_error(&e))
        })
    }
}
