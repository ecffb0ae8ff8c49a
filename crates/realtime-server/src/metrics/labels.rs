//! The label values of every labelled metric. Each is a closed enum, so a label's values are
//! bounded by the code: no address, channel name or other client-chosen text becomes a label.

use realtime_protocol::CloseCode;

macro_rules! label {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every value, in declaration order (the order of the metric's children).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub(super) fn index(self) -> usize {
                self as usize
            }
        }
    };
}

label!(
    /// What a message in or out belongs to.
    Feature {
        Chat => "chat",
        Dm => "dm",
        Note => "note",
        Typing => "typing",
        Presence => "presence",
        Onchain => "onchain",
        Announcement => "announcement",
        Notice => "notice",
    }
);

impl Feature {
    /// What clients (and announcement rules) send.
    pub const INBOUND: &'static [Feature] = &[
        Feature::Chat,
        Feature::Dm,
        Feature::Note,
        Feature::Typing,
        Feature::Announcement,
    ];
    /// What sockets are sent.
    pub const OUTBOUND: &'static [Feature] = &[
        Feature::Chat,
        Feature::Dm,
        Feature::Note,
        Feature::Typing,
        Feature::Presence,
        Feature::Onchain,
        Feature::Notice,
    ];

    /// The feature of a stored channel's messages: direct-message channels are `dm:…`.
    pub fn of_channel(channel: &str) -> Feature {
        if channel.starts_with("dm:") {
            Feature::Dm
        } else {
            Feature::Chat
        }
    }

    /// The feature of an ephemeral frame a channel's subscribers get: a typing notice, or
    /// another notice (a removal).
    pub fn of_signal(frame: &str) -> Feature {
        if frame.starts_with(r#"{"push":"typing""#) {
            Feature::Typing
        } else {
            Feature::Notice
        }
    }
}

label!(
    /// Why a WebSocket connection ended: its close code's reason, or the client leaving.
    Closed {
        Client => "client",
        Shutdown => "shutdown",
        SlowConsumer => "slow_consumer",
        HeartbeatTimeout => "heartbeat_timeout",
        Unauthorized => "unauthorized",
        TokenExpired => "token_expired",
        Banned => "banned",
        UnsupportedProtocol => "unsupported_protocol",
        TooManyConnections => "too_many_connections",
        FrameTooLarge => "frame_too_large",
        InvalidPayload => "invalid_utf8",
        ProtocolError => "protocol_error",
    }
);

impl Closed {
    pub fn of(code: Option<CloseCode>) -> Closed {
        match code {
            None => Closed::Client,
            Some(CloseCode::Shutdown) => Closed::Shutdown,
            Some(CloseCode::SlowConsumer) => Closed::SlowConsumer,
            Some(CloseCode::HeartbeatTimeout) => Closed::HeartbeatTimeout,
            Some(CloseCode::Unauthorized) => Closed::Unauthorized,
            Some(CloseCode::TokenExpired) => Closed::TokenExpired,
            Some(CloseCode::Banned) => Closed::Banned,
            Some(CloseCode::UnsupportedProtocol) => Closed::UnsupportedProtocol,
            Some(CloseCode::TooManyConnections) => Closed::TooManyConnections,
            Some(CloseCode::FrameTooLarge) => Closed::FrameTooLarge,
            Some(CloseCode::InvalidPayload) => Closed::InvalidPayload,
            Some(CloseCode::ProtocolError) => Closed::ProtocolError,
        }
    }
}

label!(
    /// How a session was signed in.
    SignIn {
        Token => "token",
        Wallet => "wallet",
        Refresh => "refresh",
    }
);

label!(
    /// The outcome of a sign-in.
    Outcome {
        Ok => "ok",
        Refused => "refused",
    }
);

label!(
    /// Why a connection was closed as a slow consumer.
    SlowCause {
        Overflow => "overflow",
        Stalled => "stalled",
    }
);

label!(
    /// The outcome of a recovery (`subscribe` with `since`, `sync`).
    Recovery {
        Recovered => "recovered",
        Expired => "expired",
        TooMany => "too_many",
        Reset => "reset",
    }
);

impl Recovery {
    pub fn of(reason: Option<realtime_protocol::reply::NotRecovered>) -> Recovery {
        use realtime_protocol::reply::NotRecovered;
        match reason {
            None => Recovery::Recovered,
            Some(NotRecovered::Expired) => Recovery::Expired,
            Some(NotRecovered::TooMany) => Recovery::TooMany,
            Some(NotRecovered::Reset) => Recovery::Reset,
        }
    }
}

label!(
    /// What a storage round trip did.
    StorageOp {
        Commit => "commit",
        Read => "read",
        Write => "write",
        Probe => "probe",
    }
);

label!(
    /// Where a request was refused.
    Transport {
        Ws => "ws",
        Http => "http",
    }
);

label!(
    /// An HTTP response's status class.
    StatusClass {
        Success => "2xx",
        Redirect => "3xx",
        ClientError => "4xx",
        ServerError => "5xx",
    }
);

impl StatusClass {
    pub fn of(status: u16) -> StatusClass {
        match status {
            ..300 => StatusClass::Success,
            300..400 => StatusClass::Redirect,
            400..500 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_close_code_has_its_own_label() {
        for code in CloseCode::ALL {
            assert_eq!(Closed::of(Some(code)).as_str(), code.reason());
        }
        assert_eq!(Closed::ALL.len(), CloseCode::ALL.len() + 1);
    }

    #[test]
    fn signals_and_channels_map_to_their_feature() {
        assert_eq!(Feature::of_channel("dm:0x1:0x2"), Feature::Dm);
        assert_eq!(Feature::of_channel("guild:0x9"), Feature::Chat);
        assert_eq!(
            Feature::of_signal(r#"{"push":"typing","channel":"world"}"#),
            Feature::Typing
        );
        assert_eq!(
            Feature::of_signal(r#"{"push":"message_removed"}"#),
            Feature::Notice
        );
    }
}
