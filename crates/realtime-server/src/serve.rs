//! `serve`: open storage (migrating if configured), wire hub and bus (with a shared bus, start
//! the head check), bind the listener, serve until a signal, then shut down gracefully: stop
//! accepting, tell every WebSocket to reconnect (4000), wait for sessions to drain up to
//! `server.shutdown_timeout`, close the bus and storage.

use std::sync::Arc;

use realtime_bus::{Broker, MemoryBroker, RedisBroker};
use realtime_core::Address;
use realtime_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use torii_plugin::projection::Change;

use crate::config::{BusKind, Loaded};
use crate::hub::Hub;
use crate::state::{App, AppState, Parts, WalletSignIn};
use realtime_auth::token::Tokens;

/// Why the server could not start, or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("storage {url}: {source}")]
    Storage {
        url: String,
        source: realtime_store::StoreError,
    },
    #[error("{0}")]
    Migrations(realtime_store::StoreError),
    #[error(
        "migrations {0} are pending and storage.migrate_on_start is false; run `torii-realtime migrate up`"
    )]
    PendingMigrations(String),
    #[error("{0}")]
    Keys(#[from] realtime_auth::token::KeyError),
    #[error("{0}")]
    Bus(realtime_bus::BusError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("auth.starknet.rpc_url: {0}")]
    Rpc(String),
    /// The chain id of `[auth.starknet]` cannot be checked against the node, or differs.
    #[error("{0}")]
    Chain(String),
    /// The Torii follower stopped: the world rules do not fit the world, or it failed.
    #[error("{0}")]
    Follower(String),
}

/// Runs the server until `shutdown` is cancelled or a termination signal arrives.
pub async fn serve(loaded: Loaded, shutdown: CancellationToken) -> Result<(), ServeError> {
    let config = loaded.config;
    // Registered before anything can count, so every series is listed from the first scrape.
    crate::metrics::get();
    match &loaded.file {
        Some(f) => tracing::info!(file = %f.display(), "configuration loaded"),
        None => tracing::info!("no config file; using built-in defaults"),
    }
    for var in &loaded.env_overrides {
        tracing::info!(%var, "configuration overridden from the environment");
    }
    let store = Store::connect(&config.storage)
        .await
        .map_err(|source| ServeError::Storage {
            url: config.storage.redacted_url(),
            source,
        })?;
    tracing::info!(url = %config.storage.redacted_url(), backend = ?store.backend(), "storage connected");
    if config.storage.migrate_on_start {
        let applied = store.migrate_up().await.map_err(ServeError::Migrations)?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
    } else {
        let pending = store
            .migration_status()
            .await
            .map_err(ServeError::Migrations)?
            .pending();
        if !pending.is_empty() {
            return Err(ServeError::PendingMigrations(format!("{pending:?}")));
        }
    }
    let tokens = Tokens::from_config(&config.auth)?.for_world(config.token_world());
    if config.auth.dev_tokens {
        tracing::warn!(
            "development tokens are enabled: do not run this configuration in production"
        );
    }
    if config.server.demo {
        tracing::warn!("the demo page is served at /demo: not for production");
    }
    if store.backend() == realtime_store::Backend::Postgres && config.bus.kind == BusKind::Memory {
        // Nothing stops a second instance on the same database, and it would look healthy.
        tracing::warn!(
            "live delivery is per instance: with the in-process bus ([bus] kind = \"memory\"), \
             instances sharing this database deliver a message live only to the sockets of the \
             instance that took it (others see it in history and after reconnecting); run one \
             instance"
        );
    }
    if store.backend() == realtime_store::Backend::Sqlite && config.bus.kind == BusKind::Redis {
        tracing::warn!(
            "[bus] kind = \"redis\" with SQLite storage: instances must share one database \
             for their seqs to agree; use Postgres for several instances"
        );
    }
    let hub = Hub::new(store.clone(), config.limits.send_queue_bytes);
    let mut shared = None;
    let broker: Arc<dyn Broker> = match config.bus.kind {
        BusKind::Memory => Arc::new(MemoryBroker::new(hub.clone())),
        BusKind::Redis => {
            let broker = RedisBroker::start(&config.bus, hub.clone())
                .await
                .map_err(ServeError::Bus)?;
            tracing::info!(
                url = %config.bus.redacted_url(),
                prefix = %config.bus.prefix,
                state = broker.status().state.as_str(),
                "redis bus started"
            );
            // Rate limits, presence and connection counts go through the same connection.
            shared = Some((
                Arc::new(broker.rate_limiter(crate::state::RATE_SUBJECTS)) as _,
                Arc::new(broker.shared_state()) as _,
            ));
            Arc::new(broker)
        }
    };
    hub.set_broker(broker.clone());
    let leader = match config.bus.kind {
        BusKind::Memory => crate::leader::Leadership::alone(),
        BusKind::Redis => crate::leader::Leadership::lease(&config.bus).map_err(ServeError::Bus)?,
    };
    if config.bus.kind != BusKind::Memory {
        // Not tracked: it stops at the shutdown signal and leaves nothing half done.
        tokio::spawn(crate::hub::heads::run(
            hub.clone(),
            config.bus.head_check_interval,
            shutdown.clone(),
        ));
    }

    let listener =
        crate::listener::bind(config.server.listen).map_err(|source| ServeError::Listen {
            addr: config.server.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.server.listen,
        source,
    })?;
    let shutdown_timeout = config.server.shutdown_timeout;
    let following = crate::world::start(&config, shutdown.clone());
    if let Some(t) = &config.torii {
        tracing::info!(
            url = %crate::config::urls::redacted(&t.grpc_url, true),
            world = %t.world_address,
            "following torii"
        );
    }
    let (world, changes, mut follower) = match following {
        Some(f) => (Some(f.world), Some(f.changes), Some(f.task)),
        None => (None, None, None),
    };
    let wallet = match &config.auth.starknet {
        Some(s) => {
            let rpc = realtime_auth::Rpc::new(&s.rpc_url, s.rpc_timeout)
                .map_err(|e| ServeError::Rpc(e.to_string()))?;
            check_chain(&rpc, s).await?;
            tracing::info!(
                rpc = %crate::config::urls::redacted(&s.rpc_url, true),
                chain = %s.chain_id,
                "wallet sign-in enabled"
            );
            Some(WalletSignIn {
                rpc,
                limiter: crate::ip_limit::IpLimiter::new(s.per_ip_burst, s.per_ip_per_second),
            })
        }
        None => None,
    };
    let app = Arc::new(AppState::new(Parts {
        config,
        store: store.clone(),
        hub,
        broker,
        leader,
        tokens,
        world,
        wallet,
        shared,
        shutdown: shutdown.clone(),
    }));
    if let Some(changes) = changes {
        // Not tracked: it ends when the follower does, and what it applies only matters to
        // live sessions.
        let (prepared, to_post) = mpsc::channel(crate::posting::QUEUE);
        tokio::spawn(apply_changes(app.clone(), changes, prepared));
        tokio::spawn(crate::posting::post_announcements(app.clone(), to_post));
    }
    // Not tracked: they stop at the shutdown signal, and a sweep or a retention round cut
    // short is redone by the next start (each of their transactions stands on its own).
    tokio::spawn(crate::features::notes::expiry::run(app.clone()));
    tokio::spawn(crate::retention::run(app.clone()));
    tokio::spawn(crate::features::presence::run(app.clone()));
    // Bans and revocations in force before the first request; failing that, the periodic
    // re-read catches up (and a database that cannot be read fails requests anyway).
    if let Err(e) = app.moderation.standing.reload(&app.storage.store).await {
        tracing::warn!(error = %e, "cannot read sanctions at start; retrying in the background");
    }
    crate::features::moderation::control::subscribe_control(&app).await;
    // Not tracked: they stop at the shutdown signal; a notice cut short is told again once
    // its claim expires.
    tokio::spawn(crate::features::moderation::control::reload_loop(
        app.clone(),
    ));
    tokio::spawn(crate::features::moderation::worker::run(app.clone()));
    if let Some(shared) = app.conns.shared.clone() {
        tokio::spawn(crate::cluster::run(app.clone(), shared));
    }
    if let Some(addr) = app
        .config
        .metrics
        .listen
        .filter(|_| app.config.metrics.enabled)
    {
        let listener =
            crate::listener::bind(addr).map_err(|source| ServeError::Listen { addr, source })?;
        let router = crate::http::metrics_router(app.clone());
        let stop = shutdown.clone();
        // Not tracked: it stops with the shutdown signal; a scrape cut short is retried.
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
        tracing::info!(%addr, "metrics listening");
    }
    // The one line scripts and tests wait for; keep its wording stable.
    tracing::info!(addr = %local, "listening");

    // Its handle is kept and aborted once shutdown begins.
    let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
    let http = crate::listener::start(
        listener,
        crate::http::router(app.clone(), Arc::new(crate::features::all())),
        app.clone(),
    );
    // A follower that stops on its own found rules that do not fit the world: stop serving.
    let follower_failed = async {
        match follower.as_mut() {
            Some(task) => match task.await {
                Ok(Err(e)) => Err(ServeError::Follower(e.to_string())),
                Ok(Ok(())) => Ok(()),
                Err(e) => Err(ServeError::Follower(format!(
                    "the torii follower failed: {e}"
                ))),
            },
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        () = shutdown.cancelled() => Ok(()),
        failed = follower_failed => failed,
    };
    shutdown.cancel();
    signals.abort();
    // Hand announcements over now rather than when the lease expires.
    app.delivery.leader.release().await;

    // The whole shutdown is bounded by shutdown_timeout: sessions are told to reconnect
    // (4000), HTTP connections finish their request, and the listener stays open meanwhile
    // (answering /readyz with 503), then closes, dropping whatever is left.
    let open = app.conns.sessions.len();
    tracing::info!(open, "shutting down: asking connections to reconnect");
    app.conns.sessions.close();
    let drained = async {
        tokio::join!(app.conns.sessions.wait(), http.drained());
    };
    if tokio::time::timeout(shutdown_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = app.conns.sessions.len(),
            "shutdown timeout reached; dropping remaining connections"
        );
    }
    http.close().await;
    app.delivery.broker.close();
    store.close().await;
    tracing::info!("stopped");
    result
}

/// Compares the node's `starknet_chainId` with `[auth.starknet] chain_id`: signatures for one
/// chain must not be checked against accounts on another. A node that does not answer is
/// not a reason to stay down; it is logged, and sign-ins answer `unavailable` meanwhile.
async fn check_chain(
    rpc: &realtime_auth::Rpc,
    s: &crate::config::StarknetAuthConfig,
) -> Result<(), ServeError> {
    use starknet_core::utils::{cairo_short_string_to_felt, parse_cairo_short_string};
    let expected = cairo_short_string_to_felt(&s.chain_id)
        .map_err(|e| ServeError::Chain(format!("auth.starknet.chain_id {:?}: {e}", s.chain_id)))?;
    match rpc.chain_id().await {
        Ok(actual) if actual == expected => Ok(()),
        Ok(actual) => Err(ServeError::Chain(format!(
            "auth.starknet.chain_id is {:?} but the node at {} serves {:?}; \
             point rpc_url at a {} node or fix chain_id",
            s.chain_id,
            crate::config::urls::redacted(&s.rpc_url, true),
            parse_cairo_short_string(&actual).unwrap_or_else(|_| format!("{actual:#x}")),
            s.chain_id,
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the Starknet chain id at start");
            Ok(())
        }
    }
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => tracing::info!("interrupt received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    shutdown.cancel();
}

/// Applies projection changes to live connections until the follower stops. A lost right
/// makes the affected sessions re-check their subscriptions at once, before the batch's
/// announcements are rendered and handed to the poster ([`crate::posting`]).
pub async fn apply_changes(
    app: App,
    mut changes: mpsc::Receiver<Vec<Change>>,
    prepared: mpsc::Sender<crate::announcer::Prepared>,
) {
    while let Some(batch) = changes.recv().await {
        let mut affected: Vec<Address> = Vec::new();
        let mut announcements = Vec::new();
        for change in &batch {
            match change {
                Change::PlayerRemoved(a) => affected.push(*a),
                Change::Left { member, .. } => affected.push(*member),
                Change::Feed(update) => {
                    app.world.feed.route(update);
                }
                Change::Announce(a) => announcements.push(a),
                Change::Resynced => app.world.feed.reset_all(),
                Change::PlayerAdded(_) | Change::Joined { .. } => {}
            }
        }
        affected.sort();
        affected.dedup();
        // Lost rights first: posting announcements may wait for the publisher.
        for address in affected {
            app.conns.registry.recheck(address);
        }
        let announcer = crate::announcer::Announcer {
            config: &app.config,
            permissions: &app.world.permissions,
        };
        for p in announcements
            .into_iter()
            .filter_map(|a| announcer.prepare(a))
        {
            let _ = prepared.send(p).await;
        }
    }
}
