//! `/v1/notes`: `GET ?min_x=&min_y=&max_x=&max_y=&before=&limit=` (a Bearer token is
//! optional: without one, public notes only), `POST` to pin, and `PATCH` / `DELETE
//! /v1/notes/{id}` for the author, with the socket ops' checks and codes.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use realtime_core::ErrorCode;
use realtime_protocol::notes::{NewNoteArgs, NoteChanges, NoteDeleted, NoteOk, NotesPage};
use realtime_protocol::request::Area;
use serde::Deserialize;

use crate::features::signed_in;
use crate::state::App;
use crate::web::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    min_x: u32,
    min_y: u32,
    max_x: u32,
    max_y: u32,
    before: Option<u64>,
    limit: Option<u32>,
}

fn bad_request(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, e.to_string())
}

pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<NotesPage>, ApiError> {
    let viewer = match crate::web::bearer_token(&headers) {
        Some(_) => Some(signed_in(&app, &headers)?),
        None => None,
    };
    let Query(q) = query.map_err(|e| bad_request(e.body_text()))?;
    if q.min_x > q.max_x || q.min_y > q.max_y {
        return Err(bad_request("min_x <= max_x and min_y <= max_y"));
    }
    let area = Area {
        min_x: q.min_x,
        min_y: q.min_y,
        max_x: q.max_x,
        max_y: q.max_y,
    };
    Ok(Json(
        super::query(&app, viewer, area, q.before, q.limit).await?,
    ))
}

pub async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Json<NewNoteArgs>, JsonRejection>,
) -> Result<Json<NoteOk>, ApiError> {
    let who = signed_in(&app, &headers)?;
    let Json(args) = body.map_err(|e| bad_request(e.body_text()))?;
    Ok(Json(super::create(&app, who, args).await?))
}

pub async fn edit(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    body: Result<Json<NoteChanges>, JsonRejection>,
) -> Result<Json<NoteOk>, ApiError> {
    let who = signed_in(&app, &headers)?;
    let Json(changes) = body.map_err(|e| bad_request(e.body_text()))?;
    Ok(Json(super::edit(&app, who, id, changes).await?))
}

pub async fn delete(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<NoteDeleted>, ApiError> {
    let who = signed_in(&app, &headers)?;
    Ok(Json(super::delete(&app, who, id).await?))
}
