//! Group commit on SQLite in one round trip. sqlx runs each SQLite statement on the
//! connection's worker thread and hands the result back, so a transaction of five statements
//! costs five thread hand-offs, which dominated the CPU of a publish when batches are small.
//! Here the whole batch (`BEGIN`, per message a channel upsert, the insert, the lookup of a
//! stored retry and the head update, then `COMMIT`) is one multi-statement query: one hand-off
//! in, the rows streamed back.
//!
//! The seq is computed inside SQLite from the channel row (`last_seq + 1`), so a retry that is
//! skipped leaves no gap, and a retry of a message earlier in the same batch finds that
//! message already inserted. Because the transaction is opened inside the query, sqlx does not
//! know about it: on any failure it is rolled back here, and a connection whose state is
//! unknown (the future dropped half-way, or a failed rollback) is closed instead of going back
//! to the pool.

use std::fmt::Write as _;

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Sqlite};

use crate::StoreError;
use crate::store::{NewMessage, Published, to_message};

/// Parameters per message: channel name, time, sender, body, client message id.
const PARAMS: usize = 5;

/// A row of the batch query: the message's index in the batch, 1 when it is a stored retry,
/// then the stored message's columns (placeholders for a new message, built from the input).
type BatchRow = (
    i64,
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

/// The query for a batch of `n` messages. Its text depends only on `n`, so sqlx's statement
/// cache keeps it prepared for the batch sizes that recur.
fn batch_sql(n: usize) -> String {
    let mut q = String::with_capacity(64 + n * 900);
    q.push_str("BEGIN IMMEDIATE;\n");
    for i in 0..n {
        let b = i * PARAMS;
        let (name, now, sender, body, cid) = (b + 1, b + 2, b + 3, b + 4, b + 5);
        let _ = write!(
            q,
            "INSERT INTO channels (name, created_at_ms) VALUES (${name}, ${now}) \
             ON CONFLICT (name) DO NOTHING;\n\
             INSERT INTO messages (channel_id, seq, sender, body, client_msg_id, created_at_ms) \
             SELECT id, last_seq + 1, ${sender}, ${body}, ${cid}, ${now} FROM channels \
             WHERE name = ${name} \
             ON CONFLICT (channel_id, sender, client_msg_id) WHERE client_msg_id IS NOT NULL \
             DO NOTHING RETURNING {i}, 0, seq, '', '', NULL, 0, NULL, NULL;\n\
             SELECT {i}, 1, seq, sender, body, client_msg_id, created_at_ms, edited_at_ms, \
             deleted_at_ms FROM messages WHERE changes() = 0 \
             AND channel_id = (SELECT id FROM channels WHERE name = ${name}) \
             AND sender = ${sender} AND client_msg_id = ${cid};\n\
             UPDATE channels SET last_seq = last_seq + 1 WHERE changes() = 1 AND name = ${name};\n"
        );
    }
    q.push_str("COMMIT;");
    q
}

/// Stores `batch` in one transaction on the single write connection `conn` and returns what
/// each message became, in batch order.
pub(crate) async fn publish(
    conn: PoolConnection<Sqlite>,
    batch: &[NewMessage<'_>],
) -> Result<Vec<Published>, StoreError> {
    let mut conn = Guard(Some(conn), true);
    let senders: Vec<String> = batch.iter().map(|m| m.sender.to_string()).collect();
    let sql = batch_sql(batch.len());
    let mut query = sqlx::query_as::<_, BatchRow>(AssertSqlSafe(sql));
    for (m, sender) in batch.iter().zip(&senders) {
        query = query
            .bind(m.channel.as_str())
            .bind(m.now_ms)
            .bind(sender.as_str())
            .bind(m.body)
            .bind(m.client_msg_id);
    }
    let rows = match query.fetch_all(conn.get()).await {
        Ok(rows) => rows,
        Err(e) => {
            // Outside a transaction (it never began) the rollback fails harmlessly; the
            // connection is kept only when a check shows no transaction is left open.
            let _ = sqlx::query("ROLLBACK").execute(conn.get()).await;
            if !in_transaction(conn.get()).await {
                conn.1 = false;
            }
            return Err(e.into());
        }
    };
    conn.1 = false;
    drop(conn);
    let mut out: Vec<Option<Published>> = vec![None; batch.len()];
    for (idx, dup, seq, sender, body, cid, created, edited, deleted) in rows {
        let i = usize::try_from(idx)
            .ok()
            .filter(|&i| i < batch.len())
            .ok_or_else(|| StoreError::Corrupt(format!("batch row {idx}")))?;
        let m = &batch[i];
        out[i] = Some(if dup == 1 {
            let row = (seq, sender, body, cid, created, edited, deleted);
            Published {
                message: to_message(m.channel, row)?,
                duplicate: true,
            }
        } else {
            Published {
                message: crate::publish::new_message(m, seq)?,
                duplicate: false,
            }
        });
    }
    crate::publish::finish(out)
}

/// Whether the connection is still inside a transaction: `BEGIN` fails inside one; when it
/// succeeds, what it opened is ended at once.
async fn in_transaction(conn: &mut sqlx::SqliteConnection) -> bool {
    match sqlx::query("BEGIN").execute(&mut *conn).await {
        Ok(_) => sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err(),
        Err(_) => true,
    }
}

/// The write connection while its transaction may be open: while armed (the second field),
/// dropping it closes the connection instead of returning it to the pool.
struct Guard(Option<PoolConnection<Sqlite>>, bool);

impl Guard {
    fn get(&mut self) -> &mut sqlx::SqliteConnection {
        self.0
            .as_mut()
            .expect("the connection is present until drop")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut conn) = self.0.take()
            && self.1
        {
            conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_per_message() {
        let q = batch_sql(2);
        assert!(q.starts_with("BEGIN IMMEDIATE;"));
        assert!(q.ends_with("COMMIT;"));
        assert!(q.contains("VALUES ($6, $7)"));
        assert!(q.contains("$10") && !q.contains("$11"));
    }
}
