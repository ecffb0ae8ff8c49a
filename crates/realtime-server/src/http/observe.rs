//! What every HTTP request leaves behind: a request id (the client's `x-request-id` when it
//! is a sane token, else a new one), echoed in the response and carried by every log line
//! of the request; one `refused` line for a refusal; and `realtime_http_requests_total`.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::{self, Transport};
use crate::web::Refusal;

pub const REQUEST_ID: &str = "x-request-id";

/// Longest request id taken from a client.
const MAX_ID: usize = 64;

pub async fn observe(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(new_id, str::to_owned);
    // The route's template, not the path: a path may hold an address or a note id.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", |p| p.as_str())
        .to_owned();
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    metrics::get().http_response(status);
    if let Some(refusal) = response.extensions().get::<Refusal>() {
        metrics::get().refused(refusal.code, Transport::Http);
        span.in_scope(|| {
            tracing::info!(status, code = %refusal.code, reason = %refusal.reason, "refused");
        });
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// A client's id is kept when it is short and made of token characters, so it cannot forge
/// log fields or grow lines.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
#[test]
fn only_short_token_ids_are_taken_from_clients() {
    assert!(acceptable("3f2a-9c_1.b:7"));
    assert!(!acceptable(""));
    assert!(!acceptable("a b"));
    assert!(!acceptable("x\"}, \"level\": \"ERROR"));
    assert!(!acceptable(&"a".repeat(65)));
    assert_eq!(new_id().len(), 16);
}
