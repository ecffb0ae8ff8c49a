//! WebSocket sessions at `/v1/ws`.
//!
//! - [`upgrade`]: the checks an upgrade passes and the handshake;
//! - this module: the reader loop of one connection;
//! - [`queue`]: the byte-bounded outbound queue;
//! - `writer`: the task that drains the queue, pings, and closes;
//! - `ops`: what each request does.
//!
//! A connection is two tasks: this reader, which handles one request at a time so replies
//! keep request order, and the writer. They share the queue; whichever learns first that the
//! connection is over tells the other through it.
//!
//! Closing a socket while the peer is still sending makes the kernel answer with a reset,
//! which can destroy the close frame in flight. So after the server's close frame is sent,
//! the reader keeps reading (and discarding) until the peer's own close frame or end of
//! stream, for up to [`CLOSE_GRACE`]: the close handshake of RFC 6455. A frame that breaks
//! the protocol (too large, invalid UTF-8, a protocol error) leaves no frames to read; the
//! raw bytes are drained instead (briefly, see [`LINGER`]).

mod activity;
mod feature;
mod ops;
pub mod replay;
pub mod upgrade;
mod writer;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use realtime_core::ErrorCode;
use realtime_protocol::{CloseCode, ErrorBody};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::Instrument;

use crate::connections::{AddressSlot, ConnectionSlot};
use crate::hub::ConnId;
use crate::ip_limit::IpSlot;
use crate::queue::SendQueue;
use crate::registry::{COMMAND_QUEUE, SessionCommand};
use crate::state::App;
use activity::Activity;
use realtime_auth::token::Identity;
use replay::Deferred;

pub use feature::{
    BoxFuture, CORE_OPS, Conn, Feature, FeatureConn, Features, Handler, Stateless, not_registered,
};
pub use replay::Replay;
pub use upgrade::upgrade;

/// The WebSocket of a session, over hyper's upgraded connection.
pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// How long a closing connection may take to flush its close frame.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// After closing for a protocol violation: read and discard what the peer still sends for at
/// most this long, stopping earlier once it is quiet for [`LINGER_QUIET`].
pub const LINGER: Duration = Duration::from_secs(2);
const LINGER_QUIET: Duration = Duration::from_millis(250);

/// What an upgrade hands to its session.
#[derive(Debug)]
pub(crate) struct Admission {
    pub token: Option<String>,
    /// The client asked only for protocol versions this server does not speak.
    pub unsupported: bool,
    pub slot: ConnectionSlot,
    /// The client IP's count of sockets not signed in; given back on sign-in.
    pub pending: IpSlot,
    pub ip: IpAddr,
}

/// One connection's state, owned by its reader task.
pub(crate) struct Session {
    app: App,
    id: ConnId,
    queue: SendQueue,
    identity: Option<Identity>,
    /// The address's connection slots: on this instance, and across instances.
    _address_slot: Option<(AddressSlot, Option<crate::cluster::SharedSlot>)>,
    /// Held until the session signs in.
    pending: Option<IpSlot>,
    /// Every feature's state on this connection, in registration order.
    features: Vec<Box<dyn FeatureConn>>,
    registry: Arc<Features>,
    /// Commands from other tasks (permission rechecks); the sender is registered on sign-in.
    commands: mpsc::Receiver<SessionCommand>,
    command_tx: mpsc::Sender<SessionCommand>,
    /// The recovery replay in progress, and the requests waiting for its end.
    replay: Option<Replay>,
    deferred: Deferred,
    /// Frames the client may send (`[limits] frames_burst`, `frames_per_second`).
    inbound: realtime_core::TokenBucket,
    /// Set while the client sent past its frame rate: the socket is not read until then.
    paused: Option<Instant>,
    /// A token taken for the next frame, before reading it.
    reserved: bool,
    /// The op of the request being handled (empty before the first), for refusal logs.
    op: &'static str,
}

/// Counts a refusal and logs it: one line per refused request, with the code, the op and the
/// reason (the connection and its address come from the session's span).
pub(crate) fn refused(op: &'static str, error: &ErrorBody) {
    crate::metrics::get().refused(error.code, crate::metrics::Transport::Ws);
    tracing::info!(op, code = %error.code, reason = crate::web::log_reason(error), "refused");
}

/// Counts the connection as open for as long as its session lives, however the session ends.
struct Counted;

impl Counted {
    fn open() -> Self {
        let metrics = crate::metrics::get();
        metrics.connections.inc();
        metrics.opened.inc();
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        crate::metrics::get().connections.dec();
    }
}

/// How the reader loop ended.
enum Ended {
    /// The peer closed, went away, or the writer finished a close.
    Done,
    /// The peer broke the protocol; the close is under way and the rest of its data must be
    /// drained.
    Violation,
}

pub(crate) async fn run(
    app: App,
    registry: Arc<Features>,
    socket: Socket,
    id: ConnId,
    admission: Admission,
) {
    let Admission {
        token,
        unsupported,
        slot: _slot,
        pending,
        ip,
    } = admission;
    let _counted = Counted::open();
    let (sink, stream) = socket.split();
    let queue = SendQueue::new(app.config.limits.send_queue_bytes);
    let activity = Arc::new(Activity::new());
    let heartbeat = writer::Heartbeat {
        ping_interval: app.config.server.ping_interval,
        pong_timeout: app.config.server.pong_timeout,
    };
    // Its handle is kept: the session waits for it (bounded) before it ends, and the session
    // itself is tracked by the server's session tracker.
    let mut writer = tokio::spawn(
        writer::run(sink, queue.clone(), heartbeat, activity.clone()).in_current_span(),
    );
    tracing::debug!(%ip, "connected");
    let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let mut session = Session {
        id,
        queue: queue.clone(),
        identity: None,
        _address_slot: None,
        pending: Some(pending),
        features: registry.connect(&app),
        registry,
        commands,
        command_tx,
        replay: None,
        deferred: Deferred::default(),
        inbound: realtime_core::TokenBucket::new(
            app.config.limits.frames_burst,
            app.config.limits.frames_per_second,
            std::time::Instant::now(),
        ),
        paused: None,
        reserved: false,
        op: "",
        app,
    };
    if unsupported {
        queue.close(CloseCode::UnsupportedProtocol);
    } else if let Some(token) = token
        && let Err(e) = session.authenticate(&token, None).await
    {
        refused("connect", &e);
        queue.close(close_code_for(e.code));
    }
    let (ended, stream) = session.read_loop(stream, &activity).await;
    // Also done when the session is dropped (a panic, an aborted task); here it happens before
    // waiting for the writer, so nothing is routed to a closing connection meanwhile.
    session.leave_all();
    let sink = match tokio::time::timeout(CLOSE_GRACE * 2, &mut writer).await {
        Ok(Ok(sink)) => Some(sink),
        Ok(Err(_)) => None,
        Err(_) => {
            tracing::warn!("writer did not stop in time; aborting it");
            writer.abort();
            None
        }
    };
    if let (Ended::Violation, Some(sink)) = (ended, sink)
        && let Ok(mut socket) = stream.reunite(sink)
    {
        linger(socket.get_mut()).await;
    }
    crate::metrics::get().closed(queue.close_code());
    match queue.close_code() {
        Some(code) => tracing::info!(close = code.code(), reason = code.reason(), "disconnected"),
        None => tracing::debug!("disconnected by the client"),
    }
}

/// Reads and discards until the peer is quiet, closes, or [`LINGER`] passes.
async fn linger(io: &mut TokioIo<Upgraded>) {
    let deadline = Instant::now() + LINGER;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let quiet = (Instant::now() + LINGER_QUIET).min(deadline);
        match tokio::time::timeout_at(quiet, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => return,
        }
    }
}

/// The close code for a read error that breaks the WebSocket protocol; `None` when the peer
/// simply went away.
fn violation(e: &tungstenite::Error) -> Option<CloseCode> {
    use tungstenite::Error;
    use tungstenite::error::ProtocolError;
    match e {
        Error::Capacity(_) => Some(CloseCode::FrameTooLarge),
        Error::Utf8(_) => Some(CloseCode::InvalidPayload),
        // A dropped TCP connection (no close frame) or a frame after the close: the peer left.
        Error::Protocol(
            ProtocolError::ResetWithoutClosingHandshake | ProtocolError::ReceivedAfterClosing,
        ) => None,
        Error::Protocol(_) => Some(CloseCode::ProtocolError),
        _ => None,
    }
}

#[cfg(test)]
#[test]
fn a_dropped_connection_is_not_a_protocol_violation() {
    use tungstenite::error::ProtocolError;
    let reset = tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake);
    assert_eq!(violation(&reset), None);
    let bad = tungstenite::Error::Protocol(ProtocolError::NonZeroReservedBits);
    assert_eq!(violation(&bad), Some(CloseCode::ProtocolError));
}

/// The close code for an authentication failure.
fn close_code_for(code: ErrorCode) -> CloseCode {
    match code {
        ErrorCode::TokenExpired => CloseCode::TokenExpired,
        ErrorCode::TooManyConnections => CloseCode::TooManyConnections,
        ErrorCode::Banned => CloseCode::Banned,
        _ => CloseCode::Unauthorized,
    }
}

impl Session {
    async fn read_loop(
        &mut self,
        mut stream: SplitStream<Socket>,
        activity: &Activity,
    ) -> (Ended, SplitStream<Socket>) {
        let auth_deadline = Instant::now() + self.app.config.server.auth_timeout;
        let shutdown = self.app.shutdown.clone();
        let queue = self.queue.clone();
        // Set once the writer has sent the close frame: how long to wait for the peer's.
        let mut handshake: Option<Instant> = None;
        loop {
            let closing = queue.is_closing();
            let expiry = self.expiry();
            if !closing {
                self.pace();
            }
            tokio::select! {
                frame = stream.next(), if self.paused.is_none() || closing => {
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        Some(Err(e)) => match violation(&e) {
                            Some(code) => {
                                tracing::info!(error = %e, close = code.code(), "websocket protocol violation");
                                queue.close(code);
                                return (Ended::Violation, stream);
                            }
                            None => {
                                tracing::debug!(error = %e, "read failed");
                                queue.stop();
                                return (Ended::Done, stream);
                            }
                        },
                        None => {
                            queue.stop();
                            return (Ended::Done, stream);
                        }
                    };
                    activity.touch();
                    if closing {
                        // Only waiting for the close to complete.
                        if matches!(frame, Message::Close(_)) {
                            queue.stop();
                            return (Ended::Done, stream);
                        }
                        continue;
                    }
                    if matches!(frame, Message::Text(_) | Message::Binary(_)) {
                        self.reserved = false;
                    }
                    match frame {
                        Message::Text(text) => self.on_frame(text).await,
                        Message::Binary(_) => self.reply_error(None, ErrorBody::new(
                            ErrorCode::BadRequest,
                            "binary frames are not part of protocol v1; send JSON text frames",
                        )),
                        Message::Close(_) => {
                            queue.stop();
                            return (Ended::Done, stream);
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                _ = tokio::time::sleep_until(self.paused.unwrap_or_else(Instant::now)),
                    if self.paused.is_some() && !closing =>
                {
                    self.paused = None;
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
                () = replay::sent(&mut self.replay), if self.replay.is_some() && !closing => {
                    self.on_replayed().await;
                }
                Some(command) = self.commands.recv(), if !closing => match command {
                    SessionCommand::Recheck => {
                        self.recheck();
                        // A revoked channel's replay is dropped: run what waited for it.
                        self.on_replayed().await;
                    }
                },
                _ = queue.finished(), if handshake.is_none() => {
                    if queue.close_code().is_none() {
                        return (Ended::Done, stream); // The peer left first.
                    }
                    handshake = Some(Instant::now() + CLOSE_GRACE);
                }
                _ = tokio::time::sleep_until(handshake.unwrap_or_else(Instant::now)),
                    if handshake.is_some() =>
                {
                    return (Ended::Done, stream);
                }
            }
        }
    }

    /// Takes the token of the next frame before it is read; past the client's rate, stops
    /// reading until one is due, so a flood waits in the client's own buffers instead of
    /// costing the server.
    fn pace(&mut self) {
        if self.reserved || self.paused.is_some() {
            return;
        }
        match self.inbound.try_take(std::time::Instant::now()) {
            Ok(()) => self.reserved = true,
            Err(wait) => {
                tracing::trace!(
                    wait_ms = wait.as_millis() as u64,
                    "client over its frame rate"
                );
                self.paused = Some(Instant::now() + wait);
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

    /// Removes the connection from the registry and from every feature. Safe to call twice.
    fn leave_all(&mut self) {
        if let Some(identity) = &self.identity {
            self.app
                .conns
                .registry
                .unregister(identity.address, self.id);
        }
        for feature in &mut self.features {
            feature.leave(
                &self.app,
                self.id,
                self.identity.as_ref().map(|i| i.address),
            );
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
