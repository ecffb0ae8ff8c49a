//! Domain of torii-realtime, free of IO so every rule can be unit tested and shared by the
//! server, the clients and the benchmark.
//!
//! - [`address`]: Starknet addresses (felts) and their one canonical spelling.
//! - [`channel`]: channel names and their grammar.
//! - [`dm`]: direct-message threads (a channel per pair of addresses) and who may start one.
//! - [`text`]: what a message body may contain, after Unicode normalisation.
//! - [`message`]: a stored chat message as every layer sees it.
//! - [`error`]: the closed set of error codes clients program against.
//! - [`hex`]: the hex map's tiles, distance and viewports.
//! - [`notes`]: notes pinned to tiles: the pin rule and who sees a note.
//! - [`moderation`]: content rules (word lists, expressions, links, profanity) and their
//!   verdicts: reject, mask or hold for review.
//! - [`policy`]: who may read or post on a channel, over what a world view answers.
//! - [`rate`]: token-bucket maths for per-connection publish limits.
//! - [`time`]: millisecond timestamps and their RFC 3339 spelling.
//! - [`duration`]: durations as operators write them in config (`25s`, `500ms`, `2m`).

pub mod address;
pub mod channel;
pub mod dm;
pub mod duration;
pub mod error;
pub mod hex;
pub mod message;
pub mod moderation;
pub mod notes;
pub mod policy;
pub mod rate;
pub mod setting;
pub mod text;
pub mod time;

pub use address::{Address, AddressError, FeltError, parse_felt};
pub use channel::{ChannelName, ChannelNameError};
pub use error::ErrorCode;
pub use message::Message;
pub use rate::TokenBucket;
pub use text::{ClientMsgIdError, TextError, TextLimits};
