//! A leader lease in Redis: of the instances sharing one Redis and prefix, at most one holds
//! a named lease at a time (as far as Redis and the holder's clock agree), so work that only
//! one instance needs to do (posting on-chain announcements) is done by one.
//!
//! The lease is a key, `PREFIX:lease:NAME`, holding a random token of its holder:
//!
//! - taken with `SET key token NX PX ttl` when it is free;
//! - renewed every third of the TTL, only if the key still holds this instance's token (a
//!   compare-and-expire script), so a holder that lost it never extends another's;
//! - released at shutdown the same way (compare-and-delete), so another instance can take
//!   over without waiting for the TTL;
//! - taken over by another instance once it expires (the holder died or cannot reach Redis).
//!   An instance waiting for it reads the key's remaining time and tries again right then.
//!
//! The holder counts itself leader only until the TTL after it *sent* its last successful
//! renewal, so it stops leading no later than the key expires in Redis (clocks advancing at
//! the same rate). Two instances may still both lead briefly (a paused process, a clock
//! jump): what is guarded by the lease must stay correct when done twice.
//!
//! **When Redis cannot be reached** for longer than the TTL, the instance leads anyway (it
//! cannot know whether anyone else does), and says so in its logs: the lease saves
//! duplicate work; it must not be the reason work is not done.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::link::Backoff;
use crate::BusError;
use crate::config::BusConfig;

/// Extends the key by ARGV[2] ms if it holds ARGV[1]: 1 if it did, 0 if the lease is not ours.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                     return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/// Deletes the key if it holds ARGV[1].
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";
/// Longest a release at shutdown may take.
const RELEASE_WAIT: Duration = Duration::from_secs(1);
/// Shortest wait between two attempts to take a lease held by another instance.
const MIN_WAIT: Duration = Duration::from_millis(20);

/// The Redis name of lease `name`.
pub(crate) fn lease_key(prefix: &str, name: &str) -> String {
    format!("{prefix}:lease:{name}")
}

/// One named lease, kept (taken, renewed, retaken) by a background task until
/// [`RedisLease::release`].
#[derive(Debug)]
pub struct RedisLease {
    leading: watch::Receiver<bool>,
    /// Whether Redis answered within the last TTL (else the instance leads by default).
    reachable: Arc<AtomicBool>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl RedisLease {
    /// Starts keeping lease `name` under `config.prefix`, lasting `config.lease_ttl`. Does not
    /// wait for Redis: the instance is not leader until the lease is taken (or Redis has been
    /// unreachable for a TTL). Fails only on a URL that cannot be used.
    pub fn start(config: &BusConfig, name: &str) -> Result<Self, BusError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| BusError::Unavailable(format!("bus.url: {e}")))?;
        let (tx, rx) = watch::channel(false);
        let reachable = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let keeper = Keeper {
            client,
            key: lease_key(&config.prefix, name),
            token: format!("{:032x}", rand::random::<u128>()),
            ttl: config.lease_ttl,
            leading: tx,
            reachable: reachable.clone(),
        };
        let task = tokio::spawn(keeper.run(cancel.clone()));
        Ok(Self {
            leading: rx,
            reachable,
            cancel,
            task: Mutex::new(Some(task)),
        })
    }

    /// Whether this instance leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Whether the last attempt to reach Redis about the lease succeeded (false while it
    /// leads only because Redis cannot be reached).
    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Changes of [`RedisLease::is_leader`].
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Stops leading and gives the lease back, so another instance takes over at its next
    /// attempt rather than after the TTL. Waits at most about a second for Redis.
    pub async fn release(&self) {
        self.cancel.cancel();
        let task = self.task.lock().await.take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct Keeper {
    client: redis::Client,
    key: String,
    token: String,
    ttl: Duration,
    leading: watch::Sender<bool>,
    reachable: Arc<AtomicBool>,
}

/// What one round trip about the lease found.
enum Held {
    /// The lease is this instance's until the given time.
    Until(Instant),
    /// Another instance holds it for about this long.
    Other(Duration),
}

impl Keeper {
    async fn run(self, cancel: CancellationToken) {
        let step = self.ttl / 3;
        let mut conn: Option<MultiplexedConnection> = None;
        let mut backoff = Backoff::default();
        // Ours until then, by our clock.
        let mut until: Option<Instant> = None;
        let mut last_answer = Instant::now();
        loop {
            let now = Instant::now();
            // Never wait on Redis past the end of our lease: leadership must end on time.
            let limit = until.map_or(step, |u| u.saturating_duration_since(now).min(step));
            let attempt = async {
                if conn.is_none() {
                    conn = Some(self.connect(step).await?);
                }
                let c = conn.as_mut().ok_or_else(|| "no connection".to_owned())?;
                self.attempt(c, until.is_some(), now).await
            };
            let outcome = tokio::select! {
                () = cancel.cancelled() => break,
                r = tokio::time::timeout(limit.max(MIN_WAIT), attempt) => {
                    r.unwrap_or_else(|_| Err("timed out".to_owned()))
                }
            };
            super::metrics::record(super::metrics::Op::Lease, now.into_std(), outcome.is_ok());
            let wait = match outcome {
                Ok(Held::Until(t)) => {
                    last_answer = Instant::now();
                    self.reachable.store(true, Ordering::Relaxed);
                    backoff = Backoff::default();
                    if until.is_none() {
                        tracing::info!(lease = %self.key, "lease taken: this instance leads");
                    }
                    until = Some(t);
                    step
                }
                Ok(Held::Other(left)) => {
                    last_answer = Instant::now();
                    self.reachable.store(true, Ordering::Relaxed);
                    backoff = Backoff::default();
                    if until.take().is_some() {
                        tracing::warn!(lease = %self.key, "lease lost to another instance");
                    }
                    left.clamp(MIN_WAIT, step)
                }
                Err(error) => {
                    conn = None;
                    self.reachable.store(false, Ordering::Relaxed);
                    tracing::debug!(lease = %self.key, %error, "lease: redis did not answer");
                    backoff.after(Duration::ZERO).min(step)
                }
            };
            if until.is_some_and(|u| Instant::now() >= u) {
                tracing::warn!(lease = %self.key, "lease expired before it could be renewed");
                until = None;
            }
            // Redis silent for a whole TTL: nobody can be told apart from a dead leader, so
            // lead rather than leave the work undone.
            let unreachable = last_answer.elapsed() >= self.ttl;
            if unreachable && until.is_none() && !*self.leading.borrow() {
                tracing::warn!(
                    lease = %self.key,
                    "redis unreachable for a whole lease: this instance leads until it can tell \
                     whether another does"
                );
            }
            self.set_leading(until.is_some() || unreachable);
            // Wake up when the lease ends, to stop leading on time if the renewal is late.
            let wake = match until {
                Some(u) => (Instant::now() + wait).min(u),
                None => Instant::now() + wait,
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        self.set_leading(false);
        if until.is_some()
            && let Some(mut c) = conn
        {
            let mut release = redis::cmd("EVAL");
            release.arg(RELEASE).arg(1).arg(&self.key).arg(&self.token);
            match tokio::time::timeout(RELEASE_WAIT, release.query_async::<i64>(&mut c)).await {
                Ok(Ok(_)) => tracing::info!(lease = %self.key, "lease released"),
                _ => tracing::warn!(lease = %self.key, "lease not released; it expires by itself"),
            }
        }
    }

    fn set_leading(&self, leading: bool) {
        self.leading.send_if_modified(|l| {
            let changed = *l != leading;
            *l = leading;
            changed
        });
    }

    async fn connect(&self, timeout: Duration) -> Result<MultiplexedConnection, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| e.to_string())
    }

    /// Renews the lease if this instance holds it, else tries to take it. `sent` is when the
    /// attempt began: a lease taken or renewed lasts the TTL from then, by our clock.
    async fn attempt(
        &self,
        conn: &mut MultiplexedConnection,
        held: bool,
        sent: Instant,
    ) -> Result<Held, String> {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        if held {
            let renewed: i64 = redis::cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(&self.key)
                .arg(&self.token)
                .arg(ttl_ms)
                .query_async(conn)
                .await
                .map_err(|e| e.to_string())?;
            if renewed == 1 {
                return Ok(Held::Until(sent + self.ttl));
            }
        }
        let (taken, left): (Option<String>, i64) = redis::pipe()
            .cmd("SET")
            .arg(&self.key)
            .arg(&self.token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .cmd("PTTL")
            .arg(&self.key)
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        if taken.is_some() {
            return Ok(Held::Until(sent + self.ttl));
        }
        // -2: gone since the SET (try again soon); -1: no expiry (never set by this code).
        let left = u64::try_from(left).map_or(MIN_WAIT, Duration::from_millis);
        Ok(Held::Other(left))
    }
}
