//! The read-only REST API (DESIGN.md section 7): the [`ApiActor`] owns the HTTP server
//! ([`server`]: bounded connections, timeouts, concurrency);
//! [`Api`] answers requests from what the other actors publish (snapshots, books, the status
//! registry, the data-quality log) and from the store.
//!
//! ```text
//! request ─ route? ─ method? ─ CORS ─ key (argon2, memoised) ─ rate limit ─ parameters ─ handler
//!             404      405      403         401                   429           400      200/503
//! ```
//!
//! Every answer is JSON (except `/metrics`); every error is
//! `{"error":{"code":"...","message":"..."}}`. The routes, parameters and shapes are described
//! by the OpenAPI document served at `/api/v1/openapi.json` (`openapi.json` next to this file).

mod actor;
mod alert_facts;
mod auth;
pub mod calendar;
mod derivatives;
mod error;
mod history;
mod http;
mod limit;
mod params;
pub mod range;
mod ranged;
mod reply;
pub mod server;
mod sessions;
pub mod ui;
mod views;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use wadm_supervision::StatusRegistry;

pub use actor::{ApiActor, ApiArgs, ApiMsg};
pub use auth::{
    ApiKey, KEY_PREFIX, KeyVerifier, MAX_FAILURES_PER_MINUTE, MAX_KEY_BYTES, MAX_MEMORY_KIB,
    PREFIX_LEN, Verdict, check_hash, generate_key, hash_key,
};
pub use error::{ApiError, retry_after_seconds};
pub use http::{ROUTES, Request, filter};
pub use limit::{RateLimit, RateLimits, Subject};
pub use params::{MAX_QUERY_BYTES, Params};

use crate::boards::{BookBoard, SnapshotBoard};
use crate::model::{Symbol, Venue};
use crate::persistence::PersistenceInputs;
use crate::quality::QualitySink;
use crate::storage::{Retention, SharedStore};

/// The OpenAPI 3 document of the API.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// How the API authenticates, limits and times out requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// Keys (argon2 hashes); empty: no key needed, and only a loopback bind is allowed
    /// unless `allow_unauthenticated`.
    pub keys: Vec<ApiKey>,
    /// Serve a non-loopback bind address without keys (never a published one).
    pub allow_unauthenticated: bool,
    /// Where clients reach the API when that is not the bind address (the host address a
    /// container's port is published on); `None`: the bind address.
    pub published_host: Option<String>,
    /// Per key (per IP without keys).
    pub rate_limit: RateLimit,
    /// Origins allowed to call from a browser (`scheme://host[:port]`, lower case).
    pub cors_origins: Vec<String>,
    /// Longest time one request may take.
    pub request_timeout: Duration,
    /// Connection, time and concurrency bounds of the HTTP server.
    pub server: server::ServerLimits,
    /// Named UTC sessions (the daily one comes from each symbol's session anchor).
    pub sessions: Vec<calendar::SessionSpec>,
    /// Days back in which naked POCs are looked for.
    pub naked_poc_days: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            allow_unauthenticated: false,
            published_host: None,
            rate_limit: RateLimit::default(),
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(10),
            server: server::ServerLimits::default(),
            sessions: calendar::default_sessions(),
            naked_poc_days: 20,
        }
    }
}

/// Checks a CORS origin (`scheme://host[:port]`, no path) and returns it in the form browsers
/// send (lower case, no trailing slash).
pub fn parse_origin(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{text:?} is not an http(s) origin"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?} is not an origin: write scheme://host[:port] with no path"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// Returns true for a host that is this machine's loopback: `localhost` or a loopback IP
/// (with or without brackets). Any other name or address is reachable from elsewhere.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks that an API without keys is reachable from this machine only: a published host
/// beyond loopback always needs keys; a bind address beyond loopback needs keys unless
/// `allow_unauthenticated` (then the caller warns). Returns the refusal.
pub fn check_exposure(settings: &ApiSettings, bind: SocketAddr) -> Result<(), String> {
    if !settings.keys.is_empty() {
        return Ok(());
    }
    match &settings.published_host {
        Some(host) if !is_loopback_host(host) => Err(format!(
            "the API is published on {host} (beyond loopback) and no api.keys are configured:              add keys (`wadm hash-key`) or publish it on 127.0.0.1              (api.allow_unauthenticated does not cover a published API)"
        )),
        Some(_) => Ok(()),
        None if !bind.ip().is_loopback() && !settings.allow_unauthenticated => Err(format!(
            "{bind} is not a loopback address and no api.keys are configured: add keys              (`wadm hash-key`), bind to 127.0.0.1, or set api.allow_unauthenticated = true"
        )),
        None => Ok(()),
    }
}

/// Renders the Prometheus text exposition.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// What the API reads from.
#[derive(Clone)]
pub struct ApiSources {
    /// Every actor's status.
    pub registry: Arc<StatusRegistry>,
    /// Aggregator snapshots.
    pub snapshots: Arc<SnapshotBoard>,
    /// Live books.
    pub books: Arc<BookBoard>,
    /// The data-quality log.
    pub quality: QualitySink,
    pub store: SharedStore,
    /// How long the store keeps each kind (where range answers read minutes, hours, days).
    pub retention: Retention,
    /// Persistence's state (store availability, buffer).
    pub persistence: Arc<PersistenceInputs>,
    /// Every collected (venue, symbol), in configuration order: the first venue carrying a
    /// symbol is its default.
    pub pairs: Vec<(Venue, Symbol)>,
    /// `/metrics`.
    pub metrics: MetricsRenderer,
    /// The daemon's version, for `/health`.
    pub version: &'static str,
}

impl fmt::Debug for ApiSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSources")
            .field("pairs", &self.pairs)
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

/// Counters of the API, for its status entry.
#[derive(Debug, Default)]
pub struct ApiCounters {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests refused for want of a good key.
    pub unauthorized: AtomicU64,
    /// Requests refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// Requests answered with a 5xx.
    pub server_errors: AtomicU64,
}

/// The API: sources, settings, key verifier and rate limits. Built once and shared by every
/// incarnation of the actor, so a restart neither forgets verified keys nor refills buckets.
#[derive(Debug)]
pub struct Api {
    sources: ApiSources,
    settings: ApiSettings,
    verifier: KeyVerifier,
    limits: RateLimits,
    counters: ApiCounters,
    started_at_ms: i64,
}

impl Api {
    /// Creates the API for a listener on `bind`. Refuses a non-loopback address without keys
    /// unless unauthenticated access is allowed explicitly (then it warns).
    pub fn new(
        sources: ApiSources,
        settings: ApiSettings,
        bind: SocketAddr,
    ) -> Result<Arc<Self>, String> {
        check_exposure(&settings, bind)?;
        if settings.keys.is_empty() && settings.published_host.is_none() && !bind.ip().is_loopback()
        {
            tracing::warn!(
                bind = %bind,
                "the API serves a non-loopback address WITHOUT authentication \
                 (api.allow_unauthenticated = true)"
            );
        }
        let verifier = KeyVerifier::new(settings.keys.clone())?;
        Ok(Arc::new(Self {
            limits: RateLimits::new(settings.rate_limit),
            sources,
            settings,
            verifier,
            counters: ApiCounters::default(),
            started_at_ms: wadm_supervision::status::unix_millis(),
        }))
    }

    /// The settings.
    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }

    /// The counters.
    pub fn counters(&self) -> &ApiCounters {
        &self.counters
    }

    /// The key verifier.
    pub fn verifier(&self) -> &KeyVerifier {
        &self.verifier
    }

    /// The rate limits.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_paths_refused() {
        assert_eq!(
            parse_origin("HTTP://LocalHost:3000").as_deref(),
            Ok("http://localhost:3000")
        );
        assert_eq!(
            parse_origin("https://grafana.example.com/").as_deref(),
            Ok("https://grafana.example.com")
        );
        assert!(parse_origin("https://example.com/app").is_err());
        assert!(parse_origin("ftp://example.com").is_err());
        assert!(parse_origin("*").is_err());
    }
}
