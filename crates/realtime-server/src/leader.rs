//! Which instance posts on-chain announcements.
//!
//! Every instance follows Torii and applies each change to its own projection (permissions
//! need it), and so every instance sees every announcement. Posting is the leader's: with the
//! in-process bus the single instance leads; with `[bus] kind = "redis"` the instance holding
//! the `announcements` lease in Redis ([`RedisLease`], `bus.lease_ttl`) does. The leader also
//! runs the retention job ([`crate::retention`]), which is as safe to run twice.
//!
//! **Correctness does not rest on the lease.** An announcement's message id is derived from
//! its change ([`crate::announcer::message_id`]), so when two instances briefly both lead (a
//! paused leader whose lease ran out, Redis unreachable, a clock jump), each posts it and the
//! store keeps one: the second post is a retry of the first. The lease only spares the other
//! instances the work. (An indexer that does not report when a transaction ran leaves no
//! stable id: then a line posted twice is stored twice.)
//!
//! **Nothing is lost in a handover**: see [`crate::posting`].

use realtime_bus::{BusConfig, BusError, RedisLease};
use tokio::sync::watch;

/// The name of the lease in Redis (`PREFIX:lease:announcements`).
pub const LEASE: &str = "announcements";

/// Whether this instance posts announcements.
#[derive(Debug)]
pub enum Leadership {
    /// The only instance (in-process bus): it always leads.
    Alone(watch::Sender<bool>),
    /// One of several: it leads while it holds the lease.
    Lease(RedisLease),
}

impl Leadership {
    pub fn alone() -> Self {
        Self::Alone(watch::Sender::new(true))
    }

    /// Starts competing for the lease; not leader until it is taken.
    pub fn lease(config: &BusConfig) -> Result<Self, BusError> {
        RedisLease::start(config, LEASE).map(Self::Lease)
    }

    pub fn is_leader(&self) -> bool {
        match self {
            Self::Alone(_) => true,
            Self::Lease(l) => l.is_leader(),
        }
    }

    /// Changes of [`Leadership::is_leader`].
    pub fn watch(&self) -> watch::Receiver<bool> {
        match self {
            Self::Alone(tx) => tx.subscribe(),
            Self::Lease(l) => l.watch(),
        }
    }

    /// Gives up leading at shutdown, so another instance takes over at once rather than
    /// after the lease expires.
    pub async fn release(&self) {
        if let Self::Lease(l) = self {
            l.release().await;
        }
    }
}
