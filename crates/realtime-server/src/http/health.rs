//! `/healthz` says the process is up; `/readyz` says it can serve: storage answers and the
//! server is not shutting down. Load balancers route on `/readyz`. What works but worse
//! (stale on-chain state, a shared bus that is down) is reported as `degraded` with a 200.
//!
//! Probes come often and from anywhere, so the storage round trip behind `/readyz` is made
//! at most once per [`crate::probe::PROBE_TTL`]; other requests reuse its answer.
//!
//! The replies are types rather than ad-hoc JSON so that the OpenAPI document (see
//! [`super::openapi`]) describes them from the code that writes them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use realtime_bus::BusState;
use schemars::JsonSchema;
use serde::Serialize;

use crate::state::App;

/// A word that is always the same in its reply, so a client can match on it.
macro_rules! word {
    ($name:ident, $variant:ident) => {
        #[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $variant,
        }
    };
}

word!(AliveWord, Ok);
word!(ReadyWord, Ready);
word!(NotReadyWord, NotReady);

/// `GET /healthz`: the process is up.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Alive {
    pub status: AliveWord,
}

/// `GET /readyz` with a 200: the instance can serve.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Ready {
    pub status: ReadyWord,
    /// Storage answered the probe: always `ok` here.
    pub storage: &'static str,
    /// The bus kind: `memory` (this instance alone) or `redis`.
    pub bus: &'static str,
    /// `local`, `connecting`, `connected` or `disconnected`.
    pub bus_state: &'static str,
    /// What works but worse (stale on-chain state, a shared bus that is down), or null.
    pub degraded: Option<String>,
}

/// `GET /readyz` with a 503: take this instance out of rotation for now.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NotReady {
    pub status: NotReadyWord,
    /// Why: shutting down, storage unreachable, or on-chain state not synced yet.
    pub reason: String,
    /// The Torii follower's state, when on-chain state is not synced yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torii: Option<&'static str>,
}

/// Either answer of `/readyz`, with its status.
#[derive(Debug)]
pub enum Readiness {
    Ready(Ready),
    NotReady(NotReady),
}

impl IntoResponse for Readiness {
    fn into_response(self) -> Response {
        match self {
            Readiness::Ready(r) => (StatusCode::OK, Json(r)).into_response(),
            Readiness::NotReady(r) => (StatusCode::SERVICE_UNAVAILABLE, Json(r)).into_response(),
        }
    }
}

fn not_ready(reason: impl Into<String>, torii: Option<&'static str>) -> Readiness {
    Readiness::NotReady(NotReady {
        status: NotReadyWord::NotReady,
        reason: reason.into(),
        torii,
    })
}

/// `GET /v1/status`: what the instance is doing, for operators and dashboards.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    pub version: &'static str,
    /// Open connections, WebSocket or HTTP.
    pub connections: usize,
    /// Signed-in sessions on this instance.
    pub signed_in: usize,
    /// Channels with a subscriber on this instance.
    pub channels: usize,
    /// The bus kind: `memory` or `redis`.
    pub bus: &'static str,
    pub bus_status: BusReport,
    pub rate_limits: RateLimitReport,
    /// The storage backend: `postgres` or `sqlite`.
    pub storage: String,
    /// Whether this instance posts on-chain announcements (one instance at a time).
    pub leader: bool,
    /// The Torii follower, or null without `[torii]`.
    pub torii: Option<ToriiReport>,
    pub moderation: ModerationReport,
}

/// Moderation, in `/v1/status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModerationReport {
    /// Content rules configured.
    pub rules: usize,
    /// Addresses banned now.
    pub bans: usize,
    /// Addresses muted somewhere now.
    pub muted: usize,
    /// Sessions revoked before their expiry.
    pub revoked_sessions: usize,
    /// Jobs of the review queue waiting for a moderator; null when storage did not answer.
    pub pending_jobs: Option<u64>,
}

/// The bus connection, in `/v1/status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BusReport {
    /// `local`, `connecting`, `connected` or `disconnected`.
    pub state: &'static str,
    /// Connections to the shared backend re-established after a loss.
    pub reconnects: u64,
    pub sent: u64,
    pub received: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
}

/// The rate limiter, in `/v1/status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RateLimitReport {
    /// `memory` or `redis`.
    pub kind: &'static str,
    /// Takes decided by this instance alone while Redis was unreachable.
    pub local_fallbacks: u64,
}

/// The Torii follower, in `/v1/status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ToriiReport {
    /// `connecting`, `syncing`, `live` or `retrying`.
    pub state: &'static str,
    /// A full sync has completed at least once.
    pub synced: bool,
    /// Follower sessions started after the first one.
    pub reconnects: u64,
    pub updates: u64,
    pub updates_per_second: u64,
    /// Seconds between the last update's on-chain time and when it was applied.
    pub lag_secs: Option<u64>,
    /// How long on-chain state has gone unconfirmed since the connection was lost; null
    /// while live.
    pub stale_secs: Option<u64>,
    pub max_stale_secs: u64,
    /// Why rules that depend on the chain fail closed, if they do.
    pub unavailable: Option<String>,
    pub entities: usize,
    pub players: usize,
    pub last_error: Option<String>,
}

pub async fn healthz() -> Json<Alive> {
    Json(Alive {
        status: AliveWord::Ok,
    })
}

pub async fn readyz(State(app): State<App>) -> Readiness {
    if app.shutdown.is_cancelled() {
        return not_ready("shutting down", None);
    }
    // Not synced yet: nothing that depends on the chain can be answered. Stale after an
    // outage: those rules fail closed, but the instance stays in rotation, since every
    // instance shares the one Torii and taking all of them out would stop chat that does not
    // depend on the chain; the reason is reported as `degraded`.
    let mut degraded: Vec<String> = Vec::new();
    if let Some(world) = &app.world.permissions.world
        && let Some(reason) = world.unavailable()
    {
        let state = world.status.borrow().state.as_str();
        if !world.status.borrow().synced {
            return not_ready(reason, Some(state));
        }
        degraded.push(reason);
    }
    // A shared bus that is down degrades, and does not stop, this instance: its own sockets
    // still get its messages at once, and other instances' arrive through the head check.
    // Every instance shares the one Redis, so taking them out of rotation would stop all chat.
    let bus = app.delivery.broker.status().state;
    if matches!(bus, BusState::Disconnected | BusState::Connecting) {
        degraded.push(format!(
            "bus {}: messages of other instances arrive through storage head checks",
            bus.as_str()
        ));
    }
    let degraded = (!degraded.is_empty()).then(|| degraded.join("; "));
    let store = app.storage.store.clone();
    let probe = app
        .storage
        .probe
        .check(|| async move {
            crate::metrics::timed(crate::metrics::StorageOp::Probe, store.ping())
                .await
                .map_err(|e| crate::probe::StorageDown(e.to_string()))
        })
        .await;
    match probe {
        Ok(()) => Readiness::Ready(Ready {
            status: ReadyWord::Ready,
            storage: "ok",
            bus: app.delivery.broker.kind(),
            bus_state: bus.as_str(),
            degraded,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: storage unreachable");
            not_ready("storage unreachable", None)
        }
    }
}

pub async fn status(State(app): State<App>) -> Json<Status> {
    let torii = app.world.permissions.world.as_ref().map(|w| {
        let s = w.status.borrow().clone();
        let (players, entities) = {
            let p = w.projection.read().unwrap_or_else(|e| e.into_inner());
            (p.player_count(), p.entity_count())
        };
        ToriiReport {
            state: s.state.as_str(),
            synced: s.synced,
            reconnects: s.reconnects,
            updates: s.updates,
            updates_per_second: s.updates_last_second,
            lag_secs: s.lag_secs,
            stale_secs: s.stale_for().map(|d| d.as_secs()),
            max_stale_secs: w.max_stale.as_secs(),
            unavailable: w.unavailable(),
            entities,
            players,
            last_error: s.last_error,
        }
    });
    let bus = app.delivery.broker.status();
    let (limits_kind, limits_fallbacks) = app.delivery.rate_limits.status();
    let (bans, muted, revoked_sessions) = app.moderation.standing.counts();
    let moderation = ModerationReport {
        rules: app.config.moderation.rules.len(),
        bans,
        muted,
        revoked_sessions,
        pending_jobs: app.storage.store.pending_jobs().await.ok(),
    };
    Json(Status {
        version: env!("CARGO_PKG_VERSION"),
        connections: app.conns.connections.total(),
        signed_in: app.conns.registry.len(),
        channels: app.delivery.hub.channel_count(),
        bus: app.delivery.broker.kind(),
        bus_status: BusReport {
            state: bus.state.as_str(),
            reconnects: bus.reconnects,
            sent: bus.sent,
            received: bus.received,
            dropped: bus.dropped,
            last_error: bus.last_error,
        },
        rate_limits: RateLimitReport {
            kind: limits_kind,
            local_fallbacks: limits_fallbacks,
        },
        storage: format!("{:?}", app.storage.store.backend()).to_lowercase(),
        leader: app.delivery.leader.is_leader(),
        torii,
        moderation,
    })
}
