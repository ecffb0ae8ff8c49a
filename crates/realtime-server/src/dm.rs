//! Direct messages as the server enforces them, beyond the participants-only rule every
//! check applies (see [`realtime_core::dm`]): blocks, and the `[dm] start` rule for the first
//! message of a pair. Shared by the WebSocket and HTTP publish paths and by typing notices.

use realtime_core::dm::Thread;
use realtime_core::time::now_ms;
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::ErrorBody;
use realtime_protocol::push::DmStarted;
use realtime_protocol::reply::encode_channel_push;
use realtime_store::Store;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::chat::store_error;
use crate::permissions::Permissions;
use crate::rate::RateLimits;
use crate::registry::Registry;

/// What the sender is about to do in a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Post a message: may start the thread.
    Post,
    /// Say it is typing: never starts a thread, and needs the start rule until one exists.
    Typing,
}

/// What admitting a direct message needs.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub store: &'a Store,
    pub permissions: &'a Permissions,
    pub registry: &'a Registry,
    /// For `[dm] max_new_threads_per_hour`.
    pub rate_limits: &'a RateLimits,
}

impl Gate<'_> {
    /// Checks `sender`'s `intent` on `channel` when it is a thread (other channels pass), and
    /// starts the thread on a first post, telling both participants' sockets. The caller has
    /// already checked that `sender` may post to the channel at all.
    pub async fn admit(
        &self,
        sender: Address,
        channel: &ChannelName,
        intent: Intent,
    ) -> Result<(), ErrorBody> {
        let Some(Ok(thread)) = Thread::of(channel) else {
            return Ok(());
        };
        let Some(peer) = thread.peer_of(sender) else {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "only its two participants may write in a thread",
            ));
        };
        let gate = self
            .store
            .dm_gate(channel, sender, peer)
            .await
            .map_err(|e| store_error(&e))?;
        if gate.blocked_by_peer {
            return Err(ErrorBody::new(
                ErrorCode::Blocked,
                format!("{peer} does not accept direct messages from you"),
            ));
        }
        if gate.blocking_peer {
            return Err(ErrorBody::new(
                ErrorCode::Blocked,
                format!("you block {peer}; unblock them to write to them"),
            ));
        }
        if gate.started {
            return Ok(());
        }
        // Before the first message, only who may start the thread may say it is typing.
        self.permissions.may_start_dm(sender, peer)?;
        if intent == Intent::Typing {
            return Ok(());
        }
        self.rate_limits
            .take_new_thread(sender, self.permissions.rules.dm.max_new_threads_per_hour)
            .await?;
        let started = self
            .store
            .start_thread(channel, thread.participants(), sender, now_ms())
            .await
            .map_err(|e| store_error(&e))?;
        if started {
            let frame = Utf8Bytes::from(encode_channel_push(
                "dm_started",
                channel.as_str(),
                &DmStarted {
                    started_by: sender.to_string(),
                    participants: thread.participants().map(|a| a.to_string()).to_vec(),
                },
            ));
            for who in thread.participants() {
                self.registry.push(who, &frame, None);
            }
        }
        Ok(())
    }
}
