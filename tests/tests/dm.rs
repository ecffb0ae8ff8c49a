//! Direct messages end to end: a thread is private to its two participants over every op and
//! route, the first message starts it (under the `[dm]` rule) and tells both sides, blocks
//! refuse the blocked side, and the thread list pages with last message, unread and online.

#![allow(clippy::unwrap_used)]

use e2e::{Options, Server, addr, http, message_push, next_push, quiet};
use realtime_client::{ErrorCode, History, Push};
use serde_json::json;

/// The full spelling of test address `n`, as pushes and replies carry it.
fn full(n: u32) -> String {
    format!("0x{:0>64}", format!("{:x}", 0x1000 + n))
}

/// The thread between test addresses `a` and `b`.
fn thread(a: u32, b: u32) -> String {
    let (lo, hi) = (a.min(b), a.max(b));
    format!("dm:{}:{}", addr(lo), addr(hi))
}

#[tokio::test]
async fn a_thread_is_private_to_its_two_participants() {
    let server = Server::start().await;
    let mut a = server.client(&addr(1)).await;
    let mut b = server.client(&addr(2)).await;
    let mut c = server.client(&addr(3)).await;
    c.subscribe("world", None).await.unwrap();
    let dm = thread(1, 2);

    // Either spelling of the pair names one thread; the first message starts it.
    let reversed = format!("dm:{}:0x{:0>10x}", addr(2), 0x1001);
    let ack = a.publish(&reversed, "psst", "m1").await.unwrap();
    assert_eq!((ack.channel.as_str(), ack.seq), (dm.as_str(), 1));
    for socket in [&mut a, &mut b] {
        let Push::DmStarted { channel, started } = next_push(socket).await else {
            panic!("expected dm_started")
        };
        assert_eq!(channel, dm);
        assert_eq!(started.started_by, full(1));
        assert_eq!(started.participants, vec![full(1), full(2)]);
    }
    let ok = b.subscribe(&dm, Some(0)).await.unwrap();
    assert_eq!((ok.recovered, ok.replayed), (Some(true), 1));
    assert_eq!(message_push(next_push(&mut b).await).2.body, "psst");

    // A third party: every op on the thread is refused, whatever the spelling.
    for name in [dm.clone(), reversed.clone()] {
        let refused = [
            c.subscribe(&name, Some(0)).await.unwrap_err(),
            c.publish(&name, "let me in", "c1").await.unwrap_err(),
            c.history(&name, History::default()).await.unwrap_err(),
            c.typing(&name).await.unwrap_err(),
            c.read(&name, 1).await.unwrap_err(),
        ];
        for e in refused {
            assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{name}: {e:?}");
        }
    }
    // … and every route.
    let token = server.token(&addr(3));
    let path = format!("/v1/channels/{dm}/messages");
    let send = json!({"body": "hi", "client_msg_id": "h1"});
    let read = json!({"seq": 1});
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("POST", path.clone(), Some(&send)),
        ("POST", format!("/v1/channels/{dm}/read"), Some(&read)),
    ] {
        let r = http::authed(server.addr, method, &path, &token, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "forbidden");
    }
    // Its own lists show nothing of the thread, and nothing of it was pushed to it.
    assert!(c.threads(None, None).await.unwrap().threads.is_empty());
    assert!(c.unread().await.unwrap().channels.is_empty());
    let r = http::authed(server.addr, "GET", "/v1/dm/threads", &token, None).await;
    assert_eq!(r.json(), json!({"threads": []}));
    a.publish(&dm, "still private", "m2").await.unwrap();
    assert_eq!(
        message_push(next_push(&mut b).await).2.body,
        "still private"
    );
    quiet(&mut c).await;
    // Malformed thread names are not found; a thread with oneself is a bad request.
    let e = c.subscribe("dm:0x1", None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    let e = c.publish(&thread(3, 3), "me", "s1").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
}

#[tokio::test]
async fn direct_messages_work_over_http_alike() {
    let server = Server::start().await;
    let mut b = server.client(&addr(2)).await;
    let dm = thread(1, 2);
    let token = server.token(&addr(1));
    let path = format!("/v1/channels/{dm}/messages");
    let send = json!({"body": "from a bot", "client_msg_id": "h1"});
    let r = http::authed(server.addr, "POST", &path, &token, Some(&send)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.json()["seq"].clone(), r.json()["duplicate"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(next_push(&mut b).await.name(), "dm_started");
    b.subscribe(&dm, Some(0)).await.unwrap();
    assert_eq!(message_push(next_push(&mut b).await).2.body, "from a bot");
    // A retry is the stored message, not a second one.
    let r = http::authed(server.addr, "POST", &path, &token, Some(&send)).await;
    assert_eq!(
        (r.json()["seq"].clone(), r.json()["duplicate"].clone()),
        (json!(1), json!(true))
    );
    quiet(&mut b).await;
    // Bad input gets the socket's codes.
    for (body, code) in [
        (
            json!({"body": "  ", "client_msg_id": "h2"}),
            "empty_message",
        ),
        (json!({"body": "x"}), "bad_request"),
        (
            json!({"body": "other text", "client_msg_id": "h1"}),
            "conflict",
        ),
    ] {
        let r = http::authed(server.addr, "POST", &path, &token, Some(&body)).await;
        assert_eq!(r.json()["error"]["code"], code, "{body}: {}", r.body);
    }
    let r = http::authed(server.addr, "GET", &path, &token, None).await;
    assert_eq!(r.json()["messages"][0]["body"], "from a bot");
}

#[tokio::test]
async fn a_block_refuses_the_blocked_side_until_lifted() {
    let server = Server::start().await;
    let a = server.client(&addr(1)).await;
    let mut b = server.client(&addr(2)).await;
    let dm = thread(1, 2);
    a.publish(&dm, "hello", "m1").await.unwrap();
    assert_eq!(next_push(&mut b).await.name(), "dm_started");
    b.subscribe(&dm, None).await.unwrap();

    let ok = b.block(&addr(1)).await.unwrap();
    assert!(ok.blocked && ok.changed);
    assert!(!b.block(&addr(1)).await.unwrap().changed, "blocking twice");
    let e = a.publish(&dm, "hello?", "m2").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Blocked));
    assert!(e.to_string().contains("does not accept"), "{e}");
    let e = a.typing(&dm).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Blocked));
    let r = http::authed(
        server.addr,
        "POST",
        &format!("/v1/channels/{dm}/messages"),
        &server.token(&addr(1)),
        Some(&json!({"body": "over http", "client_msg_id": "h1"})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (403, json!("blocked"))
    );
    // The blocker sees nothing from them, and cannot write to them either while blocking.
    quiet(&mut b).await;
    let e = b.publish(&dm, "and stay out", "b1").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Blocked));
    assert!(e.to_string().contains("unblock"), "{e}");

    // Neither side learns the other's online status or reading.
    let mut a = a;
    assert_eq!(next_push(&mut a).await.name(), "dm_started");
    assert!(!a.threads(None, None).await.unwrap().threads[0].peer_online);
    assert!(!b.threads(None, None).await.unwrap().threads[0].peer_online);
    b.read(&dm, 1).await.unwrap();
    quiet(&mut a).await;

    let list = b.blocks().await.unwrap();
    assert_eq!(list.blocked.len(), 1);
    assert_eq!(list.blocked[0].address, full(1));
    let token = server.token(&addr(2));
    let r = http::authed(server.addr, "GET", "/v1/blocks", &token, None).await;
    assert_eq!(r.json()["blocked"][0]["address"], full(1));
    let e = b.block(&addr(2)).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let e = b
        .request("block", json!({"address": "bob"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));

    // Lifted over HTTP: the thread works again.
    let path = format!("/v1/blocks/{}", addr(1));
    let r = http::authed(server.addr, "DELETE", &path, &token, None).await;
    assert_eq!(
        r.json(),
        json!({"address": full(1), "blocked": false, "changed": true})
    );
    assert!(b.blocks().await.unwrap().blocked.is_empty());
    a.publish(&dm, "friends again", "m3").await.unwrap();
    assert_eq!(
        message_push(next_push(&mut b).await).2.body,
        "friends again"
    );
    let r = http::authed(server.addr, "PUT", &path, &token, None).await;
    assert_eq!(r.json()["blocked"], true);
}

#[tokio::test]
async fn the_dm_rule_decides_who_may_start_a_thread() {
    let server = Server::start_with(Options {
        toml: "[dm]\nstart = \"admin\"\n".into(),
        env: vec![(
            "TORII_REALTIME__AUTH__ADMINS".into(),
            format!("[\"{}\",\"{}\"]", addr(9), addr(8)),
        )],
        ..Options::default()
    })
    .await;
    let player = server.client(&addr(1)).await;
    let admin = server.client(&addr(9)).await;
    let e = player.publish(&thread(1, 2), "hi", "p1").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    assert!(e.to_string().contains("start"), "{e}");
    // Nor may it say it is typing there before a thread exists.
    let e = player.typing(&thread(1, 2)).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    // An admin may not write to a non-admin either: the rule holds for both sides.
    let e = admin.publish(&thread(9, 1), "hi", "a1").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    admin.publish(&thread(9, 8), "hi", "a2").await.unwrap();
    // Nothing was started by the refusals.
    assert!(player.threads(None, None).await.unwrap().threads.is_empty());

    let off = Server::start_with(Options {
        toml: "[dm]\nenabled = false\n".into(),
        ..Options::default()
    })
    .await;
    let c = off.client(&addr(1)).await;
    let e = c.publish(&thread(1, 2), "hi", "o1").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
}

#[tokio::test]
async fn the_thread_list_pages_newest_first_with_unread_and_online() {
    let server = Server::start().await;
    let a = server.client(&addr(1)).await;
    let b = server.client(&addr(2)).await;
    let c = server.client(&addr(3)).await;
    a.publish(&thread(1, 4), "to an offline peer", "a4")
        .await
        .unwrap();
    c.publish(&thread(1, 3), "from c", "c1").await.unwrap();
    // Timestamps are milliseconds: keep the order unambiguous.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    b.publish(&thread(1, 2), "from b", "b1").await.unwrap();
    b.publish(&thread(1, 2), "again", "b2").await.unwrap();

    let page = a.threads(None, None).await.unwrap();
    let peers: Vec<&str> = page.threads.iter().map(|t| t.peer.as_str()).collect();
    assert_eq!(peers[0], full(2));
    assert_eq!(page.threads.len(), 3);
    assert!(page.next.is_none());
    let first = &page.threads[0];
    assert_eq!((first.last_seq, first.read_seq, first.unread), (2, 0, 2));
    assert!(first.peer_online);
    let last = first.last_message.as_ref().unwrap();
    assert_eq!((last.seq, last.body.as_str()), (Some(2), "again"));
    let with4 = page.threads.iter().find(|t| t.peer == full(4)).unwrap();
    assert!(!with4.peer_online);
    assert_eq!(with4.unread, 0, "its own message is not unread");

    // Two pages of two and one, then the HTTP twin gives the same first page.
    let head = a.threads(None, Some(2)).await.unwrap();
    assert_eq!(head.threads.len(), 2);
    let next = head.next.clone().unwrap();
    let tail = a.threads(Some(&next), Some(2)).await.unwrap();
    assert_eq!(tail.threads.len(), 1);
    assert!(tail.next.is_none());
    let mut all: Vec<String> = head
        .threads
        .iter()
        .chain(&tail.threads)
        .map(|t| t.peer.clone())
        .collect();
    all.sort();
    assert_eq!(all, vec![full(2), full(3), full(4)]);
    let token = server.token(&addr(1));
    let r = http::authed(server.addr, "GET", "/v1/dm/threads?limit=2", &token, None).await;
    assert_eq!(r.json(), serde_json::to_value(&head).unwrap());
    for bad in [
        "/v1/dm/threads?limit=0",
        "/v1/dm/threads?before=nope",
        "/v1/dm/threads?x=1",
    ] {
        let r = http::authed(server.addr, "GET", bad, &token, None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = http::get(server.addr, "/v1/dm/threads", &[]).await;
    assert_eq!(r.status, 401);
}

/// config/eternum-blitz.toml lets players write to players; with `shared_group = "guild"`,
/// only to guild mates. Both answered from the projection the fake Torii feeds.
#[tokio::test]
async fn on_chain_rules_decide_who_may_start_a_thread() {
    use e2e::blitz::{server_for, torii_env, wait_ready, who, world};
    let torii = world().await;
    let server = server_for(&torii).await;
    let one = server.client(&who(1)).await;
    let dm = |a: u64, b: u64| format!("dm:{}:{}", who(a.min(b)), who(a.max(b)));
    // Player 4 has no name: not a player.
    let e = one.publish(&dm(1, 4), "hi", "a").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    one.publish(&dm(1, 3), "hi", "b").await.unwrap();

    let mut env = torii_env(&torii);
    env.push(("TORII_REALTIME__DM__SHARED_GROUP".into(), "guild".into()));
    let guilds = Server::start_with(Options {
        config_file: Some(e2e::blitz::config_file()),
        env,
        ..Options::default()
    })
    .await;
    wait_ready(&guilds).await;
    let one = guilds.client(&who(1)).await;
    let e = one.publish(&dm(1, 3), "hi", "c").await.unwrap_err();
    assert!(e.to_string().contains("same guild"), "{e}");
    one.publish(&dm(1, 2), "hi, mate", "d").await.unwrap();
}
