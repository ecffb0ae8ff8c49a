//! Retention: removing old messages and old note tombstones.
//!
//! A channel's log is trimmed from its oldest end only, so what is left is always every
//! message above one seq, the channel's trim point (`channels.trimmed_to`). Readers compare
//! with it to tell a message removed by retention from one that never existed, and answer
//! clients explicitly (see [`crate::HistoryPage::expired`]).
//!
//! Trimming must not hold up publishing. Each call removes at most one batch, chosen by a
//! read outside any transaction, in a transaction that deletes by a primary-key range and
//! raises the trim point last, so the channel row (which publishers lock) is held only for
//! the commit. The caller repeats until a call removes less than a batch.

use crate::store::{in_tx, on_pool};
use crate::{Store, StoreError};

const LIST: &str = "SELECT c.id, c.name, c.last_seq, c.trimmed_to, \
     (SELECT m.created_at_ms FROM messages m WHERE m.channel_id = c.id AND m.seq > c.trimmed_to \
      ORDER BY m.seq LIMIT 1) \
     FROM channels c WHERE c.id > $1 ORDER BY c.id LIMIT $2";
const BOUNDS: &str = "SELECT last_seq, trimmed_to FROM channels WHERE id = $1";
/// The oldest messages still stored, a range scan on the primary key.
const WINDOW: &str = "SELECT seq, created_at_ms FROM messages \
     WHERE channel_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
const DELETE: &str = "DELETE FROM messages WHERE channel_id = $1 AND seq > $2 AND seq <= $3";
/// Raises, never lowers: two instances trimming one channel at once cannot move it back.
const RAISE: &str = "UPDATE channels SET trimmed_to = \
     CASE WHEN trimmed_to < $2 THEN $2 ELSE trimmed_to END WHERE id = $1";
const PURGE_TOMBSTONES: &str = "DELETE FROM notes WHERE id IN (SELECT id FROM notes \
     WHERE removed_at_ms IS NOT NULL AND removed_at_ms < $1 ORDER BY removed_at_ms LIMIT $2) \
     RETURNING rev";
const RAISE_PURGED: &str = "UPDATE note_clock SET purged_rev = \
     CASE WHEN purged_rev < $1 THEN $1 ELSE purged_rev END WHERE id = 1";
const PURGED: &str = "SELECT purged_rev FROM note_clock WHERE id = 1";

/// A channel's row id: the cursor of [`Store::list_channels`] and the key of
/// [`Store::trim_channel`]. The default is below every channel's id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(i64);

/// A stored channel, as the retention job sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChannel {
    pub id: ChannelId,
    /// As stored; a name this version cannot parse is left to the caller to report.
    pub name: String,
    pub last_seq: u64,
    /// Highest seq removed by retention, 0 when none was.
    pub trimmed_to: u64,
    /// When the oldest message still stored was published; `None` when none is.
    pub oldest_at_ms: Option<i64>,
}

/// What one [`Store::trim_channel`] call may remove: messages published before
/// `older_than_ms`, and messages beyond the newest `keep`, at most `batch` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    pub older_than_ms: Option<i64>,
    pub keep: Option<u64>,
    pub batch: u32,
}

type ListRow = (i64, String, i64, i64, Option<i64>);

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The highest seq of `window` (ascending) that `trim` removes, if any. The log is trimmed
/// from its oldest end only, so this stops at the first message either rule keeps: an old
/// message published after a newer one (clocks of two instances disagree) waits for the
/// messages before it.
fn trim_target(window: &[(i64, i64)], last_seq: i64, trim: Trim) -> Option<i64> {
    let floor = trim
        .keep
        .map(|keep| last_seq.saturating_sub(i64::try_from(keep).unwrap_or(i64::MAX)));
    let mut target = None;
    for &(seq, at) in window {
        let beyond_count = floor.is_some_and(|f| seq <= f);
        let too_old = trim.older_than_ms.is_some_and(|cutoff| at < cutoff);
        if !(beyond_count || too_old) {
            break;
        }
        target = Some(seq);
    }
    target
}

impl Store {
    /// Up to `limit` channels with an id above `after` (all of them from `None`), by id.
    pub async fn list_channels(
        &self,
        after: Option<ChannelId>,
        limit: u32,
    ) -> Result<Vec<StoredChannel>, StoreError> {
        let rows: Vec<ListRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(LIST)
                .bind(after.map_or(0, |a| a.0))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name, last, trimmed, oldest)| StoredChannel {
                id: ChannelId(id),
                name,
                last_seq: to_u64(last),
                trimmed_to: to_u64(trimmed),
                oldest_at_ms: oldest,
            })
            .collect())
    }

    /// Removes the channel's oldest messages that `trim` covers, at most `trim.batch`, and
    /// raises its trim point past them; returns how many it removed. Less than a batch
    /// means nothing more is due now.
    pub async fn trim_channel(&self, id: ChannelId, trim: Trim) -> Result<u64, StoreError> {
        if trim.batch == 0 || (trim.older_than_ms.is_none() && trim.keep.is_none()) {
            return Ok(0);
        }
        let (window, last_seq, trimmed_to) = on_pool!(self, read, |pool| {
            let bounds: Option<(i64, i64)> = sqlx::query_as(BOUNDS)
                .bind(id.0)
                .fetch_optional(pool)
                .await?;
            let Some((last_seq, trimmed_to)) = bounds else {
                return Ok(0);
            };
            let window: Vec<(i64, i64)> = sqlx::query_as(WINDOW)
                .bind(id.0)
                .bind(trimmed_to)
                .bind(i64::from(trim.batch))
                .fetch_all(pool)
                .await?;
            (window, last_seq, trimmed_to)
        });
        let Some(target) = trim_target(&window, last_seq, trim) else {
            return Ok(0);
        };
        let removed = in_tx!(self, |tx| {
            let removed = sqlx::query(DELETE)
                .bind(id.0)
                .bind(trimmed_to)
                .bind(target)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(RAISE)
                .bind(id.0)
                .bind(target)
                .execute(&mut *tx)
                .await?;
            removed
        });
        Ok(removed)
    }

    /// Deletes up to `limit` note tombstones removed before `removed_before_ms`, oldest
    /// first, and raises the purge horizon ([`Store::purged_note_rev`]) past them; returns
    /// how many it deleted.
    pub async fn purge_note_tombstones(
        &self,
        removed_before_ms: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let purged = in_tx!(self, |tx| {
            let revs: Vec<i64> = sqlx::query_scalar(PURGE_TOMBSTONES)
                .bind(removed_before_ms)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            if let Some(highest) = revs.iter().max() {
                sqlx::query(RAISE_PURGED)
                    .bind(highest)
                    .execute(&mut *tx)
                    .await?;
            }
            revs.len() as u64
        });
        Ok(purged)
    }

    /// The highest note revision whose tombstone was purged (0: none): a client resuming
    /// from an older revision may have missed a removal.
    pub async fn purged_note_rev(&self) -> Result<u64, StoreError> {
        let rev: i64 = on_pool!(self, read, |pool| {
            sqlx::query_scalar(PURGED).fetch_one(pool).await?
        });
        Ok(to_u64(rev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trim(older_than_ms: Option<i64>, keep: Option<u64>) -> Trim {
        Trim {
            older_than_ms,
            keep,
            batch: 100,
        }
    }

    #[test]
    fn the_target_is_the_end_of_the_prefix_either_rule_removes() {
        // seq, published at: 1..=5 at 10, 20, 30, 40, 50.
        let window: Vec<(i64, i64)> = (1..=5).map(|s| (s, s * 10)).collect();
        assert_eq!(trim_target(&window, 5, trim(Some(35), None)), Some(3));
        assert_eq!(trim_target(&window, 5, trim(None, Some(2))), Some(3));
        // The longer of the two prefixes.
        assert_eq!(trim_target(&window, 5, trim(Some(15), Some(2))), Some(3));
        assert_eq!(trim_target(&window, 5, trim(Some(45), Some(2))), Some(4));
        assert_eq!(trim_target(&window, 5, trim(Some(5), Some(10))), None);
        assert_eq!(trim_target(&window, 5, trim(Some(100), None)), Some(5));
        // An old message after a newer one waits.
        let skewed = [(1, 10), (2, 90), (3, 20)];
        assert_eq!(trim_target(&skewed, 3, trim(Some(50), None)), Some(1));
        assert_eq!(trim_target(&[], 0, trim(Some(50), Some(1))), None);
    }
}
