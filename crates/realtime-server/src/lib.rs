//! torii-realtime server: the composition root.
//!
//! Modules are declared bottom-up: each imports only modules declared above it (the test
//! `tests/layers.rs` checks this), so there are no import circles and no arrow points up.
//!
//! Foundations, knowing no other module of the server:
//! - [`metrics`]: the Prometheus metrics and their bounded labels.
//! - [`cli`]: the `torii-realtime` command line (`serve`, `migrate`, `config check`, `token`).
//! - [`client_ip`]: the client address behind trusted proxies, for per-IP limits.
//! - [`connections`]: connection limits per instance and per address.
//! - [`probe`]: the storage probe behind `/readyz`, made at most once a second.
//! - [`queue`]: a connection's outbound queue, bounded by bytes, drained by its writer.
//! - [`web`]: JSON errors, request deadlines and the bearer token, for every HTTP route.
//!
//! Configuration and the machinery features use:
//! - [`config`]: the TOML file, defaults, environment overrides, validation.
//! - [`hub`]: local fan-out, in seq order, with gap filling from storage and, with a shared
//!   bus, the periodic head check.
//! - [`presence`]: who is present in each channel, changes coalesced per second.
//! - [`ip_limit`]: per-IP token buckets and counts of sockets not signed in yet.
//! - [`registry`]: signed-in sessions by address, for live changes.
//! - [`feed`]: on-chain updates routed to watched map areas and owners.
//! - [`logging`]: tracing setup, human or JSON.
//! - [`rate`]: per-address rate limits (publish, storage reads).
//! - [`world`]: the Torii follower and the world view it keeps.
//! - [`permissions`]: channel policies (pure, in `realtime-core`) over the live world view.
//! - [`moderation`]: content rules and the bans, mutes and revocations in force.
//! - [`chat`]: publish checks and history, shared by WebSocket and HTTP.
//! - [`dm`]: direct-message blocks and the rule for starting a thread.
//! - [`publisher`]: group commit of publishes, replies after the commit, batched announcements.
//! - [`announcer`]: `[[announcements]]` rules that fired, posted as messages by the world.
//! - [`leader`]: whether this instance posts them (one instance does, under a Redis lease).
//!
//! Composition and transports:
//! - [`state`]: the handles routes and sessions share, built once at start.
//! - [`retention`]: the job that removes old messages, note tombstones and nonces.
//! - [`posting`]: posts announcements while leading, keeps them for a takeover otherwise.
//! - [`cluster`]: presence, connection counts and "online" shared with the other instances
//!   over a shared bus.
//! - [`listener`]: the accept loop: connection cap, header timeout, bounded shutdown.
//! - [`session`]: the session core: upgrade, reader, writer, sign-in, paced replays, and
//!   the registry that hands each op to its feature.
//! - [`features`]: the user-facing features (chat, map feed and notes, typing, direct
//!   messages, read state, presence, sync), each owning its ops, routes and per-connection
//!   state; `features::all` is the one registration point.
//! - [`http`]: the core routes (health, status, sign-in), CORS, the features' routes, and the
//!   OpenAPI document of them all (`http::openapi`).
//! - [`serve`]: start-up, wiring, background tasks (note expiry, retention, presence
//!   announcements, on-chain changes, the moderation queue), and graceful shutdown.
//! - [`commands`]: what each command line verb does.

pub mod metrics;

pub mod cli;
pub mod client_ip;
pub mod connections;
pub mod probe;
pub mod queue;
pub mod web;

pub mod config;

pub mod hub;

pub mod presence;

pub mod ip_limit;

pub mod registry;

pub mod feed;

pub mod logging;

pub mod rate;

pub mod world;

pub mod permissions;

pub mod moderation;

pub mod chat;

pub mod dm;

pub mod publisher;

pub mod announcer;

pub mod leader;

pub mod state;

pub mod retention;

pub mod posting;

pub mod cluster;

pub mod listener;

pub mod session;

pub mod features;

pub mod http;

pub mod serve;

pub mod commands;
