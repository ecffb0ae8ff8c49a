//! World chat end to end: fan-out, ordering, idempotent publish, auth methods.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use e2e::{Server, addr, connected_push, message_push, messages, next_push, quiet};
use realtime_client::{Auth, Client, ErrorCode, Event};
use serde_json::json;

#[tokio::test]
async fn a_message_reaches_every_subscriber_once() {
    let server = Server::start().await;
    let mut subscribers = Vec::new();
    for i in 0..40 {
        let c = server.client(&addr(i)).await;
        let ok = c.subscribe("world", None).await.unwrap();
        assert_eq!(ok.channel, "world");
        subscribers.push(c);
    }
    let sender = server.client(&addr(100)).await;
    let ack = sender.publish("world", "gm everyone", "m-1").await.unwrap();
    assert_eq!(ack.seq, 1);
    assert!(!ack.duplicate);
    for c in &mut subscribers {
        let (channel, seq, m) = message_push(next_push(c).await);
        assert_eq!(channel, "world");
        assert_eq!(seq, 1);
        assert_eq!(m.body, "gm everyone");
        assert_eq!(m.client_msg_id.as_deref(), Some("m-1"));
        // The sender is the canonical form of the address it signed in with.
        assert_eq!(
            m.sender,
            format!("0x{:0>64}", format!("{:x}", 0x1000 + 100))
        );
        assert!(m.ts.ends_with('Z'));
    }
    for c in &mut subscribers {
        quiet(c).await;
    }
}

#[tokio::test]
async fn concurrent_publishers_are_seen_in_one_order_by_all() {
    let server = Server::start().await;
    let mut watchers = Vec::new();
    for i in 0..3 {
        let c = server.client(&addr(i)).await;
        c.subscribe("world", None).await.unwrap();
        watchers.push(c);
    }
    let mut tasks = Vec::new();
    for p in 0..5u32 {
        let client = server.client(&addr(10 + p)).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let ack = client
                    .publish("world", &format!("p{p}-{i}"), &format!("p{p}-{i}"))
                    .await
                    .unwrap();
                assert!(!ack.duplicate);
            }
            client
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut orders = Vec::new();
    for c in &mut watchers {
        let got = messages(c, 100).await;
        let seqs: Vec<u64> = got.iter().map(|m| m.1).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "gap-free, in order");
        // Each publisher's own messages keep their order.
        let mut last: HashMap<String, u32> = HashMap::new();
        for (_, _, body) in &got {
            let (p, i) = body.split_once('-').unwrap();
            let i: u32 = i.parse().unwrap();
            if let Some(prev) = last.insert(p.to_owned(), i) {
                assert!(i > prev, "{body} after {p}-{prev}");
            }
        }
        orders.push(got);
        quiet(c).await;
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "every subscriber sees one order"
    );
}

#[tokio::test]
async fn a_retried_publish_is_stored_once_and_gets_the_original_ack() {
    let server = Server::start().await;
    let mut watcher = server.client(&addr(1)).await;
    watcher.subscribe("world", None).await.unwrap();
    let sender = server.client(&addr(2)).await;
    let first = sender
        .publish("world", "only once", "retry-1")
        .await
        .unwrap();
    let retry = sender
        .publish("world", "only once", "retry-1")
        .await
        .unwrap();
    assert_eq!(retry.seq, first.seq);
    assert_eq!(retry.ts, first.ts);
    assert!(retry.duplicate);
    // Even from a new connection of the same address (a retry after a reconnect).
    let reconnected = server.client(&addr(2)).await;
    let again = reconnected
        .publish("world", "only once", "retry-1")
        .await
        .unwrap();
    assert_eq!(again.seq, first.seq);
    assert_eq!(messages(&mut watcher, 1).await[0].2, "only once");
    quiet(&mut watcher).await;
    // Reusing the id for other text is a conflict, not a silent success.
    let err = sender
        .publish("world", "different text", "retry-1")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict));
    let next = sender.publish("world", "next", "retry-2").await.unwrap();
    assert_eq!(next.seq, 2, "retries consumed no seq");
}

#[tokio::test]
async fn every_way_of_presenting_a_token_works() {
    let server = Server::start().await;
    let token = server.token("0xABC");
    for auth in [
        Auth::Header(token.clone()),
        Auth::Subprotocol(token.clone()),
        Auth::Query(token.clone()),
    ] {
        let mut c = Client::connect(&server.ws_url(), auth.clone())
            .await
            .unwrap();
        let p = connected_push(next_push(&mut c).await);
        assert_eq!(p.address, format!("0x{:0>64}", "abc"), "{auth:?}");
        assert_eq!(p.protocol, 1);
        assert_eq!(p.limits.history_max_limit, 100);
        c.request("ping", json!({})).await.unwrap();
    }
    // And the auth op, for a socket opened without one.
    let mut c = Client::connect(&server.ws_url(), Auth::None).await.unwrap();
    let ok = c.auth(&token).await.unwrap();
    assert_eq!(ok.address, format!("0x{:0>64}", "abc"));
    assert!(matches!(
        c.next_event_within(Duration::from_secs(2)).await,
        Some(Event::Push(p)) if p.name() == "connected"
    ));
    c.subscribe("world", None).await.unwrap();
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let server = Server::start().await;
    let mut c = server.client(&addr(1)).await;
    c.subscribe("world", None).await.unwrap();
    c.subscribe("guild:7", None).await.unwrap();
    let sender = server.client(&addr(2)).await;
    sender.publish("world", "one", "a").await.unwrap();
    assert_eq!(messages(&mut c, 1).await[0].1, 1);
    c.unsubscribe("world").await.unwrap();
    sender.publish("world", "two", "b").await.unwrap();
    sender.publish("guild:7", "guild only", "c").await.unwrap();
    let got = messages(&mut c, 1).await;
    assert_eq!(got[0].0, "guild:7");
    quiet(&mut c).await;
}

#[tokio::test]
async fn tokens_from_the_games_own_backend_are_accepted() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let secret = "the game backend's shared secret, 32+ bytes";
    let server = e2e::Server::start_with(e2e::Options {
        toml: format!(
            "[auth.external]\nissuer = \"https://auth.game.example\"\naudience = \"chat\"\nalgorithm = \"HS256\"\nsecret = \"{secret}\"\naddress_claim = \"wallet\"\n"
        ),
        ..e2e::Options::default()
    })
    .await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let token = |aud: &str| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({"iss": "https://auth.game.example", "aud": aud, "exp": exp, "sub": "u1", "wallet": "0xBEEF"}),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let mut c = Client::connect(&server.ws_url(), Auth::Header(token("chat")))
        .await
        .unwrap();
    let p = connected_push(next_push(&mut c).await);
    assert_eq!(p.address, format!("0x{:0>64}", "beef"));
    c.subscribe("world", None).await.unwrap();
    let mut wrong = Client::connect(&server.ws_url(), Auth::Header(token("another-app")))
        .await
        .unwrap();
    assert_eq!(e2e::close_code(&mut wrong).await, Some(4401));
}

/// Publishes sent back to back on one connection, without waiting for replies, are all
/// acknowledged; their seqs follow the order they were sent in, and so do their replies.
#[tokio::test]
async fn pipelined_publishes_commit_in_the_order_sent() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let server = Server::start().await;
    let mut watcher = server.client(&addr(1)).await;
    watcher.subscribe("world", None).await.unwrap();
    let url = format!("{}?token={}", server.ws_url(), server.token(&addr(2)));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    const N: u64 = 300;
    // More than a connection may have in flight: the rest wait for slots, none is lost.
    for id in 1..=N {
        let frame = json!({"id": id, "op": "publish", "channel": "world",
            "body": format!("p{id}"), "client_msg_id": format!("p{id}")});
        ws.send(Message::text(frame.to_string())).await.unwrap();
    }
    let mut replies = Vec::new();
    while replies.len() < N as usize {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("every publish is answered")
            .unwrap()
            .unwrap();
        let Message::Text(text) = frame else { continue };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if v.get("id").is_some() {
            assert!(v.get("ok").is_some(), "{v}");
            replies.push((v["id"].as_u64().unwrap(), v["ok"]["seq"].as_u64().unwrap()));
        }
    }
    let expected: Vec<(u64, u64)> = (1..=N).map(|i| (i, i)).collect();
    assert_eq!(replies, expected, "replies and seqs in the order sent");
    let got = messages(&mut watcher, N as usize).await;
    let sent: Vec<(String, u64, String)> = (1..=N)
        .map(|i| ("world".into(), i, format!("p{i}")))
        .collect();
    assert_eq!(got, sent);
}
