//! `wadm backfill`: imports the venues' public daily trade archives into the store, as the
//! 1-minute and 1-hour bars the daemon would have built from the same trades (and the raw
//! trades still inside the raw-trade retention).
//!
//! Each day's file is downloaded (resuming a part left by an interrupted run), checked
//! against the venue's checksum where one is published (a mismatch refuses the day), read
//! row by row ([`format`]) and fed, oldest first, through the daemon's own aggregation
//! ([`AggregatorCore`]), clocked by the trades' own times. Consecutive days share one
//! aggregation, so order-flow state (CVD of a session crossing midnight, the median behind
//! large trades) carries over as it does live; a day skipped or missing starts a new one.
//!
//! - **Idempotent**: documents are upserted on their keys and built from the file alone
//!   (the receive time of an imported trade is its trade time), so a second import writes
//!   the same documents. A day already imported (a marker in the cache directory) is
//!   skipped unless `--force`.
//! - **Resumable**: Ctrl-C stops between batches; the next run skips the days finished and
//!   continues the download it cut short.
//! - **Holes**: a recorded hole (trade gap, stop) whose time range lies inside the imported
//!   days is marked `repaired` in the store, with the count of archive trades inside it.
//!   A running daemon keeps its own view until it restarts.
//!
//! Documents older than their kind's retention are not written (the sweep would delete
//! them): import days within `retention.bars_1m` to get 1-minute bars.

pub mod format;
pub mod progress;
pub mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{info, warn};
use wadm_actors::aggregator::{AggregatorCore, BarRecord, CoreOutput, Record, RowSpec, Timeframe};
use wadm_actors::connection::rest_budget::RestBudget;
use wadm_actors::connection::rest_client::RestClient;
use wadm_actors::model::{
    DataQualityEvent, HoleState, InstrumentInfo, Qty, QualityKind, Symbol, TimestampMs, Trade,
    Venue,
};
use wadm_actors::storage::{Document, Kind, MAX_READ_LIMIT, Query, Retention, SharedStore};

use self::format::{ArchiveRows, Layout, RowError};
use self::source::{DayFile, DownloadProgress, Fetcher, Packing};
use crate::config::Config;

/// One UTC day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Trades handed to the aggregation at once (and at most this long apart, so that its
/// clock, set to the batch's first trade, never lags the trades by much).
const BATCH_TRADES: usize = 1_000;
const BATCH_SPAN_MS: i64 = 1_000;

/// Documents written to the store at once.
const WRITE_BATCH: usize = 5_000;

/// Why an import stopped (or a day was refused).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The command or the configuration does not allow the import.
    #[error("{0}")]
    Config(String),
    /// The venue has no file for that day (not yet published, or before the listing).
    #[error("not published: {url} answered 404")]
    NotPublished {
        /// The file's address.
        url: String,
    },
    /// The venue answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The file's address.
        url: String,
        status: u16,
    },
    /// The transfer failed.
    #[error("{url}: {reason}")]
    Transport {
        /// The file's address.
        url: String,
        /// Why.
        reason: String,
    },
    /// The answer is larger than any archive.
    #[error("{url} is larger than {limit} bytes")]
    TooLarge {
        /// The file's address.
        url: String,
        limit: u64,
    },
    /// The file does not match its published checksum (it is deleted), or the checksum
    /// file cannot be read.
    #[error("{file}: {reason}")]
    Checksum {
        /// The archive file.
        file: String,
        /// What did not match.
        reason: String,
    },
    /// The archive is not a readable zip or gzip.
    #[error("{file}: {reason}")]
    Unpack {
        /// The archive file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A row of the archive is not a trade (nothing of the day is written).
    #[error("{file}: {source}")]
    Row {
        /// The archive file.
        file: String,
        /// The row's problem.
        #[source]
        source: RowError,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store refused or did not answer.
    #[error("store: {0}")]
    Store(String),
    /// The venue's instrument metadata (for the tick size) could not be had.
    #[error("{0}")]
    Instrument(String),
    /// Ctrl-C: finished days are kept, the current one is redone next time.
    #[error("interrupted")]
    Interrupted,
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub venue: Venue,
    pub symbol: Symbol,
    /// First day (UTC midnight, ms).
    pub from: i64,
    /// Last day, included (UTC midnight, ms).
    pub to: i64,
    /// Where downloads and the markers of finished days are kept.
    pub cache_dir: PathBuf,
    /// Import days already imported again.
    pub force: bool,
    /// Keep the downloaded files after import.
    pub keep_files: bool,
}

/// What one day gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayOutcome {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// `imported`, `skipped` (imported before), or `failed`.
    pub outcome: String,
    /// Trades in the archive.
    pub trades: u64,
    /// 1-minute bars written.
    pub bars_1m: u64,
    /// 1-hour bars written.
    pub bars_1h: u64,
    /// 1-day bars written.
    pub bars_1d: u64,
    /// Raw trades written (inside the raw-trade retention).
    pub raw_trades: u64,
    /// Recorded holes marked repaired.
    pub holes_repaired: u64,
    /// Trade-id jumps inside the archive itself (recorded as data-quality events).
    pub archive_gaps: u64,
    /// The verified SHA-256 of the file, where the venue publishes one.
    pub sha256: Option<String>,
    /// Why the day failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DayOutcome {
    fn new(day: &str, outcome: &str) -> Self {
        Self {
            day: day.to_owned(),
            outcome: outcome.to_owned(),
            trades: 0,
            bars_1m: 0,
            bars_1h: 0,
            bars_1d: 0,
            raw_trades: 0,
            holes_repaired: 0,
            archive_gaps: 0,
            sha256: None,
            error: None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub venue: Venue,
    pub symbol: Symbol,
    /// Each day, oldest first.
    pub days: Vec<DayOutcome>,
    /// True when Ctrl-C stopped the import.
    pub interrupted: bool,
}

impl ImportSummary {
    /// True when every day was imported or skipped.
    pub fn complete(&self) -> bool {
        !self.interrupted && self.days.iter().all(|d| d.outcome != "failed")
    }
}

/// What the import reports as it goes (a progress bar on a terminal; nothing in tests).
pub trait ImportProgress: DownloadProgress {
    /// Reading `day`'s trades begins.
    fn reading(&self, day: &str);
    /// `trades` more were read.
    fn read(&self, trades: u64);
    /// The day is done.
    fn finished(&self, outcome: &DayOutcome);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl DownloadProgress for Silent {
    fn start(&self, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&self, _: u64) {}
}

impl ImportProgress for Silent {
    fn reading(&self, _: &str) {}
    fn read(&self, _: u64) {}
    fn finished(&self, _: &DayOutcome) {}
}

/// Parses `YYYY-MM-DD` to its UTC midnight in ms.
pub fn parse_day(text: &str) -> Result<i64, String> {
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(format!("{text:?} is not a date (YYYY-MM-DD)"));
    }
    let time = humantime::parse_rfc3339(&format!("{text}T00:00:00Z"))
        .map_err(|err| format!("{text:?} is not a date: {err}"))?;
    let ms = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{text:?} is before 1970"))?
        .as_millis();
    i64::try_from(ms).map_err(|_| format!("{text:?} is too far ahead"))
}

/// Formats a UTC midnight in ms as `YYYY-MM-DD`.
pub fn format_day(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339(time).to_string()[..10].to_owned()
}

/// The marker of a finished day.
fn marker_path(request: &ImportRequest, day: &str) -> PathBuf {
    request
        .cache_dir
        .join(request.venue.as_str())
        .join(request.symbol.as_str())
        .join(format!("{day}.done"))
}

/// Opens the configured store and imports `request` into it ([`import`]).
pub async fn import_into_configured_store(
    config: &Config,
    request: &ImportRequest,
    progress: &dyn ImportProgress,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<ImportSummary> {
    let store = crate::app::open_store(config).await?;
    store
        .ping()
        .await
        .map_err(|err| anyhow::anyhow!("the {} store does not answer: {err}", store.backend()))?;
    Ok(import(config, store, request, progress, cancel).await?)
}

/// Imports the days of `request`, oldest first. A day that fails (not published, bad
/// checksum, bad row) is reported and the next one is tried; Ctrl-C (`cancel`) stops after
/// the current batch.
pub async fn import(
    config: &Config,
    store: SharedStore,
    request: &ImportRequest,
    progress: &dyn ImportProgress,
    cancel: Arc<AtomicBool>,
) -> Result<ImportSummary, ArchiveError> {
    if request.to < request.from {
        return Err(ArchiveError::Config(format!(
            "--to {} is before --from {}",
            format_day(request.to),
            format_day(request.from)
        )));
    }
    let today = TimestampMs::now().as_millis().div_euclid(DAY_MS) * DAY_MS;
    if request.to >= today {
        return Err(ArchiveError::Config(format!(
            "--to {}: daily archives cover finished days only (the last is {})",
            format_day(request.to),
            format_day(today - DAY_MS)
        )));
    }
    let venue = config
        .venues
        .iter()
        .find(|v| v.venue == request.venue)
        .ok_or_else(|| ArchiveError::Config(format!("{} is not configured", request.venue)))?;
    let fetcher = Fetcher::new(
        config
            .connection
            .settings
            .rest_timeout
            .max(Duration::from_secs(30)),
    )?;
    let instrument = instrument(config, request).await?;
    let retention = crate::app::retention(&config.retention);
    let layout = Layout::of(request.venue);
    let mut summary = ImportSummary {
        venue: request.venue,
        symbol: request.symbol,
        days: Vec::new(),
        interrupted: false,
    };
    let folder = request
        .cache_dir
        .join(request.venue.as_str())
        .join(request.symbol.as_str());
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(|e| source::io(&folder, e))?;
    let holes = open_holes(&store, request).await?;
    let mut run: Option<Run> = None;
    let mut day_ms = request.from;
    while day_ms <= request.to {
        let day = format_day(day_ms);
        let marker = marker_path(request, &day);
        if !request.force && marker.exists() {
            // A skipped day ends the run: the next day starts a new aggregation.
            run = None;
            let mut outcome =
                read_marker(&marker).unwrap_or_else(|| DayOutcome::new(&day, "skipped"));
            outcome.outcome = "skipped".into();
            progress.finished(&outcome);
            info!(venue = %request.venue, symbol = %request.symbol, day, "already imported; skipped (--force imports it again)");
            summary.days.push(outcome);
            day_ms += DAY_MS;
            continue;
        }
        let file = DayFile::locate(request.venue, &venue.archive_url, request.symbol, &day)?;
        let path = folder.join(&file.name);
        let fetched = fetch(&fetcher, &file, &path, progress, &cancel).await;
        let sha256 = match fetched {
            Ok(sha256) => sha256,
            Err(ArchiveError::Interrupted) => {
                summary.interrupted = true;
                break;
            }
            Err(err) => {
                warn!(venue = %request.venue, symbol = %request.symbol, day, error = %err, "day not imported");
                run = None;
                let mut outcome = DayOutcome::new(&day, "failed");
                outcome.error = Some(err.to_string());
                progress.finished(&outcome);
                summary.days.push(outcome);
                day_ms += DAY_MS;
                continue;
            }
        };
        progress.reading(&day);
        let current = run.take().unwrap_or_else(|| {
            Run::new(
                config,
                request,
                instrument.clone(),
                holes.clone(),
                retention,
                layout,
            )
        });
        match import_day(
            current,
            &store,
            &path,
            file.packing,
            &day,
            day_ms,
            progress,
            &cancel,
        )
        .await
        {
            Ok((mut current, mut outcome)) => {
                outcome.sha256 = sha256;
                roll_up_day(&mut current, &store, day_ms, &mut outcome).await?;
                settle_holes(&mut current, &store, &mut outcome).await?;
                write_marker(&marker, &outcome)?;
                if !request.keep_files {
                    let _ = tokio::fs::remove_file(&path).await;
                }
                info!(venue = %request.venue, symbol = %request.symbol, day, trades = outcome.trades, bars_1m = outcome.bars_1m, bars_1h = outcome.bars_1h, bars_1d = outcome.bars_1d, raw_trades = outcome.raw_trades, holes_repaired = outcome.holes_repaired, "day imported");
                progress.finished(&outcome);
                summary.days.push(outcome);
                run = Some(current);
            }
            Err(ArchiveError::Interrupted) => {
                summary.interrupted = true;
                break;
            }
            Err(err) => {
                warn!(venue = %request.venue, symbol = %request.symbol, day, error = %err, "day not imported");
                let mut outcome = DayOutcome::new(&day, "failed");
                outcome.error = Some(err.to_string());
                progress.finished(&outcome);
                summary.days.push(outcome);
                if matches!(err, ArchiveError::Store(_)) {
                    return Err(err);
                }
            }
        }
        day_ms += DAY_MS;
    }
    Ok(summary)
}

/// The tick size the daemon's aggregator would use: the configured override, else the
/// venue's instrument metadata (not needed with a fixed row size).
async fn instrument(
    config: &Config,
    request: &ImportRequest,
) -> Result<Option<InstrumentInfo>, ArchiveError> {
    if matches!(config.row_spec(request.symbol), RowSpec::Fixed(_)) {
        return Ok(None);
    }
    let venue = config
        .venues
        .iter()
        .find(|v| v.venue == request.venue)
        .ok_or_else(|| ArchiveError::Config(format!("{} is not configured", request.venue)))?;
    let overridden = venue.tick_sizes.get(&request.symbol).copied().or_else(|| {
        config
            .symbols
            .get(&request.symbol)
            .and_then(|s| s.tick_size)
    });
    if let Some(tick_size) = overridden {
        return Ok(Some(InstrumentInfo {
            venue: request.venue,
            symbol: request.symbol,
            tick_size,
            lot_size: Qty::ZERO,
            trading: true,
        }));
    }
    let budget = Arc::new(RestBudget::new(request.venue, config.rest_limits(venue)));
    let client = RestClient::new(
        request.venue,
        venue.rest_url.clone(),
        config.connection.settings.rest_timeout,
        budget,
    )
    .map_err(|err| ArchiveError::Instrument(format!("no REST client: {err}")))?;
    let answer = client.instruments(&[request.symbol]).await;
    match answer.into_iter().next() {
        Some((_, Ok(info))) => Ok(Some(info)),
        Some((_, Err(err))) => Err(ArchiveError::Instrument(format!(
            "the tick size of {} on {} is needed for the row grid: {err}",
            request.symbol, request.venue
        ))),
        None => Err(ArchiveError::Instrument(format!(
            "{} did not describe {}",
            request.venue, request.symbol
        ))),
    }
}

/// Downloads a day's file unless a verified copy is already there; returns its checksum.
async fn fetch(
    fetcher: &Fetcher,
    file: &DayFile,
    path: &Path,
    progress: &dyn ImportProgress,
    cancel: &Arc<AtomicBool>,
) -> Result<Option<String>, ArchiveError> {
    let expected = match &file.checksum_url {
        Some(url) => Some(fetcher.checksum(url, &file.name).await?),
        None => None,
    };
    if !path.exists() {
        fetcher.download(&file.url, path, progress, cancel).await?;
    }
    let Some(expected) = expected else {
        return Ok(None);
    };
    let hashed = path.to_path_buf();
    let actual = tokio::task::spawn_blocking(move || source::sha256_file(&hashed))
        .await
        .map_err(|err| ArchiveError::Checksum {
            file: file.name.clone(),
            reason: format!("hashing failed: {err}"),
        })?
        .map_err(|e| source::io(path, e))?;
    if actual != expected {
        // A corrupt file is not kept: the next run downloads it again.
        let _ = tokio::fs::remove_file(path).await;
        return Err(ArchiveError::Checksum {
            file: file.name.clone(),
            reason: format!(
                "SHA-256 {actual} does not match the published {expected}; the file is refused and deleted"
            ),
        });
    }
    Ok(Some(actual))
}

/// A recorded hole the import may close.
#[derive(Debug, Clone)]
struct HoleTally {
    event: DataQualityEvent,
    from: i64,
    to: i64,
    trades: u64,
}

/// The open holes of the pair with a time range.
async fn open_holes(
    store: &SharedStore,
    request: &ImportRequest,
) -> Result<Vec<HoleTally>, ArchiveError> {
    let query = Query::range(
        Kind::DataQuality,
        request.venue,
        request.symbol,
        request.from,
        i64::MAX,
    )
    .limit(MAX_READ_LIMIT);
    let documents = store
        .read(query)
        .await
        .map_err(|err| ArchiveError::Store(err.to_string()))?;
    Ok(documents
        .into_iter()
        .filter_map(|document| match document {
            Document::Quality(event) => Some(event),
            _ => None,
        })
        .filter(|event| event.kind.is_hole() && event.state.is_some_and(HoleState::is_open))
        .filter_map(|event| {
            let (from, to) = (event.from_time?.as_millis(), event.to_time?.as_millis());
            Some(HoleTally {
                event,
                from,
                to,
                trades: 0,
            })
        })
        .collect())
}

/// One aggregation over consecutive days.
#[derive(Debug)]
struct Run {
    core: AggregatorCore,
    venue: Venue,
    symbol: Symbol,
    holes: Vec<HoleTally>,
    retention: Retention,
    raw_trades: bool,
    grace_ms: i64,
    first_day: Option<i64>,
    end: i64,
    /// The 1-hour bars built for the day being imported (the day's bar is their sum).
    hours: Vec<Arc<BarRecord>>,
}

impl Run {
    fn new(
        config: &Config,
        request: &ImportRequest,
        instrument: Option<InstrumentInfo>,
        holes: Vec<HoleTally>,
        retention: Retention,
        layout: Layout,
    ) -> Self {
        let mut core = AggregatorCore::new(
            request.venue,
            request.symbol,
            Arc::new(config.aggregator_settings(request.symbol)),
            config.row_spec(request.symbol),
        );
        if let Some(info) = instrument {
            core.on_instrument(info);
        }
        Self {
            core,
            venue: request.venue,
            symbol: request.symbol,
            holes,
            retention,
            raw_trades: config.persistence.raw_trades && layout.has_venue_ids(),
            grace_ms: i64::try_from(config.aggregator.settings.close_grace.as_millis())
                .unwrap_or(0),
            first_day: None,
            end: 0,
            hours: Vec::new(),
        }
    }

    /// Turns what the aggregation produced into documents (those still inside their
    /// retention), counting them into `outcome`.
    fn collect(&mut self, now: i64, documents: &mut Vec<Document>, outcome: &mut DayOutcome) {
        for output in self.core.drain() {
            match output {
                CoreOutput::Record(Record::Bar(bar)) => {
                    let Some(kind) = Kind::of_bars(bar.timeframe) else {
                        continue;
                    };
                    if bar.timeframe == Timeframe::H1 {
                        self.hours.push(Arc::clone(&bar));
                    }
                    if bar.report.start < now - self.retention.millis(kind) {
                        continue;
                    }
                    match kind {
                        Kind::Bars1m => outcome.bars_1m += 1,
                        _ => outcome.bars_1h += 1,
                    }
                    documents.push(Document::Bar(bar));
                }
                CoreOutput::Record(Record::Trades(trades)) if self.raw_trades => {
                    let oldest = now - self.retention.millis(Kind::Trades);
                    for trade in trades.iter().filter(|t| t.trade_time.as_millis() >= oldest) {
                        outcome.raw_trades += 1;
                        documents.push(Document::Trade(trade.clone()));
                    }
                }
                CoreOutput::Quality(mut event) if event.kind == QualityKind::TradeGap => {
                    // Timed by the hole, not the import, so a second import writes the
                    // same event.
                    if let Some(time) = event.to_time {
                        event.time = time;
                    }
                    event.cause = "trade id jump inside the daily archive".into();
                    outcome.archive_gaps += 1;
                    documents.push(Document::Quality(event));
                }
                CoreOutput::Record(_) | CoreOutput::Quality(_) => {}
            }
        }
    }
}

/// Reads one day's file through the run's aggregation and writes what it gives. Returns
/// the run (to go on with the next day) and the day's outcome; on an error the run is
/// over (the next day starts a new one).
#[allow(clippy::too_many_arguments)]
async fn import_day(
    mut run: Run,
    store: &SharedStore,
    path: &Path,
    packing: Packing,
    day: &str,
    day_ms: i64,
    progress: &dyn ImportProgress,
    cancel: &Arc<AtomicBool>,
) -> Result<(Run, DayOutcome), ArchiveError> {
    let (documents_tx, mut documents_rx) = mpsc::channel::<Vec<Document>>(4);
    let (read_tx, mut read_rx) = mpsc::unbounded_channel::<u64>();
    let path_owned = path.to_path_buf();
    let day_owned = day.to_owned();
    let cancel_owned = Arc::clone(cancel);
    let reader = tokio::task::spawn_blocking(move || {
        let result = read_day(
            &mut run,
            &path_owned,
            packing,
            &day_owned,
            day_ms,
            &documents_tx,
            &read_tx,
            &cancel_owned,
        );
        result.map(|outcome| (run, outcome))
    });
    let mut write_error = None;
    loop {
        tokio::select! {
            Some(count) = read_rx.recv() => progress.read(count),
            batch = documents_rx.recv() => match batch {
                Some(batch) => {
                    if write_error.is_none()
                        && let Err(err) = store.write(batch.into()).await
                    {
                        write_error = Some(ArchiveError::Store(err.to_string()));
                    }
                }
                None => break,
            },
        }
    }
    let done = reader.await.map_err(|err| ArchiveError::Unpack {
        file: path.display().to_string(),
        reason: format!("the reader failed: {err}"),
    })?;
    match write_error {
        Some(err) => Err(err),
        None => done,
    }
}

/// Writes the day's 1-day bar, summed from the 1-hour bars the import built for it (as
/// the daemon's persistence sums a finished day's stored hours), when it is inside the
/// 1-day bars' retention (which outlasts the hours').
async fn roll_up_day(
    run: &mut Run,
    store: &SharedStore,
    day_ms: i64,
    outcome: &mut DayOutcome,
) -> Result<(), ArchiveError> {
    let hours = std::mem::take(&mut run.hours);
    let now = TimestampMs::now().as_millis();
    if day_ms < now - run.retention.millis(Kind::Bars1d) {
        return Ok(());
    }
    let record = BarRecord::rollup(Timeframe::D1, day_ms, &hours)
        .map_err(|err| ArchiveError::Store(format!("the day's hours cannot be summed: {err}")))?;
    if let Some(record) = record {
        store
            .write(vec![Document::Bar(Arc::new(record))].into())
            .await
            .map_err(|err| ArchiveError::Store(err.to_string()))?;
        outcome.bars_1d += 1;
    }
    Ok(())
}

/// The blocking half of [`import_day`]: unpacks, parses, aggregates, and hands documents
/// over in batches.
#[allow(clippy::too_many_arguments)]
fn read_day(
    run: &mut Run,
    path: &Path,
    packing: Packing,
    day: &str,
    day_ms: i64,
    documents: &mpsc::Sender<Vec<Document>>,
    read: &mpsc::UnboundedSender<u64>,
    cancel: &AtomicBool,
) -> Result<DayOutcome, ArchiveError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unpack = |reason: String| ArchiveError::Unpack {
        file: name.clone(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| source::io(path, e))?;
    let mut outcome = DayOutcome::new(day, "imported");
    let now = TimestampMs::now().as_millis();
    match packing {
        Packing::Zip => {
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
                .map_err(|err| unpack(format!("not a zip archive: {err}")))?;
            if zip.len() != 1 {
                return Err(unpack(format!(
                    "{} files in the archive, one expected",
                    zip.len()
                )));
            }
            let entry = zip
                .by_index(0)
                .map_err(|err| unpack(format!("unreadable entry: {err}")))?;
            let rows = ArchiveRows::new(run.venue, run.symbol, day, std::io::BufReader::new(entry));
            // Binance files are in id order: trades stream straight through.
            feed(
                run,
                rows,
                &name,
                day_ms,
                now,
                documents,
                read,
                cancel,
                &mut outcome,
            )?;
        }
        Packing::Gzip => {
            let rows = ArchiveRows::new(
                run.venue,
                run.symbol,
                day,
                std::io::BufReader::new(flate2::read::GzDecoder::new(std::io::BufReader::new(
                    file,
                ))),
            );
            // Bybit does not promise an order: the day is read whole and put in time order
            // (stable, so trades of one millisecond keep the file's order).
            let mut trades = Vec::new();
            for row in rows {
                if cancel.load(Ordering::Relaxed) {
                    return Err(ArchiveError::Interrupted);
                }
                trades.push(row.map_err(|source| ArchiveError::Row {
                    file: name.clone(),
                    source,
                })?);
            }
            if !trades.is_sorted_by_key(|t| t.trade_time) {
                trades.sort_by_key(|t| t.trade_time);
            }
            feed(
                run,
                trades.into_iter().map(Ok),
                &name,
                day_ms,
                now,
                documents,
                read,
                cancel,
                &mut outcome,
            )?;
        }
    }
    // Close the day's last minute and hour: the clock reaches the day's end plus the close
    // grace, before the next day's first trade.
    run.core.tick(day_ms + DAY_MS + run.grace_ms);
    let mut batch = Vec::new();
    run.collect(now, &mut batch, &mut outcome);
    send(documents, batch)?;
    run.first_day.get_or_insert(day_ms);
    run.end = day_ms + DAY_MS;
    Ok(outcome)
}

/// Feeds trades to the aggregation in batches clocked by their first trade.
#[allow(clippy::too_many_arguments)]
fn feed(
    run: &mut Run,
    rows: impl Iterator<Item = Result<Trade, RowError>>,
    name: &str,
    day_ms: i64,
    now: i64,
    documents: &mpsc::Sender<Vec<Document>>,
    read: &mpsc::UnboundedSender<u64>,
    cancel: &AtomicBool,
    outcome: &mut DayOutcome,
) -> Result<(), ArchiveError> {
    let mut batch: Vec<Trade> = Vec::with_capacity(BATCH_TRADES);
    let mut pending: Vec<Document> = Vec::with_capacity(WRITE_BATCH);
    let flush = |run: &mut Run,
                 batch: &mut Vec<Trade>,
                 pending: &mut Vec<Document>,
                 outcome: &mut DayOutcome|
     -> Result<(), ArchiveError> {
        if let Some(first) = batch.first() {
            run.core.tick(first.trade_time.as_millis());
            let taken = std::mem::replace(batch, Vec::with_capacity(BATCH_TRADES));
            let _ = read.send(taken.len() as u64);
            run.core.on_trades(taken);
            run.collect(now, pending, outcome);
        }
        if pending.len() >= WRITE_BATCH {
            send(documents, std::mem::take(pending))?;
        }
        Ok(())
    };
    for row in rows {
        let trade = row.map_err(|source| ArchiveError::Row {
            file: name.to_owned(),
            source,
        })?;
        let time = trade.trade_time.as_millis();
        if !(day_ms..day_ms + DAY_MS).contains(&time) {
            return Err(ArchiveError::Row {
                file: name.to_owned(),
                source: RowError::Field {
                    line: outcome.trades + 1,
                    column: "time",
                    reason: format!("{time} is outside the day"),
                },
            });
        }
        outcome.trades += 1;
        for hole in &mut run.holes {
            if (hole.from..=hole.to).contains(&time) {
                hole.trades += 1;
            }
        }
        let full = batch.len() >= BATCH_TRADES
            || batch
                .first()
                .is_some_and(|first| time - first.trade_time.as_millis() >= BATCH_SPAN_MS);
        if full {
            if cancel.load(Ordering::Relaxed) {
                return Err(ArchiveError::Interrupted);
            }
            flush(run, &mut batch, &mut pending, outcome)?;
        }
        batch.push(trade);
    }
    flush(run, &mut batch, &mut pending, outcome)?;
    send(documents, pending)
}

fn send(documents: &mpsc::Sender<Vec<Document>>, batch: Vec<Document>) -> Result<(), ArchiveError> {
    if batch.is_empty() {
        return Ok(());
    }
    documents
        .blocking_send(batch)
        .map_err(|_| ArchiveError::Store("the writer stopped".into()))
}

/// Marks the recorded holes that lie inside the run's days (all imported now) repaired.
async fn settle_holes(
    run: &mut Run,
    store: &SharedStore,
    outcome: &mut DayOutcome,
) -> Result<(), ArchiveError> {
    let Some(start) = run.first_day else {
        return Ok(());
    };
    let end = run.end;
    let (covered, open): (Vec<HoleTally>, Vec<HoleTally>) = std::mem::take(&mut run.holes)
        .into_iter()
        .partition(|hole| hole.from >= start && hole.to < end);
    run.holes = open;
    if covered.is_empty() {
        return Ok(());
    }
    outcome.holes_repaired = covered.len() as u64;
    let repaired: Vec<Document> = covered
        .into_iter()
        .map(|hole| {
            let mut event = hole.event;
            event.state = Some(HoleState::Repaired);
            event.recovered = Some(hole.trades);
            Document::Quality(event)
        })
        .collect();
    store
        .write(repaired.into())
        .await
        .map(|_| ())
        .map_err(|err| ArchiveError::Store(err.to_string()))
}

fn write_marker(path: &Path, outcome: &DayOutcome) -> Result<(), ArchiveError> {
    let text = serde_json::to_string_pretty(outcome).map_err(|err| ArchiveError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(err),
    })?;
    std::fs::write(path, text).map_err(|e| source::io(path, e))
}

fn read_marker(path: &Path) -> Option<DayOutcome> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The default cache directory: `archives` beside the embedded store's files, or under
/// `./data` with MongoDB.
pub fn default_cache_dir(config: &Config) -> PathBuf {
    match &config.storage {
        crate::config::StorageConfig::Embedded { path } => path.join("archives"),
        crate::config::StorageConfig::MongoDb { .. } => PathBuf::from("data/archives"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_and_format() {
        assert_eq!(parse_day("1970-01-02"), Ok(DAY_MS));
        let day = parse_day("2024-02-29").unwrap();
        assert_eq!(day % DAY_MS, 0);
        assert_eq!(format_day(day), "2024-02-29");
        assert!(parse_day("2023-02-29").is_err());
        assert!(parse_day("2024-2-29").is_err());
        assert!(parse_day("20240229").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
