//! torii-realtime server: the composition root.
//!
//! - [`cli`]: the `torii-realtime` command line (`serve`, `migrate`, `config check`, `token`).
//! - [`config`]: the TOML file, defaults, environment overrides, validation.
//! - [`serve`]: start-up, the listener, and graceful shutdown.
//! - [`http`]: routes, CORS, JSON errors, health and history endpoints.
//! - [`session`]: one WebSocket connection: reader, writer, bounded send queue, requests.
//! - [`queue`]: a connection's outbound queue, bounded by bytes, drained by its writer.
//! - [`hub`]: local fan-out, in seq order, with gap filling from storage.
//! - [`feed`]: on-chain updates routed to watched map areas and owners.
//! - [`chat`]: publish and history, shared by WebSocket and HTTP.
//! - [`publisher`]: group commit of publishes, replies after the commit, batched announcements.
//! - [`permissions`]: channel read/post policies from config and on-chain state.
//! - [`world`]: the Torii follower and live permission changes.
//! - [`registry`]: signed-in sessions by address, for live changes.
//! - [`client_ip`]: the client address behind trusted proxies, for per-IP limits.
//! - [`rate`]: per-address rate limits (publish, storage reads).
//! - [`ip_limit`]: per-IP token buckets and counts of sockets not signed in yet.
//! - [`listener`]: the accept loop: connection cap, header timeout, bounded shutdown.
//! - [`connections`]: connection limits per instance and per address.
//! - [`state`]: what routes and sessions share.
//! - [`logging`]: tracing setup, human or JSON.

pub mod chat;
pub mod cli;
pub mod client_ip;
pub mod commands;
pub mod config;
pub mod connections;
pub mod feed;
pub mod http;
pub mod hub;
pub mod ip_limit;
pub mod listener;
pub mod logging;
pub mod permissions;
pub mod publisher;
pub mod queue;
pub mod rate;
pub mod registry;
pub mod serve;
pub mod session;
pub mod state;
pub mod world;
