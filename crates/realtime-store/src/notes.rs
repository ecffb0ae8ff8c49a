//! Notes pinned to map tiles. Every change (create, edit, delete, expiry) takes the next
//! value of the note clock in its transaction, so "what changed since revision R" is one
//! range read, and a removed note stays as a tombstone for clients that resume.
//!
//! Visibility is filtered in SQL, so a page holds only notes its reader may see and paging
//! stays exact: public notes, the reader's own, and group notes of the reader's groups
//! (which the caller takes from on-chain state).

use std::str::FromStr;

use realtime_core::Address;
use realtime_core::hex::{Rect, Tile};
use realtime_core::notes::Visibility;

use crate::store::{in_tx, on_pool};
use crate::{Store, StoreError};

/// Most groups a reader is matched against in one query.
pub const MAX_READER_GROUPS: usize = 32;

const COLUMNS: &str = "id, author, x, y, title, body, visibility, group_key, created_at_ms, \
     updated_at_ms, expires_at_ms, removed_at_ms, removal, rev";

const TICK: &str = "UPDATE note_clock SET rev = rev + 1 WHERE id = 1 RETURNING rev";
const CLOCK: &str = "SELECT rev FROM note_clock WHERE id = 1";
const COUNT_LIVE: &str = "SELECT COUNT(*) FROM notes WHERE author = $1 \
     AND removed_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > $2)";
const DUE: &str = "SELECT id FROM notes WHERE removed_at_ms IS NULL \
     AND expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2";

/// Why a note left the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Deleted,
    Expired,
    /// Removed by a moderator.
    Removed,
}

/// A stored note (or its tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: u64,
    pub author: Address,
    pub tile: Tile,
    pub title: String,
    pub body: String,
    pub visibility: Visibility,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    /// Set on a tombstone.
    pub removed: Option<(Removal, i64)>,
    /// The note clock at its last change.
    pub rev: u64,
}

/// A note to pin.
#[derive(Debug, Clone)]
pub struct NewNote<'a> {
    pub author: Address,
    pub tile: Tile,
    pub title: &'a str,
    pub body: &'a str,
    pub visibility: &'a Visibility,
    pub expires_at_ms: Option<i64>,
    pub now_ms: i64,
}

/// What an edit changes; `None` keeps the field. `expires_at_ms: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct NoteEdit<'a> {
    pub title: Option<&'a str>,
    pub body: Option<&'a str>,
    pub expires_at_ms: Option<Option<i64>>,
}

/// Who reads: which notes besides public ones a query returns.
#[derive(Debug, Clone, Default)]
pub struct Reader {
    /// `None`: not signed in (public notes only).
    pub address: Option<Address>,
    /// `KIND:ID` of the reader's groups, at most [`MAX_READER_GROUPS`].
    pub groups: Vec<String>,
}

type Row = (
    i64,
    String,
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

fn corrupt(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("note {what} {value:?}"))
}

fn to_note(r: Row) -> Result<Note, StoreError> {
    let coord = |v: i64| u32::try_from(v).map_err(|_| corrupt("coordinate", v));
    let visibility = match (r.6.as_str(), r.7) {
        ("public", _) => Visibility::Public,
        ("private", _) => Visibility::Private,
        ("group", Some(key)) => match key.split_once(':') {
            Some((kind, id)) => Visibility::Group {
                kind: kind.to_owned(),
                id: id.to_owned(),
            },
            None => return Err(corrupt("group", key)),
        },
        (other, _) => return Err(corrupt("visibility", other)),
    };
    let removed = match (r.12.as_deref(), r.11) {
        (None, _) => None,
        (Some("deleted"), Some(at)) => Some((Removal::Deleted, at)),
        (Some("expired"), Some(at)) => Some((Removal::Expired, at)),
        (Some("removed"), Some(at)) => Some((Removal::Removed, at)),
        (Some(other), _) => return Err(corrupt("removal", other)),
    };
    Ok(Note {
        id: u64::try_from(r.0).map_err(|_| corrupt("id", r.0))?,
        author: Address::from_str(&r.1).map_err(|_| corrupt("author", &r.1))?,
        tile: Tile::new(coord(r.2)?, coord(r.3)?),
        title: r.4,
        body: r.5,
        visibility,
        created_at_ms: r.8,
        updated_at_ms: r.9,
        expires_at_ms: r.10,
        removed,
        rev: u64::try_from(r.13).map_err(|_| corrupt("rev", r.13))?,
    })
}

/// The visibility condition for `reader`, with its parameters numbered from `first`, and the
/// values to bind in order.
fn visible_to(reader: &Reader, first: usize) -> (String, Vec<String>) {
    let Some(address) = reader.address else {
        return ("visibility = 'public'".into(), Vec::new());
    };
    let mut binds = vec![address.to_string()];
    let mut sql = format!("(visibility = 'public' OR author = ${first}");
    let groups: Vec<&String> = reader.groups.iter().take(MAX_READER_GROUPS).collect();
    if !groups.is_empty() {
        let slots: Vec<String> = (0..groups.len())
            .map(|i| format!("${}", first + 1 + i))
            .collect();
        sql.push_str(&format!(
            " OR (visibility = 'group' AND group_key IN ({}))",
            slots.join(", ")
        ));
        binds.extend(groups.into_iter().cloned());
    }
    sql.push(')');
    (sql, binds)
}

impl Store {
    /// The note clock: the revision of the latest change.
    pub async fn note_clock(&self) -> Result<u64, StoreError> {
        let rev: i64 = on_pool!(self, read, |pool| {
            sqlx::query_scalar(CLOCK).fetch_one(pool).await?
        });
        u64::try_from(rev).map_err(|_| corrupt("clock", rev))
    }

    /// Live notes of `author` at `now_ms`.
    pub async fn live_notes_of(&self, author: Address, now_ms: i64) -> Result<u64, StoreError> {
        let n: i64 = on_pool!(self, read, |pool| {
            sqlx::query_scalar(COUNT_LIVE)
                .bind(author.to_string())
                .bind(now_ms)
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Pins a note.
    pub async fn create_note(&self, new: NewNote<'_>) -> Result<Note, StoreError> {
        let insert = format!(
            "INSERT INTO notes (author, x, y, title, body, visibility, group_key, \
             created_at_ms, updated_at_ms, expires_at_ms, rev) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING {COLUMNS}"
        );
        let row: Row = in_tx!(self, |tx| {
            let rev: i64 = sqlx::query_scalar(TICK).fetch_one(&mut *tx).await?;
            sqlx::query_as(sqlx::AssertSqlSafe(insert.clone()))
                .bind(new.author.to_string())
                .bind(i64::from(new.tile.x))
                .bind(i64::from(new.tile.y))
                .bind(new.title)
                .bind(new.body)
                .bind(new.visibility.name())
                .bind(new.visibility.group_key())
                .bind(new.now_ms)
                .bind(new.expires_at_ms)
                .bind(rev)
                .fetch_one(&mut *tx)
                .await?
        });
        to_note(row)
    }

    /// The note `id`, tombstone or not.
    pub async fn note(&self, id: u64) -> Result<Option<Note>, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM notes WHERE id = $1");
        let row: Option<Row> = on_pool!(self, read, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(i64::try_from(id).unwrap_or(i64::MAX))
                .fetch_optional(pool)
                .await?
        });
        row.map(to_note).transpose()
    }

    /// Edits a live note of `author`; `None` when there is none with this id.
    pub async fn edit_note(
        &self,
        id: u64,
        author: Address,
        edit: NoteEdit<'_>,
        now_ms: i64,
    ) -> Result<Option<Note>, StoreError> {
        let (set_expiry, expiry) = match edit.expires_at_ms {
            None => (false, None),
            Some(e) => (true, e),
        };
        let update = format!(
            "UPDATE notes SET title = COALESCE($3, title), body = COALESCE($4, body), \
             expires_at_ms = CASE WHEN $5 THEN $6 ELSE expires_at_ms END, \
             updated_at_ms = $7, rev = $8 \
             WHERE id = $1 AND author = $2 AND removed_at_ms IS NULL \
             AND (expires_at_ms IS NULL OR expires_at_ms > $7) RETURNING {COLUMNS}"
        );
        let row: Option<Row> = in_tx!(self, |tx| {
            let rev: i64 = sqlx::query_scalar(TICK).fetch_one(&mut *tx).await?;
            sqlx::query_as(sqlx::AssertSqlSafe(update.clone()))
                .bind(i64::try_from(id).unwrap_or(i64::MAX))
                .bind(author.to_string())
                .bind(edit.title)
                .bind(edit.body)
                .bind(set_expiry)
                .bind(expiry)
                .bind(now_ms)
                .bind(rev)
                .fetch_optional(&mut *tx)
                .await?
        });
        row.map(to_note).transpose()
    }

    /// Removes a live note of `author` (a tombstone stays); `None` when there is none.
    pub async fn delete_note(
        &self,
        id: u64,
        author: Address,
        now_ms: i64,
    ) -> Result<Option<Note>, StoreError> {
        self.remove(id, Some(author), Removal::Deleted, now_ms, None)
            .await
    }

    /// Removes a live note on a moderator's decision, with the audit entry; `None` when
    /// there is none.
    pub async fn remove_note(
        &self,
        id: u64,
        audit: &crate::moderation::Audit<'_>,
    ) -> Result<Option<Note>, StoreError> {
        self.remove(id, None, Removal::Removed, audit.at_ms, Some(audit))
            .await
    }

    async fn remove(
        &self,
        id: u64,
        author: Option<Address>,
        why: Removal,
        now_ms: i64,
        audit: Option<&crate::moderation::Audit<'_>>,
    ) -> Result<Option<Note>, StoreError> {
        let (removal, at, due) = match why {
            Removal::Deleted => ("deleted", "$3", ""),
            Removal::Removed => ("removed", "$3", ""),
            // An expired note left the map when it expired, whenever the sweep runs; one
            // whose expiry an edit moved since the sweep picked it stays.
            Removal::Expired => ("expired", "expires_at_ms", " AND expires_at_ms <= $3"),
        };
        let update = format!(
            "UPDATE notes SET removed_at_ms = {at}, removal = '{removal}', rev = $4 \
             WHERE id = $1 AND ($2 IS NULL OR author = $2) AND removed_at_ms IS NULL{due} \
             RETURNING {COLUMNS}"
        );
        let row: Option<Row> = in_tx!(self, |tx| {
            let rev: i64 = sqlx::query_scalar(TICK).fetch_one(&mut *tx).await?;
            let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(update.clone()))
                .bind(i64::try_from(id).unwrap_or(i64::MAX))
                .bind(author.map(|a| a.to_string()))
                .bind(now_ms)
                .bind(rev)
                .fetch_optional(&mut *tx)
                .await?;
            if let (Some(audit), Some(_)) = (audit, &row) {
                crate::moderation::audit!(tx, audit);
            }
            row
        });
        row.map(to_note).transpose()
    }

    /// Turns up to `limit` notes past their expiry at `now_ms` into tombstones, each with its
    /// own revision; returns them.
    pub async fn expire_notes(&self, now_ms: i64, limit: u32) -> Result<Vec<Note>, StoreError> {
        let due: Vec<i64> = on_pool!(self, read, |pool| {
            sqlx::query_scalar(DUE)
                .bind(now_ms)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        let mut expired = Vec::with_capacity(due.len());
        for id in due {
            let id = u64::try_from(id).map_err(|_| corrupt("id", id))?;
            if let Some(note) = self
                .remove(id, None, Removal::Expired, now_ms, None)
                .await?
            {
                expired.push(note);
            }
        }
        Ok(expired)
    }

    /// A page of live notes inside `area` that `reader` may see, newest first, below the id
    /// `before`.
    pub async fn notes_in(
        &self,
        area: Rect,
        reader: &Reader,
        now_ms: i64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Note>, StoreError> {
        let (visible, binds) = visible_to(reader, 8);
        let select = format!(
            "SELECT {COLUMNS} FROM notes WHERE x BETWEEN $1 AND $2 AND y BETWEEN $3 AND $4 \
             AND removed_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > $5) \
             AND id < $6 AND {visible} ORDER BY id DESC LIMIT $7"
        );
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let (min, max) = (area.min(), area.max());
        let rows: Vec<Row> = on_pool!(self, read, |pool| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(i64::from(min.x))
                .bind(i64::from(max.x))
                .bind(i64::from(min.y))
                .bind(i64::from(max.y))
                .bind(now_ms)
                .bind(before)
                .bind(i64::from(limit));
            for b in &binds {
                q = q.bind(b.clone());
            }
            q.fetch_all(pool).await?
        });
        rows.into_iter().map(to_note).collect()
    }

    /// Changes after revision `after` to notes inside `area` that `reader` may see, oldest
    /// first, tombstones included: what a client resuming from `after` has missed.
    pub async fn note_changes(
        &self,
        area: Rect,
        reader: &Reader,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Note>, StoreError> {
        let (visible, binds) = visible_to(reader, 7);
        let select = format!(
            "SELECT {COLUMNS} FROM notes WHERE rev > $1 AND x BETWEEN $2 AND $3 \
             AND y BETWEEN $4 AND $5 AND {visible} ORDER BY rev ASC LIMIT $6"
        );
        let (min, max) = (area.min(), area.max());
        let rows: Vec<Row> = on_pool!(self, read, |pool| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::from(min.x))
                .bind(i64::from(max.x))
                .bind(i64::from(min.y))
                .bind(i64::from(max.y))
                .bind(i64::from(limit));
            for b in &binds {
                q = q.bind(b.clone());
            }
            q.fetch_all(pool).await?
        });
        rows.into_iter().map(to_note).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageConfig;

    /// The sweep picks a due note, then its author extends the expiry before the sweep's
    /// update runs: the note stays.
    #[tokio::test]
    async fn a_sweep_does_not_expire_a_note_whose_expiry_moved() {
        let dir = std::env::temp_dir().join(format!("rt-notes-{}", std::process::id()));
        let store = Store::connect(&StorageConfig {
            url: format!("sqlite://{}/notes.db", dir.display()),
            ..StorageConfig::default()
        })
        .await
        .unwrap();
        store.migrate_up().await.unwrap();
        let author: Address = "0x1".parse().unwrap();
        let note = store
            .create_note(NewNote {
                author,
                tile: Tile::new(1, 1),
                title: "t",
                body: "",
                visibility: &Visibility::Public,
                expires_at_ms: Some(5_000),
                now_ms: 1_000,
            })
            .await
            .unwrap();
        let later = NoteEdit {
            expires_at_ms: Some(Some(10_000)),
            ..NoteEdit::default()
        };
        store
            .edit_note(note.id, author, later, 4_000)
            .await
            .unwrap()
            .unwrap();
        // What the sweep does for a note it picked at 6 000, before the edit.
        let swept = store
            .remove(note.id, None, Removal::Expired, 6_000, None)
            .await
            .unwrap();
        assert!(swept.is_none());
        assert!(
            store
                .note(note.id)
                .await
                .unwrap()
                .unwrap()
                .removed
                .is_none()
        );
        store.close().await;
        std::fs::remove_dir_all(dir).ok();
    }
}
