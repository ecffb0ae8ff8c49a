//! The Redis broker: several instances, one Redis, one database.
//!
//! **Per-channel subscriptions.** Each instance SUBSCRIBEs to the Redis channel of every
//! realtime channel it has local subscribers to, and UNSUBSCRIBEs when the last one leaves
//! (the hub already tells the broker both). So an instance receives only what its sockets
//! need: direct-message and group channels, which are most channels, reach one or two
//! instances rather than all of them, and Redis does the routing it is built for. A single
//! pattern or a fixed set of shard channels would be simpler (no subscription churn, nothing
//! to resubscribe after a reconnect), but every instance would then receive and decode every
//! message of the deployment. The churn is bounded: subscriptions change when a channel's
//! first subscriber arrives or its last leaves, are batched (one SUBSCRIBE for many channels),
//! and a reconnect resubscribes the whole set in a few commands. This is also the shape Redis
//! Cluster's sharded pub/sub (SSUBSCRIBE) needs.
//!
//! **One PUBLISH per channel of a commit.** A commit batch is split by channel and each part
//! is one payload ([`wire`]), holding the push frames as encoded by the publishing instance;
//! the PUBLISH commands of everything queued go out as one pipeline ([`publish`]).
//!
//! **Own publications.** An instance delivers its own commits to its local hub before
//! announcing them (so its subscribers never wait for Redis, and keep receiving while Redis is
//! down), and skips its own echo by the origin id in the payload. The hub would drop the echo
//! anyway (seq already delivered); skipping it saves the work.
//!
//! **When Redis fails.** Publishing never waits for Redis: notices are queued, bounded, and
//! dropped (counted) when they cannot be sent. Both connections reconnect by themselves with
//! jittered backoff (0.1 s to 5 s), and the subscriptions are restored. Meanwhile, and for any
//! notice pub/sub loses, the server's head check (`bus.head_check_interval`) reads the newest
//! seq of every followed channel from storage and fills what is missing, in order.

mod lease;
mod link;
mod local;
pub(crate) mod metrics;
mod publish;
mod rate;
mod shared;
mod subscribe;
mod wire;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::BusConfig;
use crate::{Broker, BusError, BusState, BusStatus, Publication, PublicationHandler};
pub use lease::RedisLease;
use link::Link;
pub use local::LocalRedis;
use publish::{Notice, Publisher};
use subscribe::{Subscriber, Subscriptions};

pub use rate::RedisRateLimiter;
pub use shared::RedisShared;

/// How long a subscribe waits for Redis to confirm it before the hub goes on without it.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(1);
/// How long start-up waits for the first connections, so a fresh instance does not report a
/// degraded bus only because it has not tried yet.
const START_WAIT: Duration = Duration::from_secs(3);

/// Fan-out over Redis pub/sub.
pub struct RedisBroker {
    prefix: String,
    /// Names this instance in payloads, to recognise its own echo.
    origin: u64,
    handler: Arc<dyn PublicationHandler>,
    queue: mpsc::Sender<Notice>,
    subs: Arc<Subscriptions>,
    link: Arc<Link>,
    cancel: CancellationToken,
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("prefix", &self.prefix)
            .field("state", &self.link.status().state)
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// Starts the connections to `config.url` and waits briefly for them. A Redis that cannot
    /// be reached is not a reason to stay down: the broker keeps trying in the background.
    /// Fails only on a URL that cannot be used.
    pub async fn start(
        config: &BusConfig,
        handler: Arc<dyn PublicationHandler>,
    ) -> Result<Self, BusError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| BusError::Unavailable(format!("bus.url: {e}")))?;
        let (tx, rx) = mpsc::channel(publish::QUEUE_DEPTH);
        let link = Arc::new(Link::default());
        let subs = Arc::new(Subscriptions::default());
        let cancel = CancellationToken::new();
        let origin = rand::random::<u64>();
        // Not tracked: both end at `close`, or with the process.
        tokio::spawn(
            Publisher {
                client: client.clone(),
                link: link.clone(),
                queue: rx,
            }
            .run(cancel.clone()),
        );
        tokio::spawn(
            Subscriber {
                client,
                prefix: config.prefix.clone(),
                origin,
                subs: subs.clone(),
                link: link.clone(),
                handler: handler.clone(),
            }
            .run(cancel.clone()),
        );
        let broker = Self {
            prefix: config.prefix.clone(),
            origin,
            handler,
            queue: tx,
            subs,
            link,
            cancel,
        };
        let deadline = tokio::time::Instant::now() + START_WAIT;
        while broker.link.status().state == BusState::Connecting
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(broker)
    }
}

impl RedisBroker {
    /// Rate limits shared through this broker's Redis, falling back to local buckets (at
    /// most about `max_local_subjects`) while Redis cannot be reached.
    pub fn rate_limiter(&self, max_local_subjects: usize) -> RedisRateLimiter {
        RedisRateLimiter::new(self.prefix.clone(), self.link.clone(), max_local_subjects)
    }

    /// Presence and connection counts shared through this broker's Redis.
    pub fn shared_state(&self) -> RedisShared {
        RedisShared {
            prefix: self.prefix.clone(),
            origin: self.origin,
            link: self.link.clone(),
        }
    }
}

impl Broker for RedisBroker {
    fn publish_batch(&self, publications: Vec<Publication>) -> BoxFuture<'_, Result<(), BusError>> {
        let mut unsent = 0u64;
        for (channel, items) in wire::by_channel(&publications) {
            let notice = Notice {
                key: wire::channel_key(&self.prefix, channel),
                payload: wire::encode(self.origin, &items),
            };
            if self.queue.try_send(notice).is_err() {
                unsent += 1;
            }
        }
        if unsent > 0 {
            self.link.dropped.fetch_add(unsent, Ordering::Relaxed);
            self.link
                .warn_now_and_then(link::Side::Publish, "the publish queue is full");
        }
        self.handler.on_publications(publications);
        Box::pin(futures_util::future::ready(Ok(())))
    }

    fn subscribe(&self, channel: &str) -> BoxFuture<'_, Result<(), BusError>> {
        let mut changed = self.subs.watch();
        self.subs.want(channel);
        let channel = channel.to_owned();
        Box::pin(async move {
            if !self.link.is_up(link::Side::Subscribe) {
                return Err(BusError::Unavailable(
                    "redis is unreachable; subscribing once it is back".into(),
                ));
            }
            let confirmed = async {
                while !self.subs.is_active(&channel) {
                    if changed.changed().await.is_err() || !self.link.is_up(link::Side::Subscribe) {
                        return false;
                    }
                }
                true
            };
            match tokio::time::timeout(SUBSCRIBE_WAIT, confirmed).await {
                Ok(true) => Ok(()),
                _ => Err(BusError::Unavailable(
                    "redis did not confirm the subscription; it is kept".into(),
                )),
            }
        })
    }

    fn unsubscribe(&self, channel: &str) {
        self.subs.drop_wish(channel);
    }

    fn signal(&self, channel: &str, frame: bytes::Bytes) {
        let notice = Notice {
            key: wire::channel_key(&self.prefix, channel),
            payload: wire::encode_signal(self.origin, &frame),
        };
        // Ephemeral: a full queue or a Redis outage loses it, as it would lose a typing
        // notice on a dropped socket.
        if self.queue.try_send(notice).is_err() {
            self.link.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn status(&self) -> BusStatus {
        self.link.status()
    }

    fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
