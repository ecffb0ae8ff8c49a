//! `/healthz` says the process is up; `/readyz` says it can serve: storage answers and the
//! server is not shutting down. Load balancers route on `/readyz`. What works but worse
//! (stale on-chain state, a shared bus that is down) is reported as `degraded` with a 200.
//!
//! Probes come often and from anywhere, so the storage round trip behind `/readyz` is made
//! at most once per [`crate::probe::PROBE_TTL`]; other requests reuse its answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use realtime_bus::BusState;
use serde_json::{Value, json};

use crate::state::App;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(app): State<App>) -> (StatusCode, Json<Value>) {
    if app.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": "shutting down"})),
        );
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
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "reason": reason, "torii": state})),
            );
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
            store
                .ping()
                .await
                .map_err(|e| crate::probe::StorageDown(e.to_string()))
        })
        .await;
    match probe {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "storage": "ok",
                "bus": app.delivery.broker.kind(),
                "bus_state": bus.as_str(),
                "degraded": degraded,
            })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: storage unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "reason": "storage unreachable"})),
            )
        }
    }
}

/// `GET /v1/status`: what the instance is doing, for operators and dashboards.
pub async fn status(State(app): State<App>) -> Json<Value> {
    let torii = app.world.permissions.world.as_ref().map(|w| {
        let s = w.status.borrow().clone();
        let (players, entities) = {
            let p = w.projection.read().unwrap_or_else(|e| e.into_inner());
            (p.player_count(), p.entity_count())
        };
        json!({
            "state": s.state.as_str(),
            "synced": s.synced,
            "reconnects": s.reconnects,
            "updates": s.updates,
            "updates_per_second": s.updates_last_second,
            "lag_secs": s.lag_secs,
            "stale_secs": s.stale_for().map(|d| d.as_secs()),
            "max_stale_secs": w.max_stale.as_secs(),
            "unavailable": w.unavailable(),
            "entities": entities,
            "players": players,
            "last_error": s.last_error,
        })
    });
    let bus = app.delivery.broker.status();
    let (limits_kind, limits_fallbacks) = app.delivery.rate_limits.status();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "connections": app.conns.connections.total(),
        "signed_in": app.conns.registry.len(),
        "channels": app.delivery.hub.channel_count(),
        "bus": app.delivery.broker.kind(),
        "bus_status": {
            "state": bus.state.as_str(),
            "reconnects": bus.reconnects,
            "sent": bus.sent,
            "received": bus.received,
            "dropped": bus.dropped,
            "last_error": bus.last_error,
        },
        // `local_fallbacks`: takes decided by this instance alone while Redis was unreachable.
        "rate_limits": { "kind": limits_kind, "local_fallbacks": limits_fallbacks },
        "storage": format!("{:?}", app.storage.store.backend()).to_lowercase(),
        // Whether this instance posts on-chain announcements (one instance at a time).
        "leader": app.delivery.leader.is_leader(),
        "torii": torii,
    }))
}
