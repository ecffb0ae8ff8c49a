//! Server → client frames. A reply answers one request: `{"id": 7, "ok": {...}}` or
//! `{"id": 7, "error": {"code": "...", "message": "..."}}`. A push is unsolicited:
//! `{"push": "message", "channel": "world", "seq": 42, "data": {...}}`.
//!
//! Encoders return `String`s; the server encodes a pushed message once and shares the bytes
//! with every subscriber.

use realtime_core::time::rfc3339_ms;
use realtime_core::{ErrorCode, Message};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The error object of an error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// For `rate_limited`: how long to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The same error, telling the client to retry after `wait` (at least 1 ms).
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after_ms = Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1));
        self
    }
}

/// A message as clients see it, in pushes (without `seq`, which is on the push) and history
/// pages (with `seq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MessageData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub sender: String,
    pub body: String,
    pub ts: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Deleted messages keep their seq (so paging has no holes) but lose their body.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl MessageData {
    /// The client view of a stored message; `with_seq` for history pages.
    pub fn from_message(m: &Message, with_seq: bool) -> Self {
        let deleted = m.deleted_at_ms.is_some();
        Self {
            seq: with_seq.then_some(m.seq),
            sender: m.sender.to_string(),
            body: if deleted {
                String::new()
            } else {
                m.body.clone()
            },
            ts: rfc3339_ms(m.created_at_ms),
            client_msg_id: m.client_msg_id.clone(),
            edited_at: m.edited_at_ms.map(rfc3339_ms),
            deleted,
        }
    }
}

#[derive(Serialize)]
struct OkFrame<'a, T> {
    id: u64,
    ok: &'a T,
}

#[derive(Serialize)]
struct ErrorFrame<'a> {
    id: Option<u64>,
    error: &'a ErrorBody,
}

#[derive(Serialize)]
struct PushFrame<'a, T> {
    push: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    data: &'a T,
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Our frame types hold only strings, numbers and maps with string keys: serialising
    // them cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

/// `{"id": id, "ok": ok}`.
pub fn encode_ok<T: Serialize>(id: u64, ok: &T) -> String {
    to_json(&OkFrame { id, ok })
}

/// `{"id": id, "error": error}`; `id` is null when the frame had no readable id.
pub fn encode_error(id: Option<u64>, error: &ErrorBody) -> String {
    to_json(&ErrorFrame { id, error })
}

/// A `message` push for a committed message.
pub fn encode_message_push(m: &Message) -> String {
    to_json(&PushFrame {
        push: "message",
        channel: Some(m.channel.as_str()),
        seq: Some(m.seq),
        data: &MessageData::from_message(m, false),
    })
}

/// A push about a channel that is not a message, such as `permission_revoked`.
pub fn encode_channel_push<T: Serialize>(push: &str, channel: &str, data: &T) -> String {
    to_json(&PushFrame {
        push,
        channel: Some(channel),
        seq: None,
        data,
    })
}

/// A push with no channel, such as `connected`.
pub fn encode_push<T: Serialize>(push: &str, data: &T) -> String {
    to_json(&PushFrame {
        push,
        channel: None,
        seq: None,
        data,
    })
}

/// Payload of `connected` pushes and `auth` replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Connected {
    pub address: String,
    pub expires_at: String,
    pub protocol: u32,
    pub limits: Limits,
}

/// Limits a client should respect, announced on connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_message_chars: usize,
    pub max_subscriptions: usize,
    pub history_max_limit: u32,
}

/// Reply to `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SubscribeOk {
    pub channel: String,
    /// The newest seq in the channel when the subscription started; live pushes continue
    /// after it, replayed pushes (if any) lead up to it.
    pub last_seq: u64,
    /// Present when `since` was sent: true if every message after `since` follows as a push,
    /// false if the gap was too old or too large (fetch `history` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// Why, when `recovered` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NotRecovered>,
    /// How many replayed pushes follow this reply.
    pub replayed: u64,
    /// Who is present, when the subscribe asked (`presence: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<crate::social::PresenceSnapshot>,
}

/// Why missed messages were not recovered (`subscribe` with `since`, `sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotRecovered {
    /// Some of them were removed by retention: they cannot be read any more, by `history`
    /// either; reload the newest with `history`.
    Expired,
    /// More were missed than are replayed at once (`limits.recovery_max_messages`, or for
    /// `sync` the size of its reply): read them with `history`.
    TooMany,
    /// `since` is past the channel's newest seq: the log the client saw no longer exists
    /// (storage was reset); reload with `history`.
    Reset,
}

/// Reply to `publish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PublishOk {
    pub channel: String,
    pub seq: u64,
    pub ts: String,
    /// True when this was a retry of an already stored message (same client_msg_id).
    pub duplicate: bool,
    /// A content rule held the message for a moderator: it is not in the channel (`seq` is
    /// 0) and enters it, with a new seq, if a moderator approves it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// Reply to `history`, and body of the HTTP history endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HistoryPage {
    pub channel: String,
    pub messages: Vec<MessageData>,
    /// True when more messages exist beyond this page in the direction of paging.
    pub has_more: bool,
    /// True when messages the request covers were removed by retention: paging backwards,
    /// the page reached the oldest message kept (`has_more` is false, though older ones
    /// existed); paging forwards from `after`, the messages right after it are gone and the
    /// page starts at the oldest one kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
}

/// Reply to `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnsubscribeOk {
    pub channel: String,
}

/// Reply to `watch`: what is watched now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchOk {
    pub area: Option<crate::request::Area>,
    pub mine: bool,
}

/// Reply to `typing`: the notice holds this long unless repeated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TypingOk {
    pub channel: String,
    pub expires_in_ms: u64,
}

/// Reply to `refresh`: the session's new expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefreshOk {
    pub expires_at: String,
}

/// Empty `ok` object (`ping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Empty {}

/// A decoded server frame, for clients.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    Reply {
        id: Option<u64>,
        result: Result<Value, ErrorBody>,
    },
    Push {
        push: String,
        channel: Option<String>,
        seq: Option<u64>,
        data: Value,
    },
}

#[derive(Deserialize)]
struct RawServerFrame {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    ok: Option<Value>,
    #[serde(default)]
    error: Option<ErrorBody>,
    #[serde(default)]
    push: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    data: Option<Value>,
}

/// Decodes a frame sent by the server.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, serde_json::Error> {
    let raw: RawServerFrame = serde_json::from_str(text)?;
    if let Some(push) = raw.push {
        return Ok(ServerFrame::Push {
            push,
            channel: raw.channel,
            seq: raw.seq,
            data: raw.data.unwrap_or(Value::Null),
        });
    }
    let result = match (raw.ok, raw.error) {
        (_, Some(e)) => Err(e),
        (Some(ok), None) => Ok(ok),
        (None, None) => {
            return Err(serde::de::Error::custom(
                "a server frame has push, ok or error",
            ));
        }
    };
    Ok(ServerFrame::Reply { id: raw.id, result })
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_core::ChannelName;
    use serde_json::json;

    fn message() -> Message {
        Message {
            channel: ChannelName::new("world").unwrap(),
            seq: 42,
            sender: "0x1".parse().unwrap(),
            body: "gm".into(),
            client_msg_id: Some("c1".into()),
            created_at_ms: 0,
            edited_at_ms: None,
            deleted_at_ms: None,
        }
    }

    #[test]
    fn push_shape_matches_docs() {
        let v: Value = serde_json::from_str(&encode_message_push(&message())).unwrap();
        assert_eq!(
            v,
            json!({"push": "message", "channel": "world", "seq": 42, "data": {
                "sender": format!("0x{}1", "0".repeat(63)), "body": "gm",
                "ts": "1970-01-01T00:00:00.000Z", "client_msg_id": "c1"}})
        );
    }

    #[test]
    fn deleted_messages_lose_their_body() {
        let mut m = message();
        m.deleted_at_ms = Some(5);
        let d = MessageData::from_message(&m, true);
        assert!(d.deleted);
        assert_eq!(d.body, "");
        assert_eq!(d.seq, Some(42));
    }

    #[test]
    fn replies_round_trip() {
        let ok = encode_ok(7, &Empty {});
        assert_eq!(ok, r#"{"id":7,"ok":{}}"#);
        let mut err = ErrorBody::new(ErrorCode::RateLimited, "slow down");
        err.retry_after_ms = Some(900);
        let text = encode_error(Some(7), &err);
        assert_eq!(
            decode_server_frame(&text).unwrap(),
            ServerFrame::Reply {
                id: Some(7),
                result: Err(err)
            }
        );
        let text = encode_error(None, &ErrorBody::new(ErrorCode::BadRequest, "x"));
        assert!(text.starts_with(r#"{"id":null,"#), "{text}");
    }
}
