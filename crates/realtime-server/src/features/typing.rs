//! Typing notices: `typing` on a channel tells the channel's other subscribers that the
//! address is typing, for [`TYPING_TTL`]. Nothing is stored: with a shared bus the notice
//! goes to the other instances as a signal on the channel's Redis channel, so it reaches
//! exactly the instances whose sockets follow the channel. Only an
//! address that may post to the channel may say it is typing. Clients send the op every few
//! seconds while their user types; a repeat within [`RESEND_AFTER`] on the same connection is
//! answered but not pushed again, and past that, notices are limited per address.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use realtime_core::ChannelName;
use realtime_core::policy::Action;
use realtime_protocol::push::Typing;
use realtime_protocol::reply::{TypingOk, encode_channel_push};
use realtime_protocol::{ErrorBody, Op};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::dm::Intent;
use crate::rate::Limit;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, not_registered};
use crate::state::App;

/// How long a typing notice holds unless repeated.
pub const TYPING_TTL: Duration = Duration::from_secs(5);
/// A repeat on the same connection and channel sooner than this is not pushed again.
pub const RESEND_AFTER: Duration = Duration::from_secs(2);
/// Channels one connection remembers its last notice for; the oldest are forgotten first.
const REMEMBERED: usize = 32;

/// The typing feature.
#[derive(Debug, Default)]
pub struct TypingNotices;

impl Feature for TypingNotices {
    fn name(&self) -> &'static str {
        "typing"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["typing"]
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(LastSent::default())
    }
}

/// When this connection last pushed a notice, per channel.
#[derive(Debug, Default)]
struct LastSent(HashMap<ChannelName, Instant>);

impl FeatureConn for LastSent {
    fn handle<'a>(
        &'a mut self,
        conn: Conn<'a>,
        id: u64,
        op: Op,
    ) -> BoxFuture<'a, Result<(), ErrorBody>> {
        Box::pin(async move {
            let Op::Typing { channel } = op else {
                return Err(not_registered("typing", &op));
            };
            self.typing(&conn, id, channel).await
        })
    }
}

impl LastSent {
    async fn typing(
        &mut self,
        conn: &Conn<'_>,
        id: u64,
        channel: ChannelName,
    ) -> Result<(), ErrorBody> {
        let who = conn.signed_in()?;
        let permissions = &conn.app.world.permissions;
        let channel = permissions.canonical(channel);
        permissions.check(Some(who), &channel, Action::Post)?;
        // Who may not post here has nothing to type either.
        conn.app
            .moderation
            .standing
            .check_mute(who, Some(&channel))?;
        let now = Instant::now();
        let recent = self
            .0
            .get(&channel)
            .is_some_and(|at| now.duration_since(*at) < RESEND_AFTER);
        if !recent {
            conn.app
                .delivery
                .rate_limits
                .take(Limit::Typing, who)
                .await?;
            conn.app
                .dm_gate()
                .admit(who, &channel, Intent::Typing)
                .await?;
            let frame = encode_channel_push(
                "typing",
                channel.as_str(),
                &Typing {
                    address: who.to_string(),
                    expires_in_ms: TYPING_TTL.as_millis() as u64,
                },
            );
            let frame = Utf8Bytes::from(frame);
            let delivery = &conn.app.delivery;
            delivery
                .broker
                .signal(channel.as_str(), bytes::Bytes::from(frame.clone()));
            delivery.hub.signal(&channel, frame, Some(conn.id));
            crate::metrics::get().message_in(crate::metrics::Feature::Typing);
            self.remember(channel.clone(), now);
        }
        conn.reply_ok(
            id,
            &TypingOk {
                channel: channel.to_string(),
                expires_in_ms: TYPING_TTL.as_millis() as u64,
            },
        );
        Ok(())
    }

    fn remember(&mut self, channel: ChannelName, at: Instant) {
        let full = self.0.len() >= REMEMBERED && !self.0.contains_key(&channel);
        let oldest = self
            .0
            .iter()
            .min_by_key(|(_, t)| **t)
            .map(|(c, _)| c.clone());
        if full && let Some(oldest) = oldest {
            self.0.remove(&oldest);
        }
        self.0.insert(channel, at);
    }
}
