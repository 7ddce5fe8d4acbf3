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
