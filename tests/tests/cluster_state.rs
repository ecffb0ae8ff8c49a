//! State shared by several instances over one Redis: rate limits, typing notices, presence
//! and per-address connection caps hold across instances, and a killed instance's members
//! leave presence once their entries expire. Every test has its own database and Redis.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use e2e::pair::Pair;
use e2e::{Options, Server, addr, close_code, drop_postgres, http, next_push};
use realtime_client::{Auth, Client, ErrorCode, Event, PresenceSnapshot, Push};
use serde_json::Value;

async fn status(server: &Server) -> Value {
    http::get(server.addr, "/v1/status", &[]).await.json()
}

fn full(n: u32) -> String {
    format!("0x{:0>64}", format!("{:x}", 0x1000 + n))
}

/// Asks `c` for the presence of `channel` until `check` holds, for up to `within`.
async fn presence_until(
    c: &Client,
    channel: &str,
    within: Duration,
    check: impl Fn(&PresenceSnapshot) -> bool,
) -> PresenceSnapshot {
    let deadline = Instant::now() + within;
    loop {
        let p = c.presence(channel).await.unwrap();
        if check(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "presence stayed {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_address_is_rate_limited_once_across_instances() {
    let pair = Pair::start(Options {
        limits: "publish_burst = 3\npublish_per_second = 0.01\n".into(),
        ..Options::default()
    })
    .await;
    let on_a = pair.a.client(&addr(1)).await;
    let on_b = pair.b.client(&addr(1)).await;
    on_a.publish("world", "1", "a1").await.unwrap();
    on_b.publish("world", "2", "b1").await.unwrap();
    on_a.publish("world", "3", "a2").await.unwrap();
    let e = on_b.publish("world", "4", "b2").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited));
    let e = on_a.publish("world", "5", "a3").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited));
    // Another address has its own bucket.
    pair.b
        .client(&addr(2))
        .await
        .publish("world", "6", "x")
        .await
        .unwrap();
    let s = status(&pair.a).await;
    assert_eq!(s["rate_limits"]["kind"], "redis");
    assert_eq!(s["rate_limits"]["local_fallbacks"], 0);
    pair.finish().await;
}

#[tokio::test]
async fn a_typing_notice_reaches_subscribers_on_the_other_instance() {
    let pair = Pair::start(Options::default()).await;
    let mut reader = pair.b.client(&addr(2)).await;
    reader.subscribe("world", None).await.unwrap();
    let typer = pair.a.client(&addr(1)).await;
    typer.subscribe("world", None).await.unwrap();
    typer.typing("world").await.unwrap();
    let Push::Typing { channel, typing } = next_push(&mut reader).await else {
        panic!("expected a typing push")
    };
    assert_eq!((channel.as_str(), typing.address), ("world", full(1)));
    pair.finish().await;
}

#[tokio::test]
async fn presence_counts_an_address_once_across_instances_and_devices() {
    let pair = Pair::start(Options::default()).await;
    let mut watcher = pair.a.client(&addr(9)).await;
    watcher
        .subscribe_with_presence("world", None)
        .await
        .unwrap();
    let on_a = pair.a.client(&addr(1)).await;
    let on_b = pair.b.client(&addr(1)).await;
    let other_b = pair.b.client(&addr(1)).await;
    for c in [&on_a, &on_b, &other_b] {
        c.subscribe("world", None).await.unwrap();
    }
    let members = vec![full(1), full(9)];
    let p = presence_until(&watcher, "world", Duration::from_secs(5), |p| {
        p.members == members
    })
    .await;
    assert_eq!(p.count, 2, "one address on two instances counts once");
    // Asked through B, the same answer (once A's round has written its members).
    let asker = pair.b.client(&addr(5)).await;
    presence_until(&asker, "world", Duration::from_secs(3), |p| {
        p.members == members
    })
    .await;

    // Gone from A: still present through B, so nothing is announced as leaving.
    on_a.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(watcher.presence("world").await.unwrap().members, members);
    on_b.close().await.unwrap();
    other_b.close().await.unwrap();
    presence_until(&watcher, "world", Duration::from_secs(5), |p| {
        p.members == vec![full(9)]
    })
    .await;
    // The watcher on A heard of 0x…1 joining and, once its last socket anywhere left, leaving.
    let mut joined = false;
    let mut left = false;
    while let Some(e) = watcher.next_event_within(Duration::from_secs(3)).await {
        if let Event::Push(Push::PresenceChange { change, .. }) = e {
            joined |= change.joined.contains(&full(1));
            left |= change.left.contains(&full(1));
            assert!(
                joined || !change.left.contains(&full(1)),
                "left before joining"
            );
            if left {
                break;
            }
        }
    }
    assert!(joined && left, "joined {joined}, left {left}");
    pair.finish().await;
}

#[tokio::test]
async fn a_killed_instance_s_members_leave_presence() {
    let pair = Pair::start(Options::default()).await;
    let watcher = pair.a.client(&addr(9)).await;
    watcher.subscribe("world", None).await.unwrap();
    let on_b = pair.b.client(&addr(1)).await;
    on_b.subscribe("world", None).await.unwrap();
    presence_until(&watcher, "world", Duration::from_secs(5), |p| p.count == 2).await;
    let killed = Instant::now();
    drop(pair.b); // SIGKILL: no goodbye.
    presence_until(&watcher, "world", Duration::from_secs(15), |p| {
        p.members == vec![full(9)]
    })
    .await;
    assert!(
        killed.elapsed() < Duration::from_secs(13),
        "{:?}",
        killed.elapsed()
    );
    drop(pair.a);
    drop_postgres(&pair.db).await;
}

#[tokio::test]
async fn the_connection_cap_counts_every_instance() {
    let pair = Pair::start(Options {
        limits: "max_connections_per_address = 2\n".into(),
        ..Options::default()
    })
    .await;
    let first = pair.a.client(&addr(1)).await;
    let _second = pair.b.client(&addr(1)).await;
    let token = pair.a.token(&addr(1));
    let mut third = Client::connect(&pair.a.ws_url(), Auth::Header(token.clone()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut third).await, Some(4429));
    let fourth = Client::connect(&pair.b.ws_url(), Auth::None).await.unwrap();
    let e = fourth.auth(&token).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::TooManyConnections));
    // A closed connection frees its place on the other instance.
    first.close().await.unwrap();
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Client::connect(&pair.b.ws_url(), Auth::Header(token.clone()))
            .await
            .unwrap();
        if let Some(Event::Push(p)) = c.next_event_within(Duration::from_secs(2)).await
            && p.name() == "connected"
        {
            break;
        }
        assert!(Instant::now() < deadline, "the place was not freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pair.finish().await;
}
