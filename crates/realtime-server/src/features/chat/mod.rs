//! Chat over WebSocket: `subscribe` (with recovery from a last seen seq), `unsubscribe`,
//! `publish` and `history`, and their HTTP routes. A connection's subscriptions and its
//! publishes in flight are this feature's state; the checks and the history reads it shares
//! with HTTP are in [`crate::chat`], the commits in [`crate::publisher`].

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use realtime_auth::Identity;
use realtime_core::moderation::Place;
use realtime_core::policy::Action;
use realtime_core::time::{now_ms, rfc3339_ms};
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::push::PermissionRevoked;
use realtime_protocol::reply::{
    NotRecovered, PublishOk, SubscribeOk, UnsubscribeOk, encode_message_push, encode_ok,
};
use realtime_protocol::{ErrorBody, Op};
use realtime_store::HeldMessage;
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub(crate) mod http;

use crate::chat;
use crate::dm::Intent;
use crate::hub::ConnId;
use crate::moderation::Screened;
use crate::publisher::{Job, Reply};
use crate::rate::Limit;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Replay, not_registered};
use crate::state::{App, AppState};

/// Publishes one connection may have waiting for their commit. Past this the connection's
/// next publish waits, and nothing more is read from it until a reply frees a slot.
pub const MAX_PUBLISHES_IN_FLIGHT: usize = 64;

/// The chat feature.
#[derive(Debug, Default)]
pub struct Chat;

impl Feature for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["subscribe", "unsubscribe", "publish", "history"]
    }

    fn routes(&self) -> Router<App> {
        Router::new().route(
            "/v1/channels/{channel}/messages",
            get(http::list).post(http::publish),
        )
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(ChatConn {
            subscriptions: HashSet::new(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_PUBLISHES_IN_FLIGHT)),
        })
    }
}

/// A connection's chat state. The signed-in address is counted present in each subscribed
/// channel; it comes with each call rather than being kept here.
struct ChatConn {
    subscriptions: HashSet<ChannelName>,
    /// Publishes of this connection not yet answered, at most [`MAX_PUBLISHES_IN_FLIGHT`].
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl FeatureConn for ChatConn {
    fn handle<'a>(
        &'a mut self,
        mut conn: Conn<'a>,
        id: u64,
        op: Op,
    ) -> BoxFuture<'a, Result<(), ErrorBody>> {
        Box::pin(async move {
            let permissions = &conn.app.world.permissions;
            match op {
                Op::Subscribe {
                    channel,
                    since,
                    presence,
                } => {
                    let channel = permissions.canonical(channel);
                    self.subscribe(&mut conn, id, channel, since, presence)
                        .await
                }
                Op::Unsubscribe { channel } => {
                    let channel = permissions.canonical(channel);
                    self.unsubscribe(&mut conn, id, &channel)
                }
                Op::Publish {
                    channel,
                    body,
                    client_msg_id,
                } => {
                    let channel = permissions.canonical(channel);
                    self.publish(&conn, id, &channel, &body, &client_msg_id)
                        .await
                }
                Op::History {
                    channel,
                    before,
                    after,
                    limit,
                } => {
                    let channel = permissions.canonical(channel);
                    self.history(&conn, id, &channel, before, after, limit)
                        .await
                }
                other => Err(not_registered("chat", &other)),
            }
        })
    }

    fn recheck(&mut self, mut conn: Conn<'_>) {
        self.recheck_all(&mut conn);
    }

    fn leave(&mut self, app: &App, id: ConnId, who: Option<Address>) {
        for channel in self.subscriptions.drain() {
            app.delivery.hub.leave(&channel, id);
            if let Some(who) = who {
                app.conns.presence.leave(&channel, who, id);
            }
        }
    }
}

impl ChatConn {
    async fn subscribe(
        &mut self,
        conn: &mut Conn<'_>,
        id: u64,
        channel: ChannelName,
        since: Option<u64>,
        with_presence: bool,
    ) -> Result<(), ErrorBody> {
        if self.subscriptions.contains(&channel) {
            return Err(ErrorBody::new(
                ErrorCode::AlreadySubscribed,
                format!("already subscribed to {channel}"),
            ));
        }
        may_read(conn.app, conn.identity, &channel)?;
        let max = conn.app.config.limits.max_subscriptions;
        if self.subscriptions.len() >= max {
            return Err(ErrorBody::new(
                ErrorCode::TooManySubscriptions,
                format!("a connection may hold at most {max} subscriptions"),
            ));
        }
        if let Some(who) = conn.address()
            && (since.is_some() || !conn.app.delivery.hub.follows(&channel))
        {
            conn.app.delivery.rate_limits.take(Limit::Read, who).await?;
        }
        let mut last = conn
            .app
            .delivery
            .hub
            .join(&channel, conn.id, conn.queue.clone())
            .await
            .map_err(|e| chat::store_error(&e))?;
        self.subscriptions.insert(channel.clone());
        let Recovery {
            recovered,
            reason,
            messages: replay,
        } = match recover(conn, &channel, since, &mut last).await {
            Ok(r) => r,
            Err(e) => {
                self.subscriptions.remove(&channel);
                conn.app.delivery.hub.leave(&channel, conn.id);
                return Err(e);
            }
        };
        if recovered.is_some() {
            crate::metrics::get().recovery(crate::metrics::Recovery::of(reason));
        }
        let presence = &conn.app.conns.presence;
        if let Some(who) = conn.address() {
            presence.join(&channel, who);
            if with_presence {
                presence.listen(&channel, conn.id, conn.queue.clone());
            }
        }
        let snapshot = if with_presence {
            Some(crate::cluster::snapshot(conn.app, &channel).await)
        } else {
            None
        };
        conn.reply_ok(
            id,
            &SubscribeOk {
                channel: channel.to_string(),
                last_seq: last,
                recovered,
                reason,
                replayed: replay.len() as u64,
                presence: snapshot,
            },
        );
        // The replay may exceed the send budget: it waits for the client to read, as long as
        // the heartbeat allows, while the reader loop goes on (see `replay`). Live pushes are
        // released after it.
        if replay.is_empty() {
            conn.app.delivery.hub.activate(&channel, conn.id);
        } else {
            let server = &conn.app.config.server;
            let patience = server.ping_interval + server.pong_timeout;
            let hub = conn.app.delivery.hub.clone();
            let (tag, id) = (channel.to_string(), conn.id);
            let frames = replay
                .into_iter()
                .map(|m| Utf8Bytes::from(encode_message_push(&m)));
            conn.start_replay(Replay::new(
                tag,
                frames,
                conn.queue.clone(),
                patience,
                move || hub.activate(&channel, id),
            ));
        }
        Ok(())
    }

    fn unsubscribe(
        &mut self,
        conn: &mut Conn<'_>,
        id: u64,
        channel: &ChannelName,
    ) -> Result<(), ErrorBody> {
        if !self.subscriptions.remove(channel) {
            return Err(ErrorBody::new(
                ErrorCode::NotSubscribed,
                format!("not subscribed to {channel}"),
            ));
        }
        conn.cancel_replay(channel.as_str());
        conn.app.delivery.hub.leave(channel, conn.id);
        if let Some(who) = conn.address() {
            conn.app.conns.presence.leave(channel, who, conn.id);
        }
        conn.reply_ok(
            id,
            &UnsubscribeOk {
                channel: channel.to_string(),
            },
        );
        Ok(())
    }

    async fn publish(
        &mut self,
        conn: &Conn<'_>,
        id: u64,
        channel: &ChannelName,
        body: &str,
        client_msg_id: &str,
    ) -> Result<(), ErrorBody> {
        let sender = conn.signed_in()?;
        let body = match admit(
            conn.app,
            conn.identity,
            sender,
            channel,
            body,
            client_msg_id,
        )
        .await?
        {
            Admitted::Publish(body) => body,
            Admitted::Held(ok) => {
                conn.reply_ok(id, &ok);
                return Ok(());
            }
        };
        // Waits while the connection has its most publishes in flight: it stops reading.
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ErrorBody::new(ErrorCode::Internal, "publish slots closed"))?;
        conn.app
            .delivery
            .publisher
            .submit(Job {
                channel: channel.clone(),
                sender,
                body,
                client_msg_id: client_msg_id.to_owned(),
                reply: Reply::Socket {
                    queue: conn.queue.clone(),
                    id,
                    conn: conn.id,
                    permit,
                },
            })
            .await;
        Ok(())
    }

    async fn history(
        &self,
        conn: &Conn<'_>,
        id: u64,
        channel: &ChannelName,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<(), ErrorBody> {
        let who = conn.address();
        may_read(conn.app, conn.identity, channel)?;
        if let Some(who) = who {
            conn.app.delivery.rate_limits.take(Limit::Read, who).await?;
        }
        let page = chat::history(
            &conn.app.storage.store,
            &conn.app.config.limits,
            channel,
            before,
            after,
            limit,
        )
        .await?;
        // A page fits the budget; waiting for room keeps it from overflowing a queue that
        // already holds live pushes.
        let server = &conn.app.config.server;
        let frame = Utf8Bytes::from(encode_ok(id, &page));
        let _ = conn
            .queue
            .push_paced(frame, server.ping_interval + server.pong_timeout)
            .await;
        Ok(())
    }

    /// Ends every subscription the session may no longer read, telling the client why with a
    /// `permission_revoked` push.
    fn recheck_all(&mut self, conn: &mut Conn<'_>) {
        let who = conn.address();
        let lost: Vec<(ChannelName, ErrorBody)> = self
            .subscriptions
            .iter()
            .filter_map(|c| {
                may_read(conn.app, conn.identity, c)
                    .err()
                    // While Torii resyncs nothing is revoked on a guess.
                    .filter(|e| e.code != ErrorCode::Unavailable)
                    .map(|e| (c.clone(), e))
            })
            .collect();
        for (channel, why) in lost {
            conn.cancel_replay(channel.as_str());
            self.subscriptions.remove(&channel);
            conn.app.delivery.hub.leave(&channel, conn.id);
            if let Some(who) = who {
                conn.app.conns.presence.leave(&channel, who, conn.id);
            }
            tracing::info!(%channel, reason = %why.message, "permission revoked");
            conn.send(realtime_protocol::reply::encode_channel_push(
                "permission_revoked",
                channel.as_str(),
                &PermissionRevoked {
                    reason: why.message.clone(),
                },
            ));
        }
    }
}

/// Whether the session may read `channel`: the channel rules, or for the moderators'
/// channel, being a moderator.
pub(crate) fn may_read(
    app: &AppState,
    identity: Option<&Identity>,
    channel: &ChannelName,
) -> Result<(), ErrorBody> {
    if channel.as_str() == crate::config::MODERATION_CHANNEL
        && identity.is_some_and(|i| app.is_moderator(i))
    {
        return Ok(());
    }
    app.world
        .permissions
        .check(identity.map(|i| i.address), channel, Action::Read)
}

/// What a publish that passed every check becomes.
pub(crate) enum Admitted {
    /// To the channel, with this text (masked where a content rule said so).
    Publish(String),
    /// Held for review by a content rule: queued, and answered with this reply.
    Held(PublishOk),
}

/// The checks of a publish, shared by the socket op and the HTTP route: the channel's post
/// rule, the text, the client message id, mutes, the rate limit, the direct-message rules,
/// and the content rules. A held message is queued for review here.
pub(crate) async fn admit(
    app: &AppState,
    identity: Option<&Identity>,
    sender: Address,
    channel: &ChannelName,
    body: &str,
    client_msg_id: &str,
) -> Result<Admitted, ErrorBody> {
    app.world
        .permissions
        .check(Some(sender), channel, Action::Post)?;
    let body = chat::validate_body(&app.config.limits, body)?;
    chat::validate_client_msg_id(client_msg_id)?;
    app.moderation.standing.check_mute(sender, Some(channel))?;
    app.delivery
        .rate_limits
        .take(Limit::Publish, sender)
        .await?;
    if let Some(limits) = app.config.limits.of_channel(channel) {
        let exempt = identity.is_some_and(|i| app.is_moderator(i));
        app.delivery
            .rate_limits
            .take_in_channel(sender, channel, limits, exempt)
            .await?;
    }
    // Screened before the thread can start: a refused or held first message starts none.
    match app.moderation.screen(body, Place::Channel(channel))? {
        Screened::Publish(body) => {
            app.dm_gate().admit(sender, channel, Intent::Post).await?;
            Ok(Admitted::Publish(body))
        }
        Screened::Hold { text, rule } => {
            // Blocks and the start rule still apply; the thread starts if it is approved.
            app.dm_gate().admit(sender, channel, Intent::Typing).await?;
            let filed = app
                .storage
                .store
                .hold_message(HeldMessage {
                    channel,
                    author: sender,
                    body: &text,
                    client_msg_id,
                    rule: &rule,
                    now_ms: now_ms(),
                })
                .await
                .map_err(|e| chat::store_error(&e))?;
            if filed.duplicate && filed.job.body.as_deref() != Some(text.as_str()) {
                return Err(ErrorBody::new(
                    ErrorCode::Conflict,
                    format!(
                        "client_msg_id {client_msg_id:?} was already used for another message \
                         (held for review as job {})",
                        filed.job.id
                    ),
                ));
            }
            if !filed.duplicate {
                tracing::info!(%channel, rule, job = filed.job.id, "message held for review");
                app.moderation.wake.notify_one();
            }
            Ok(Admitted::Held(PublishOk {
                channel: channel.to_string(),
                seq: 0,
                ts: rfc3339_ms(filed.job.created_at_ms),
                duplicate: filed.duplicate,
                held: true,
            }))
        }
    }
}

/// What a subscribe with `since` recovers.
struct Recovery {
    /// `None` without `since`.
    recovered: Option<bool>,
    reason: Option<NotRecovered>,
    messages: Vec<realtime_core::Message>,
}

impl Recovery {
    fn all(messages: Vec<realtime_core::Message>) -> Self {
        Self {
            recovered: Some(true),
            reason: None,
            messages,
        }
    }

    fn none(why: NotRecovered) -> Self {
        Self {
            recovered: Some(false),
            reason: Some(why),
            messages: Vec::new(),
        }
    }
}

/// The messages after `since` up to `last`, all or none: none, with why, when some are no
/// longer stored (removed by retention), when there are more than the configured replay
/// limit, or when `since` is past the stored log.
async fn recover(
    conn: &Conn<'_>,
    channel: &ChannelName,
    since: Option<u64>,
    last: &mut u64,
) -> Result<Recovery, ErrorBody> {
    let Some(since) = since else {
        return Ok(Recovery {
            recovered: None,
            reason: None,
            messages: Vec::new(),
        });
    };
    if since == *last {
        return Ok(Recovery::all(Vec::new()));
    }
    let store = &conn.app.storage.store;
    if since > *last {
        // The hub may lag storage (a notice not yet delivered): only a client ahead of
        // storage itself saw a log that no longer exists (storage was reset).
        let head = store
            .channel_head(channel)
            .await
            .map_err(|e| chat::store_error(&e))?;
        if since > head.last_seq {
            return Ok(Recovery::none(NotRecovered::Reset));
        }
        // Up to date: live pushes resume after what the client has.
        conn.app.delivery.hub.raise_floor(channel, conn.id, since);
        *last = since;
        return Ok(Recovery::all(Vec::new()));
    }
    let last = *last;
    let missed = last - since;
    if missed > conn.app.config.limits.recovery_max_messages {
        // `history` cannot read what retention removed either: say which it is.
        let trimmed_to = store
            .trimmed_to(channel)
            .await
            .map_err(|e| chat::store_error(&e))?;
        return Ok(Recovery::none(if since < trimmed_to {
            NotRecovered::Expired
        } else {
            NotRecovered::TooMany
        }));
    }
    let limit = u32::try_from(missed).unwrap_or(u32::MAX);
    let messages = crate::metrics::timed(
        crate::metrics::StorageOp::Read,
        store.range(channel, since, last, limit),
    )
    .await
    .map_err(|e| chat::store_error(&e))?;
    // Seqs have no gaps and only retention removes messages.
    if messages.len() as u64 != missed {
        return Ok(Recovery::none(NotRecovered::Expired));
    }
    Ok(Recovery::all(messages))
}
