//! Moderator actions and what they leave: bans and mutes (sanctions), revoked session
//! tokens, removed messages and notes, and the append-only audit log. Every action writes its
//! audit entry in the transaction of the action itself, so the log never misses one that
//! happened nor records one that did not.

use std::str::FromStr;

use realtime_core::{Address, ChannelName, Message};

use crate::sql::MessageRow;
use crate::store::{in_tx, on_pool, to_message};
use crate::{Store, StoreError};

/// What a sanction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanctionKind {
    /// No sign-in, no request; open sockets close.
    Ban,
    /// No posting, in one channel or everywhere.
    Mute,
}

impl SanctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SanctionKind::Ban => "ban",
            SanctionKind::Mute => "mute",
        }
    }
}

/// A ban or mute in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanction {
    pub id: u64,
    pub address: Address,
    pub kind: SanctionKind,
    /// A mute in one channel; `None`: everywhere.
    pub channel: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
    /// When it ends by itself; `None`: when lifted.
    pub until_ms: Option<i64>,
}

/// A sanction to record.
#[derive(Debug, Clone, Copy)]
pub struct NewSanction<'a> {
    pub address: Address,
    pub kind: SanctionKind,
    pub channel: Option<&'a str>,
    pub until_ms: Option<i64>,
}

/// The audit entry of an action, written with it.
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    /// Who acted: a moderator's address, or `system` for automatic actions.
    pub actor: &'a str,
    /// What was done: `ban`, `mute`, `remove_message`…
    pub action: &'a str,
    /// What it was done to: an address, `channel#seq`, `note:ID`, `job:ID`, `jti:…`.
    pub target: &'a str,
    pub reason: &'a str,
    /// JSON with the particulars (a duration, a channel).
    pub detail: Option<&'a str>,
    pub at_ms: i64,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: u64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub detail: Option<String>,
}

pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log (at_ms, actor, action, target, reason, detail) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Writes `$audit` inside transaction `$tx`.
macro_rules! audit {
    ($tx:ident, $audit:expr) => {{
        let a: &crate::moderation::Audit<'_> = $audit;
        sqlx::query(crate::moderation::INSERT_AUDIT)
            .bind(a.at_ms)
            .bind(a.actor)
            .bind(a.action)
            .bind(a.target)
            .bind(a.reason)
            .bind(a.detail)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use audit;

type AuditRow = (i64, i64, String, String, String, String, Option<String>);

const SANCTION_COLUMNS: &str =
    "id, address, kind, channel, reason, created_by, created_at_ms, until_ms";

type SanctionRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
);

fn to_sanction(row: SanctionRow) -> Result<Sanction, StoreError> {
    let (id, address, kind, channel, reason, created_by, created_at_ms, until_ms) = row;
    Ok(Sanction {
        id: u64::try_from(id).map_err(|_| StoreError::Corrupt(format!("sanction id {id}")))?,
        address: Address::from_str(&address)
            .map_err(|e| StoreError::Corrupt(format!("sanction address {address:?}: {e}")))?,
        kind: match kind.as_str() {
            "ban" => SanctionKind::Ban,
            "mute" => SanctionKind::Mute,
            other => return Err(StoreError::Corrupt(format!("sanction kind {other:?}"))),
        },
        channel,
        reason,
        created_by,
        created_at_ms,
        until_ms,
    })
}

fn id_param(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl Store {
    /// Records a ban or mute and its audit entry.
    pub async fn add_sanction(
        &self,
        new: NewSanction<'_>,
        audit: &Audit<'_>,
    ) -> Result<Sanction, StoreError> {
        let insert = format!(
            "INSERT INTO sanctions (address, kind, channel, reason, created_by, created_at_ms, \
             until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SANCTION_COLUMNS}"
        );
        let row: SanctionRow = in_tx!(self, |tx| {
            let row = sqlx::query_as(sqlx::AssertSqlSafe(insert.clone()))
                .bind(new.address.to_string())
                .bind(new.kind.as_str())
                .bind(new.channel)
                .bind(audit.reason)
                .bind(audit.actor)
                .bind(audit.at_ms)
                .bind(new.until_ms)
                .fetch_one(&mut *tx)
                .await?;
            audit!(tx, audit);
            row
        });
        to_sanction(row)
    }

    /// Lifts the sanctions of `kind` on `address` in force (mutes: those of `channel`, or
    /// every mute when `None`), with the audit entry; returns how many were lifted.
    pub async fn lift_sanctions(
        &self,
        address: Address,
        kind: SanctionKind,
        channel: Option<&str>,
        audit: &Audit<'_>,
    ) -> Result<u64, StoreError> {
        const LIFT: &str = "UPDATE sanctions SET lifted_at_ms = $4 WHERE address = $1 \
             AND kind = $2 AND lifted_at_ms IS NULL AND ($3 IS NULL OR channel = $3)";
        let lifted = in_tx!(self, |tx| {
            let done = sqlx::query(LIFT)
                .bind(address.to_string())
                .bind(kind.as_str())
                .bind(channel)
                .bind(audit.at_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            audit!(tx, audit);
            done
        });
        Ok(lifted)
    }

    /// Every ban and mute in force at `now_ms`.
    pub async fn live_sanctions(&self, now_ms: i64) -> Result<Vec<Sanction>, StoreError> {
        let select = format!(
            "SELECT {SANCTION_COLUMNS} FROM sanctions WHERE lifted_at_ms IS NULL \
             AND (until_ms IS NULL OR until_ms > $1) ORDER BY id"
        );
        let rows: Vec<SanctionRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(now_ms)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(to_sanction).collect()
    }

    /// Refuses the session token `jti` until `until_ms` (when it would have expired anyway).
    pub async fn revoke_token(
        &self,
        jti: &str,
        address: Option<Address>,
        until_ms: i64,
        audit: &Audit<'_>,
    ) -> Result<(), StoreError> {
        const REVOKE: &str = "INSERT INTO revoked_tokens (jti, address, until_ms, revoked_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING";
        in_tx!(self, |tx| {
            sqlx::query(REVOKE)
                .bind(jti)
                .bind(address.map(|a| a.to_string()))
                .bind(until_ms)
                .bind(audit.at_ms)
                .execute(&mut *tx)
                .await?;
            audit!(tx, audit);
        });
        Ok(())
    }

    /// Revoked tokens that would still be valid at `now_ms`, as `(jti, until_ms)`; older
    /// entries are purged first.
    pub async fn revoked_tokens(&self, now_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        on_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM revoked_tokens WHERE until_ms <= $1")
                .bind(now_ms)
                .execute(pool)
                .await?;
        });
        Ok(on_pool!(self, read, |pool| {
            sqlx::query_as("SELECT jti, until_ms FROM revoked_tokens")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Writes an audit entry on its own (an action whose effect is not stored here).
    pub async fn record_audit(&self, audit: &Audit<'_>) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            audit!(tx, audit);
        });
        Ok(())
    }

    /// Audit entries, newest first, with ids below `before`.
    pub async fn audit_log(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        const PAGE: &str = "SELECT id, at_ms, actor, action, target, reason, detail \
             FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2";
        let rows: Vec<AuditRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(PAGE)
                .bind(before.map_or(i64::MAX, id_param))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, at_ms, actor, action, target, reason, detail)| AuditEntry {
                    id: u64::try_from(id).unwrap_or(0),
                    at_ms,
                    actor,
                    action,
                    target,
                    reason,
                    detail,
                },
            )
            .collect())
    }

    /// Removes message `seq` of `channel` (its text is erased; the seq stays, marked deleted,
    /// so the log keeps no gap), with the audit entry; `None` when there is no such message
    /// or it was removed already.
    pub async fn remove_message(
        &self,
        channel: &ChannelName,
        seq: u64,
        audit: &Audit<'_>,
    ) -> Result<Option<Message>, StoreError> {
        const REMOVE: &str = "UPDATE messages SET deleted_at_ms = $3, body = '' \
             WHERE channel_id = (SELECT id FROM channels WHERE name = $1) AND seq = $2 \
             AND deleted_at_ms IS NULL \
             RETURNING seq, sender, body, client_msg_id, created_at_ms, edited_at_ms, deleted_at_ms";
        let row: Option<MessageRow> = in_tx!(self, |tx| {
            let row: Option<MessageRow> = sqlx::query_as(REMOVE)
                .bind(channel.as_str())
                .bind(id_param(seq))
                .bind(audit.at_ms)
                .fetch_optional(&mut *tx)
                .await?;
            if row.is_some() {
                audit!(tx, audit);
            }
            row
        });
        row.map(|r| to_message(channel, r)).transpose()
    }
}
