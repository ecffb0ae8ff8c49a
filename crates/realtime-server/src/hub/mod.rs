//! The local hub: which connections of this instance subscribe to which channel, and the
//! per-channel order of delivery.
//!
//! Publications reach the hub from the bus, which may drop or reorder them. The hub delivers
//! each channel strictly in seq order: a publication ahead of the next expected seq waits,
//! and if the missing ones do not arrive shortly they are read from storage (where they are
//! already committed, since seqs are assigned under the channel's row lock). A publication
//! at or below the last delivered seq is a duplicate and is dropped.
//!
//! With a shared bus, notices can also be lost with nothing after them to reveal the gap (a
//! quiet channel, or Redis down): [`heads`] compares the stored head of every followed channel
//! with what was delivered, and a channel behind is filled the same way.
//!
//! Subscribing with recovery is race-free: the subscriber is registered first in a pending
//! state that buffers live pushes, the session replays from storage up to the seq returned by
//! [`Hub::join`], then [`Hub::activate`] releases the buffered pushes after that seq.

mod channel;
pub mod heads;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use realtime_bus::{Broker, Publication, PublicationHandler};
use realtime_core::ChannelName;
use realtime_protocol::reply::encode_message_push;
use realtime_store::{Store, StoreError};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::queue::SendQueue;
use channel::ChannelState;

/// Identifies one WebSocket connection on this instance.
pub type ConnId = u64;

/// How long a seq gap may stay open before the hub reads the missing messages from storage.
/// Concurrent publishers' notices usually arrive within microseconds of each other, so this
/// mostly saves storage reads; it bounds the extra latency when a notice is really lost.
const GAP_FILL_DELAY: Duration = Duration::from_millis(50);
/// Most messages read per gap-fill query.
const GAP_FILL_BATCH: u32 = 500;

/// Channel → local subscribers, with ordered delivery.
pub struct Hub {
    me: Weak<Hub>,
    channels: Mutex<HashMap<ChannelName, Arc<Mutex<ChannelState>>>>,
    store: Store,
    broker: OnceLock<Arc<dyn Broker>>,
    /// Budget of a subscriber's pending buffer during recovery (the send queue budget).
    pending_budget: usize,
    /// Where signals on [`CONTROL_CHANNEL`] go: notices between instances about the server
    /// itself (moderator actions), not frames for subscribers.
    control: OnceLock<Box<dyn Fn(bytes::Bytes) + Send + Sync>>,
}

/// The bus channel instances send each other control notices on. Its name is not a valid
/// channel name, so no client channel can take it.
pub const CONTROL_CHANNEL: &str = "!control";

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("channels", &self.channel_count())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // State behind these locks stays consistent at every unlock point; survive a panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub fn new(store: Store, pending_budget: usize) -> Arc<Self> {
        Arc::new_cyclic(|me| Hub {
            me: me.clone(),
            channels: Mutex::new(HashMap::new()),
            store,
            broker: OnceLock::new(),
            pending_budget,
            control: OnceLock::new(),
        })
    }

    /// Sets where control notices from other instances go. Called once at start.
    pub fn set_control(&self, handler: impl Fn(bytes::Bytes) + Send + Sync + 'static) {
        let _ = self.control.set(Box::new(handler));
    }

    /// Connects the hub to the bus it subscribes channels on. Called once at start.
    pub fn set_broker(&self, broker: Arc<dyn Broker>) {
        let _ = self.broker.set(broker);
    }

    /// Whether `channel` has local subscribers (its head is known without reading storage).
    pub fn follows(&self, channel: &ChannelName) -> bool {
        lock(&self.channels).contains_key(channel)
    }

    /// Sends an ephemeral frame (typing, presence) to the local subscribers of `channel`
    /// but `except`; nothing is stored, and no subscriber means nobody to tell.
    pub fn signal(&self, channel: &ChannelName, frame: Utf8Bytes, except: Option<ConnId>) {
        let state = lock(&self.channels).get(channel).cloned();
        if let Some(state) = state {
            lock(&state).signal(&frame, except);
        }
    }

    /// Channels with at least one local subscriber.
    pub fn channel_count(&self) -> usize {
        lock(&self.channels).len()
    }

    /// Registers `conn` on `channel` in the pending state and returns the seq up to which the
    /// caller replays from storage; live pushes after it are buffered until [`Hub::activate`].
    pub async fn join(
        &self,
        channel: &ChannelName,
        conn: ConnId,
        queue: SendQueue,
    ) -> Result<u64, StoreError> {
        loop {
            let (state, created) = {
                let mut map = lock(&self.channels);
                match map.get(channel) {
                    Some(s) => (s.clone(), false),
                    None => {
                        let s = Arc::new(Mutex::new(ChannelState::new(channel.clone())));
                        map.insert(channel.clone(), s.clone());
                        (s, true)
                    }
                }
            };
            {
                let mut st = lock(&state);
                if st.removed {
                    continue; // The last subscriber left meanwhile; start over.
                }
                st.add_pending(conn, queue.clone(), self.pending_budget);
                if let Some(last) = st.last {
                    st.set_floor(conn, last);
                    return Ok(last);
                }
            }
            if created {
                // Subscribe to the bus before reading the head, so nothing committed after
                // the read can be missed.
                if let Some(broker) = self.broker.get()
                    && let Err(e) = broker.subscribe(channel.as_str()).await
                {
                    // The broker warns about its own outages; until the subscription takes
                    // effect, the head check (with a shared bus) brings the channel's messages.
                    tracing::debug!(%channel, error = %e, "bus subscribe not confirmed");
                }
            }
            let head = match crate::metrics::timed(
                crate::metrics::StorageOp::Read,
                self.store.channel_head(channel),
            )
            .await
            {
                Ok(h) => h,
                Err(e) => {
                    self.leave(channel, conn);
                    return Err(e);
                }
            };
            let mut st = lock(&state);
            if st.last.is_none() {
                st.last = Some(head.last_seq);
                if st.drain_ready() {
                    self.schedule_gap_fill(&mut st);
                }
            }
            let last = st.last.unwrap_or(head.last_seq);
            st.set_floor(conn, last);
            return Ok(last);
        }
    }

    /// Skips live pushes up to `seq` for `conn` on `channel` (the client already has them).
    pub fn raise_floor(&self, channel: &ChannelName, conn: ConnId, seq: u64) {
        let state = lock(&self.channels).get(channel).cloned();
        if let Some(state) = state {
            lock(&state).set_floor(conn, seq);
        }
    }

    /// Ends the pending state of `conn` on `channel`: buffered pushes after the join seq go
    /// to its queue, and later ones follow directly.
    pub fn activate(&self, channel: &ChannelName, conn: ConnId) {
        let state = lock(&self.channels).get(channel).cloned();
        if let Some(state) = state {
            lock(&state).activate(conn);
        }
    }

    /// Removes `conn` from `channel`; the channel is forgotten when its last subscriber goes.
    pub fn leave(&self, channel: &ChannelName, conn: ConnId) {
        let mut map = lock(&self.channels);
        let Some(state) = map.get(channel).cloned() else {
            return;
        };
        let mut st = lock(&state);
        if st.subscribers.remove(&conn).is_some() {
            crate::metrics::get().subscriptions.dec();
        }
        if st.subscribers.is_empty() {
            st.removed = true;
            map.remove(channel);
            // Under the map lock: a joiner that re-creates the channel subscribes after this.
            if let Some(broker) = self.broker.get() {
                broker.unsubscribe(channel.as_str());
            }
        }
    }

    /// Delivers publications of one channel to local subscribers, in seq order.
    fn deliver(&self, channel: &str, items: impl IntoIterator<Item = (u64, Utf8Bytes)>) {
        let state = lock(&self.channels).get(channel).cloned();
        let Some(state) = state else {
            return; // No local subscriber.
        };
        let mut st = lock(&state);
        if st.offer_many(items) {
            self.schedule_gap_fill(&mut st);
        }
    }

    /// Reads the messages missing before the earliest waiting publication, after a delay that
    /// grows while storage reads fail.
    fn schedule_gap_fill(&self, st: &mut ChannelState) {
        if st.filling {
            return;
        }
        let Some(me) = self.me.upgrade() else {
            return;
        };
        st.filling = true;
        let channel = st.name.clone();
        let delay = GAP_FILL_DELAY * 2u32.saturating_pow(st.fill_failures.min(7));
        // Not tracked: it holds only a weak hub, and a fill cut short by shutdown loses
        // nothing (the messages are stored; clients recover them on reconnect).
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            me.fill_gap(channel).await;
        });
    }

    async fn fill_gap(&self, channel: ChannelName) {
        let state = lock(&self.channels).get(&channel).cloned();
        let Some(state) = state else {
            return;
        };
        let gap = lock(&state).gap();
        let Some((after, up_to)) = gap else {
            lock(&state).filling = false;
            return;
        };
        tracing::debug!(%channel, after, up_to, "filling a seq gap from storage");
        let result = crate::metrics::timed(
            crate::metrics::StorageOp::Read,
            self.store.range(&channel, after, up_to, GAP_FILL_BATCH),
        )
        .await;
        let mut st = lock(&state);
        st.filling = false;
        match result {
            Ok(messages) => {
                st.fill_failures = 0;
                for m in &messages {
                    st.offer(m.seq, Utf8Bytes::from(encode_message_push(m)));
                }
                if st.gap().is_some() && messages.is_empty() {
                    // Storage no longer has them (retention): skip ahead rather than stall.
                    tracing::warn!(%channel, after, up_to, "missing messages are gone from storage; skipping");
                    st.skip_gap();
                    st.drain_ready();
                }
                // More than one read's worth, or another gap behind the one just filled.
                if st.gap().is_some() {
                    self.schedule_gap_fill(&mut st);
                }
            }
            Err(e) => {
                st.fill_failures = st.fill_failures.saturating_add(1);
                tracing::warn!(%channel, error = %e, failures = st.fill_failures, "gap fill failed; retrying");
                self.schedule_gap_fill(&mut st);
            }
        }
    }
}

/// A publication's seq and frame.
type Seqd = (u64, Utf8Bytes);

fn text(p: Publication) -> Option<(Arc<str>, u64, Utf8Bytes)> {
    match Utf8Bytes::try_from(p.frame) {
        Ok(frame) => Some((p.channel, p.seq, frame)),
        Err(_) => {
            tracing::error!(channel = %p.channel, seq = p.seq, "publication is not UTF-8; dropped");
            None
        }
    }
}

impl PublicationHandler for Hub {
    fn on_publication(&self, p: Publication) {
        if let Some((channel, seq, frame)) = text(p) {
            self.deliver(&channel, std::iter::once((seq, frame)));
        }
    }

    /// A batch is delivered per channel at once: each subscriber's writer wakes once for all
    /// of the batch's messages of that channel.
    fn on_publications(&self, publications: Vec<Publication>) {
        let mut by_channel: Vec<(Arc<str>, Vec<Seqd>)> = Vec::new();
        for (channel, seq, frame) in publications.into_iter().filter_map(text) {
            match by_channel.iter_mut().find(|(c, _)| *c == channel) {
                Some((_, items)) => items.push((seq, frame)),
                None => by_channel.push((channel, vec![(seq, frame)])),
            }
        }
        for (channel, items) in by_channel {
            self.deliver(&channel, items);
        }
    }

    /// Another instance's typing notice or tombstone: to this instance's subscribers of the
    /// channel; a control notice: to the control handler.
    fn on_signal(&self, channel: &str, frame: bytes::Bytes) {
        if channel == CONTROL_CHANNEL {
            if let Some(handler) = self.control.get() {
                handler(frame);
            }
            return;
        }
        let Ok(frame) = Utf8Bytes::try_from(frame) else {
            return;
        };
        let state = lock(&self.channels).get(channel).cloned();
        if let Some(state) = state {
            lock(&state).signal(&frame, None);
        }
    }
}

#[cfg(test)]
mod tests;
