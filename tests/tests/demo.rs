//! The demo page: absent unless `[server] demo` is on, then served from the binary with
//! headers that keep it to its own origin.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{Options, Server, http};

#[tokio::test]
async fn the_demo_is_not_served_by_default() {
    let server = Server::start().await;
    for path in ["/demo", "/demo/demo.js", "/demo/demo.css"] {
        let r = http::get(server.addr, path, &[]).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn the_demo_is_served_when_switched_on() {
    let server = Server::start_with(Options {
        env: vec![("TORII_REALTIME__SERVER__DEMO".into(), "true".into())],
        ..Options::default()
    })
    .await;
    server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["level"] == "WARN" && l["message"].as_str().is_some_and(|m| m.contains("/demo"))
        })
        .await;

    let csp = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
               style-src 'self'; script-src 'self'";
    for (path, content_type, needle) in [
        ("/demo", "text/html; charset=utf-8", "/demo/demo.js"),
        ("/demo/demo.js", "text/javascript; charset=utf-8", ""),
        ("/demo/demo.css", "text/css; charset=utf-8", ""),
    ] {
        let r = http::get(server.addr, path, &[]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("content-security-policy"), Some(csp), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert!(r.body.contains(needle), "{path}: {}", r.body);
    }
    // The page names its stylesheet at the path served.
    let page = http::get(server.addr, "/demo", &[]).await;
    assert!(page.body.contains("/demo/demo.css"), "{}", page.body);

    // Other paths under /demo are unknown, and the rest of the server is unchanged.
    assert_eq!(
        http::get(server.addr, "/demo/other.js", &[]).await.status,
        404
    );
    assert_eq!(http::get(server.addr, "/healthz", &[]).await.status, 200);
}
