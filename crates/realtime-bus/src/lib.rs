//! Fan-out between torii-realtime instances. The bus is the doorbell, not the log: it tells
//! every instance that a message was committed, and may drop or reorder such notices; each
//! instance's hub detects gaps by seq and reads what it missed from storage.
//!
//! [`Broker`] is the one trait the server calls. [`MemoryBroker`] serves a single instance;
//! a Redis implementation plugs in behind the same trait for several instances. The broker
//! never sees clients: it hands publications to one [`PublicationHandler`] per instance
//! (the local hub), which owns the subscribers.
//!
//! [`RateLimiter`] keeps rate limits per subject (an address), with [`MemoryRateLimiter`] for
//! one instance; a shared implementation makes them cluster-wide.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

mod memory;
pub mod rate;

pub use memory::MemoryBroker;
pub use rate::{KeyedBuckets, MemoryRateLimiter, Rate, RateLimiter};

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
}

/// Cross-instance fan-out.
pub trait Broker: Send + Sync + 'static {
    /// Announces a committed message to every instance with subscribers to its channel,
    /// this one included.
    fn publish(&self, publication: Publication) -> BoxFuture<'_, Result<(), BusError>>;

    /// Announces the messages of one commit, in order.
    fn publish_batch(&self, publications: Vec<Publication>) -> BoxFuture<'_, Result<(), BusError>> {
        Box::pin(async move {
            for p in publications {
                self.publish(p).await?;
            }
            Ok(())
        })
    }

    /// This instance now has local subscribers to `channel`.
    fn subscribe(&self, channel: &str) -> BoxFuture<'_, Result<(), BusError>>;

    /// This instance no longer has local subscribers to `channel`.
    fn unsubscribe(&self, channel: &str) -> BoxFuture<'_, Result<(), BusError>>;

    /// Short name for logs and the status endpoint (`memory`, `redis`).
    fn kind(&self) -> &'static str;
}
