//! Reading what a warm start needs from the store: the last 25 h of one pair's 1-minute
//! bars, its recent raw trades, and its holes (trade gaps, downtime, restarts) of the same
//! span, so that answers after a restart still state them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;

use super::aggregation::History;
use super::bar::Timeframe;
use super::ledger::OPAQUE_HORIZON;
use crate::model::{DataQualityEvent, Symbol, Trade, Venue};
use crate::storage::{Document, Kind, MAX_READ_LIMIT, Order, Query, SharedStore, StoreError};

/// How far back a warm start reads: the 24 h window plus an hour, as the engine keeps.
pub const HISTORY_SPAN_MS: i64 = 25 * 3_600_000;

/// How far past the local clock stored data is still read (clock differences).
const FUTURE_SLACK_MS: i64 = 3_600_000;

/// How many pairs a start-up preload reads at once.
const PRELOAD_CONCURRENCY: usize = 4;

/// What a warm start read, or why it could not.
pub type LoadResult = Result<Loaded, String>;

/// A start-up read handed to the first incarnation of one aggregator (later incarnations
/// read for themselves).
pub type Preloaded = Arc<Mutex<Option<LoadResult>>>;

/// What one pair's warm start reads.
#[derive(Debug, Clone, Copy)]
pub struct LoadRequest {
    pub venue: Venue,
    pub symbol: Symbol,
    /// Whether raw trades are stored.
    pub raw_trades: bool,
    /// Recent stored trades to read.
    pub recent: usize,
}

/// Reads the history of every pair at start, a few at a time, all within `budget`: pairs not
/// read by then start cold and read again later.
pub async fn preload(
    store: &SharedStore,
    requests: Vec<LoadRequest>,
    now: i64,
    budget: Duration,
) -> HashMap<(Venue, Symbol), LoadResult> {
    let mut results: HashMap<(Venue, Symbol), LoadResult> = HashMap::new();
    let pending: Vec<(Venue, Symbol)> = requests.iter().map(|r| (r.venue, r.symbol)).collect();
    let reads = futures_util::stream::iter(requests)
        .map(|request| async move {
            let loaded = load(
                store,
                request.venue,
                request.symbol,
                now,
                request.raw_trades,
                request.recent,
            )
            .await
            .map_err(|err| err.to_string());
            ((request.venue, request.symbol), loaded)
        })
        .buffer_unordered(PRELOAD_CONCURRENCY);
    let collect = reads.for_each(|(pair, loaded)| {
        results.insert(pair, loaded);
        std::future::ready(())
    });
    let timed_out = tokio::time::timeout(budget, collect).await.is_err();
    if timed_out {
        for pair in pending {
            results.entry(pair).or_insert_with(|| {
                Err(format!(
                    "timeout: the store was not read within {} ms",
                    budget.as_millis()
                ))
            });
        }
    }
    results
}

/// What a warm start read.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Bars and trades for the aggregator.
    pub history: History,
    /// The pair's holes of the span.
    pub holes: Vec<DataQualityEvent>,
    /// How long the reads took (ms).
    pub read_ms: u64,
}

/// Reads one pair's history at `now` (Unix ms). `raw_trades` says whether raw trades are
/// stored; `recent` how many recent stored trades to read besides those no bar holds.
pub async fn load(
    store: &SharedStore,
    venue: Venue,
    symbol: Symbol,
    now: i64,
    raw_trades: bool,
    recent: usize,
) -> Result<Loaded, StoreError> {
    let started = std::time::Instant::now();
    let from = Timeframe::M1.start_of(now - HISTORY_SPAN_MS);
    let to = now + FUTURE_SLACK_MS;
    let bars: Vec<_> = store
        .read(Query::range(Kind::Bars1m, venue, symbol, from, to).limit(MAX_READ_LIMIT))
        .await?
        .into_iter()
        .filter_map(|document| match document {
            Document::Bar(bar) => Some((*bar).clone()),
            _ => None,
        })
        .collect();
    let mut trades = Vec::new();
    let mut trades_complete_from = i64::MAX;
    if raw_trades {
        // The trades no stored bar holds (a stop that wrote no partial bar), oldest first.
        let covered_to = bars.iter().map(|bar| bar.report.end).max().unwrap_or(from);
        trades = read_trades(
            store,
            Query::range(Kind::Trades, venue, symbol, covered_to, to).limit(MAX_READ_LIMIT),
        )
        .await?;
        // And the most recent stored trades before them: trade ids (for venues whose ids
        // are not contiguous), large-trade statistics and the recent trades list.
        let limit = recent.clamp(OPAQUE_HORIZON, MAX_READ_LIMIT);
        let before = read_trades(
            store,
            Query::range(Kind::Trades, venue, symbol, from, covered_to)
                .limit(limit)
                .order(Order::NewestFirst),
        )
        .await?;
        // A read cut by its limit holds every trade after the oldest one it returned.
        trades_complete_from = match before.last() {
            Some(oldest) if before.len() >= limit => oldest.trade_time.as_millis() + 1,
            _ => from,
        };
        trades.splice(0..0, before.into_iter().rev());
    }
    let holes = store
        .read(
            Query::range(Kind::DataQuality, venue, symbol, from, to)
                .limit(MAX_READ_LIMIT)
                .order(Order::NewestFirst),
        )
        .await?
        .into_iter()
        .filter_map(|document| match document {
            Document::Quality(event) if event.kind.is_hole() => Some(event),
            _ => None,
        })
        .collect();
    Ok(Loaded {
        history: History {
            bars,
            trades,
            raw_trades_stored: raw_trades,
            trades_complete_from,
        },
        holes,
        read_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

async fn read_trades(store: &SharedStore, query: Query) -> Result<Vec<Trade>, StoreError> {
    Ok(store
        .read(query)
        .await?
        .into_iter()
        .filter_map(|document| match document {
            Document::Trade(trade) => Some(trade),
            _ => None,
        })
        .collect())
}
