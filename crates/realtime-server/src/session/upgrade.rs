//! `GET /v1/ws`: the checks an upgrade passes, then the WebSocket handshake (RFC 6455).
//!
//! Checks, cheapest first: a well-formed upgrade request, not shutting down, the client IP's
//! upgrade rate, the origin, the client IP's count of sockets not signed in yet, and a
//! connection slot (the one the HTTP connection was accepted with). The handshake is done
//! here on hyper's upgraded stream rather than by a framework extractor, so the session owns
//! the raw stream: after a protocol violation it must finish the close itself.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use realtime_core::ErrorCode;
use realtime_protocol::{BEARER_SUBPROTOCOL_PREFIX, ErrorBody, SUBPROTOCOL};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// What a connection reads from its socket at a time. Chat requests are a few hundred bytes;
/// the library's default (128 KiB, allocated for every connection up front) would cost more
/// memory per idle connection than everything else together. A larger frame still fits: the
/// buffer grows to the frame.
const READ_BUFFER_BYTES: usize = 1024;
/// Frames queued for one write are gathered up to this size, then written together.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;
use tracing::Instrument;

use super::{Admission, Features, run};
use crate::client_ip::ClientIp;
use crate::listener::SlotCell;
use crate::state::App;
use crate::web::ApiError;

/// The query of `GET /v1/ws`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WsQuery {
    /// A session token, for clients that can send neither an `Authorization` header nor a
    /// `bearer.` subprotocol (it may end up in proxy logs).
    token: Option<String>,
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

/// The `Sec-WebSocket-Key` of a valid upgrade request, or why it is not one.
fn handshake_key(headers: &HeaderMap) -> Result<&HeaderValue, &'static str> {
    if !header_has(headers, header::CONNECTION, "upgrade")
        || !header_has(headers, header::UPGRADE, "websocket")
    {
        return Err("send an HTTP/1.1 upgrade request (Connection: upgrade, Upgrade: websocket)");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v != "13")
    {
        return Err("Sec-WebSocket-Version must be 13");
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("Sec-WebSocket-Key is missing")
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Response {
    ApiError::new(code, message).into_response()
}

/// `GET /v1/ws`.
pub async fn upgrade(
    State(app): State<App>,
    axum::Extension(features): axum::Extension<Arc<Features>>,
    query: Result<Query<WsQuery>, QueryRejection>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let key = match handshake_key(headers) {
        Ok(key) => key.clone(),
        Err(why) => {
            return refused(
                ErrorCode::BadRequest,
                format!("this endpoint speaks WebSocket: {why}"),
            );
        }
    };
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return refused(ErrorCode::BadRequest, e.body_text()),
    };
    if app.shutdown.is_cancelled() {
        return refused(ErrorCode::Unavailable, "the server is shutting down");
    }
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0)
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if let Err(wait) = app.conns.upgrade_limiter.check(ip) {
        tracing::info!(%ip, "websocket upgrade refused: per-IP rate");
        return ApiError(
            ErrorBody::new(
                ErrorCode::RateLimited,
                "too many WebSocket connections from this address; slow down",
            )
            .retry_after(wait),
        )
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let server = &app.config.server;
        if !server.any_origin() && !server.cors_origins.iter().any(|o| o == origin) {
            return refused(
                ErrorCode::Forbidden,
                format!("origin {origin} is not allowed"),
            );
        }
    }
    let Some(pending) = app.conns.unauthenticated.take(ip) else {
        tracing::info!(%ip, "websocket upgrade refused: too many sockets not signed in");
        return refused(
            ErrorCode::TooManyConnections,
            format!(
                "this address already has {} connections that have not signed in",
                app.config.limits.max_unauthenticated_per_ip
            ),
        );
    };
    let slot = request
        .extensions()
        .get::<SlotCell>()
        .and_then(SlotCell::take)
        .or_else(|| app.conns.connections.open());
    let Some(slot) = slot else {
        return refused(
            ErrorCode::TooManyConnections,
            "this server holds its maximum number of connections",
        );
    };
    let Some(on_upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return refused(
            ErrorCode::BadRequest,
            "this connection cannot be upgraded (HTTP/1.1 is required)",
        );
    };
    let headers = request.headers();
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|p| p.to_str().ok())
        .flat_map(|p| p.split(',').map(|s| s.trim().to_owned()))
        .collect();
    let unsupported = offered.iter().any(|p| p.starts_with("realtime."))
        && !offered.iter().any(|p| p == SUBPROTOCOL);
    // Complete the handshake even with a version this server does not speak (naming it), so
    // the client, a browser too, receives the 4426 close and its reason instead of a failed
    // handshake.
    let selected = if unsupported {
        offered.iter().find(|p| p.starts_with("realtime."))
    } else {
        offered.iter().find(|p| *p == SUBPROTOCOL)
    }
    .and_then(|p| HeaderValue::from_str(p).ok());
    let token = crate::web::bearer_token(headers)
        .or_else(|| {
            offered
                .iter()
                .find_map(|p| p.strip_prefix(BEARER_SUBPROTOCOL_PREFIX).map(str::to_owned))
        })
        .or(query.token);

    let max = app.config.limits.transport_max_bytes();
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES);
    let admission = Admission {
        token,
        unsupported,
        slot,
        pending,
        ip,
    };
    let sessions = app.conns.sessions.clone();
    let id = app.conns.next_conn_id();
    let span = tracing::info_span!("conn", id, address = tracing::field::Empty);
    sessions.spawn(
        async move {
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    return;
                }
            };
            let socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            run(app, features, socket, id, admission).await;
        }
        .instrument(span),
    );

    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let out = response.headers_mut();
    out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        out.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(p) = selected {
        out.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    response
}
