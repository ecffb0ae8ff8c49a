//! Recovery replays that do not starve the session.
//!
//! A replay (the messages a client missed, sent after its subscribe reply) can be larger than
//! the send budget, so it is paced by the client's reading and can take a while. It runs as
//! a future the reader loop polls alongside the socket, not inside the request that started
//! it: meanwhile pongs are read (the heartbeat holds), and shutdown, revocation and token
//! expiry act at once. Requests that arrive during a replay wait in a short queue and are
//! handled, in order, once it ends, so replies keep request order; `refresh` and `ping` are
//! answered at once (a refresh must not wait past the token's expiry). A connection that
//! starts closing meanwhile runs none of the waiting requests.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use realtime_core::{ChannelName, ErrorCode, Message};
use realtime_protocol::reply::encode_message_push;
use realtime_protocol::request::decode_request;
use realtime_protocol::{ErrorBody, Op};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::Session;
use crate::queue::SendQueue;

/// Requests held while a replay runs; past this the client is asked to wait.
pub const MAX_DEFERRED: usize = 32;

/// A replay in progress.
pub(super) struct Replay {
    pub channel: ChannelName,
    sending: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
}

impl Replay {
    /// Pushes `messages` to `queue` in order, each waiting up to `patience` for room.
    pub fn new(
        channel: ChannelName,
        messages: Vec<Message>,
        queue: SendQueue,
        patience: std::time::Duration,
    ) -> Self {
        let sending = Box::pin(async move {
            for m in &messages {
                let frame = Utf8Bytes::from(encode_message_push(m));
                // On a stall the queue closes the connection as a slow consumer itself.
                if queue.push_paced(frame, patience).await.is_err() {
                    return;
                }
            }
        });
        Self { channel, sending }
    }
}

/// Resolves when the replay in `slot` has sent everything; never, when there is none.
pub(super) async fn sent(slot: &mut Option<Replay>) {
    match slot {
        Some(r) => r.sending.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Requests that arrived during a replay.
#[derive(Debug, Default)]
pub(super) struct Deferred(VecDeque<Utf8Bytes>);

impl Session {
    /// A text frame: handled now, or held until the replay in progress ends.
    pub(super) async fn on_frame(&mut self, text: Utf8Bytes) {
        let urgent = || {
            matches!(
                decode_request(text.as_str()).map(|r| r.op),
                Ok(Op::Refresh { .. } | Op::Ping)
            )
        };
        if self.replay.is_none() || urgent() {
            self.on_text(text.as_str()).await;
            return;
        }
        if self.deferred.0.len() >= MAX_DEFERRED {
            self.reply_error(
                None,
                ErrorBody::new(
                    ErrorCode::RateLimited,
                    "a recovery replay is in progress; send requests after it ends",
                )
                .retry_after(std::time::Duration::from_millis(100)),
            );
            return;
        }
        self.deferred.0.push_back(text);
    }

    /// The replay has sent everything (or was dropped): live pushes follow it, then the
    /// requests held meanwhile are handled (one of them may start another replay).
    pub(super) async fn on_replayed(&mut self) {
        if let Some(r) = self.replay.take() {
            self.app.hub.activate(&r.channel, self.id);
        }
        if self.queue.is_closing() {
            self.deferred.0.clear();
            return;
        }
        while self.replay.is_none()
            && let Some(text) = self.deferred.0.pop_front()
        {
            self.on_text(text.as_str()).await;
        }
    }

    /// Drops the replay of `channel`, if one runs (its subscription ended).
    pub(super) fn cancel_replay(&mut self, channel: &ChannelName) {
        if self.replay.as_ref().is_some_and(|r| &r.channel == channel) {
            self.replay = None;
        }
    }
}
