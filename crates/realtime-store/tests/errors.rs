//! Which storage failures a caller may retry: a Postgres that ends sessions because it is
//! restarting is `unavailable` (retry), not a storage error (a bug).

#![allow(clippy::unwrap_used)]

use realtime_store::StoreError;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// A session ended by the server (as a restart's `pg_ctl stop -m fast` does to every
/// session) fails its next statement with SQLSTATE 57P01: storage is unavailable.
#[tokio::test]
async fn a_session_ended_by_the_server_is_unavailable() {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut victim = PgConnection::connect(&url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut victim)
        .await
        .unwrap();
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended);
    let e = sqlx::query("SELECT 1")
        .execute(&mut victim)
        .await
        .unwrap_err();
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("57P01"), "{e:?}");
    assert!(StoreError::from(e).is_unavailable());
}

/// A write to a server that takes none (a standby, or a primary demoted during a failover)
/// fails with SQLSTATE 25006: unavailable until the new primary is reached.
#[tokio::test]
async fn a_write_refused_by_a_read_only_server_is_unavailable() {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("SET default_transaction_read_only = on")
        .execute(&mut conn)
        .await
        .unwrap();
    let e = sqlx::query("CREATE TEMP TABLE refused (x int)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("25006"), "{e:?}");
    assert!(StoreError::from(e).is_unavailable());
}
