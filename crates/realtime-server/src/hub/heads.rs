//! The head check: with a shared bus, every `bus.head_check_interval` the hub reads the
//! stored newest seq of every channel it has subscribers to, in one query per thousand
//! channels, and fills from storage any channel whose head is past what it delivered.
//!
//! A lost notice is usually revealed by the next one (a seq gap), but not in a quiet
//! channel, and not while Redis is down, when no notice comes at all. This bounds how late a
//! committed message can reach a subscriber of another instance to about one interval,
//! whatever the bus does. Its cost does not grow with traffic: one small indexed read per
//! interval per instance, and a range read only for channels that are behind.
//!
//! A head read just before a live notice arrives looks like a gap for a moment; the fill
//! waits [`super::GAP_FILL_DELAY`] and finds nothing left to read.

use std::sync::Arc;
use std::time::Duration;

use realtime_core::ChannelName;
use realtime_store::StoreError;
use tokio_util::sync::CancellationToken;

use super::{Hub, lock};

impl Hub {
    /// Channels whose head is known (a subscriber has joined), for the head check.
    pub fn followed(&self) -> Vec<ChannelName> {
        let states: Vec<_> = lock(&self.channels).values().cloned().collect();
        states
            .into_iter()
            .filter_map(|s| {
                let st = lock(&s);
                (st.last.is_some() && !st.removed).then(|| st.name.clone())
            })
            .collect()
    }

    /// Takes the stored heads of `channels`: a channel whose head is past what was
    /// delivered missed notices, and reads the rest from storage.
    pub fn observe_heads(&self, channels: &[ChannelName], heads: &[u64]) {
        for (channel, &head) in channels.iter().zip(heads) {
            let state = lock(&self.channels).get(channel).cloned();
            let Some(state) = state else {
                continue;
            };
            let mut st = lock(&state);
            if st.last.is_some_and(|last| head > last) {
                st.head = st.head.max(head);
                // At most one fill runs per channel; this one waits GAP_FILL_DELAY first.
                self.schedule_gap_fill(&mut st);
            }
        }
    }

    /// One head check over every followed channel; returns how many were checked.
    pub async fn check_heads(&self) -> Result<usize, StoreError> {
        let channels = self.followed();
        if channels.is_empty() {
            return Ok(0);
        }
        let heads = crate::metrics::timed(
            crate::metrics::StorageOp::Read,
            self.store.channel_heads(&channels),
        )
        .await?;
        self.observe_heads(&channels, &heads);
        Ok(channels.len())
    }
}

/// Runs the head check every `interval` until `shutdown`.
pub async fn run(hub: Arc<Hub>, interval: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match hub.check_heads().await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("head check: storage answers again");
            }
            Ok(_) => {}
            // Once per outage: storage being down is reported by /readyz and every request.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "head check failed; retrying every interval");
            }
            Err(_) => {}
        }
    }
}
