//! State that several instances share besides the log: who is present in which channel, and
//! which connections each address has open (for per-address caps and "is this peer online").
//! The server keeps the truth of its own sockets in memory and, with a shared store, writes
//! it there as entries that expire unless refreshed, so the entries of an instance that dies
//! without a word (`kill -9`, a lost host) disappear by themselves.
//!
//! [`SharedState`] is the trait; the Redis implementation is `RedisShared`. With one
//! instance there is none: the server's local state is the whole truth.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::BusError;

/// How often each instance writes all its entries again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3);
/// How long an entry lives unless refreshed: three refresh periods, so one late or lost
/// refresh does not make anyone leave, and a dead instance's members leave within this.
pub const ENTRY_TTL: Duration = Duration::from_secs(10);

/// What one instance writes and asks in one round (once a second).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Per channel, addresses with a subscribed socket on this instance, to write (or
    /// refresh) with a fresh expiry.
    pub present: Vec<(String, Vec<String>)>,
    /// Per channel, addresses whose last socket here left since the last round.
    pub left: Vec<(String, Vec<String>)>,
    /// Channels whose members on other instances are wanted.
    pub read: Vec<String>,
    /// Per address, the ids of its connections open here, to refresh.
    pub connections: Vec<(String, Vec<u64>)>,
}

/// Shared presence and connection counts.
pub trait SharedState: Send + Sync + std::fmt::Debug + 'static {
    /// Writes a round and answers, for each channel of `round.read`, the addresses present
    /// through other instances (this instance's own entries are left out: its memory is
    /// more current).
    fn sync(&self, round: Round) -> BoxFuture<'_, Result<HashMap<String, Vec<String>>, BusError>>;

    /// Addresses present in `channel` through any instance, this one included.
    fn present(&self, channel: &str) -> BoxFuture<'_, Result<Vec<String>, BusError>>;

    /// Counts connection `conn` of `address` if the address has fewer than `max` open across
    /// instances; `Ok(false)` when it has not.
    fn claim(&self, address: &str, conn: u64, max: usize) -> BoxFuture<'_, Result<bool, BusError>>;

    /// Connection `conn` of `address` closed. Not waited on: an entry that is not removed
    /// expires.
    fn release(&self, address: &str, conn: u64);

    /// For each address, whether it has a connection open on any instance.
    fn online(&self, addresses: &[String]) -> BoxFuture<'_, Result<Vec<bool>, BusError>>;
}
