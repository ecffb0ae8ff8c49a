//! The review queue end to end: a held message survives a kill -9, and a held first direct
//! message starts its thread only once a moderator approves it.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::http::authed;
use e2e::moderation::{RULES, act, moderator, pending_jobs, start};
use e2e::{Options, Server, addr, next_push, quiet};
use realtime_client::Push;
use serde_json::{Value, json};

#[tokio::test]
async fn a_held_message_survives_a_kill_and_is_announced_once() {
    let server = start().await;
    let writer = server.client(&addr(1)).await;
    let held: Value = writer
        .request(
            "publish",
            json!({"channel": "world", "body": "airdrop now", "client_msg_id": "k1"}),
        )
        .await
        .unwrap();
    assert_eq!(held["held"], true);
    // Killed at once: the notice to moderators may or may not have gone out.
    let dir = server.keep_dir();
    let server = Server::start_with(Options {
        toml: RULES.into(),
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    let jobs = pending_jobs(&server, 1).await;
    assert_eq!(jobs[0]["body"], "airdrop now");
    let token = server.token(&moderator());
    // A claim the killed worker held is taken again once its lease (5 s) runs out.
    for _ in 0..300 {
        let r = authed(
            server.addr,
            "GET",
            "/v1/channels/moderation/messages",
            &token,
            None,
        )
        .await;
        let notices = r.json()["messages"].as_array().map_or(0, Vec::len);
        assert_eq!(r.status, 200, "{}", r.json());
        if notices > 0 {
            assert_eq!(notices, 1, "announced once");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the held message was never announced");
}

#[tokio::test]
async fn a_held_first_direct_message_starts_its_thread_only_once_approved() {
    let server = start_with_dms().await;
    let a = server.client(&addr(1)).await;
    let mut b = server.client(&addr(2)).await;
    let thread = "dm:0x1001:0x1002";
    let held: Value = a
        .request(
            "publish",
            json!({"channel": thread, "body": "free airdrop for you", "client_msg_id": "d1"}),
        )
        .await
        .unwrap();
    assert_eq!(held["held"], true);
    // No thread yet: the peer is told nothing, and neither lists it.
    quiet(&mut b).await;
    let threads: Value = b.request("threads", json!({})).await.unwrap();
    assert_eq!(threads["threads"].as_array().unwrap().len(), 0, "{threads}");
    let jobs = pending_jobs(&server, 1).await;
    let id = jobs[0]["id"].as_u64().unwrap();
    let (status, body) = act(
        &server,
        &format!("/v1/moderation/jobs/{id}/resolve"),
        json!({"reason": "fine in context"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    match next_push(&mut b).await {
        Push::DmStarted { channel, .. } => assert_eq!(channel, thread),
        other => panic!("expected dm_started, got {other:?}"),
    }
    let threads: Value = b.request("threads", json!({})).await.unwrap();
    assert_eq!(threads["threads"][0]["channel"], thread, "{threads}");
}

async fn start_with_dms() -> Server {
    Server::start_with(Options {
        toml: RULES.replace(
            "reports_per_hour = 1\n",
            "reports_per_hour = 1\nscreen_dms = true\n",
        ),
        ..Options::default()
    })
    .await
}
