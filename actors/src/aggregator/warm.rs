//! Reading what a warm start needs from the store: the last 25 h of one pair's 1-minute
//! bars, its recent raw trades, and its holes (trade gaps, downtime, restarts) of the same
//! span, so that answers after a restart still state them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;

use super::aggregation::History;
use super::bar::Timeframe;
use super::ledger::OPAQUE_HORIZON;
use crate::model::{DataQualityEvent, Symbol, Trade, TradeId, Venue};
use crate::storage::{Document, Kind, MAX_READ_LIMIT, Order, Query, SharedStore, StoreError};

/// How far back a warm start reads: the 24 h window plus an hour, as the engine keeps.
pub const HISTORY_SPAN_MS: i64 = 25 * 3_600_000;

/// How far past the local clock stored data is still read (clock differences).
const FUTURE_SLACK_MS: i64 = 3_600_000;

/// The stored trades after the latest stored bar are replayed a page of this many at a time,
/// oldest first, each page taken into the state before the next is read: a restart at a
/// high trade rate (a minute can hold several hundred thousand trades of one pair) holds one
/// page in memory, not the minute.
pub const REPLAY_PAGE: usize = 10_000;

/// The most stored trades one warm start replays after the latest stored bar (a bound on how
/// long a restart takes). The rebuilt state then ends at the latest one taken, and the
/// interruption hole reported from there names the rest.
pub const MAX_REPLAY_TRADES: usize = 2_000_000;

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
    /// The further pages of stored trades to replay after `history` (read by the caller, each
    /// taken with [`super::AggregatorCore::restore_more`]), when there are more.
    pub more: Option<ReplayPages>,
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
    let mut more = None;
    if raw_trades {
        // The trades no stored bar holds (a stop that wrote no partial bar), oldest first.
        let covered_to = bars.iter().map(|bar| bar.report.end).max().unwrap_or(from);
        // Its first page: the caller takes the others after it, one at a time.
        let mut pages = ReplayPages::new(
            Query::range(Kind::Trades, venue, symbol, covered_to, to),
            REPLAY_PAGE,
            MAX_REPLAY_TRADES,
        );
        trades = pages.next(store).await?;
        more = (!pages.done()).then_some(pages);
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
        more,
        read_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The stored trades of a range, read oldest first a page at a time. A page starts at the
/// millisecond the previous one ended in (the trades of one millisecond may span two pages);
/// those already read are skipped.
#[derive(Debug, Clone)]
pub struct ReplayPages {
    /// The rest of the range.
    query: Query,
    /// Ids of the trades already read at `query.from`.
    seen: HashSet<TradeId>,
    page: usize,
    /// Trades still to read before the cap.
    left: usize,
    done: bool,
    /// The read stopped before the end of the range (the cap, or a millisecond holding more
    /// than a page).
    cut: bool,
}

impl ReplayPages {
    /// Pages of at most `page` trades over `query`'s range, `cap` trades in all.
    pub fn new(query: Query, page: usize, cap: usize) -> Self {
        Self {
            query,
            seen: HashSet::new(),
            page: page.clamp(1, MAX_READ_LIMIT),
            left: cap,
            done: false,
            cut: false,
        }
    }

    /// True once the range is read (or cut).
    pub fn done(&self) -> bool {
        self.done
    }

    /// True when the read ended before the end of the range.
    pub fn cut(&self) -> bool {
        self.cut
    }

    /// Reads the next page (empty once done).
    pub async fn next(&mut self, store: &SharedStore) -> Result<Vec<Trade>, StoreError> {
        let limit = self.left.min(self.page);
        if self.done || limit == 0 {
            self.cut |= !self.done;
            self.done = true;
            return Ok(Vec::new());
        }
        let read = read_trades(
            store,
            self.query.clone().limit(limit).order(Order::OldestFirst),
        )
        .await?;
        let full = read.len() >= limit;
        let from = self.query.from;
        let Some(last) = read.last().map(|t| t.trade_time.as_millis()) else {
            self.done = true;
            return Ok(Vec::new());
        };
        let page: Vec<Trade> = read
            .into_iter()
            .filter(|t| t.trade_time.as_millis() != from || !self.seen.contains(&t.id))
            .collect();
        self.left = self.left.saturating_sub(page.len());
        if !full {
            self.done = true;
        } else if last == from {
            // A millisecond with more trades than a page: the read cannot go on past it.
            self.done = true;
            self.cut = true;
        } else {
            self.query.from = last;
            self.seen = page
                .iter()
                .rev()
                .take_while(|t| t.trade_time.as_millis() == last)
                .map(|t| t.id.clone())
                .collect();
        }
        Ok(page)
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::model::Side;
    use crate::storage::embedded::{EmbeddedOptions, EmbeddedStore};
    use crate::storage::{Batch, Retention};

    const T0: i64 = 1_767_225_600_000;

    /// A Binance spot BTCUSDT buy of 1 at 100.
    fn trade(id: u64, time: i64) -> Trade {
        super::super::bar::tests::trade(time, "100", "1", Side::Buy, id)
    }

    async fn stored(trades: &[Trade]) -> (tempfile::TempDir, SharedStore) {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(
            EmbeddedStore::open(dir.path(), Retention::default(), EmbeddedOptions::default())
                .unwrap(),
        );
        let documents: Vec<Document> = trades.iter().cloned().map(Document::Trade).collect();
        let summary = store.write(Batch::from(documents)).await.unwrap();
        assert_eq!(summary.written, trades.len());
        (dir, store)
    }

    fn query() -> Query {
        Query::range(
            Kind::Trades,
            Venue::BinanceSpot,
            Symbol::new("BTCUSDT").unwrap(),
            T0,
            T0 + 3_600_000,
        )
    }

    async fn read_pages(store: &SharedStore, query: Query, page: usize, cap: usize) -> Vec<Trade> {
        let mut pages = ReplayPages::new(query, page, cap);
        let mut trades = Vec::new();
        while !pages.done() {
            trades.extend(pages.next(store).await.unwrap());
        }
        trades
    }

    fn ids(trades: &[Trade]) -> Vec<u64> {
        trades.iter().filter_map(|t| t.id.as_number()).collect()
    }

    #[tokio::test]
    async fn a_replay_read_goes_on_page_after_page_across_a_shared_millisecond() {
        // Ten trades a millisecond, except ids 990 to 1,010: all in one millisecond, which
        // the first page of 1,000 ends inside.
        let time = |id: u64| {
            let id = if (990..=1_010).contains(&id) { 990 } else { id };
            T0 + i64::try_from(id / 10).unwrap()
        };
        let all: Vec<Trade> = (1..=2_500).map(|id| trade(id, time(id))).collect();
        let (_dir, store) = stored(&all).await;
        let read = read_pages(&store, query(), 1_000, 10_000).await;
        let mut got = ids(&read);
        assert_eq!(got.len(), 2_500, "each trade once");
        assert!(read.is_sorted_by_key(|t| t.trade_time), "oldest first");
        got.sort_unstable();
        assert_eq!(got, (1..=2_500).collect::<Vec<u64>>());
    }

    #[tokio::test]
    async fn a_replay_read_stops_at_its_cap_with_every_trade_before_the_last_millisecond() {
        let all: Vec<Trade> = (1..=2_500)
            .map(|id| trade(id, T0 + i64::try_from(id / 10).unwrap()))
            .collect();
        let (_dir, store) = stored(&all).await;
        let read = read_pages(&store, query(), 1_000, 1_500).await;
        let last = read.last().unwrap().trade_time;
        assert!(read.len() <= 1_500 && read.len() > 1_000, "{}", read.len());
        let mut got = ids(&read);
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), read.len(), "each trade once");
        let before: Vec<u64> = all
            .iter()
            .filter(|t| t.trade_time < last)
            .filter_map(|t| t.id.as_number())
            .collect();
        assert!(
            before.iter().all(|id| got.binary_search(id).is_ok()),
            "the state ends at the latest trade read: nothing before it is missing"
        );
        // More trades in one millisecond than a page: the read ends there.
        let crowded: Vec<Trade> = (1..=1_200).map(|id| trade(id, T0 + 5)).collect();
        let (_dir, store) = stored(&crowded).await;
        let read = read_pages(&store, query(), 1_000, 10_000).await;
        assert_eq!(read.len(), 1_000);
    }

    #[tokio::test]
    async fn a_warm_start_takes_its_replay_a_page_at_a_time_and_the_hole_starts_after_the_last() {
        use super::super::aggregation::{AggregatorCore, CoreOutput};
        use super::super::params::{AggregatorSettings, RowSpec};
        use crate::model::QualityKind;
        let n: u64 = 2 * REPLAY_PAGE as u64 + 500;
        let time = |id: u64| T0 + i64::try_from(id / 20).unwrap();
        let all: Vec<Trade> = (1..=n).map(|id| trade(id, time(id))).collect();
        let (_dir, store) = stored(&all).await;
        let (venue, symbol) = (Venue::BinanceSpot, Symbol::new("BTCUSDT").unwrap());
        let loaded = load(&store, venue, symbol, T0 + 3_600_000, true, 1_000)
            .await
            .unwrap();
        assert_eq!(loaded.history.trades.len(), REPLAY_PAGE, "one page read");
        let mut pages = loaded.more.expect("more pages");
        let mut core = AggregatorCore::new(
            venue,
            symbol,
            Arc::new(AggregatorSettings::default()),
            RowSpec::Fixed("1".parse().unwrap()),
        );
        let warm = core.restore(loaded.history, QualityKind::AggregatorRestart);
        assert_eq!(warm.trades_replayed, REPLAY_PAGE);
        let mut reads = 0;
        while !pages.done() {
            assert!(core.restore_more(pages.next(&store).await.unwrap()));
            reads += 1;
        }
        assert!(!pages.cut());
        assert_eq!(reads, 2, "the other 10,500 in two more pages");
        assert_eq!(core.engine().unwrap().stats().trades, n);
        let warm = core.warm_start().unwrap();
        assert_eq!((warm.trades_replayed, warm.to), (n as usize, Some(time(n))));
        // The first live trade reports the hole from the latest stored one.
        core.on_trades(vec![trade(n + 10, time(n) + 5_000)]);
        let holes: Vec<_> = core
            .drain()
            .filter_map(|output| match output {
                CoreOutput::Quality(event) => Some(event),
                _ => None,
            })
            .collect();
        assert_eq!(holes.len(), 1, "{holes:?}");
        assert_eq!(holes[0].kind, QualityKind::AggregatorRestart);
        assert_eq!(
            (holes[0].from_id, holes[0].to_id),
            (Some(n + 1), Some(n + 9))
        );
        assert_eq!(holes[0].hole_span(), Some((time(n), time(n) + 5_000)));
        // Once the hole is reported, a late page is not taken: the hole names it.
        assert!(!core.restore_more(vec![trade(n + 1, time(n) + 1)]));
        assert_eq!(core.engine().unwrap().stats().trades, n + 1);
    }
}
