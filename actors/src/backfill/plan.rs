//! What to fetch for a hole or a start-up backfill, and what became of it: pure decisions,
//! no I/O.
//!
//! | hole | venue | fetched | closed as |
//! |---|---|---|---|
//! | ids `a..=b` (a trade gap, or a stop across which ids jumped) | Binance | `aggTrades` from `fromId=a` until past `b` | `repaired` with the trades recovered |
//! | a stop across which no id is missing | Binance | nothing | `repaired`, none recovered |
//! | a time range (Bybit ids tell nothing) | Bybit | `recent-trade`, the last 1,000 (60 on spot) | `repaired` when they reach back to its start, else `unrepairable` |
//! | older than the aggregators keep (25 h) | any | nothing | `unrepairable` |
//!
//! A hole that began before that horizon but ends after it is fetched from the horizon on
//! and closed `unrepairable`, with what was recovered: the older part stays missing.

use crate::model::{DataQualityEvent, Exchange, HoleState, Symbol, Venue};

/// What to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Binance: the trades of ids `next..=last`.
    Ids {
        /// Next id to ask for.
        next: u64,
        /// Last id wanted.
        last: u64,
    },
    /// Binance: the trades from time `start` (ms) on, up to id `last`.
    From {
        /// First time wanted.
        start: i64,
        /// Last id wanted.
        last: u64,
    },
    /// Bybit: the trades of `[from, to]` (ms) among the most recent ones.
    Recent {
        /// First time wanted.
        from: i64,
        /// Last time wanted.
        to: i64,
    },
}

/// Why a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A hole from the data-quality log.
    Repair,
    /// The history before the first live trade, on an empty store.
    Startup,
}

/// Trades fetched and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// REST requests made.
    pub requests: u64,
    /// Trades the venue returned inside the target.
    pub fetched: u64,
    /// Taken by the aggregator: trades recovered.
    pub taken: u64,
    /// Already taken before.
    pub duplicates: u64,
    /// Older than the aggregator keeps.
    pub too_old: u64,
}

/// One job of one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub symbol: Symbol,
    /// Why.
    pub kind: JobKind,
    /// The hole it repairs (repair jobs).
    pub hole: Option<DataQualityEvent>,
    /// What is left to fetch.
    pub target: Target,
    /// Why the hole cannot be closed whole even when the job succeeds (it reaches back
    /// past the horizon).
    pub partial: Option<String>,
    /// So far.
    pub progress: Progress,
    /// When it started (Unix ms).
    pub started_at: i64,
}

/// What to do with a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Fetch.
    Fetch {
        /// What.
        target: Target,
        /// Set when only a part can be recovered.
        partial: Option<String>,
    },
    /// Close it at once in this state, for this reason.
    Close {
        /// `repaired` or `unrepairable`.
        state: HoleState,
        /// Why, in a few words.
        reason: String,
    },
}

/// Decides what to do with `hole` at `now` (ms), for a venue whose aggregators keep
/// `horizon_ms` of minutes.
pub fn plan(venue: Venue, hole: &DataQualityEvent, now: i64, horizon_ms: i64) -> Plan {
    let oldest = now - horizon_ms;
    let span = hole.hole_span();
    if let Some((_, to)) = span
        && to < oldest
    {
        return Plan::Close {
            state: HoleState::Unrepairable,
            reason: format!(
                "older than the {} h the aggregators keep",
                horizon_ms / 3_600_000
            ),
        };
    }
    match (venue.exchange(), hole.from_id.zip(hole.to_id), span) {
        (Exchange::Binance, Some((first, last)), Some((from, _))) if from < oldest => Plan::Fetch {
            target: Target::From {
                start: oldest,
                last,
            },
            partial: Some(format!(
                "trades before {oldest} are older than the aggregators keep; ids from {first} were asked"
            )),
        },
        (Exchange::Binance, Some((first, last)), _) => Plan::Fetch {
            target: Target::Ids { next: first, last },
            partial: None,
        },
        (Exchange::Binance, None, _) => Plan::Close {
            state: HoleState::Repaired,
            reason: "no trade id is missing across it".into(),
        },
        (Exchange::Bybit, _, Some((from, to))) => Plan::Fetch {
            target: Target::Recent {
                from: from.max(oldest),
                to,
            },
            partial: (from < oldest).then(|| "its start is older than the aggregators keep".into()),
        },
        (Exchange::Bybit, _, None) => Plan::Close {
            state: HoleState::Unrepairable,
            reason: "no time range is known".into(),
        },
    }
}

/// What a job's last request found, for [`Job::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// Trades returned inside the target.
    pub within: u64,
    /// Highest id returned (Binance), inside the target or not.
    pub highest_id: Option<u64>,
    /// Earliest trade time returned (Bybit's reach).
    pub earliest_time: Option<i64>,
    /// Whether the venue returned anything at all.
    pub any: bool,
}

/// Where a job stands after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask again.
    Continue,
    /// Done: close the hole in this state.
    Done {
        /// `repaired` or `unrepairable`.
        state: HoleState,
        /// Why (empty when repaired whole).
        reason: String,
    },
}

/// The most a window target looks at per request (Binance's limit for `startTime`/`endTime`).
pub const MAX_WINDOW_MS: i64 = 3_600_000 - 1;

impl Job {
    /// Takes what a request of the current target found, and moves the target on.
    pub fn advance(&mut self, fetched: Fetched, now: i64) -> Step {
        self.progress.requests += 1;
        self.progress.fetched += fetched.within;
        let done = |partial: &Option<String>| match partial {
            Some(reason) => Step::Done {
                state: HoleState::Unrepairable,
                reason: reason.clone(),
            },
            None => Step::Done {
                state: HoleState::Repaired,
                reason: String::new(),
            },
        };
        match self.target {
            Target::Ids { next, last } => match fetched.highest_id {
                Some(highest) if highest >= last => done(&self.partial),
                Some(highest) if highest >= next => {
                    self.target = Target::Ids {
                        next: highest + 1,
                        last,
                    };
                    Step::Continue
                }
                _ => Step::Done {
                    state: HoleState::Unrepairable,
                    reason: format!("the venue returned no trade from id {next}"),
                },
            },
            Target::From { start, last } => match fetched.highest_id {
                Some(highest) if highest >= last => done(&self.partial),
                Some(highest) => {
                    self.target = Target::Ids {
                        next: highest + 1,
                        last,
                    };
                    Step::Continue
                }
                None if start + MAX_WINDOW_MS < now => {
                    self.target = Target::From {
                        start: start + MAX_WINDOW_MS + 1,
                        last,
                    };
                    Step::Continue
                }
                None => done(&self.partial),
            },
            Target::Recent { from, .. } => match fetched.earliest_time {
                Some(earliest) if earliest <= from => done(&self.partial),
                Some(earliest) => Step::Done {
                    state: HoleState::Unrepairable,
                    reason: format!(
                        "recent-trade reaches back only to {earliest}; the hole began at {from}"
                    ),
                },
                None => Step::Done {
                    state: HoleState::Unrepairable,
                    reason: "recent-trade returned nothing".into(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::{QualityKind, TimestampMs};

    const NOW: i64 = 1_800_000_000_000;
    const HORIZON: i64 = 25 * 3_600_000;

    fn hole(kind: QualityKind, ids: Option<(u64, u64)>, from: i64, to: i64) -> DataQualityEvent {
        let mut event = DataQualityEvent::now(
            Venue::BinanceSpot,
            Some(Symbol::new("BTCUSDT").unwrap()),
            kind,
            "test",
        )
        .with_times(TimestampMs(from), TimestampMs(to));
        if let Some((a, b)) = ids {
            event = event.with_range(a, b);
        }
        event
    }

    #[test]
    fn binance_holes_are_fetched_by_id_and_a_stop_without_a_missing_id_is_closed() {
        let gap = hole(
            QualityKind::TradeGap,
            Some((10, 20)),
            NOW - 60_000,
            NOW - 50_000,
        );
        assert_eq!(
            plan(Venue::BinanceSpot, &gap, NOW, HORIZON),
            Plan::Fetch {
                target: Target::Ids { next: 10, last: 20 },
                partial: None
            }
        );
        let stop = hole(QualityKind::Downtime, None, NOW - 60_000, NOW - 50_000);
        assert!(matches!(
            plan(Venue::BinanceUsdm, &stop, NOW, HORIZON),
            Plan::Close {
                state: HoleState::Repaired,
                ..
            }
        ));
        let old = hole(
            QualityKind::TradeGap,
            Some((1, 2)),
            NOW - 2 * HORIZON,
            NOW - HORIZON - 1,
        );
        assert!(matches!(
            plan(Venue::BinanceSpot, &old, NOW, HORIZON),
            Plan::Close {
                state: HoleState::Unrepairable,
                ..
            }
        ));
        let long = hole(
            QualityKind::Downtime,
            Some((1, 99)),
            NOW - 2 * HORIZON,
            NOW - 1_000,
        );
        assert!(matches!(
            plan(Venue::BinanceSpot, &long, NOW, HORIZON),
            Plan::Fetch {
                target: Target::From { start, last: 99 },
                partial: Some(_)
            } if start == NOW - HORIZON
        ));
    }

    #[test]
    fn bybit_holes_are_repaired_only_when_recent_trades_reach_back_to_them() {
        let mut gap = hole(QualityKind::TradeGap, None, NOW - 5_000, NOW - 1_000);
        gap.venue = Venue::BybitLinear;
        let Plan::Fetch { target, partial } = plan(Venue::BybitLinear, &gap, NOW, HORIZON) else {
            panic!("fetched")
        };
        let job = |target| Job {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            kind: JobKind::Repair,
            hole: None,
            target,
            partial: partial.clone(),
            progress: Progress::default(),
            started_at: NOW,
        };
        let reached = Fetched {
            within: 7,
            highest_id: None,
            earliest_time: Some(NOW - 6_000),
            any: true,
        };
        assert_eq!(
            job(target).advance(reached, NOW),
            Step::Done {
                state: HoleState::Repaired,
                reason: String::new()
            }
        );
        let short = Fetched {
            earliest_time: Some(NOW - 4_000),
            ..reached
        };
        assert!(matches!(
            job(target).advance(short, NOW),
            Step::Done {
                state: HoleState::Unrepairable,
                ..
            }
        ));
    }

    #[test]
    fn id_targets_move_on_until_past_the_last_id() {
        let mut job = Job {
            symbol: Symbol::new("BTCUSDT").unwrap(),
            kind: JobKind::Startup,
            hole: None,
            target: Target::From {
                start: NOW - 3 * MAX_WINDOW_MS,
                last: 5_000,
            },
            partial: None,
            progress: Progress::default(),
            started_at: NOW,
        };
        let empty = Fetched {
            within: 0,
            highest_id: None,
            earliest_time: None,
            any: false,
        };
        assert_eq!(
            job.advance(empty, NOW),
            Step::Continue,
            "an hour without trades"
        );
        let page = |highest| Fetched {
            within: 1_000,
            highest_id: Some(highest),
            earliest_time: None,
            any: true,
        };
        assert_eq!(job.advance(page(2_999), NOW), Step::Continue);
        assert_eq!(
            job.target,
            Target::Ids {
                next: 3_000,
                last: 5_000
            }
        );
        assert_eq!(job.advance(page(3_999), NOW), Step::Continue);
        assert_eq!(
            job.advance(page(5_200), NOW),
            Step::Done {
                state: HoleState::Repaired,
                reason: String::new()
            }
        );
        assert_eq!(job.progress.requests, 4);
        assert_eq!(job.progress.fetched, 3_000);
        let mut stuck = job.clone();
        stuck.target = Target::Ids { next: 10, last: 20 };
        assert!(matches!(
            stuck.advance(empty, NOW),
            Step::Done {
                state: HoleState::Unrepairable,
                ..
            }
        ));
    }
}
