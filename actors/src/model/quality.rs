//! Data-quality events: everything that means the data is incomplete or was re-established
//! (gaps, resyncs, reconnects, restarts, rejected subscriptions, overload drops). They are
//! data in their own right: stored, served by `/api/v1/gaps`, and counted in metrics.

use std::fmt;

use super::{Symbol, TimestampMs, Venue};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityKind {
    /// Trades are missing: a jump in Binance's contiguous aggregate trade ids.
    TradeGap,
    /// A book sequence break: the book was discarded and is being rebuilt.
    BookGap,
    /// A book was rebuilt from a fresh snapshot (after a gap, a reset or a reconnect).
    BookResync,
    /// The venue reset a book (Bybit `u = 1`).
    BookReset,
    /// A connection was lost or replaced.
    Reconnect,
    /// The venue refused a subscription.
    SubscriptionRejected,
    /// An instrument the configuration names is unknown to the venue.
    UnknownInstrument,
    /// Events were dropped because a consumer was too slow.
    Overload,
    /// A trade-derived bar disagrees with the venue's kline.
    KlineMismatch,
    /// An aggregator failed and was restarted: the bars open at the failure (from the start
    /// of the hour, the longest stored bar) miss the trades it had taken.
    AggregatorRestart,
}

impl QualityKind {
    /// Returns a stable name, used as a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            QualityKind::TradeGap => "trade_gap",
            QualityKind::BookGap => "book_gap",
            QualityKind::BookResync => "book_resync",
            QualityKind::BookReset => "book_reset",
            QualityKind::Reconnect => "reconnect",
            QualityKind::SubscriptionRejected => "subscription_rejected",
            QualityKind::UnknownInstrument => "unknown_instrument",
            QualityKind::Overload => "overload",
            QualityKind::KlineMismatch => "kline_mismatch",
            QualityKind::AggregatorRestart => "aggregator_restart",
        }
    }
}

impl fmt::Display for QualityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One data-quality event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataQualityEvent {
    /// Venue.
    pub venue: Venue,
    /// Symbol, when the event concerns one.
    pub symbol: Option<Symbol>,
    /// What happened.
    pub kind: QualityKind,
    /// First missing id (trade id or book update id), when known.
    pub from_id: Option<u64>,
    /// Last missing id, when known.
    pub to_id: Option<u64>,
    /// Start of the time range (exchange trade time, inclusive) in which data may be
    /// missing, for venues whose ids are not contiguous (Bybit): the last trade before the
    /// loss.
    #[serde(default)]
    pub from_time: Option<TimestampMs>,
    /// End of that range (inclusive): the first trade after the loss.
    #[serde(default)]
    pub to_time: Option<TimestampMs>,
    /// When it was detected.
    pub time: TimestampMs,
    /// Why, in a few words (`"sequence break"`, `"transport timeout"`, a venue message).
    pub cause: String,
}

impl DataQualityEvent {
    /// Creates an event detected now.
    pub fn now(
        venue: Venue,
        symbol: Option<Symbol>,
        kind: QualityKind,
        cause: impl Into<String>,
    ) -> Self {
        Self {
            venue,
            symbol,
            kind,
            from_id: None,
            to_id: None,
            from_time: None,
            to_time: None,
            time: TimestampMs::now(),
            cause: cause.into(),
        }
    }

    /// Sets the missing id range (inclusive).
    #[must_use]
    pub fn with_range(mut self, from_id: u64, to_id: u64) -> Self {
        self.from_id = Some(from_id);
        self.to_id = Some(to_id);
        self
    }

    /// Sets the time range (inclusive) in which data may be missing.
    #[must_use]
    pub fn with_times(mut self, from: TimestampMs, to: TimestampMs) -> Self {
        self.from_time = Some(from);
        self.to_time = Some(to);
        self
    }
}
