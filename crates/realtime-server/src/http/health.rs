//! `/healthz` says the process is up; `/readyz` says it can serve: storage answers and the
//! server is not shutting down. Load balancers route on `/readyz`.
//!
//! Probes come often and from anywhere, so the storage round trip behind `/readyz` is made
//! at most once per [`PROBE_TTL`]; other requests reuse its answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::App;

/// How long a storage probe's answer is reused.
pub const PROBE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The last storage probe and when it was made.
#[derive(Debug, Default)]
pub struct StorageProbe {
    last: tokio::sync::Mutex<Option<(std::time::Instant, Result<(), String>)>>,
}

impl StorageProbe {
    /// The answer of a probe made less than [`PROBE_TTL`] ago, or of `probe` now. Concurrent
    /// callers wait for one probe rather than each making their own.
    pub async fn check<F>(&self, probe: impl FnOnce() -> F) -> Result<(), String>
    where
        F: std::future::Future<Output = Result<(), String>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last
            && at.elapsed() < PROBE_TTL
        {
            return answer.clone();
        }
        let answer = probe().await;
        *last = Some((std::time::Instant::now(), answer.clone()));
        answer
    }
}

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
    let mut degraded = None;
    if let Some(world) = &app.permissions.world
        && let Some(reason) = world.unavailable()
    {
        let state = world.status.borrow().state.as_str();
        if !world.status.borrow().synced {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "reason": reason, "torii": state})),
            );
        }
        degraded = Some(reason);
    }
    let store = app.store.clone();
    let probe = app
        .storage_probe
        .check(|| async move { store.ping().await.map_err(|e| e.to_string()) })
        .await;
    match probe {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({"status": "ready", "storage": "ok", "bus": app.broker.kind(), "degraded": degraded}),
            ),
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
    let torii = app.permissions.world.as_ref().map(|w| {
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
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "connections": app.connections.total(),
        "signed_in": app.registry.len(),
        "channels": app.hub.channel_count(),
        "bus": app.broker.kind(),
        "storage": format!("{:?}", app.store.backend()).to_lowercase(),
        "torii": torii,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn storage_is_probed_at_most_once_a_second() {
        let probe = StorageProbe::default();
        let made = AtomicUsize::new(0);
        for _ in 0..100 {
            let answer = probe
                .check(|| async {
                    made.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await;
            assert_eq!(answer, Ok(()));
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        tokio::time::sleep(PROBE_TTL + std::time::Duration::from_millis(50)).await;
        let answer = probe
            .check(|| async {
                made.fetch_add(1, Ordering::SeqCst);
                Err("down".to_owned())
            })
            .await;
        assert_eq!(answer, Err("down".to_owned()));
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
