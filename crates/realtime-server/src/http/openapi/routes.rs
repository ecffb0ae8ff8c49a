//! Every route of the HTTP API, one entry per (method, path), grouped by feature.
//!
//! A route added to the router needs its entry here, or tests fail: `tests/openapi.rs` on a
//! `.route("…")` of the server's sources whose path has none, the unit tests of [`super`] on
//! an entry the router does not serve and on a method the router serves for a documented path
//! but the table lacks. An entry names the types its handler decodes and encodes (their
//! schemas come from the code), whether it needs a token, and the error codes the handler can
//! answer (a token's 401 codes are added). After adding one, regenerate `docs/openapi.json`:
//! `UPDATE_SCHEMA=1 cargo test -p realtime-server --test openapi`.

use realtime_core::ErrorCode as E;
use realtime_protocol::notes::{NewNoteArgs, NoteChanges, NoteDeleted, NoteOk, NotesPage};
use realtime_protocol::reply::{HistoryPage, PublishOk};
use realtime_protocol::social::{
    BlockList, BlockOk, MeOk, NamesOk, PresenceSnapshot, ReadOk, ThreadsPage, UnreadList,
};
use realtime_protocol::sync::{SyncArgs, SyncOk};
use schemars::{Schema, SchemaGenerator, json_schema};

use super::{Also, Route, SchemaFn, inline, named};
use crate::features::{chat, dm, me, notes, reads};
use crate::http::{auth, health};
use crate::session::upgrade::WsQuery;

/// The tags that group the routes, with what each covers.
pub const TAGS: &[(&str, &str)] = &[
    (
        "websocket",
        "The WebSocket of protocol v1 (docs/protocol.md).",
    ),
    (
        "sign-in",
        "Wallet sign-in (docs/auth.md): a challenge to sign, then a session token.",
    ),
    (
        "chat",
        "History pages and publishing, as the `history` and `publish` ops.",
    ),
    (
        "read state",
        "Read marks and unread counts, as the `read` and `unread` ops.",
    ),
    (
        "direct messages",
        "The thread list and blocks, as the `threads` and `block` ops.",
    ),
    (
        "presence",
        "Who is present in a channel, as the `presence` op.",
    ),
    (
        "identity",
        "Who an address is on chain, as the `me` and `names` ops.",
    ),
    ("sync", "What a client missed, as the `sync` op."),
    (
        "notes",
        "Notes pinned to map tiles, as the `notes` and `note_*` ops.",
    ),
    (
        "operations",
        "Health, readiness, status, and this document.",
    ),
    (
        "moderation",
        "Reports, and the moderators' API: the review queue, sanctions, removals and the \
         audit log (docs/moderation.md).",
    ),
    (
        "demo",
        "The demo page, served only with `[server] demo = true` (else 404).",
    ),
];

/// A `{name}` of the paths, what it holds and its schema.
#[derive(Debug)]
pub struct PathParameter {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: SchemaFn,
}

/// Every path parameter name the table uses.
pub const PATH_PARAMETERS: &[PathParameter] = &[
    PathParameter {
        name: "channel",
        description: "A channel name (docs/protocol.md, Channels): `world`, `guild:42`, a \
            thread `dm:0x…:0x…`.",
        schema: named::<String>,
    },
    PathParameter {
        name: "address",
        description: "A Starknet address, `0x` and up to 64 hex digits.",
        schema: named::<String>,
    },
    PathParameter {
        name: "id",
        description: "A note's id, or a job's in the moderation routes.",
        schema: named::<u64>,
    },
];

/// This document.
fn any_document(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "description": "An OpenAPI 3.1 document."})
}

/// Every entry: [`ROUTES`] and the moderation routes.
pub fn all() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().chain(super::moderation::ROUTES)
}

/// The table: the document lists the paths sorted, and each path's methods.
pub const ROUTES: &[Route] = &[
    Route::get("/v1/ws", "connect")
        .summary("Open the WebSocket of protocol v1")
        .about(
            "Upgrades to a WebSocket (RFC 6455) carrying JSON text frames: requests with ids, \
             their replies, and pushes. Frames, sign-in, close codes and heartbeats are in \
             docs/protocol.md, the frames' JSON Schema in docs/protocol.schema.json. A session \
             token may come as `Authorization: Bearer`, as a `bearer.<token>` subprotocol, as \
             `?token=`, or later in an `auth` frame.",
        )
        .tag("websocket")
        .optional_token()
        .query(inline::<WsQuery>)
        .upgrade()
        .errors(&[
            E::BadRequest,
            E::Forbidden,
            E::TooManyConnections,
            E::RateLimited,
            E::Unavailable,
        ]),
    Route::post("/v1/auth/challenge", "auth_challenge")
        .summary("Get a challenge to sign with the wallet")
        .about("404 `not_found` when wallet sign-in is not configured (`[auth.starknet]`).")
        .tag("sign-in")
        .body(named::<auth::ChallengeRequest>)
        .json(named::<auth::ChallengeResponse>)
        .errors(&[
            E::BadRequest,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::post("/v1/auth/verify", "auth_verify")
        .summary("Exchange a signed challenge for a session token")
        .about(
            "The account contract checks the signature (`is_valid_signature`). When the \
             Starknet node does not answer: 503 `unavailable`, and the challenge stays valid.",
        )
        .tag("sign-in")
        .body(named::<auth::VerifyRequest>)
        .json(named::<auth::VerifyResponse>)
        .errors(&[
            E::BadRequest,
            E::InvalidSignature,
            E::InvalidNonce,
            E::AccountNotDeployed,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::get("/v1/channels/{channel}/messages", "history")
        .summary("A page of a channel's history")
        .about("Pages are ascending by seq; bounds are exclusive (docs/protocol.md, history).")
        .tag("chat")
        .token()
        .query(inline::<chat::http::Params>)
        .json(named::<HistoryPage>)
        .errors(&[
            E::BadRequest,
            E::InvalidChannel,
            E::Forbidden,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::post("/v1/channels/{channel}/messages", "publish")
        .summary("Publish a message")
        .about("Answered once the message is stored, with its seq.")
        .tag("chat")
        .token()
        .body(named::<chat::http::NewMessage>)
        .json(named::<PublishOk>)
        .errors(&[
            E::BadRequest,
            E::InvalidChannel,
            E::EmptyMessage,
            E::MessageTooLong,
            E::InvalidText,
            E::Forbidden,
            E::Blocked,
            E::NotFound,
            E::Conflict,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::post("/v1/channels/{channel}/read", "read")
        .summary("Mark a channel or thread read up to a seq")
        .tag("read state")
        .token()
        .body(named::<reads::ReadBody>)
        .json(named::<ReadOk>)
        .errors(&[
            E::BadRequest,
            E::InvalidChannel,
            E::Forbidden,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::get("/v1/unread", "unread")
        .summary("Unread counts of the address's channels and threads")
        .tag("read state")
        .token()
        .json(named::<UnreadList>)
        .errors(&[E::RateLimited, E::Unavailable, E::Internal]),
    Route::get("/v1/dm/threads", "threads")
        .summary("A page of the address's direct-message threads")
        .tag("direct messages")
        .token()
        .query(inline::<dm::ThreadsQuery>)
        .json(named::<ThreadsPage>)
        .errors(&[E::BadRequest, E::RateLimited, E::Unavailable, E::Internal]),
    Route::get("/v1/blocks", "blocks")
        .summary("The addresses this address blocks")
        .tag("direct messages")
        .token()
        .json(named::<BlockList>)
        .errors(&[E::RateLimited, E::Unavailable, E::Internal]),
    Route::put("/v1/blocks/{address}", "block")
        .summary("Block an address")
        .tag("direct messages")
        .token()
        .json(named::<BlockOk>)
        .errors(&[E::BadRequest, E::RateLimited, E::Unavailable, E::Internal]),
    Route::delete("/v1/blocks/{address}", "unblock")
        .summary("Unblock an address")
        .tag("direct messages")
        .token()
        .json(named::<BlockOk>)
        .errors(&[E::BadRequest, E::RateLimited, E::Unavailable, E::Internal]),
    Route::get("/v1/channels/{channel}/presence", "presence")
        .summary("Who is present in a channel or thread")
        .tag("presence")
        .token()
        .json(named::<PresenceSnapshot>)
        .errors(&[E::InvalidChannel, E::Forbidden, E::NotFound, E::Unavailable]),
    Route::get("/v1/me", "me")
        .summary("Who the token's address is, as on-chain state sees it now")
        .tag("identity")
        .token()
        .json(named::<MeOk>),
    Route::get("/v1/names", "names")
        .summary("The `[players] name` of up to 100 addresses")
        .about("Names are public on chain: no token needed.")
        .tag("identity")
        .query(inline::<me::NamesQuery>)
        .json(named::<NamesOk>)
        .errors(&[E::BadRequest]),
    Route::post("/v1/sync", "sync")
        .summary("What the address missed, in one round trip")
        .about(
            "Takes the last seq per channel and the note revision of a viewport; answers the \
             missed messages, unread counts, peers' read positions and note changes. A \
             channel the address may no longer read has its `error` in the reply.",
        )
        .tag("sync")
        .token()
        .body(named::<SyncArgs>)
        .json(named::<SyncOk>)
        .errors(&[
            E::BadRequest,
            E::InvalidChannel,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::get("/v1/notes", "notes")
        .summary("A page of the notes pinned inside an area")
        .about("Without a token, public notes only; newest first.")
        .tag("notes")
        .optional_token()
        .query(inline::<notes::http::ListQuery>)
        .json(named::<NotesPage>)
        .errors(&[
            E::BadRequest,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::post("/v1/notes", "note_create")
        .summary("Pin a note on a tile")
        .tag("notes")
        .token()
        .body(named::<NewNoteArgs>)
        .json(named::<NoteOk>)
        .errors(&[
            E::BadRequest,
            E::EmptyMessage,
            E::MessageTooLong,
            E::InvalidText,
            E::Forbidden,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::patch("/v1/notes/{id}", "note_edit")
        .summary("Edit a note (its author only); absent fields stay")
        .tag("notes")
        .token()
        .body(named::<NoteChanges>)
        .json(named::<NoteOk>)
        .errors(&[
            E::BadRequest,
            E::EmptyMessage,
            E::MessageTooLong,
            E::InvalidText,
            E::Forbidden,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::delete("/v1/notes/{id}", "note_delete")
        .summary("Delete a note (its author only)")
        .tag("notes")
        .token()
        .json(named::<NoteDeleted>)
        .errors(&[
            E::BadRequest,
            E::Forbidden,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::get("/healthz", "healthz")
        .summary("The process is up")
        .tag("operations")
        .json(named::<health::Alive>),
    Route::get("/readyz", "readyz")
        .summary("Whether the instance can serve; load balancers route on it")
        .about(
            "200 while it can serve, with a `degraded` reason when something works but worse \
             (stale on-chain state, a shared bus that is down).",
        )
        .tag("operations")
        .json(named::<health::Ready>)
        .also(&[Also {
            status: 503,
            description: "Not ready: shutting down, storage unreachable, or on-chain state \
                not synced yet.",
            schema: named::<health::NotReady>,
        }]),
    Route::get("/v1/status", "status")
        .summary("What the instance is doing, for operators and dashboards")
        .tag("operations")
        .json(named::<health::Status>),
    Route::get("/metrics", "metrics")
        .summary("Prometheus metrics (docs/operations.md lists each)")
        .about(
            "The text exposition format 0.0.4. Served here unless `[metrics] listen` gives \
             it an address of its own, and not at all with `[metrics] enabled = false`.",
        )
        .tag("operations")
        .file("text/plain"),
    Route::get("/v1/openapi.json", "openapi")
        .summary("This document")
        .tag("operations")
        .json(any_document),
    Route::get("/demo", "demo_page")
        .summary("The demo page")
        .tag("demo")
        .file("text/html"),
    Route::get("/demo/demo.js", "demo_script")
        .summary("The demo page's script")
        .tag("demo")
        .file("text/javascript"),
    Route::get("/demo/demo.css", "demo_styles")
        .summary("The demo page's styles")
        .tag("demo")
        .file("text/css"),
];
