//! SQL storage for torii-realtime: one API, two backends (Postgres and SQLite) that behave
//! the same, proven by one test suite run against both.
//!
//! - [`config`]: the `[storage]` section.
//! - [`Store`]: connect, migrate, publish (gap-free per-channel seq, idempotent by client
//!   message id), replay ranges and history pages.
//! - `sql`: the statements, shared by both backends (sqlx binds `$N` on SQLite too).
//! - `nonces`: single-use sign-in nonces, consumed atomically.
//! - `social`: direct-message threads, blocks, read positions and unread counts.
//! - `notes`: notes pinned to tiles, their tombstones and the note clock.
//! - `moderation`: bans and mutes, revoked tokens, removals, and the append-only audit log.
//! - `jobs`: the review queue (held messages, reports) and its workers' claims.
//! - `retention`: trimming channels from their oldest end, and purging old tombstones.
//! - `migrate`: embedded up/down migrations from `migrations/postgres` and `migrations/sqlite`.
//!
//! The database is the log: a message exists once its transaction commits, and everything
//! a client can miss on the live path is read back from here.

pub mod config;
mod error;
mod jobs;
mod migrate;
mod moderation;
mod nonces;
mod notes;
mod publish;
mod retention;
mod social;
mod sql;
mod store;

pub use config::{SqliteSynchronousMode, StorageConfig};
pub use error::StoreError;
pub use jobs::{Filed, HeldMessage, Job, JobKind, JobState, NewReport, ReportEntry, ReportTarget};
pub use migrate::MigrationStatus;
pub use moderation::{Audit, AuditEntry, NewSanction, Sanction, SanctionKind};
pub use nonces::Nonce;
pub use notes::{MAX_READER_GROUPS, NewNote, Note, NoteEdit, Reader, Removal};
pub use retention::{ChannelId, StoredChannel, Trim};
pub use social::{DmGate, ThreadCursor, ThreadSummary, UNREAD_CAP, Unread};
pub use store::{
    Backend, ChannelHead, HEADS_PER_QUERY, HistoryPage, HistoryQuery, NewMessage, Published, Store,
};
