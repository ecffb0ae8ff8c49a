//! Limits that follow the client, not the connection: per-IP limits behind trusted proxies,
//! sockets that never sign in, the connection cap for plain HTTP, slow HTTP clients.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use e2e::raw::upgrade_from;
use e2e::{Options, Server, addr, http};
use realtime_client::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn local() -> IpAddr {
    ip("127.0.0.1")
}

/// Behind a trusted proxy every client counts by its own address; without one, headers are
/// not believed and the proxy's address is the client.
#[tokio::test]
async fn per_ip_limits_use_the_forwarded_client_behind_trusted_proxies() {
    let limits = "upgrades_per_ip_burst = 2\nupgrades_per_ip_per_second = 0.01\n";
    let trusting = Server::start_with(Options {
        server: "trusted_proxies = [\"127.0.0.1/32\"]\n".into(),
        limits: limits.into(),
        ..Options::default()
    })
    .await;
    let url = trusting.ws_url();
    let from = |client: &'static str| vec![("x-forwarded-for", client)];
    for _ in 0..2 {
        upgrade_from(local(), trusting.addr, &url, &from("198.51.100.1"))
            .await
            .unwrap();
    }
    assert_eq!(
        upgrade_from(local(), trusting.addr, &url, &from("198.51.100.1"))
            .await
            .err(),
        Some(429),
        "the third upgrade of one client is refused"
    );
    // Another client behind the same proxy is not affected.
    upgrade_from(local(), trusting.addr, &url, &from("198.51.100.2"))
        .await
        .unwrap();
    // A client that writes its own header: the proxy appends the real address, which counts.
    upgrade_from(local(), trusting.addr, &url, &from("6.6.6.6, 198.51.100.1"))
        .await
        .expect_err("the appended hop is the client, already over its limit");

    let untrusting = Server::start_with(Options {
        limits: limits.into(),
        ..Options::default()
    })
    .await;
    let url = untrusting.ws_url();
    for client in ["198.51.100.1", "198.51.100.2"] {
        upgrade_from(local(), untrusting.addr, &url, &from(client))
            .await
            .unwrap();
    }
    assert_eq!(
        upgrade_from(local(), untrusting.addr, &url, &from("198.51.100.3"))
            .await
            .err(),
        Some(429),
        "without trusted proxies the header is ignored: one peer, one limit"
    );
}

/// A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`; they match IPv4 entries.
#[tokio::test]
async fn ipv4_mapped_peers_match_ipv4_trusted_proxies() {
    let server = Server::start_with(Options {
        server: "trusted_proxies = [\"127.0.0.1\"]\n".into(),
        env: vec![("TORII_REALTIME__SERVER__LISTEN".into(), "[::]:0".into())],
        limits: "upgrades_per_ip_burst = 1\nupgrades_per_ip_per_second = 0.01\n".into(),
        ..Options::default()
    })
    .await;
    let v4 = std::net::SocketAddr::new(local(), server.addr.port());
    let url = format!("ws://{v4}/v1/ws");
    for client in ["198.51.100.1", "198.51.100.2", "::ffff:198.51.100.3"] {
        upgrade_from(local(), v4, &url, &[("x-forwarded-for", client)])
            .await
            .unwrap_or_else(|s| panic!("{client}: {s}"));
    }
}

/// One host opening hundreds of sockets without a token holds at most
/// `max_unauthenticated_per_ip` of them; a player from another address still gets in, and
/// signing in frees the place.
#[tokio::test]
async fn token_less_sockets_of_one_host_do_not_lock_out_others() {
    let server = Server::start_with(Options {
        server: "max_connections = 40\n".into(),
        limits: "max_unauthenticated_per_ip = 8\n".into(),
        ..Options::default()
    })
    .await;
    let attacker = ip("127.0.0.2");
    let url = server.ws_url();
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        match upgrade_from(attacker, server.addr, &url, &[]).await {
            Ok(ws) => held.push(ws),
            Err(status) => {
                assert_eq!(status, 429);
                refused += 1;
            }
        }
    }
    assert_eq!((held.len(), refused), (8, 292));
    // A signed-in player from another address.
    let player = format!("{url}?token={}", server.token(&addr(1)));
    let mut ws = upgrade_from(ip("127.0.0.3"), server.addr, &player, &[])
        .await
        .expect("another host gets in");
    e2e::raw::send(&mut ws, r#"{"id":1,"op":"ping"}"#).await;
    // A token-less socket of the attacker that signs in frees its place for another.
    let token = server.token(&addr(2));
    e2e::raw::send(
        &mut held[0],
        &format!(r#"{{"id":1,"op":"auth","token":"{token}"}}"#),
    )
    .await;
    let mut freed = false;
    for _ in 0..50 {
        if upgrade_from(attacker, server.addr, &url, &[]).await.is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "signing in gives the place back");
}

async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Plain HTTP connections count against `max_connections`; silent or slow ones are closed
/// after `header_read_timeout`, which gives their places back.
#[tokio::test]
async fn idle_http_connections_count_and_are_closed_after_the_header_timeout() {
    let server = Server::start_with(Options {
        server: "max_connections = 3\nheader_read_timeout = \"500ms\"\n".into(),
        ..Options::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // A slow client that never finishes its headers.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let answer = read_response(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    // The header timeout closes all three; the places are free again.
    let started = std::time::Instant::now();
    assert!(!read_response(&mut slow).await.contains("200 OK"));
    assert!(started.elapsed() < Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = http::get(server.addr, "/healthz", &[]).await;
    assert_eq!(r.status, 200);
}

/// The publish limit belongs to the address: a second connection, or a reconnect, does not
/// come with a full bucket.
#[tokio::test]
async fn the_publish_limit_follows_the_address_across_connections() {
    let server = Server::start_with(Options {
        limits: "publish_burst = 3\npublish_per_second = 0.01\n".into(),
        ..Options::default()
    })
    .await;
    let first = server.client(&addr(1)).await;
    for i in 0..3 {
        first
            .publish("world", "hi", &format!("a{i}"))
            .await
            .unwrap();
    }
    let second = server.client(&addr(1)).await;
    let e = second.publish("world", "hi", "b0").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited), "{e}");
    drop(first);
    drop(second);
    let reconnected = server.client(&addr(1)).await;
    let e = reconnected.publish("world", "hi", "c0").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited), "{e}");
    // Another address has its own.
    let other = server.client(&addr(2)).await;
    other.publish("world", "hi", "d0").await.unwrap();
}

/// History pages (WebSocket and HTTP alike) and subscribes that read storage share one read
/// limit per address.
#[tokio::test]
async fn storage_reads_are_limited_per_address_over_websocket_and_http() {
    let server = Server::start_with(Options {
        limits: "read_burst = 4\nread_per_second = 0.01\n".into(),
        ..Options::default()
    })
    .await;
    let c = server.client(&addr(1)).await;
    c.history("world", realtime_client::History::default())
        .await
        .unwrap();
    c.subscribe("world", Some(0)).await.unwrap(); // recovery reads storage
    let token = server.token(&addr(1));
    let auth = format!("Bearer {token}");
    let r = http::get(
        server.addr,
        "/v1/channels/world/messages",
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    c.history("world", realtime_client::History::default())
        .await
        .unwrap();
    let e = c
        .history("world", realtime_client::History::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited), "{e}");
    let r = http::get(
        server.addr,
        "/v1/channels/world/messages",
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // A subscribe that needs no storage read (a channel followed already, no recovery) is
    // not counted.
    let other = server.client(&addr(2)).await;
    other.subscribe("world", None).await.unwrap();
    let again = server.client(&addr(1)).await;
    again.subscribe("world", None).await.unwrap();
    let e = again.subscribe("lobby", None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited), "{e}");
}

/// One host cannot hold every connection slot with plain HTTP connections: past
/// `max_http_connections_per_ip` it is refused, while another host still gets in.
#[tokio::test]
async fn http_connections_are_capped_per_client_ip() {
    let server = Server::start_with(Options {
        limits: "max_http_connections_per_ip = 3\n".into(),
        ..Options::default()
    })
    .await;
    let bind = |ip: &str| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::new(ip.parse().unwrap(), 0))
            .unwrap();
        socket
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(bind("127.0.0.2").connect(server.addr).await.unwrap());
    }
    let mut over = bind("127.0.0.2").connect(server.addr).await.unwrap();
    let answer = read_response(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    let mut other = bind("127.0.0.3").connect(server.addr).await.unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_response(&mut other).await.starts_with("HTTP/1.1 200"));
}

/// A request whose body trickles in is answered 408 after `server.request_timeout`.
#[tokio::test]
async fn a_request_that_takes_too_long_is_cut_off() {
    let server = Server::start_with(Options {
        server: "request_timeout = \"500ms\"\n".into(),
        ..Options::default()
    })
    .await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(
        b"POST /v1/auth/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let answer = read_response(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
