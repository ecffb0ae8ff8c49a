//! What each request of protocol v1 does on a connection.

use realtime_core::ErrorCode;
use realtime_core::time::rfc3339_ms;
use realtime_protocol::push::TokenExpired;
use realtime_protocol::reply::{
    Connected, Empty, Limits, RefreshOk, encode_error, encode_ok, encode_push,
};
use realtime_protocol::request::decode_request;
use realtime_protocol::{CloseCode, ErrorBody, HISTORY_MAX_LIMIT, Op, PROTOCOL_VERSION};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::feature::{Conn, FeatureConn};
use super::{Session, close_code_for};
use crate::metrics::{Outcome, SignIn};

impl Session {
    fn send(&self, text: String) {
        // On overflow the queue closes the connection as a slow consumer by itself.
        let _ = self.queue.push(Utf8Bytes::from(text));
    }

    fn reply_ok<T: Serialize>(&self, id: u64, ok: &T) {
        self.send(encode_ok(id, ok));
    }

    pub(super) fn reply_error(&self, id: Option<u64>, error: ErrorBody) {
        super::refused(self.op, &error);
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
        self.op = request.op.name();
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
            Op::Auth { token } => self.auth(id, &token).await,
            Op::Refresh { token } => self.refresh(id, &token),
            Op::Ping => {
                self.reply_ok(id, &Empty {});
                Ok(())
            }
            op => self.dispatch(id, op).await,
        };
        if let Err(e) = result {
            self.reply_error(Some(id), e);
        }
    }

    async fn auth(&mut self, id: u64, token: &str) -> Result<(), ErrorBody> {
        if self.identity.is_some() {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "this connection is already signed in",
            ));
        }
        match self.authenticate(token, Some(id)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.code, ErrorCode::TooManyConnections | ErrorCode::Banned) => {
                self.reply_error(Some(id), e.clone());
                self.queue.close(close_code_for(e.code));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Verifies `token`, takes a connection slot for its address, and announces the session:
    /// a `connected` push, and an ok reply to `reply_to` when the token came in an `auth` op.
    pub(super) async fn authenticate(
        &mut self,
        token: &str,
        reply_to: Option<u64>,
    ) -> Result<(), ErrorBody> {
        let outcome = self.sign_in(token, reply_to).await;
        let result = match &outcome {
            Ok(()) => Outcome::Ok,
            Err(_) => Outcome::Refused,
        };
        crate::metrics::get().sign_in(SignIn::Token, result);
        outcome
    }

    async fn sign_in(&mut self, token: &str, reply_to: Option<u64>) -> Result<(), ErrorBody> {
        let identity = self.app.verify(token)?;
        let max = self.app.config.limits.max_connections_per_address;
        let too_many = || {
            ErrorBody::new(
                ErrorCode::TooManyConnections,
                format!("this address already has {max} connections open"),
            )
        };
        // This instance's count first (it needs no round trip), then every instance's.
        let slot = self
            .app
            .conns
            .connections
            .claim(identity.address)
            .ok_or_else(too_many)?;
        let shared = crate::cluster::claim(&self.app, identity.address, self.id, max)
            .await
            .map_err(|()| too_many())?;
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
        self.app.conns.registry.register(
            identity.address,
            self.id,
            crate::registry::Handle {
                commands: self.command_tx.clone(),
                queue: self.queue.clone(),
                jti: identity.jti.as_deref().map(std::sync::Arc::from),
            },
        );
        self.identity = Some(identity);
        self._address_slot = Some((slot, shared));
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

    /// Hands `op` to the feature that registered it.
    async fn dispatch(&mut self, id: u64, op: Op) -> Result<(), ErrorBody> {
        let Some(i) = self.registry.feature_of(op.name()) else {
            return Err(ErrorBody::new(
                ErrorCode::UnknownOp,
                format!("this server does not answer {}", op.name()),
            ));
        };
        let (conn, features) = self.conn();
        features[i].handle(conn, id, op).await
    }

    /// The connection as features see it, and the features' states.
    pub(super) fn conn(&mut self) -> (Conn<'_>, &mut [Box<dyn FeatureConn>]) {
        (
            Conn {
                app: &self.app,
                id: self.id,
                queue: &self.queue,
                identity: self.identity.as_ref(),
                replay: &mut self.replay,
                op: self.op,
            },
            &mut self.features,
        )
    }

    /// On-chain state changed: every feature drops what the address may no longer have.
    pub(super) fn recheck(&mut self) {
        for i in 0..self.features.len() {
            let (conn, features) = self.conn();
            features[i].recheck(conn);
        }
    }

    /// Replaces the session's token with a newer one for the same address, moving its
    /// expiry without reconnecting.
    fn refresh(&mut self, id: u64, token: &str) -> Result<(), ErrorBody> {
        let outcome = self.renew(id, token);
        let result = match &outcome {
            Ok(()) => Outcome::Ok,
            Err(_) => Outcome::Refused,
        };
        crate::metrics::get().sign_in(SignIn::Refresh, result);
        outcome
    }

    fn renew(&mut self, id: u64, token: &str) -> Result<(), ErrorBody> {
        let fresh = self.app.verify(token)?;
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
        // The fresh token is the one a moderator would now revoke.
        current.jti.clone_from(&fresh.jti);
        current.moderator = fresh.moderator;
        self.app
            .conns
            .registry
            .set_jti(current.address, self.id, fresh.jti.as_deref());
        let expires_at = rfc3339_ms(fresh.expires_at_ms);
        self.reply_ok(id, &RefreshOk { expires_at });
        Ok(())
    }
}
