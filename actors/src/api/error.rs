//! The one error shape of the API: `{"error":{"code":"...","message":"..."}}` with the status
//! that says who has to act (400 the caller's input, 401 the key, 404 the name, 429 the pace,
//! 503 the daemon's data).

use std::time::Duration;

use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

/// An API error: a status, a stable machine code and a message for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (`bad_parameter`, `unknown_symbol`...).
    pub code: &'static str,
    /// What went wrong, naming the parameter or value (never a secret).
    pub message: String,
    /// For 429: when to try again.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: a query parameter is missing, unknown, repeated or out of bounds.
    pub fn bad_parameter(name: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("parameter `{name}`: {problem}"),
        )
    }

    /// 400: the request itself is malformed (a body on a GET, an overlong query).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400: a request target that is not a path (`CONNECT host:port`, `OPTIONS *`).
    pub fn bad_request_target() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request target must be a path (/...); CONNECT and absolute targets are not served",
        )
    }

    /// 401: no key, or a key that matches none configured.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: a cross-origin request from an origin not on the allow-list.
    pub fn origin_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin is not on the CORS allow-list",
        )
    }

    /// 404: a route that does not exist.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {path}; see /api/v1/openapi.json"),
        )
    }

    /// 404: a symbol (or venue and symbol) that is not collected.
    pub fn unknown_symbol(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "unknown_symbol", message)
    }

    /// 405: a method other than GET (or OPTIONS for CORS preflight).
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("method {method} is not allowed: the API is read-only (GET)"),
        )
    }

    /// 429: the caller's rate limit is spent.
    pub fn rate_limited(retry_after: Duration) -> Self {
        let seconds = retry_after_seconds(retry_after);
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("rate limit exceeded; retry in {seconds} s"),
            )
        }
    }

    /// 503: the data asked for does not exist yet (nothing received, book not synced).
    pub fn no_data(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "no_data", message)
    }

    /// 503: too many requests are being answered at once (`api.max_concurrent_requests`).
    pub fn overloaded() -> Self {
        Self {
            retry_after: Some(Duration::from_secs(1)),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many requests are being answered at once; retry in 1 s",
            )
        }
    }

    /// 503: the store did not answer.
    pub fn store_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        )
    }

    /// 500: a bug (a stored document that does not decode, a reply that does not encode).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Renders the JSON response.
    pub fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        let mut response = super::reply::json_response(self.status, &body);
        let headers = response.headers_mut();
        if let Some(wait) = self.retry_after {
            headers.insert(
                warp::http::header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(wait)),
            );
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(warp::http::header::ALLOW, HeaderValue::from_static("GET"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                warp::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"wadm\""),
            );
        }
        response
    }
}

/// Whole seconds to wait, rounded up and at least 1 (`Retry-After` has no fractions).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
    }
}
