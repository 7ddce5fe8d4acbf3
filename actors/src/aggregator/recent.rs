//! The minutes an aggregator closed lately, published with its snapshot so that a range
//! answer can take the newest minutes from memory while their stored bars may still be on
//! their way to the store (persistence writes every second, and holds documents while the
//! store is down).
//!
//! The span is contiguous: every minute in `[from, open minute)` that held a trade and closed
//! (or was amended) since `from` is in the set, so "no bar" inside it means "no trade".

use std::collections::BTreeMap;
use std::sync::Arc;

use super::bar::{Bar, Timeframe};

/// Minutes kept before the open one: a quarter of an hour of persistence lag is answered
/// from memory.
pub const RECENT_MINUTES: i64 = 15;

/// The closed minutes of the last [`RECENT_MINUTES`] minutes before the open one.
#[derive(Debug, Clone, Default)]
pub struct RecentMinutes {
    /// Start of the span held (`None` until the first minute closes).
    from: Option<i64>,
    minutes: BTreeMap<i64, Arc<Bar>>,
    /// The published view, rebuilt when a minute closes or changes.
    view: Option<Arc<[Arc<Bar>]>>,
}

impl RecentMinutes {
    /// Records a minute bar that closed (`closed`), or changed after it closed, while
    /// `open` is the open minute. The span starts at the first minute that closes (minutes
    /// before it, restored or amended, are in the store) and follows the open minute.
    pub fn record(&mut self, bar: &Arc<Bar>, closed: bool, open: i64) {
        let from = match self.from {
            Some(from) => from,
            None if closed => *self.from.insert(bar.start),
            None => return,
        };
        let keep_from = from.max(open - RECENT_MINUTES * Timeframe::M1.millis());
        if keep_from > from {
            self.from = Some(keep_from);
            self.minutes = self.minutes.split_off(&keep_from);
            self.view = None;
        }
        if bar.start < keep_from {
            return;
        }
        self.minutes.insert(bar.start, Arc::clone(bar));
        self.view = None;
    }

    /// The span's start and its closed minutes, oldest first.
    pub fn view(&mut self) -> (Option<i64>, Arc<[Arc<Bar>]>) {
        let minutes = &self.minutes;
        let view = self
            .view
            .get_or_insert_with(|| minutes.values().cloned().collect());
        (self.from, Arc::clone(view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(start: i64) -> Arc<Bar> {
        Arc::new(Bar::of(Timeframe::M1, start))
    }

    #[test]
    fn the_span_starts_at_the_first_close_and_follows_the_open_minute() {
        let mut recent = RecentMinutes::default();
        let m = Timeframe::M1.millis();
        // An amendment before any close (a repaired minute after a restart) is the store's.
        recent.record(&minute(5 * m), false, 13 * m);
        assert_eq!(recent.view().0, None);
        recent.record(&minute(10 * m), true, 11 * m);
        recent.record(&minute(12 * m), true, 13 * m);
        let (from, bars) = recent.view();
        assert_eq!(from, Some(10 * m));
        assert_eq!(bars.len(), 2);
        // An amendment of a minute older than the span is left to the store.
        recent.record(&minute(9 * m), false, 13 * m);
        assert_eq!(recent.view().1.len(), 2);
        // The span follows the open minute: RECENT_MINUTES minutes before it.
        recent.record(&minute(40 * m), true, 41 * m);
        let (from, bars) = recent.view();
        assert_eq!(from, Some((41 - RECENT_MINUTES) * m));
        assert_eq!(bars.len(), 1);
        assert_eq!(bars[0].start, 40 * m);
        // An amended minute inside the span replaces its bar.
        recent.record(&minute(30 * m), false, 41 * m);
        recent.record(&minute(30 * m), false, 41 * m);
        assert_eq!(recent.view().1.len(), 2);
    }
}
