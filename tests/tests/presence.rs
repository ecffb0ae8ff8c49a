//! Presence end to end: an address with several sockets counts once and leaves with its
//! last; changes are coalesced, at most one push a second per channel, net of churn; only
//! subscribers that asked get them; the `presence` op and route follow read permissions.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use e2e::{Server, addr, http, quiet};
use realtime_client::{Client, ErrorCode, Event, PresenceChange, Push};

fn full(n: u32) -> String {
    format!("0x{:0>64}", format!("{:x}", 0x1000 + n))
}

/// The next `presence_change` on `channel`, within 3 s (changes go out once a second).
async fn change(c: &mut Client, channel: &str) -> PresenceChange {
    match c.next_event_within(Duration::from_secs(3)).await {
        Some(Event::Push(Push::PresenceChange {
            channel: ch,
            change,
        })) if ch == channel => change,
        other => panic!("expected a presence_change on {channel}, got {other:?}"),
    }
}

/// Nothing arrives for a bit more than one announcement period.
async fn silent(c: &mut Client) {
    if let Some(e) = c.next_event_within(Duration::from_millis(1500)).await {
        panic!("unexpected {e:?}");
    }
}

#[tokio::test]
async fn an_address_counts_once_and_leaves_with_its_last_socket() {
    let server = Server::start().await;
    let mut watcher = server.client(&addr(1)).await;
    let ok = watcher
        .subscribe_with_presence("world", None)
        .await
        .unwrap();
    let snapshot = ok.presence.unwrap();
    assert_eq!(
        (snapshot.count, snapshot.members.clone(), snapshot.complete),
        (1, vec![full(1)], true)
    );
    // Its own arrival is announced like anyone's, at the next announcement.
    assert_eq!(change(&mut watcher, "world").await.joined, vec![full(1)]);

    let phone = server.client(&addr(2)).await;
    let laptop = server.client(&addr(2)).await;
    phone.subscribe("world", None).await.unwrap();
    laptop.subscribe("world", None).await.unwrap();
    let joined = change(&mut watcher, "world").await;
    assert_eq!(
        (joined.joined, joined.left.len(), joined.count),
        (vec![full(2)], 0, 2)
    );
    // Subscribers that did not ask hear nothing of it.
    let mut phone = phone;
    quiet(&mut phone).await;

    phone.close().await.unwrap();
    silent(&mut watcher).await;
    let now = watcher.presence("world").await.unwrap();
    assert_eq!(now.count, 2, "the laptop is still there");
    laptop.unsubscribe("world").await.unwrap();
    let left = change(&mut watcher, "world").await;
    assert_eq!((left.left, left.count), (vec![full(2)], 1));
}

#[tokio::test]
async fn churn_is_coalesced_to_one_change_a_second_at_most() {
    let server = Server::start().await;
    let mut watcher = server.client(&addr(1)).await;
    watcher
        .subscribe_with_presence("world", None)
        .await
        .unwrap();
    assert_eq!(change(&mut watcher, "world").await.joined, vec![full(1)]);
    let steady = server.client(&addr(3)).await;
    steady.subscribe("world", None).await.unwrap();
    assert_eq!(change(&mut watcher, "world").await.joined, vec![full(3)]);

    // A flapping client: reconnects (subscribe, unsubscribe) 40 times over about two seconds.
    let flapper = server.client(&addr(2)).await;
    let start = Instant::now();
    for _ in 0..40 {
        flapper.subscribe("world", None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
        flapper.unsubscribe("world").await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let elapsed = start.elapsed();
    // Then one more second for a last announcement.
    let mut pushes = 0;
    while let Some(event) = watcher.next_event_within(Duration::from_millis(1500)).await {
        let Event::Push(Push::PresenceChange { change, .. }) = event else {
            panic!("{event:?}")
        };
        let flapper_in =
            change.joined == vec![full(2)] && change.left.is_empty() && change.count == 3;
        let flapper_out =
            change.left == vec![full(2)] && change.joined.is_empty() && change.count == 2;
        assert!(flapper_in || flapper_out, "{change:?}");
        pushes += 1;
    }
    let allowed = elapsed.as_secs() + 3;
    assert!(pushes <= allowed, "{pushes} changes in {elapsed:?}");
    // Whatever was announced, the flapper ended outside.
    assert_eq!(watcher.presence("world").await.unwrap().count, 2);
}

#[tokio::test]
async fn presence_follows_read_permissions_over_the_socket_and_http() {
    let server = Server::start().await;
    let a = server.client(&addr(1)).await;
    let b = server.client(&addr(2)).await;
    let c = server.client(&addr(3)).await;
    let dm = format!("dm:{}:{}", addr(1), addr(2));
    a.publish(&dm, "hi", "m1").await.unwrap();
    let ok = a.subscribe_with_presence(&dm, None).await.unwrap();
    assert_eq!(ok.presence.unwrap().count, 1);
    b.subscribe(&dm, None).await.unwrap();
    // The peer sees the other come online in the thread.
    let mut a = a;
    loop {
        match a.next_event_within(Duration::from_secs(3)).await {
            Some(Event::Push(Push::PresenceChange { change, .. })) => {
                if change.joined.contains(&full(2)) {
                    break;
                }
            }
            Some(Event::Push(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
    let e = c.presence(&dm).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let e = c.subscribe_with_presence(&dm, None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let path = format!("/v1/channels/{dm}/presence");
    let r = http::authed(server.addr, "GET", &path, &server.token(&addr(3)), None).await;
    assert_eq!(r.status, 403);
    let r = http::authed(server.addr, "GET", &path, &server.token(&addr(2)), None).await;
    assert_eq!(r.json()["count"], 2);
    assert_eq!(r.json()["members"], serde_json::json!([full(1), full(2)]));
}
