//! Chain announcements with config/eternum-blitz.toml against a fake Torii: a structure
//! changing hands is told in the guild channels of its owners, a new player is welcomed in
//! world chat, and each change is stored exactly once, across stream drops and re-deliveries.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::blitz::*;
use e2e::{message_push, next_push, quiet};
use realtime_client::{Client, History};

fn world_sender() -> String {
    WORLD.parse::<realtime_core::Address>().unwrap().to_string()
}

/// The bodies of `channel`'s stored messages.
async fn stored(c: &Client, channel: &str) -> Vec<String> {
    c.history(channel, History::default())
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.body)
        .collect()
}

/// Waits until the follower has reconnected `n` times.
async fn reconnected(server: &e2e::Server, n: u64) {
    for _ in 0..250 {
        let status = e2e::http::get(server.addr, "/v1/status", &[]).await.json();
        if status["torii"]["reconnects"].as_u64() >= Some(n) && status["torii"]["synced"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no reconnect #{n}");
}

/// Players 1–3 are named "e", "f", "g" (felts 101–103); 1 and 2 are in guild 0x9001.
#[tokio::test]
async fn chain_changes_become_lines_in_the_right_channels_exactly_once() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let mut mate = server.client(&who(2)).await;
    mate.subscribe("guild:0x9001", None).await.unwrap();
    let mut lobby = server.client(&who(4)).await;
    lobby.subscribe("world", None).await.unwrap();

    // Player 1 takes structure 8 from player 3, who has no guild: one line, in guild 0x9001.
    torii.set(108, structure(8, a(1), 500, 500));
    let (channel, seq, m) = message_push(next_push(&mut mate).await);
    assert_eq!((channel.as_str(), seq), ("guild:0x9001", 1));
    assert_eq!(m.body, "e took structure 8 at (500, 500) from g");
    assert_eq!(m.sender, world_sender());
    assert!(m.client_msg_id.unwrap().starts_with("ann:"));
    // The same state delivered again is no change.
    torii.set(108, structure(8, a(1), 500, 500));
    quiet(&mut mate).await;

    // A player registers: welcomed in world chat.
    torii.set(5, name(a(5), 0x7a6564));
    let (channel, _, m) = message_push(next_push(&mut lobby).await);
    assert_eq!(
        (channel.as_str(), m.body.as_str()),
        ("world", "zed joined the world")
    );

    // Player 1 goes away; it will resume with sync.
    let away = server.client(&who(1)).await;
    let seen = away.subscribe("guild:0x9001", None).await.unwrap().last_seq;
    away.close().await.unwrap();

    // While the stream is down, player 2 takes it: announced once, after the resync.
    torii.set_silently(108, structure(8, a(2), 500, 500));
    torii.drop_streams();
    let (_, seq, m) = message_push(next_push(&mut mate).await);
    assert_eq!(
        (seq, m.body.as_str()),
        (2, "f took structure 8 at (500, 500) from e")
    );
    // Another drop with nothing new announces nothing again.
    torii.drop_streams();
    reconnected(&server, 2).await;
    quiet(&mut mate).await;
    assert_eq!(
        stored(&mate, "guild:0x9001").await,
        vec![
            "e took structure 8 at (500, 500) from g",
            "f took structure 8 at (500, 500) from e"
        ]
    );
    assert_eq!(stored(&lobby, "world").await, vec!["zed joined the world"]);

    // Back, player 1 learns of it in one sync.
    let back = server.client(&who(1)).await;
    let ok = back
        .request(
            "sync",
            serde_json::json!({"channels": {"guild:0x9001": seen}}),
        )
        .await
        .unwrap();
    let missed = &ok["channels"][0]["messages"];
    assert_eq!(missed.as_array().unwrap().len(), 1);
    assert_eq!(missed[0]["body"], "f took structure 8 at (500, 500) from e");
    assert_eq!(missed[0]["sender"], world_sender());

    // Back and forth: the same pair of owners again is a new change, announced again.
    torii.set(108, structure(8, a(1), 500, 500));
    torii.set(108, structure(8, a(2), 500, 500));
    let lines: Vec<String> = e2e::messages(&mut mate, 2)
        .await
        .into_iter()
        .map(|m| m.2)
        .collect();
    assert_eq!(
        lines,
        vec![
            "e took structure 8 at (500, 500) from f",
            "f took structure 8 at (500, 500) from e"
        ]
    );
}

/// Two instances following one Torii over one database store each change once: both post
/// it, with the same message id, and the second is a retry of the first.
#[tokio::test]
async fn two_instances_store_each_announcement_once() {
    let torii = world().await;
    let (url, db) = e2e::fresh_postgres().await;
    let mut servers = Vec::new();
    for _ in 0..2 {
        let server = e2e::Server::start_with(e2e::Options {
            config_file: Some(config_file()),
            env: torii_env(&torii),
            storage_url: Some(url.clone()),
            ..e2e::Options::default()
        })
        .await;
        wait_ready(&server).await;
        servers.push(server);
    }
    let mate = servers[1].client(&who(2)).await;
    torii.set(108, structure(8, a(1), 500, 500));
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = stored(&mate, "guild:0x9001").await;
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the slower instance's copy land too, if it were to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stored(&mate, "guild:0x9001").await.len(), 1, "{lines:?}");
    drop(servers);
    e2e::drop_postgres(&db).await;
}
