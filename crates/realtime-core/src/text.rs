//! What a message body may contain. Bodies are normalised to Unicode NFC first, so that the
//! same visible text is stored and counted the same way whatever keyboard produced it, and the
//! length limit is in characters (Unicode scalar values) of the normalised text, as players
//! perceive length, not in bytes.
//!
//! Refused: empty or blank bodies, C0/C1 control characters other than line feed and tab
//! (a CR LF pair becomes LF), and the explicit bidirectional override and isolate controls
//! (U+202A–U+202E, U+2066–U+2069), which can make a message display as something else.

use unicode_normalization::UnicodeNormalization;

/// Limits on a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Largest body, in characters after normalisation.
    pub max_chars: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        Self { max_chars: 2000 }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the message is empty")]
    Empty,
    #[error("the message has {chars} characters; at most {max} are allowed")]
    TooLong { chars: usize, max: usize },
    #[error("the message contains the control character U+{0:04X}")]
    ControlCharacter(u32),
}

/// Normalises `input` to NFC and checks it against `limits`; returns the text to store.
pub fn validate_body(input: &str, limits: TextLimits) -> Result<String, TextError> {
    let unified = if input.contains('\r') {
        input.replace("\r\n", "\n")
    } else {
        input.to_owned()
    };
    let normalised: String = unified.nfc().collect();
    let mut chars = 0usize;
    for c in normalised.chars() {
        if is_refused(c) {
            return Err(TextError::ControlCharacter(c as u32));
        }
        chars += 1;
    }
    if normalised.trim().is_empty() {
        return Err(TextError::Empty);
    }
    if chars > limits.max_chars {
        return Err(TextError::TooLong {
            chars,
            max: limits.max_chars,
        });
    }
    Ok(normalised)
}

fn is_refused(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Longest client message id, in bytes.
pub const MAX_CLIENT_MSG_ID_LEN: usize = 64;

/// Why a client message id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "client_msg_id must be 1 to {MAX_CLIENT_MSG_ID_LEN} characters of A-Z, a-z, 0-9, '-', '_', '.', ':'"
)]
pub struct ClientMsgIdError;

/// Checks a client message id (the idempotency key of a publish); UUIDs and ULIDs fit.
pub fn validate_client_msg_id(id: &str) -> Result<(), ClientMsgIdError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_MSG_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok { Ok(()) } else { Err(ClientMsgIdError) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<String, TextError> {
        validate_body(s, TextLimits::default())
    }

    #[test]
    fn normalises_to_nfc() {
        // "é" as e + combining acute becomes one character.
        assert_eq!(check("cafe\u{301}").unwrap(), "caf\u{e9}");
    }

    #[test]
    fn counts_characters_not_bytes() {
        let limits = TextLimits { max_chars: 3 };
        assert!(validate_body("🦀🦀🦀", limits).is_ok());
        assert_eq!(
            validate_body("🦀🦀🦀🦀", limits),
            Err(TextError::TooLong { chars: 4, max: 3 })
        );
        // Decomposed input is counted after composition.
        assert!(validate_body("e\u{301}e\u{301}e\u{301}", limits).is_ok());
    }

    #[test]
    fn keeps_newlines_and_tabs_refuses_other_controls() {
        assert_eq!(check("a\r\nb\tc").unwrap(), "a\nb\tc");
        assert_eq!(check("a\u{0}b"), Err(TextError::ControlCharacter(0)));
        assert_eq!(check("a\u{1b}[31m"), Err(TextError::ControlCharacter(0x1b)));
        assert_eq!(check("a\rb"), Err(TextError::ControlCharacter(0x0d)));
        assert_eq!(check("a\u{85}"), Err(TextError::ControlCharacter(0x85)));
        assert_eq!(
            check("evil\u{202E}txt"),
            Err(TextError::ControlCharacter(0x202e))
        );
        assert_eq!(
            check("x\u{2066}y"),
            Err(TextError::ControlCharacter(0x2066))
        );
    }

    #[test]
    fn refuses_blank() {
        assert_eq!(check(""), Err(TextError::Empty));
        assert_eq!(check(" \n\t "), Err(TextError::Empty));
    }

    #[test]
    fn client_msg_ids() {
        assert!(validate_client_msg_id("0b7e8a3c-1f2d-4c5e-9a8b-7c6d5e4f3a2b").is_ok());
        assert!(validate_client_msg_id("01HZX3:retry.2_a").is_ok());
        assert!(validate_client_msg_id("").is_err());
        assert!(validate_client_msg_id("has space").is_err());
        assert!(validate_client_msg_id(&"a".repeat(65)).is_err());
    }
}
