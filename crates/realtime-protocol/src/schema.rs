//! The JSON Schema of every frame of protocol v1, generated from the types the server encodes
//! and decodes, so the schema cannot drift from the code. `docs/protocol.schema.json` is this
//! schema checked in; a test keeps it current and validates every example of
//! `docs/protocol.md` against it.
//!
//! The types here only describe frames: requests are decoded by [`crate::request`] (which
//! gives each mistake its own error code) from the same argument types, and replies and
//! pushes are encoded by [`crate::reply`] from the same payload types.

use schemars::JsonSchema;
use serde_json::Value;

use crate::moderation::{MessageRemoved, ReportArgs, ReportOk, SessionEnded};
use crate::notes::{
    NewNoteArgs, NoteDeleted, NoteEditArgs, NoteEvent, NoteIdArgs, NoteOk, NotesArgs, NotesPage,
    NotesRevoked,
};
use crate::push::{
    DmStarted, EntityUpdate, FeedReset, PermissionRevoked, ReadMark, TokenExpired, Typing,
};
use crate::reply::{
    Connected, Empty, ErrorBody, HistoryPage, MessageData, PublishOk, RefreshOk, SubscribeOk,
    TypingOk, UnsubscribeOk, WatchOk,
};
use crate::request::{
    AddressArgs, AuthArgs, ChannelArgs, HistoryArgs, NamesArgs, NoArgs, PublishArgs, ReadArgs,
    SubscribeArgs, ThreadsArgs, WatchArgs,
};
use crate::social::{
    BlockList, BlockOk, MeOk, NamesOk, PresenceChange, PresenceSnapshot, ReadOk, ThreadsPage,
    UnreadList,
};
use crate::sync::{SyncArgs, SyncOk};

/// A request: an id the reply repeats, an op, and the op's arguments.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct ClientFrame {
    /// Chosen by the client; the reply carries it back.
    id: u64,
    #[serde(flatten)]
    op: Operation,
}

#[derive(JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
#[allow(dead_code)]
enum Operation {
    Auth(AuthArgs),
    Refresh(AuthArgs),
    Subscribe(SubscribeArgs),
    Unsubscribe(ChannelArgs),
    Typing(ChannelArgs),
    Publish(PublishArgs),
    History(HistoryArgs),
    Watch(WatchArgs),
    Threads(ThreadsArgs),
    Block(AddressArgs),
    Unblock(AddressArgs),
    Blocks(NoArgs),
    Read(ReadArgs),
    Unread(NoArgs),
    Me(NoArgs),
    Names(NamesArgs),
    Presence(ChannelArgs),
    Sync(SyncArgs),
    Notes(NotesArgs),
    NoteCreate(NewNoteArgs),
    NoteEdit(NoteEditArgs),
    NoteDelete(NoteIdArgs),
    Report(ReportArgs),
    Ping(NoArgs),
}

/// What the server sends: a reply to one request, or a push.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ServerFrame {
    Ok(OkFrame),
    Error(ErrorFrame),
    Push(PushFrame),
}

/// A successful reply; `ok`'s shape is the one of the request's op.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct OkFrame {
    id: u64,
    ok: OkPayload,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OkPayload {
    /// `auth`.
    Connected(Connected),
    Subscribe(SubscribeOk),
    Unsubscribe(UnsubscribeOk),
    Publish(PublishOk),
    History(HistoryPage),
    Watch(WatchOk),
    Refresh(RefreshOk),
    Typing(TypingOk),
    Threads(ThreadsPage),
    /// `block` and `unblock`.
    Block(BlockOk),
    Blocks(BlockList),
    Read(ReadOk),
    Unread(UnreadList),
    Me(MeOk),
    Names(NamesOk),
    /// `presence` (the channel is the request's).
    Presence(PresenceSnapshot),
    Sync(SyncOk),
    Notes(NotesPage),
    /// `note_create` and `note_edit`.
    Note(NoteOk),
    NoteDeleted(NoteDeleted),
    Report(ReportOk),
    /// `ping`.
    Empty(Empty),
}

/// A refused request (`id` null when the frame had no readable id), or an HTTP error body
/// (no `id`).
#[derive(JsonSchema)]
#[allow(dead_code)]
struct ErrorFrame {
    #[serde(default)]
    id: Option<u64>,
    error: ErrorBody,
}

/// An unsolicited frame.
#[derive(JsonSchema)]
#[serde(tag = "push", rename_all = "snake_case")]
#[allow(dead_code)]
enum PushFrame {
    /// A committed message of a subscribed channel.
    Message {
        channel: String,
        seq: u64,
        data: MessageData,
    },
    /// The socket is signed in.
    Connected {
        data: Connected,
    },
    TokenExpired {
        data: TokenExpired,
    },
    PermissionRevoked {
        channel: String,
        data: PermissionRevoked,
    },
    /// An on-chain update for a watch.
    Entity {
        data: EntityUpdate,
    },
    FeedReset {
        data: FeedReset,
    },
    /// Another subscriber is typing.
    Typing {
        channel: String,
        data: Typing,
    },
    /// A direct-message thread of this address was started.
    DmStarted {
        channel: String,
        data: DmStarted,
    },
    /// A read position moved: this address's on another socket, or the peer's in a thread.
    Read {
        channel: String,
        data: ReadMark,
    },
    /// Who joined and left a subscribed channel.
    PresenceChange {
        channel: String,
        data: PresenceChange,
    },
    /// A note inside the watched area changed.
    Note {
        data: NoteEvent,
    },
    /// The address left a group on chain: drop that group's notes.
    NotesRevoked {
        data: NotesRevoked,
    },
    /// A moderator removed a message of a subscribed channel.
    MessageRemoved {
        channel: String,
        data: MessageRemoved,
    },
    /// A moderator banned this address; the socket closes with 4403.
    Banned {
        data: SessionEnded,
    },
    /// A moderator revoked this session; the socket closes with 4401.
    SessionRevoked {
        data: SessionEnded,
    },
}

/// The decoder refuses argument names an op does not take, so each op's schema is closed:
/// the flattened `id` moves into every op, which then allows no other property.
fn close_requests(defs: &mut serde_json::Map<String, Value>) {
    let Some(Value::Object(frame)) = defs.get_mut("ClientFrame") else {
        return;
    };
    let id = frame.remove("properties").map(|mut p| p["id"].take());
    frame.remove("required");
    if let (Some(id), Some(Value::Array(ops))) = (id, frame.get_mut("oneOf")) {
        for op in ops {
            op["properties"]["id"] = id.clone();
            if let Value::Array(required) = &mut op["required"] {
                required.insert(0, Value::from("id"));
            }
            op["additionalProperties"] = Value::Bool(false);
        }
    }
}

/// The whole schema: a frame is a client frame or a server frame, each also named in `$defs`.
pub fn schema() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let client = generator.subschema_for::<ClientFrame>();
    let server = generator.subschema_for::<ServerFrame>();
    let mut defs: serde_json::Map<String, Value> = generator.take_definitions(true);
    close_requests(&mut defs);
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "torii-realtime protocol v1 frames",
        "description": "Generated from crates/realtime-protocol; do not edit by hand.",
        "anyOf": [client, server],
        "$defs": defs,
    })
}
