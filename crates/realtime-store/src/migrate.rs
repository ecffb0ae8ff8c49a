//! Embedded migrations. Each has an up and a down script; `migrate down N` reverts the N
//! newest applied ones.

use sqlx::migrate::Migrator;

use crate::store::on_pool;
use crate::{Store, StoreError, sql};

static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");

const PG_HAS_TABLE: &str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";
const SQLITE_HAS_TABLE: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')";

/// Which migrations exist and which are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Every migration this build knows: version and description.
    pub known: Vec<(i64, String)>,
    /// Versions applied to the database, ascending.
    pub applied: Vec<i64>,
}

impl MigrationStatus {
    /// Known migrations not applied yet.
    pub fn pending(&self) -> Vec<i64> {
        self.known
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !self.applied.contains(v))
            .collect()
    }
}

impl Store {
    fn migrator(&self) -> &'static Migrator {
        match self.backend() {
            crate::Backend::Postgres => &POSTGRES,
            crate::Backend::Sqlite => &SQLITE,
        }
    }

    /// Known and applied migrations.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let known = self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.description.to_string()))
            .collect();
        Ok(MigrationStatus {
            known,
            applied: self.applied_versions().await?,
        })
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let has_table: bool = match &self.pools {
            crate::store::Pools::Postgres(p) => {
                sqlx::query_scalar(PG_HAS_TABLE).fetch_one(p).await?
            }
            crate::store::Pools::Sqlite { read, .. } => {
                sqlx::query_scalar(SQLITE_HAS_TABLE).fetch_one(read).await?
            }
        };
        if !has_table {
            return Ok(Vec::new());
        }
        Ok(on_pool!(self, read, |pool| {
            sqlx::query_scalar(sql::APPLIED_VERSIONS)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Applies every pending migration; returns the versions applied now.
    pub async fn migrate_up(&self) -> Result<Vec<i64>, StoreError> {
        let before = self.migration_status().await?.pending();
        on_pool!(self, write, |pool| self.migrator().run(pool).await?);
        Ok(before)
    }

    /// Reverts the `steps` newest applied migrations; returns the versions reverted.
    pub async fn migrate_down(&self, steps: usize) -> Result<Vec<i64>, StoreError> {
        let applied = self.applied_versions().await?;
        if steps == 0 || applied.is_empty() {
            return Ok(Vec::new());
        }
        let keep = applied.len().saturating_sub(steps);
        let target = if keep == 0 { 0 } else { applied[keep - 1] };
        on_pool!(self, write, |pool| self
            .migrator()
            .undo(pool, target)
            .await?);
        let mut reverted = applied[keep..].to_vec();
        reverted.reverse();
        Ok(reverted)
    }
}
