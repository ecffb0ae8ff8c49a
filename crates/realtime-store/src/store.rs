//! The storage API. Each method runs the same SQL on either backend; the `on_pool!` macro
//! picks the pool (SQLite has a single-connection writer so publishers queue fairly instead
//! of spinning on the file lock).

use std::path::Path;
use std::str::FromStr;

use realtime_core::{Address, ChannelName, Message};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::{self, MessageRow};
use crate::{StorageConfig, StoreError};

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub(crate) enum Pools {
    Postgres(PgPool),
    Sqlite { read: SqlitePool, write: SqlitePool },
}

/// Runs `$body` with `$pool` bound to the backend's pool for `$role` (`read` or `write`).
macro_rules! on_pool {
    ($self:ident, $role:ident, |$pool:ident| $body:expr) => {
        match &$self.pools {
            crate::store::Pools::Postgres(p) => {
                let $pool = p;
                $body
            }
            crate::store::Pools::Sqlite { read, write } => {
                let _ = (&read, &write);
                let $pool = on_pool!(@pick $role, read, write);
                $body
            }
        }
    };
    (@pick read, $r:ident, $w:ident) => { $r };
    (@pick write, $r:ident, $w:ident) => { $w };
}
pub(crate) use on_pool;

/// Runs `$body` in a write transaction bound to `$tx`, committing when it succeeds.
macro_rules! in_tx {
    ($self:ident, |$tx:ident| $body:expr) => {
        match &$self.pools {
            crate::store::Pools::Postgres(p) => {
                let mut $tx = p.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            crate::store::Pools::Sqlite { write, .. } => {
                let mut $tx = write.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use in_tx;

/// A handle on the message store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pools: Pools,
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub channel: &'a ChannelName,
    pub sender: Address,
    pub body: &'a str,
    pub client_msg_id: &'a str,
    pub now_ms: i64,
}

/// Result of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub message: Message,
    /// The sender had already stored a message with this client message id; `message` is
    /// that original, and nothing new was written.
    pub duplicate: bool,
}

/// The bounds of a channel's stored log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelHead {
    /// Newest seq, 0 for a channel with no message yet.
    pub last_seq: u64,
    /// Oldest seq still stored (older ones were removed by retention), if any.
    pub first_seq: Option<u64>,
    /// Highest seq removed by retention (0: none): every message at or below it is gone,
    /// every one above it is stored.
    pub trimmed_to: u64,
}

/// Which page of history to read. With `after`: ascending from just after it. Otherwise: the
/// newest messages below `before` (or the newest of all). Both bounds are exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub limit: u32,
}

/// A page of messages, ascending by seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// More messages exist past the page in the direction read.
    pub has_more: bool,
    /// Messages the query asked for were removed by retention: paging backwards, the page
    /// reached the trim point (nothing older is left, though older messages existed);
    /// paging forwards from `after`, messages right after it are gone and the page starts
    /// at the oldest one kept.
    pub expired: bool,
}

/// Most channels named in one [`Store::channel_heads`] query (SQLite binds each name as a
/// parameter, and allows 32 766 per statement).
pub const HEADS_PER_QUERY: usize = 1000;

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(crate) fn to_message(channel: &ChannelName, row: MessageRow) -> Result<Message, StoreError> {
    let (seq, sender, body, client_msg_id, created_at_ms, edited_at_ms, deleted_at_ms) = row;
    let sender = Address::from_str(&sender)
        .map_err(|e| StoreError::Corrupt(format!("sender {sender:?}: {e}")))?;
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?;
    Ok(Message {
        channel: channel.clone(),
        seq,
        sender,
        body,
        client_msg_id,
        created_at_ms,
        edited_at_ms,
        deleted_at_ms,
    })
}

impl Store {
    /// Opens the pools for `config.url`. Fails fast when the database cannot be reached, so
    /// a wrong URL is reported at start, not on the first message.
    pub async fn connect(config: &StorageConfig) -> Result<Self, StoreError> {
        let url = config.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query(sql::PG_READ_COMMITTED).execute(conn).await?;
                        Ok(())
                    })
                })
                .max_connections(config.max_connections.max(1))
                .acquire_timeout(config.acquire_timeout)
                .connect(url)
                .await?;
            return Ok(Self {
                pools: Pools::Postgres(pool),
            });
        }
        let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            return Err(StoreError::BadUrl {
                url: config.redacted_url(),
                reason: "expected sqlite://PATH or postgres://…".into(),
            });
        };
        if path.is_empty() || path.contains(":memory:") || path.contains('?') {
            return Err(StoreError::BadUrl {
                url: url.into(),
                reason: "give a file path, e.g. sqlite://./data/realtime.db".into(),
            });
        }
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::BadUrl {
                url: url.into(),
                reason: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match config.sqlite_synchronous {
                crate::config::SqliteSynchronousMode::Normal => SqliteSynchronous::Normal,
                crate::config::SqliteSynchronousMode::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(config.acquire_timeout)
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self {
            pools: Pools::Sqlite { read, write },
        })
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Postgres(_) => Backend::Postgres,
            Pools::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Closes every pooled connection, waiting for borrowed ones to come back.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Postgres(p) => p.close().await,
            Pools::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, read, |pool| {
            sqlx::query(sql::PING).execute(pool).await?;
        });
        Ok(())
    }

    /// Appends a message with the channel's next seq, or returns the original when the
    /// sender already stored one with this client message id. Returns after commit.
    pub async fn publish(&self, new: NewMessage<'_>) -> Result<Published, StoreError> {
        let mut published = self.publish_many(std::slice::from_ref(&new)).await?;
        published
            .pop()
            .ok_or_else(|| StoreError::Corrupt("an empty publish result".into()))
    }

    /// Stores a batch in one transaction (group commit) and returns, after the commit, what
    /// each message became, in batch order: within a channel, new messages take consecutive
    /// seqs in batch order; a message whose sender already used its client message id (stored
    /// before or earlier in the batch) is returned as that original, marked duplicate. If the
    /// transaction fails, nothing of the batch is stored.
    pub async fn publish_many(
        &self,
        batch: &[NewMessage<'_>],
    ) -> Result<Vec<Published>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        match &self.pools {
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let published = crate::publish::postgres(&mut tx, batch).await?;
                tx.commit().await?;
                Ok(published)
            }
            Pools::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                let published = crate::publish::sqlite(&mut tx, batch).await?;
                tx.commit().await?;
                Ok(published)
            }
        }
    }

    /// The newest and oldest stored seq of a channel.
    pub async fn channel_head(&self, channel: &ChannelName) -> Result<ChannelHead, StoreError> {
        let row: Option<(i64, i64, Option<i64>)> = on_pool!(self, read, |pool| {
            sqlx::query_as(sql::CHANNEL_HEAD)
                .bind(channel.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(match row {
            None => ChannelHead {
                last_seq: 0,
                first_seq: None,
                trimmed_to: 0,
            },
            Some((last, trimmed, first)) => ChannelHead {
                last_seq: u64::try_from(last).unwrap_or(0),
                first_seq: first.and_then(|f| u64::try_from(f).ok()),
                trimmed_to: u64::try_from(trimmed).unwrap_or(0),
            },
        })
    }

    /// The newest seq of each of `channels`, in their order (0 for a channel with no message
    /// yet), with one query per [`HEADS_PER_QUERY`] channels: an instance checks every channel
    /// it follows at once, however many.
    pub async fn channel_heads(&self, channels: &[ChannelName]) -> Result<Vec<u64>, StoreError> {
        let mut heads = std::collections::HashMap::with_capacity(channels.len());
        for chunk in channels.chunks(HEADS_PER_QUERY) {
            let rows: Vec<(String, i64)> = match &self.pools {
                Pools::Postgres(pool) => {
                    let names: Vec<&str> = chunk.iter().map(ChannelName::as_str).collect();
                    sqlx::query_as(sql::PG_CHANNEL_HEADS)
                        .bind(names)
                        .fetch_all(pool)
                        .await?
                }
                Pools::Sqlite { read, .. } => {
                    let placeholders: Vec<String> =
                        (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let text = format!("{}({})", sql::SQLITE_CHANNEL_HEADS, placeholders.join(","));
                    // Only placeholders are spliced in; the names are bound.
                    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(text));
                    for c in chunk {
                        query = query.bind(c.as_str());
                    }
                    query.fetch_all(read).await?
                }
            };
            heads.extend(
                rows.into_iter()
                    .map(|(name, last)| (name, u64::try_from(last).unwrap_or(0))),
            );
        }
        Ok(channels
            .iter()
            .map(|c| heads.get(c.as_str()).copied().unwrap_or(0))
            .collect())
    }

    /// Messages with `after < seq <= up_to`, ascending, at most `limit`.
    pub async fn range(
        &self,
        channel: &ChannelName,
        after: u64,
        up_to: u64,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = self
            .page_forward(channel, after, up_to.saturating_add(1), limit)
            .await?;
        rows.into_iter().map(|r| to_message(channel, r)).collect()
    }

    /// A page of history; see [`HistoryQuery`].
    pub async fn history(
        &self,
        channel: &ChannelName,
        query: HistoryQuery,
    ) -> Result<HistoryPage, StoreError> {
        let limit = query.limit.max(1);
        let before = query.before.unwrap_or(u64::MAX);
        let mut rows = match query.after {
            Some(after) => {
                self.page_forward(channel, after, before, limit.saturating_add(1))
                    .await?
            }
            None => {
                let mut rows: Vec<MessageRow> = on_pool!(self, read, |pool| {
                    sqlx::query_as(sql::PAGE_BACKWARD)
                        .bind(channel.as_str())
                        .bind(seq_param(before))
                        .bind(i64::from(limit) + 1)
                        .fetch_all(pool)
                        .await?
                });
                rows.reverse();
                rows
            }
        };
        let has_more = rows.len() > limit as usize;
        if has_more {
            // The extra row is the one furthest in the paging direction.
            if query.after.is_some() {
                rows.pop();
            } else {
                rows.remove(0);
            }
        }
        let messages: Vec<Message> = rows
            .into_iter()
            .map(|r| to_message(channel, r))
            .collect::<Result<_, _>>()?;
        // Where the page starts: its first message, or, for an empty one, the upper bound.
        let low = messages.first().map_or(before, |m| m.seq);
        // Whether messages the query covers could be missing below the page's start; only
        // then is the trim point read. It is read after the page and only rises, so a trim
        // that happened after the page was read cannot make a complete page look cut.
        let maybe_cut = match query.after {
            Some(after) => low > after.saturating_add(1),
            None => !has_more && low > 1,
        };
        let expired = maybe_cut && {
            let trimmed_to = self.trimmed_to(channel).await?;
            match query.after {
                Some(after) => trimmed_to > after,
                None => trimmed_to > 0,
            }
        };
        Ok(HistoryPage {
            messages,
            has_more,
            expired,
        })
    }

    /// The channel's trim point (see [`ChannelHead::trimmed_to`]).
    pub async fn trimmed_to(&self, channel: &ChannelName) -> Result<u64, StoreError> {
        let trimmed: Option<i64> = on_pool!(self, read, |pool| {
            sqlx::query_scalar(sql::TRIMMED_TO)
                .bind(channel.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(trimmed.and_then(|t| u64::try_from(t).ok()).unwrap_or(0))
    }

    async fn page_forward(
        &self,
        channel: &ChannelName,
        after: u64,
        before: u64,
        limit: u32,
    ) -> Result<Vec<MessageRow>, StoreError> {
        Ok(on_pool!(self, read, |pool| {
            sqlx::query_as(sql::PAGE_FORWARD)
                .bind(channel.as_str())
                .bind(seq_param(after))
                .bind(seq_param(before))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }))
    }
}

impl Store {
    /// The query plan of a backward history page, for diagnostics: it should be a range scan
    /// on the messages primary key. On Postgres, sequential scans are disabled while planning
    /// so the answer shows whether an index can serve the query, not what a tiny table costs.
    pub async fn history_plan(&self) -> Result<String, StoreError> {
        let query = sql::PAGE_BACKWARD
            .replace("$1", "'world'")
            .replace("$2", "1000")
            .replace("$3", "101");
        match &self.pools {
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await?;
                let lines: Vec<String> =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {query}")))
                        .fetch_all(&mut *tx)
                        .await?;
                tx.rollback().await?;
                Ok(lines.join("\n"))
            }
            Pools::Sqlite { read, .. } => {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}")))
                        .fetch_all(read)
                        .await?;
                Ok(rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SqliteSynchronousMode;

    /// `PRAGMA synchronous` on a pool: 1 is NORMAL, 2 is FULL.
    async fn synchronous(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_sqlite_synchronous_setting_reaches_every_connection() {
        let dir = std::env::temp_dir().join(format!("rt-sync-{}", std::process::id()));
        for (mode, expected) in [
            (SqliteSynchronousMode::Normal, 1),
            (SqliteSynchronousMode::Full, 2),
        ] {
            let store = Store::connect(&StorageConfig {
                url: format!("sqlite://{}/{mode:?}.db", dir.display()),
                sqlite_synchronous: mode,
                ..StorageConfig::default()
            })
            .await
            .unwrap();
            let Pools::Sqlite { read, write } = &store.pools else {
                panic!("a SQLite store")
            };
            assert_eq!(synchronous(write).await, expected, "{mode:?} writer");
            assert_eq!(synchronous(read).await, expected, "{mode:?} reader");
            store.close().await;
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
