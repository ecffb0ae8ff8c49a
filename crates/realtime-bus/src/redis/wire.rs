//! What goes through Redis: one pub/sub channel per realtime channel, named
//! `{prefix}:ch:{channel}`, and one binary payload per channel of a commit batch, carrying the
//! push frames exactly as the publishing instance encoded them (no instance re-encodes).
//!
//! Payload, all integers big-endian:
//!
//! ```text
//! version: u8 (1) | origin: u64 | count: u32 | count × (seq: u64 | len: u32 | frame: len bytes)
//! ```
//!
//! `origin` names the publishing instance, which skips its own echo: it delivered the batch
//! locally already.
//!
//! The same Redis channel carries signals, ephemeral frames that are not in the log (typing
//! notices): they reach exactly the instances whose sockets follow the channel, which is the
//! routing they need, without a second subscription per channel:
//!
//! ```text
//! kind: u8 (2) | origin: u64 | frame: the rest
//! ``` Binary rather than JSON so a frame (itself JSON) is neither escaped nor
//! parsed again on the way.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes};

use crate::Publication;

const VERSION: u8 = 1;
/// First byte of a signal payload.
const SIGNAL: u8 = 2;
const HEADER: usize = 1 + 8 + 4;
const ITEM_HEADER: usize = 8 + 4;

/// The Redis pub/sub channel of a realtime channel.
pub(crate) fn channel_key(prefix: &str, channel: &str) -> String {
    format!("{prefix}:ch:{channel}")
}

/// The realtime channel of a Redis pub/sub channel, if it is one of this deployment's.
pub(crate) fn channel_of<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(prefix)?
        .strip_prefix(":ch:")
        .filter(|c| !c.is_empty())
}

/// Encodes publications of one channel, in order.
pub(crate) fn encode(origin: u64, items: &[&Publication]) -> Vec<u8> {
    let size = HEADER
        + items
            .iter()
            .map(|p| ITEM_HEADER + p.frame.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.put_u8(VERSION);
    out.put_u64(origin);
    out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
    for p in items {
        out.put_u64(p.seq);
        out.put_u32(u32::try_from(p.frame.len()).unwrap_or(u32::MAX));
        out.put_slice(&p.frame);
    }
    out
}

/// A payload that cannot be read: another version of the server, or not ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("unknown payload version {0}")]
    Version(u8),
    #[error("payload truncated")]
    Truncated,
    #[error("{0} bytes after the last frame")]
    Trailing(usize),
}

/// A decoded payload: who published it, and its publications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub origin: u64,
    pub publications: Vec<Publication>,
}

/// Decodes a payload received on `channel`; frames share `payload`'s memory.
pub(crate) fn decode(channel: &Arc<str>, mut payload: Bytes) -> Result<Decoded, WireError> {
    if payload.len() < HEADER {
        return Err(WireError::Truncated);
    }
    let version = payload.get_u8();
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let origin = payload.get_u64();
    let count = payload.get_u32() as usize;
    // Every item takes at least its header: a count past that is a lie, not an allocation.
    if count > payload.len() / ITEM_HEADER {
        return Err(WireError::Truncated);
    }
    let mut publications = Vec::with_capacity(count);
    for _ in 0..count {
        if payload.len() < ITEM_HEADER {
            return Err(WireError::Truncated);
        }
        let seq = payload.get_u64();
        let len = payload.get_u32() as usize;
        if payload.len() < len {
            return Err(WireError::Truncated);
        }
        publications.push(Publication {
            channel: channel.clone(),
            seq,
            frame: payload.split_to(len),
        });
    }
    if !payload.is_empty() {
        return Err(WireError::Trailing(payload.len()));
    }
    Ok(Decoded {
        origin,
        publications,
    })
}

/// Encodes a signal frame.
pub(crate) fn encode_signal(origin: u64, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 + frame.len());
    out.put_u8(SIGNAL);
    out.put_u64(origin);
    out.put_slice(frame);
    out
}

/// Whether a payload is a signal rather than publications.
pub(crate) fn is_signal(payload: &[u8]) -> bool {
    payload.first() == Some(&SIGNAL)
}

/// Decodes a signal payload: its origin and frame (sharing `payload`'s memory).
pub(crate) fn decode_signal(mut payload: Bytes) -> Result<(u64, Bytes), WireError> {
    if payload.len() < 1 + 8 {
        return Err(WireError::Truncated);
    }
    let kind = payload.get_u8();
    if kind != SIGNAL {
        return Err(WireError::Version(kind));
    }
    let origin = payload.get_u64();
    Ok((origin, payload))
}

/// Splits a commit batch by channel, keeping the order within each channel and the order in
/// which channels first appear.
pub(crate) fn by_channel(publications: &[Publication]) -> Vec<(&str, Vec<&Publication>)> {
    let mut groups: Vec<(&str, Vec<&Publication>)> = Vec::new();
    for p in publications {
        match groups.iter_mut().find(|(c, _)| *c == &*p.channel) {
            Some((_, items)) => items.push(p),
            None => groups.push((&p.channel, vec![p])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(channel: &str, seq: u64, frame: &str) -> Publication {
        Publication {
            channel: Arc::from(channel),
            seq,
            frame: Bytes::copy_from_slice(frame.as_bytes()),
        }
    }

    #[test]
    fn a_payload_carries_frames_byte_for_byte() {
        let world: Arc<str> = Arc::from("world");
        let items = vec![
            publication(
                "world",
                41,
                r#"{"push":"message","seq":41,"data":{"body":"é \" \\"}}"#,
            ),
            publication("world", 42, ""),
            publication("world", u64::MAX, "x"),
        ];
        let payload = encode(7, &items.iter().collect::<Vec<_>>());
        let decoded = decode(&world, Bytes::from(payload)).unwrap();
        assert_eq!(decoded.origin, 7);
        assert_eq!(decoded.publications, items);
        let empty = decode(&world, Bytes::from(encode(1, &[]))).unwrap();
        assert!(empty.publications.is_empty());
    }

    #[test]
    fn damaged_payloads_are_refused() {
        let world: Arc<str> = Arc::from("world");
        let good = encode(9, &[&publication("world", 1, "frame")]);
        for cut in 0..good.len() {
            assert_eq!(
                decode(&world, Bytes::copy_from_slice(&good[..cut])),
                Err(WireError::Truncated),
                "cut at {cut}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            decode(&world, Bytes::from(trailing)),
            Err(WireError::Trailing(1))
        );
        let mut future = good.clone();
        future[0] = 2;
        assert_eq!(
            decode(&world, Bytes::from(future)),
            Err(WireError::Version(2))
        );
        // A count that would ask for a huge allocation is refused before allocating.
        let mut liar = encode(9, &[]);
        liar[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&world, Bytes::from(liar)), Err(WireError::Truncated));
    }

    #[test]
    fn signals_share_the_channel_and_are_told_apart() {
        let payload = encode_signal(5, br#"{"push":"typing"}"#);
        assert!(is_signal(&payload));
        assert!(!is_signal(&encode(5, &[])));
        let (origin, frame) = decode_signal(Bytes::from(payload)).unwrap();
        assert_eq!((origin, &frame[..]), (5, &br#"{"push":"typing"}"#[..]));
        assert_eq!(
            decode_signal(Bytes::from_static(&[2, 0, 0])),
            Err(WireError::Truncated)
        );
        // Publications are not read as signals, nor signals as publications.
        assert_eq!(
            decode_signal(Bytes::from(encode(5, &[]))),
            Err(WireError::Version(1))
        );
        let world: Arc<str> = Arc::from("world");
        assert_eq!(
            decode(&world, Bytes::from(encode_signal(5, b"{\"push\":1}"))),
            Err(WireError::Version(2))
        );
    }

    #[test]
    fn channel_names_carry_the_prefix() {
        let key = channel_key("torii-realtime", "guild:7");
        assert_eq!(key, "torii-realtime:ch:guild:7");
        assert_eq!(channel_of("torii-realtime", &key), Some("guild:7"));
        // Another deployment's names, or something else of ours, are not channels.
        assert_eq!(channel_of("staging", &key), None);
        assert_eq!(channel_of("torii-realtime", "torii-realtime:ch:"), None);
        assert_eq!(
            channel_of("torii-realtime", "torii-realtime:presence:x"),
            None
        );
        assert_eq!(channel_of("torii", &key), None);
    }

    #[test]
    fn a_batch_is_split_by_channel_in_order() {
        let batch = vec![
            publication("world", 5, "a"),
            publication("guild:1", 2, "b"),
            publication("world", 6, "c"),
            publication("dm:1:2", 9, "d"),
            publication("guild:1", 3, "e"),
        ];
        let groups = by_channel(&batch);
        let summary: Vec<(&str, Vec<u64>)> = groups
            .iter()
            .map(|(c, items)| (*c, items.iter().map(|p| p.seq).collect()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("world", vec![5, 6]),
                ("guild:1", vec![2, 3]),
                ("dm:1:2", vec![9])
            ]
        );
    }
}
