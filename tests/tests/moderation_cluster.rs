//! Moderation across instances over one Postgres and one Redis: an action taken on one
//! instance holds on the other at once, and the review queue's workers on both announce
//! each job exactly once.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::http::authed;
use e2e::pair::Pair;
use e2e::{Options, Server, addr, close_code, next_push};
use realtime_client::{ErrorCode, Push};
use serde_json::{Value, json};

const RULES: &str = r#"
[moderation]
moderators = ["0x13e7"]

[[moderation.rules]]
name = "scam"
words = ["airdrop"]
action = "hold"
"#;

async fn act(server: &Server, path: &str, body: Value) -> Value {
    let token = server.token(&addr(999));
    let r = authed(server.addr, "POST", path, &token, Some(&body)).await;
    assert_eq!(r.status, 200, "{path}: {}", r.json());
    r.json()
}

#[tokio::test]
async fn a_ban_on_one_instance_closes_the_sockets_on_the_other_and_a_mute_holds_there() {
    let pair = Pair::start(Options {
        toml: RULES.into(),
        ..Options::default()
    })
    .await;
    let mut on_b = pair.b.client(&addr(1)).await;
    on_b.subscribe("world", None).await.unwrap();
    let talker = pair.b.client(&addr(2)).await;

    act(
        &pair.a,
        "/v1/moderation/mutes",
        json!({"address": addr(2), "reason": "spam"}),
    )
    .await;
    // The notice reaches B over the bus within moments.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut n = 0;
    loop {
        n += 1;
        match talker.publish("world", "hi", &format!("m{n}")).await {
            Err(e) if e.code() == Some(ErrorCode::Muted) => break,
            Ok(_) => assert!(Instant::now() < deadline, "the mute never held on B"),
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let began = Instant::now();
    act(
        &pair.a,
        "/v1/moderation/bans",
        json!({"address": addr(1), "reason": "cheating"}),
    )
    .await;
    loop {
        match next_push(&mut on_b).await {
            // The messages that got through before the mute held.
            Push::Message { .. } => continue,
            Push::Other { push, .. } => {
                assert_eq!(push, "banned");
                break;
            }
            other => panic!("expected the banned push, got {other:?}"),
        }
    }
    assert_eq!(close_code(&mut on_b).await, Some(4403));
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    let token = pair.b.token(&addr(1));
    let r = authed(pair.b.addr, "GET", "/v1/me", &token, None).await;
    assert_eq!(r.status, 403);
    pair.finish().await;
}

#[tokio::test]
async fn the_workers_of_both_instances_announce_each_job_once() {
    let pair = Pair::start(Options {
        toml: RULES.into(),
        ..Options::default()
    })
    .await;
    let on_a = pair.a.client(&addr(1)).await;
    let on_b = pair.b.client(&addr(2)).await;
    const HELD: usize = 30;
    for i in 0..HELD {
        let client = if i % 2 == 0 { &on_a } else { &on_b };
        let id = format!("h{i}");
        let held: Value = client
            .request(
                "publish",
                json!({"channel": "world", "body": format!("airdrop {i}"), "client_msg_id": id}),
            )
            .await
            .unwrap();
        assert_eq!(held["held"], true);
    }
    let token = pair.a.token(&addr(999));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = authed(
            pair.a.addr,
            "GET",
            "/v1/channels/moderation/messages?limit=100",
            &token,
            None,
        )
        .await;
        let notices: Vec<String> = r.json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect();
        if notices.len() >= HELD {
            let jobs: BTreeSet<&str> = notices
                .iter()
                .map(|n| n.split(':').next().unwrap())
                .collect();
            assert_eq!(notices.len(), HELD, "one notice per job: {notices:#?}");
            assert_eq!(jobs.len(), HELD);
            break;
        }
        assert!(Instant::now() < deadline, "only {} notices", notices.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing more comes later.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = authed(
        pair.b.addr,
        "GET",
        "/v1/channels/moderation/messages?limit=100",
        &token,
        None,
    )
    .await;
    assert_eq!(r.json()["messages"].as_array().unwrap().len(), HELD);
    pair.finish().await;
}
