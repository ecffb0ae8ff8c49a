//! Close codes. 4000–4099: the server or network had a problem; reconnect (with backoff) and
//! resubscribe with the last seen seq. 4400–4499: reconnecting as before will fail the same
//! way; the client must act first (sign in again, close other tabs, upgrade). Violations of
//! the WebSocket protocol itself close with the standard codes of RFC 6455 (1002, 1007, 1009):
//! the client is broken, and must not reconnect to send the same thing.

/// A close code the server sends, with its documented meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// The server is shutting down or restarting.
    Shutdown = 4000,
    /// The connection could not keep up with its messages; its send queue overflowed.
    SlowConsumer = 4001,
    /// No frame (nor pong) arrived within the heartbeat timeout.
    HeartbeatTimeout = 4002,
    /// No valid credentials: missing, malformed, or not sent within the auth timeout.
    Unauthorized = 4401,
    /// The session token expired: sign in again (or refresh before expiry).
    TokenExpired = 4402,
    /// A moderator banned the address: every open socket of it closes with this code, and
    /// signing in again is refused until the ban ends.
    Banned = 4403,
    /// The client asked only for protocol versions this server does not speak.
    UnsupportedProtocol = 4426,
    /// This address already has the maximum number of connections open.
    TooManyConnections = 4429,
    /// A frame exceeded the transport limit (the standard WebSocket code): the client must
    /// not send it again.
    FrameTooLarge = 1009,
    /// A text frame was not valid UTF-8 (RFC 6455 "invalid frame payload data").
    InvalidPayload = 1007,
    /// A frame broke the WebSocket protocol: reserved bits, an unmasked client frame, a bad
    /// opcode, a fragmented control frame (RFC 6455 "protocol error").
    ProtocolError = 1002,
}

impl CloseCode {
    /// Every code, in documentation order.
    pub const ALL: [CloseCode; 11] = [
        CloseCode::Shutdown,
        CloseCode::SlowConsumer,
        CloseCode::HeartbeatTimeout,
        CloseCode::Unauthorized,
        CloseCode::TokenExpired,
        CloseCode::Banned,
        CloseCode::UnsupportedProtocol,
        CloseCode::TooManyConnections,
        CloseCode::FrameTooLarge,
        CloseCode::InvalidPayload,
        CloseCode::ProtocolError,
    ];

    /// The numeric code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The short reason sent with the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Shutdown => "shutdown",
            CloseCode::SlowConsumer => "slow_consumer",
            CloseCode::HeartbeatTimeout => "heartbeat_timeout",
            CloseCode::Unauthorized => "unauthorized",
            CloseCode::TokenExpired => "token_expired",
            CloseCode::Banned => "banned",
            CloseCode::UnsupportedProtocol => "unsupported_protocol",
            CloseCode::TooManyConnections => "too_many_connections",
            CloseCode::FrameTooLarge => "frame_too_large",
            CloseCode::InvalidPayload => "invalid_utf8",
            CloseCode::ProtocolError => "protocol_error",
        }
    }

    /// Whether a client should reconnect by itself after this code.
    pub fn should_reconnect(code: u16) -> bool {
        (4000..4100).contains(&code) || code == 1001 || code == 1006 || code == 1011
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_reconnect_from_act_first() {
        for c in CloseCode::ALL {
            let reconnect = CloseCode::should_reconnect(c.code());
            assert_eq!(reconnect, (4000..4100).contains(&c.code()), "{c:?}");
            assert!((4000..4500).contains(&c.code()) || [1002, 1007, 1009].contains(&c.code()));
        }
    }
}
