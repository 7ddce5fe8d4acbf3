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
    /// A venue's REST snapshots kept not fitting its diff stream (older, or ahead of it): the
    /// book is not served until one fits.
    BookOutOfSync,
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
    /// An aggregator failed and was restarted from what the store held: trades between the
    /// latest one stored and the first one after the restart may be missing.
    AggregatorRestart,
    /// The daemon was not running: trades between the latest one stored before the stop and
    /// the first one after the start may be missing.
    Downtime,
}

impl QualityKind {
    /// Returns a stable name, used as a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            QualityKind::TradeGap => "trade_gap",
            QualityKind::BookGap => "book_gap",
            QualityKind::BookResync => "book_resync",
            QualityKind::BookReset => "book_reset",
            QualityKind::BookOutOfSync => "book_out_of_sync",
            QualityKind::Reconnect => "reconnect",
            QualityKind::SubscriptionRejected => "subscription_rejected",
            QualityKind::UnknownInstrument => "unknown_instrument",
            QualityKind::Overload => "overload",
            QualityKind::KlineMismatch => "kline_mismatch",
            QualityKind::AggregatorRestart => "aggregator_restart",
            QualityKind::Downtime => "downtime",
        }
    }

    /// True for the kinds that mean trades may be missing over a time range: the holes
    /// every answer's coverage lists.
    pub const fn is_hole(self) -> bool {
        matches!(
            self,
            QualityKind::TradeGap | QualityKind::AggregatorRestart | QualityKind::Downtime
        )
    }
}

/// Where a hole stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoleState {
    /// Trades may be missing.
    Open,
    /// Being fetched from the venue.
    Repairing,
    /// Every missing trade was fetched and taken.
    Repaired,
    /// The venue cannot give the missing trades (the reason is in `cause`).
    Unrepairable,
}

impl HoleState {
    /// Returns a stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            HoleState::Open => "open",
            HoleState::Repairing => "repairing",
            HoleState::Repaired => "repaired",
            HoleState::Unrepairable => "unrepairable",
        }
    }

    /// True while trades may be missing (a repaired hole is closed).
    pub const fn is_open(self) -> bool {
        !matches!(self, HoleState::Repaired)
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
    /// For holes (trade gaps, downtime, aggregator restarts): where the hole stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<HoleState>,
    /// For repaired holes: how many trades were recovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<u64>,
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
            state: kind.is_hole().then_some(HoleState::Open),
            recovered: None,
        }
    }

    /// Returns what tells this event from another of the same (venue, symbol) found in the
    /// same millisecond: its kind and where it begins (two gaps found by one tick), and for
    /// events that are not holes a digest of the cause (two sockets lost at once). A hole's
    /// key does not change with its state or cause, so a later state replaces it.
    pub fn key(&self) -> String {
        let id = self
            .from_id
            .map_or_else(|| "-".to_owned(), |id| id.to_string());
        let time = self
            .from_time
            .map_or_else(|| "-".to_owned(), |t| t.as_millis().to_string());
        if self.kind.is_hole() {
            format!("{}:{id}:{time}", self.kind)
        } else {
            use blake2::Digest as _;
            let digest = blake2::Blake2s256::digest(self.cause.as_bytes());
            let short: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
            format!("{}:{id}:{time}:{short}", self.kind)
        }
    }

    /// Returns the time range in which trades may be missing (inclusive, ms), for holes
    /// whose range is known.
    pub fn hole_span(&self) -> Option<(i64, i64)> {
        if !self.kind.is_hole() {
            return None;
        }
        let from = self.from_time?.as_millis();
        let to = self.to_time?.as_millis();
        Some((from.min(to), from.max(to)))
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
