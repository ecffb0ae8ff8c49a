//! What a message body may contain. Bodies are normalised to Unicode NFC first, so that the
//! same visible text is stored and counted the same way whatever keyboard produced it, and the
//! length limit is in characters (Unicode scalar values) of the normalised text, as players
//! perceive length, not in bytes.
//!
//! Refused: empty or blank bodies, C0/C1 control characters other than line feed and tab
//! (a CR LF pair becomes LF), and the explicit bidirectional override and isolate controls
//! (U+202A–U+202E, U+2066–U+2069), which can make a message display as something else.
//!
//! A body is blank when it holds nothing visible: only white space and invisible characters
//! (format characters such as ZERO WIDTH SPACE, WORD JOINER, the byte order mark and the tag
//! characters, and fillers that render as nothing, such as HANGUL FILLER). Those characters
//! are kept inside a body with visible text, where they have uses (joiners in emoji and
//! scripts). The left-to-right and right-to-left marks (U+200E, U+200F) are allowed for the
//! same reason: right-to-left text needs them, and unlike the override controls they cannot
//! reorder the text around them. The line and paragraph separators U+2028 and U+2029 become
//! a line feed, which is how every client renders a line break.

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
    let unified = if input.contains(['\r', '\u{2028}', '\u{2029}']) {
        input
            .replace("\r\n", "\n")
            .replace(['\u{2028}', '\u{2029}'], "\n")
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
    if normalised
        .chars()
        .all(|c| c.is_whitespace() || is_invisible(c))
    {
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

/// Characters that render as nothing: Unicode format characters (general category Cf) and
/// the fillers and selectors that display blank. A body made only of these is empty.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{034F}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{2800}'
        | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}'
    )
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
    fn bodies_of_invisible_characters_are_empty() {
        for blank in [
            "\u{200B}",                    // zero width space
            "\u{2060}\u{2060}",            // word joiner
            "\u{FEFF}",                    // byte order mark
            "\u{E0067}\u{E0062}\u{E007F}", // tag characters
            " \u{200B} \u{3164}\n",        // with spaces and a Hangul filler
            "\u{200E}\u{200F}",            // direction marks alone
            "\u{2028}",                    // a line separator becomes a line feed
        ] {
            assert_eq!(check(blank), Err(TextError::Empty), "{blank:?}");
        }
        // Kept inside visible text.
        assert_eq!(check("a\u{200D}b").unwrap(), "a\u{200D}b");
    }

    #[test]
    fn right_to_left_marks_are_allowed_in_text() {
        let hebrew = "\u{05E9}\u{05DC}\u{05D5}\u{05DD} \u{200F}(1)";
        assert_eq!(check(hebrew).unwrap(), hebrew);
        assert_eq!(check("abc\u{200E}").unwrap(), "abc\u{200E}");
    }

    #[test]
    fn line_and_paragraph_separators_become_line_feeds() {
        assert_eq!(check("a\u{2028}b\u{2029}c").unwrap(), "a\nb\nc");
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
