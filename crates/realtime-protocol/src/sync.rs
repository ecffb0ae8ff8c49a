//! `sync` (and `POST /v1/sync`): resuming in one round trip. The client sends the last seq
//! it saw per channel or thread and, for its map viewport, the note revision it is at; the
//! reply holds what it missed, its read state and unread counts, and the peers' read
//! positions in its threads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::notes::NoteEvent;
use crate::reply::{ErrorBody, MessageData};
use crate::request::Area;
use crate::social::UnreadItem;

/// Where the client's map viewport is, and the note revision it has seen there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotesCursor {
    pub area: Area,
    /// The `rev` of the last `notes` page, `note` push or `sync` seen.
    pub rev: u64,
}

/// `sync`, and the body of `POST /v1/sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncArgs {
    /// The last seq seen, by channel or thread.
    #[serde(default)]
    pub channels: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<NotesCursor>,
}

/// What one channel missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChannelSync {
    pub channel: String,
    pub last_seq: u64,
    /// False when the missed messages are not all here (too many, no longer stored, or
    /// past the reply's size): read them with `history`.
    pub recovered: bool,
    /// Why, when `recovered` is false and the channel could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::reply::NotRecovered>,
    /// The messages after the client's seq, ascending, when `recovered`.
    pub messages: Vec<MessageData>,
    /// Why the channel could not be read (no longer allowed, not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The note changes in the viewport since the client's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotesSync {
    /// The revision to resume from next time.
    pub rev: u64,
    /// False when there were more changes than fit: reload the viewport with `notes`.
    pub complete: bool,
    /// Oldest first: created and edited notes carry the note, removed ones only their id.
    pub changes: Vec<NoteEvent>,
}

/// How far the other participant of a thread has read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Receipt {
    pub channel: String,
    pub address: String,
    pub seq: u64,
}

/// Reply to `sync`, and body of `POST /v1/sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncOk {
    pub channels: Vec<ChannelSync>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<NotesSync>,
    /// The address's read state and unread counts (as `unread`).
    pub unread: Vec<UnreadItem>,
    /// The peers' read positions in the threads asked about.
    pub receipts: Vec<Receipt>,
}
