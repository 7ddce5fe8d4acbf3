//! What the alert rules look at beyond a pair's snapshot (issue #21), from the API's
//! sources: the feeds, the store, the holes, and the levels that need the store (the
//! previous day's value area, naked POCs).

use super::Api;
use super::calendar::SessionSpec;
use super::sessions::last_price;
use crate::alerts::{Health, ReferenceLevels};
use crate::model::{Price, Symbol, Venue};

/// How far back the data-quality log is read for holes that open.
const HOLE_WINDOW_MS: i64 = 24 * 3_600_000;

impl Api {
    /// The health facts of the alert rules: each enabled venue's feed, the store, the
    /// recent holes of `pairs`.
    pub fn alert_health(&self, pairs: &[(Venue, Symbol)], now: i64) -> Health {
        let feeds = self
            .feeds()
            .into_iter()
            .filter_map(|(key, reason)| key.parse::<Venue>().ok().map(|v| (v, reason.is_none())))
            .collect();
        let holes = pairs
            .iter()
            .map(|&(venue, symbol)| {
                (
                    (venue, symbol),
                    self.sources
                        .quality
                        .holes(venue, symbol, now - HOLE_WINDOW_MS, i64::MAX),
                )
            })
            .collect();
        Health {
            feeds,
            store_up: self.sources.persistence.stats().store_available,
            holes,
        }
    }

    /// The previous day's POC, VAH and VAL (the daily session before the current one) and
    /// the naked POCs of the lookback, for one pair; what cannot be read is left out.
    pub async fn reference_levels(&self, venue: Venue, symbol: Symbol) -> ReferenceLevels {
        let now = wadm_supervision::unix_millis();
        let venues = [venue];
        let Some(profile) = self
            .sources
            .snapshots
            .latest(venue, symbol)
            .map(|s| s.params)
        else {
            return ReferenceLevels::default();
        };
        let spec = SessionSpec::daily(profile.session.minute_of_day());
        let last = last_price(&self.snapshots_of(&venues, symbol));
        let price = |v: &serde_json::Value, key: &str| -> Option<Price> {
            v.get(key)?.as_str()?.parse().ok()
        };
        let previous_day = match self
            .session_levels(&spec, &venues, symbol, now, &profile, last)
            .await
        {
            Ok((_, previous)) => price(&previous, "poc")
                .zip(price(&previous, "vah"))
                .zip(price(&previous, "val"))
                .map(|((poc, vah), val)| (poc, vah, val)),
            Err(_) => None,
        };
        let naked_pocs = match last {
            Some(last) => self
                .naked(
                    &venues,
                    symbol,
                    self.settings.naked_poc_days,
                    now,
                    &profile,
                    last,
                )
                .await
                .map(|list| list.iter().filter_map(|n| price(n, "price")).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        ReferenceLevels {
            previous_day,
            naked_pocs,
        }
    }
}
