//! Resume in one round trip: `sync` (and `POST /v1/sync`) takes the client's cursors (the
//! last seq per channel or thread, the note revision of its viewport) and answers what it
//! missed, with its unread counts and its peers' read positions. It does not subscribe: the
//! client subscribes afterwards with `since` = the `last_seq` it got, and live pushes take
//! over without a gap.
//!
//! Everything read is bounded: at most `limits.max_subscriptions` channels, at most
//! `limits.recovery_max_messages` messages per channel, at most [`NOTE_CHANGES_MAX`] note
//! changes, and the whole reply within half the send queue. Past a bound, the part is
//! marked (`recovered: false` with a `reason`, `complete: false`) and the client reads it with
//! `history` or `notes`. So is a part retention removed: messages below a channel's trim point,
//! note removals whose tombstones were purged.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use axum::routing::post;
use realtime_core::policy::Action;
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::notes::NoteEventKind;
use realtime_protocol::reply::{MessageData, NotRecovered, encode_ok};
use realtime_protocol::sync::{ChannelSync, NotesCursor, NotesSync, Receipt, SyncArgs, SyncOk};
use realtime_protocol::{ErrorBody, Op};
use realtime_store::Removal;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::chat::store_error;
use crate::features::notes::event;
use crate::features::signed_in;
use crate::rate::Limit;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Stateless, not_registered};
use crate::state::{App, AppState};
use crate::web::ApiError;

/// Less room than this in a reply fits no message: channels past it are not read.
const MIN_MESSAGE_BYTES: usize = 128;

/// Most note changes one sync returns.
pub const NOTE_CHANGES_MAX: u32 = 500;

/// The sync feature.
#[derive(Debug, Default)]
pub struct Sync;

impl Feature for Sync {
    fn name(&self) -> &'static str {
        "sync"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["sync"]
    }

    fn routes(&self) -> Router<App> {
        Router::new().route("/v1/sync", post(http_sync))
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let who = conn.signed_in()?;
        let Op::Sync(args) = op else {
            return Err(not_registered("sync", &op));
        };
        let ok = sync(conn.app, who, args).await?;
        // Within the budget by construction; waiting for room keeps it from overflowing a
        // queue that already holds live pushes.
        let server = &conn.app.config.server;
        let frame = Utf8Bytes::from(encode_ok(id, &ok));
        let _ = conn
            .queue
            .push_paced(frame, server.ping_interval + server.pong_timeout)
            .await;
        Ok(())
    })
}

/// Bytes a reply may use, spent channel by channel.
struct Budget(usize);

impl Budget {
    /// Takes room for `messages`, or none of it when they do not fit.
    fn take(&mut self, messages: &[MessageData]) -> bool {
        let size: usize = messages
            .iter()
            .map(|m| serde_json::to_vec(m).map_or(0, |v| v.len() + 1))
            .sum();
        if size > self.0 {
            return false;
        }
        self.0 -= size;
        true
    }
}

/// What `who` missed since `args`.
pub async fn sync(app: &AppState, who: Address, args: SyncArgs) -> Result<SyncOk, ErrorBody> {
    let limits = &app.config.limits;
    if args.channels.len() > limits.max_subscriptions {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!("a sync names at most {} channels", limits.max_subscriptions),
        ));
    }
    app.delivery.rate_limits.take(Limit::Read, who).await?;
    let mut budget = Budget(limits.send_queue_bytes / 2);
    let mut channels = Vec::with_capacity(args.channels.len());
    let mut receipts = Vec::new();
    for (name, since) in &args.channels {
        let channel = ChannelName::new(name).map_err(|e| {
            ErrorBody::new(
                ErrorCode::InvalidChannel,
                format!("invalid channel {name:?}: {e}"),
            )
        })?;
        let channel = app.world.permissions.canonical(channel);
        let synced = missed(app, who, &channel, *since, &mut budget).await?;
        if synced.error.is_none() {
            crate::metrics::get().recovery(crate::metrics::Recovery::of(synced.reason));
        }
        if synced.error.is_none()
            && let Some(peer) = crate::features::reads::receipt_peer(app, who, &channel).await?
        {
            let seq = app
                .storage
                .store
                .read_seq(peer, &channel)
                .await
                .map_err(|e| store_error(&e))?;
            receipts.push(Receipt {
                channel: channel.to_string(),
                address: peer.to_string(),
                seq,
            });
        }
        channels.push(synced);
    }
    let notes = match &args.notes {
        Some(cursor) if app.config.notes.enabled => Some(note_changes(app, who, cursor).await?),
        _ => None,
    };
    let unread = crate::features::reads::unread(app, who).await?.channels;
    Ok(SyncOk {
        channels,
        notes,
        unread,
        receipts,
    })
}

/// The messages of `channel` after `since`, all or none.
async fn missed(
    app: &AppState,
    who: Address,
    channel: &ChannelName,
    since: u64,
    budget: &mut Budget,
) -> Result<ChannelSync, ErrorBody> {
    let mut synced = ChannelSync {
        channel: channel.to_string(),
        last_seq: 0,
        recovered: false,
        reason: None,
        messages: Vec::new(),
        error: None,
    };
    if let Err(e) = app
        .world
        .permissions
        .check(Some(who), channel, Action::Read)
    {
        if e.code == ErrorCode::Unavailable {
            return Err(e);
        }
        synced.error = Some(e);
        return Ok(synced);
    }
    let store = &app.storage.store;
    let head = store
        .channel_head(channel)
        .await
        .map_err(|e| store_error(&e))?;
    synced.last_seq = head.last_seq;
    // Ahead of storage: the log the client saw no longer exists.
    if since >= head.last_seq {
        synced.recovered = since == head.last_seq;
        if !synced.recovered {
            synced.reason = Some(NotRecovered::Reset);
        }
        return Ok(synced);
    }
    if since < head.trimmed_to {
        synced.reason = Some(NotRecovered::Expired);
        return Ok(synced);
    }
    let count = head.last_seq - since;
    // Nothing more fits the reply: no read for a page that would be thrown away.
    if count > app.config.limits.recovery_max_messages || budget.0 < MIN_MESSAGE_BYTES {
        synced.reason = Some(NotRecovered::TooMany);
        return Ok(synced);
    }
    // Each channel read counts against the read limit, as a history page does.
    app.delivery.rate_limits.take(Limit::Read, who).await?;
    let messages = crate::metrics::timed(
        crate::metrics::StorageOp::Read,
        store.range(
            channel,
            since,
            head.last_seq,
            u32::try_from(count).unwrap_or(u32::MAX),
        ),
    )
    .await
    .map_err(|e| store_error(&e))?;
    // Seqs have no gaps and only retention removes messages: trimmed since the head was read.
    if messages.len() as u64 != count {
        synced.reason = Some(NotRecovered::Expired);
        return Ok(synced);
    }
    let messages: Vec<MessageData> = messages
        .iter()
        .map(|m| MessageData::from_message(m, true))
        .collect();
    if budget.take(&messages) {
        synced.recovered = true;
        synced.messages = messages;
    } else {
        synced.reason = Some(NotRecovered::TooMany);
    }
    Ok(synced)
}

/// The note changes in the cursor's viewport that `who` may see.
async fn note_changes(
    app: &AppState,
    who: Address,
    cursor: &NotesCursor,
) -> Result<NotesSync, ErrorBody> {
    let rect = crate::feed::check_area(cursor.area, app.config.limits.max_watch_tiles)?;
    let store = &app.storage.store;
    // Changes commit in revision order, so everything up to the clock read now is visible
    // to the query after it.
    let clock = store.note_clock().await.map_err(|e| store_error(&e))?;
    let reader = crate::features::notes::reader(app, Some(who));
    let changes = store
        .note_changes(rect, &reader, cursor.rev, NOTE_CHANGES_MAX + 1)
        .await
        .map_err(|e| store_error(&e))?;
    // Read after the changes: tombstones purged since then were in them. A cursor older than
    // the purge horizon may have missed a removal whose tombstone is gone: reload.
    let purged = store.purged_note_rev().await.map_err(|e| store_error(&e))?;
    if cursor.rev < purged {
        return Ok(NotesSync {
            rev: cursor.rev,
            complete: false,
            changes: Vec::new(),
        });
    }
    let complete = changes.len() <= NOTE_CHANGES_MAX as usize;
    let changes: Vec<_> = changes
        .into_iter()
        .take(NOTE_CHANGES_MAX as usize)
        .collect();
    let rev = match changes.last() {
        Some(last) if !complete => last.rev,
        Some(last) => last.rev.max(clock),
        None => clock.max(cursor.rev),
    };
    let events = changes
        .iter()
        .map(|n| {
            let kind = match n.removed {
                Some((Removal::Deleted, _)) => NoteEventKind::Deleted,
                Some((Removal::Expired, _)) => NoteEventKind::Expired,
                Some((Removal::Removed, _)) => NoteEventKind::Removed,
                // Created before the cursor or after it, the client now has it as it is.
                None if n.created_at_ms == n.updated_at_ms => NoteEventKind::Created,
                None => NoteEventKind::Edited,
            };
            event(n, kind)
        })
        .collect();
    Ok(NotesSync {
        rev,
        complete,
        changes: events,
    })
}

async fn http_sync(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Json<SyncArgs>, JsonRejection>,
) -> Result<Json<SyncOk>, ApiError> {
    let who = signed_in(&app, &headers)?;
    let Json(args) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    if let Some(n) = &args.notes
        && (n.area.min_x > n.area.max_x || n.area.min_y > n.area.max_y)
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "area: min_x <= max_x and min_y <= max_y",
        ));
    }
    Ok(Json(sync(&app, who, args).await?))
}

#[cfg(test)]
#[test]
fn a_budget_takes_all_of_a_channel_or_none() {
    let m = |body: &str| MessageData {
        seq: Some(1),
        sender: "0x1".into(),
        body: body.into(),
        ts: "t".into(),
        client_msg_id: None,
        edited_at: None,
        deleted: false,
    };
    let mut budget = Budget(200);
    assert!(budget.take(&[m("a"), m("b")]));
    let left = budget.0;
    assert!(!budget.take(&[m(&"x".repeat(300))]));
    assert_eq!(budget.0, left, "a refused channel takes nothing");
}
