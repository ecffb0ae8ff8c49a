//! Client → server frames: `{"id": <u64>, "op": "<name>", ...arguments}`.
//!
//! Decoding distinguishes the cases a client must be told apart: not JSON or no usable `id`
//! (`bad_request`, answered with `"id": null`), an op this version does not know
//! (`unknown_op`), missing or mistyped arguments (`bad_request`), a bad channel name
//! (`invalid_channel`). Unknown argument names are refused so typos are caught early.

use realtime_core::{Address, ChannelName, ErrorCode};

use crate::notes::{NewNoteArgs, NoteChanges, NoteEditArgs, NoteIdArgs, NotesArgs};
use crate::sync::SyncArgs;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: u64,
    pub op: Op,
}

/// The operations of protocol v1.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Authenticate a connection opened without a token.
    Auth {
        token: String,
    },
    /// Extend a signed-in session with a newer token for the same address.
    Refresh {
        token: String,
    },
    /// Start receiving a channel; `since` is the last seq the client saw; `presence` asks
    /// for who is there, and who comes and goes.
    Subscribe {
        channel: ChannelName,
        since: Option<u64>,
        presence: bool,
    },
    Unsubscribe {
        channel: ChannelName,
    },
    /// Tell the channel's other subscribers that this address is typing; not stored.
    Typing {
        channel: ChannelName,
    },
    /// Post a message; `client_msg_id` makes retries idempotent.
    Publish {
        channel: ChannelName,
        body: String,
        client_msg_id: String,
    },
    /// A page of stored messages, ascending by seq.
    History {
        channel: ChannelName,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    },
    /// A page of the address's direct-message threads, newest activity first; `before` is
    /// the `next` cursor of the previous page.
    Threads {
        before: Option<String>,
        limit: Option<u32>,
    },
    /// Stop `address` from writing direct messages to this address.
    Block {
        address: Address,
    },
    Unblock {
        address: Address,
    },
    /// The addresses this address blocks.
    Blocks,
    /// Mark `channel` read up to `seq`.
    Read {
        channel: ChannelName,
        seq: u64,
    },
    /// Unread counts of every channel read before and every thread.
    Unread,
    /// Who the connection is signed in as: name, player status and groups on chain.
    Me,
    /// The `[players] name` of each of these addresses that has one.
    Names {
        addresses: Vec<Address>,
    },
    /// What was missed since the client's cursors.
    Sync(SyncArgs),
    /// Who is present in a channel.
    Presence {
        channel: ChannelName,
    },
    /// A page of the notes inside `area` the address may see, newest first.
    Notes {
        area: Area,
        before: Option<u64>,
        limit: Option<u32>,
    },
    /// Pin a note.
    NoteCreate(NewNoteArgs),
    /// Change one's own note's text or expiry.
    NoteEdit {
        note: u64,
        changes: NoteChanges,
    },
    /// Remove one's own note.
    NoteDelete {
        note: u64,
    },
    /// Sets which on-chain updates this connection receives: those inside `area` (a tile
    /// rectangle), and/or those of its own entities. Replaces the previous watch.
    Watch {
        area: Option<Area>,
        mine: bool,
    },
    /// Report a message or a note to the moderators.
    Report(crate::moderation::ReportArgs),
    Ping,
}

/// An inclusive tile rectangle.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub min_x: u32,
    pub min_y: u32,
    pub max_x: u32,
    pub max_y: u32,
}

impl Op {
    /// The op's wire name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Auth { .. } => "auth",
            Op::Refresh { .. } => "refresh",
            Op::Subscribe { .. } => "subscribe",
            Op::Unsubscribe { .. } => "unsubscribe",
            Op::Typing { .. } => "typing",
            Op::Publish { .. } => "publish",
            Op::History { .. } => "history",
            Op::Threads { .. } => "threads",
            Op::Block { .. } => "block",
            Op::Unblock { .. } => "unblock",
            Op::Blocks => "blocks",
            Op::Read { .. } => "read",
            Op::Unread => "unread",
            Op::Me => "me",
            Op::Names { .. } => "names",
            Op::Presence { .. } => "presence",
            Op::Sync(_) => "sync",
            Op::Notes { .. } => "notes",
            Op::NoteCreate(_) => "note_create",
            Op::NoteEdit { .. } => "note_edit",
            Op::NoteDelete { .. } => "note_delete",
            Op::Watch { .. } => "watch",
            Op::Report(_) => "report",
            Op::Ping => "ping",
        }
    }
}

/// Why a frame is not a request, and the id to answer it with when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub id: Option<u64>,
    pub code: ErrorCode,
    pub message: String,
}

impl DecodeError {
    fn new(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthArgs {
    token: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeArgs {
    channel: String,
    #[serde(default)]
    since: Option<u64>,
    /// Ask for a presence snapshot in the reply and `presence_change` pushes.
    #[serde(default)]
    presence: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelArgs {
    channel: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishArgs {
    channel: String,
    body: String,
    client_msg_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryArgs {
    channel: String,
    #[serde(default)]
    before: Option<u64>,
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoArgs {}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThreadsArgs {
    /// The `next` cursor of the previous page.
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddressArgs {
    /// A Starknet address, `0x` and up to 64 hex digits.
    address: String,
}

/// Most addresses one `names` request may ask about.
pub const MAX_NAMES: usize = 100;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamesArgs {
    /// Up to 100 Starknet addresses.
    addresses: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadArgs {
    channel: String,
    seq: u64,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchArgs {
    #[serde(default)]
    area: Option<Area>,
    #[serde(default)]
    mine: bool,
}

/// Decodes one text frame.
pub fn decode_request(text: &str) -> Result<Request, DecodeError> {
    let mut map: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
        DecodeError::new(
            None,
            ErrorCode::BadRequest,
            format!("the frame is not a JSON object: {e}"),
        )
    })?;
    let id = match map.remove("id") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            DecodeError::new(None, ErrorCode::BadRequest, "id is a non-negative integer")
        })?,
        Some(_) => {
            return Err(DecodeError::new(
                None,
                ErrorCode::BadRequest,
                "id is a non-negative integer",
            ));
        }
        None => {
            return Err(DecodeError::new(
                None,
                ErrorCode::BadRequest,
                "every request carries an id",
            ));
        }
    };
    let op = match map.remove("op") {
        Some(Value::String(op)) => op,
        _ => {
            return Err(DecodeError::new(
                Some(id),
                ErrorCode::BadRequest,
                "every request carries an op string",
            ));
        }
    };
    let args = Value::Object(map);
    let op = match op.as_str() {
        "auth" => {
            let a: AuthArgs = args_of(id, &op, args)?;
            Op::Auth { token: a.token }
        }
        "refresh" => {
            let a: AuthArgs = args_of(id, &op, args)?;
            Op::Refresh { token: a.token }
        }
        "subscribe" => {
            let a: SubscribeArgs = args_of(id, &op, args)?;
            Op::Subscribe {
                channel: channel(id, &a.channel)?,
                since: a.since,
                presence: a.presence,
            }
        }
        "unsubscribe" => {
            let a: ChannelArgs = args_of(id, &op, args)?;
            Op::Unsubscribe {
                channel: channel(id, &a.channel)?,
            }
        }
        "typing" => {
            let a: ChannelArgs = args_of(id, &op, args)?;
            Op::Typing {
                channel: channel(id, &a.channel)?,
            }
        }
        "publish" => {
            let a: PublishArgs = args_of(id, &op, args)?;
            Op::Publish {
                channel: channel(id, &a.channel)?,
                body: a.body,
                client_msg_id: a.client_msg_id,
            }
        }
        "history" => {
            let a: HistoryArgs = args_of(id, &op, args)?;
            Op::History {
                channel: channel(id, &a.channel)?,
                before: a.before,
                after: a.after,
                limit: a.limit,
            }
        }
        "watch" => {
            let a: WatchArgs = args_of(id, &op, args)?;
            Op::Watch {
                area: a.area.map(|r| checked_area(id, r)).transpose()?,
                mine: a.mine,
            }
        }
        "threads" => {
            let a: ThreadsArgs = args_of(id, &op, args)?;
            Op::Threads {
                before: a.before,
                limit: a.limit,
            }
        }
        "block" | "unblock" => {
            let a: AddressArgs = args_of(id, &op, args)?;
            let address = a.address.parse().map_err(|e| {
                DecodeError::new(
                    Some(id),
                    ErrorCode::BadRequest,
                    format!("invalid address {:?}: {e}", a.address),
                )
            })?;
            if op == "block" {
                Op::Block { address }
            } else {
                Op::Unblock { address }
            }
        }
        "blocks" => {
            let _: NoArgs = args_of(id, &op, args)?;
            Op::Blocks
        }
        "read" => {
            let a: ReadArgs = args_of(id, &op, args)?;
            Op::Read {
                channel: channel(id, &a.channel)?,
                seq: a.seq,
            }
        }
        "sync" => {
            let a: SyncArgs = args_of(id, &op, args)?;
            for name in a.channels.keys() {
                channel(id, name)?;
            }
            if let Some(n) = &a.notes {
                checked_area(id, n.area)?;
            }
            Op::Sync(a)
        }
        "presence" => {
            let a: ChannelArgs = args_of(id, &op, args)?;
            Op::Presence {
                channel: channel(id, &a.channel)?,
            }
        }
        "unread" => {
            let _: NoArgs = args_of(id, &op, args)?;
            Op::Unread
        }
        "me" => {
            let _: NoArgs = args_of(id, &op, args)?;
            Op::Me
        }
        "report" => {
            let a: crate::moderation::ReportArgs = args_of(id, &op, args)?;
            if a.message.is_some() == a.note.is_some() {
                return Err(DecodeError::new(
                    Some(id),
                    ErrorCode::BadRequest,
                    "report names exactly one of message and note",
                ));
            }
            if let Some(m) = &a.message {
                channel(id, &m.channel)?;
            }
            Op::Report(a)
        }
        "names" => {
            let a: NamesArgs = args_of(id, &op, args)?;
            if a.addresses.len() > MAX_NAMES {
                return Err(DecodeError::new(
                    Some(id),
                    ErrorCode::BadRequest,
                    format!("names: at most {MAX_NAMES} addresses"),
                ));
            }
            let addresses = a
                .addresses
                .iter()
                .map(|s| {
                    s.parse().map_err(|e| {
                        DecodeError::new(
                            Some(id),
                            ErrorCode::BadRequest,
                            format!("names: address {s:?}: {e}"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            Op::Names { addresses }
        }
        "notes" => {
            let a: NotesArgs = args_of(id, &op, args)?;
            Op::Notes {
                area: checked_area(id, a.area)?,
                before: a.before,
                limit: a.limit,
            }
        }
        "note_create" => Op::NoteCreate(args_of(id, &op, args)?),
        "note_edit" => {
            let a: NoteEditArgs = args_of(id, &op, args)?;
            Op::NoteEdit {
                note: a.note,
                changes: NoteChanges {
                    title: a.title,
                    body: a.body,
                    expires_in_secs: a.expires_in_secs,
                },
            }
        }
        "note_delete" => {
            let a: NoteIdArgs = args_of(id, &op, args)?;
            Op::NoteDelete { note: a.note }
        }
        "ping" => {
            let _: NoArgs = args_of(id, &op, args)?;
            Op::Ping
        }
        other => {
            return Err(DecodeError::new(
                Some(id),
                ErrorCode::UnknownOp,
                format!("unknown op {other:?}"),
            ));
        }
    };
    Ok(Request { id, op })
}

fn checked_area(id: u64, r: Area) -> Result<Area, DecodeError> {
    if r.min_x > r.max_x || r.min_y > r.max_y {
        return Err(DecodeError::new(
            Some(id),
            ErrorCode::BadRequest,
            "area: min_x <= max_x and min_y <= max_y",
        ));
    }
    Ok(r)
}

fn args_of<T: DeserializeOwned>(id: u64, op: &str, args: Value) -> Result<T, DecodeError> {
    serde_json::from_value(args).map_err(|e| {
        DecodeError::new(
            Some(id),
            ErrorCode::BadRequest,
            format!("bad arguments for {op}: {e}"),
        )
    })
}

fn channel(id: u64, name: &str) -> Result<ChannelName, DecodeError> {
    ChannelName::new(name).map_err(|e| {
        DecodeError::new(
            Some(id),
            ErrorCode::InvalidChannel,
            format!("invalid channel {name:?}: {e}"),
        )
    })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
