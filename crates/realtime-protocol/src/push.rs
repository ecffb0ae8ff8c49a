//! What pushes carry, and pushes decoded into types for clients. A push frame is
//! `{"push": NAME, "channel"?: …, "seq"?: …, "data": {…}}`; the server encodes each with
//! [`crate::reply::encode_push`] or [`crate::reply::encode_channel_push`] from the payload
//! types here (a `message` push from [`crate::reply::encode_message_push`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::reply::{Connected, MessageData};

/// `token_expired`: the session token ran out; the socket closes with 4402 next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenExpired {
    pub message: String,
}

/// `permission_revoked` (with the channel): the subscription ended because the client may
/// no longer read the channel, for example after leaving a guild on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PermissionRevoked {
    pub reason: String,
}

/// `feed_reset`: on-chain updates were missed; reload the watched area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeedReset {
    pub reason: String,
}

/// `typing` (with the channel): `address` is typing; forget it after `expires_in_ms` unless
/// it is repeated, or when a message from it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Typing {
    pub address: String,
    pub expires_in_ms: u64,
}

/// `dm_started` (with the thread's channel): a direct-message thread was started; sent to
/// both participants' sockets so they can subscribe to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DmStarted {
    /// Who wrote the first message.
    pub started_by: String,
    /// Both participants, the lower address first.
    pub participants: Vec<String>,
}

/// `read` (with the channel): `address` has read the channel up to `seq`. Sent to the
/// address's other sockets, and in a direct-message thread to the other participant (a read
/// receipt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReadMark {
    pub address: String,
    pub seq: u64,
}

/// A tile of the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TileXY {
    pub x: u32,
    pub y: u32,
}

/// `entity`: an on-chain update of a `[feed]` model inside a watched area or owned by the
/// watcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EntityUpdate {
    /// The model's tag (`s1_eternum-Structure`).
    pub model: String,
    /// The entity id (64 hex digits).
    pub entity: String,
    /// The model's key fields.
    pub keys: Map<String, Value>,
    /// The fields that changed, with their new values.
    pub changed: Map<String, Value>,
    /// The entity was deleted.
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<TileXY>,
    /// Where it stood before a move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_tile: Option<TileXY>,
    /// The owning address, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A push decoded for a client. Pushes this version does not know are kept as [`Push::Other`],
/// so a newer server does not break an older client.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    Message {
        channel: String,
        seq: u64,
        message: MessageData,
    },
    Connected(Connected),
    TokenExpired(TokenExpired),
    PermissionRevoked {
        channel: String,
        revoked: PermissionRevoked,
    },
    Entity(EntityUpdate),
    FeedReset(FeedReset),
    Typing {
        channel: String,
        typing: Typing,
    },
    DmStarted {
        channel: String,
        started: DmStarted,
    },
    Read {
        channel: String,
        read: ReadMark,
    },
    PresenceChange {
        channel: String,
        change: crate::social::PresenceChange,
    },
    Note(crate::notes::NoteEvent),
    NotesRevoked(crate::notes::NotesRevoked),
    Other {
        push: String,
        channel: Option<String>,
        seq: Option<u64>,
        data: Value,
    },
}

impl Push {
    /// The push's wire name (`message`, `connected`, …).
    pub fn name(&self) -> &str {
        match self {
            Push::Message { .. } => "message",
            Push::Connected(_) => "connected",
            Push::TokenExpired(_) => "token_expired",
            Push::PermissionRevoked { .. } => "permission_revoked",
            Push::Entity(_) => "entity",
            Push::FeedReset(_) => "feed_reset",
            Push::Typing { .. } => "typing",
            Push::DmStarted { .. } => "dm_started",
            Push::Read { .. } => "read",
            Push::PresenceChange { .. } => "presence_change",
            Push::Note(_) => "note",
            Push::NotesRevoked(_) => "notes_revoked",
            Push::Other { push, .. } => push,
        }
    }

    /// The push named `push` with its fields; an error when a known push is malformed.
    pub fn decode(
        push: String,
        channel: Option<String>,
        seq: Option<u64>,
        data: Value,
    ) -> Result<Self, serde_json::Error> {
        use serde::de::Error;
        let field = |name: &str| serde_json::Error::custom(format!("a {push} push has a {name}"));
        Ok(match push.as_str() {
            "message" => Push::Message {
                channel: channel.ok_or_else(|| field("channel"))?,
                seq: seq.ok_or_else(|| field("seq"))?,
                message: serde_json::from_value(data)?,
            },
            "connected" => Push::Connected(serde_json::from_value(data)?),
            "token_expired" => Push::TokenExpired(serde_json::from_value(data)?),
            "permission_revoked" => Push::PermissionRevoked {
                channel: channel.ok_or_else(|| field("channel"))?,
                revoked: serde_json::from_value(data)?,
            },
            "entity" => Push::Entity(serde_json::from_value(data)?),
            "feed_reset" => Push::FeedReset(serde_json::from_value(data)?),
            "typing" => Push::Typing {
                channel: channel.ok_or_else(|| field("channel"))?,
                typing: serde_json::from_value(data)?,
            },
            "dm_started" => Push::DmStarted {
                channel: channel.ok_or_else(|| field("channel"))?,
                started: serde_json::from_value(data)?,
            },
            "read" => Push::Read {
                channel: channel.ok_or_else(|| field("channel"))?,
                read: serde_json::from_value(data)?,
            },
            "presence_change" => Push::PresenceChange {
                channel: channel.ok_or_else(|| field("channel"))?,
                change: serde_json::from_value(data)?,
            },
            "note" => Push::Note(serde_json::from_value(data)?),
            "notes_revoked" => Push::NotesRevoked(serde_json::from_value(data)?),
            _ => Push::Other {
                push,
                channel,
                seq,
                data,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::reply::{ServerFrame, decode_server_frame};

    fn decode(text: &str) -> Result<Push, serde_json::Error> {
        match decode_server_frame(text)? {
            ServerFrame::Push {
                push,
                channel,
                seq,
                data,
            } => Push::decode(push, channel, seq, data),
            ServerFrame::Reply { .. } => panic!("not a push: {text}"),
        }
    }

    #[test]
    fn known_pushes_decode_into_their_types() {
        let message = decode(
            r#"{"push":"message","channel":"world","seq":42,"data":{"sender":"0x1","body":"gm","ts":"t"}}"#,
        )
        .unwrap();
        let Push::Message {
            channel,
            seq,
            message,
        } = message
        else {
            panic!("{message:?}");
        };
        assert_eq!(
            (channel.as_str(), seq, message.body.as_str()),
            ("world", 42, "gm")
        );
        let revoked = decode(
            r#"{"push":"permission_revoked","channel":"guild:0x1","data":{"reason":"left"}}"#,
        )
        .unwrap();
        assert_eq!(
            revoked,
            Push::PermissionRevoked {
                channel: "guild:0x1".into(),
                revoked: PermissionRevoked {
                    reason: "left".into()
                }
            }
        );
        let entity = decode(
            r#"{"push":"entity","data":{"model":"m","entity":"0x2","keys":{},"changed":{"x":1},"deleted":false,"tile":{"x":3,"y":4}}}"#,
        )
        .unwrap();
        let Push::Entity(update) = entity else {
            panic!("{entity:?}");
        };
        assert_eq!(update.tile, Some(TileXY { x: 3, y: 4 }));
        assert_eq!(update.changed["x"], json!(1));
    }

    #[test]
    fn unknown_pushes_are_kept_and_broken_known_ones_refused() {
        let other = decode(r#"{"push":"weather","channel":"world","data":{"online":3}}"#).unwrap();
        assert_eq!(
            other,
            Push::Other {
                push: "weather".into(),
                channel: Some("world".into()),
                seq: None,
                data: json!({"online": 3}),
            }
        );
        assert!(decode(r#"{"push":"message","channel":"world","data":{"body":"gm"}}"#).is_err());
        assert!(decode(r#"{"push":"token_expired","data":{}}"#).is_err());
        assert!(
            decode(r#"{"push":"presence_change","channel":"world","data":{"online":3}}"#).is_err()
        );
    }
}
