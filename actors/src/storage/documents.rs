//! What is stored: one document type per kind of DESIGN.md section 6, its unique key, and the
//! time its range reads and retention go by. Every price and volume is an exact decimal
//! string in both stores, so a round trip never changes a digit.
//!
//! Documents are the records the aggregators built ([`BarRecord`], [`BookRecord`]), trades,
//! candles and data-quality events, as they are: nothing here computes an indicator.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::aggregator::{BarRecord, BookRecord, FundingRecord, Record, Timeframe};
use crate::alerts::AlertRecord;
use crate::model::{DataQualityEvent, Kline, Liquidation, PositionSide, Trade, TradeId, Venue};

/// The kinds of stored data, one table or collection each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Raw trades, keyed by (venue, symbol, trade id).
    Trades,
    /// Closed 1-minute bars with profile and order flow, keyed by (venue, symbol, start).
    Bars1m,
    /// Closed 1-hour bars, keyed by (venue, symbol, start).
    Bars1h,
    /// Closed 1-day bars (UTC days), keyed by (venue, symbol, start).
    Bars1d,
    /// Periodic top-of-book snapshots, keyed by (venue, symbol, time).
    BookSnapshots,
    /// Closed venue candles, keyed by (venue, symbol, interval, open time).
    Klines,
    /// Data-quality events, keyed by (venue, symbol, time, kind).
    DataQuality,
    /// Liquidations (derivatives venues), keyed by (venue, symbol, time, position, price,
    /// size, occurrence).
    Liquidations,
    /// Fundings settled (derivatives venues), keyed by (venue, symbol, funding time).
    Funding,
    /// Alerts fired, keyed by (venue, symbol, time, id); stored again as deliveries progress.
    Alerts,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 10] = [
        Kind::Trades,
        Kind::Bars1m,
        Kind::Bars1h,
        Kind::Bars1d,
        Kind::BookSnapshots,
        Kind::Klines,
        Kind::DataQuality,
        Kind::Liquidations,
        Kind::Funding,
        Kind::Alerts,
    ];

    /// The table or collection name (also the metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Trades => "trades",
            Kind::Bars1m => "bars_1m",
            Kind::Bars1h => "bars_1h",
            Kind::Bars1d => "bars_1d",
            Kind::BookSnapshots => "book_snapshots",
            Kind::Klines => "klines",
            Kind::DataQuality => "data_quality",
            Kind::Liquidations => "liquidations",
            Kind::Funding => "funding",
            Kind::Alerts => "alerts",
        }
    }

    /// The kind a closed bar of `timeframe` is stored as, if it is stored (1m, 1h, 1d).
    pub const fn of_bars(timeframe: Timeframe) -> Option<Kind> {
        match timeframe {
            Timeframe::M1 => Some(Kind::Bars1m),
            Timeframe::H1 => Some(Kind::Bars1h),
            Timeframe::D1 => Some(Kind::Bars1d),
            _ => None,
        }
    }

    /// The timeframe of a bar kind.
    pub const fn timeframe(self) -> Option<Timeframe> {
        match self {
            Kind::Bars1m => Some(Timeframe::M1),
            Kind::Bars1h => Some(Timeframe::H1),
            Kind::Bars1d => Some(Timeframe::D1),
            _ => None,
        }
    }

    /// True when the time is part of the unique key (every kind but trades, whose id is
    /// unique on its own).
    pub const fn time_in_key(self) -> bool {
        !matches!(self, Kind::Trades)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// A raw trade.
    Trade(Trade),
    /// A closed 1m, 1h or 1d bar (other timeframes are not stored), as the aggregator built it.
    Bar(Arc<BarRecord>),
    /// A book snapshot.
    Book(Arc<BookRecord>),
    /// A closed venue candle.
    Kline(Arc<Kline>),
    /// A data-quality event.
    Quality(DataQualityEvent),
    /// A liquidation, with its occurrence among identical ones (same time, side, price and
    /// size) in the message that brought it: the rest of its key.
    Liquidation(Liquidation, u32),
    /// A funding settled.
    Funding(Arc<FundingRecord>),
    /// An alert fired.
    Alert(Arc<AlertRecord>),
}

/// The parts of a document both stores index: its kind, venue, symbol (empty for
/// venue-wide quality events), time (ms) and the rest of its unique key as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocKey {
    pub kind: Kind,
    pub venue: Venue,
    /// Symbol text, or empty.
    pub symbol: String,
    /// Time (ms) the document's range reads and retention go by.
    pub time: i64,
    /// The rest of the unique key: the trade id (sortable), the kline interval, the quality
    /// event's key ([`DataQualityEvent::key`]); empty for bars and book snapshots.
    pub key: String,
}

impl Document {
    /// Returns the kind, or `None` for a bar of a timeframe that is not stored.
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Document::Trade(_) => Kind::Trades,
            Document::Bar(bar) => return Kind::of_bars(bar.timeframe),
            Document::Book(_) => Kind::BookSnapshots,
            Document::Kline(_) => Kind::Klines,
            Document::Quality(_) => Kind::DataQuality,
            Document::Liquidation(..) => Kind::Liquidations,
            Document::Funding(_) => Kind::Funding,
            Document::Alert(_) => Kind::Alerts,
        })
    }

    /// The time (ms) its range reads and retention go by ([`DocKey::time`]), without building
    /// the rest of the key.
    pub fn time(&self) -> i64 {
        match self {
            Document::Trade(t) => t.trade_time.as_millis(),
            Document::Bar(b) => b.report.start,
            Document::Book(b) => b.time,
            Document::Kline(k) => k.open_time.as_millis(),
            Document::Quality(q) => q.time.as_millis(),
            Document::Liquidation(l, _) => l.time.as_millis(),
            Document::Funding(f) => f.funding_time,
            Document::Alert(a) => a.time,
        }
    }

    /// Returns the indexed parts, or `None` for a bar of a timeframe that is not stored.
    pub fn key(&self) -> Option<DocKey> {
        let kind = self.kind()?;
        let (venue, symbol, time, key) = match self {
            Document::Trade(t) => (
                t.venue,
                t.symbol.as_str().to_owned(),
                t.trade_time.as_millis(),
                trade_id_key(&t.id),
            ),
            Document::Bar(b) => (
                b.venue,
                b.symbol.as_str().to_owned(),
                b.report.start,
                String::new(),
            ),
            Document::Book(b) => (b.venue, b.symbol.as_str().to_owned(), b.time, String::new()),
            Document::Kline(k) => (
                k.venue,
                k.symbol.as_str().to_owned(),
                k.open_time.as_millis(),
                k.interval.as_str().to_owned(),
            ),
            Document::Quality(q) => (
                q.venue,
                q.symbol.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                q.time.as_millis(),
                q.key(),
            ),
            Document::Liquidation(l, occurrence) => (
                l.venue,
                l.symbol.as_str().to_owned(),
                l.time.as_millis(),
                format!(
                    "{}:{}:{}:{occurrence}",
                    match l.position {
                        PositionSide::Long => "long",
                        PositionSide::Short => "short",
                    },
                    l.price,
                    l.qty
                ),
            ),
            Document::Funding(f) => (
                f.venue,
                f.symbol.as_str().to_owned(),
                f.funding_time,
                String::new(),
            ),
            // An alert about the store has no venue: it is filed under the first one.
            Document::Alert(a) => (
                a.venue.unwrap_or(Venue::BinanceSpot),
                a.symbol.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                a.time,
                a.id.clone(),
            ),
        };
        Some(DocKey {
            kind,
            venue,
            symbol,
            time,
            key,
        })
    }

    /// The body as JSON text (the embedded store's column), serialized in one pass.
    pub fn to_json_string(&self) -> Result<String, serde_json::Error> {
        match self {
            Document::Trade(t) => serde_json::to_string(t),
            Document::Bar(b) => serde_json::to_string(&**b),
            Document::Book(b) => serde_json::to_string(&**b),
            Document::Kline(k) => serde_json::to_string(&**k),
            Document::Quality(q) => serde_json::to_string(q),
            Document::Liquidation(l, n) => serde_json::to_string(&StoredLiquidation {
                liquidation: l.clone(),
                occurrence: *n,
            }),
            Document::Funding(f) => serde_json::to_string(&**f),
            Document::Alert(a) => serde_json::to_string(&**a),
        }
    }

    /// Reads a body of `kind` back from JSON text.
    pub fn from_json_str(kind: Kind, text: &str) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            Kind::Trades => Document::Trade(serde_json::from_str(text)?),
            Kind::Bars1m | Kind::Bars1h | Kind::Bars1d => {
                Document::Bar(Arc::new(serde_json::from_str(text)?))
            }
            Kind::BookSnapshots => Document::Book(Arc::new(serde_json::from_str(text)?)),
            Kind::Klines => Document::Kline(Arc::new(serde_json::from_str(text)?)),
            Kind::DataQuality => Document::Quality(serde_json::from_str(text)?),
            Kind::Liquidations => {
                let stored: StoredLiquidation = serde_json::from_str(text)?;
                Document::Liquidation(stored.liquidation, stored.occurrence)
            }
            Kind::Funding => Document::Funding(Arc::new(serde_json::from_str(text)?)),
            Kind::Alerts => Document::Alert(Arc::new(serde_json::from_str(text)?)),
        })
    }

    /// Reads a body of `kind` back.
    pub fn from_json(kind: Kind, value: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            Kind::Trades => Document::Trade(serde_json::from_value(value)?),
            Kind::Bars1m | Kind::Bars1h | Kind::Bars1d => {
                Document::Bar(Arc::new(serde_json::from_value(value)?))
            }
            Kind::BookSnapshots => Document::Book(Arc::new(serde_json::from_value(value)?)),
            Kind::Klines => Document::Kline(Arc::new(serde_json::from_value(value)?)),
            Kind::DataQuality => Document::Quality(serde_json::from_value(value)?),
            Kind::Liquidations => {
                let stored: StoredLiquidation = serde_json::from_value(value)?;
                Document::Liquidation(stored.liquidation, stored.occurrence)
            }
            Kind::Funding => Document::Funding(Arc::new(serde_json::from_value(value)?)),
            Kind::Alerts => Document::Alert(Arc::new(serde_json::from_value(value)?)),
        })
    }

    /// Hands each document of an aggregator record to `take`, in order (no list is built:
    /// a record of raw trades holds many).
    pub fn each_of_record(record: &Record, mut take: impl FnMut(Document)) {
        match record {
            Record::Bar(bar) => take(Document::Bar(Arc::clone(bar))),
            Record::Book(book) => take(Document::Book(Arc::clone(book))),
            Record::Trades(trades) => trades
                .iter()
                .for_each(|trade| take(Document::Trade(trade.clone()))),
            Record::Kline(kline) => take(Document::Kline(Arc::clone(kline))),
            Record::Liquidations(liquidations) => {
                for (index, liquidation) in liquidations.iter().enumerate() {
                    let occurrence = liquidations[..index]
                        .iter()
                        .filter(|l| *l == liquidation)
                        .count();
                    take(Document::Liquidation(
                        liquidation.clone(),
                        u32::try_from(occurrence).unwrap_or(u32::MAX),
                    ));
                }
            }
            Record::Funding(funding) => take(Document::Funding(Arc::clone(funding))),
            Record::Alert(alert) => take(Document::Alert(Arc::clone(alert))),
        }
    }
}

/// A liquidation as stored: the event and its occurrence among identical ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLiquidation {
    #[serde(flatten)]
    pub liquidation: Liquidation,
    #[serde(default)]
    pub occurrence: u32,
}

/// A trade id as a key that sorts numerically: numeric ids zero-padded behind `n`, other ids
/// behind `t`. Distinct ids give distinct keys.
pub fn trade_id_key(id: &TradeId) -> String {
    match id.as_number() {
        Some(n) => format!("n{n:020}"),
        None => format!("t{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_kinds_are_the_labels_the_metrics_initialise() {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, crate::metrics::STORED_KINDS);
    }
}
