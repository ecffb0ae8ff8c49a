//! Shared state of a running server, handed to every route and session.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use realtime_bus::{Broker, MemoryRateLimiter, RateLimiter, SharedState};
use realtime_protocol::ErrorBody;
use realtime_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::connections::Connections;
use crate::feed::Feed;
use crate::hub::{ConnId, Hub};
use crate::ip_limit::{IpCounter, IpLimiter};
use crate::permissions::Permissions;
use crate::registry::Registry;
use crate::world::World;
use realtime_auth::token::Tokens;

/// Wallet sign-in: the Starknet JSON-RPC node that checks signatures, and the per-IP limit
/// of the sign-in endpoints.
#[derive(Debug)]
pub struct WalletSignIn {
    pub rpc: realtime_auth::Rpc,
    pub limiter: IpLimiter,
}

/// Most rate-limit subjects (address × limit) one instance tracks at once (with a shared
/// bus, while Redis cannot be reached).
pub const RATE_SUBJECTS: usize = 200_000;

/// Storage and its readiness probe.
#[derive(Debug)]
pub struct Storage {
    pub store: Store,
    /// The last `/readyz` storage probe.
    pub probe: crate::probe::StorageProbe,
}

/// Getting messages to subscribers: the local hub, the bus between instances, the
/// group-commit publisher, and the per-address limits on what is asked of them.
pub struct Delivery {
    pub hub: Arc<Hub>,
    pub broker: Arc<dyn Broker>,
    /// Group commit of publishes, then their announcement.
    pub publisher: crate::publisher::Publisher,
    /// Per-address rate limits (publish, storage reads).
    pub rate_limits: crate::rate::RateLimits,
    /// Whether this instance posts on-chain announcements.
    pub leader: crate::leader::Leadership,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("broker", &self.broker.kind())
            .finish_non_exhaustive()
    }
}

/// Turning credentials into identities.
#[derive(Debug)]
pub struct IdentityHandles {
    pub tokens: Tokens,
    /// Wallet sign-in, when `[auth.starknet]` is configured.
    pub wallet: Option<WalletSignIn>,
}

/// On-chain state as features see it.
#[derive(Debug)]
pub struct WorldView {
    /// Channel rules and the on-chain state they ask about (`[torii]`, when configured).
    pub permissions: Permissions,
    /// Who watches which map area or own entities (the map feed's state).
    pub feed: Feed,
}

/// Connections and sessions: limits, who is signed in, and the tracker shutdown waits on.
#[derive(Debug)]
pub struct Connectivity {
    pub connections: Arc<Connections>,
    /// Signed-in sessions by address.
    pub registry: Registry,
    /// Who is present in each channel.
    pub presence: crate::presence::Presence,
    /// Presence and connections shared with the other instances (`[bus] kind = "redis"`).
    pub shared: Option<Arc<dyn SharedState>>,
    /// Per-IP rate of WebSocket upgrades.
    pub upgrade_limiter: IpLimiter,
    /// Per-IP count of WebSockets that have not signed in yet.
    pub unauthenticated: IpCounter,
    /// Tracks WebSocket sessions so shutdown can wait for them to drain.
    pub sessions: TaskTracker,
    next_conn: AtomicU64,
}

impl Connectivity {
    /// A fresh connection id.
    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}

/// Everything a request or a connection needs, as a few handles by concern, built once.
pub struct AppState {
    pub config: Config,
    pub storage: Storage,
    pub delivery: Delivery,
    pub identity: IdentityHandles,
    pub world: WorldView,
    pub conns: Connectivity,
    /// Content rules, and the bans, mutes and revocations in force.
    pub moderation: crate::moderation::Moderation,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("broker", &self.delivery.broker.kind())
            .field("sessions", &self.conns.sessions.len())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Verifies a session token, and refuses it when its session was revoked or its address
    /// is banned: the one check every request, socket and refresh passes.
    pub fn verify(&self, token: &str) -> Result<realtime_auth::Identity, ErrorBody> {
        let identity = self
            .identity
            .tokens
            .verify(token)
            .map_err(|e| ErrorBody::new(e.code, e.message))?;
        self.moderation.admit(&identity)?;
        Ok(identity)
    }

    /// Whether `identity` may use the moderation API: its token says so, its address is
    /// listed (`[moderation] moderators`, `[auth] admins`), or it passes
    /// `[moderation] moderator_policy`.
    pub fn is_moderator(&self, identity: &realtime_auth::Identity) -> bool {
        let config = &self.config;
        identity.moderator
            || config.moderation.moderators.contains(&identity.address)
            || config.auth.admins.contains(&identity.address)
            || config
                .moderation
                .moderator_policy
                .as_ref()
                .is_some_and(|p| self.world.permissions.passes(identity.address, p))
    }

    /// The direct-message checks, over this server's storage, rules and sessions.
    pub fn dm_gate(&self) -> crate::dm::Gate<'_> {
        crate::dm::Gate {
            store: &self.storage.store,
            permissions: &self.world.permissions,
            registry: &self.conns.registry,
            rate_limits: &self.delivery.rate_limits,
        }
    }
}

/// The handle routes receive.
pub type App = Arc<AppState>;

/// What start-up makes before the shared state: storage, fan-out, identity, the world view,
/// and the shutdown signal.
#[allow(missing_debug_implementations)]
pub struct Parts {
    pub config: Config,
    pub store: Store,
    pub hub: Arc<Hub>,
    pub broker: Arc<dyn Broker>,
    pub leader: crate::leader::Leadership,
    pub tokens: Tokens,
    /// On-chain state, when `[torii]` is configured.
    pub world: Option<World>,
    /// Wallet sign-in, when `[auth.starknet]` is configured.
    pub wallet: Option<WalletSignIn>,
    /// With a shared bus: rate limits and state shared by the instances.
    pub shared: Option<(Arc<dyn RateLimiter>, Arc<dyn SharedState>)>,
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Builds the shared state from what start-up made; nothing is added to it later.
    pub fn new(parts: Parts) -> Self {
        let Parts {
            config,
            store,
            hub,
            broker,
            leader,
            tokens,
            world,
            wallet,
            shared,
            shutdown,
        } = parts;
        let upgrade_limiter = IpLimiter::new(
            config.limits.upgrades_per_ip_burst,
            config.limits.upgrades_per_ip_per_second,
        );
        let unauthenticated = IpCounter::new(config.limits.max_unauthenticated_per_ip);
        let connections = Arc::new(Connections::new(
            config.server.max_connections,
            config.limits.max_connections_per_address,
        ));
        let publisher = crate::publisher::Publisher::start(store.clone(), broker.clone());
        let rules = config.channel_rules();
        let (limiter, shared): (Arc<dyn RateLimiter>, _) = match shared {
            Some((limiter, state)) => (limiter, Some(state)),
            None => (Arc::new(MemoryRateLimiter::new(RATE_SUBJECTS)), None),
        };
        let rate_limits = crate::rate::RateLimits::new(limiter, &config);
        let moderation = crate::moderation::Moderation::new(&config.moderation);
        Self {
            moderation,
            config,
            storage: Storage {
                store,
                probe: Default::default(),
            },
            delivery: Delivery {
                hub,
                broker,
                publisher,
                rate_limits,
                leader,
            },
            identity: IdentityHandles { tokens, wallet },
            world: WorldView {
                permissions: Permissions { rules, world },
                feed: Feed::default(),
            },
            conns: Connectivity {
                connections,
                registry: Registry::default(),
                presence: Default::default(),
                shared,
                upgrade_limiter,
                unauthenticated,
                sessions: TaskTracker::new(),
                next_conn: AtomicU64::new(1),
            },
            shutdown,
        }
    }
}

/// A server state over a fresh SQLite file, for unit tests; remove `dir` when done.
#[cfg(test)]
pub(crate) async fn test_app(config: Config) -> (App, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "rt-app-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let store = Store::connect(&realtime_store::StorageConfig {
        url: format!("sqlite://{}/app.db", dir.display()),
        ..realtime_store::StorageConfig::default()
    })
    .await
    .expect("test store");
    store.migrate_up().await.expect("migrations");
    let hub = Hub::new(store.clone(), config.limits.send_queue_bytes);
    let broker: Arc<dyn Broker> = Arc::new(realtime_bus::MemoryBroker::new(hub.clone()));
    hub.set_broker(broker.clone());
    let tokens = Tokens::new(&[7u8; 32], true);
    let app = AppState::new(Parts {
        config,
        store,
        hub,
        broker,
        leader: crate::leader::Leadership::alone(),
        tokens,
        world: None,
        wallet: None,
        shared: None,
        shutdown: CancellationToken::new(),
    });
    (Arc::new(app), dir)
}
