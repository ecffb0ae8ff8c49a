//! Channel names. A name is one or more `:`-separated segments of lower-case ASCII letters,
//! digits, `_`, `-` and `.`, at most 160 bytes: `world`, `guild:0x1f`, `zone:12`. The first
//! segment is the channel's kind, which later decides its permissions. Keeping the grammar
//! narrow means a name is safe in logs, URLs and Redis keys without escaping. A segment holds
//! at least one letter, digit or `_`: names such as `.`, `..` or `-` would be rewritten or
//! refused as URL path segments, so such a channel could not be read over HTTP.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest channel name accepted, in bytes: room for a direct-message thread, which
/// carries two full addresses (`dm:0x…:0x…`, up to 136 bytes).
pub const MAX_CHANNEL_LEN: usize = 160;

/// A validated channel name. Cloning is cheap: the name is shared.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(Arc<str>);

/// Why a string is not a channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelNameError {
    #[error("a channel name is not empty")]
    Empty,
    #[error("a channel name has at most {MAX_CHANNEL_LEN} bytes")]
    TooLong,
    #[error(
        "a channel name uses lower-case letters, digits, '_', '-', '.' and ':' between segments"
    )]
    BadCharacter,
    #[error("a channel name has no empty segment (check the ':' separators)")]
    EmptySegment,
    #[error("each part of a channel name has a letter, a digit or '_', not only '.' and '-'")]
    OnlyPunctuation,
}

impl ChannelName {
    /// Validates `name` as a channel name.
    pub fn new(name: &str) -> Result<Self, ChannelNameError> {
        if name.is_empty() {
            return Err(ChannelNameError::Empty);
        }
        if name.len() > MAX_CHANNEL_LEN {
            return Err(ChannelNameError::TooLong);
        }
        for segment in name.split(':') {
            if segment.is_empty() {
                return Err(ChannelNameError::EmptySegment);
            }
            let ok = segment
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.'));
            if !ok {
                return Err(ChannelNameError::BadCharacter);
            }
            if segment.bytes().all(|b| matches!(b, b'.' | b'-')) {
                return Err(ChannelNameError::OnlyPunctuation);
            }
        }
        Ok(Self(Arc::from(name)))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first segment, which names the kind of channel (`world`, `guild`, …).
    pub fn kind(&self) -> &str {
        self.0.split(':').next().unwrap_or(&self.0)
    }
}

// Hash and Eq of `Arc<str>` are those of `str`, so maps keyed by name can be read by `&str`.
impl std::borrow::Borrow<str> for ChannelName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelName({})", self.0)
    }
}

impl Serialize for ChannelName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChannelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shapes() {
        for name in ["world", "guild:0x1f", "zone:12", "a.b_c-d:9"] {
            assert_eq!(ChannelName::new(name).unwrap().as_str(), name);
        }
        assert_eq!(ChannelName::new("guild:0x1f").unwrap().kind(), "guild");
        assert!(ChannelName::new(&"a".repeat(MAX_CHANNEL_LEN)).is_ok());
    }

    #[test]
    fn refuses_everything_else() {
        use ChannelNameError::*;
        assert_eq!(ChannelName::new(""), Err(Empty));
        assert_eq!(
            ChannelName::new(&"a".repeat(MAX_CHANNEL_LEN + 1)),
            Err(TooLong)
        );
        assert_eq!(ChannelName::new("World"), Err(BadCharacter));
        assert_eq!(ChannelName::new("a b"), Err(BadCharacter));
        assert_eq!(ChannelName::new("chat/1"), Err(BadCharacter));
        assert_eq!(ChannelName::new("wörld"), Err(BadCharacter));
        assert_eq!(ChannelName::new("guild:"), Err(EmptySegment));
        assert_eq!(ChannelName::new(":x"), Err(EmptySegment));
        assert_eq!(ChannelName::new("a::b"), Err(EmptySegment));
    }

    #[test]
    fn names_of_only_dots_or_dashes_are_refused() {
        use ChannelNameError::OnlyPunctuation;
        for name in [".", "..", "-", "...", "-.-", "guild:..", "..:x"] {
            assert_eq!(ChannelName::new(name), Err(OnlyPunctuation), "{name}");
        }
        for name in ["a.", "-1", "_", "zone:-5", "v1.2"] {
            assert!(ChannelName::new(name).is_ok(), "{name}");
        }
    }
}
