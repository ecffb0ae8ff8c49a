//! `/healthz` says the process is up; `/readyz` says it can serve: storage answers and the
//! server is not shutting down. Load balancers route on `/readyz`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
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
    match app.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "storage": "ok", "bus": app.broker.kind()})),
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
