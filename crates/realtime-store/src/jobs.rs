//! The review queue: messages a content rule held, and reported messages and notes. A job is
//! written in the transaction of what caused it (the hold, the report), so a crash loses
//! none. Reports of one thing collapse onto one pending job, one report per reporter.
//!
//! Moderators are told of each new job once: a worker claims due jobs for a lease
//! ([`Store::claim_jobs`]), tells them, and marks the job notified; a failure is retried
//! later; a worker that dies leaves its claims to expire. On Postgres the claim skips rows
//! another worker is claiming (`FOR UPDATE SKIP LOCKED`), so several workers never take the
//! same job; SQLite has one writer, so one worker.

use std::str::FromStr;

use realtime_core::{Address, ChannelName};

use crate::moderation::{Audit, audit};
use crate::store::{Pools, in_tx, on_pool};
use crate::{Store, StoreError};

/// Why a job exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// A message a content rule held: published if approved, dropped if dismissed.
    Held,
    /// A message or note players reported.
    Report,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    /// Acted on: a held message published, a report upheld.
    Resolved,
    /// Nothing to do: a held message dropped, a report rejected.
    Dismissed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Resolved => "resolved",
            JobState::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobState::Pending,
            "resolved" => JobState::Resolved,
            "dismissed" => JobState::Dismissed,
            _ => return None,
        })
    }
}

/// A job of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: u64,
    pub kind: JobKind,
    pub state: JobState,
    /// The held or reported message's channel.
    pub channel: Option<String>,
    /// The reported message.
    pub seq: Option<u64>,
    /// The reported note.
    pub note_id: Option<u64>,
    /// Who wrote what is held or reported.
    pub author: Address,
    /// A held message's text, or the reported message's (a note's title and body) as it
    /// was when first reported.
    pub body: Option<String>,
    pub client_msg_id: Option<String>,
    /// The rule that held the message.
    pub rule: Option<String>,
    /// Distinct reporters.
    pub reports: u32,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    /// Moderators have been told of it.
    pub notified: bool,
}

/// A message held by a content rule.
#[derive(Debug, Clone, Copy)]
pub struct HeldMessage<'a> {
    pub channel: &'a ChannelName,
    pub author: Address,
    pub body: &'a str,
    pub client_msg_id: &'a str,
    pub rule: &'a str,
    pub now_ms: i64,
}

/// What a report is about.
#[derive(Debug, Clone, Copy)]
pub enum ReportTarget<'a> {
    Message { channel: &'a ChannelName, seq: u64 },
    Note { id: u64 },
}

/// A report by a player.
#[derive(Debug, Clone, Copy)]
pub struct NewReport<'a> {
    pub target: ReportTarget<'a>,
    pub reporter: Address,
    pub reason: &'a str,
    pub comment: Option<&'a str>,
    pub now_ms: i64,
}

/// A report, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub job: Job,
    /// This reporter had already reported it: nothing new was stored.
    pub duplicate: bool,
}

/// One report of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEntry {
    pub reporter: String,
    pub reason: String,
    pub comment: Option<String>,
    pub created_at_ms: i64,
}

const COLUMNS: &str = "id, kind, state, channel, seq, note_id, author, body, client_msg_id, \
     rule, reports, created_at_ms, updated_at_ms, decided_by, decision_reason, notified_at_ms";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    kind: String,
    state: String,
    channel: Option<String>,
    seq: Option<i64>,
    note_id: Option<i64>,
    author: String,
    body: Option<String>,
    client_msg_id: Option<String>,
    rule: Option<String>,
    reports: i32,
    created_at_ms: i64,
    updated_at_ms: i64,
    decided_by: Option<String>,
    decision_reason: Option<String>,
    notified_at_ms: Option<i64>,
}

fn corrupt(what: &str, value: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("moderation job {what} {value:?}"))
}

fn to_job(r: Row) -> Result<Job, StoreError> {
    Ok(Job {
        id: u64::try_from(r.id).map_err(|_| corrupt("id", r.id))?,
        kind: match r.kind.as_str() {
            "held" => JobKind::Held,
            "report" => JobKind::Report,
            _ => return Err(corrupt("kind", &r.kind)),
        },
        state: JobState::parse(&r.state).ok_or_else(|| corrupt("state", &r.state))?,
        channel: r.channel,
        seq: r.seq.and_then(|s| u64::try_from(s).ok()),
        note_id: r.note_id.and_then(|s| u64::try_from(s).ok()),
        author: Address::from_str(&r.author).map_err(|_| corrupt("author", &r.author))?,
        body: r.body,
        client_msg_id: r.client_msg_id,
        rule: r.rule,
        reports: u32::try_from(r.reports).unwrap_or(0),
        created_at_ms: r.created_at_ms,
        updated_at_ms: r.updated_at_ms,
        decided_by: r.decided_by,
        decision_reason: r.decision_reason,
        notified: r.notified_at_ms.is_some(),
    })
}

fn id_param(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl Store {
    /// Queues a held message; the same message again (its author's client message id in the
    /// channel) returns the job already queued, marked duplicate.
    pub async fn hold_message(&self, held: HeldMessage<'_>) -> Result<Filed, StoreError> {
        let insert = format!(
            "INSERT INTO moderation_jobs (kind, state, channel, author, body, client_msg_id, \
             rule, created_at_ms, updated_at_ms, next_attempt_ms) \
             VALUES ('held', 'pending', $1, $2, $3, $4, $5, $6, $6, $6) \
             ON CONFLICT (channel, author, client_msg_id) WHERE kind = 'held' DO NOTHING \
             RETURNING {COLUMNS}"
        );
        let existing = format!(
            "SELECT {COLUMNS} FROM moderation_jobs WHERE kind = 'held' AND channel = $1 \
             AND author = $2 AND client_msg_id = $3"
        );
        let author = held.author.to_string();
        let (row, duplicate): (Row, bool) = in_tx!(self, |tx| {
            let inserted: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(insert.clone()))
                .bind(held.channel.as_str())
                .bind(&author)
                .bind(held.body)
                .bind(held.client_msg_id)
                .bind(held.rule)
                .bind(held.now_ms)
                .fetch_optional(&mut *tx)
                .await?;
            match inserted {
                Some(row) => (row, false),
                None => (
                    sqlx::query_as(sqlx::AssertSqlSafe(existing.clone()))
                        .bind(held.channel.as_str())
                        .bind(&author)
                        .bind(held.client_msg_id)
                        .fetch_one(&mut *tx)
                        .await?,
                    true,
                ),
            }
        });
        Ok(Filed {
            job: to_job(row)?,
            duplicate,
        })
    }

    /// Files a report: onto the pending job of its target (opening one if needed), once per
    /// reporter. `None` when the target does not exist or was removed.
    pub async fn report(&self, report: NewReport<'_>) -> Result<Option<Filed>, StoreError> {
        // The author, and the text as reported (moderators may not be able to read the
        // channel or see the note themselves).
        const MESSAGE_AUTHOR: &str = "SELECT m.sender, m.body FROM messages m \
             JOIN channels c ON c.id = m.channel_id \
             WHERE c.name = $1 AND m.seq = $2 AND m.deleted_at_ms IS NULL";
        const NOTE_AUTHOR: &str = "SELECT author, title || '\n' || body FROM notes \
             WHERE id = $1 AND removed_at_ms IS NULL";
        let open_message = "INSERT INTO moderation_jobs (kind, state, channel, seq, author, \
             body, created_at_ms, updated_at_ms, next_attempt_ms) \
             VALUES ('report', 'pending', $1, $2, $3, $5, $4, $4, $4) \
             ON CONFLICT (channel, seq) WHERE kind = 'report' AND state = 'pending' \
             AND note_id IS NULL DO NOTHING";
        let open_note = "INSERT INTO moderation_jobs (kind, state, note_id, author, body, \
             created_at_ms, updated_at_ms, next_attempt_ms) \
             VALUES ('report', 'pending', $1, $2, $4, $3, $3, $3) \
             ON CONFLICT (note_id) WHERE kind = 'report' AND state = 'pending' \
             AND note_id IS NOT NULL DO NOTHING";
        let find = format!(
            "SELECT {COLUMNS} FROM moderation_jobs WHERE kind = 'report' AND state = 'pending' \
             AND ((note_id IS NULL AND channel = $1 AND seq = $2) \
             OR (note_id IS NOT NULL AND note_id = $3))"
        );
        const ADD: &str = "INSERT INTO reports (job_id, reporter, reason, comment, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, reporter) DO NOTHING";
        let count = format!(
            "UPDATE moderation_jobs SET reports = reports + 1, updated_at_ms = $2 \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let (channel, seq, note) = match report.target {
            ReportTarget::Message { channel, seq } => {
                (Some(channel.as_str()), Some(id_param(seq)), None)
            }
            ReportTarget::Note { id } => (None, None, Some(id_param(id))),
        };
        let filed: Option<(Row, bool)> = in_tx!(self, |tx| {
            let reported: Option<(String, String)> = match report.target {
                ReportTarget::Message { .. } => {
                    sqlx::query_as(MESSAGE_AUTHOR)
                        .bind(channel)
                        .bind(seq)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                ReportTarget::Note { .. } => {
                    sqlx::query_as(NOTE_AUTHOR)
                        .bind(note)
                        .fetch_optional(&mut *tx)
                        .await?
                }
            };
            match reported {
                None => None,
                Some((author, text)) => {
                    match report.target {
                        ReportTarget::Message { .. } => {
                            sqlx::query(open_message)
                                .bind(channel)
                                .bind(seq)
                                .bind(&author)
                                .bind(report.now_ms)
                                .bind(&text)
                                .execute(&mut *tx)
                                .await?;
                        }
                        ReportTarget::Note { .. } => {
                            sqlx::query(open_note)
                                .bind(note)
                                .bind(&author)
                                .bind(report.now_ms)
                                .bind(&text)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    let job: Row = sqlx::query_as(sqlx::AssertSqlSafe(find.clone()))
                        .bind(channel)
                        .bind(seq)
                        .bind(note)
                        .fetch_one(&mut *tx)
                        .await?;
                    let added = sqlx::query(ADD)
                        .bind(job.id)
                        .bind(report.reporter.to_string())
                        .bind(report.reason)
                        .bind(report.comment)
                        .bind(report.now_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if added == 0 {
                        Some((job, true))
                    } else {
                        let job: Row = sqlx::query_as(sqlx::AssertSqlSafe(count.clone()))
                            .bind(job.id)
                            .bind(report.now_ms)
                            .fetch_one(&mut *tx)
                            .await?;
                        Some((job, false))
                    }
                }
            }
        });
        filed
            .map(|(row, duplicate)| {
                Ok(Filed {
                    job: to_job(row)?,
                    duplicate,
                })
            })
            .transpose()
    }

    /// One job.
    pub async fn job(&self, id: u64) -> Result<Option<Job>, StoreError> {
        let select = format!("SELECT {COLUMNS} FROM moderation_jobs WHERE id = $1");
        let row: Option<Row> = on_pool!(self, read, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(id_param(id))
                .fetch_optional(pool)
                .await?
        });
        row.map(to_job).transpose()
    }

    /// Jobs in `state` (any when `None`), oldest first, with ids above `after`.
    pub async fn jobs(
        &self,
        state: Option<JobState>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let select = format!(
            "SELECT {COLUMNS} FROM moderation_jobs WHERE ($1 IS NULL OR state = $1) \
             AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows: Vec<Row> = on_pool!(self, read, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(state.map(JobState::as_str))
                .bind(after.map_or(0, id_param))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(to_job).collect()
    }

    /// Pending jobs.
    pub async fn pending_jobs(&self) -> Result<u64, StoreError> {
        let n: i64 = on_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM moderation_jobs WHERE state = 'pending'")
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The reports filed onto a job, oldest first.
    pub async fn reports_of(&self, job: u64) -> Result<Vec<ReportEntry>, StoreError> {
        let rows: Vec<(String, String, Option<String>, i64)> = on_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT reporter, reason, comment, created_at_ms FROM reports \
                 WHERE job_id = $1 ORDER BY created_at_ms, reporter",
            )
            .bind(id_param(job))
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(reporter, reason, comment, created_at_ms)| ReportEntry {
                reporter,
                reason,
                comment,
                created_at_ms,
            })
            .collect())
    }

    /// Claims up to `limit` jobs whose moderators have not been told yet and are due, for
    /// `lease_ms`: until then no other worker gets them. Each claim counts an attempt.
    pub async fn claim_jobs(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let lock = match self.pools {
            Pools::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Pools::Sqlite { .. } => "",
        };
        let claim = format!(
            "UPDATE moderation_jobs SET claimed_until_ms = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM moderation_jobs WHERE notified_at_ms IS NULL \
             AND next_attempt_ms <= $1 AND (claimed_until_ms IS NULL OR claimed_until_ms <= $1) \
             ORDER BY id LIMIT $3{lock}) RETURNING {COLUMNS}"
        );
        let mut rows: Vec<Row> = in_tx!(self, |tx| {
            sqlx::query_as(sqlx::AssertSqlSafe(claim.clone()))
                .bind(now_ms)
                .bind(now_ms.saturating_add(lease_ms))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?
        });
        rows.sort_by_key(|r| r.id);
        rows.into_iter().map(to_job).collect()
    }

    /// Moderators were told of job `id`.
    pub async fn job_notified(&self, id: u64, now_ms: i64) -> Result<(), StoreError> {
        on_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE moderation_jobs SET notified_at_ms = $2, claimed_until_ms = NULL \
                 WHERE id = $1",
            )
            .bind(id_param(id))
            .bind(now_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Telling moderators of job `id` failed: try again at `at_ms`.
    pub async fn job_retry(&self, id: u64, at_ms: i64) -> Result<(), StoreError> {
        on_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE moderation_jobs SET next_attempt_ms = $2, claimed_until_ms = NULL \
                 WHERE id = $1",
            )
            .bind(id_param(id))
            .bind(at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Puts a decided job back in the queue (its decision could not be carried out).
    pub async fn reopen_job(&self, id: u64, now_ms: i64) -> Result<(), StoreError> {
        on_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE moderation_jobs SET state = 'pending', decided_by = NULL, \
                 decision_reason = NULL, updated_at_ms = $2 WHERE id = $1",
            )
            .bind(id_param(id))
            .bind(now_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Decides pending job `id` (`Resolved` or `Dismissed`), with the audit entry. `None`
    /// when there is no such job or it was decided already.
    pub async fn decide_job(
        &self,
        id: u64,
        state: JobState,
        audit: &Audit<'_>,
    ) -> Result<Option<Job>, StoreError> {
        let decide = format!(
            "UPDATE moderation_jobs SET state = $2, decided_by = $3, decision_reason = $4, \
             updated_at_ms = $5 WHERE id = $1 AND state = 'pending' RETURNING {COLUMNS}"
        );
        let row: Option<Row> = in_tx!(self, |tx| {
            let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(decide.clone()))
                .bind(id_param(id))
                .bind(state.as_str())
                .bind(audit.actor)
                .bind(audit.reason)
                .bind(audit.at_ms)
                .fetch_optional(&mut *tx)
                .await?;
            if row.is_some() {
                audit!(tx, audit);
            }
            row
        });
        row.map(to_job).transpose()
    }
}
