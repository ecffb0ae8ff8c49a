//! Connection lifecycle: graceful shutdown, slow consumers, heartbeats, token expiry.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::raw::{connect_small_buffer, read_to_close, send};
use e2e::{Options, Server, addr, close_code, http, message_push, next_push};
use futures_util::StreamExt;
use realtime_client::{Auth, Client, Event};
use tokio_tungstenite::tungstenite::Message;

/// A `world` subscriber that never reads, and 8 MB of messages published after it: more than
/// the kernel buffers between the two hold.
async fn stuck_subscriber_behind_8_mb(server: &Server) -> e2e::raw::RawSocket {
    let token = server.token(&addr(1));
    let url = format!("{}?token={token}", server.ws_url());
    let mut stuck = connect_small_buffer(server.addr, &url).await;
    send(&mut stuck, r#"{"id":1,"op":"subscribe","channel":"world"}"#).await;
    let sender = server.client(&addr(2)).await;
    let body = "🦀".repeat(2000);
    for i in 0..1000 {
        sender
            .publish("world", &body, &format!("b{i}"))
            .await
            .unwrap();
    }
    stuck
}

#[tokio::test]
async fn sigterm_tells_clients_to_reconnect_and_exits_cleanly() {
    let mut server = Server::start().await;
    let mut clients = Vec::new();
    for i in 0..5 {
        let c = server.client(&addr(i)).await;
        c.subscribe("world", None).await.unwrap();
        clients.push(c);
    }
    let ack = clients[0]
        .publish("world", "last words", "lw")
        .await
        .unwrap();
    assert_eq!(ack.seq, 1);
    server.terminate();
    for c in &mut clients {
        assert_eq!(
            close_code(c).await,
            Some(4000),
            "shutdown is a reconnect code"
        );
    }
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    let logs = server.logs();
    assert!(logs.iter().any(|l| l["message"] == "SIGTERM received"));
    assert!(logs.iter().any(|l| l["message"] == "stopped"));
    // No new connections once it has stopped.
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn shutdown_gives_up_on_connections_that_do_not_drain() {
    let mut server = Server::start_with(Options {
        server: "shutdown_timeout = \"1s\"\n".into(),
        limits: "send_queue_bytes = 67108864\n".into(),
        ..Options::default()
    })
    .await;
    // A client that never reads cannot receive its close frame.
    let _stuck = stuck_subscriber_behind_8_mb(&server).await;
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l["message"] == "shutdown timeout reached; dropping remaining connections"),
        "the stuck connection held shutdown until the timeout"
    );
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_with_a_reconnect_code() {
    let server = Server::start_with(Options {
        limits: "max_frame_bytes = 4096\nsend_queue_bytes = 16384\n".into(),
        ..Options::default()
    })
    .await;
    let token = server.token(&addr(1));
    let url = format!("{}?token={token}", server.ws_url());
    let mut slow = connect_small_buffer(server.addr, &url).await;
    send(&mut slow, r#"{"id":1,"op":"subscribe","channel":"world"}"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A healthy subscriber next to it must not be affected.
    let mut healthy = server.client(&addr(3)).await;
    healthy.subscribe("world", None).await.unwrap();

    let sender = server.client(&addr(2)).await;
    let body = "y".repeat(1900);
    let mut sent = 0u64;
    let slow_logged = |server: &Server| {
        server.logs().iter().any(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("slow consumer"))
        })
    };
    while !slow_logged(&server) {
        sent += 1;
        assert!(sent < 20_000, "the slow consumer was never disconnected");
        sender
            .publish("world", &body, &format!("m{sent}"))
            .await
            .unwrap();
        // Keep the healthy client drained.
        let (_, seq, _) = message_push(next_push(&mut healthy).await);
        assert_eq!(seq, sent);
    }
    // The slow client reads what reached it, then the close: reconnect range.
    let (code, frames) = read_to_close(&mut slow, Duration::from_secs(10)).await;
    assert_eq!(code, Some(4001));
    assert!(
        (frames as u64) < sent,
        "it was disconnected, not fed everything"
    );
    // Publishing goes on for everyone else.
    let ack = sender.publish("world", "after", "after").await.unwrap();
    assert_eq!(message_push(next_push(&mut healthy).await).1, ack.seq);
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_heartbeat_timeout() {
    let server = Server::start_with(Options {
        server: "ping_interval = \"1s\"\npong_timeout = \"500ms\"\n".into(),
        ..Options::default()
    })
    .await;
    let token = server.token(&addr(1));
    let url = format!("{}?token={token}", server.ws_url());
    // Not reading means not answering pings.
    let mut silent = connect_small_buffer(server.addr, &url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, _) = read_to_close(&mut silent, Duration::from_secs(5)).await;
    assert_eq!(code, Some(4002));

    // A client that answers pings (any normal client) stays connected.
    let c = server.client(&addr(2)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.request("ping", serde_json::json!({})).await.unwrap();
}

#[tokio::test]
async fn the_server_pings_and_a_live_socket_answers() {
    let server = Server::start_with(Options {
        server: "ping_interval = \"1s\"\n".into(),
        ..Options::default()
    })
    .await;
    let token = server.token(&addr(1));
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}?token={token}", server.ws_url()))
            .await
            .unwrap();
    let got_ping = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Ping(_)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(got_ping);
}

#[tokio::test]
async fn an_expiring_session_is_told_then_closed() {
    let server = Server::start().await;
    let token = server.token_with(&addr(1), &["--ttl", "2s"]);
    let mut c = Client::connect(&server.ws_url(), Auth::Header(token))
        .await
        .unwrap();
    assert_eq!(next_push(&mut c).await.name(), "connected");
    c.subscribe("world", None).await.unwrap();
    let push = match c.next_event_within(Duration::from_secs(5)).await {
        Some(Event::Push(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(push.name(), "token_expired");
    assert_eq!(close_code(&mut c).await, Some(4402));
    let r = http::get(server.addr, "/healthz", &[]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_even_under_the_queue_budget() {
    let server = Server::start_with(Options {
        server: "ping_interval = \"1s\"\npong_timeout = \"500ms\"\n".into(),
        limits: "send_queue_bytes = 67108864\n".into(),
        ..Options::default()
    })
    .await;
    // The writer is stuck on frames the peer never reads, with the 64 MB queue far from full.
    let _stuck = stuck_subscriber_behind_8_mb(&server).await;
    // The writer is stuck on a frame the peer never reads; the heartbeat allowance ends it.
    server
        .wait_for_log(Duration::from_secs(15), |l| {
            l["message"] == "disconnected"
                && l["span"]["address"]
                    .as_str()
                    .is_some_and(|a| a.ends_with("1001"))
        })
        .await;
}

#[tokio::test]
async fn a_refresh_extends_a_live_session_without_reconnecting() {
    let server = Server::start().await;
    let short = server.token_with(&addr(1), &["--ttl", "2s"]);
    let mut c = Client::connect(&server.ws_url(), Auth::Header(short))
        .await
        .unwrap();
    assert_eq!(next_push(&mut c).await.name(), "connected");
    c.subscribe("world", None).await.unwrap();
    let longer = server.token_with(&addr(1), &["--ttl", "1h"]);
    let ok = c.refresh(&longer).await.unwrap();
    assert!(ok.expires_at.ends_with('Z'), "{ok:?}");
    // Past the first token's expiry the socket is still open and subscribed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sender = server.client(&addr(2)).await;
    sender.publish("world", "still there?", "r1").await.unwrap();
    assert_eq!(message_push(next_push(&mut c).await).2.body, "still there?");
    // A token for another address is refused, and the session stays as it was.
    let other = server.token(&addr(9));
    let e = c
        .request("refresh", serde_json::json!({"token": other}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(realtime_client::ErrorCode::Forbidden));
    let e = c
        .request("refresh", serde_json::json!({"token": "garbage"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(realtime_client::ErrorCode::Unauthorized));
}

/// An HTTP client stalled mid-request does not hold the process past `shutdown_timeout`.
#[tokio::test]
async fn shutdown_is_bounded_even_with_a_stalled_http_request() {
    use tokio::io::AsyncWriteExt;
    let mut server = Server::start_with(Options {
        server: "shutdown_timeout = \"1s\"\nheader_read_timeout = \"60s\"\n".into(),
        ..Options::default()
    })
    .await;
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // And one waiting for its request body.
    let mut body = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    body.write_all(b"POST /v1/auth/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "exited {:?} after SIGTERM",
        started.elapsed()
    );
}

/// While connections drain, the listener stays open and `/readyz` answers 503, so load
/// balancers see the instance leave rather than a refused connection.
#[tokio::test]
async fn readyz_answers_503_while_shutting_down_until_the_listener_closes() {
    let mut server = Server::start_with(Options {
        server: "shutdown_timeout = \"6s\"\n".into(),
        limits: "send_queue_bytes = 67108864\n".into(),
        ..Options::default()
    })
    .await;
    // Keeps the drain going until the timeout.
    let _stuck = stuck_subscriber_behind_8_mb(&server).await;
    assert_eq!(http::get(server.addr, "/readyz", &[]).await.status, 200);
    server.terminate();
    server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "shutting down: asking connections to reconnect"
        })
        .await;
    for _ in 0..5 {
        let r = http::get(server.addr, "/readyz", &[]).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["reason"], "shutting down");
    }
    assert_eq!(http::get(server.addr, "/healthz", &[]).await.status, 200);
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success());
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed once the drain ends"
    );
}
