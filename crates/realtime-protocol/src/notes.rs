//! Notes pinned to map tiles: the arguments of `notes`, `note_create`, `note_edit` and
//! `note_delete`, their replies, and the `note` and `notes_revoked` pushes. The same shapes are
//! the bodies of the `/v1/notes` routes.

use serde::{Deserialize, Serialize};

use crate::request::Area;

/// Who sees a note, as written on the wire.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VisibilityName {
    /// Everyone, signed in or not.
    #[default]
    Public,
    /// Members of one group (`group`) and the author.
    Group,
    /// The author only.
    Private,
}

/// `note_create`, and the body of `POST /v1/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNoteArgs {
    pub x: u32,
    pub y: u32,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub visibility: VisibilityName,
    /// For `group` visibility: a group kind (`guild`: the author's guild) or `KIND:ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Seconds until the note leaves the map by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
}

/// `note_edit` (with `note`, the note's id), and the body of `PATCH /v1/notes/{id}`: absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A new expiry, in seconds from now; 0 removes the expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotesArgs {
    pub(crate) area: Area,
    /// The `next` of the previous page.
    #[serde(default)]
    pub(crate) before: Option<u64>,
    #[serde(default)]
    pub(crate) limit: Option<u32>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteEditArgs {
    /// The note's id (`id` is the request's).
    pub(crate) note: u64,
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// A new expiry, in seconds from now; 0 removes the expiry.
    #[serde(default)]
    pub(crate) expires_in_secs: Option<u64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteIdArgs {
    /// The note's id (`id` is the request's).
    pub(crate) note: u64,
}

/// A note as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NoteData {
    pub id: u64,
    pub author: String,
    pub x: u32,
    pub y: u32,
    pub title: String,
    pub body: String,
    pub visibility: VisibilityName,
    /// `KIND:ID` of a group note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The note clock at its last change.
    pub rev: u64,
}

/// Reply to `notes`, and body of `GET /v1/notes`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotesPage {
    pub notes: Vec<NoteData>,
    /// Pass as `before` for the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
    /// The note clock when the page was read: resume from it with `sync`.
    pub rev: u64,
}

/// Reply to `note_create` and `note_edit`, and body of their routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NoteOk {
    pub note: NoteData,
}

/// Reply to `note_delete`, and body of `DELETE /v1/notes/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NoteDeleted {
    pub id: u64,
    pub rev: u64,
}

/// What happened to a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteEventKind {
    Created,
    Edited,
    Deleted,
    Expired,
    /// Removed by a moderator.
    Removed,
}

/// `note`: a note inside the watched area changed. `note` is absent when it was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NoteEvent {
    pub event: NoteEventKind,
    pub id: u64,
    pub x: u32,
    pub y: u32,
    pub rev: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<NoteData>,
}

/// `notes_revoked`: the address left `group` on chain; drop that group's notes (the author's
/// own stay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotesRevoked {
    pub group: String,
    pub reason: String,
}
