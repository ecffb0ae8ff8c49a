//! Storage errors, split by what a caller can do about them.

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or the pool is exhausted: retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The URL names no supported backend or is malformed.
    #[error("storage url {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// Applying or reverting migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row is not what this version expects (a bug or a foreign write).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("storage error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e),
            sqlx::Error::Database(ref db) if server_unavailable(db.as_ref()) => {
                StoreError::Unavailable(e)
            }
            other => StoreError::Database(other),
        }
    }
}

/// Whether Postgres refused for being down rather than for the statement: it is shutting
/// down and ended the session (57P01 on a restart, 57P02 on another backend's crash), it is
/// starting or recovering and takes no connection yet (57P03), or the connection failed
/// (class 08), or it is a standby or a demoted primary that takes no write (25006, during a
/// failover). The same statement succeeds once it is back, so the caller is told
/// `unavailable` and retries, instead of `internal`, which means a bug.
fn server_unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|pg| {
            let code = pg.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "25006")
        })
}

impl StoreError {
    /// True when retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
