//! Direct-message threads, blocks and read positions: the per-address state around the
//! message log. A thread's messages are an ordinary channel's; what is stored here is that a
//! pair started one, who blocks whom, and how far each address has read.
//!
//! Unread counts are computed from the stored read position and the log, so they agree on
//! every device and instance, and they never count the reader's own messages. A count stops at
//! [`UNREAD_CAP`]: past that a client shows "999+", and counting further would scan history.

use std::str::FromStr;

use realtime_core::{Address, ChannelName, Message};

use crate::store::{on_pool, to_message};
use crate::{Store, StoreError};

/// The highest unread count reported; a larger backlog is reported as this.
pub const UNREAD_CAP: u64 = 1000;

const START_THREAD: &str = "INSERT INTO dm_threads (channel, low, high, started_by, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel) DO NOTHING";

/// Whether the thread exists, whether `$3` (the peer) blocks `$2` (the sender), and whether
/// the sender blocks the peer.
const GATE: &str = "SELECT \
     EXISTS (SELECT 1 FROM dm_threads WHERE channel = $1), \
     EXISTS (SELECT 1 FROM blocks WHERE blocker = $3 AND blocked = $2), \
     EXISTS (SELECT 1 FROM blocks WHERE blocker = $2 AND blocked = $3)";

const BLOCK: &str = "INSERT INTO blocks (blocker, blocked, created_at_ms) VALUES ($1, $2, $3) \
     ON CONFLICT (blocker, blocked) DO NOTHING";
const UNBLOCK: &str = "DELETE FROM blocks WHERE blocker = $1 AND blocked = $2";
/// Addresses `$1` blocks or is blocked by.
const BLOCKED_EITHER_WAY: &str = "SELECT blocked FROM blocks WHERE blocker = $1 \
     UNION SELECT blocker FROM blocks WHERE blocked = $1";
const BLOCKS_OF: &str =
    "SELECT blocked, created_at_ms FROM blocks WHERE blocker = $1 ORDER BY created_at_ms, blocked";

/// Moves a read position forward only.
const MARK_READ: &str = "INSERT INTO read_state (address, channel, seq, updated_at_ms) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (address, channel) DO UPDATE \
     SET seq = excluded.seq, updated_at_ms = excluded.updated_at_ms \
     WHERE read_state.seq < excluded.seq";
const READ_SEQ: &str = "SELECT seq FROM read_state WHERE address = $1 AND channel = $2";

/// Messages of channel `c` after read position `r` not sent by `$1`, counted up to the cap.
macro_rules! unread_count {
    ($read:literal) => {
        concat!(
            "(SELECT COUNT(*) FROM (SELECT 1 FROM messages u WHERE u.channel_id = c.id \
             AND u.seq > ",
            $read,
            " AND u.sender <> $1 LIMIT 1000) capped)"
        )
    };
}

/// An address's threads, newest activity first, after the cursor (`$2` activity, `$3`
/// channel), with each thread's last message (when one is stored) and unread count.
const THREADS: &str = concat!(
    "SELECT x.channel, x.low, x.high, x.last_seq, x.read_seq, x.unread, x.activity, \
     x.seq, x.sender, x.body, x.client_msg_id, x.created_at_ms, x.edited_at_ms, \
     x.deleted_at_ms FROM (\
     SELECT t.channel, t.low, t.high, COALESCE(c.last_seq, 0) AS last_seq, \
     COALESCE(r.seq, 0) AS read_seq, ",
    unread_count!("COALESCE(r.seq, 0)"),
    " AS unread, COALESCE(m.created_at_ms, t.created_at_ms) AS activity, \
     m.seq, m.sender, m.body, m.client_msg_id, m.created_at_ms, m.edited_at_ms, \
     m.deleted_at_ms \
     FROM dm_threads t \
     LEFT JOIN channels c ON c.name = t.channel \
     LEFT JOIN messages m ON m.channel_id = c.id AND m.seq = c.last_seq \
     LEFT JOIN read_state r ON r.address = $1 AND r.channel = t.channel \
     WHERE t.low = $1 OR t.high = $1) x \
     WHERE x.activity < $2 OR (x.activity = $2 AND x.channel < $3) \
     ORDER BY x.activity DESC, x.channel DESC LIMIT $4"
);

/// Every channel the address has a read position in, and every thread of the address.
const UNREAD: &str = concat!(
    "SELECT r.channel, COALESCE(c.last_seq, 0), r.seq, ",
    unread_count!("r.seq"),
    " FROM read_state r LEFT JOIN channels c ON c.name = r.channel WHERE r.address = $1 \
     UNION ALL \
     SELECT t.channel, COALESCE(c.last_seq, 0), 0, ",
    unread_count!("0"),
    " FROM dm_threads t LEFT JOIN channels c ON c.name = t.channel \
     WHERE (t.low = $1 OR t.high = $1) AND NOT EXISTS \
     (SELECT 1 FROM read_state r WHERE r.address = $1 AND r.channel = t.channel) \
     ORDER BY 1"
);

/// What a direct message must know before it is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmGate {
    /// The pair has started the thread already.
    pub started: bool,
    /// The peer blocks the sender.
    pub blocked_by_peer: bool,
    /// The sender blocks the peer.
    pub blocking_peer: bool,
}

/// One thread of an address's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSummary {
    pub channel: ChannelName,
    /// The other participant.
    pub peer: Address,
    pub last_seq: u64,
    /// How far the listing address has read.
    pub read_seq: u64,
    /// Messages from the peer after `read_seq`, at most [`UNREAD_CAP`].
    pub unread: u64,
    /// When the last message was sent (or the thread started), for the paging cursor.
    pub activity_ms: i64,
    pub last_message: Option<Message>,
}

/// Where a thread list page starts: after this thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCursor {
    pub activity_ms: i64,
    pub channel: String,
}

/// A channel's unread state for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub channel: ChannelName,
    pub last_seq: u64,
    pub read_seq: u64,
    /// At most [`UNREAD_CAP`].
    pub unread: u64,
}

type ThreadRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn corrupt(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

fn channel_of(name: &str) -> Result<ChannelName, StoreError> {
    ChannelName::new(name).map_err(|_| corrupt("channel", name))
}

fn address_of(s: &str) -> Result<Address, StoreError> {
    Address::from_str(s).map_err(|_| corrupt("address", s))
}

fn seq_of(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt("seq", n))
}

impl Store {
    /// Records that `started_by` started the thread `channel` between `low` and `high`;
    /// whether this call started it (false when it existed).
    pub async fn start_thread(
        &self,
        channel: &ChannelName,
        [low, high]: [Address; 2],
        started_by: Address,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, write, |pool| {
            sqlx::query(START_THREAD)
                .bind(channel.as_str())
                .bind(low.to_string())
                .bind(high.to_string())
                .bind(started_by.to_string())
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Whether `sender` may write to `peer` in `channel` as far as stored state says.
    pub async fn dm_gate(
        &self,
        channel: &ChannelName,
        sender: Address,
        peer: Address,
    ) -> Result<DmGate, StoreError> {
        let (started, blocked_by_peer, blocking_peer): (bool, bool, bool) =
            on_pool!(self, read, |pool| {
                sqlx::query_as(GATE)
                    .bind(channel.as_str())
                    .bind(sender.to_string())
                    .bind(peer.to_string())
                    .fetch_one(pool)
                    .await?
            });
        Ok(DmGate {
            started,
            blocked_by_peer,
            blocking_peer,
        })
    }

    /// `blocker` blocks `blocked`; whether this is new.
    pub async fn block(
        &self,
        blocker: Address,
        blocked: Address,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, write, |pool| {
            sqlx::query(BLOCK)
                .bind(blocker.to_string())
                .bind(blocked.to_string())
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// `blocker` no longer blocks `blocked`; whether a block was there.
    pub async fn unblock(&self, blocker: Address, blocked: Address) -> Result<bool, StoreError> {
        let done = on_pool!(self, write, |pool| {
            sqlx::query(UNBLOCK)
                .bind(blocker.to_string())
                .bind(blocked.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Whom `blocker` blocks, oldest first, with when.
    pub async fn blocks_of(&self, blocker: Address) -> Result<Vec<(Address, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, read, |pool| {
            sqlx::query_as(BLOCKS_OF)
                .bind(blocker.to_string())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(a, at)| Ok((address_of(&a)?, at)))
            .collect()
    }

    /// The addresses `who` blocks or is blocked by: they see nothing of each other.
    pub async fn blocked_either_way(&self, who: Address) -> Result<Vec<Address>, StoreError> {
        let rows: Vec<String> = on_pool!(self, read, |pool| {
            sqlx::query_scalar(BLOCKED_EITHER_WAY)
                .bind(who.to_string())
                .fetch_all(pool)
                .await?
        });
        rows.iter().map(|a| address_of(a)).collect()
    }

    /// Moves `address`'s read position in `channel` forward to `seq` (never back); returns
    /// the stored position.
    pub async fn mark_read(
        &self,
        address: Address,
        channel: &ChannelName,
        seq: u64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let address = address.to_string();
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let stored: i64 = on_pool!(self, write, |pool| {
            sqlx::query(MARK_READ)
                .bind(&address)
                .bind(channel.as_str())
                .bind(seq)
                .bind(now_ms)
                .execute(pool)
                .await?;
            sqlx::query_scalar(READ_SEQ)
                .bind(&address)
                .bind(channel.as_str())
                .fetch_one(pool)
                .await?
        });
        seq_of(stored)
    }

    /// How far `address` has read `channel` (0: never marked).
    pub async fn read_seq(
        &self,
        address: Address,
        channel: &ChannelName,
    ) -> Result<u64, StoreError> {
        let seq: Option<i64> = on_pool!(self, read, |pool| {
            sqlx::query_scalar(READ_SEQ)
                .bind(address.to_string())
                .bind(channel.as_str())
                .fetch_optional(pool)
                .await?
        });
        seq.map_or(Ok(0), seq_of)
    }

    /// A page of `address`'s threads, newest activity first, after `cursor`.
    pub async fn threads(
        &self,
        address: Address,
        cursor: Option<&ThreadCursor>,
        limit: u32,
    ) -> Result<Vec<ThreadSummary>, StoreError> {
        let (activity, after) = match cursor {
            Some(c) => (c.activity_ms, c.channel.as_str()),
            // Every thread sorts before this.
            None => (i64::MAX, ""),
        };
        let rows: Vec<ThreadRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(THREADS)
                .bind(address.to_string())
                .bind(activity)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(|r| summary(address, r)).collect()
    }

    /// Unread state of every channel `address` has read and every thread it is part of.
    pub async fn unread(&self, address: Address) -> Result<Vec<Unread>, StoreError> {
        let rows: Vec<(String, i64, i64, i64)> = on_pool!(self, read, |pool| {
            sqlx::query_as(UNREAD)
                .bind(address.to_string())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(channel, last, read, unread)| {
                Ok(Unread {
                    channel: channel_of(&channel)?,
                    last_seq: seq_of(last)?,
                    read_seq: seq_of(read)?,
                    unread: seq_of(unread)?,
                })
            })
            .collect()
    }
}

fn summary(me: Address, row: ThreadRow) -> Result<ThreadSummary, StoreError> {
    let (channel, low, high, last_seq, read_seq, unread, activity_ms) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
    let channel = channel_of(&channel)?;
    let low = address_of(&low)?;
    let peer = if low == me { address_of(&high)? } else { low };
    let last_message = match (row.7, row.8, row.9, row.11) {
        (Some(seq), Some(sender), Some(body), Some(created)) => Some(to_message(
            &channel,
            (seq, sender, body, row.10, created, row.12, row.13),
        )?),
        _ => None,
    };
    Ok(ThreadSummary {
        channel,
        peer,
        last_seq: seq_of(last_seq)?,
        read_seq: seq_of(read_seq)?,
        unread: seq_of(unread)?,
        activity_ms,
        last_message,
    })
}
