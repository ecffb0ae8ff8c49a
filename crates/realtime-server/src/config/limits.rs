//! The `[limits]` section: what one connection, address or client IP may do.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::sections::{Check, fail};

/// Most map cells (32×32 tiles) one watched area may touch. A square area of the default
/// 65 536 tiles touches at most 81; this refuses long thin strips that would cost a cell
/// entry every 32 tiles.
pub const MAX_WATCH_BUCKETS: u64 = 1024;

/// The largest `limits.max_watch_tiles` accepted: beyond it, no area could pass the bucket
/// limit anyway.
pub const MAX_WATCH_TILES: u64 = 1 << 20;

/// `[limits]`: what one connection may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest text frame answered normally; larger ones get `too_large`. Frames over
    /// `max(4 × this, 1 MiB)` close the connection (1009).
    pub max_frame_bytes: usize,
    /// Largest message body, in characters after Unicode normalisation.
    pub max_message_chars: usize,
    /// Most channels one connection may subscribe to.
    pub max_subscriptions: usize,
    /// Most connections one address may hold on this instance.
    pub max_connections_per_address: usize,
    /// Bytes a connection may have queued for sending before it is closed as a slow
    /// consumer (4001).
    pub send_queue_bytes: usize,
    /// Publishes one address may make in a burst (all its connections together)…
    pub publish_burst: u32,
    /// …and per second, sustained.
    pub publish_per_second: f64,
    /// Storage reads one address may ask for in a burst: history pages (WebSocket and HTTP)
    /// and subscribes that replay or open a channel not followed yet…
    pub read_burst: u32,
    /// …and per second, sustained.
    pub read_per_second: f64,
    /// On subscribe with `since`, replay at most this many missed messages; beyond it the
    /// reply says `recovered: false` and the client pages history instead.
    pub recovery_max_messages: u64,
    /// Largest map area, in tiles, one connection may watch.
    pub max_watch_tiles: u64,
    /// WebSocket upgrades one client IP may make in a burst…
    pub upgrades_per_ip_burst: u32,
    /// …and per second, sustained (HTTP 429 past it).
    pub upgrades_per_ip_per_second: f64,
    /// Open WebSocket connections one client IP may hold before signing in (HTTP 429 past
    /// it). Sockets that send their token at connect sign in at once.
    pub max_unauthenticated_per_ip: usize,
    /// Open HTTP connections (before any WebSocket upgrade) one client IP may hold; not
    /// applied to trusted proxies, whose connections carry many clients.
    pub max_http_connections_per_ip: usize,
    /// Frames one connection may send in a burst (a reconnect that resubscribes every
    /// channel)…
    pub frames_burst: u32,
    /// …and per second, sustained. Past it the server stops reading the socket until the
    /// rate allows (TCP pushes back on the client): nothing is refused, but a flooding
    /// client costs the server at most this many frames a second.
    pub frames_per_second: f64,
    /// Publish limits and slow mode of one channel (`world`) or kind (`guild`), per address
    /// and channel, on top of the per-address publish limit.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, ChannelLimits>,
}

/// `[limits.channels.NAME]`: what one address may post in one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelLimits {
    /// Messages one address may post in a burst in the channel…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_burst: Option<u32>,
    /// …and per second, sustained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_per_second: Option<f64>,
    /// At most one message per address this often (moderators are exempt), e.g. `"30s"`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "realtime_core::duration::option"
    )]
    pub slow_mode: Option<Duration>,
}

impl LimitsConfig {
    /// The limits of `channel`: its own entry, else its kind's.
    pub fn of_channel(&self, channel: &realtime_core::ChannelName) -> Option<&ChannelLimits> {
        self.channels
            .get(channel.as_str())
            .or_else(|| self.channels.get(channel.kind()))
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_message_chars: 2000,
            max_subscriptions: 100,
            max_connections_per_address: 10,
            send_queue_bytes: 1024 * 1024,
            publish_burst: 10,
            publish_per_second: 1.0,
            read_burst: 200,
            read_per_second: 20.0,
            recovery_max_messages: 1000,
            max_watch_tiles: 65_536,
            upgrades_per_ip_burst: 20,
            upgrades_per_ip_per_second: 5.0,
            max_unauthenticated_per_ip: 16,
            max_http_connections_per_ip: 64,
            frames_burst: 200,
            frames_per_second: 50.0,
            channels: BTreeMap::new(),
        }
    }
}

impl LimitsConfig {
    pub(crate) fn validate(&self) -> Check {
        if self.max_frame_bytes < 1024 {
            return fail("limits.max_frame_bytes", "must be at least 1024");
        }
        if self.max_message_chars == 0 {
            return fail("limits.max_message_chars", "must be at least 1");
        }
        if self.max_subscriptions == 0 {
            return fail("limits.max_subscriptions", "must be at least 1");
        }
        if self.max_connections_per_address == 0 {
            return fail("limits.max_connections_per_address", "must be at least 1");
        }
        let one_message = self
            .max_message_chars
            .saturating_mul(4)
            .saturating_add(1024);
        if self.send_queue_bytes < one_message {
            return fail(
                "limits.send_queue_bytes",
                format!(
                    "must hold one message of limits.max_message_chars ({} bytes: 4 per \
                     character and 1 KiB of envelope)",
                    one_message
                ),
            );
        }
        if self.send_queue_bytes < self.max_frame_bytes {
            return fail(
                "limits.send_queue_bytes",
                format!(
                    "must be at least limits.max_frame_bytes ({})",
                    self.max_frame_bytes
                ),
            );
        }
        if self.publish_burst == 0 {
            return fail("limits.publish_burst", "must be at least 1");
        }
        if !(self.publish_per_second > 0.0 && self.publish_per_second.is_finite()) {
            return fail("limits.publish_per_second", "must be a number above 0");
        }
        if self.read_burst == 0 || !(self.read_per_second > 0.0 && self.read_per_second.is_finite())
        {
            return fail(
                "limits.read_per_second",
                "read_burst and read_per_second must be above 0",
            );
        }
        if self.upgrades_per_ip_burst == 0
            || !(self.upgrades_per_ip_per_second > 0.0
                && self.upgrades_per_ip_per_second.is_finite())
        {
            return fail(
                "limits.upgrades_per_ip_per_second",
                "upgrades_per_ip_burst and upgrades_per_ip_per_second must be above 0",
            );
        }
        if self.max_http_connections_per_ip == 0 {
            return fail("limits.max_http_connections_per_ip", "must be at least 1");
        }
        if self.frames_burst == 0
            || !(self.frames_per_second > 0.0 && self.frames_per_second.is_finite())
        {
            return fail(
                "limits.frames_per_second",
                "frames_burst and frames_per_second must be above 0",
            );
        }
        for (name, c) in &self.channels {
            let key = |k: &str| format!("limits.channels.{name}.{k}");
            if realtime_core::ChannelName::new(name).is_err() {
                return Err((
                    format!("limits.channels.{name}"),
                    "not a channel name or kind".into(),
                ));
            }
            if c.publish_burst.is_some() != c.publish_per_second.is_some() {
                return Err((
                    key("publish_per_second"),
                    "give publish_burst and publish_per_second together".into(),
                ));
            }
            if c.publish_burst == Some(0)
                || c.publish_per_second
                    .is_some_and(|r| !(r > 0.0 && r.is_finite()))
            {
                return Err((key("publish_per_second"), "must be above 0".into()));
            }
            if c.slow_mode.is_some_and(|d| d < Duration::from_secs(1)) {
                return Err((key("slow_mode"), "at least 1s".into()));
            }
        }
        if self.max_unauthenticated_per_ip == 0 {
            return fail("limits.max_unauthenticated_per_ip", "must be at least 1");
        }
        if !(1..=MAX_WATCH_TILES).contains(&self.max_watch_tiles) {
            return fail(
                "limits.max_watch_tiles",
                format!(
                    "must be between 1 and {MAX_WATCH_TILES} (1024×1024; a watched area also \
                     touches at most {} map cells of 32×32)",
                    MAX_WATCH_BUCKETS
                ),
            );
        }
        Ok(())
    }

    /// The hard transport limit: frames above it close the connection.
    pub fn transport_max_bytes(&self) -> usize {
        (self.max_frame_bytes.saturating_mul(4)).max(1024 * 1024)
    }
}
