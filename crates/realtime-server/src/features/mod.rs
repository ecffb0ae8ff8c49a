//! The user-facing features, each a module that owns its WebSocket ops, its HTTP routes,
//! its per-connection state, its checks and its storage calls. The session core hands each
//! op to the feature that registered it (see [`crate::session::Feature`]).
//!
//! - [`chat`]: channels: subscribe with recovery, unsubscribe, publish, history.
//! - [`map`]: on-chain updates for a watched map area or the address's own entities.
//! - [`typing`]: ephemeral typing notices on a channel.

pub mod chat;
pub mod map;
pub mod typing;

use std::sync::Arc;

use crate::session::Features;

/// Every feature of this server: the one registration point.
pub fn all() -> Features {
    Features::new(vec![
        Arc::new(chat::Chat),
        Arc::new(map::MapFeed),
        Arc::new(typing::TypingNotices),
    ])
}
