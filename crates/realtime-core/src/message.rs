//! A stored chat message, as the store returns it and the protocol encodes it.

use crate::{Address, ChannelName};

/// A message committed to a channel. `seq` is gap-free per channel, starting at 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub channel: ChannelName,
    pub seq: u64,
    pub sender: Address,
    pub body: String,
    /// The sender's idempotency key; a retry with the same key is stored once.
    pub client_msg_id: Option<String>,
    /// Commit time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    pub edited_at_ms: Option<i64>,
    pub deleted_at_ms: Option<i64>,
}
