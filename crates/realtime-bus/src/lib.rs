//! Fan-out between torii-realtime instances. The bus is the doorbell, not the log: it tells
//! every instance that a message was committed, and may drop or reorder such notices; each
//! instance's hub detects gaps by seq and reads what it missed from storage.
//!
//! [`Broker`] is the one trait the server calls. [`MemoryBroker`] serves a single instance;
//! `RedisBroker` (feature `redis`) carries notices between several instances over Redis
//! pub/sub. The broker never sees clients: it hands publications to one
//! [`PublicationHandler`] per instance (the local hub), which owns the subscribers.
//!
//! - [`config`]: the `[bus]` section.
//! - `memory`: the in-process broker.
//! - `redis` (feature `redis`): the Redis broker, its wire format and its connections, and
//!   `RedisLease`, which makes one instance the leader for work only one should do.
//! - [`rate`]: [`RateLimiter`] keeps rate limits per subject (an address), with
//!   [`MemoryRateLimiter`] for one instance and `RedisRateLimiter` across instances.
//! - [`cluster`]: [`SharedState`], presence and connection counts across instances
//!   (`RedisShared`); with one instance the server's memory is the whole truth.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

pub mod cluster;
pub mod config;
mod memory;
pub mod rate;
#[cfg(feature = "redis")]
mod redis;

pub use cluster::{Round, SharedState};
pub use config::{BusConfig, BusKind};
pub use memory::MemoryBroker;

/// Registers the bus's Prometheus metrics (Redis round trips) in the default registry, so a
/// scrape lists them before the first round trip. Without the `redis` feature there are none.
pub fn register_metrics() {
    #[cfg(feature = "redis")]
    redis::metrics::register();
}
pub use rate::{KeyedBuckets, MemoryRateLimiter, Rate, RateLimiter};
#[cfg(feature = "redis")]
pub use redis::{LocalRedis, RedisBroker, RedisLease};

/// A committed message on its way to every instance: the channel, its seq, and the push
/// frame already encoded once, to be shared byte-for-byte with every subscriber.
#[derive(Clone, PartialEq, Eq)]
pub struct Publication {
    pub channel: Arc<str>,
    pub seq: u64,
    pub frame: Bytes,
}

impl fmt::Debug for Publication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publication")
            .field("channel", &self.channel)
            .field("seq", &self.seq)
            .field("frame_bytes", &self.frame.len())
            .finish()
    }
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus backend cannot be reached; live delivery degrades to storage catch-up.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// Receives every publication for channels this instance is subscribed to.
pub trait PublicationHandler: Send + Sync + 'static {
    /// Called once per publication that reaches this instance. Must not block: hand the
    /// frame to subscriber queues and return.
    fn on_publication(&self, publication: Publication);

    /// Called with the publications of one batch (one commit), in order. Handlers that can
    /// deliver a batch at once (one wake-up per subscriber) override this.
    fn on_publications(&self, publications: Vec<Publication>) {
        for p in publications {
            self.on_publication(p);
        }
    }

    /// Called with an ephemeral frame another instance sent to `channel`'s subscribers
    /// ([`Broker::signal`]): not in the log, no seq, delivered to whoever follows now.
    fn on_signal(&self, _channel: &str, _frame: Bytes) {}
}

/// Whether notices reach the other instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BusState {
    /// In-process: there are no other instances to reach.
    #[default]
    Local,
    /// Started, and not connected yet.
    Connecting,
    /// Connected to the shared backend.
    Connected,
    /// The shared backend cannot be reached: notices of other instances arrive only through
    /// the storage head check, and the broker reconnects in the background.
    Disconnected,
}

impl BusState {
    pub fn as_str(self) -> &'static str {
        match self {
            BusState::Local => "local",
            BusState::Connecting => "connecting",
            BusState::Connected => "connected",
            BusState::Disconnected => "disconnected",
        }
    }
}

/// What a broker reports to `/readyz` and `/v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusStatus {
    pub state: BusState,
    /// Connections to the backend re-established after a loss.
    pub reconnects: u64,
    /// Notices sent to the backend (one per channel of a commit batch).
    pub sent: u64,
    /// Notices received from other instances.
    pub received: u64,
    /// Notices not sent (backend unreachable or too slow) or not readable; other instances
    /// catch up from storage.
    pub dropped: u64,
    /// The last connection error, if any.
    pub last_error: Option<String>,
}

/// Cross-instance fan-out.
pub trait Broker: Send + Sync + 'static {
    /// Announces a committed message to every instance with subscribers to its channel,
    /// this one included.
    fn publish(&self, publication: Publication) -> BoxFuture<'_, Result<(), BusError>> {
        self.publish_batch(vec![publication])
    }

    /// Announces the messages of one commit, in order. This instance's subscribers get
    /// them before the call returns; a remote broker must not make the caller wait for its
    /// backend (the committer calls it between batches).
    fn publish_batch(&self, publications: Vec<Publication>) -> BoxFuture<'_, Result<(), BusError>>;

    /// This instance now has local subscribers to `channel`. Returns once notices of the
    /// channel are expected to arrive (the hub reads the channel's head after this), or
    /// with an error when that cannot be confirmed; the subscription is kept and made
    /// effective as soon as the backend is reachable.
    fn subscribe(&self, channel: &str) -> BoxFuture<'_, Result<(), BusError>>;

    /// This instance no longer has local subscribers to `channel`. Recorded at once, in
    /// call order with [`Broker::subscribe`] (so the hub may call it under its own lock and
    /// a subscribe that follows is never undone); the backend is told in the background.
    fn unsubscribe(&self, channel: &str);

    /// Sends an ephemeral frame (a typing notice) to `channel`'s subscribers on the other
    /// instances; the caller delivers it to its own. At most once, never stored, never
    /// waited on: the in-process broker has no other instance to reach.
    fn signal(&self, _channel: &str, _frame: Bytes) {}

    /// Short name for logs and the status endpoint (`memory`, `redis`).
    fn kind(&self) -> &'static str;

    /// Connection state and counters, for health endpoints.
    fn status(&self) -> BusStatus {
        BusStatus::default()
    }

    /// Stops background work (connections to the backend); called once at shutdown.
    fn close(&self) {}
}
