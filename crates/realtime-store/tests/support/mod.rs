//! Opens every backend the suite runs against: a SQLite file in a fresh temporary directory
//! and a fresh Postgres database (created on the server named by `TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped when the test ends).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use realtime_store::{StorageConfig, Store};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A store under test and what to clean up afterwards.
#[allow(missing_debug_implementations)]
pub struct TestStore {
    pub store: Store,
    /// Read by the suites that reopen a store; not every test binary does.
    #[allow(dead_code)]
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Database(String),
}

impl TestStore {
    pub async fn finish(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database(db) => {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let drop = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                        .execute(&mut conn)
                        .await;
                }
            }
        }
    }
}

pub async fn sqlite() -> TestStore {
    let dir = std::env::temp_dir().join(unique("realtime_store"));
    let config = StorageConfig {
        url: format!("sqlite://{}/chat.db", dir.display()),
        ..StorageConfig::default()
    };
    let store = Store::connect(&config).await.expect("open sqlite");
    store.migrate_up().await.expect("migrate sqlite");
    TestStore {
        store,
        url: config.url,
        cleanup: Cleanup::Dir(dir),
    }
}

pub async fn postgres() -> TestStore {
    let admin = admin_url();
    let db = unique("rt_test");
    let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("Postgres at {admin} is required (scripts/services.sh starts it): {e}")
    });
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let config = StorageConfig {
        url: format!("{base}/{db}"),
        ..StorageConfig::default()
    };
    let store = Store::connect(&config).await.expect("open postgres");
    store.migrate_up().await.expect("migrate postgres");
    TestStore {
        store,
        url: config.url,
        cleanup: Cleanup::Database(db),
    }
}

/// Runs `$test(store)` on each backend, naming the backend in failures.
#[macro_export]
macro_rules! on_each_backend {
    ($test:ident) => {
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::support::sqlite().await;
                super::$test(&t.store).await;
                t.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let t = $crate::support::postgres().await;
                super::$test(&t.store).await;
                t.finish().await;
            }
        }
    };
}
