//! The live web page (issue #22): `GET /` and its assets under `/ui/`, embedded in the binary
//! (no runtime files, no CDN). The page reads only the REST API; it needs no key itself, its
//! API calls do. Reference: `actors/src/api/ui/` (the page) and its vendored chart library.

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Every embedded file.
pub const ASSETS: [Asset; 4] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("ui/index.html"),
    },
    Asset {
        path: "/ui/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("ui/app.js"),
    },
    Asset {
        path: "/ui/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("ui/app.css"),
    },
    Asset {
        path: "/ui/lightweight-charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("ui/vendor/lightweight-charts.standalone.production.js"),
    },
];

/// The page's content security policy: everything from the daemon itself (the chart library
/// sets inline styles).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The asset served at `path`.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_refers_only_to_embedded_assets() {
        let page = std::str::from_utf8(asset("/").map_or(&[][..], |a| a.body)).unwrap_or("");
        for reference in ["/ui/app.css", "/ui/app.js", "/ui/lightweight-charts.js"] {
            assert!(page.contains(reference), "{reference}");
            assert!(
                asset(reference).is_some_and(|a| !a.body.is_empty()),
                "{reference}"
            );
        }
        assert!(
            !page.contains("http://") || page.contains("tradingview.com"),
            "no CDN"
        );
        assert!(asset("/ui/nope.js").is_none());
    }
}

mod bundle {
    //! `GET /api/v1/page/{symbol}?venue=&window=`: everything the page refreshes, in one
    //! answer (one request per refresh, well within the default rate limit): the profile of
    //! the window, the developing minute, the last closed minutes' order flow, the last
    //! price, and the status strip (feeds, store, holes, drops). All from memory.

    use warp::http::StatusCode;
    use warp::reply::Response;

    use super::super::Api;
    use super::super::error::ApiError;
    use super::super::params::Params;
    use super::super::reply::json_response;
    use super::super::views::{
        FlowView, ProfileView, Window, analyse, answer_params, parse_window,
    };
    use crate::aggregator::Timeframe;
    use crate::aggregator::engine::Rolling;

    /// Closed minutes listed.
    const MINUTES: usize = 5;

    impl Api {
        /// `GET /api/v1/page/{symbol}`.
        pub(in crate::api) fn page_bundle(
            &self,
            symbol: &str,
            query: Option<&str>,
        ) -> Result<Response, ApiError> {
            let params = Params::parse(query, &["venue", "window"])?;
            let (venue, symbol) = self.resolve(symbol, &params)?;
            let window = params
                .parsed("window", parse_window)?
                .unwrap_or(Window::Rolling(Rolling::H24));
            let (snapshot, grid) = self.live(venue, symbol)?;
            let profile = snapshot.params;
            let (name, bar) = match window {
                Window::Rolling(r) => (r.as_str(), snapshot.rolling.get(&r)),
                Window::Session => ("session", snapshot.session.as_ref()),
                Window::Bar(t) => (t.as_str(), snapshot.bars.get(&t)),
            };
            let profile_view = bar.map(|bar| {
                let (report, _) = analyse(bar, &grid, 1, &profile, snapshot.cvd);
                (
                    ProfileView::from(report),
                    self.live_coverage(&snapshot, bar.start, bar.end.min(snapshot.published_at)),
                )
            });
            let flow = |bar: &crate::aggregator::Bar| {
                let (report, absorption) = analyse(bar, &grid, 1, &profile, snapshot.cvd);
                FlowView::of(report, absorption)
            };
            let minutes: Vec<FlowView> = snapshot
                .closed_minutes
                .iter()
                .rev()
                .take(MINUTES)
                .rev()
                .map(|bar| flow(bar))
                .collect();
            let current = snapshot.bars.get(&Timeframe::M1).map(|bar| flow(bar));
            let connections = self.sources.registry.snapshot();
            let feeds: Vec<serde_json::Value> = self
                .feeds()
                .into_iter()
                .map(|(venue, reason)| {
                    // Lag: the oldest last frame of the venue's endpoints; reconnects summed.
                    let endpoints = connections
                        .iter()
                        .find(|a| a.kind == "connection" && a.key == venue)
                        .and_then(|a| a.detail.as_ref())
                        .and_then(|d| d.get("endpoints"))
                        .and_then(|e| e.as_array())
                        .cloned()
                        .unwrap_or_default();
                    let lag = endpoints
                        .iter()
                        .filter_map(|e| e.get("last_frame_age_ms").and_then(serde_json::Value::as_i64))
                        .max();
                    let reconnects: u64 = endpoints
                        .iter()
                        .filter_map(|e| e.get("reconnects").and_then(serde_json::Value::as_u64))
                        .sum();
                    serde_json::json!({"venue": venue, "up": reason.is_none(), "reason": reason, "lag_ms": lag, "reconnects": reconnects})
                })
                .collect();
            let stats = self.sources.persistence.stats();
            let holes = self.sources.quality.holes(venue, symbol, 0, i64::MAX);
            let open = holes
                .iter()
                .filter(|h| h.state.is_some_and(|s| s.is_open()))
                .count();
            let body = serde_json::json!({
                "venue": venue,
                "symbol": symbol,
                "window": name,
                "as_of": snapshot.published_at,
                "params": answer_params(&grid, 1, &profile),
                "last_price": snapshot.recent_trades.last().map(|t| t.price),
                "last_trade_time": snapshot.last_trade_time,
                "profile": profile_view.as_ref().map(|(p, _)| p),
                "coverage": profile_view.as_ref().map(|(_, c)| c),
                "minutes": minutes,
                "current": current,
                "status": {
                    "feeds": feeds,
                    "store": {"backend": self.sources.store.backend(), "available": stats.store_available, "buffered": stats.buffered + stats.in_flight},
                    "holes": {"open": open, "closed": holes.len() - open},
                    "drops": stats.dropped_total(),
                },
            });
            Ok(json_response(StatusCode::OK, &body))
        }
    }
}
