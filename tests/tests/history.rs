//! History paging over the WebSocket and HTTP.

#![allow(clippy::unwrap_used)]

use e2e::{Options, Server, addr, http};
use realtime_client::{ErrorCode, History, HistoryPage};

fn seqs(page: &HistoryPage) -> Vec<u64> {
    page.messages.iter().map(|m| m.seq.unwrap()).collect()
}

#[tokio::test]
async fn pages_walk_back_and_forth_over_websocket_and_http() {
    let server = Server::start().await;
    let c = server.client(&addr(1)).await;
    for i in 1..=130 {
        c.publish("world", &format!("h{i}"), &format!("h{i}"))
            .await
            .unwrap();
    }
    let newest = c.history("world", History::default()).await.unwrap();
    assert_eq!(
        seqs(&newest),
        (81..=130).collect::<Vec<_>>(),
        "default limit 50"
    );
    assert!(newest.has_more);
    assert_eq!(newest.messages[0].body, "h81");
    let older = c
        .history(
            "world",
            History {
                before: Some(81),
                limit: Some(100),
                ..History::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&older), (1..=80).collect::<Vec<_>>());
    assert!(!older.has_more);
    let forward = c
        .history(
            "world",
            History {
                after: Some(120),
                limit: Some(5),
                ..History::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&forward), vec![121, 122, 123, 124, 125]);
    assert!(forward.has_more);

    let token = server.token(&addr(1));
    let bearer = format!("Bearer {token}");
    let r = http::get(
        server.addr,
        "/v1/channels/world/messages?before=11&limit=3",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page: HistoryPage = serde_json::from_value(r.json()).unwrap();
    assert_eq!(seqs(&page), vec![8, 9, 10]);
    assert!(page.has_more);
    assert_eq!(page.channel, "world");
    // The same page both ways.
    let ws = c
        .history(
            "world",
            History {
                before: Some(11),
                limit: Some(3),
                ..History::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ws, page);
}

#[tokio::test]
async fn history_refuses_bad_requests_with_codes() {
    let server = Server::start().await;
    let c = server.client(&addr(1)).await;
    let e = c
        .history(
            "world",
            History {
                limit: Some(101),
                ..History::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let e = c
        .history(
            "world",
            History {
                limit: Some(0),
                ..History::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));

    let token = server.token(&addr(1));
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let r = http::get(server.addr, "/v1/channels/world/messages", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = http::get(
        server.addr,
        "/v1/channels/world/messages",
        &[("Authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http::get(server.addr, "/v1/channels/Bad%20Name/messages", &auth).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_channel");
    let r = http::get(server.addr, "/v1/channels/world/messages?limit=500", &auth).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_request");
    let r = http::get(server.addr, "/v1/channels/world/messages?limit=x", &auth).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_request");
    let r = http::get(server.addr, "/v1/nowhere", &auth).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    // The WebSocket endpoint without an upgrade: a JSON error, not a bare status.
    let r = http::get(server.addr, "/v1/ws", &auth).await;
    assert_eq!(r.json()["error"]["code"], "bad_request", "{}", r.body);
    let r = http::request(server.addr, "DELETE", "/healthz", &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"]["code"], "bad_request");
}

#[tokio::test]
async fn health_and_readiness() {
    let server = Server::start().await;
    let r = http::get(server.addr, "/healthz", &[]).await;
    assert_eq!((r.status, r.json()["status"].clone()), (200, "ok".into()));
    let r = http::get(server.addr, "/readyz", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["storage"], "ok");
    let r = http::get(
        server.addr,
        "/healthz",
        &[("Origin", "https://game.example")],
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

/// A page larger than the send queue is cut to fit, with `has_more`, and paging on from its
/// edge reads everything: the reply never takes the connection over its budget.
#[tokio::test]
async fn a_page_larger_than_the_send_queue_is_cut_with_a_cursor_to_continue() {
    let server = Server::start_with(Options {
        limits: "max_frame_bytes = 16384\nsend_queue_bytes = 16384\n".into(),
        ..Options::default()
    })
    .await;
    let sender = server.client(&addr(2)).await;
    let body = "🦀".repeat(2000); // 8 KB of JSON each
    for i in 1..=20 {
        sender
            .publish("world", &body, &format!("h{i}"))
            .await
            .unwrap();
    }
    let reader = server.client(&addr(1)).await;
    let mut seen = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let args = History {
            before,
            limit: Some(100),
            ..History::default()
        };
        let page = reader
            .history("world", args)
            .await
            .expect("a page, not a close");
        let seqs = seqs(&page);
        assert!(!seqs.is_empty() && seqs.len() < 20, "cut to fit: {seqs:?}");
        seen.splice(0..0, seqs.iter().copied());
        before = seqs.first().copied();
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    // Forward paging from a cursor is cut the same way.
    let page = reader
        .history(
            "world",
            History {
                after: Some(0),
                limit: Some(100),
                ..History::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.messages[0].seq, Some(1));
    assert!(page.has_more);
}
