//! Moderator actions on players and what they wrote: ban and unban, mute and unmute,
//! revoke a session, remove a message or a note. Each is stored with its audit entry in
//! one transaction, applied on this instance, and carried to the others
//! ([`super::control`]).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use realtime_core::time::now_ms;
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::moderation::{
    DoneOk, LiftArgs, LiftOk, MessageRemoved, RemoveMessageArgs, RemoveNoteArgs, RevokeArgs,
    SanctionArgs, SanctionView,
};
use realtime_protocol::reply::encode_channel_push;
use realtime_store::{Audit, NewSanction, SanctionKind};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::api::{body, moderator, reason, sanction_view, stored};
use super::control::{Control, apply_everywhere};
use crate::state::{App, AppState};
use crate::web::ApiError;

/// Longest `jti` accepted.
const MAX_JTI: usize = 256;
/// How long a revocation is kept, since the token's own expiry is not known here: at least
/// 30 days, and at least a session's lifetime (`[auth] session_ttl`).
const MIN_REVOCATION_MS: i64 = 30 * 86_400_000;

fn address(text: &str) -> Result<Address, ApiError> {
    text.parse()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("address {text:?}: {e}")))
}

fn channel(app: &AppState, name: &str) -> Result<ChannelName, ApiError> {
    Ok(app
        .world
        .permissions
        .canonical(crate::features::channel_in_path(name)?))
}

/// `"7d"` → the end of a sanction starting now; `None` → until lifted.
fn until(duration: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = duration else {
        return Ok(None);
    };
    let d = realtime_core::duration::parse(text)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("duration: {e}")))?;
    if d.is_zero() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "duration: leave it out for a sanction until lifted",
        ));
    }
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Ok(Some(now_ms().saturating_add(ms)))
}

fn detail(pairs: &[(&str, Option<&str>)]) -> Option<String> {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), serde_json::Value::from(v))))
        .collect();
    (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string())
}

/// Records a ban or mute with its audit entry.
async fn sanction(
    app: &App,
    headers: &HeaderMap,
    args: SanctionArgs,
    kind: SanctionKind,
) -> Result<SanctionView, ApiError> {
    let actor = moderator(app, headers)?.address.to_string();
    let who = address(&args.address)?;
    let why = reason(&args.reason)?;
    let channel = match (&args.channel, kind) {
        (Some(_), SanctionKind::Ban) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "a ban holds everywhere; mute for one channel",
            ));
        }
        (Some(name), SanctionKind::Mute) => Some(channel(app, name)?.to_string()),
        (None, _) => None,
    };
    let until_ms = until(args.duration.as_deref())?;
    let target = who.to_string();
    let detail = detail(&[
        ("duration", args.duration.as_deref()),
        ("channel", channel.as_deref()),
    ]);
    let stored_sanction = app
        .storage
        .store
        .add_sanction(
            NewSanction {
                address: who,
                kind,
                channel: channel.as_deref(),
                until_ms,
            },
            &Audit {
                actor: &actor,
                action: kind.as_str(),
                target: &target,
                reason: why,
                detail: detail.as_deref(),
                at_ms: now_ms(),
            },
        )
        .await
        .map_err(|e| stored(&e))?;
    tracing::info!(moderator = %actor, address = %who, kind = kind.as_str(), "sanction");
    let control = match kind {
        SanctionKind::Ban => Control::Ban {
            address: who,
            reason: why.to_owned(),
        },
        SanctionKind::Mute => Control::Reload,
    };
    apply_everywhere(app, control).await;
    Ok(sanction_view(&stored_sanction))
}

/// Lifts bans or mutes with the audit entry.
async fn lift(
    app: &App,
    headers: &HeaderMap,
    args: LiftArgs,
    kind: SanctionKind,
) -> Result<LiftOk, ApiError> {
    let actor = moderator(app, headers)?.address.to_string();
    let who = address(&args.address)?;
    let why = reason(&args.reason)?;
    let channel = match (&args.channel, kind) {
        (Some(_), SanctionKind::Ban) => {
            return Err(ApiError::new(ErrorCode::BadRequest, "a ban has no channel"));
        }
        (Some(name), SanctionKind::Mute) => Some(channel(app, name)?.to_string()),
        (None, _) => None,
    };
    let action = match kind {
        SanctionKind::Ban => "unban",
        SanctionKind::Mute => "unmute",
    };
    let target = who.to_string();
    let detail = detail(&[("channel", channel.as_deref())]);
    let lifted = app
        .storage
        .store
        .lift_sanctions(
            who,
            kind,
            channel.as_deref(),
            &Audit {
                actor: &actor,
                action,
                target: &target,
                reason: why,
                detail: detail.as_deref(),
                at_ms: now_ms(),
            },
        )
        .await
        .map_err(|e| stored(&e))?;
    tracing::info!(moderator = %actor, address = %who, action, lifted, "sanction lifted");
    apply_everywhere(app, Control::Reload).await;
    Ok(LiftOk { lifted })
}

/// `POST /v1/moderation/bans`.
pub async fn ban(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<SanctionArgs>, JsonRejection>,
) -> Result<Json<SanctionView>, ApiError> {
    Ok(Json(
        sanction(&app, &headers, body(args)?, SanctionKind::Ban).await?,
    ))
}

/// `POST /v1/moderation/mutes`.
pub async fn mute(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<SanctionArgs>, JsonRejection>,
) -> Result<Json<SanctionView>, ApiError> {
    Ok(Json(
        sanction(&app, &headers, body(args)?, SanctionKind::Mute).await?,
    ))
}

/// `POST /v1/moderation/unbans`.
pub async fn unban(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<LiftArgs>, JsonRejection>,
) -> Result<Json<LiftOk>, ApiError> {
    Ok(Json(
        lift(&app, &headers, body(args)?, SanctionKind::Ban).await?,
    ))
}

/// `POST /v1/moderation/unmutes`.
pub async fn unmute(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<LiftArgs>, JsonRejection>,
) -> Result<Json<LiftOk>, ApiError> {
    Ok(Json(
        lift(&app, &headers, body(args)?, SanctionKind::Mute).await?,
    ))
}

/// `POST /v1/moderation/revocations`: one session, by its token's `jti`.
pub async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<RevokeArgs>, JsonRejection>,
) -> Result<Json<DoneOk>, ApiError> {
    let actor = moderator(&app, &headers)?.address.to_string();
    let args = body(args)?;
    let why = reason(&args.reason)?;
    let jti = args.jti.trim();
    if jti.is_empty() || jti.len() > MAX_JTI {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("jti: 1 to {MAX_JTI} characters"),
        ));
    }
    let ttl = i64::try_from(app.config.auth.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms();
    let target = format!("jti:{jti}");
    app.storage
        .store
        .revoke_token(
            jti,
            None,
            now.saturating_add(ttl.max(MIN_REVOCATION_MS)),
            &Audit {
                actor: &actor,
                action: "revoke_session",
                target: &target,
                reason: why,
                detail: None,
                at_ms: now,
            },
        )
        .await
        .map_err(|e| stored(&e))?;
    tracing::info!(moderator = %actor, "session revoked");
    apply_everywhere(
        &app,
        Control::Revoke {
            jti: jti.to_owned(),
        },
    )
    .await;
    Ok(Json(DoneOk { done: true }))
}

/// Removes message `seq` of `channel` and pushes the tombstone to its subscribers on
/// every instance; `false` when there was nothing to remove.
pub(super) async fn remove_message(
    app: &AppState,
    actor: &str,
    channel: &ChannelName,
    seq: u64,
    why: &str,
) -> Result<bool, ApiError> {
    let target = format!("{channel}#{seq}");
    let removed = app
        .storage
        .store
        .remove_message(
            channel,
            seq,
            &Audit {
                actor,
                action: "remove_message",
                target: &target,
                reason: why,
                detail: None,
                at_ms: now_ms(),
            },
        )
        .await
        .map_err(|e| stored(&e))?;
    let Some(message) = removed else {
        return Ok(false);
    };
    tracing::info!(moderator = %actor, %channel, seq, sender = %message.sender, "message removed");
    let frame = encode_channel_push("message_removed", channel.as_str(), &MessageRemoved { seq });
    app.delivery
        .broker
        .signal(channel.as_str(), bytes::Bytes::from(frame.clone()));
    app.delivery
        .hub
        .signal(channel, Utf8Bytes::from(frame), None);
    Ok(true)
}

/// Removes note `id` and tells its watchers on every instance.
pub(super) async fn remove_note(
    app: &AppState,
    actor: &str,
    id: u64,
    why: &str,
) -> Result<bool, ApiError> {
    let target = format!("note:{id}");
    let removed = app
        .storage
        .store
        .remove_note(
            id,
            &Audit {
                actor,
                action: "remove_note",
                target: &target,
                reason: why,
                detail: None,
                at_ms: now_ms(),
            },
        )
        .await
        .map_err(|e| stored(&e))?;
    if removed.is_none() {
        return Ok(false);
    }
    tracing::info!(moderator = %actor, note = id, "note removed");
    apply_everywhere(app, Control::NoteRemoved { id }).await;
    Ok(true)
}

fn nothing_there() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "nothing to remove there (already removed?)",
    )
}

/// `POST /v1/moderation/messages/remove`.
pub async fn remove_message_route(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<RemoveMessageArgs>, JsonRejection>,
) -> Result<Json<DoneOk>, ApiError> {
    let actor = moderator(&app, &headers)?.address.to_string();
    let args = body(args)?;
    let why = reason(&args.reason)?;
    let channel = channel(&app, &args.channel)?;
    if !remove_message(&app, &actor, &channel, args.seq, why).await? {
        return Err(nothing_there());
    }
    Ok(Json(DoneOk { done: true }))
}

/// `POST /v1/moderation/notes/remove`.
pub async fn remove_note_route(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<RemoveNoteArgs>, JsonRejection>,
) -> Result<Json<DoneOk>, ApiError> {
    let actor = moderator(&app, &headers)?.address.to_string();
    let args = body(args)?;
    let why = reason(&args.reason)?;
    if !remove_note(&app, &actor, args.id, why).await? {
        return Err(nothing_there());
    }
    Ok(Json(DoneOk { done: true }))
}
