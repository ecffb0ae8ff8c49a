//! The binary with config/eternum-blitz.toml against a fake Torii: permissions from
//! on-chain state, live revocation, readiness and outages.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::blitz::*;
use e2e::{Options, Server, http, message_push, next_event, next_push, quiet};
use realtime_client::{ErrorCode, Event};
use serde_json::json;
use torii_plugin::value::build::*;

#[tokio::test]
async fn guild_members_chat_in_their_channel_and_others_are_refused() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let mut one = server.client(&who(1)).await;
    let two = server.client(&who(2)).await;
    let three = server.client(&who(3)).await;
    let ok = one.subscribe("guild:0x9001", None).await.unwrap();
    assert_eq!(ok.channel, "guild:0x9001");
    two.publish("guild:0x9001", "gm guild", "g1").await.unwrap();
    let (channel, _, m) = message_push(next_push(&mut one).await);
    assert_eq!(
        (channel.as_str(), m.body.as_str()),
        ("guild:0x9001", "gm guild")
    );
    // Another spelling of the same guild id is the same channel.
    let ok = two.subscribe("guild:0x09001", None).await.unwrap();
    assert_eq!(ok.channel, "guild:0x9001");
    // Not a member: refused to read, post and page history.
    for e in [
        three.subscribe("guild:0x9001", None).await.unwrap_err(),
        three
            .publish("guild:0x9001", "let me in", "x")
            .await
            .unwrap_err(),
        three
            .history("guild:0x9001", realtime_client::History::default())
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");
    }
    // World chat: everyone reads, players post; address 4 has no name, so is no player.
    let four = server.client(&who(4)).await;
    four.subscribe("world", None).await.unwrap();
    assert_eq!(
        four.publish("world", "hi", "w4").await.unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
    three.publish("world", "hi all", "w3").await.unwrap();
    // Channels the rules do not name do not exist.
    assert_eq!(
        three.subscribe("zone:1", None).await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
    quiet(&mut one).await;
}

#[tokio::test]
async fn a_membership_change_on_chain_takes_effect_live() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let mut two = server.client(&who(2)).await;
    two.subscribe("guild:0x9001", None).await.unwrap();
    // Address 2 leaves the guild on chain: its subscription ends within a second.
    let started = std::time::Instant::now();
    torii.delete(12, MEMBER);
    let Event::Push(p) = two
        .next_event_within(Duration::from_secs(1))
        .await
        .expect("revoked within 1 s")
    else {
        panic!("expected a push")
    };
    let realtime_client::Push::PermissionRevoked { channel, revoked } = p else {
        panic!("expected permission_revoked, got {p:?}")
    };
    assert_eq!(channel, "guild:0x9001");
    assert!(revoked.reason.contains("members"), "{revoked:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        two.publish("guild:0x9001", "still here?", "s")
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::Forbidden)
    );
    two.request("ping", json!({}))
        .await
        .expect("the socket stays open");
    // Address 3 joins on chain: it may join the channel at once.
    let three = server.client(&who(3)).await;
    torii.set(13, guild_member(a(3), GUILD.parse().unwrap()));
    let mut joined = false;
    for _ in 0..50 {
        if three.subscribe("guild:0x9001", None).await.is_ok() {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(joined, "a new member may join the guild channel");
    // The player record goes away: world posting stops too.
    torii.set_member(3, NAME, member("name", felt(felt_of(0)), false));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        three.publish("world", "bye", "b").await.unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
}

#[tokio::test]
async fn not_ready_until_synced_and_resyncs_after_torii_drops() {
    let torii = world().await;
    torii.set_down(true);
    let server = Server::start_with(Options {
        config_file: Some(config_file()),
        env: torii_env(&torii),
        ..Options::default()
    })
    .await;
    let r = http::get(server.addr, "/readyz", &[]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let one = server.client(&who(1)).await;
    assert_eq!(
        one.subscribe("guild:0x9001", None)
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::Unavailable)
    );
    torii.set_down(false);
    wait_ready(&server).await;
    let mut one = one;
    one.subscribe("guild:0x9001", None).await.unwrap();

    // While the stream is down, address 1 leaves the guild: the resync revokes.
    torii.delete_silently(11, MEMBER);
    torii.drop_streams();
    let Event::Push(p) = next_event(&mut one).await else {
        panic!()
    };
    assert_eq!(p.name(), "permission_revoked");
    let status = http::get(server.addr, "/v1/status", &[]).await.json();
    assert!(
        status["torii"]["reconnects"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert_eq!(status["torii"]["synced"], true);
    // Updates after the reconnect flow again.
    torii.set(14, guild_member(a(1), GUILD.parse().unwrap()));
    let mut back = false;
    for _ in 0..50 {
        if one.subscribe("guild:0x9001", None).await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back);
}

#[tokio::test]
async fn rules_that_do_not_fit_the_world_stop_the_server_with_the_reason() {
    let torii = world().await;
    let mut server = Server::start_with(Options {
        config_file: Some(config_file()),
        env: vec![
            ("TORII_REALTIME__TORII__GRPC_URL".into(), torii.url()),
            ("TORII_REALTIME__TORII__WORLD_ADDRESS".into(), WORLD.into()),
            ("TORII_REALTIME__PLAYERS__ADDRESS".into(), "player".into()),
        ],
        ..Options::default()
    })
    .await;
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(!status.success());
    let logs = server.logs();
    assert!(
        logs.iter().any(|l| l["error"]
            .as_str()
            .is_some_and(|e| e.contains(NAME) && e.contains("\"player\""))),
        "{logs:?}"
    );
}

#[tokio::test]
async fn every_policy_kind_and_equality_conditions() {
    let torii = world().await;
    let toml = format!(
        r#"
[torii]
grpc_url = "{url}"
world_address = "{WORLD}"
reconnect_min = "50ms"

[players]
model = "{NAME}"
address = "address"
equals = {{ name = "0x65" }}

[groups.guild]
model = "{MEMBER}"
member = "member"
group = "guild_id"

[channels.lounge]
read = "group:guild"
post = "admin"

[channels.news]
read = "anyone"
post = "admin"

[channels.vip]
read = "player"
post = "player"
"#,
        url = torii.url()
    );
    let server = Server::start_with(Options {
        toml,
        env: vec![(
            "TORII_REALTIME__AUTH__ADMINS".into(),
            format!("[\"{}\"]", who(3)),
        )],
        ..Options::default()
    })
    .await;
    wait_ready(&server).await;
    let one = server.client(&who(1)).await;
    let two = server.client(&who(2)).await;
    let three = server.client(&who(3)).await;
    let four = server.client(&who(4)).await;
    fn code<T>(r: Result<T, realtime_client::ClientError>) -> Option<realtime_client::ErrorCode> {
        r.err().and_then(|e| e.code())
    }

    // group:guild reads, admin posts.
    assert_eq!(code(one.subscribe("lounge", None).await), None);
    assert_eq!(
        code(three.subscribe("lounge", None).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(three.publish("lounge", "announcement", "a1").await),
        None
    );
    assert_eq!(
        code(one.publish("lounge", "me too", "m1").await),
        Some(ErrorCode::Forbidden)
    );
    // anyone reads, admin posts.
    assert_eq!(code(four.subscribe("news", None).await), None);
    assert_eq!(
        code(four.publish("news", "x", "n4").await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(code(three.publish("news", "patch notes", "n3").await), None);
    // player, where only name == 0x65 (address 1) counts.
    assert_eq!(code(one.subscribe("vip", None).await), None);
    assert_eq!(
        code(two.subscribe("vip", None).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(
            two.history("vip", realtime_client::History::default())
                .await
        ),
        Some(ErrorCode::Forbidden)
    );
    // An unlisted channel does not exist once channels are configured.
    assert_eq!(
        code(one.subscribe("world", None).await),
        Some(ErrorCode::NotFound)
    );
    // The HTTP history endpoint applies the same policy.
    let t2 = server.token(&who(2));
    let r = http::get(
        server.addr,
        "/v1/channels/vip/messages",
        &[("Authorization", &format!("Bearer {t2}"))],
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
}

/// Torii unreachable past `max_stale`: rules that depend on on-chain state fail closed with
/// `unavailable`, readiness (still 200) and status say why, and the next completed sync
/// restores both.
#[tokio::test]
async fn stale_on_chain_state_fails_closed_until_the_next_sync() {
    let torii = world().await;
    let mut env = torii_env(&torii);
    env.push(("TORII_REALTIME__TORII__MAX_STALE".into(), "1s".into()));
    let server = Server::start_with(Options {
        config_file: Some(config_file()),
        env,
        ..Options::default()
    })
    .await;
    wait_ready(&server).await;
    let one = server.client(&who(1)).await;
    one.publish("guild:0x9001", "before", "b1").await.unwrap();

    torii.set_down(true);
    torii.drop_streams();
    // Within max_stale the last known state still answers.
    one.publish("guild:0x9001", "just lost", "b2")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let e = one
        .publish("guild:0x9001", "stale", "b3")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unavailable), "{e}");
    assert!(e.to_string().contains("stale"), "{e}");
    // Still in rotation (every instance shares the one Torii), saying why it is degraded.
    let ready = http::get(server.addr, "/readyz", &[]).await;
    assert_eq!(ready.status, 200);
    assert!(ready.json()["degraded"].as_str().unwrap().contains("stale"));
    let status = http::get(server.addr, "/v1/status", &[]).await.json();
    assert!(
        status["torii"]["stale_secs"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(status["torii"]["unavailable"].is_string(), "{status}");
    // Reading world chat is open to anyone signed in: no on-chain rule, no refusal. Posting
    // there is for players, which the chain decides.
    one.subscribe("world", None).await.unwrap();
    assert_eq!(
        one.publish("world", "stale", "w1")
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::Unavailable)
    );

    torii.set_down(false);
    let mut synced = false;
    for _ in 0..250 {
        let status = http::get(server.addr, "/v1/status", &[]).await.json();
        if status["torii"]["unavailable"].is_null() {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(synced, "the next sync ends the degraded state");
    one.publish("guild:0x9001", "back", "b4").await.unwrap();
    let status = http::get(server.addr, "/v1/status", &[]).await.json();
    assert!(status["torii"]["stale_secs"].is_null(), "{status}");
}
