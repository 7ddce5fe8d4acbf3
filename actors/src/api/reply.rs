//! JSON and text responses.

use serde::Serialize;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

/// A JSON response with `status`. Every answer is computed per request, so none is cached.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => bytes_response(status, "application/json", bytes),
        Err(err) => {
            tracing::error!(error = %err, "an API reply could not be encoded");
            bytes_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                br#"{"error":{"code":"internal","message":"the reply could not be encoded"}}"#
                    .to_vec(),
            )
        }
    }
}

/// A response of raw bytes.
pub fn bytes_response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
