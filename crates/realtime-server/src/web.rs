//! HTTP building blocks shared by the routes and the WebSocket upgrade: JSON error responses
//! (`{"error": {"code": "...", "message": "..."}}` with the HTTP status the code maps to, the
//! same codes as the WebSocket protocol), request deadlines, and the bearer token.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use realtime_core::ErrorCode;
use realtime_protocol::ErrorBody;
use serde::Serialize;

/// An error answered over HTTP.
#[derive(Debug, Clone)]
pub struct ApiError(pub ErrorBody);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody::new(code, message))
    }
}

impl From<ErrorBody> for ApiError {
    fn from(e: ErrorBody) -> Self {
        Self(e)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a ErrorBody,
}

/// Marks a response as a refusal, for the request's log line and `realtime_refusals_total`.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: ErrorCode,
    /// What [`log_reason`] gives for the error.
    pub reason: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(Body { error: &self.0 })).into_response();
        response.extensions_mut().insert(Refusal {
            code: self.0.code,
            reason: log_reason(&self.0).to_owned(),
        });
        if let Some(ms) = self.0.retry_after_ms {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The reason to log for a refusal. A request that could not be decoded gets a generic one:
/// a decoder's message may quote the request, and so a message body.
pub fn log_reason(error: &ErrorBody) -> &str {
    match error.code {
        ErrorCode::BadRequest | ErrorCode::UnknownOp | ErrorCode::TooLarge => {
            "the request was malformed"
        }
        _ => &error.message,
    }
}

/// Fallback for a known path with another method.
pub async fn method_not_allowed() -> Response {
    let mut response =
        ApiError::new(ErrorCode::BadRequest, "method not allowed on this route").into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// The message of the fallback for unknown paths, which tells it from a route's own
/// `not_found` (a note that does not exist, a feature turned off).
pub const NO_ROUTE: &str = "no such route";

/// Fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, NO_ROUTE)
}

/// Runs a request within `limit`, body reading included: a client that trickles its body
/// gets a 408 (`bad_request`) instead of holding its connection.
pub async fn with_deadline(
    limit: std::time::Duration,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = ApiError::new(
                ErrorCode::BadRequest,
                "the request took longer than server.request_timeout",
            )
            .into_response();
            *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
            response
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}
