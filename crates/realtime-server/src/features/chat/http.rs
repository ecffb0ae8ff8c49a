//! `GET /v1/channels/{channel}/messages?before=&after=&limit=` with a Bearer token: the same
//! pages as the WebSocket `history` op, for clients that load history before connecting.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use realtime_core::{ChannelName, ErrorCode};
use realtime_protocol::reply::HistoryPage;
use serde::Deserialize;

use crate::chat;
use crate::rate::Limit;
use crate::state::App;
use crate::web::ApiError;
use realtime_core::policy::Action;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<u32>,
}

pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    Path(channel): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let token = crate::web::bearer_token(&headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "send Authorization: Bearer <session token>",
        )
    })?;
    let identity = app
        .identity
        .tokens
        .verify(&token)
        .map_err(|e| ApiError::new(e.code, e.message))?;
    let channel = ChannelName::new(&channel).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidChannel,
            format!("invalid channel {channel:?}: {e}"),
        )
    })?;
    let channel = app.world.permissions.canonical(channel);
    app.world
        .permissions
        .check(Some(identity.address), &channel, Action::Read)?;
    let Query(params) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    app.delivery
        .rate_limits
        .take(Limit::Read, identity.address)
        .await?;
    let page = chat::history(
        &app.storage.store,
        &app.config.limits,
        &channel,
        params.before,
        params.after,
        params.limit,
    )
    .await?;
    Ok(Json(page))
}
