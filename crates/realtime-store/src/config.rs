//! The `[storage]` config section.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where messages live and how the pool behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://PATH` (created if missing, with its directory) or `postgres://…`.
    pub url: String,
    /// Largest number of pooled connections (SQLite: readers; writes use one connection).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing as `unavailable`.
    #[serde(with = "realtime_core::duration::serde")]
    pub acquire_timeout: Duration,
    /// Apply pending migrations when the server starts.
    pub migrate_on_start: bool,
    /// SQLite only: what an acknowledged message survives. `full` (the default) syncs the
    /// write-ahead log on every commit, so an acknowledged message survives power loss; with
    /// publishes committed in batches that is one flush per batch, not per message. `normal`
    /// survives a crash or kill of the process but may lose the last transactions on power
    /// loss or an operating-system crash.
    pub sqlite_synchronous: SqliteSynchronousMode,
}

/// `storage.sqlite_synchronous`: SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSynchronousMode {
    /// Durable across a process crash; the last commits may be lost on power loss.
    Normal,
    /// Durable across power loss: the log is synced on every commit.
    Full,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://./data/realtime.db".into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            migrate_on_start: true,
            sqlite_synchronous: SqliteSynchronousMode::Full,
        }
    }
}

impl StorageConfig {
    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/chat"),
            "postgres://app:***@db:5432/chat"
        );
        assert_eq!(redact("postgres://db/chat"), "postgres://db/chat");
        assert_eq!(redact("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }
}
