//! Following Torii without losing an update.
//!
//! Each session: connect; check the rules against the world's schemas (`Worlds`); open
//! `SubscribeEntities` for the followed models *first*, buffering what it sends; page through
//! `RetrieveEntities` into a fresh projection; apply the buffered updates; swap the fresh
//! projection in (emitting what changed since the previous one, so revocations that happened
//! while disconnected still take effect); then apply live updates as they come.
//!
//! When the stream drops or Torii restarts, the session ends and a new one starts with a full
//! resync (Torii has no resume cursor). The first reconnect after a completed sync starts
//! within `reconnect_min`; only repeated failures (sessions that never sync, or that sync and
//! drop again quickly) wait longer, with jittered delays growing to `reconnect_max`.
//!
//! While disconnected the projection is kept, but its age is published
//! ([`SyncStatus::stale_for`]) so callers can stop trusting it past `max_stale`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::Endpoint;

use crate::projection::{Change, Projection};
use crate::proto::types::{self, Clause, KeysClause, Pagination, PatternMatching, Query};
use crate::proto::world::world_client::WorldClient;
use crate::proto::world::{RetrieveEntitiesRequest, SubscribeEntitiesRequest, WorldsRequest};
use crate::rules::ToriiConfig;
use crate::schema;

/// Updates buffered while a full sync pages through `RetrieveEntities`; past it the sync
/// starts over rather than lose one.
const SYNC_BUFFER: usize = 65_536;
/// HTTP/2 ping interval on the Torii connection.
const KEEPALIVE: Duration = Duration::from_secs(20);
/// A session must stay live this long before the reconnect delay starts over from the
/// minimum, so an overload that ends sessions quickly cannot turn into back-to-back resyncs.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How often a live follower logs its status.
const STATUS_LOG_EVERY: Duration = Duration::from_secs(60);
/// Largest gRPC message accepted (Torii's own limit is 16 MiB).
const MAX_MESSAGE: usize = 64 << 20;

/// Where the follower is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    Connecting,
    Syncing,
    Live,
    /// Waiting before the next attempt.
    Retrying,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Connecting => "connecting",
            SyncState::Syncing => "syncing",
            SyncState::Live => "live",
            SyncState::Retrying => "retrying",
        }
    }
}

/// The follower's status, for readiness, the status endpoint and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    pub state: SyncState,
    /// A full sync has completed at least once.
    pub synced: bool,
    /// Sessions started after the first.
    pub reconnects: u64,
    /// Live updates applied.
    pub updates: u64,
    /// Updates applied during the last whole second.
    pub updates_last_second: u64,
    /// Seconds between the last update's on-chain time and when it was applied.
    pub lag_secs: Option<u64>,
    pub entities: usize,
    pub last_error: Option<String>,
    /// When a synced projection stopped being followed live (the connection was lost); `None`
    /// while live and before the first sync.
    pub disconnected_at: Option<std::time::Instant>,
}

impl SyncStatus {
    /// How long the projection has gone without being followed live, once it was synced.
    pub fn stale_for(&self) -> Option<Duration> {
        self.disconnected_at.map(|t| t.elapsed())
    }
}

impl Default for SyncStatus {
    fn default() -> Self {
        Self {
            state: SyncState::Connecting,
            synced: false,
            reconnects: 0,
            updates: 0,
            updates_last_second: 0,
            lag_secs: None,
            entities: 0,
            last_error: None,
            disconnected_at: None,
        }
    }
}

/// What ended a follower session, for the reconnect delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Before a sync completed.
    Unsynced,
    /// After a completed sync, having been live this long.
    Synced(Duration),
}

/// The reconnect policy: quick after a session that synced, growing only over repeated
/// failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Backoff {
    /// Failed sessions in a row (the exponent of the delay cap).
    attempt: u32,
    /// Sessions in a row that synced but stayed live less than [`STABLE_AFTER`]: an overload
    /// that drops sessions right after their sync must not become back-to-back resyncs.
    flaps: u32,
}

impl Backoff {
    /// Records how a session ended; returns the exponent for the next delay cap
    /// (`reconnect_min × 2^exponent`).
    fn after(&mut self, ended: Ended) -> u32 {
        match ended {
            Ended::Synced(live) if live >= STABLE_AFTER => {
                self.flaps = 0;
                self.attempt = 0;
            }
            Ended::Synced(_) => {
                self.attempt = self.flaps;
                self.flaps = self.flaps.saturating_add(1);
            }
            Ended::Unsynced => {}
        }
        let exponent = self.attempt;
        self.attempt = self.attempt.saturating_add(1);
        exponent
    }
}

/// Why following stopped for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The rules do not fit the world: fix the configuration.
    #[error("the world rules do not match the world: {0}")]
    Schema(#[from] schema::SchemaError),
    /// `[torii] grpc_url` is not a URL.
    #[error("torii.grpc_url: {0}")]
    Url(String),
}

/// A failure that a new session may not have.
#[derive(Debug)]
enum Failure {
    Fatal(SyncError),
    Transient(String),
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Failure::Transient(format!("{}: {}", s.code(), s.message()))
    }
}

impl From<tonic::transport::Error> for Failure {
    fn from(e: tonic::transport::Error) -> Self {
        Failure::Transient(format!("connect: {e}"))
    }
}

/// Follows Torii until `shutdown`, keeping `projection` current and sending every batch of
/// changes to `changes`. Ends early only on a [`SyncError`].
pub fn spawn(
    config: ToriiConfig,
    projection: Arc<RwLock<Projection>>,
    changes: mpsc::Sender<Vec<Change>>,
    shutdown: CancellationToken,
) -> (
    watch::Receiver<SyncStatus>,
    JoinHandle<Result<(), SyncError>>,
) {
    let (status, rx) = watch::channel(SyncStatus::default());
    let follower = Follower {
        config,
        projection,
        changes,
        status,
        rate: (0, 0),
        live_since: None,
    };
    (rx, tokio::spawn(follower.run(shutdown)))
}

struct Follower {
    config: ToriiConfig,
    projection: Arc<RwLock<Projection>>,
    changes: mpsc::Sender<Vec<Change>>,
    status: watch::Sender<SyncStatus>,
    /// (second, updates in it).
    rate: (u64, u64),
    /// When the current session became live.
    live_since: Option<std::time::Instant>,
}

impl Follower {
    async fn run(mut self, shutdown: CancellationToken) -> Result<(), SyncError> {
        let mut backoff = Backoff::default();
        let mut first = true;
        loop {
            if !first {
                self.status.send_modify(|s| s.reconnects += 1);
            }
            first = false;
            let result = tokio::select! {
                r = self.session() => r,
                _ = shutdown.cancelled() => return Ok(()),
            };
            let reason = match result {
                Err(Failure::Fatal(e)) => {
                    tracing::error!(error = %e, "cannot follow the world");
                    return Err(e);
                }
                Err(Failure::Transient(reason)) => reason,
                Ok(()) => "the stream ended".to_owned(),
            };
            let ended = match self.live_since.take() {
                Some(t) => Ended::Synced(t.elapsed()),
                None => Ended::Unsynced,
            };
            let delay = self.backoff(backoff.after(ended));
            tracing::warn!(%reason, retry_in = ?delay, "torii connection lost");
            self.status.send_modify(|s| {
                s.state = SyncState::Retrying;
                s.last_error = Some(reason);
                if s.synced && s.disconnected_at.is_none() {
                    s.disconnected_at = Some(std::time::Instant::now());
                }
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Equal jitter: a random delay between half and all of `min × 2^attempt`, capped at
    /// `max`, so retries spread out but never come back at once.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .reconnect_min
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.config.reconnect_max);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(rand::random_range(ms / 2..=ms))
    }

    fn clause(models: &[String]) -> Clause {
        Clause {
            clause_type: Some(types::clause::ClauseType::Keys(KeysClause {
                keys: Vec::new(),
                pattern_matching: PatternMatching::VariableLen as i32,
                models: models.to_vec(),
            })),
        }
    }

    async fn call<T>(
        &self,
        f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.config.call_timeout, f).await {
            Ok(r) => Ok(r?.into_inner()),
            Err(_) => Err(Failure::Transient("call timed out".into())),
        }
    }

    async fn session(&mut self) -> Result<(), Failure> {
        self.status.send_modify(|s| s.state = SyncState::Connecting);
        let world = self
            .config
            .world_address
            .parse::<realtime_core::Address>()
            .map_err(|e| Failure::Fatal(SyncError::Url(format!("world_address: {e}"))))?
            .to_bytes()
            .to_vec();
        let endpoint = Endpoint::from_shared(self.config.grpc_url.clone())
            .map_err(|e| Failure::Fatal(SyncError::Url(e.to_string())))?
            .connect_timeout(self.config.call_timeout)
            .tcp_nodelay(true)
            // A half-open connection would otherwise leave the follower "live" on a frozen
            // projection; HTTP/2 pings notice it.
            .http2_keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(self.config.call_timeout.min(KEEPALIVE))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect().await?;
        let mut client = WorldClient::new(channel)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE);

        let rules = self.read().rules().clone();
        let models = rules.models();
        let worlds = self
            .call(client.worlds(WorldsRequest {
                world_addresses: vec![world.clone()],
            }))
            .await?;
        let known: Vec<types::Model> = worlds.worlds.into_iter().flat_map(|w| w.models).collect();
        // A mismatch at start is a configuration error; after that, a world answering oddly
        // while Torii restarts is retried like any other failure.
        let first_sync = !self.status.borrow().synced;
        let mismatch = |e: schema::SchemaError| {
            if first_sync {
                Failure::Fatal(e.into())
            } else {
                Failure::Transient(e.to_string())
            }
        };
        let schemas = schema::schemas(&known, &models);
        schema::validate(&rules, &schemas).map_err(mismatch)?;

        // Subscribe before reading state, so nothing that changes during the read is missed.
        let mut stream = self
            .call(client.subscribe_entities(SubscribeEntitiesRequest {
                clause: Some(Self::clause(&models)),
                world_addresses: vec![world.clone()],
            }))
            .await?;
        let (tx, mut rx) = mpsc::channel(SYNC_BUFFER);
        let reader = tokio::spawn(async move {
            loop {
                let item = match stream.message().await {
                    Ok(Some(msg)) => match msg.entity {
                        Some(e) => Ok(e),
                        None => continue, // the subscription id
                    },
                    Ok(None) => Err("the stream ended".to_owned()),
                    Err(s) => Err(format!("stream: {}: {}", s.code(), s.message())),
                };
                let end = item.is_err();
                if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(item) {
                    let _ = tx
                        .send(Err("too many updates during the sync".into()))
                        .await;
                    return;
                }
                if end {
                    return;
                }
            }
        });
        let _reader = tokio_util::task::AbortOnDropHandle::new(reader);

        self.status.send_modify(|s| s.state = SyncState::Syncing);
        let started = std::time::Instant::now();
        let mut fresh = Projection::new(rules);
        let mut cursor = String::new();
        let mut pages = 0u64;
        loop {
            let page = self
                .call(client.retrieve_entities(RetrieveEntitiesRequest {
                    query: Some(Query {
                        clause: Some(Self::clause(&models)),
                        no_hashed_keys: false,
                        models: models.clone(),
                        pagination: Some(Pagination {
                            cursor: cursor.clone(),
                            limit: self.config.page_size,
                            direction: types::PaginationDirection::Forward as i32,
                            order_by: Vec::new(),
                        }),
                        historical: false,
                        world_addresses: vec![world.clone()],
                    }),
                }))
                .await?;
            pages += 1;
            for e in &page.entities {
                fresh.apply(e);
            }
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = page.next_cursor;
        }
        let mut buffered = 0u64;
        let mut touched = std::collections::BTreeSet::new();
        while let Ok(item) = rx.try_recv() {
            let entity = item.map_err(Failure::Transient)?;
            touched.insert(entity.hashed_keys.clone());
            fresh.apply(&entity);
            buffered += 1;
        }
        // Torii pages newest-first by event: an entity updated while we paged can move ahead
        // of the cursor and be missed by the pages, leaving only a partial update here. Read
        // every entity the stream touched once more, whole.
        let touched: Vec<Vec<u8>> = touched.into_iter().collect();
        for ids in touched.chunks(self.config.page_size.max(1) as usize) {
            let page = self
                .call(client.retrieve_entities(RetrieveEntitiesRequest {
                    query: Some(Query {
                        clause: Some(Clause {
                            clause_type: Some(types::clause::ClauseType::HashedKeys(
                                types::HashedKeysClause {
                                    hashed_keys: ids.to_vec(),
                                },
                            )),
                        }),
                        no_hashed_keys: false,
                        models: models.clone(),
                        pagination: Some(Pagination {
                            cursor: String::new(),
                            limit: u32::try_from(ids.len()).unwrap_or(u32::MAX),
                            direction: types::PaginationDirection::Forward as i32,
                            order_by: Vec::new(),
                        }),
                        historical: false,
                        world_addresses: vec![world.clone()],
                    }),
                }))
                .await?;
            for e in &page.entities {
                fresh.apply(e);
            }
        }
        let entities = fresh.entity_count();
        // Compare under the read lock, swap under the write lock, drop the old one after.
        let mut diff = self.read().diff(&fresh);
        if !first_sync {
            // What announced models went through while the stream was down; on the first
            // sync there is no before, and nothing is announced.
            diff.extend(self.read().announcements_since(&fresh));
            diff.push(Change::Resynced);
        }
        let old = std::mem::replace(&mut *self.write(), fresh);
        drop(old);
        tracing::info!(
            entities,
            pages,
            buffered,
            took = ?started.elapsed(),
            "torii sync complete"
        );
        self.live_since = Some(std::time::Instant::now());
        self.status.send_modify(|s| {
            s.state = SyncState::Live;
            s.synced = true;
            s.entities = entities;
            s.last_error = None;
            s.disconnected_at = None;
        });
        if !diff.is_empty() {
            let _ = self.changes.send(diff).await;
        }

        let mut report = tokio::time::interval(STATUS_LOG_EVERY);
        report.tick().await;
        loop {
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = report.tick() => {
                    let s = self.status.borrow().clone();
                    tracing::info!(
                        state = s.state.as_str(),
                        updates = s.updates,
                        updates_per_second = s.updates_last_second,
                        lag_secs = s.lag_secs,
                        reconnects = s.reconnects,
                        entities = s.entities,
                        "torii sync status"
                    );
                    continue;
                }
            };
            let Some(item) = item else {
                break;
            };
            let entity = item.map_err(Failure::Transient)?;
            let (changes, entities) = {
                let mut p = self.write();
                let c = p.apply(&entity);
                (c, p.entity_count())
            };
            self.count_update(entity.updated_at, entities);
            if !changes.is_empty() && self.changes.send(changes).await.is_err() {
                return Ok(());
            }
        }
        Err(Failure::Transient("the stream ended".into()))
    }

    fn count_update(&mut self, updated_at: u64, entities: usize) {
        let now = realtime_core::time::now_secs();
        let last_second = if self.rate.0 == now {
            self.rate.1 += 1;
            None
        } else {
            let previous = if self.rate.0 + 1 == now {
                self.rate.1
            } else {
                0
            };
            self.rate = (now, 1);
            Some(previous)
        };
        self.status.send_modify(|s| {
            s.updates += 1;
            s.entities = entities;
            if let Some(n) = last_second {
                s.updates_last_second = n;
            }
            if updated_at > 0 {
                s.lag_secs = Some(now.saturating_sub(updated_at));
            }
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Projection> {
        self.projection.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Projection> {
        self.projection.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
