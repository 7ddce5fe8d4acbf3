//! The REST side of `wadm mcp`: one GET of the daemon's API per request, with a deadline and
//! a bounded body. Every way a request can fail is an [`ApiError`] with a stable code, which
//! the MCP server hands to the model as a tool error.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use url::Url;
use wadm_actors::util::{error_chain, install_crypto_provider};

/// The largest API answer read (a 1,000-bar history with footprints is a few MiB).
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// The header that carries the API key.
pub const KEY_HEADER: &str = "x-api-key";

/// Why the client cannot be built: the operator's `--api-url` or `--api-key` is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL does not parse.
    #[error("--api-url {url:?} is not a URL: {source}")]
    Url {
        /// The URL given.
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// The URL parses but cannot be the base of the API.
    #[error("--api-url {url:?} {reason}")]
    Base {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key holds characters an HTTP header cannot carry.
    #[error("the API key holds characters an HTTP header cannot carry")]
    Key,
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A failed API request, as the model is told about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The API refused the request; `code` and `message` are the API's own.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error code (`unknown_symbol`, `bad_parameter`, `no_data`, ...).
        code: String,
        /// The API's message.
        message: String,
        /// Seconds to wait before asking again (`rate_limited`).
        retry_after: Option<u64>,
    },
    /// No connection to the API (refused, reset, DNS, TLS).
    #[error(
        "the WADM API at {url} cannot be reached ({reason}); is the daemon running, and is --api-url right?"
    )]
    Unreachable {
        /// The URL asked.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The API did not answer within the deadline.
    #[error("the WADM API at {url} did not answer within {} s", timeout.as_secs_f64())]
    Timeout {
        /// The URL asked.
        url: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The answer is not what the API sends (a proxy's page, a truncated body, ...).
    #[error("the answer from {url} (HTTP {status}) is not the WADM API's JSON: {reason}")]
    BadResponse {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// What is wrong with it.
        reason: String,
    },
    /// The answer is larger than the client reads ([`MAX_BODY_BYTES`] by default).
    #[error(
        "the answer from {url} is over {limit} bytes; ask for less (a smaller limit, depth or window, or a larger row_size)"
    )]
    TooLarge {
        /// The URL asked.
        url: String,
        limit: usize,
    },
}

impl ApiError {
    /// The error code: the API's own, or one naming the transport failure.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Api { code, .. } => code,
            ApiError::Unreachable { .. } => "api_unreachable",
            ApiError::Timeout { .. } => "api_timeout",
            ApiError::BadResponse { .. } => "bad_api_response",
            ApiError::TooLarge { .. } => "response_too_large",
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Api { status, .. } | ApiError::BadResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Seconds to wait before retrying, when the API said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One GET of the API: path segments under the base URL, and query parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
}

impl ApiRequest {
    /// A request of the path made of `segments` (each is percent-encoded as one segment).
    pub fn new(segments: &[&str]) -> Self {
        Self {
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
        }
    }

    /// Appends one path segment.
    pub fn segment(mut self, segment: &str) -> Self {
        self.segments.push(segment.to_owned());
        self
    }

    /// Adds the query parameter `name` when `value` is given.
    pub fn param(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }

    /// The URL of this request under `base`.
    fn url(&self, base: &Url) -> Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // A base is checked to have a path (`ApiClient::new`), so this always runs.
            path.pop_if_empty().extend(&self.segments);
        }
        if !self.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(self.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// `GET /path?query`, as sent (relative to the base URL): what a tool result names.
    pub fn describe(&self) -> String {
        let base = Url::parse("http://api/").expect("a literal URL");
        let url = self.url(&base);
        match url.query() {
            Some(query) => format!("GET {}?{query}", url.path()),
            None => format!("GET {}", url.path()),
        }
    }
}

/// A client of one daemon's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
    keyed: bool,
    max_body: usize,
}

impl ApiClient {
    /// A client of the API at `api_url` (`http` or `https`, optionally under a path prefix),
    /// sending `key` with every request, each within `timeout`.
    pub fn new(api_url: &str, key: Option<&str>, timeout: Duration) -> Result<Self, ClientError> {
        let base = Url::parse(api_url).map_err(|source| ClientError::Url {
            url: api_url.to_owned(),
            source,
        })?;
        let problem = if !matches!(base.scheme(), "http" | "https") {
            Some("must be an http:// or https:// URL")
        } else if base.host().is_none() || base.cannot_be_a_base() {
            Some("has no host")
        } else if base.query().is_some() || base.fragment().is_some() {
            Some("must not have a query or fragment")
        } else if !base.username().is_empty() || base.password().is_some() {
            Some("must not carry credentials; pass the key with --api-key or WADM_API_KEY")
        } else {
            None
        };
        if let Some(reason) = problem {
            return Err(ClientError::Base {
                url: api_url.to_owned(),
                reason,
            });
        }
        let mut headers = HeaderMap::new();
        let keyed = key.is_some_and(|k| !k.is_empty());
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            let mut value = HeaderValue::from_str(key).map_err(|_| ClientError::Key)?;
            value.set_sensitive(true);
            headers.insert(KEY_HEADER, value);
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("wadm-mcp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base,
            http,
            timeout,
            keyed,
            max_body: MAX_BODY_BYTES,
        })
    }

    /// The same client reading at most `max_body` bytes of an answer.
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self
    }

    /// The base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Whether requests carry a key.
    pub fn keyed(&self) -> bool {
        self.keyed
    }

    /// GETs `request` and returns the JSON answer of a 2xx status; any other answer is the
    /// API's error.
    pub async fn get(&self, request: &ApiRequest) -> Result<Value, ApiError> {
        let (url, status, retry_after, body) = self.fetch(request).await?;
        let parsed = serde_json::from_slice::<Value>(&body);
        if (200..300).contains(&status) {
            return parsed.map_err(|err| ApiError::BadResponse {
                url,
                status,
                reason: err.to_string(),
            });
        }
        let error = parsed.ok().and_then(|value| {
            let error = value.get("error")?;
            Some((
                error.get("code")?.as_str()?.to_owned(),
                error.get("message")?.as_str()?.to_owned(),
            ))
        });
        match error {
            Some((code, message)) => Err(ApiError::Api {
                status,
                code,
                message,
                retry_after,
            }),
            None => Err(ApiError::BadResponse {
                url,
                status,
                reason: format!(
                    "no {{\"error\": {{\"code\", \"message\"}}}} in {}",
                    excerpt(&body)
                ),
            }),
        }
    }

    /// GETs `/health`, whose 503 answer (every feed down) is an answer, not an error.
    pub async fn health(&self) -> Result<Value, ApiError> {
        let request = ApiRequest::new(&["health"]);
        let (url, status, _, body) = self.fetch(&request).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) if status == 200 || (status == 503 && value.get("status").is_some()) => {
                Ok(value)
            }
            Ok(_) => Err(ApiError::BadResponse {
                url,
                status,
                reason: format!("not a health answer: {}", excerpt(&body)),
            }),
            Err(err) => Err(ApiError::BadResponse {
                url,
                status,
                reason: err.to_string(),
            }),
        }
    }

    /// Sends the request and reads at most `max_body` bytes: (url, status, Retry-After, body).
    async fn fetch(
        &self,
        request: &ApiRequest,
    ) -> Result<(String, u16, Option<u64>, Vec<u8>), ApiError> {
        let url = request.url(&self.base);
        let shown = url.to_string();
        let failed = |err: reqwest::Error| {
            if err.is_timeout() {
                ApiError::Timeout {
                    url: shown.clone(),
                    timeout: self.timeout,
                }
            } else {
                ApiError::Unreachable {
                    url: shown.clone(),
                    reason: error_chain(&err),
                }
            }
        };
        let mut response = self.http.get(url).send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(ApiError::TooLarge {
                    url: shown,
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((shown, status, retry_after, body))
    }
}

/// The start of a body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if body.len() > 200 {
        format!("{text}...")
    } else {
        text
    }
}

/// Shared client handle.
pub type SharedClient = Arc<ApiClient>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_each_segment_and_keep_the_query_order() {
        let request = ApiRequest::new(&["api", "v1", "trades"])
            .segment("BTC/USDT ?")
            .param("venue", Some("bybit-spot"))
            .param("limit", Some(5))
            .param("from", None::<i64>);
        assert_eq!(
            request.describe(),
            "GET /api/v1/trades/BTC%2FUSDT%20%3F?venue=bybit-spot&limit=5"
        );
        let base = Url::parse("https://host.example/wadm/").unwrap();
        assert_eq!(
            request.url(&base).as_str(),
            "https://host.example/wadm/api/v1/trades/BTC%2FUSDT%20%3F?venue=bybit-spot&limit=5"
        );
        let base = Url::parse("http://127.0.0.1:8920").unwrap();
        assert_eq!(
            ApiRequest::new(&["health"]).url(&base).as_str(),
            "http://127.0.0.1:8920/health"
        );
    }

    #[test]
    fn unusable_urls_and_keys_are_refused_with_the_reason() {
        let second = Duration::from_secs(1);
        for (url, reason) in [
            ("127.0.0.1:8920", "URL"),
            ("ftp://host/", "http:// or https://"),
            ("http://host/?a=1", "query"),
            ("http://user:pw@host/", "credentials"),
            ("not a url", "not a URL"),
        ] {
            let err = ApiClient::new(url, None, second).unwrap_err().to_string();
            assert!(err.contains(reason), "{url}: {err}");
        }
        let err = ApiClient::new("http://127.0.0.1:1", Some("bad\nkey"), second).unwrap_err();
        assert!(matches!(err, ClientError::Key), "{err}");
        let client = ApiClient::new("http://127.0.0.1:1", Some(""), second).unwrap();
        assert!(!client.keyed());
    }

    #[test]
    fn error_codes_name_the_failure() {
        let api = ApiError::Api {
            status: 429,
            code: "rate_limited".into(),
            message: "slow down".into(),
            retry_after: Some(3),
        };
        assert_eq!(
            (api.code(), api.status(), api.retry_after()),
            ("rate_limited", Some(429), Some(3))
        );
        let down = ApiError::Unreachable {
            url: "http://127.0.0.1:1/health".into(),
            reason: "connection refused".into(),
        };
        assert_eq!((down.code(), down.status()), ("api_unreachable", None));
        assert!(down.to_string().contains("is the daemon running"));
    }
}
