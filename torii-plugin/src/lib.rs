//! Follows a Dojo world through Torii's gRPC API and answers, from on-chain state, the
//! questions a social layer asks: is this address a player, which groups is it in, who owns
//! or occupies a tile, where are a player's units.
//!
//! - [`proto`]: our own subset of Torii's protobuf API (field numbers from Torii v1.8),
//!   compiled at build time with a vendored `protoc`.
//! - [`rules`]: the world rules from TOML (`[torii]`, `[players]`, `[groups.NAME]`,
//!   `[[positions]]`, `[channels.NAME]`, `[feed]`).
//! - [`value`]: model records flattened to dotted paths, and their scalar values.
//! - [`schema`]: start-up validation of the rules against the world's model schemas.
//! - [`projection`]: the indexed in-memory view and the changes each update causes.
//! - [`sync`]: the follower: subscribe, page, merge, reconnect with jittered backoff.
//! - [`announce`]: `[[announcements]]`: on-chain changes as lines of text for channels.
//! - `fake` (feature `fake`): a fake Torii gRPC server for tests.

pub mod announce;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod projection;
pub mod rules;
pub mod schema;
pub mod sync;
pub mod value;

/// Generated Torii protobuf types and the `world.World` client and server.
#[allow(missing_debug_implementations, clippy::all, clippy::unwrap_used)]
pub mod proto {
    pub mod types {
        tonic::include_proto!("types");
    }
    pub mod world {
        tonic::include_proto!("world");
    }
}
