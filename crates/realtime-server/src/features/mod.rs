//! The user-facing features, each a module that owns its WebSocket ops, its HTTP routes,
//! its per-connection state, its checks and its storage calls. The session core hands each
//! op to the feature that registered it (see [`crate::session::Feature`]).
//!
//! - [`chat`]: channels: subscribe with recovery, unsubscribe, publish, history.
//! - [`map`]: on-chain updates for a watched map area or the address's own entities.
//! - [`typing`]: ephemeral typing notices on a channel.
//! - [`dm`]: the direct-message thread list and blocks.
//! - [`reads`]: read positions, read receipts and unread counts.
//! - [`notes`]: notes pinned to map tiles, their queries and their expiry.
//! - [`presence`]: who is present in a channel or thread, and its changes.
//! - [`sync`]: what a client missed, in one round trip.
//! - [`me`]: who the session is, as on-chain state sees it.
//! - [`moderation`]: players' reports, the moderators' API and review queue, and moderator
//!   actions carried to every instance.

pub mod chat;
pub mod dm;
pub mod map;
pub mod me;
pub mod moderation;
pub mod notes;
pub mod presence;
pub mod reads;
pub mod sync;
pub mod typing;

use std::sync::Arc;

use axum::http::HeaderMap;
use realtime_auth::Identity;
use realtime_core::{Address, ChannelName, ErrorCode};

use crate::session::Features;
use crate::state::AppState;
use crate::web::ApiError;

/// The address an HTTP request is signed in as, from its `Authorization: Bearer` token.
pub(crate) fn signed_in(app: &AppState, headers: &HeaderMap) -> Result<Address, ApiError> {
    identity(app, headers).map(|i| i.address)
}

/// The identity of an HTTP request's `Authorization: Bearer` token: refused when the token
/// is not valid, its session was revoked, or its address is banned.
pub(crate) fn identity(app: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let token = crate::web::bearer_token(headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "send Authorization: Bearer <session token>",
        )
    })?;
    Ok(app.verify(&token)?)
}

/// A channel named in a URL path.
pub(crate) fn channel_in_path(name: &str) -> Result<ChannelName, ApiError> {
    ChannelName::new(name).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidChannel,
            format!("invalid channel {name:?}: {e}"),
        )
    })
}

/// Every feature of this server: the one registration point.
pub fn all() -> Features {
    Features::new(vec![
        Arc::new(chat::Chat),
        Arc::new(map::MapFeed),
        Arc::new(typing::TypingNotices),
        Arc::new(dm::DirectMessages),
        Arc::new(reads::ReadState),
        Arc::new(notes::Notes),
        Arc::new(presence::PresenceFeature),
        Arc::new(sync::Sync),
        Arc::new(me::Me),
        Arc::new(moderation::Moderation),
    ])
}
