//! The binary with config/eternum-blitz.toml against a fake Torii: permissions from
//! on-chain state, live revocation, and the map feed.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use e2e::{Options, Server, http, next_event, next_push, quiet};
use realtime_client::{ErrorCode, Event};
use realtime_core::Address;
use serde_json::json;
use torii_plugin::fake::FakeTorii;
use torii_plugin::proto::types::Struct;
use torii_plugin::value::build::*;

const NAME: &str = "s1_eternum-AddressName";
const MEMBER: &str = "s1_eternum-GuildMember";
const STRUCTURE: &str = "s1_eternum-Structure";
const EXPLORER: &str = "s1_eternum-ExplorerTroops";
const WORLD: &str = "0x7071";
const GUILD: &str = "0x9001";

fn a(n: u64) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

fn name(addr: Address, n: u64) -> Struct {
    model(
        NAME,
        vec![
            member("address", address(addr), true),
            member("name", felt(felt_of(n)), false),
        ],
    )
}

fn guild_member(addr: Address, guild: Address) -> Struct {
    model(
        MEMBER,
        vec![
            member("member", address(addr), true),
            member("guild_id", address(guild), false),
        ],
    )
}

fn structure(id: u32, owner: Address, x: u32, y: u32) -> Struct {
    model(
        STRUCTURE,
        vec![
            member("entity_id", u32(id), true),
            member("owner", address(owner), false),
            member(
                "base",
                nested(
                    "StructureBase",
                    vec![
                        member("category", u8(1), false),
                        member("coord_x", u32(x), false),
                        member("coord_y", u32(y), false),
                    ],
                ),
                false,
            ),
        ],
    )
}

fn coord(x: u32, y: u32) -> torii_plugin::proto::types::Member {
    member(
        "coord",
        nested(
            "Coord",
            vec![member("x", u32(x), false), member("y", u32(y), false)],
        ),
        false,
    )
}

fn explorer(id: u32, owner_structure: u32, x: u32, y: u32) -> Struct {
    model(
        EXPLORER,
        vec![
            member("explorer_id", u32(id), true),
            member("owner", u32(owner_structure), false),
            coord(x, y),
        ],
    )
}

fn config_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/eternum-blitz.toml")
}

/// A world: players 1–3 named, 4 not; guild 0x9001 with 1 and 2; structure 7 of player 1 at
/// (100, 100) with explorer 1 next to it; structure 8 of player 3 at (500, 500) with explorer 2.
async fn world() -> FakeTorii {
    let t = FakeTorii::start(WORLD.parse().unwrap(), 0).await.unwrap();
    t.add_model(&name(a(1), 1));
    t.add_model(&guild_member(a(1), a(1)));
    t.add_model(&structure(1, a(1), 0, 0));
    t.add_model(&explorer(1, 1, 0, 0));
    for p in 1..=3 {
        t.set(p, name(a(p), 100 + p));
    }
    t.set(4, name(a(4), 0));
    t.set(11, guild_member(a(1), GUILD.parse().unwrap()));
    t.set(12, guild_member(a(2), GUILD.parse().unwrap()));
    t.set(107, structure(7, a(1), 100, 100));
    t.set(108, structure(8, a(3), 500, 500));
    t.set(201, explorer(1, 7, 101, 100));
    t.set(202, explorer(2, 8, 501, 500));
    t
}

/// Points the server at the fake Torii, with quick reconnects.
fn torii_env(torii: &FakeTorii) -> Vec<(String, String)> {
    vec![
        ("TORII_REALTIME__TORII__GRPC_URL".into(), torii.url()),
        ("TORII_REALTIME__TORII__WORLD_ADDRESS".into(), WORLD.into()),
        ("TORII_REALTIME__TORII__RECONNECT_MIN".into(), "50ms".into()),
        (
            "TORII_REALTIME__TORII__RECONNECT_MAX".into(),
            "200ms".into(),
        ),
    ]
}

async fn server_for(torii: &FakeTorii) -> Server {
    let server = Server::start_with(Options {
        config_file: Some(config_file()),
        env: torii_env(torii),
        ..Options::default()
    })
    .await;
    wait_ready(&server).await;
    server
}

async fn wait_ready(server: &Server) {
    for _ in 0..250 {
        if http::get(server.addr, "/readyz", &[]).await.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "not ready: {:?}",
        http::get(server.addr, "/v1/status", &[]).await.body
    );
}

fn who(n: u64) -> String {
    format!("0x{n:x}")
}

#[tokio::test]
async fn guild_members_chat_in_their_channel_and_others_are_refused() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let mut one = server.client(&who(1)).await;
    let two = server.client(&who(2)).await;
    let three = server.client(&who(3)).await;
    let ok = one.subscribe("guild:0x9001", None).await.unwrap();
    assert_eq!(ok["channel"], "guild:0x9001");
    two.publish("guild:0x9001", "gm guild", "g1").await.unwrap();
    let p = next_push(&mut one).await;
    assert_eq!(
        (p.channel.as_deref(), p.data["body"].as_str()),
        (Some("guild:0x9001"), Some("gm guild"))
    );
    // Another spelling of the same guild id is the same channel.
    let ok = two.subscribe("guild:0x09001", None).await.unwrap();
    assert_eq!(ok["channel"], "guild:0x9001");
    // Not a member: refused to read, post and page history.
    for e in [
        three.subscribe("guild:0x9001", None).await.unwrap_err(),
        three
            .publish("guild:0x9001", "let me in", "x")
            .await
            .unwrap_err(),
        three.history("guild:0x9001", json!({})).await.unwrap_err(),
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
    assert_eq!(
        (p.push.as_str(), p.channel.as_deref()),
        ("permission_revoked", Some("guild:0x9001"))
    );
    assert!(
        p.data["reason"].as_str().unwrap().contains("members"),
        "{p:?}"
    );
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
async fn a_viewport_receives_unit_moves_inside_it_only() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let mut near = server.client(&who(2)).await;
    let ok = near
        .request(
            "watch",
            json!({"area": {"min_x": 90, "min_y": 90, "max_x": 110, "max_y": 110}}),
        )
        .await
        .unwrap();
    assert_eq!(ok["area"]["max_x"], 110);
    let mut far = server.client(&who(4)).await;
    far.request(
        "watch",
        json!({"area": {"min_x": 400, "min_y": 400, "max_x": 600, "max_y": 600}}),
    )
    .await
    .unwrap();
    let mut owner = server.client(&who(3)).await;
    owner.request("watch", json!({"mine": true})).await.unwrap();

    // Explorer 1 moves inside the first viewport (one-member update).
    torii.set_member(201, EXPLORER, coord(102, 101));
    let p = next_push(&mut near).await;
    assert_eq!(p.push, "entity");
    assert_eq!(p.data["model"], EXPLORER);
    assert_eq!(p.data["tile"], json!({"x": 102, "y": 101}));
    assert_eq!(p.data["previous_tile"], json!({"x": 101, "y": 100}));
    assert_eq!(p.data["changed"]["coord.x"], 102);
    assert_eq!(p.data["keys"]["explorer_id"], 1);
    assert_eq!(p.data["owner"], a(1).to_string());
    quiet(&mut far).await;
    quiet(&mut owner).await;

    // Explorer 2 (player 3's) moves in the far viewport: far and its owner see it, near does not.
    torii.set_member(202, EXPLORER, coord(505, 505));
    assert_eq!(
        next_push(&mut far).await.data["tile"],
        json!({"x": 505, "y": 505})
    );
    assert_eq!(
        next_push(&mut owner).await.data["tile"],
        json!({"x": 505, "y": 505})
    );
    quiet(&mut near).await;

    // Explorer 1 leaves the first viewport: one last update, then nothing.
    torii.set_member(201, EXPLORER, coord(300, 300));
    let p = next_push(&mut near).await;
    assert_eq!(
        (
            p.data["previous_tile"]["x"].as_u64(),
            p.data["tile"]["x"].as_u64()
        ),
        (Some(102), Some(300))
    );
    torii.set_member(201, EXPLORER, coord(301, 300));
    quiet(&mut near).await;

    // Watching too large an area is refused; the socket stays.
    let e = near
        .request(
            "watch",
            json!({"area": {"min_x": 0, "min_y": 0, "max_x": 1000, "max_y": 1000}}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    near.request("ping", json!({})).await.unwrap();
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
    assert_eq!(p.push, "permission_revoked");
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
    let code =
        |r: Result<serde_json::Value, realtime_client::ClientError>| r.err().and_then(|e| e.code());

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
        code(two.history("vip", json!({})).await),
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

/// The frame that once wrapped the size check to 0 and allocated buckets for the whole map
/// under the feed's lock: now a plain refusal, and the server keeps serving everyone.
#[tokio::test]
async fn a_whole_map_viewport_is_refused_and_the_server_keeps_answering() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let mut greedy = server.client(&who(1)).await;
    let max = u32::MAX;
    for area in [
        json!({"min_x": 0, "min_y": 0, "max_x": max, "max_y": max}),
        json!({"min_x": 0, "min_y": 7, "max_x": max, "max_y": 7}),
        json!({"min_x": 9, "min_y": 0, "max_x": 8, "max_y": 0}),
        json!({"min_x": 0, "min_y": 0, "max_x": 0, "max_y": 65535}),
    ] {
        let e = greedy
            .request("watch", json!({ "area": area }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadRequest), "{area}: {e}");
    }
    assert_eq!(http::get(server.addr, "/healthz", &[]).await.status, 200);
    let mut other = server.client(&who(2)).await;
    other
        .request(
            "watch",
            json!({"area": {"min_x": 90, "min_y": 90, "max_x": 110, "max_y": 110}}),
        )
        .await
        .expect("another socket's watch is answered");
    torii.set_member(201, EXPLORER, coord(103, 103));
    assert_eq!(next_push(&mut other).await.push, "entity");
    quiet(&mut greedy).await;
}

/// Torii unreachable past `max_stale`: rules that depend on on-chain state fail closed with
/// `unavailable`, readiness and status say why, and the next completed sync restores both.
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
    let ready = http::get(server.addr, "/readyz", &[]).await;
    assert_eq!(ready.status, 503);
    assert!(ready.json()["reason"].as_str().unwrap().contains("stale"));
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
    wait_ready(&server).await;
    one.publish("guild:0x9001", "back", "b4").await.unwrap();
    let status = http::get(server.addr, "/v1/status", &[]).await.json();
    assert!(status["torii"]["stale_secs"].is_null(), "{status}");
}

/// Every felt in an `entity` push has one spelling (`0x` and 64 hex digits), wherever it
/// appears; `previous_tile` appears only when the entity moved.
#[tokio::test]
async fn entity_pushes_spell_felts_one_way_and_name_a_previous_tile_only_on_moves() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let mut near = server.client(&who(4)).await;
    near.request(
        "watch",
        json!({"area": {"min_x": 90, "min_y": 90, "max_x": 110, "max_y": 110}}),
    )
    .await
    .unwrap();
    // Structure 7 changes hands without moving.
    torii.set_member(107, STRUCTURE, member("owner", address(a(2)), false));
    let p = next_push(&mut near).await;
    assert_eq!(p.push, "entity");
    let long = |s: &serde_json::Value| {
        let s = s.as_str().unwrap_or_default();
        s.len() == 66 && s.starts_with("0x")
    };
    assert!(long(&p.data["changed"]["owner"]), "{p:?}");
    assert_eq!(p.data["changed"]["owner"], a(2).to_string());
    assert!(long(&p.data["entity"]), "{p:?}");
    assert_eq!(p.data["owner"], a(2).to_string());
    assert_eq!(p.data["tile"], json!({"x": 100, "y": 100}));
    assert!(p.data.get("previous_tile").is_none(), "not a move: {p:?}");
}
