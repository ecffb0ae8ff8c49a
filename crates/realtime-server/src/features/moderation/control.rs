//! Moderator actions reach every instance at once: the instance that acts applies the
//! action to its own sockets and state, and sends a control notice on the bus
//! ([`crate::hub::CONTROL_CHANNEL`]); each other instance re-reads what is in force from
//! storage, then applies it. A lost notice is caught up by the periodic re-read
//! ([`reload_loop`]), so a ban holds everywhere within `[moderation] reload_interval` at
//! worst, even while the bus is down; open sockets of a banned address on an instance that
//! missed the notice are closed by that re-read too.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use realtime_core::Address;
use realtime_protocol::CloseCode;
use realtime_protocol::notes::NoteEventKind;
use realtime_protocol::reply::encode_push;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::hub::CONTROL_CHANNEL;
use crate::state::{App, AppState};

/// What an instance tells the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Control {
    /// Sanctions changed (mute, unmute, unban): re-read them.
    Reload,
    /// `address` was banned: re-read, then close its sockets.
    Ban { address: Address, reason: String },
    /// Session `jti` was revoked: re-read, then close the sockets signed in with it.
    Revoke { jti: String },
    /// A moderator removed note `id`: tell its watchers.
    NoteRemoved { id: u64 },
}

/// The push a closed session gets before its close frame.
#[derive(Debug, Serialize)]
struct Closing<'a> {
    message: &'a str,
}

/// Applies `control` on this instance, then tells the other instances.
pub async fn apply_everywhere(app: &AppState, control: Control) {
    apply(app, &control).await;
    match serde_json::to_vec(&control) {
        Ok(frame) => app
            .delivery
            .broker
            .signal(CONTROL_CHANNEL, Bytes::from(frame)),
        Err(e) => tracing::error!(error = %e, "cannot encode a control notice"),
    }
}

/// Re-reads what is in force, then closes what the notice says to close.
async fn apply(app: &AppState, control: &Control) {
    if let Err(e) = app.moderation.standing.reload(&app.storage.store).await {
        tracing::warn!(error = %e, "cannot re-read sanctions; the periodic re-read will");
    }
    match control {
        Control::Reload => {}
        Control::Ban { address, reason } => {
            let message = format!("this address is banned: {reason}");
            let frame = Utf8Bytes::from(encode_push("banned", &Closing { message: &message }));
            let closed = app
                .conns
                .registry
                .close(*address, &frame, CloseCode::Banned);
            tracing::info!(%address, closed, "banned address disconnected");
        }
        Control::Revoke { jti } => {
            let closed =
                app.conns
                    .registry
                    .close_token(jti, &revoked_frame(), CloseCode::Unauthorized);
            tracing::info!(closed, "revoked session disconnected");
        }
        Control::NoteRemoved { id } => match app.storage.store.note(*id).await {
            Ok(Some(note)) => {
                crate::features::notes::announce(app, &note, NoteEventKind::Removed);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, note = id, "cannot read a removed note"),
        },
    }
}

fn revoked_frame() -> Utf8Bytes {
    Utf8Bytes::from(encode_push(
        "session_revoked",
        &Closing {
            message: "this session was revoked; sign in again",
        },
    ))
}

/// Handles a control notice from another instance (the hub's control handler).
pub fn on_control(app: &Weak<AppState>, frame: Bytes) {
    let Some(app) = app.upgrade() else {
        return;
    };
    let control: Control = match serde_json::from_slice(&frame) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable control notice; ignored");
            return;
        }
    };
    tokio::spawn(async move { apply(&app, &control).await });
}

/// Subscribes this instance to control notices.
pub async fn subscribe_control(app: &App) {
    let weak = Arc::downgrade(app);
    app.delivery
        .hub
        .set_control(move |frame| on_control(&weak, frame));
    if let Err(e) = app.delivery.broker.subscribe(CONTROL_CHANNEL).await {
        tracing::warn!(error = %e, "control notices not confirmed yet; the periodic re-read covers them");
    }
}

/// Re-reads what is in force every `[moderation] reload_interval` until shutdown, and
/// closes the sockets of addresses banned and of sessions revoked meanwhile (in case their
/// notice was lost).
pub async fn reload_loop(app: App) {
    let mut tick = tokio::time::interval(app.config.moderation.reload_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = app.shutdown.cancelled() => return,
        }
        if let Err(e) = app.moderation.standing.reload(&app.storage.store).await {
            tracing::warn!(error = %e, "cannot re-read sanctions; retrying");
            continue;
        }
        for (address, _) in app.conns.registry.connections() {
            if let Err(refusal) = app.moderation.standing.check_ban(address) {
                let frame = Utf8Bytes::from(encode_push(
                    "banned",
                    &Closing {
                        message: &refusal.message,
                    },
                ));
                app.conns.registry.close(address, &frame, CloseCode::Banned);
            }
        }
        let standing = &app.moderation.standing;
        app.conns.registry.close_revoked(
            |jti| standing.is_revoked(jti),
            &revoked_frame(),
            CloseCode::Unauthorized,
        );
    }
}
