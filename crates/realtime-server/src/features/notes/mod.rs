//! Notes pinned to map tiles: `notes` (a page of a tile rectangle), `note_create`,
//! `note_edit`, `note_delete`, over WebSocket and HTTP (`http`), and the expiry sweep
//! (`expiry`). Every change is pushed as a `note` event to the connections watching the
//! tile that may see the note (see [`crate::feed`]).
//!
//! Who may pin where is the world's `[notes] pin` rule; who sees a note is its visibility,
//! fixed at creation (see [`realtime_core::notes`]).

pub mod expiry;
pub(crate) mod http;

use axum::Router;
use axum::routing::{get, patch};
use realtime_core::hex::Tile;
use realtime_core::notes::Visibility;
use realtime_core::text::{self, TextError, TextLimits};
use realtime_core::time::{now_ms, rfc3339_ms};
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::notes::{
    NewNoteArgs, NoteChanges, NoteData, NoteDeleted, NoteEvent, NoteEventKind, NoteOk, NotesPage,
    VisibilityName,
};
use realtime_protocol::reply::encode_push;
use realtime_protocol::request::Area;
use realtime_protocol::{ErrorBody, Op};
use realtime_store::{NewNote, Note, NoteEdit, Reader};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::chat::store_error;
use crate::moderation::Screened;
use crate::rate::Limit;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Stateless, not_registered};
use crate::state::{App, AppState};
use realtime_core::moderation::Place;

/// Notes per page when the request names no limit.
pub const NOTES_DEFAULT_LIMIT: u32 = 50;
/// Most notes per page.
pub const NOTES_MAX_LIMIT: u32 = 100;

/// The notes feature.
#[derive(Debug, Default)]
pub struct Notes;

impl Feature for Notes {
    fn name(&self) -> &'static str {
        "notes"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["notes", "note_create", "note_edit", "note_delete"]
    }

    fn routes(&self) -> Router<App> {
        Router::new()
            .route("/v1/notes", get(http::list).post(http::create))
            .route("/v1/notes/{id}", patch(http::edit).delete(http::delete))
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

/// Answers one op; nothing is kept on the connection.
fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let app: &AppState = conn.app;
        let who = conn.signed_in()?;
        match op {
            Op::Notes {
                area,
                before,
                limit,
            } => conn.reply_ok(id, &query(app, Some(who), area, before, limit).await?),
            Op::NoteCreate(args) => conn.reply_ok(id, &create(app, who, args).await?),
            Op::NoteEdit { note, changes } => {
                conn.reply_ok(id, &edit(app, who, note, changes).await?);
            }
            Op::NoteDelete { note } => conn.reply_ok(id, &delete(app, who, note).await?),
            other => return Err(not_registered("notes", &other)),
        }
        Ok(())
    })
}

fn enabled(app: &AppState) -> Result<(), ErrorBody> {
    if app.config.notes.enabled {
        Ok(())
    } else {
        Err(ErrorBody::new(
            ErrorCode::NotFound,
            "notes are turned off on this server",
        ))
    }
}

/// The client view of a stored note.
pub fn note_data(n: &Note) -> NoteData {
    let (visibility, group) = match &n.visibility {
        Visibility::Public => (VisibilityName::Public, None),
        Visibility::Group { .. } => (VisibilityName::Group, n.visibility.group_key()),
        Visibility::Private => (VisibilityName::Private, None),
    };
    NoteData {
        id: n.id,
        author: n.author.to_string(),
        x: n.tile.x,
        y: n.tile.y,
        title: n.title.clone(),
        body: n.body.clone(),
        visibility,
        group,
        created_at: rfc3339_ms(n.created_at_ms),
        updated_at: rfc3339_ms(n.updated_at_ms),
        expires_at: n.expires_at_ms.map(rfc3339_ms),
        rev: n.rev,
    }
}

/// The `note` event of a change, for the feed.
pub fn event(n: &Note, kind: NoteEventKind) -> NoteEvent {
    NoteEvent {
        event: kind,
        id: n.id,
        x: n.tile.x,
        y: n.tile.y,
        rev: n.rev,
        note: n.removed.is_none().then(|| note_data(n)),
    }
}

/// Pushes the change `kind` of `n` to the watchers of its tile that may see it.
pub fn announce(app: &AppState, n: &Note, kind: NoteEventKind) {
    let frame = Utf8Bytes::from(encode_push("note", &event(n, kind)));
    let permissions = &app.world.permissions;
    let sent = app.world.feed.route_note(n.tile, &frame, |viewer| {
        permissions.sees(&n.visibility, n.author, viewer)
    });
    crate::metrics::get().messages_out(crate::metrics::Feature::Note, sent as u64);
}

/// Who reads: the viewer and its groups now (none while on-chain state is unavailable).
pub fn reader(app: &AppState, viewer: Option<Address>) -> Reader {
    Reader {
        address: viewer,
        groups: viewer
            .map(|v| {
                app.world
                    .permissions
                    .groups_of(v)
                    .into_iter()
                    .map(|(kind, id)| format!("{kind}:{id}"))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// A page of the notes in `area` that `viewer` (`None`: not signed in) may see.
pub async fn query(
    app: &AppState,
    viewer: Option<Address>,
    area: Area,
    before: Option<u64>,
    limit: Option<u32>,
) -> Result<NotesPage, ErrorBody> {
    enabled(app)?;
    let rect = crate::feed::check_area(area, app.config.limits.max_watch_tiles)?;
    let limit = match limit {
        None => NOTES_DEFAULT_LIMIT,
        Some(n @ 1..=NOTES_MAX_LIMIT) => n,
        Some(_) => {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!("limit is between 1 and {NOTES_MAX_LIMIT}"),
            ));
        }
    };
    if let Some(who) = viewer {
        app.delivery.rate_limits.take(Limit::Read, who).await?;
    }
    let store = &app.storage.store;
    // Read first: a change after this revision is one the page may not show, and a client
    // resuming from it gets it.
    let rev = store.note_clock().await.map_err(|e| store_error(&e))?;
    let mut notes = store
        .notes_in(rect, &reader(app, viewer), now_ms(), before, limit + 1)
        .await
        .map_err(|e| store_error(&e))?;
    let more = notes.len() > limit as usize;
    notes.truncate(limit as usize);
    Ok(NotesPage {
        next: more.then(|| notes.last().map(|n| n.id)).flatten(),
        notes: notes.iter().map(note_data).collect(),
        rev,
    })
}

/// A title or body, normalised and within `max` characters.
fn checked_text(what: &str, text: &str, max: usize, required: bool) -> Result<String, ErrorBody> {
    if text.is_empty() && !required {
        return Ok(String::new());
    }
    text::validate_body(text, TextLimits { max_chars: max }).map_err(|e| {
        let code = match e {
            TextError::Empty => ErrorCode::EmptyMessage,
            TextError::TooLong { .. } => ErrorCode::MessageTooLong,
            TextError::ControlCharacter(_) => ErrorCode::InvalidText,
        };
        let message = match e {
            TextError::Empty => format!("a note's {what} is not empty"),
            TextError::TooLong { chars, max } => {
                format!("the {what} has {chars} characters; at most {max} are allowed")
            }
            other => format!("the {what}: {other}"),
        };
        ErrorBody::new(code, message)
    })
}

/// When a note asking to expire in `secs` expires, checked against `[notes]`.
fn expiry(app: &AppState, secs: u64, now: i64) -> Result<i64, ErrorBody> {
    let max = app.config.notes.max_expiry_secs;
    if secs == 0 || secs > max {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!("expires_in_secs is between 1 and {max}"),
        ));
    }
    Ok(now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)))
}

/// The visibility a new note asks for; a group is checked against the author's groups now.
fn visibility(
    app: &AppState,
    author: Address,
    asked: VisibilityName,
    group: Option<&str>,
) -> Result<Visibility, ErrorBody> {
    let bad = |m: String| ErrorBody::new(ErrorCode::BadRequest, m);
    match (asked, group) {
        (VisibilityName::Public, None) => return Ok(Visibility::Public),
        (VisibilityName::Private, None) => return Ok(Visibility::Private),
        (VisibilityName::Group, Some(_)) => {}
        (VisibilityName::Group, None) => {
            return Err(bad(
                "a group note names its group: a kind (guild) or KIND:ID".into(),
            ));
        }
        (_, Some(_)) => return Err(bad("only group notes name a group".into())),
    }
    let group = group.unwrap_or_default();
    let (kind, id) = group.split_once(':').unwrap_or((group, ""));
    let permissions = &app.world.permissions;
    if !permissions.rules.group_kinds.contains(kind) {
        return Err(bad(format!("there is no group kind {kind:?}")));
    }
    if let Some(world) = &permissions.world
        && let Some(why) = world.unavailable()
    {
        return Err(ErrorBody::new(
            ErrorCode::Unavailable,
            format!("{why}; retry shortly"),
        ));
    }
    let mine: Vec<String> = permissions
        .groups_of(author)
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, id)| id)
        .collect();
    let id = if id.is_empty() {
        match mine.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(ErrorBody::new(
                    ErrorCode::Forbidden,
                    format!("you are not in a {kind}"),
                ));
            }
            _ => {
                return Err(bad(format!(
                    "you are in several groups of kind {kind}; name one as {kind}:ID"
                )));
            }
        }
    } else {
        let channel = ChannelName::new(group).map_err(|e| bad(format!("group {group:?}: {e}")))?;
        let canonical = permissions.canonical(channel);
        let id = canonical
            .as_str()
            .split_once(':')
            .map(|(_, id)| id.to_owned())
            .unwrap_or_default();
        if !mine.contains(&id) {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                format!("only members of {kind} {id} may pin notes for it"),
            ));
        }
        id
    };
    Ok(Visibility::Group {
        kind: kind.to_owned(),
        id,
    })
}

/// A note's title or body after the content rules (`notes` in a rule's channels, or a rule
/// for everywhere): masked, or refused. A note is on the map the moment it is pinned, so a
/// rule that would hold a message for review refuses a note instead.
fn screened(app: &AppState, text: String) -> Result<String, ErrorBody> {
    match app.moderation.screen(text, Place::Note)? {
        Screened::Publish(text) => Ok(text),
        Screened::Hold { rule, .. } => Err(ErrorBody::new(
            ErrorCode::Rejected,
            format!(
                "notes cannot wait for review; the rule {rule:?} of this world refuses this one"
            ),
        )),
    }
}

/// Pins a note for `author`.
pub async fn create(
    app: &AppState,
    author: Address,
    args: NewNoteArgs,
) -> Result<NoteOk, ErrorBody> {
    enabled(app)?;
    let rule = &app.config.notes;
    let tile = Tile::new(args.x, args.y);
    let title = screened(
        app,
        checked_text("title", &args.title, rule.max_title_chars, true)?,
    )?;
    let body = screened(
        app,
        checked_text("body", &args.body, rule.max_body_chars, false)?,
    )?;
    app.moderation.standing.check_mute(author, None)?;
    let now = now_ms();
    let expires_at_ms = args
        .expires_in_secs
        .map(|s| expiry(app, s, now))
        .transpose()?;
    let visibility = visibility(app, author, args.visibility, args.group.as_deref())?;
    app.world.permissions.may_pin(rule, author, tile)?;
    app.delivery
        .rate_limits
        .take(Limit::Publish, author)
        .await?;
    let store = &app.storage.store;
    let live = store
        .live_notes_of(author, now)
        .await
        .map_err(|e| store_error(&e))?;
    if live >= u64::from(rule.max_per_author) {
        return Err(ErrorBody::new(
            ErrorCode::Forbidden,
            format!("you have {live} notes on the map, the most allowed; delete one first"),
        ));
    }
    let note = crate::metrics::timed(
        crate::metrics::StorageOp::Write,
        store.create_note(NewNote {
            author,
            tile,
            title: &title,
            body: &body,
            visibility: &visibility,
            expires_at_ms,
            now_ms: now,
        }),
    )
    .await
    .map_err(|e| store_error(&e))?;
    tracing::info!(
        note = note.id,
        x = tile.x,
        y = tile.y,
        visibility = visibility.name(),
        "note pinned"
    );
    crate::metrics::get().message_in(crate::metrics::Feature::Note);
    announce(app, &note, NoteEventKind::Created);
    Ok(NoteOk {
        note: note_data(&note),
    })
}

/// The live note `id` as `who` may change it: `not_found` when it is gone or `who` cannot
/// see it, `forbidden` when `who` sees it but is not its author.
async fn own_note(app: &AppState, who: Address, id: u64) -> Result<Note, ErrorBody> {
    enabled(app)?;
    let note = app
        .storage
        .store
        .note(id)
        .await
        .map_err(|e| store_error(&e))?;
    let live = note.filter(|n| {
        n.removed.is_none()
            && n.expires_at_ms.is_none_or(|e| e > now_ms())
            && app
                .world
                .permissions
                .sees(&n.visibility, n.author, Some(who))
    });
    let Some(note) = live else {
        return Err(ErrorBody::new(
            ErrorCode::NotFound,
            format!("there is no note {id}"),
        ));
    };
    if note.author != who {
        return Err(ErrorBody::new(
            ErrorCode::Forbidden,
            "only its author may change a note",
        ));
    }
    Ok(note)
}

fn gone(id: u64) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, format!("there is no note {id}"))
}

/// Changes the text or expiry of `who`'s note `id`.
pub async fn edit(
    app: &AppState,
    who: Address,
    id: u64,
    changes: NoteChanges,
) -> Result<NoteOk, ErrorBody> {
    own_note(app, who, id).await?;
    app.moderation.standing.check_mute(who, None)?;
    let rule = &app.config.notes;
    let title = changes
        .title
        .as_deref()
        .map(|t| screened(app, checked_text("title", t, rule.max_title_chars, true)?))
        .transpose()?;
    let body = changes
        .body
        .as_deref()
        .map(|b| screened(app, checked_text("body", b, rule.max_body_chars, false)?))
        .transpose()?;
    let now = now_ms();
    let expires_at_ms = match changes.expires_in_secs {
        None => None,
        Some(0) => Some(None),
        Some(s) => Some(Some(expiry(app, s, now)?)),
    };
    if title.is_none() && body.is_none() && expires_at_ms.is_none() {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            "an edit changes the title, the body or expires_in_secs",
        ));
    }
    app.delivery.rate_limits.take(Limit::Publish, who).await?;
    let edit = NoteEdit {
        title: title.as_deref(),
        body: body.as_deref(),
        expires_at_ms,
    };
    let note = crate::metrics::timed(
        crate::metrics::StorageOp::Write,
        app.storage.store.edit_note(id, who, edit, now),
    )
    .await
    .map_err(|e| store_error(&e))?
    .ok_or_else(|| gone(id))?;
    announce(app, &note, NoteEventKind::Edited);
    Ok(NoteOk {
        note: note_data(&note),
    })
}

/// Removes `who`'s note `id`.
pub async fn delete(app: &AppState, who: Address, id: u64) -> Result<NoteDeleted, ErrorBody> {
    own_note(app, who, id).await?;
    app.delivery.rate_limits.take(Limit::Publish, who).await?;
    let note = crate::metrics::timed(
        crate::metrics::StorageOp::Write,
        app.storage.store.delete_note(id, who, now_ms()),
    )
    .await
    .map_err(|e| store_error(&e))?
    .ok_or_else(|| gone(id))?;
    tracing::info!(note = id, "note deleted");
    announce(app, &note, NoteEventKind::Deleted);
    Ok(NoteDeleted { id, rev: note.rev })
}
