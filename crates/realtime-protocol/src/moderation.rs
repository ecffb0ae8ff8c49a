//! Moderation on the wire: players' reports (the `report` op and `POST /v1/reports`), what
//! subscribers and sessions are pushed when a moderator acts, and the bodies of the
//! moderators' HTTP API (`/v1/moderation/…`).

use serde::{Deserialize, Serialize};

/// Why a player reports something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    Spam,
    Harassment,
    Hate,
    Scam,
    Cheating,
    Other,
}

impl ReportReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Spam => "spam",
            ReportReason::Harassment => "harassment",
            ReportReason::Hate => "hate",
            ReportReason::Scam => "scam",
            ReportReason::Cheating => "cheating",
            ReportReason::Other => "other",
        }
    }
}

/// A message, by channel and seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    pub channel: String,
    pub seq: u64,
}

/// Most characters of a report's comment.
pub const MAX_COMMENT_CHARS: usize = 500;

/// `report`: a message (one the reporter may read, direct messages included) or a note
/// (one the reporter may see), with a reason. Exactly one of `message` and `note`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<u64>,
    pub reason: ReportReason,
    /// Up to 500 characters for the moderators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Reply to `report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportOk {
    /// This address had reported it already; nothing new was filed.
    pub duplicate: bool,
}

/// `message_removed` push: a moderator removed message `seq` of the channel; clients drop
/// its text (history shows it as deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MessageRemoved {
    pub seq: u64,
}

/// `banned` and `session_revoked` pushes, sent just before the socket closes (4403, 4401).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionEnded {
    pub message: String,
}

/// `POST /v1/moderation/bans` and `/mutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SanctionArgs {
    pub address: String,
    /// Mutes only: the channel; absent: everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// How long, e.g. `"30m"`, `"7d"`; absent: until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    pub reason: String,
}

/// `POST /v1/moderation/unbans` and `/unmutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftArgs {
    pub address: String,
    /// Unmutes only: the channel; absent: every mute of the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub reason: String,
}

/// `POST /v1/moderation/revocations`: one session, by its token's `jti`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeArgs {
    pub jti: String,
    pub reason: String,
}

/// `POST /v1/moderation/messages/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMessageArgs {
    pub channel: String,
    pub seq: u64,
    pub reason: String,
}

/// `POST /v1/moderation/notes/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveNoteArgs {
    pub id: u64,
    pub reason: String,
}

/// `POST /v1/moderation/jobs/{id}/resolve` and `/dismiss`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideArgs {
    pub reason: String,
    /// Resolve a report only: also remove the reported message or note.
    #[serde(default)]
    pub remove: bool,
}

/// A ban or mute in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SanctionView {
    pub id: u64,
    pub address: String,
    /// `ban` or `mute`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub reason: String,
    pub by: String,
    pub at: String,
    /// When it ends; absent: when lifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// Reply to a lift (`unbans`, `unmutes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LiftOk {
    /// Sanctions lifted.
    pub lifted: u64,
}

/// Reply to a revocation or a removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoneOk {
    pub done: bool,
}

/// A report of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportView {
    pub reporter: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at: String,
}

/// A job of the review queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobView {
    pub id: u64,
    /// `held` (a message a content rule held) or `report`.
    pub kind: String,
    /// `pending`, `resolved` or `dismissed`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<u64>,
    /// Who wrote what is held or reported.
    pub author: String,
    /// A held message's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The rule that held it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Distinct reporters.
    pub reports: u32,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    /// The reports, in `GET /v1/moderation/jobs/{id}` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_list: Vec<ReportView>,
}

/// A page of jobs, oldest first; `next` is the `after` of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobsPage {
    pub jobs: Vec<JobView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// An audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditView {
    pub id: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// A page of the audit log, newest first; `next` is the `before` of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// Bans and mutes in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SanctionList {
    pub sanctions: Vec<SanctionView>,
}
