//! What each request of protocol v1 does on a connection.

use realtime_core::time::rfc3339_ms;
use realtime_core::{ChannelName, ErrorCode};
use realtime_protocol::push::{PermissionRevoked, TokenExpired};
use realtime_protocol::reply::{
    Connected, Empty, Limits, RefreshOk, SubscribeOk, UnsubscribeOk, WatchOk, encode_error,
    encode_ok, encode_push,
};
use realtime_protocol::request::decode_request;
use realtime_protocol::{CloseCode, ErrorBody, HISTORY_MAX_LIMIT, Op, PROTOCOL_VERSION};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::replay::Replay;
use super::{Session, close_code_for};
use crate::chat;
use crate::publisher::{Job, Reply};
use crate::rate::Limit;
use realtime_core::policy::Action;

impl Session {
    fn send(&self, text: String) {
        // On overflow the queue closes the connection as a slow consumer by itself.
        let _ = self.queue.push(Utf8Bytes::from(text));
    }

    fn reply_ok<T: Serialize>(&self, id: u64, ok: &T) {
        self.send(encode_ok(id, ok));
    }

    pub(super) fn reply_error(&self, id: Option<u64>, error: ErrorBody) {
        tracing::debug!(code = %error.code, message = %error.message, "request refused");
        self.send(encode_error(id, &error));
    }

    pub(super) async fn on_text(&mut self, text: &str) {
        let max = self.app.config.limits.max_frame_bytes;
        if text.len() > max {
            self.reply_error(
                None,
                ErrorBody::new(
                    ErrorCode::TooLarge,
                    format!(
                        "the frame has {} bytes; at most {max} are allowed",
                        text.len()
                    ),
                ),
            );
            return;
        }
        let request = match decode_request(text) {
            Ok(r) => r,
            Err(e) => {
                self.reply_error(e.id, ErrorBody::new(e.code, e.message));
                return;
            }
        };
        let id = request.id;
        if self
            .identity
            .as_ref()
            .is_some_and(|i| realtime_core::time::now_ms() >= i.expires_at_ms)
            && !matches!(request.op, Op::Refresh { .. })
        {
            // The expiry timer is due but has not fired yet: nothing more on this token.
            self.on_expired();
            return;
        }
        if self.identity.is_none() && !matches!(request.op, Op::Auth { .. }) {
            self.reply_error(
                Some(id),
                ErrorBody::new(
                    ErrorCode::Unauthorized,
                    "sign in first: send {\"op\":\"auth\",\"token\":…} or connect with a token",
                ),
            );
            return;
        }
        let result = match request.op {
            Op::Auth { token } => self.auth(id, &token),
            Op::Refresh { token } => self.refresh(id, &token),
            Op::Subscribe { channel, since } => {
                let channel = self.app.permissions.canonical(channel);
                self.subscribe(id, channel, since).await
            }
            Op::Unsubscribe { channel } => {
                let channel = self.app.permissions.canonical(channel);
                self.unsubscribe(id, &channel)
            }
            Op::Publish {
                channel,
                body,
                client_msg_id,
            } => {
                let channel = self.app.permissions.canonical(channel);
                self.publish(id, &channel, &body, &client_msg_id).await
            }
            Op::History {
                channel,
                before,
                after,
                limit,
            } => {
                let channel = self.app.permissions.canonical(channel);
                self.history(id, &channel, before, after, limit).await
            }
            Op::Watch { area, mine } => self.watch(id, area, mine),
            Op::Ping => {
                self.reply_ok(id, &Empty {});
                Ok(())
            }
        };
        if let Err(e) = result {
            self.reply_error(Some(id), e);
        }
    }

    fn auth(&mut self, id: u64, token: &str) -> Result<(), ErrorBody> {
        if self.identity.is_some() {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "this connection is already signed in",
            ));
        }
        match self.authenticate(token, Some(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.code == ErrorCode::TooManyConnections => {
                self.reply_error(Some(id), e.clone());
                self.queue.close(close_code_for(e.code));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Verifies `token`, takes a connection slot for its address, and announces the session:
    /// a `connected` push, and an ok reply to `reply_to` when the token came in an `auth` op.
    pub(super) fn authenticate(
        &mut self,
        token: &str,
        reply_to: Option<u64>,
    ) -> Result<(), ErrorBody> {
        let identity = self
            .app
            .tokens
            .verify(token)
            .map_err(|e| ErrorBody::new(e.code, e.message))?;
        let slot = self
            .app
            .connections
            .claim(identity.address)
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::TooManyConnections,
                    format!(
                        "this address already has {} connections open",
                        self.app.config.limits.max_connections_per_address
                    ),
                )
            })?;
        tracing::Span::current().record("address", tracing::field::display(identity.address));
        let limits = &self.app.config.limits;
        let connected = Connected {
            address: identity.address.to_string(),
            expires_at: rfc3339_ms(identity.expires_at_ms),
            protocol: PROTOCOL_VERSION,
            limits: Limits {
                max_frame_bytes: limits.max_frame_bytes,
                max_message_chars: limits.max_message_chars,
                max_subscriptions: limits.max_subscriptions,
                history_max_limit: HISTORY_MAX_LIMIT,
            },
        };
        if let Some(id) = reply_to {
            self.reply_ok(id, &connected);
        }
        self.send(encode_push("connected", &connected));
        tracing::info!("authenticated");
        self.app
            .registry
            .register(identity.address, self.id, self.command_tx.clone());
        self.identity = Some(identity);
        self._address_slot = Some(slot);
        // Signed in: no longer counted against the client IP's sockets awaiting sign-in.
        self.pending = None;
        Ok(())
    }

    /// The session token ran out on a live socket: say so, then close with 4402.
    pub(super) fn on_expired(&mut self) {
        self.send(encode_push(
            "token_expired",
            &TokenExpired {
                message: "the session token expired; sign in again and reconnect".into(),
            },
        ));
        self.queue.close(CloseCode::TokenExpired);
    }

    async fn subscribe(
        &mut self,
        id: u64,
        channel: ChannelName,
        since: Option<u64>,
    ) -> Result<(), ErrorBody> {
        if self.subscriptions.contains(&channel) {
            return Err(ErrorBody::new(
                ErrorCode::AlreadySubscribed,
                format!("already subscribed to {channel}"),
            ));
        }
        self.app
            .permissions
            .check(self.address(), &channel, Action::Read)?;
        let max = self.app.config.limits.max_subscriptions;
        if self.subscriptions.len() >= max {
            return Err(ErrorBody::new(
                ErrorCode::TooManySubscriptions,
                format!("a connection may hold at most {max} subscriptions"),
            ));
        }
        if let Some(who) = self.address()
            && (since.is_some() || !self.app.hub.follows(&channel))
        {
            self.app.rate_limits.take(Limit::Read, who).await?;
        }
        let mut last = self
            .app
            .hub
            .join(&channel, self.id, self.queue.clone())
            .await
            .map_err(|e| chat::store_error(&e))?;
        self.subscriptions.insert(channel.clone());
        let (recovered, replay) = match self.recover(&channel, since, &mut last).await {
            Ok(r) => r,
            Err(e) => {
                self.subscriptions.remove(&channel);
                self.app.hub.leave(&channel, self.id);
                return Err(e);
            }
        };
        self.reply_ok(
            id,
            &SubscribeOk {
                channel: channel.to_string(),
                last_seq: last,
                recovered,
                replayed: replay.len() as u64,
            },
        );
        // The replay may exceed the send budget: it waits for the client to read, as long as
        // the heartbeat allows, while the reader loop goes on (see `replay`). Live pushes are
        // released after it.
        if replay.is_empty() {
            self.app.hub.activate(&channel, self.id);
        } else {
            let server = &self.app.config.server;
            let patience = server.ping_interval + server.pong_timeout;
            self.replay = Some(Replay::new(channel, replay, self.queue.clone(), patience));
        }
        Ok(())
    }

    /// The messages after `since` up to `last`, all or none: `(Some(false), [])` when some
    /// are no longer stored or there are more than the configured replay limit.
    async fn recover(
        &self,
        channel: &ChannelName,
        since: Option<u64>,
        last: &mut u64,
    ) -> Result<(Option<bool>, Vec<realtime_core::Message>), ErrorBody> {
        let Some(since) = since else {
            return Ok((None, Vec::new()));
        };
        if since == *last {
            return Ok((Some(true), Vec::new()));
        }
        if since > *last {
            // The hub may lag storage (a notice not yet delivered): only a client ahead of
            // storage itself saw a log that no longer exists (storage was reset).
            let head = self
                .app
                .store
                .channel_head(channel)
                .await
                .map_err(|e| chat::store_error(&e))?;
            if since > head.last_seq {
                return Ok((Some(false), Vec::new()));
            }
            // Up to date: live pushes resume after what the client has.
            self.app.hub.raise_floor(channel, self.id, since);
            *last = since;
            return Ok((Some(true), Vec::new()));
        }
        let last = *last;
        let missed = last - since;
        if missed > self.app.config.limits.recovery_max_messages {
            return Ok((Some(false), Vec::new()));
        }
        let limit = u32::try_from(missed).unwrap_or(u32::MAX);
        let messages = self
            .app
            .store
            .range(channel, since, last, limit)
            .await
            .map_err(|e| chat::store_error(&e))?;
        if messages.len() as u64 != missed {
            return Ok((Some(false), Vec::new()));
        }
        Ok((Some(true), messages))
    }

    fn unsubscribe(&mut self, id: u64, channel: &ChannelName) -> Result<(), ErrorBody> {
        if !self.subscriptions.remove(channel) {
            return Err(ErrorBody::new(
                ErrorCode::NotSubscribed,
                format!("not subscribed to {channel}"),
            ));
        }
        self.cancel_replay(channel);
        self.app.hub.leave(channel, self.id);
        self.reply_ok(
            id,
            &UnsubscribeOk {
                channel: channel.to_string(),
            },
        );
        Ok(())
    }

    async fn publish(
        &mut self,
        id: u64,
        channel: &ChannelName,
        body: &str,
        client_msg_id: &str,
    ) -> Result<(), ErrorBody> {
        let Some(sender) = self.identity.as_ref().map(|i| i.address) else {
            return Err(ErrorBody::new(ErrorCode::Unauthorized, "sign in first"));
        };
        self.app
            .permissions
            .check(Some(sender), channel, Action::Post)?;
        let body = chat::validate_body(&self.app.config.limits, body)?;
        chat::validate_client_msg_id(client_msg_id)?;
        self.app.rate_limits.take(Limit::Publish, sender).await?;
        // Waits while the connection has its most publishes in flight: it stops reading.
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ErrorBody::new(ErrorCode::Internal, "publish slots closed"))?;
        self.app
            .publisher
            .submit(Job {
                channel: channel.clone(),
                sender,
                body,
                client_msg_id: client_msg_id.to_owned(),
                reply: Reply {
                    queue: self.queue.clone(),
                    id,
                    permit,
                },
            })
            .await;
        Ok(())
    }

    async fn history(
        &self,
        id: u64,
        channel: &ChannelName,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<(), ErrorBody> {
        let who = self.address();
        self.app.permissions.check(who, channel, Action::Read)?;
        if let Some(who) = who {
            self.app.rate_limits.take(Limit::Read, who).await?;
        }
        let page = chat::history(
            &self.app.store,
            &self.app.config.limits,
            channel,
            before,
            after,
            limit,
        )
        .await?;
        // A page fits the budget; waiting for room keeps it from overflowing a queue that
        // already holds live pushes.
        let server = &self.app.config.server;
        let frame = Utf8Bytes::from(encode_ok(id, &page));
        let _ = self
            .queue
            .push_paced(frame, server.ping_interval + server.pong_timeout)
            .await;
        Ok(())
    }

    fn address(&self) -> Option<realtime_core::Address> {
        self.identity.as_ref().map(|i| i.address)
    }

    /// Ends every subscription the session may no longer read, telling the client why with a
    /// `permission_revoked` push.
    pub(super) fn recheck(&mut self) {
        let who = self.address();
        let lost: Vec<(ChannelName, ErrorBody)> = self
            .subscriptions
            .iter()
            .filter_map(|c| {
                self.app
                    .permissions
                    .check(who, c, Action::Read)
                    .err()
                    // While Torii resyncs nothing is revoked on a guess.
                    .filter(|e| e.code != ErrorCode::Unavailable)
                    .map(|e| (c.clone(), e))
            })
            .collect();
        for (channel, why) in lost {
            self.cancel_replay(&channel);
            self.subscriptions.remove(&channel);
            self.app.hub.leave(&channel, self.id);
            tracing::info!(%channel, reason = %why.message, "permission revoked");
            self.send(realtime_protocol::reply::encode_channel_push(
                "permission_revoked",
                channel.as_str(),
                &PermissionRevoked {
                    reason: why.message.clone(),
                },
            ));
        }
    }

    fn watch(
        &mut self,
        id: u64,
        area: Option<realtime_protocol::request::Area>,
        mine: bool,
    ) -> Result<(), ErrorBody> {
        if self.app.permissions.world.is_none() || self.app.config.feed.models.is_empty() {
            return Err(ErrorBody::new(
                ErrorCode::NotFound,
                "this server has no on-chain feed ([torii] and [feed] are not configured)",
            ));
        }
        let max = self.app.config.limits.max_watch_tiles;
        let rect = area.map(|a| crate::feed::check_area(a, max)).transpose()?;
        let owner = if mine { self.address() } else { None };
        self.app
            .feed
            .watch(self.id, self.queue.clone(), rect, owner);
        self.reply_ok(id, &WatchOk { area, mine });
        Ok(())
    }

    /// Replaces the session's token with a newer one for the same address, moving its
    /// expiry without reconnecting.
    fn refresh(&mut self, id: u64, token: &str) -> Result<(), ErrorBody> {
        let fresh = self
            .app
            .tokens
            .verify(token)
            .map_err(|e| ErrorBody::new(e.code, e.message))?;
        let Some(current) = self.identity.as_mut() else {
            return Err(ErrorBody::new(ErrorCode::Unauthorized, "sign in first"));
        };
        if fresh.address != current.address {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "a refresh token must be for the signed-in address",
            ));
        }
        current.expires_at_ms = fresh.expires_at_ms;
        let expires_at = rfc3339_ms(fresh.expires_at_ms);
        self.reply_ok(id, &RefreshOk { expires_at });
        Ok(())
    }
}
