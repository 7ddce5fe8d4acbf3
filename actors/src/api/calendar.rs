//! Named UTC sessions (issue #19): `asia 00:00-08:00`, `london 07:00-16:00`,
//! `new_york 13:30-20:00` by default, the daily session from the session anchor, and the
//! week (Monday 00:00 UTC). Pure: which instance of a session is current, which finished
//! last, and the ones of the last days.

use std::fmt;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 1970-01-01 was a Thursday: Monday 00:00 UTC is 4 days after a multiple of 7 days.
const WEEK: i64 = 7 * DAY;
const MONDAY_OFFSET: i64 = 4 * DAY;

/// A session: a name and its UTC start and end, minutes after midnight (an end at or before
/// the start runs past midnight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    pub name: String,
    pub start_minute: u32,
    pub end_minute: u32,
}

impl SessionSpec {
    /// Parses `HH:MM-HH:MM`.
    pub fn parse(name: &str, hours: &str) -> Result<Self, String> {
        let minute = |text: &str| -> Result<u32, String> {
            let (h, m) = text
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("{text:?} is not HH:MM"))?;
            let (h, m): (u32, u32) = (
                h.parse().map_err(|_| format!("{text:?} is not HH:MM"))?,
                m.parse().map_err(|_| format!("{text:?} is not HH:MM"))?,
            );
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(format!("{text:?} is not a time of day"));
            }
            Ok(h * 60 + m)
        };
        let (start, end) = hours
            .split_once('-')
            .ok_or_else(|| format!("{hours:?} is not HH:MM-HH:MM"))?;
        let (start_minute, end_minute) = (minute(start)? % 1_440, minute(end)? % 1_440);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!(
                "session name {name:?}: use lower-case letters, digits and _"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            start_minute,
            end_minute,
        })
    }

    /// The daily session starting at `anchor_minute`.
    pub fn daily(anchor_minute: u32) -> Self {
        Self {
            name: "daily".to_owned(),
            start_minute: anchor_minute % 1_440,
            end_minute: anchor_minute % 1_440,
        }
    }

    fn length(&self) -> i64 {
        let length = (i64::from(self.end_minute) - i64::from(self.start_minute)).rem_euclid(1_440);
        if length == 0 { DAY } else { length * MINUTE }
    }

    /// The instance starting on the UTC day of `day` (ms of that day's midnight).
    fn on(&self, day: i64) -> (i64, i64) {
        let start = day + i64::from(self.start_minute) * MINUTE;
        (start, start + self.length())
    }

    /// The instance in progress at `now`, if any.
    pub fn current(&self, now: i64) -> Option<(i64, i64)> {
        let today = now.div_euclid(DAY) * DAY;
        [today - DAY, today]
            .into_iter()
            .map(|day| self.on(day))
            .find(|(start, end)| (*start..*end).contains(&now))
    }

    /// The instances that finished at or before `now`, newest first, the last `count`.
    pub fn finished(&self, now: i64, count: usize) -> Vec<(i64, i64)> {
        let mut day = now.div_euclid(DAY) * DAY;
        let mut found = Vec::with_capacity(count);
        while found.len() < count {
            let (start, end) = self.on(day);
            if end <= now {
                found.push((start, end));
            }
            day -= DAY;
        }
        found
    }
}

impl fmt::Display for SessionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start_minute / 60,
            self.start_minute % 60,
            self.end_minute / 60,
            self.end_minute % 60
        )
    }
}

/// The week containing `now` (Monday 00:00 UTC to the next), and the one before.
pub fn weeks(now: i64) -> ((i64, i64), (i64, i64)) {
    let start = (now - MONDAY_OFFSET).div_euclid(WEEK) * WEEK + MONDAY_OFFSET;
    ((start, start + WEEK), (start - WEEK, start))
}

/// The default sessions.
pub fn default_sessions() -> Vec<SessionSpec> {
    [
        ("asia", "00:00-08:00"),
        ("london", "07:00-16:00"),
        ("new_york", "13:30-20:00"),
    ]
    .into_iter()
    .filter_map(|(name, hours)| SessionSpec::parse(name, hours).ok())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-05, a Monday.
    const MONDAY: i64 = 1_767_571_200_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn sessions_parse_and_find_their_instances() {
        let ny = SessionSpec::parse("new_york", "13:30-20:00").unwrap();
        assert_eq!(ny.to_string(), "13:30-20:00");
        let at = MONDAY + 15 * HOUR;
        assert_eq!(
            ny.current(at),
            Some((MONDAY + 13 * HOUR + 30 * MINUTE, MONDAY + 20 * HOUR))
        );
        assert_eq!(
            ny.finished(at, 2),
            [
                (
                    MONDAY - DAY + 13 * HOUR + 30 * MINUTE,
                    MONDAY - DAY + 20 * HOUR
                ),
                (
                    MONDAY - 2 * DAY + 13 * HOUR + 30 * MINUTE,
                    MONDAY - 2 * DAY + 20 * HOUR
                ),
            ]
        );
        // At its end it has finished.
        assert_eq!(ny.current(MONDAY + 20 * HOUR), None);
        assert_eq!(ny.finished(MONDAY + 20 * HOUR, 1)[0].1, MONDAY + 20 * HOUR);
        // Past midnight.
        let late = SessionSpec::parse("late", "22:00-02:00").unwrap();
        assert_eq!(
            late.current(MONDAY + HOUR),
            Some((MONDAY - 2 * HOUR, MONDAY + 2 * HOUR))
        );
        let daily = SessionSpec::daily(0);
        assert_eq!(daily.current(at), Some((MONDAY, MONDAY + DAY)));
        assert_eq!(daily.finished(at, 1), [(MONDAY - DAY, MONDAY)]);
        for bad in ["25:00-01:00", "7-8", "07:00", "07:60-08:00"] {
            assert!(SessionSpec::parse("x", bad).is_err(), "{bad}");
        }
        assert!(SessionSpec::parse("New York", "13:30-20:00").is_err());
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(
            weeks(MONDAY + 3 * DAY),
            ((MONDAY, MONDAY + WEEK), (MONDAY - WEEK, MONDAY))
        );
        assert_eq!(weeks(MONDAY).0.0, MONDAY);
        assert_eq!(weeks(MONDAY - 1).0.0, MONDAY - WEEK);
    }
}
