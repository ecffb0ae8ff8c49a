//! The closed set of error codes. Clients branch on these strings, so a code, once released,
//! keeps its meaning; messages are for humans and may change. Every code maps to one HTTP
//! status here so the WebSocket and HTTP APIs never disagree.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, documented error code (see docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame or request is malformed: not JSON, a missing or mistyped field.
    BadRequest,
    /// The `op` is not one this protocol version knows.
    UnknownOp,
    /// The frame is larger than the configured limit.
    TooLarge,
    /// The channel name does not follow the channel grammar.
    InvalidChannel,
    /// The body is empty or blank.
    EmptyMessage,
    /// The body is longer than the configured number of characters.
    MessageTooLong,
    /// The body contains a refused control character.
    InvalidText,
    /// A content rule of the world refused the text; the message says which.
    Rejected,
    /// No valid credentials: sign in first.
    Unauthorized,
    /// The token was valid but has expired: get a new one.
    TokenExpired,
    /// Wallet sign-in: the account contract does not accept the signature.
    InvalidSignature,
    /// Wallet sign-in: the nonce is unknown, already used, or expired; ask for a new challenge.
    InvalidNonce,
    /// Wallet sign-in: no account contract is deployed at the address.
    AccountNotDeployed,
    /// Authenticated, but not allowed to do this.
    Forbidden,
    /// A direct message refused because one participant has blocked the other.
    Blocked,
    /// The address is banned by a moderator: sign-in and every request are refused.
    Banned,
    /// The address is muted by a moderator here (or everywhere); `retry_after_ms` says when
    /// the mute ends, when it does.
    Muted,
    /// The thing asked for does not exist.
    NotFound,
    /// The connection is already subscribed to this channel.
    AlreadySubscribed,
    /// The connection is not subscribed to this channel.
    NotSubscribed,
    /// The connection has reached its subscription limit.
    TooManySubscriptions,
    /// The address has reached its connection limit, or the server its total.
    TooManyConnections,
    /// Too many requests; `retry_after_ms` says when to try again.
    RateLimited,
    /// The request conflicts with stored state (a client message id reused for other text).
    Conflict,
    /// A dependency (storage) is unreachable or the server is shutting down; retry later.
    Unavailable,
    /// A bug or an unexpected failure on the server.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 26] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownOp,
        ErrorCode::TooLarge,
        ErrorCode::InvalidChannel,
        ErrorCode::EmptyMessage,
        ErrorCode::MessageTooLong,
        ErrorCode::InvalidText,
        ErrorCode::Rejected,
        ErrorCode::Unauthorized,
        ErrorCode::TokenExpired,
        ErrorCode::InvalidSignature,
        ErrorCode::InvalidNonce,
        ErrorCode::AccountNotDeployed,
        ErrorCode::Forbidden,
        ErrorCode::Blocked,
        ErrorCode::Banned,
        ErrorCode::Muted,
        ErrorCode::NotFound,
        ErrorCode::AlreadySubscribed,
        ErrorCode::NotSubscribed,
        ErrorCode::TooManySubscriptions,
        ErrorCode::TooManyConnections,
        ErrorCode::RateLimited,
        ErrorCode::Conflict,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::InvalidChannel => "invalid_channel",
            ErrorCode::EmptyMessage => "empty_message",
            ErrorCode::MessageTooLong => "message_too_long",
            ErrorCode::InvalidText => "invalid_text",
            ErrorCode::Rejected => "rejected",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::InvalidNonce => "invalid_nonce",
            ErrorCode::AccountNotDeployed => "account_not_deployed",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Blocked => "blocked",
            ErrorCode::Banned => "banned",
            ErrorCode::Muted => "muted",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadySubscribed => "already_subscribed",
            ErrorCode::NotSubscribed => "not_subscribed",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status the HTTP API answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::UnknownOp
            | ErrorCode::InvalidChannel
            | ErrorCode::EmptyMessage
            | ErrorCode::MessageTooLong
            | ErrorCode::InvalidText => 400,
            ErrorCode::Unauthorized
            | ErrorCode::TokenExpired
            | ErrorCode::InvalidSignature
            | ErrorCode::InvalidNonce
            | ErrorCode::AccountNotDeployed => 401,
            ErrorCode::Forbidden
            | ErrorCode::Blocked
            | ErrorCode::Banned
            | ErrorCode::Muted
            | ErrorCode::TooManySubscriptions => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::AlreadySubscribed | ErrorCode::NotSubscribed | ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::Rejected => 422,
            ErrorCode::TooManyConnections | ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_spelling_matches_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }
}
