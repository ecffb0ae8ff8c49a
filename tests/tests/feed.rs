//! The on-chain feed with config/eternum-blitz.toml against a fake Torii: viewports, owners,
//! the shape of `entity` pushes, and area limits.

#![allow(clippy::unwrap_used)]

use e2e::blitz::*;
use e2e::{entity_push, http, next_push, quiet};
use realtime_client::ErrorCode;
use serde_json::json;
use torii_plugin::value::build::*;

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
    let p = entity(&mut near).await;
    assert_eq!(p["model"], EXPLORER);
    assert_eq!(p["tile"], json!({"x": 102, "y": 101}));
    assert_eq!(p["previous_tile"], json!({"x": 101, "y": 100}));
    assert_eq!(p["changed"]["coord.x"], 102);
    assert_eq!(p["keys"]["explorer_id"], 1);
    assert_eq!(p["owner"], a(1).to_string());
    quiet(&mut far).await;
    quiet(&mut owner).await;

    // Explorer 2 (player 3's) moves in the far viewport: far and its owner see it, near does not.
    torii.set_member(202, EXPLORER, coord(505, 505));
    assert_eq!(entity(&mut far).await["tile"], json!({"x": 505, "y": 505}));
    assert_eq!(
        entity(&mut owner).await["tile"],
        json!({"x": 505, "y": 505})
    );
    quiet(&mut near).await;

    // Explorer 1 leaves the first viewport: one last update, then nothing.
    torii.set_member(201, EXPLORER, coord(300, 300));
    let p = entity(&mut near).await;
    assert_eq!(
        (p["previous_tile"]["x"].as_u64(), p["tile"]["x"].as_u64()),
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
    entity(&mut other).await;
    quiet(&mut greedy).await;
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
    let p = entity(&mut near).await;
    let long = |s: &serde_json::Value| {
        let s = s.as_str().unwrap_or_default();
        s.len() == 66 && s.starts_with("0x")
    };
    assert!(long(&p["changed"]["owner"]), "{p:?}");
    assert_eq!(p["changed"]["owner"], a(2).to_string());
    assert!(long(&p["entity"]), "{p:?}");
    assert_eq!(p["owner"], a(2).to_string());
    assert_eq!(p["tile"], json!({"x": 100, "y": 100}));
    assert!(p.get("previous_tile").is_none(), "not a move: {p:?}");
}

/// The next push, which must be an `entity` push, as the JSON of its data.
async fn entity(c: &mut realtime_client::Client) -> serde_json::Value {
    serde_json::to_value(entity_push(next_push(c).await)).unwrap()
}
