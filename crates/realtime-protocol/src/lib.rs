//! Protocol v1 of torii-realtime: JSON text frames over a WebSocket at `/v1/ws`.
//!
//! - [`request`]: client → server frames and their decoding into typed requests, with the
//!   error code to answer when a frame is not one.
//! - [`reply`]: server → client replies (exactly one per request) and their encoding.
//! - [`push`]: what pushes carry, and pushes decoded into types for clients.
//! - [`social`]: replies of the direct-message and read-state ops.
//! - [`notes`]: notes pinned to tiles: arguments, replies and pushes.
//! - [`sync`]: resuming in one round trip.
//! - [`moderation`]: reports, what moderator actions push, and the moderators' HTTP API.
//! - [`schema`]: the JSON Schema of every frame, generated from these types.
//! - [`close`]: WebSocket close codes, split into "reconnect" and "act first" ranges.
//!
//! The written contract is docs/protocol.md; tests here pin the JSON shapes it shows.

pub mod close;
pub mod moderation;
pub mod notes;
pub mod push;
pub mod reply;
pub mod request;
pub mod schema;
pub mod social;
pub mod sync;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The WebSocket subprotocol naming version 1; the server selects it when offered.
pub const SUBPROTOCOL: &str = "realtime.v1";
/// A subprotocol entry starting with this carries the token (`bearer.<jwt>`), for browsers,
/// which cannot set an `Authorization` header on a WebSocket.
pub const BEARER_SUBPROTOCOL_PREFIX: &str = "bearer.";
/// History pages hold at most this many messages.
pub const HISTORY_MAX_LIMIT: u32 = 100;
/// History pages hold this many messages when the request names no limit.
pub const HISTORY_DEFAULT_LIMIT: u32 = 50;

pub use close::CloseCode;
pub use push::Push;
pub use realtime_core::ErrorCode;
pub use reply::{ErrorBody, MessageData, ServerFrame};
pub use request::{DecodeError, Op, Request};
