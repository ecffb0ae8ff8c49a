//! The moderators' HTTP API under `/v1/moderation/`, and players' `POST /v1/reports`. Every
//! moderator route needs a moderator's token (`AppState::is_moderator`); every action
//! gives a reason, which the audit log keeps with who did it and when.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use realtime_auth::Identity;
use realtime_core::ErrorCode;
use realtime_core::time::rfc3339_ms;
use realtime_protocol::ErrorBody;
use realtime_protocol::moderation::{
    AuditPage, AuditView, ReportArgs, ReportOk, SanctionList, SanctionView,
};
use realtime_store::Sanction;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::chat::store_error;
use crate::features::identity;
use crate::state::App;
use crate::web::ApiError;

/// Most characters of the reason an action gives.
pub const MAX_REASON_CHARS: usize = 500;
/// Entries per page of the audit log and the queue when the request names no limit, and
/// the most a page holds.
pub const PAGE_DEFAULT: u32 = 50;
pub const PAGE_MAX: u32 = 200;

/// The moderators' routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/moderation/jobs", get(super::queue::list))
        .route("/v1/moderation/jobs/{id}", get(super::queue::show))
        .route(
            "/v1/moderation/jobs/{id}/resolve",
            post(super::queue::resolve),
        )
        .route(
            "/v1/moderation/jobs/{id}/dismiss",
            post(super::queue::dismiss),
        )
        .route("/v1/moderation/bans", post(super::actions::ban))
        .route("/v1/moderation/unbans", post(super::actions::unban))
        .route("/v1/moderation/mutes", post(super::actions::mute))
        .route("/v1/moderation/unmutes", post(super::actions::unmute))
        .route("/v1/moderation/revocations", post(super::actions::revoke))
        .route(
            "/v1/moderation/messages/remove",
            post(super::actions::remove_message_route),
        )
        .route(
            "/v1/moderation/notes/remove",
            post(super::actions::remove_note_route),
        )
        .route("/v1/moderation/sanctions", get(sanctions))
        .route("/v1/moderation/audit", get(audit))
}

/// The identity of a request carrying a moderator's token, or the refusal.
pub(super) fn moderator(app: &App, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let identity = identity(app, headers)?;
    if !app.is_moderator(&identity) {
        tracing::info!(address = %identity.address, "moderation API refused: not a moderator");
        return Err(ApiError::new(ErrorCode::Forbidden, "moderators only"));
    }
    Ok(identity)
}

/// A JSON body, or `bad_request` saying what is wrong with it.
pub(super) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))
}

/// Checks the reason an action gives.
pub(super) fn reason(text: &str) -> Result<&str, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("give a reason of 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(text)
}

/// A page size from a query.
pub(super) fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(PAGE_DEFAULT) {
        n @ 1..=PAGE_MAX => Ok(n),
        _ => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("limit must be between 1 and {PAGE_MAX}"),
        )),
    }
}

pub(super) fn stored(e: &realtime_store::StoreError) -> ApiError {
    ApiError(store_error(e))
}

/// `POST /v1/reports`: a player's report, as the `report` op.
pub async fn report(
    State(app): State<App>,
    headers: HeaderMap,
    args: Result<Json<ReportArgs>, JsonRejection>,
) -> Result<Json<ReportOk>, ApiError> {
    let who = identity(&app, &headers)?.address;
    let args = body(args)?;
    if args.message.is_some() == args.note.is_some() {
        return Err(ApiError(ErrorBody::new(
            ErrorCode::BadRequest,
            "report names exactly one of message and note",
        )));
    }
    Ok(Json(super::report(&app, who, args).await?))
}

pub(super) fn sanction_view(s: &Sanction) -> SanctionView {
    SanctionView {
        id: s.id,
        address: s.address.to_string(),
        kind: s.kind.as_str().into(),
        channel: s.channel.clone(),
        reason: s.reason.clone(),
        by: s.created_by.clone(),
        at: rfc3339_ms(s.created_at_ms),
        until: s.until_ms.map(rfc3339_ms),
    }
}

/// `GET /v1/moderation/sanctions`: bans and mutes in force.
async fn sanctions(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<SanctionList>, ApiError> {
    moderator(&app, &headers)?;
    let list = app
        .storage
        .store
        .live_sanctions(realtime_core::time::now_ms())
        .await
        .map_err(|e| stored(&e))?;
    Ok(Json(SanctionList {
        sanctions: list.iter().map(sanction_view).collect(),
    }))
}

/// The query of `GET /v1/moderation/audit`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The `next` of the previous page: entries older than this id.
    before: Option<u64>,
    /// Entries per page, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// `GET /v1/moderation/audit?before=&limit=`: the audit log, newest first.
async fn audit(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    moderator(&app, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let limit = page_size(q.limit)?;
    let entries = app
        .storage
        .store
        .audit_log(q.before, limit)
        .await
        .map_err(|e| stored(&e))?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage {
        entries: entries
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: rfc3339_ms(e.at_ms),
                actor: e.actor,
                action: e.action,
                target: e.target,
                reason: e.reason,
                detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
            })
            .collect(),
        next,
    }))
}
