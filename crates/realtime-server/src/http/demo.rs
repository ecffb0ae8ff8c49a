//! The demo page at `/demo`, served only with `[server] demo = true`: a browser client of this
//! server for trying it during development.
//!
//! Its three files are written into `assets/demo/` by the TypeScript client's demo build and
//! embedded in the binary at compile time, so there is nothing to deploy beside the binary
//! and no request path ever reaches the file system.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX_HTML: &[u8] = include_bytes!("../../assets/demo/index.html");
const DEMO_JS: &[u8] = include_bytes!("../../assets/demo/demo.js");
const DEMO_CSS: &[u8] = include_bytes!("../../assets/demo/demo.css");

/// Everything from this origin only, nothing inline. `connect-src` names `ws:` and `wss:`
/// because browsers that predate CSP level 3 do not count a WebSocket to the same host as
/// `'self'`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; style-src 'self'; script-src 'self'";

/// The demo's routes, merged into the router only when the demo is on; otherwise these paths
/// fall through to the 404 of any unknown path.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/demo", get(index))
        .route("/demo/demo.js", get(script))
        .route("/demo/demo.css", get(style))
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", DEMO_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", DEMO_CSS)
}

/// One embedded file. `no-cache` (and no validator) makes a browser fetch it again on each
/// load, so the page of a rebuilt binary never runs a cached script of the previous build.
fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_loads_its_script_and_styles_from_the_served_paths() {
        let html = std::str::from_utf8(super::INDEX_HTML).unwrap_or_default();
        assert!(html.contains("/demo/demo.js"), "{html}");
        assert!(html.contains("/demo/demo.css"), "{html}");
    }
}
