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

use realtime_core::ErrorCode;
use realtime_protocol::request::decode_request;
use realtime_protocol::{ErrorBody, Op};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::Session;
use crate::queue::SendQueue;

/// Requests held while a replay runs; past this the client is asked to wait.
pub const MAX_DEFERRED: usize = 32;

/// A replay in progress: frames sent in order, each waiting for room in the queue, then an
/// action once all are sent (a chat subscription goes live).
pub struct Replay {
    /// What is replayed (a channel name), so that it can be cancelled.
    pub tag: String,
    sending: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    done: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// Pushes `frames` to `queue` in order, each waiting up to `patience` for room; runs
    /// `done` when all are sent.
    pub fn new(
        tag: String,
        frames: impl Iterator<Item = Utf8Bytes> + Send + Sync + 'static,
        queue: SendQueue,
        patience: std::time::Duration,
        done: impl FnOnce() + Send + Sync + 'static,
    ) -> Self {
        let sending = Box::pin(async move {
            for frame in frames {
                // On a stall the queue closes the connection as a slow consumer itself.
                if queue.push_paced(frame, patience).await.is_err() {
                    return;
                }
            }
        });
        Self {
            tag,
            sending,
            done: Some(Box::new(done)),
        }
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
        if let Some(done) = self.replay.take().and_then(|mut r| r.done.take()) {
            done();
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
}
