//! Read state: `read` marks a channel or thread read up to a seq, `unread` lists unread
//! counts, over WebSocket and HTTP. A mark is stored (so every device and instance agrees)
//! and pushed as `read` to the address's other sockets and, in a thread, to the other
//! participant as a read receipt.

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use realtime_core::dm::Thread;
use realtime_core::policy::Action;
use realtime_core::time::now_ms;
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::push::ReadMark;
use realtime_protocol::reply::encode_channel_push;
use realtime_protocol::social::{ReadOk, UnreadItem, UnreadList};
use realtime_protocol::{ErrorBody, Op};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::chat::store_error;
use crate::hub::ConnId;
use crate::rate::Limit;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Stateless, not_registered};
use crate::state::{App, AppState};
use crate::web::ApiError;

/// The read-state feature.
#[derive(Debug, Default)]
pub struct ReadState;

impl Feature for ReadState {
    fn name(&self) -> &'static str {
        "read state"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["read", "unread"]
    }

    fn routes(&self) -> Router<App> {
        Router::new()
            .route("/v1/channels/{channel}/read", post(http_read))
            .route("/v1/unread", get(http_unread))
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

/// Answers one op; nothing is kept on the connection.
fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let who = conn.signed_in()?;
        match op {
            Op::Read { channel, seq } => {
                let ok = mark(conn.app, who, channel, seq, Some(conn.id)).await?;
                conn.reply_ok(id, &ok);
            }
            Op::Unread => conn.reply_ok(id, &unread(conn.app, who).await?),
            other => return Err(not_registered("read state", &other)),
        }
        Ok(())
    })
}

/// Marks `channel` read by `who` up to `seq` (at most its last seq), and tells the
/// address's other sockets (all but `from`) and a thread's other participant.
pub async fn mark(
    app: &AppState,
    who: Address,
    channel: ChannelName,
    seq: u64,
    from: Option<ConnId>,
) -> Result<ReadOk, ErrorBody> {
    let permissions = &app.world.permissions;
    let channel = permissions.canonical(channel);
    permissions.check(Some(who), &channel, Action::Read)?;
    app.delivery.rate_limits.take(Limit::Mark, who).await?;
    let store = &app.storage.store;
    let head = store
        .channel_head(&channel)
        .await
        .map_err(|e| store_error(&e))?;
    let seq = store
        .mark_read(who, &channel, seq.min(head.last_seq), now_ms())
        .await
        .map_err(|e| store_error(&e))?;
    let frame = Utf8Bytes::from(encode_channel_push(
        "read",
        channel.as_str(),
        &ReadMark {
            address: who.to_string(),
            seq,
        },
    ));
    app.conns.registry.push(who, &frame, from);
    if let Some(peer) = receipt_peer(app, who, &channel).await? {
        app.conns.registry.push(peer, &frame, None);
    }
    Ok(ReadOk {
        channel: channel.to_string(),
        seq,
    })
}

/// The other participant of `channel` when it is a thread and neither blocks the other: who
/// may learn how far `who` has read it.
pub async fn receipt_peer(
    app: &AppState,
    who: Address,
    channel: &ChannelName,
) -> Result<Option<Address>, ErrorBody> {
    let Some(peer) = Thread::of(channel)
        .and_then(Result::ok)
        .and_then(|t| t.peer_of(who))
    else {
        return Ok(None);
    };
    let gate = app
        .storage
        .store
        .dm_gate(channel, who, peer)
        .await
        .map_err(|e| store_error(&e))?;
    Ok((!gate.blocked_by_peer && !gate.blocking_peer).then_some(peer))
}

/// Unread counts of every channel `who` has read and every thread it is part of, that it may
/// still read (a channel lost, such as a guild left on chain, drops out).
pub async fn unread(app: &AppState, who: Address) -> Result<UnreadList, ErrorBody> {
    app.delivery.rate_limits.take(Limit::Read, who).await?;
    let rows = app
        .storage
        .store
        .unread(who)
        .await
        .map_err(|e| store_error(&e))?;
    let permissions = &app.world.permissions;
    Ok(UnreadList {
        channels: rows
            .into_iter()
            .filter(
                |u| match permissions.check(Some(who), &u.channel, Action::Read) {
                    Ok(()) => true,
                    // While on-chain state cannot be relied on, nothing is hidden on a guess.
                    Err(e) => e.code == ErrorCode::Unavailable,
                },
            )
            .map(|u| UnreadItem {
                channel: u.channel.to_string(),
                last_seq: u.last_seq,
                read_seq: u.read_seq,
                unread: u.unread,
            })
            .collect(),
    })
}

/// The body of `POST /v1/channels/{channel}/read`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadBody {
    /// Read up to this seq (a larger one counts as the channel's last).
    seq: u64,
}

async fn http_read(
    State(app): State<App>,
    headers: HeaderMap,
    Path(channel): Path<String>,
    body: Result<Json<ReadBody>, JsonRejection>,
) -> Result<Json<ReadOk>, ApiError> {
    let who = super::signed_in(&app, &headers)?;
    let channel = super::channel_in_path(&channel)?;
    let Json(body) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    Ok(Json(mark(&app, who, channel, body.seq, None).await?))
}

async fn http_unread(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<UnreadList>, ApiError> {
    let who = super::signed_in(&app, &headers)?;
    Ok(Json(unread(&app, who).await?))
}
