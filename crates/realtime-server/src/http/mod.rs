//! HTTP routes: the WebSocket endpoint, sign-in, health and readiness, the OpenAPI document
//! of them all, the features' routes, and the demo page when `[server] demo` is on, with CORS
//! from config. A route added here or in a feature needs its entry in [`openapi::routes`].

mod auth;
mod demo;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::session::{self, Features};
use crate::state::App;

/// Every route of the server: its own, and those of `features`.
pub fn router(app: App, features: Arc<Features>) -> Router {
    let cors = cors(&app);
    let limit = app.config.server.request_timeout;
    let mut routes = Router::new()
        .route(
            "/v1/ws",
            get(session::upgrade).layer(axum::Extension(features.clone())),
        )
        .merge(features.routes())
        .route("/v1/auth/challenge", post(auth::challenge))
        .route("/v1/auth/verify", post(auth::verify))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/status", get(health::status))
        .route("/v1/openapi.json", get(openapi::serve));
    if app.config.server.demo {
        routes = routes.merge(demo::routes());
    }
    if app.config.metrics.enabled && app.config.metrics.listen.is_none() {
        routes = routes.route("/metrics", get(metrics::serve));
    }
    routes
        .fallback(crate::web::not_found)
        .method_not_allowed_fallback(crate::web::method_not_allowed)
        .layer(cors)
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::web::with_deadline(limit, request, next)
        }))
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(app)
}

/// The router of `[metrics] listen`, when metrics have an address of their own.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics::serve))
        .fallback(crate::web::not_found)
        .with_state(app)
}

fn cors(app: &App) -> CorsLayer {
    let server = &app.config.server;
    let origins = if server.any_origin() {
        AllowOrigin::from(Any)
    } else {
        // Validated at config load: every entry is a valid header value.
        AllowOrigin::list(
            server
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}
