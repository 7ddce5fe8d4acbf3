//! One warp filter takes every request and [`Api::handle`] routes it, so the order of checks
//! (route, method, origin, key, rate, parameters) and every error's shape are decided here
//! and not by how warp combines rejections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use warp::Filter as _;
use warp::filters::BoxedFilter;
use warp::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, AUTHORIZATION, CONTENT_LENGTH, ORIGIN, TRANSFER_ENCODING, VARY,
};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::path::FullPath;
use warp::reply::Response;

use super::error::ApiError;
use super::limit::Subject;
use super::params::Params;
use super::{Api, auth::Verdict};
use crate::metrics as m;

/// Every route, as its template (the `route` label of the API metrics).
pub const ROUTES: [&str; 24] = [
    "/health",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/status",
    "/api/v1/symbols",
    "/api/v1/volume-profile/{symbol}",
    "/api/v1/volume-profile/{symbol}/history",
    "/api/v1/order-flow/current/{symbol}",
    "/api/v1/order-flow/{symbol}/history",
    "/api/v1/order-flow/{symbol}",
    "/api/v1/trades/{symbol}",
    "/api/v1/orderbook/{symbol}",
    "/api/v1/klines/{symbol}",
    "/api/v1/gaps",
    "/api/v1/sessions/{symbol}",
    "/api/v1/naked-pocs/{symbol}",
    "/api/v1/vwap/{symbol}",
    "/api/v1/context/{symbol}",
    "/api/v1/liquidations/{symbol}",
    "/api/v1/derivatives/{symbol}",
    "/api/v1/alerts",
    "/",
    "/ui/{asset}",
    "/api/v1/page/{symbol}",
];

/// The `route` label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// A matched route, with its path parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    Health,
    Metrics,
    OpenApi,
    Status,
    Symbols,
    Profile(&'a str),
    ProfileHistory(&'a str),
    FlowCurrent(&'a str),
    FlowHistory(&'a str),
    FlowRange(&'a str),
    Trades(&'a str),
    Orderbook(&'a str),
    Klines(&'a str),
    Gaps,
    Sessions(&'a str),
    NakedPocs(&'a str),
    Vwap(&'a str),
    Context(&'a str),
    Liquidations(&'a str),
    Derivatives(&'a str),
    Alerts,
    /// The web page or one of its assets.
    Page(&'static super::ui::Asset),
    /// What the page refreshes, in one answer.
    PageBundle(&'a str),
}

impl<'a> Route<'a> {
    pub(super) fn parse(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix('/')?;
        let segments: Vec<&str> = rest.split('/').collect();
        let route = match segments.as_slice() {
            [""] => Route::Page(super::ui::asset("/")?),
            ["ui", _] => Route::Page(super::ui::asset(path)?),
            ["health"] => Route::Health,
            ["metrics"] => Route::Metrics,
            ["api", "v1", tail @ ..] => match tail {
                ["openapi.json"] => Route::OpenApi,
                ["status"] => Route::Status,
                ["symbols"] => Route::Symbols,
                ["gaps"] => Route::Gaps,
                ["alerts"] => Route::Alerts,
                ["volume-profile", s] => Route::Profile(s),
                ["volume-profile", s, "history"] => Route::ProfileHistory(s),
                ["order-flow", "current", s] => Route::FlowCurrent(s),
                ["order-flow", s, "history"] => Route::FlowHistory(s),
                ["order-flow", s] => Route::FlowRange(s),
                ["trades", s] => Route::Trades(s),
                ["orderbook", s] => Route::Orderbook(s),
                ["klines", s] => Route::Klines(s),
                ["sessions", s] => Route::Sessions(s),
                ["naked-pocs", s] => Route::NakedPocs(s),
                ["vwap", s] => Route::Vwap(s),
                ["context", s] => Route::Context(s),
                ["liquidations", s] => Route::Liquidations(s),
                ["derivatives", s] => Route::Derivatives(s),
                ["page", s] => Route::PageBundle(s),
                _ => return None,
            },
            _ => return None,
        };
        let symbol_ok = |s: &str| !s.is_empty();
        match route {
            Route::Profile(s)
            | Route::ProfileHistory(s)
            | Route::FlowCurrent(s)
            | Route::FlowHistory(s)
            | Route::FlowRange(s)
            | Route::Trades(s)
            | Route::Orderbook(s)
            | Route::Klines(s)
            | Route::Sessions(s)
            | Route::NakedPocs(s)
            | Route::Vwap(s)
            | Route::Context(s)
            | Route::Liquidations(s)
            | Route::Derivatives(s)
            | Route::PageBundle(s)
                if !symbol_ok(s) =>
            {
                None
            }
            route => Some(route),
        }
    }

    /// The route's template, one of [`ROUTES`].
    pub(super) fn template(&self) -> &'static str {
        let index = match self {
            Route::Health => 0,
            Route::Metrics => 1,
            Route::OpenApi => 2,
            Route::Status => 3,
            Route::Symbols => 4,
            Route::Profile(_) => 5,
            Route::ProfileHistory(_) => 6,
            Route::FlowCurrent(_) => 7,
            Route::FlowHistory(_) => 8,
            Route::FlowRange(_) => 9,
            Route::Trades(_) => 10,
            Route::Orderbook(_) => 11,
            Route::Klines(_) => 12,
            Route::Gaps => 13,
            Route::Sessions(_) => 14,
            Route::NakedPocs(_) => 15,
            Route::Vwap(_) => 16,
            Route::Context(_) => 17,
            Route::Liquidations(_) => 18,
            Route::Derivatives(_) => 19,
            Route::Alerts => 20,
            Route::Page(asset) if asset.path == "/" => 21,
            Route::Page(_) => 22,
            Route::PageBundle(_) => 23,
        };
        ROUTES[index]
    }

    /// `/health` is open to probes; everything else needs a key when keys are configured.
    fn needs_key(&self) -> bool {
        !matches!(self, Route::Health | Route::Page(_))
    }

    /// Operator endpoints polled by probes and Prometheus are not rate limited.
    fn rate_limited(&self) -> bool {
        !matches!(self, Route::Health | Route::Metrics)
    }
}

/// One request, as the filter hands it over.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    pub headers: HeaderMap,
    /// Client address, when known.
    pub remote: Option<SocketAddr>,
}

/// The warp filter serving the API.
pub fn filter(api: Arc<Api>) -> BoxedFilter<(Response,)> {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        // The server puts the client's address in an extension; warp's own (tests) in its.
        .and(warp::ext::optional::<super::server::ClientAddr>())
        .and(warp::addr::remote())
        .then(
            move |method: Method,
                  path: FullPath,
                  query: String,
                  headers: HeaderMap,
                  client: Option<super::server::ClientAddr>,
                  remote: Option<SocketAddr>| {
                let remote = client.map(|c| c.0).or(remote);
                let api = Arc::clone(&api);
                async move {
                    api.handle(Request {
                        method,
                        path: path.as_str().to_owned(),
                        query,
                        headers,
                        remote,
                    })
                    .await
                }
            },
        )
        .boxed()
}

/// The key a request presents: `X-API-Key`, else `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("x-api-key") {
        return value.to_str().ok().map(str::trim);
    }
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl Api {
    /// Answers one request.
    pub async fn handle(&self, request: Request) -> Response {
        let started = Instant::now();
        let route = Route::parse(&request.path);
        let label = route.map_or(UNMATCHED, |r| r.template());
        let origin = request
            .headers
            .get(ORIGIN)
            .and_then(|o| o.to_str().ok())
            .map(str::to_owned);
        let allowed_origin = origin.as_deref().and_then(|o| {
            self.settings
                .cors_origins
                .iter()
                .find(|allowed| allowed.eq_ignore_ascii_case(o))
                .cloned()
        });
        let client = request
            .remote
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let mut response = match self
            .answer(route, &request, allowed_origin.is_some(), client)
            .await
        {
            Ok(response) => response,
            Err(err) => {
                self.log_error(label, &request, client, &err);
                err.into_response()
            }
        };
        if let Some(origin) = allowed_origin
            && let Ok(value) = HeaderValue::from_str(&origin)
        {
            let headers = response.headers_mut();
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(VARY, HeaderValue::from_static("Origin"));
        }
        let status = response.status();
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if status.is_server_error() {
            self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        metrics::counter!(m::API_REQUESTS_TOTAL, "route" => label, "status" => status_label(status))
            .increment(1);
        metrics::histogram!(m::API_REQUEST_DURATION_SECONDS, "route" => label)
            .record(started.elapsed().as_secs_f64());
        response
    }

    async fn answer(
        &self,
        route: Option<Route<'_>>,
        request: &Request,
        origin_allowed: bool,
        client: IpAddr,
    ) -> Result<Response, ApiError> {
        let Some(route) = route else {
            return Err(ApiError::no_route(&super::params::printable(&request.path)));
        };
        if request.method == Method::OPTIONS && request.headers.contains_key(ORIGIN) {
            return if origin_allowed {
                Ok(preflight())
            } else {
                Err(ApiError::origin_not_allowed())
            };
        }
        if request.method != Method::GET {
            return Err(ApiError::method_not_allowed(request.method.as_str()));
        }
        let has_body = request
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
            || request.headers.contains_key(TRANSFER_ENCODING);
        if has_body {
            return Err(ApiError::bad_request("GET requests take no body"));
        }
        let subject = if route.needs_key() {
            self.authenticate(request, client).await?
        } else {
            None
        };
        if route.rate_limited() {
            self.limit(subject.unwrap_or(Subject::Ip(client)))?;
        }
        let query = (!request.query.is_empty()).then_some(request.query.as_str());
        let work = self.route(route, query);
        match tokio::time::timeout(self.settings.request_timeout, work).await {
            Ok(answer) => answer,
            Err(_) => Err(ApiError::store_unavailable(format!(
                "the answer took longer than {:?} (api.request_timeout)",
                self.settings.request_timeout
            ))),
        }
    }

    /// Checks the request's key; returns who to count it against (`None` without keys).
    async fn authenticate(
        &self,
        request: &Request,
        client: IpAddr,
    ) -> Result<Option<Subject>, ApiError> {
        let refuse = |reason: &'static str, message: &str| {
            self.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(m::API_AUTH_FAILURES_TOTAL, "reason" => reason).increment(1);
            ApiError::unauthorized(message)
        };
        if !self.verifier.required() {
            // Without keys the API serves this machine only; a request a reverse proxy
            // forwarded came from elsewhere (the compose stack's TLS proxy, for one).
            if !self.settings.allow_unauthenticated && forwarded(&request.headers) {
                return Err(refuse(
                    "proxied",
                    "this API has no keys and serves this machine only, but the request came \
                     through a proxy: configure api.keys before publishing the API",
                ));
            }
            return Ok(None);
        }
        let Some(key) = presented_key(&request.headers) else {
            return Err(refuse(
                "missing",
                "an API key is required: send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`",
            ));
        };
        if let Some(index) = self.verifier.remembered(key) {
            return Ok(Some(Subject::Key(index)));
        }
        // Unknown presentations cost an argon2 run: the verifier bounds them (one thread,
        // failures counted per client IP, bad keys remembered); good keys are never charged.
        match self.verifier.verify(key, client).await {
            Verdict::Key(index) => {
                tracing::info!(key = %self.verifier.name(index), client = %client, "API key accepted");
                Ok(Some(Subject::Key(index)))
            }
            Verdict::Refused => Err(refuse("invalid", "the API key is not valid")),
            Verdict::TooManyFailures(wait) => {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(m::API_RATE_LIMITED_TOTAL, "subject" => "failed_keys")
                    .increment(1);
                Err(ApiError::rate_limited(wait))
            }
            Verdict::Busy => {
                metrics::counter!(m::API_OVERLOADED_TOTAL).increment(1);
                Err(ApiError::overloaded())
            }
        }
    }

    fn limit(&self, subject: Subject) -> Result<(), ApiError> {
        self.limits.check(subject).map_err(|wait| {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            let kind = match subject {
                Subject::Key(_) => "key",
                Subject::Ip(_) => "ip",
            };
            metrics::counter!(m::API_RATE_LIMITED_TOTAL, "subject" => kind).increment(1);
            ApiError::rate_limited(wait)
        })
    }

    async fn route(&self, route: Route<'_>, query: Option<&str>) -> Result<Response, ApiError> {
        match route {
            Route::Health => self.health(Params::parse(query, &[])?),
            Route::Metrics => {
                Params::parse(query, &[])?;
                Ok(super::reply::bytes_response(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    (self.sources.metrics)().into_bytes(),
                ))
            }
            Route::OpenApi => {
                Params::parse(query, &[])?;
                Ok(super::reply::bytes_response(
                    StatusCode::OK,
                    "application/json",
                    super::OPENAPI_JSON.as_bytes().to_vec(),
                ))
            }
            Route::Status => self.status(Params::parse(query, &[])?),
            Route::Symbols => self.symbols(Params::parse(query, &[])?),
            Route::Profile(s) => self.volume_profile(s, query).await,
            Route::ProfileHistory(s) => self.profile_history(s, query).await,
            Route::FlowCurrent(s) => self.order_flow(s, query),
            Route::FlowHistory(s) => self.order_flow_history(s, query).await,
            Route::FlowRange(s) => {
                let params = Params::parse(query, &["venue", "from", "to", "row_size"])?;
                self.range_answer(s, &params, true).await
            }
            Route::Trades(s) => self.trades(s, query).await,
            Route::Orderbook(s) => self.orderbook(s, query),
            Route::Klines(s) => self.klines(s, query).await,
            Route::Gaps => self.gaps(query).await,
            Route::Sessions(s) => self.sessions(s, query).await,
            Route::NakedPocs(s) => self.naked_pocs(s, query).await,
            Route::Vwap(s) => self.anchored_vwap(s, query).await,
            Route::Context(s) => self.context(s, query).await,
            Route::Liquidations(s) => self.liquidations(s, query).await,
            Route::Derivatives(s) => self.derivatives(s, query).await,
            Route::Alerts => self.alerts(query).await,
            Route::PageBundle(s) => self.page_bundle(s, query),
            Route::Page(asset) => {
                Params::parse(query, &[])?;
                let mut response = super::reply::bytes_response(
                    StatusCode::OK,
                    asset.content_type,
                    asset.body.to_vec(),
                );
                let headers = response.headers_mut();
                headers.insert(
                    "content-security-policy",
                    warp::http::HeaderValue::from_static(super::ui::CONTENT_SECURITY_POLICY),
                );
                headers.insert(
                    "cache-control",
                    warp::http::HeaderValue::from_static("no-cache"),
                );
                Ok(response)
            }
        }
    }

    fn log_error(&self, route: &str, request: &Request, client: IpAddr, err: &ApiError) {
        // The path and the error are logged; headers (keys) and the query are not.
        if err.status.is_server_error() {
            tracing::warn!(route, path = %super::params::printable(&request.path), client = %client,
                status = err.status.as_u16(), code = err.code, message = %err.message, "API request failed");
        } else {
            tracing::debug!(route, client = %client, status = err.status.as_u16(),
                code = err.code, message = %err.message, "API request refused");
        }
    }
}

fn preflight() -> Response {
    let mut response = Response::new(Vec::new().into());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, x-api-key"),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// The status code as a label (a bounded set: the codes this API answers with).
fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        429 => "429",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// Returns true when a reverse proxy forwarded the request (it names the client it forwards
/// for, or itself).
fn forwarded(headers: &HeaderMap) -> bool {
    [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
        "via",
    ]
    .iter()
    .any(|name| headers.contains_key(*name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes_and_templates() {
        assert_eq!(Route::parse("/health"), Some(Route::Health));
        assert_eq!(
            Route::parse("/api/v1/order-flow/current/BTCUSDT"),
            Some(Route::FlowCurrent("BTCUSDT"))
        );
        assert_eq!(
            Route::parse("/api/v1/order-flow/BTCUSDT/history"),
            Some(Route::FlowHistory("BTCUSDT"))
        );
        assert_eq!(Route::parse("/api/v1/trades/"), None);
        assert_eq!(Route::parse("/api/v1/symbols/"), None);
        assert_eq!(Route::parse("/api/v2/symbols"), None);
        assert_eq!(Route::parse("health"), None);
        for template in ROUTES {
            let path = template
                .replace("{symbol}", "BTCUSDT")
                .replace("{asset}", "app.js");
            let route = Route::parse(&path);
            assert_eq!(route.map(|r| r.template()), Some(template), "{path}");
        }
    }

    #[test]
    fn keys_come_from_either_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_key(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_key(&headers), None);
        headers.insert("x-api-key", HeaderValue::from_static("xyz"));
        assert_eq!(presented_key(&headers), Some("xyz"));
    }
}
