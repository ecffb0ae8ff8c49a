//! `me` end to end: the name, player status and groups on-chain state gives the session's
//! address, over the socket and HTTP, following membership changes; and an honest empty
//! answer without a world. `names`: other players' names for a chat view.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::blitz::*;
use e2e::{Server, addr, http};
use realtime_client::ErrorCode;
use serde_json::{Value, json};

async fn me(server: &Server, who: &str) -> Value {
    server
        .client(who)
        .await
        .request("me", json!({}))
        .await
        .unwrap()
}

#[tokio::test]
async fn me_names_the_player_and_its_guild_channel() {
    let torii = world().await;
    let server = server_for(&torii).await;

    let one = me(&server, &who(1)).await;
    assert_eq!(one["name"], "e");
    assert_eq!(one["player"], true);
    assert_eq!(
        one["groups"],
        json!([{"kind": "guild", "id": GUILD, "channel": "guild:0x9001"}])
    );

    // The SDK's typed call says the same.
    let typed = server.client(&who(1)).await.me().await.unwrap();
    assert_eq!((typed.name.as_deref(), typed.player), (Some("e"), true));
    assert_eq!(typed.groups[0].channel, "guild:0x9001");

    let three = me(&server, &who(3)).await;
    assert_eq!(
        (three["player"].clone(), three["groups"].clone()),
        (json!(true), json!([]))
    );
    // Address 4 has an empty name, which `[players] nonzero` says is no player.
    let four = me(&server, &who(4)).await;
    assert_eq!(four["player"], false);

    // Over HTTP, and after leaving the guild on chain.
    torii.delete(11, MEMBER);
    let token = server.token(&who(1));
    for _ in 0..100 {
        let r = http::authed(server.addr, "GET", "/v1/me", &token, None).await;
        assert_eq!(r.status, 200);
        if r.json()["groups"] == json!([]) {
            assert_eq!(r.json()["name"], "e");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("me still lists the guild after leaving it");
}

#[tokio::test]
async fn without_a_world_me_is_only_the_address() {
    let server = Server::start().await;
    let ok = me(&server, &addr(1)).await;
    assert_eq!(ok["player"], false);
    assert_eq!(ok["groups"], json!([]));
    assert!(ok.get("name").is_none());
    assert!(ok["address"].as_str().unwrap().starts_with("0x"));

    let r = http::get(server.addr, "/v1/me", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn names_answers_the_named_addresses_only() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let c = server.client(&who(3)).await;
    let ok = c
        .request(
            "names",
            json!({"addresses": [who(1), "0x0002", who(4), "0x77"]}),
        )
        .await
        .unwrap();
    let full = |n: u64| format!("0x{n:064x}");
    assert_eq!(ok, json!({"names": {full(1): "e", full(2): "f"}}));

    let typed = c.names(&["0x1", "0x4"]).await.unwrap();
    assert_eq!(
        typed.names.into_iter().collect::<Vec<_>>(),
        vec![(full(1), "e".to_string())]
    );

    // Over HTTP without a token; a bad address is a bad request that names it.
    let r = http::get(server.addr, "/v1/names?addresses=0x1,0x3", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"names": {full(1): "e", full(3): "g"}}));
    let r = http::get(server.addr, "/v1/names?addresses=0x1,alice", &[]).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("alice")
    );
    let err = c
        .request("names", json!({"addresses": ["nope"]}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err}");
}
