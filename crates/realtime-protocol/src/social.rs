//! Replies of the direct-message and read-state ops (`threads`, `block`, `unblock`,
//! `blocks`, `read`, `unread`), also the bodies of their HTTP routes.

use serde::{Deserialize, Serialize};

use crate::reply::MessageData;

/// One direct-message thread of the asking address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThreadItem {
    /// The thread's channel (`dm:LOW:HIGH`): subscribe, publish and read history with it.
    pub channel: String,
    /// The other participant.
    pub peer: String,
    pub last_seq: u64,
    /// How far the asking address has read.
    pub read_seq: u64,
    /// Messages from the peer after `read_seq` (at most 1000).
    pub unread: u64,
    /// Whether the peer has a socket open (on any instance this one knows of).
    pub peer_online: bool,
    /// The newest message, once one is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessageData>,
}

/// Reply to `threads`, and body of `GET /v1/dm/threads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ThreadsPage {
    pub threads: Vec<ThreadItem>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Reply to `block` and `unblock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlockOk {
    pub address: String,
    /// Whether the address is blocked now.
    pub blocked: bool,
    /// Whether this request changed anything (false: it was already so).
    pub changed: bool,
}

/// One blocked address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Blocked {
    pub address: String,
    /// When it was blocked.
    pub since: String,
}

/// Reply to `blocks`, and body of `GET /v1/blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlockList {
    pub blocked: Vec<Blocked>,
}

/// Reply to `read`, and body of `POST /v1/channels/{channel}/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReadOk {
    pub channel: String,
    /// The stored read position: never lower than before, never above the channel's last
    /// seq.
    pub seq: u64,
}

/// A channel's unread state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnreadItem {
    pub channel: String,
    pub last_seq: u64,
    pub read_seq: u64,
    /// Messages from others after `read_seq` (at most 1000).
    pub unread: u64,
}

/// Reply to `unread`, and body of `GET /v1/unread`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnreadList {
    pub channels: Vec<UnreadItem>,
}

/// A group the address belongs to on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupRef {
    /// The `[groups.KIND]` of the configuration (`guild`).
    pub kind: String,
    /// The group's id as the chain gives it.
    pub id: String,
    /// The group's channel (`guild:0x9001`), readable by its members.
    pub channel: String,
}

/// Reply to `me` and body of `GET /v1/me`: who the session is, as on-chain state sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MeOk {
    pub address: String,
    /// The `[players] name` on chain, when the address has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the address is a player (`[players]`).
    pub player: bool,
    /// Its groups, sorted by channel; empty while on-chain state is unavailable.
    pub groups: Vec<GroupRef>,
}

/// Reply to `names` and body of `GET /v1/names`: the `[players] name` of each address asked
/// about that has one, keyed by its canonical form (`0x` and 64 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NamesOk {
    pub names: std::collections::BTreeMap<String, String>,
}

/// Reply to `presence`, body of `GET /v1/channels/{channel}/presence`, and the `presence`
/// of a `subscribe` reply that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PresenceSnapshot {
    /// Addresses present (subscribed with at least one socket).
    pub count: u64,
    /// Up to 100 of them, sorted.
    pub members: Vec<String>,
    /// Whether `members` lists every present address.
    pub complete: bool,
}

/// `presence_change` (with the channel): who joined and left since the last change, at most
/// one a second per channel, net of reconnects within that second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PresenceChange {
    pub joined: Vec<String>,
    pub left: Vec<String>,
    pub count: u64,
}
