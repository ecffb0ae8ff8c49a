//! The subscribing connection: keeps Redis subscribed to exactly the channels this instance
//! has local subscribers to, and hands what arrives to the hub.
//!
//! The hub's wishes are recorded in [`Subscriptions`] at once (the desired set); the task
//! makes Redis match it, many channels per SUBSCRIBE or UNSUBSCRIBE, and after a reconnect
//! subscribes the whole set again. A PING every few seconds finds a connection that died
//! without being closed.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::PubSubSink;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::link::{Backoff, Link, Side};
use super::wire;
use crate::PublicationHandler;

/// How long connecting, or one command, may take before the connection counts as lost.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle connection is checked.
pub(super) const PING_EVERY: Duration = Duration::from_secs(3);
/// Most channels named in one SUBSCRIBE or UNSUBSCRIBE.
const CHUNK: usize = 1000;

#[derive(Debug, Default)]
struct Sets {
    /// Channels with local subscribers.
    desired: HashSet<String>,
    /// Channels Redis confirmed on the current connection.
    active: HashSet<String>,
}

/// The desired and confirmed subscriptions, shared by the broker and its task.
#[derive(Debug)]
pub(super) struct Subscriptions {
    sets: Mutex<Sets>,
    /// Wakes the task: the desired set changed.
    wake: Notify,
    /// Bumped whenever the active set changes or the connection ends.
    changed: watch::Sender<()>,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Self {
            sets: Mutex::default(),
            wake: Notify::new(),
            changed: watch::channel(()).0,
        }
    }
}

impl Subscriptions {
    fn sets(&self) -> MutexGuard<'_, Sets> {
        self.sets.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn want(&self, channel: &str) {
        if self.sets().desired.insert(channel.to_owned()) {
            self.wake.notify_one();
        }
    }

    pub fn drop_wish(&self, channel: &str) {
        if self.sets().desired.remove(channel) {
            self.wake.notify_one();
        }
    }

    /// Watches the active set; take it before recording a wish so no change is missed.
    pub fn watch(&self) -> watch::Receiver<()> {
        self.changed.subscribe()
    }

    pub fn is_active(&self, channel: &str) -> bool {
        self.sets().active.contains(channel)
    }

    /// Up to [`CHUNK`] channels to subscribe and to unsubscribe to match the desired set.
    fn diff(&self) -> (Vec<String>, Vec<String>) {
        let sets = self.sets();
        let add = sets
            .desired
            .difference(&sets.active)
            .take(CHUNK)
            .cloned()
            .collect();
        let remove = sets
            .active
            .difference(&sets.desired)
            .take(CHUNK)
            .cloned()
            .collect();
        (add, remove)
    }

    fn confirm(&self, added: Vec<String>, removed: &[String]) {
        let mut sets = self.sets();
        for c in removed {
            sets.active.remove(c);
        }
        sets.active.extend(added);
        drop(sets);
        self.changed.send_replace(());
    }

    fn forget_active(&self) {
        self.sets().active.clear();
        self.changed.send_replace(());
    }
}

/// What the subscribing task needs.
pub(super) struct Subscriber {
    pub client: redis::Client,
    pub prefix: String,
    pub origin: u64,
    pub subs: Arc<Subscriptions>,
    pub link: Arc<Link>,
    pub handler: Arc<dyn PublicationHandler>,
}

impl Subscriber {
    /// Connects, follows the desired set and delivers, reconnecting with backoff, until
    /// `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let started = Instant::now();
            let (error, connected) = tokio::select! {
                () = cancel.cancelled() => return,
                r = self.session() => match r {
                    Err(e) => e,
                    Ok(never) => match never {},
                },
            };
            self.subs.forget_active();
            self.link.down(Side::Subscribe, &error);
            let lived = if connected {
                started.elapsed()
            } else {
                Duration::ZERO
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(backoff.after(lived)) => {}
            }
        }
    }

    /// One connection's life. Ends with the error, and whether it had been connected.
    async fn session(&self) -> Result<Infallible, (String, bool)> {
        let pubsub =
            match tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub()).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return Err((e.to_string(), false)),
                Err(_) => return Err(("connect timed out".into(), false)),
            };
        let (mut sink, mut stream) = pubsub.split();
        self.reconcile(&mut sink).await.map_err(|e| (e, false))?;
        self.link.up(Side::Subscribe);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => self.deliver(&msg),
                    None => return Err(("connection closed".into(), true)),
                },
                () = self.subs.wake.notified() => {
                    self.reconcile(&mut sink).await.map_err(|e| (e, true))?;
                }
                _ = ping.tick() => {
                    match tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err((e.to_string(), true)),
                        Err(_) => return Err(("ping timed out".into(), true)),
                    }
                }
            }
        }
    }

    /// Makes Redis's subscriptions match the desired set, looping while it changes.
    async fn reconcile(&self, sink: &mut PubSubSink) -> Result<(), String> {
        loop {
            let (add, remove) = self.subs.diff();
            if add.is_empty() && remove.is_empty() {
                return Ok(());
            }
            if !add.is_empty() {
                let keys: Vec<String> = add
                    .iter()
                    .map(|c| wire::channel_key(&self.prefix, c))
                    .collect();
                timed(sink.subscribe(keys)).await?;
            }
            if !remove.is_empty() {
                let keys: Vec<String> = remove
                    .iter()
                    .map(|c| wire::channel_key(&self.prefix, c))
                    .collect();
                timed(sink.unsubscribe(keys)).await?;
            }
            self.subs.confirm(add, &remove);
        }
    }

    fn deliver(&self, msg: &redis::Msg) {
        let Some(channel) = wire::channel_of(&self.prefix, msg.get_channel_name()) else {
            return;
        };
        let channel: Arc<str> = Arc::from(channel);
        if wire::is_signal(msg.get_payload_bytes()) {
            match wire::decode_signal(Bytes::copy_from_slice(msg.get_payload_bytes())) {
                Ok((origin, _)) if origin == self.origin => {}
                Ok((_, frame)) => self.handler.on_signal(&channel, frame),
                Err(_) => {
                    self.link.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            return;
        }
        match wire::decode(&channel, Bytes::copy_from_slice(msg.get_payload_bytes())) {
            // This instance delivered its own publications before announcing them.
            Ok(d) if d.origin == self.origin => {}
            Ok(d) => {
                self.link.received.fetch_add(1, Ordering::Relaxed);
                self.handler.on_publications(d.publications);
            }
            Err(e) => {
                self.link.dropped.fetch_add(1, Ordering::Relaxed);
                // Another version of the server on the same prefix: its instances' messages
                // still arrive through storage.
                self.link.warn_now_and_then(
                    Side::Subscribe,
                    &format!("unreadable notice on {channel}: {e}"),
                );
            }
        }
    }
}

async fn timed<T>(
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("redis did not answer in time".into()),
    }
}
