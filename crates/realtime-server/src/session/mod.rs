//! WebSocket sessions at `/v1/ws`.
//!
//! - this module: the upgrade (origin check, connection slot, token from header, subprotocol
//!   or query) and the reader loop of one connection;
//! - [`queue`]: the byte-bounded outbound queue;
//! - `writer`: the task that drains the queue, pings, and closes;
//! - `ops`: what each request does.
//!
//! A connection is two tasks: this reader, which handles one request at a time so replies
//! keep request order, and the writer. They share the queue; whichever learns first that the
//! connection is over tells the other through it.

mod activity;
mod ops;
pub mod queue;
mod writer;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use realtime_core::{ChannelName, ErrorCode, TokenBucket};
use realtime_protocol::{BEARER_SUBPROTOCOL_PREFIX, CloseCode, ErrorBody, SUBPROTOCOL};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::connections::{AddressSlot, ConnectionSlot};
use crate::http::error::ApiError;
use crate::hub::ConnId;
use crate::registry::{COMMAND_QUEUE, SessionCommand};
use crate::state::App;
use crate::token::Identity;
use activity::Activity;
use queue::SendQueue;

/// How long a closing connection may take to flush its close frame.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// `GET /v1/ws`.
pub async fn upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::new(
                ErrorCode::BadRequest,
                format!("this endpoint speaks WebSocket: {}", e.body_text()),
            )
            .into_response();
        }
    };
    if app.shutdown.is_cancelled() {
        return ApiError::new(ErrorCode::Unavailable, "the server is shutting down")
            .into_response();
    }
    if let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) {
        let server = &app.config.server;
        if !server.any_origin() && !server.cors_origins.iter().any(|o| o == origin) {
            return ApiError::new(
                ErrorCode::Forbidden,
                format!("origin {origin} is not allowed"),
            )
            .into_response();
        }
    }
    let Some(slot) = app.connections.open() else {
        return ApiError::new(
            ErrorCode::TooManyConnections,
            "this server holds its maximum number of connections",
        )
        .into_response();
    };
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|p| p.to_str().ok())
        .flat_map(|p| p.split(',').map(|s| s.trim().to_owned()))
        .collect();
    let unsupported = offered.iter().any(|p| p.starts_with("realtime."))
        && !offered.iter().any(|p| p == SUBPROTOCOL);
    let token = bearer_header(&headers)
        .or_else(|| {
            offered
                .iter()
                .find_map(|p| p.strip_prefix(BEARER_SUBPROTOCOL_PREFIX).map(str::to_owned))
        })
        .or(query.token);
    let max = app.config.limits.transport_max_bytes();
    let sessions = app.sessions.clone();
    let mut ws = ws.protocols([SUBPROTOCOL]);
    if unsupported {
        // Complete the handshake with the version asked for, so the client (a browser too)
        // receives the 4426 close and its reason instead of a failed handshake.
        let asked = offered.iter().find(|p| p.starts_with("realtime."));
        if let Some(v) = asked.and_then(|p| axum::http::HeaderValue::from_str(p).ok()) {
            ws.set_selected_protocol(v);
        }
    }
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            let id = app.next_conn_id();
            let span = tracing::info_span!("conn", id, address = tracing::field::Empty);
            sessions.track_future(run(app, socket, id, token, unsupported, slot).instrument(span))
        })
}

fn bearer_header(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// One connection's state, owned by its reader task.
pub(crate) struct Session {
    app: App,
    id: ConnId,
    queue: SendQueue,
    identity: Option<Identity>,
    _address_slot: Option<AddressSlot>,
    subscriptions: HashSet<ChannelName>,
    bucket: TokenBucket,
    /// Commands from other tasks (permission rechecks); the sender is registered on sign-in.
    commands: mpsc::Receiver<SessionCommand>,
    command_tx: mpsc::Sender<SessionCommand>,
}

async fn run(
    app: App,
    socket: WebSocket,
    id: ConnId,
    token: Option<String>,
    unsupported: bool,
    _slot: ConnectionSlot,
) {
    let (sink, stream) = socket.split();
    let queue = SendQueue::new(app.config.limits.send_queue_bytes);
    let activity = Arc::new(Activity::new());
    let heartbeat = writer::Heartbeat {
        ping_interval: app.config.server.ping_interval,
        pong_timeout: app.config.server.pong_timeout,
    };
    let mut writer = tokio::spawn(
        writer::run(sink, queue.clone(), heartbeat, activity.clone()).in_current_span(),
    );
    tracing::debug!("connected");
    let limits = &app.config.limits;
    let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let mut session = Session {
        id,
        queue: queue.clone(),
        identity: None,
        _address_slot: None,
        subscriptions: HashSet::new(),
        commands,
        command_tx,
        bucket: TokenBucket::new(
            limits.publish_burst,
            limits.publish_per_second,
            std::time::Instant::now(),
        ),
        app,
    };
    if unsupported {
        queue.close(CloseCode::UnsupportedProtocol);
    } else if let Some(token) = token
        && let Err(e) = session.authenticate(&token, None)
    {
        tracing::info!(code = %e.code, reason = %e.message, "token refused at connect");
        queue.close(close_code_for(e.code));
    }
    session.read_loop(stream, &activity).await;
    // Also done when the session is dropped (a panic, an aborted task); here it happens before
    // waiting for the writer, so nothing is routed to a closing connection meanwhile.
    session.leave_all();
    if tokio::time::timeout(CLOSE_GRACE * 2, &mut writer)
        .await
        .is_err()
    {
        tracing::warn!("writer did not stop in time; aborting it");
        writer.abort();
    }
    match queue.close_code() {
        Some(code) => tracing::info!(close = code.code(), reason = code.reason(), "disconnected"),
        None => tracing::debug!("disconnected by the client"),
    }
}

/// Whether a read failed because a frame exceeded the transport limit (the socket is still
/// usable for the close frame), as opposed to the peer going away.
fn is_capacity_error(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    std::error::Error::source(e)
        .and_then(|inner| inner.downcast_ref::<Error>())
        .is_some_and(|inner| matches!(inner, Error::Capacity(_)))
}

/// The close code for an authentication failure.
fn close_code_for(code: ErrorCode) -> CloseCode {
    match code {
        ErrorCode::TokenExpired => CloseCode::TokenExpired,
        ErrorCode::TooManyConnections => CloseCode::TooManyConnections,
        _ => CloseCode::Unauthorized,
    }
}

impl Session {
    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>, activity: &Activity) {
        let auth_deadline = Instant::now() + self.app.config.server.auth_timeout;
        let shutdown = self.app.shutdown.clone();
        let queue = self.queue.clone();
        loop {
            let closing = queue.is_closing();
            let expiry = self.expiry();
            tokio::select! {
                frame = stream.next() => {
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        Some(Err(e)) if !closing && is_capacity_error(&e) => {
                            tracing::info!("frame over the transport limit");
                            queue.close(CloseCode::FrameTooLarge);
                            continue;
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "read failed");
                            queue.stop();
                            break;
                        }
                        None => {
                            queue.stop();
                            break;
                        }
                    };
                    activity.touch();
                    if closing {
                        continue; // Only waiting for the writer to finish the close.
                    }
                    match frame {
                        Message::Text(text) => self.on_text(text.as_str()).await,
                        Message::Binary(_) => self.reply_error(None, ErrorBody::new(
                            ErrorCode::BadRequest,
                            "binary frames are not part of protocol v1; send JSON text frames",
                        )),
                        Message::Close(_) => {
                            queue.stop();
                            break;
                        }
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
                _ = tokio::time::sleep_until(auth_deadline),
                    if self.identity.is_none() && !closing =>
                {
                    tracing::info!("no auth within the auth timeout");
                    queue.close(CloseCode::Unauthorized);
                }
                _ = tokio::time::sleep_until(expiry), if self.identity.is_some() && !closing => {
                    self.on_expired();
                }
                _ = shutdown.cancelled(), if !closing => {
                    queue.close(CloseCode::Shutdown);
                }
                Some(command) = self.commands.recv(), if !closing => match command {
                    SessionCommand::Recheck => self.recheck(),
                },
                _ = queue.finished() => break,
            }
        }
    }

    /// When the session token runs out, as a tokio instant.
    fn expiry(&self) -> Instant {
        let Some(identity) = &self.identity else {
            return Instant::now() + Duration::from_secs(3600);
        };
        let left = identity
            .expires_at_ms
            .saturating_sub(realtime_core::time::now_ms())
            .max(0);
        // Capped so an absurd `exp` cannot overflow the clock.
        let left = u64::try_from(left).unwrap_or(0).min(10 * 365 * 86_400_000);
        Instant::now() + Duration::from_millis(left)
    }

    /// Removes the connection from the feed, the registry and the hub. Safe to call twice.
    fn leave_all(&mut self) {
        self.app.feed.remove(self.id);
        if let Some(identity) = &self.identity {
            self.app.registry.unregister(identity.address, self.id);
        }
        for channel in self.subscriptions.drain() {
            self.app.hub.leave(&channel, self.id);
        }
    }
}

impl Drop for Session {
    /// However the session ends (an error, a panic while handling a request, its task being
    /// dropped), nothing keeps routing to it.
    fn drop(&mut self) {
        self.leave_all();
    }
}

#[cfg(test)]
mod tests;
