//! Group commit: a batch of messages, possibly to several channels, is stored in one
//! transaction. Per channel, the row is locked once (serialising writers on other instances),
//! retries of stored messages are recognised (on Postgres by one lookup for the whole batch,
//! on SQLite by the insert itself), retries within the batch collapse onto their first copy,
//! the messages get consecutive seqs in batch order, and `last_seq` is written once. One commit then acknowledges the whole batch,
//! which is what lets one busy channel take thousands of publishes a second.
//!
//! Postgres gets each step as one statement over arrays (`UNNEST`), so a batch costs a fixed
//! number of round trips per channel; SQLite runs in process and repeats a prepared
//! single-row insert instead.

use std::collections::HashMap;

use realtime_core::Message;
use sqlx::{PgConnection, SqliteConnection};

use crate::StoreError;
use crate::sql::{self, MessageRow};
use crate::store::{NewMessage, Published, to_message};

/// A channel's lock taken: its id and current last seq.
type Head = (i64, i64);

/// The messages of one batch that go to one channel, by index in the batch.
fn by_channel<'a>(batch: &'a [NewMessage<'_>]) -> Vec<(&'a str, Vec<usize>)> {
    let mut groups: Vec<(&'a str, Vec<usize>)> = Vec::new();
    let mut at: HashMap<&'a str, usize> = HashMap::new();
    for (i, m) in batch.iter().enumerate() {
        let name = m.channel.as_str();
        match at.get(name) {
            Some(g) => groups[*g].1.push(i),
            None => {
                at.insert(name, groups.len());
                groups.push((name, vec![i]));
            }
        }
    }
    groups
}

/// What each message of a channel's group becomes, given the stored duplicates: new messages
/// get the next seqs in order; a retry of a stored or earlier batched message returns it.
struct Plan {
    /// Indexes in the batch of messages to insert, with their seq.
    inserts: Vec<(usize, i64)>,
    last_seq: i64,
}

fn plan(
    batch: &[NewMessage<'_>],
    senders: &[String],
    group: &[usize],
    head: Head,
    stored: &HashMap<(String, String), MessageRow>,
    out: &mut [Option<Published>],
) -> Result<Plan, StoreError> {
    let mut last_seq = head.1;
    let mut inserts = Vec::new();
    let mut earlier: HashMap<(&str, &str), usize> = HashMap::new();
    for &i in group {
        let m = &batch[i];
        let key = (senders[i].clone(), m.client_msg_id.to_owned());
        if let Some(row) = stored.get(&key) {
            out[i] = Some(Published {
                message: to_message(m.channel, row.clone())?,
                duplicate: true,
            });
            continue;
        }
        if let Some(&first) = earlier.get(&(senders[i].as_str(), m.client_msg_id)) {
            let original = out[first].as_ref().map(|p| p.message.clone());
            out[i] = original.map(|message| Published {
                message,
                duplicate: true,
            });
            continue;
        }
        last_seq += 1;
        earlier.insert((senders[i].as_str(), m.client_msg_id), i);
        inserts.push((i, last_seq));
        out[i] = Some(Published {
            message: new_message(m, last_seq)?,
            duplicate: false,
        });
    }
    Ok(Plan { inserts, last_seq })
}

fn new_message(m: &NewMessage<'_>, seq: i64) -> Result<Message, StoreError> {
    Ok(Message {
        channel: m.channel.clone(),
        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
        sender: m.sender,
        body: m.body.to_owned(),
        client_msg_id: Some(m.client_msg_id.to_owned()),
        created_at_ms: m.now_ms,
        edited_at_ms: None,
        deleted_at_ms: None,
    })
}

fn finish(out: Vec<Option<Published>>) -> Result<Vec<Published>, StoreError> {
    out.into_iter()
        .map(|p| p.ok_or_else(|| StoreError::Corrupt("a batched message was not planned".into())))
        .collect()
}

/// Locks the channel row (creating the channel first if needed) and reads its last seq.
macro_rules! lock_channel {
    ($conn:expr, $name:expr, $now:expr) => {{
        let mut head: Option<Head> = sqlx::query_as(sql::LOCK_CHANNEL)
            .bind($name)
            .fetch_optional(&mut *$conn)
            .await?;
        if head.is_none() {
            sqlx::query(sql::CREATE_CHANNEL)
                .bind($name)
                .bind($now)
                .execute(&mut *$conn)
                .await?;
            head = sqlx::query_as(sql::LOCK_CHANNEL)
                .bind($name)
                .fetch_optional(&mut *$conn)
                .await?;
        }
        head.ok_or_else(|| StoreError::Corrupt(format!("channel {} vanished", $name)))?
    }};
}

/// Stores `batch` inside the caller's transaction on SQLite. Each statement is a round trip to
/// the connection's worker thread, so the common case (no retry) is one statement per
/// message: the insert itself, which skips a stored duplicate instead of failing; only then
/// is the original read.
pub(crate) async fn sqlite(
    conn: &mut SqliteConnection,
    batch: &[NewMessage<'_>],
) -> Result<Vec<Published>, StoreError> {
    let senders: Vec<String> = batch.iter().map(|m| m.sender.to_string()).collect();
    let mut out: Vec<Option<Published>> = vec![None; batch.len()];
    for (name, group) in by_channel(batch) {
        let head = lock_channel!(conn, name, batch[group[0]].now_ms);
        let mut last_seq = head.1;
        let mut earlier: HashMap<(&str, &str), usize> = HashMap::new();
        for &i in &group {
            let m = &batch[i];
            if let Some(&first) = earlier.get(&(senders[i].as_str(), m.client_msg_id)) {
                out[i] = out[first].as_ref().map(|p| Published {
                    message: p.message.clone(),
                    duplicate: true,
                });
                continue;
            }
            let inserted: Option<(i64,)> = sqlx::query_as(sql::SQLITE_INSERT_UNLESS_RETRY)
                .bind(head.0)
                .bind(last_seq + 1)
                .bind(&senders[i])
                .bind(m.body)
                .bind(m.client_msg_id)
                .bind(m.now_ms)
                .fetch_optional(&mut *conn)
                .await?;
            if inserted.is_some() {
                last_seq += 1;
                earlier.insert((senders[i].as_str(), m.client_msg_id), i);
                out[i] = Some(Published {
                    message: new_message(m, last_seq)?,
                    duplicate: false,
                });
                continue;
            }
            let row: Option<MessageRow> = sqlx::query_as(sql::FIND_BY_CLIENT_ID)
                .bind(head.0)
                .bind(&senders[i])
                .bind(m.client_msg_id)
                .fetch_optional(&mut *conn)
                .await?;
            let row = row.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "message {} in {name} neither new nor stored",
                    m.client_msg_id
                ))
            })?;
            out[i] = Some(Published {
                message: to_message(m.channel, row)?,
                duplicate: true,
            });
        }
        if last_seq != head.1 {
            sqlx::query(sql::SET_LAST_SEQ)
                .bind(head.0)
                .bind(last_seq)
                .execute(&mut *conn)
                .await?;
        }
    }
    finish(out)
}

/// Stores `batch` inside the caller's transaction on Postgres.
pub(crate) async fn postgres(
    conn: &mut PgConnection,
    batch: &[NewMessage<'_>],
) -> Result<Vec<Published>, StoreError> {
    let senders: Vec<String> = batch.iter().map(|m| m.sender.to_string()).collect();
    let mut out: Vec<Option<Published>> = vec![None; batch.len()];
    for (name, group) in by_channel(batch) {
        let head = lock_channel!(conn, name, batch[group[0]].now_ms);
        let group_senders: Vec<&str> = group.iter().map(|&i| senders[i].as_str()).collect();
        let ids: Vec<&str> = group.iter().map(|&i| batch[i].client_msg_id).collect();
        let rows: Vec<MessageRow> = sqlx::query_as(sql::PG_FIND_BY_CLIENT_IDS)
            .bind(head.0)
            .bind(&group_senders)
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
        // Each row's own sender and client id are its key.
        let stored: HashMap<(String, String), MessageRow> = rows
            .into_iter()
            .filter_map(|r| Some(((r.1.clone(), r.3.clone()?), r)))
            .collect();
        let plan = plan(batch, &senders, &group, head, &stored, &mut out)?;
        if !plan.inserts.is_empty() {
            let seqs: Vec<i64> = plan.inserts.iter().map(|(_, s)| *s).collect();
            let who: Vec<&str> = plan
                .inserts
                .iter()
                .map(|(i, _)| senders[*i].as_str())
                .collect();
            let bodies: Vec<&str> = plan.inserts.iter().map(|(i, _)| batch[*i].body).collect();
            let cids: Vec<&str> = plan
                .inserts
                .iter()
                .map(|(i, _)| batch[*i].client_msg_id)
                .collect();
            let times: Vec<i64> = plan.inserts.iter().map(|(i, _)| batch[*i].now_ms).collect();
            sqlx::query(sql::PG_INSERT_MESSAGES)
                .bind(head.0)
                .bind(&seqs)
                .bind(&who)
                .bind(&bodies)
                .bind(&cids)
                .bind(&times)
                .execute(&mut *conn)
                .await?;
            sqlx::query(sql::SET_LAST_SEQ)
                .bind(head.0)
                .bind(plan.last_seq)
                .execute(&mut *conn)
                .await?;
        }
    }
    finish(out)
}
