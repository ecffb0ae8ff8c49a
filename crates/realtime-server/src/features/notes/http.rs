//! `/v1/notes`: `GET ?min_x=&min_y=&max_x=&max_y=&before=&limit=` (a Bearer token is
//! optional: without one, public notes only), `POST` to pin, and `PATCH` / `DELETE
//! /v1/notes/{id}` for the author, with the socket ops' checks and codes.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use realtime_core::ErrorCode;
use realtime_protocol::notes::{NewNoteArgs, NoteChanges, NoteDeleted, NoteOk, NotesPage};
use realtime_protocol::request::Area;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::features::signed_in;
use crate::state::App;
use crate::web::ApiError;

/// The query of `GET /v1/notes`: the `notes` op's area and page.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The area's west edge (inclusive).
    min_x: u32,
    /// The area's south edge (inclusive).
    min_y: u32,
    /// The area's east edge (inclusive), at least `min_x`.
    max_x: u32,
    /// The area's north edge (inclusive), at least `min_y`.
    max_y: u32,
    /// The `next` of the previous page.
    before: Option<u64>,
    /// Notes per page, 1 to 100 (default 50).
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

/// The note id of the path; a rejection answers the JSON error body like every other one.
fn note_id(path: Result<Path<u64>, PathRejection>) -> Result<u64, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|e| bad_request(e.body_text()))
}

pub async fn edit(
    State(app): State<App>,
    headers: HeaderMap,
    id: Result<Path<u64>, PathRejection>,
    body: Result<Json<NoteChanges>, JsonRejection>,
) -> Result<Json<NoteOk>, ApiError> {
    let who = signed_in(&app, &headers)?;
    let id = note_id(id)?;
    let Json(changes) = body.map_err(|e| bad_request(e.body_text()))?;
    Ok(Json(super::edit(&app, who, id, changes).await?))
}

pub async fn delete(
    State(app): State<App>,
    headers: HeaderMap,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<NoteDeleted>, ApiError> {
    let who = signed_in(&app, &headers)?;
    let id = note_id(id)?;
    Ok(Json(super::delete(&app, who, id).await?))
}
