//! Where each part of a range profile is read from, so that every trade of the range is
//! counted exactly once (issue #19, range profiles): the minutes the aggregator still holds
//! (live, the open minute included), stored 1-minute bars where they are kept, and stored
//! 1-hour bars before that. Pure: the route reads what the plan names and sums it.
//!
//! Rules, newest first:
//! - from `live_from` (the earliest minute the aggregator holds) on: the live minutes;
//! - from `m1_from` (the earliest minute stored 1-minute bars are kept for) up to the live
//!   part: stored 1-minute bars;
//! - before that: stored 1-hour bars, whole hours only, up to the first hour boundary at or
//!   after the earliest exact minute. A range edge inside an hour older than that cannot be
//!   cut exactly: the range is narrowed to the whole hours inside it, and the plan says so
//!   (`effective_from`/`effective_to`), never widened (no trade outside the range asked is
//!   counted).

/// One minute and one hour, in ms.
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// What a part of a range is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The aggregator's minutes in memory (the open minute included).
    Live,
    /// Stored 1-minute bars.
    Bars1m,
    /// Stored 1-hour bars.
    Bars1h,
}

/// A part of the range: `[from, to)` read from `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub source: Source,
    pub from: i64,
    pub to: i64,
}

/// The plan of a range: its parts, oldest first, and the range they cover exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePlan {
    pub segments: Vec<Segment>,
    /// Start of what the answer covers (`from` asked, or the next whole hour when `from`
    /// lies inside an hour only 1-hour bars still hold).
    pub effective_from: i64,
    /// End of what the answer covers (`to` asked, or the start of its hour likewise).
    pub effective_to: i64,
}

fn floor(time: i64, unit: i64) -> i64 {
    time.div_euclid(unit) * unit
}

fn ceil(time: i64, unit: i64) -> i64 {
    floor(time.saturating_add(unit - 1), unit)
}

/// Plans `[from, to)` (minute-aligned, `from < to`) given the earliest minute the aggregator
/// holds (`live_from`, `None` when it holds none) and the earliest minute stored 1-minute bars
/// are kept for (`m1_from`).
pub fn plan(from: i64, to: i64, live_from: Option<i64>, m1_from: i64) -> RangePlan {
    let (from, to) = (floor(from, MINUTE), floor(to, MINUTE));
    let m1_from = ceil(m1_from, MINUTE);
    let live_from = live_from.map(|t| ceil(t, MINUTE));
    // Minutes are exact from here on (stored 1-minute bars, or the live minutes); before
    // it only whole 1-hour bars are, up to the first hour boundary at or after it.
    let exact_from = live_from.map_or(m1_from, |live| live.min(m1_from));
    let boundary = if from >= exact_from {
        from
    } else {
        ceil(exact_from, HOUR)
    };
    let effective_from = if from < boundary {
        ceil(from, HOUR)
    } else {
        from
    };
    let effective_to = if to < boundary { floor(to, HOUR) } else { to };
    if effective_from >= effective_to {
        // No whole hour inside the range: nothing can be answered exactly.
        return RangePlan {
            segments: Vec::new(),
            effective_from: from,
            effective_to: from,
        };
    }
    let mut segments = Vec::new();
    let mut push = |source, from: i64, to: i64| {
        if from < to {
            segments.push(Segment { source, from, to });
        }
    };
    let hours_to = boundary.clamp(effective_from, effective_to);
    push(Source::Bars1h, effective_from, hours_to);
    // The live part starts where the aggregator's minutes do, never inside the hours part.
    let live_start = live_from.map(|live| live.clamp(hours_to, effective_to));
    let stored_to = live_start.unwrap_or(effective_to);
    push(Source::Bars1m, hours_to, stored_to);
    if let Some(live_start) = live_start {
        push(Source::Live, live_start, effective_to);
    }
    RangePlan {
        segments,
        effective_from,
        effective_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY0: i64 = 1_767_225_600_000; // 2026-01-01T00:00Z

    fn seg(source: Source, from: i64, to: i64) -> Segment {
        Segment { source, from, to }
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
    fn a_three_day_range_reads_hours_then_minutes_then_the_live_part() {
        // Now is day 3 at 12:00; the aggregator holds 25 h, 1-minute bars are kept 26 h.
        let now = DAY0 + 3 * 24 * HOUR + 12 * HOUR;
        let live_from = now - 25 * HOUR;
        let m1_from = now - 26 * HOUR - 30 * MINUTE; // not hour-aligned
        let plan = plan(DAY0, now + MINUTE, Some(live_from), m1_from);
        let hours_end = ceil(m1_from, HOUR);
        assert_eq!(
            plan.segments,
            [
                seg(Source::Bars1h, DAY0, hours_end),
                seg(Source::Bars1m, hours_end, live_from),
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
    }

    #[test]
    fn edges_inside_hours_older_than_the_minute_bars_narrow_the_range() {
        let m1_from = DAY0 + 48 * HOUR;
        let plan = plan(
            DAY0 + 10 * MINUTE,
            DAY0 + 5 * HOUR + 20 * MINUTE,
            None,
            m1_from,
        );
        assert_eq!(
            (plan.effective_from, plan.effective_to),
            (DAY0 + HOUR, DAY0 + 5 * HOUR)
        );
        assert_eq!(
            plan.segments,
            [seg(Source::Bars1h, DAY0 + HOUR, DAY0 + 5 * HOUR)]
        );
        // Inside one such hour: nothing can be answered exactly.
        let inside = super::plan(DAY0 + 10 * MINUTE, DAY0 + 50 * MINUTE, None, m1_from);
        assert!(inside.segments.is_empty());
        assert_eq!(inside.effective_from, inside.effective_to);
    }

    #[test]
    fn recent_ranges_are_exact_to_the_minute() {
        let now = DAY0 + 30 * HOUR;
        let live_from = now - 25 * HOUR;
        let m1_from = now - 26 * HOUR;
        // Entirely live.
        let live = plan(now - 90 * MINUTE, now, Some(live_from), m1_from);
        assert_eq!(live.segments, [seg(Source::Live, now - 90 * MINUTE, now)]);
        // Across the stored minutes and the live ones, edges inside hours.
        let from = m1_from + 7 * MINUTE;
        let across = plan(from, live_from + 13 * MINUTE, Some(live_from), m1_from);
        assert_eq!(
            across.segments,
            [
                seg(Source::Bars1m, from, live_from),
                seg(Source::Live, live_from, live_from + 13 * MINUTE),
            ]
        );
        // Without a live part (a cold aggregator), stored minutes to the end.
        let cold = plan(from, now, None, m1_from);
        assert_eq!(cold.segments, [seg(Source::Bars1m, from, now)]);
        minutes(&across);
    }

    #[test]
    fn every_minute_of_any_range_is_planned_once() {
        let now = DAY0 + 80 * HOUR;
        let m1_from = now - 26 * HOUR - 17 * MINUTE;
        for live_from in [None, Some(now - 25 * HOUR), Some(now - 3 * MINUTE)] {
            for from_h in [0, 30, 53, 54, 55, 70, 79] {
                for from_m in [0, 1, 59] {
                    let from = DAY0 + from_h * HOUR + from_m * MINUTE;
                    for span in [MINUTE, HOUR, 7 * HOUR + 11 * MINUTE, 60 * HOUR] {
                        let to = (from + span).min(now + MINUTE);
                        if from >= to {
                            continue;
                        }
                        let plan = plan(from, to, live_from, m1_from);
                        let covered = minutes(&plan);
                        let expected = (plan.effective_to - plan.effective_from) / MINUTE;
                        assert_eq!(covered.len() as i64, expected, "{plan:?}");
                        assert!(plan.effective_from >= from && plan.effective_to <= to);
                        for s in &plan.segments {
                            match s.source {
                                Source::Bars1h => {
                                    assert!(s.from % HOUR == 0 && s.to % HOUR == 0, "{s:?}");
                                }
                                Source::Bars1m => assert!(s.from >= m1_from, "{s:?}"),
                                Source::Live => assert!(live_from.is_some_and(|l| s.from >= l)),
                            }
                        }
                    }
                }
            }
        }
    }
}
