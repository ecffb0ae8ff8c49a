//! Single-use sign-in nonces. Consuming deletes the row in one statement, so two concurrent
//! verifications of one nonce (on one instance or several) cannot both succeed.

use realtime_core::Address;

use crate::store::on_pool;
use crate::{Store, StoreError};

const PURGE: &str = "DELETE FROM auth_nonces WHERE expires_at_ms < $1";
const INSERT: &str = "INSERT INTO auth_nonces (nonce, address, issued_at_ms, expires_at_ms) \
     VALUES ($1, $2, $3, $4)";
const CONSUME: &str = "DELETE FROM auth_nonces WHERE nonce = $1 AND address = $2 \
     RETURNING issued_at_ms, expires_at_ms";

/// What consuming a nonce found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonce {
    /// Issued to this address and still valid; it is now used up (see
    /// [`Store::restore_nonce`]).
    Valid {
        issued_at_ms: i64,
        expires_at_ms: i64,
    },
    /// Issued to this address but past its expiry; it is now removed.
    Expired,
    /// Never issued to this address, or already used.
    Unknown,
}

impl Store {
    /// Records a nonce issued to `address`, and purges expired ones.
    pub async fn create_nonce(
        &self,
        nonce: &str,
        address: Address,
        issued_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, write, |pool| {
            sqlx::query(PURGE).bind(issued_at_ms).execute(pool).await?;
        });
        self.restore_nonce(nonce, address, issued_at_ms, expires_at_ms)
            .await
    }

    /// Deletes the nonces expired at `now_ms`; returns how many. Issuing a nonce purges too,
    /// but a server that stops issuing them (no sign-ins for a while) would keep them.
    pub async fn purge_nonces(&self, now_ms: i64) -> Result<u64, StoreError> {
        Ok(on_pool!(self, write, |pool| {
            sqlx::query(PURGE)
                .bind(now_ms)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Uses up the nonce issued to `address`, whatever the outcome.
    pub async fn consume_nonce(
        &self,
        nonce: &str,
        address: Address,
        now_ms: i64,
    ) -> Result<Nonce, StoreError> {
        let address = address.to_string();
        let row: Option<(i64, i64)> = on_pool!(self, write, |pool| {
            sqlx::query_as(CONSUME)
                .bind(nonce)
                .bind(&address)
                .fetch_optional(pool)
                .await?
        });
        Ok(match row {
            None => Nonce::Unknown,
            Some((_, expires)) if expires < now_ms => Nonce::Expired,
            Some((issued_at_ms, expires_at_ms)) => Nonce::Valid {
                issued_at_ms,
                expires_at_ms,
            },
        })
    }

    /// Puts back a nonce consumed by a verification that could not be completed (the RPC
    /// node did not answer), so the client may try again until it expires. Consuming first
    /// and restoring after keeps the nonce single-use: no two verifications run at once.
    /// Also the insert of [`Store::create_nonce`].
    pub async fn restore_nonce(
        &self,
        nonce: &str,
        address: Address,
        issued_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let address = address.to_string();
        on_pool!(self, write, |pool| {
            sqlx::query(INSERT)
                .bind(nonce)
                .bind(&address)
                .bind(issued_at_ms)
                .bind(expires_at_ms)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
