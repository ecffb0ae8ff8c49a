//! Direct messages beyond the channel ops: the thread list (`threads`) and blocks (`block`,
//! `unblock`, `blocks`), over WebSocket and HTTP. Sending, history and recovery in a thread
//! are the chat feature's ops on the thread's channel; the checks a thread adds (blocks, the
//! start rule) are in [`crate::dm`].

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, put};
use realtime_core::time::{now_ms, rfc3339_ms};
use realtime_core::{Address, ErrorCode};
use realtime_protocol::reply::MessageData;
use realtime_protocol::social::{BlockList, BlockOk, Blocked, ThreadItem, ThreadsPage};
use realtime_protocol::{ErrorBody, Op};
use realtime_store::ThreadCursor;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::chat::store_error;
use crate::rate::Limit;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Stateless, not_registered};
use crate::state::{App, AppState};
use crate::web::ApiError;

/// Threads per page when the request names no limit.
pub const THREADS_DEFAULT_LIMIT: u32 = 20;
/// Most threads per page.
pub const THREADS_MAX_LIMIT: u32 = 100;

/// The direct-message feature.
#[derive(Debug, Default)]
pub struct DirectMessages;

impl Feature for DirectMessages {
    fn name(&self) -> &'static str {
        "direct messages"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["threads", "block", "unblock", "blocks"]
    }

    fn routes(&self) -> Router<App> {
        Router::new()
            .route("/v1/dm/threads", get(http_threads))
            .route("/v1/blocks", get(http_blocks))
            .route("/v1/blocks/{address}", put(http_block).delete(http_unblock))
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

/// Answers one op; nothing is kept on the connection.
fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let who = conn.signed_in()?;
        let app: &AppState = conn.app;
        match op {
            Op::Threads { before, limit } => {
                let page = threads(app, who, before.as_deref(), limit).await?;
                conn.reply_ok(id, &page);
            }
            Op::Block { address } => conn.reply_ok(id, &block(app, who, address).await?),
            Op::Unblock { address } => conn.reply_ok(id, &unblock(app, who, address).await?),
            Op::Blocks => conn.reply_ok(id, &blocks(app, who).await?),
            other => return Err(not_registered("direct messages", &other)),
        }
        Ok(())
    })
}

/// `before` as written in a `next` cursor: `ACTIVITY_MS~CHANNEL`.
fn parse_cursor(text: &str) -> Result<ThreadCursor, ErrorBody> {
    let bad = || {
        ErrorBody::new(
            ErrorCode::BadRequest,
            "before is the next cursor of a previous threads page",
        )
    };
    let (ms, channel) = text.split_once('~').ok_or_else(bad)?;
    Ok(ThreadCursor {
        activity_ms: ms.parse().map_err(|_| bad())?,
        channel: channel.to_owned(),
    })
}

/// A page of `who`'s threads.
pub async fn threads(
    app: &AppState,
    who: Address,
    before: Option<&str>,
    limit: Option<u32>,
) -> Result<ThreadsPage, ErrorBody> {
    let cursor = before.map(parse_cursor).transpose()?;
    let limit = match limit {
        None => THREADS_DEFAULT_LIMIT,
        Some(n @ 1..=THREADS_MAX_LIMIT) => n,
        Some(_) => {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!("limit is between 1 and {THREADS_MAX_LIMIT}"),
            ));
        }
    };
    app.delivery.rate_limits.take(Limit::Read, who).await?;
    let mut rows = app
        .storage
        .store
        .threads(who, cursor.as_ref(), limit + 1)
        .await
        .map_err(|e| store_error(&e))?;
    // Neither side of a block learns when the other is online.
    let hidden = app
        .storage
        .store
        .blocked_either_way(who)
        .await
        .map_err(|e| store_error(&e))?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|t| format!("{}~{}", t.activity_ms, t.channel));
    let peers: Vec<_> = rows.iter().map(|t| t.peer).collect();
    let online = crate::cluster::online(app, &peers).await;
    let threads = rows
        .into_iter()
        .map(|t| ThreadItem {
            channel: t.channel.to_string(),
            peer: t.peer.to_string(),
            last_seq: t.last_seq,
            read_seq: t.read_seq,
            unread: t.unread,
            peer_online: !hidden.contains(&t.peer) && online.contains(&t.peer),
            last_message: t
                .last_message
                .as_ref()
                .map(|m| MessageData::from_message(m, true)),
        })
        .collect();
    Ok(ThreadsPage { threads, next })
}

fn not_self(who: Address, other: Address) -> Result<(), ErrorBody> {
    if who == other {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            "an address cannot block itself",
        ));
    }
    Ok(())
}

/// `who` blocks `other`.
pub async fn block(app: &AppState, who: Address, other: Address) -> Result<BlockOk, ErrorBody> {
    not_self(who, other)?;
    app.delivery.rate_limits.take(Limit::Publish, who).await?;
    let changed = app
        .storage
        .store
        .block(who, other, now_ms())
        .await
        .map_err(|e| store_error(&e))?;
    tracing::info!(blocked = %other, changed, "block");
    Ok(BlockOk {
        address: other.to_string(),
        blocked: true,
        changed,
    })
}

/// `who` unblocks `other`.
pub async fn unblock(app: &AppState, who: Address, other: Address) -> Result<BlockOk, ErrorBody> {
    not_self(who, other)?;
    app.delivery.rate_limits.take(Limit::Publish, who).await?;
    let changed = app
        .storage
        .store
        .unblock(who, other)
        .await
        .map_err(|e| store_error(&e))?;
    tracing::info!(unblocked = %other, changed, "unblock");
    Ok(BlockOk {
        address: other.to_string(),
        blocked: false,
        changed,
    })
}

/// Whom `who` blocks.
pub async fn blocks(app: &AppState, who: Address) -> Result<BlockList, ErrorBody> {
    app.delivery.rate_limits.take(Limit::Read, who).await?;
    let rows = app
        .storage
        .store
        .blocks_of(who)
        .await
        .map_err(|e| store_error(&e))?;
    Ok(BlockList {
        blocked: rows
            .into_iter()
            .map(|(a, at)| Blocked {
                address: a.to_string(),
                since: rfc3339_ms(at),
            })
            .collect(),
    })
}

/// The query of `GET /v1/dm/threads`: the `threads` op's page.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThreadsQuery {
    /// The `next` cursor of the previous page.
    before: Option<String>,
    /// Threads per page, 1 to 100 (default 20).
    limit: Option<u32>,
}

async fn http_threads(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<ThreadsQuery>, QueryRejection>,
) -> Result<Json<ThreadsPage>, ApiError> {
    let who = super::signed_in(&app, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    Ok(Json(
        threads(&app, who, q.before.as_deref(), q.limit).await?,
    ))
}

async fn http_blocks(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<BlockList>, ApiError> {
    let who = super::signed_in(&app, &headers)?;
    Ok(Json(blocks(&app, who).await?))
}

fn address_in_path(text: &str) -> Result<Address, ApiError> {
    text.parse().map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("invalid address {text:?}: {e}"),
        )
    })
}

async fn http_block(
    State(app): State<App>,
    headers: HeaderMap,
    Path(address): Path<String>,
) -> Result<Json<BlockOk>, ApiError> {
    let who = super::signed_in(&app, &headers)?;
    Ok(Json(block(&app, who, address_in_path(&address)?).await?))
}

async fn http_unblock(
    State(app): State<App>,
    headers: HeaderMap,
    Path(address): Path<String>,
) -> Result<Json<BlockOk>, ApiError> {
    let who = super::signed_in(&app, &headers)?;
    Ok(Json(unblock(&app, who, address_in_path(&address)?).await?))
}

#[cfg(test)]
#[test]
fn cursors_round_trip_and_garbage_is_a_bad_request() {
    let c = parse_cursor("1700000000000~dm:0x1:0x2").unwrap();
    assert_eq!(
        (c.activity_ms, c.channel.as_str()),
        (1_700_000_000_000, "dm:0x1:0x2")
    );
    for bad in ["", "12", "x~dm:0x1:0x2"] {
        assert_eq!(parse_cursor(bad).unwrap_err().code, ErrorCode::BadRequest);
    }
}
