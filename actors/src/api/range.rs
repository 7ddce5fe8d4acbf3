//! Where each part of a range profile is read from, so that every trade of the range is
//! counted exactly once (issue #19, range profiles): the minutes the aggregator holds lately
//! (live, the open minute included), stored 1-minute bars where they are kept, and stored
//! 1-hour and 1-day bars. Pure: the route reads what the plan names and sums it.
//!
//! Rules, walking the range from its start:
//! - a whole UTC day from its 1-day bar, else a whole hour from its 1-hour bar, where the
//!   bar lies inside the range, is kept, and closed before `settled` (the live part's start:
//!   its stored bar has surely been written; a stored bar equals the sum of its minutes);
//! - else, where minutes are exact (`m1_from` on, or the live part): minutes, from stored
//!   1-minute bars before `live_from` and from the live part after;
//! - a range edge that no whole bar fits cannot be cut exactly: the range is narrowed to the
//!   whole bars inside it, and the plan says so (`effective_from`/`effective_to`), never
//!   widened (no trade outside the range asked is counted).

/// One minute, hour and day, in ms.
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// What a part of a range is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The aggregator's minutes in memory (the open minute included).
    Live,
    /// Stored 1-minute bars.
    #[serde(rename = "bars_1m")]
    Bars1m,
    /// Stored 1-hour bars.
    #[serde(rename = "bars_1h")]
    Bars1h,
    /// Stored 1-day bars.
    #[serde(rename = "bars_1d")]
    Bars1d,
}

impl Source {
    /// The length of one bar of the source (a minute for the live part).
    pub const fn unit(self) -> i64 {
        match self {
            Source::Live | Source::Bars1m => MINUTE,
            Source::Bars1h => HOUR,
            Source::Bars1d => DAY,
        }
    }
}

/// A part of the range: `[from, to)` read from `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    pub source: Source,
    pub from: i64,
    pub to: i64,
}

/// Where each source's data begins (ms): what the aggregator holds and what retention keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// The earliest minute the aggregator's live part covers (`None`: it holds none).
    pub live_from: Option<i64>,
    /// Stored 1-hour and 1-day bars are used for periods ending at or before this (the live
    /// part's start, or a while ago without one).
    pub settled: i64,
    /// The earliest time stored 1-minute bars are kept for.
    pub m1_from: i64,
    /// The same for 1-hour bars.
    pub h1_from: i64,
    /// The same for 1-day bars.
    pub d1_from: i64,
}

/// The plan of a range: its parts, oldest first, and the range they cover exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePlan {
    pub segments: Vec<Segment>,
    /// Start of what the answer covers (`from` asked, or the first whole bar's start when
    /// `from` lies inside a bar only coarser bars still hold).
    pub effective_from: i64,
    /// End of what the answer covers (`to` asked, or the last whole bar's end likewise).
    pub effective_to: i64,
}

fn floor(time: i64, unit: i64) -> i64 {
    time.div_euclid(unit) * unit
}

fn ceil(time: i64, unit: i64) -> i64 {
    floor(time.saturating_add(unit - 1), unit)
}

/// Plans `[from, to)` (minute-aligned, `from < to`) given where each source's data begins.
pub fn plan(from: i64, to: i64, kept: Kept) -> RangePlan {
    let (from, to) = (floor(from, MINUTE), floor(to, MINUTE));
    let live_from = kept.live_from.map(|t| ceil(t, MINUTE));
    let m1_from = ceil(kept.m1_from, MINUTE);
    // Minutes are exact from here on (stored 1-minute bars, or the live minutes).
    let exact_from = live_from.map_or(m1_from, |live| live.min(m1_from));
    let hours_from = ceil(kept.h1_from, HOUR);
    let days_from = ceil(kept.d1_from, DAY);
    let coarse_to = to.min(floor(kept.settled, MINUTE));
    let mut pieces: Vec<Segment> = Vec::new();
    let mut cursor = from;
    while cursor < to {
        let (source, end) = if cursor % DAY == 0 && cursor >= days_from && cursor + DAY <= coarse_to
        {
            (Source::Bars1d, cursor + DAY)
        } else if cursor % HOUR == 0 && cursor >= hours_from && cursor + HOUR <= coarse_to {
            (Source::Bars1h, cursor + HOUR)
        } else if cursor >= exact_from {
            // Minutes up to the next hour boundary (where a coarse bar may fit again),
            // stored ones before the live part.
            let end = ceil(cursor + 1, HOUR).min(to);
            match live_from {
                Some(live) if cursor >= live => (Source::Live, end),
                Some(live) => (Source::Bars1m, end.min(live)),
                None => (Source::Bars1m, end),
            }
        } else if pieces.is_empty() {
            // The start lies where no whole bar fits: on to the next place one may (every
            // candidate lies after the cursor).
            cursor = if cursor >= hours_from {
                ceil(cursor + 1, HOUR)
            } else {
                ceil((cursor + 1).max(days_from), DAY).min(hours_from)
            }
            .min(exact_from);
            continue;
        } else {
            // The end lies where no whole bar fits: the range stops here.
            break;
        };
        match pieces.last_mut() {
            Some(last) if last.source == source && last.to == cursor => last.to = end,
            _ => pieces.push(Segment {
                source,
                from: cursor,
                to: end,
            }),
        }
        cursor = end;
    }
    match (pieces.first(), pieces.last()) {
        (Some(first), Some(last)) => RangePlan {
            effective_from: first.from,
            effective_to: last.to,
            segments: pieces,
        },
        _ => RangePlan {
            segments: pieces,
            effective_from: from,
            effective_to: from,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY0: i64 = 1_767_225_600_000; // 2026-01-01T00:00Z

    fn seg(source: Source, from: i64, to: i64) -> Segment {
        Segment { source, from, to }
    }

    /// Live part (if any) settled from its start, 1-day bars kept forever.
    fn kept(live_from: Option<i64>, settled: i64, m1_from: i64, h1_from: i64) -> Kept {
        Kept {
            live_from,
            settled,
            m1_from,
            h1_from,
            d1_from: 0,
        }
    }

    /// The minutes each plan part covers, to check every minute is counted exactly once.
    fn minutes(plan: &RangePlan) -> Vec<i64> {
        let mut all: Vec<i64> = plan
            .segments
            .iter()
            .flat_map(|s| (s.from..s.to).step_by(MINUTE as usize))
            .collect();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "a minute counted twice: {plan:?}");
        all
    }

    #[test]
    fn a_three_day_range_reads_days_hours_minutes_then_the_live_part() {
        // Now is day 3 at 12:00; the aggregator's live part covers 15 minutes, 1-minute bars
        // are kept 26 h 30 min, 1-hour bars 90 days.
        let now = DAY0 + 3 * DAY + 12 * HOUR;
        let live_from = now - 15 * MINUTE;
        let m1_from = now - 26 * HOUR - 30 * MINUTE;
        let kept = kept(Some(live_from), live_from, m1_from, now - 90 * DAY);
        let plan = plan(DAY0, now + MINUTE, kept);
        let last_hour = DAY0 + 3 * DAY + 11 * HOUR;
        assert_eq!(
            plan.segments,
            [
                seg(Source::Bars1d, DAY0, DAY0 + 3 * DAY),
                seg(Source::Bars1h, DAY0 + 3 * DAY, last_hour),
                seg(Source::Bars1m, last_hour, live_from),
                seg(Source::Live, live_from, now + MINUTE),
            ]
        );
        assert_eq!(
            (plan.effective_from, plan.effective_to),
            (DAY0, now + MINUTE)
        );
        let covered = minutes(&plan);
        assert_eq!(
            covered.len() as i64,
            (now + MINUTE - DAY0) / MINUTE,
            "no gap"
        );
        // Starting inside the stored minutes: minutes to the first hour, then hours.
        let from = m1_from + 7 * MINUTE;
        let plan = super::plan(from, now, kept);
        assert_eq!(
            plan.segments[0],
            seg(Source::Bars1m, from, ceil(from, HOUR))
        );
        assert_eq!(plan.segments[1].source, Source::Bars1h);
        assert_eq!(plan.effective_from, from);
    }

    #[test]
    fn edges_inside_hours_older_than_the_minute_bars_narrow_the_range() {
        let kept = kept(None, DAY0 + 100 * HOUR, DAY0 + 48 * HOUR, 0);
        let plan = plan(DAY0 + 10 * MINUTE, DAY0 + 5 * HOUR + 20 * MINUTE, kept);
        assert_eq!(
            (plan.effective_from, plan.effective_to),
            (DAY0 + HOUR, DAY0 + 5 * HOUR)
        );
        assert_eq!(
            plan.segments,
            [seg(Source::Bars1h, DAY0 + HOUR, DAY0 + 5 * HOUR)]
        );
        // Inside one such hour: nothing can be answered exactly.
        let inside = super::plan(DAY0 + 10 * MINUTE, DAY0 + 50 * MINUTE, kept);
        assert!(inside.segments.is_empty());
        assert_eq!(inside.effective_from, inside.effective_to);
    }

    #[test]
    fn where_only_days_are_kept_edges_narrow_to_whole_days() {
        // 1-hour bars are kept from day 3 05:00 on; before that only 1-day bars.
        let kept = kept(
            None,
            DAY0 + 20 * DAY,
            DAY0 + 10 * DAY,
            DAY0 + 3 * DAY + 5 * HOUR,
        );
        let plan = plan(DAY0 + 5 * HOUR, DAY0 + 2 * DAY + 3 * HOUR, kept);
        assert_eq!(
            plan.segments,
            [seg(Source::Bars1d, DAY0 + DAY, DAY0 + 2 * DAY)]
        );
        // Into the hours: days up to the day the range ends in, then hours.
        let plan = super::plan(DAY0 + 5 * HOUR, DAY0 + 4 * DAY + 7 * HOUR, kept);
        assert_eq!(
            plan.segments,
            [
                seg(Source::Bars1d, DAY0 + DAY, DAY0 + 4 * DAY),
                seg(Source::Bars1h, DAY0 + 4 * DAY, DAY0 + 4 * DAY + 7 * HOUR),
            ]
        );
        // A start inside the first day of the hours: hours from where they begin.
        let plan = super::plan(DAY0 + 3 * DAY + HOUR, DAY0 + 3 * DAY + 9 * HOUR, kept);
        assert_eq!(
            plan.segments,
            [seg(
                Source::Bars1h,
                DAY0 + 3 * DAY + 5 * HOUR,
                DAY0 + 3 * DAY + 9 * HOUR
            )]
        );
    }

    #[test]
    fn recent_ranges_are_exact_to_the_minute() {
        let now = DAY0 + 30 * HOUR;
        let live_from = now - 15 * MINUTE;
        let m1_from = now - 26 * HOUR;
        let kept = kept(Some(live_from), live_from, m1_from, 0);
        // Entirely live.
        let live = plan(now - 10 * MINUTE, now, kept);
        assert_eq!(live.segments, [seg(Source::Live, now - 10 * MINUTE, now)]);
        // Across stored minutes, hours, minutes not settled and the live ones.
        let from = m1_from + 7 * MINUTE;
        let across = plan(from, live_from + 13 * MINUTE, kept);
        assert_eq!(
            across.segments,
            [
                seg(Source::Bars1m, from, DAY0 + 5 * HOUR),
                seg(Source::Bars1h, DAY0 + 5 * HOUR, DAY0 + 29 * HOUR),
                seg(Source::Bars1m, DAY0 + 29 * HOUR, live_from),
                seg(Source::Live, live_from, live_from + 13 * MINUTE),
            ]
        );
        minutes(&across);
        // Without a live part (a cold aggregator), stored minutes to the end.
        let cold = Kept {
            live_from: None,
            settled: now - 15 * MINUTE,
            ..kept
        };
        assert_eq!(
            plan(from, now, cold).segments,
            [
                seg(Source::Bars1m, from, DAY0 + 5 * HOUR),
                seg(Source::Bars1h, DAY0 + 5 * HOUR, DAY0 + 29 * HOUR),
                seg(Source::Bars1m, DAY0 + 29 * HOUR, now),
            ]
        );
    }

    #[test]
    fn every_minute_of_any_range_is_planned_once_from_whole_kept_bars() {
        let now = DAY0 + 5 * DAY + 8 * HOUR;
        let m1_from = now - 26 * HOUR - 17 * MINUTE;
        for h1_from in [0, DAY0 + DAY + 7 * HOUR, m1_from] {
            for live_from in [None, Some(now - 15 * MINUTE), Some(now - 3 * MINUTE)] {
                let kept = kept(
                    live_from,
                    live_from.unwrap_or(now - 15 * MINUTE),
                    m1_from,
                    h1_from,
                );
                for from_h in [0, 7, 30, 53, 54, 55, 70, 79, 101, 120] {
                    for from_m in [0, 1, 59] {
                        let from = DAY0 + from_h * HOUR + from_m * MINUTE;
                        for span in [MINUTE, HOUR, 7 * HOUR + 11 * MINUTE, 60 * HOUR, 9 * DAY] {
                            let to = (from + span).min(now + MINUTE);
                            if from >= to {
                                continue;
                            }
                            check(&plan(from, to, kept), from, to, kept);
                        }
                    }
                }
            }
        }
    }

    fn check(plan: &RangePlan, from: i64, to: i64, kept: Kept) {
        let covered = minutes(plan);
        let expected = (plan.effective_to - plan.effective_from) / MINUTE;
        assert_eq!(covered.len() as i64, expected, "{plan:?}");
        assert!(plan.effective_from >= from && plan.effective_to <= to);
        for s in &plan.segments {
            assert!(s.from < s.to, "{s:?}");
            assert!(
                s.from % s.source.unit() == 0 && s.to % s.source.unit() == 0,
                "{s:?}"
            );
            match s.source {
                Source::Bars1d => assert!(s.from >= kept.d1_from && s.to <= kept.settled, "{s:?}"),
                Source::Bars1h => assert!(s.from >= kept.h1_from && s.to <= kept.settled, "{s:?}"),
                Source::Bars1m => assert!(s.from >= kept.m1_from, "{s:?}"),
                Source::Live => assert!(kept.live_from.is_some_and(|l| s.from >= l)),
            }
        }
        // A range starting inside the exact minutes is answered as asked.
        if from >= kept.m1_from.min(kept.live_from.unwrap_or(i64::MAX)) {
            assert_eq!((plan.effective_from, plan.effective_to), (from, to));
        }
    }
}
