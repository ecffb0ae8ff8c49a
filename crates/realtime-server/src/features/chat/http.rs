//! `/v1/channels/{channel}/messages` with a Bearer token: `GET` reads the same pages as the
//! WebSocket `history` op (for clients that load history before connecting), `POST` publishes
//! as the `publish` op does (for bots, servers and clients whose socket is down), through the
//! same checks and the same group commit, answering once the message is stored.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use realtime_core::ErrorCode;
use realtime_protocol::reply::{HistoryPage, PublishOk};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::chat;
use crate::features::{channel_in_path, identity};
use crate::publisher::{Job, Reply};
use crate::rate::Limit;
use crate::state::App;
use crate::web::ApiError;

/// The query of `GET /v1/channels/{channel}/messages`: the `history` op's bounds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Only messages below this seq (exclusive): walk backwards with a page's first seq.
    before: Option<u64>,
    /// Only messages above this seq (exclusive): walk forwards with a page's last seq.
    after: Option<u64>,
    /// Messages per page, 1 to 100 (default 50).
    limit: Option<u32>,
}

pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    Path(channel): Path<String>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let identity = identity(&app, &headers)?;
    let who = identity.address;
    let channel = app.world.permissions.canonical(channel_in_path(&channel)?);
    super::may_read(&app, Some(&identity), &channel)?;
    let Query(params) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    app.delivery.rate_limits.take(Limit::Read, who).await?;
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

/// The body of `POST /v1/channels/{channel}/messages`: the `publish` op's arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// The text, at most `limits.max_message_chars` characters.
    body: String,
    /// Chosen by the client, unique per message: a retry with the same id and body is
    /// stored once.
    client_msg_id: String,
}

pub async fn publish(
    State(app): State<App>,
    headers: HeaderMap,
    Path(channel): Path<String>,
    body: Result<Json<NewMessage>, JsonRejection>,
) -> Result<Json<PublishOk>, ApiError> {
    let identity = identity(&app, &headers)?;
    let sender = identity.address;
    let channel = app.world.permissions.canonical(channel_in_path(&channel)?);
    let Json(new) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let text = match super::admit(
        &app,
        Some(&identity),
        sender,
        &channel,
        &new.body,
        &new.client_msg_id,
    )
    .await?
    {
        super::Admitted::Publish(text) => text,
        super::Admitted::Held(ok) => return Ok(Json(ok)),
    };
    let (tx, rx) = oneshot::channel();
    app.delivery
        .publisher
        .submit(Job {
            channel,
            sender,
            body: text,
            client_msg_id: new.client_msg_id,
            reply: Reply::Waiting(tx),
        })
        .await;
    let outcome = rx
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "the server is shutting down"))?;
    Ok(Json(outcome?))
}
