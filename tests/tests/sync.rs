//! `sync` end to end: after a disconnect during which messages, direct messages, a read
//! receipt and note changes happened, one request brings the client up to date, and the
//! subscribes that follow continue without a gap.

#![allow(clippy::unwrap_used)]

use e2e::{Options, Server, addr, http, message_push, next_push};
use realtime_client::ErrorCode;
use serde_json::{Value, json};

fn full(n: u32) -> String {
    format!("0x{:0>64}", format!("{:x}", 0x1000 + n))
}

fn area() -> Value {
    json!({"min_x": 0, "min_y": 0, "max_x": 20, "max_y": 20})
}

#[tokio::test]
async fn one_sync_brings_back_what_happened_while_away() {
    let server = Server::start_with(Options {
        limits: "recovery_max_messages = 5\n".into(),
        ..Options::default()
    })
    .await;
    let dm = format!("dm:{}:{}", addr(1), addr(2));
    let b = server.client(&addr(2)).await;
    let old_note = b
        .request("note_create", json!({"x": 3, "y": 3, "title": "old"}))
        .await
        .unwrap()["note"]
        .clone();
    b.publish(&dm, "before you left", "d0").await.unwrap();

    // A is up to date, then goes away.
    let a = server.client(&addr(1)).await;
    let world_seq = a.subscribe("world", None).await.unwrap().last_seq;
    let dm_seq = a.subscribe(&dm, None).await.unwrap().last_seq;
    a.request("subscribe", json!({"channel": "busy"}))
        .await
        .unwrap();
    let rev = a.request("notes", json!({"area": area()})).await.unwrap()["rev"]
        .as_u64()
        .unwrap();
    a.read(&dm, dm_seq).await.unwrap();
    a.close().await.unwrap();

    // Meanwhile: messages, direct messages, a receipt, note changes, a busy channel.
    for i in 1..=3 {
        b.publish("world", &format!("w{i}"), &format!("w{i}"))
            .await
            .unwrap();
    }
    b.publish(&dm, "are you there?", "d1").await.unwrap();
    b.publish(&dm, "hello?", "d2").await.unwrap();
    b.read(&dm, 3).await.unwrap();
    for i in 0..6 {
        b.publish("busy", "x", &format!("b{i}")).await.unwrap();
    }
    let new_note = b
        .request("note_create", json!({"x": 4, "y": 4, "title": "new"}))
        .await
        .unwrap()["note"]
        .clone();
    b.request("note_delete", json!({"note": old_note["id"]}))
        .await
        .unwrap();
    b.request(
        "note_create",
        json!({"x": 4, "y": 4, "title": "mine", "visibility": "private"}),
    )
    .await
    .unwrap();

    let mut a = server.client(&addr(1)).await;
    let request = json!({
        "channels": {"world": world_seq, (dm.as_str()): dm_seq, "busy": 0},
        "notes": {"area": area(), "rev": rev},
    });
    let ok = a.request("sync", request.clone()).await.unwrap();
    let channel = |name: &str| {
        ok["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == name)
            .unwrap()
            .clone()
    };
    let world = channel("world");
    assert_eq!(
        (world["recovered"].clone(), world["last_seq"].clone()),
        (json!(true), json!(3))
    );
    let bodies: Vec<&str> = world["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["w1", "w2", "w3"]);
    let thread = channel(&dm);
    assert_eq!(thread["messages"].as_array().unwrap().len(), 2);
    assert_eq!(thread["messages"][1]["body"], "hello?");
    // Six missed is past the recovery limit: nothing, and read it with history.
    let busy = channel("busy");
    assert_eq!(
        (busy["recovered"].clone(), busy["messages"].clone()),
        (json!(false), json!([]))
    );
    assert_eq!(
        ok["receipts"],
        json!([{"channel": dm, "address": full(2), "seq": 3}])
    );
    let unread = ok["unread"].as_array().unwrap();
    let dm_unread = unread.iter().find(|u| u["channel"] == dm).unwrap();
    assert_eq!(
        (dm_unread["read_seq"].clone(), dm_unread["unread"].clone()),
        (json!(1), json!(2))
    );
    let notes = &ok["notes"];
    assert_eq!(notes["complete"], true);
    let changes: Vec<(String, Value)> = notes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["event"].as_str().unwrap().to_owned(), c["id"].clone()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("created".into(), new_note["id"].clone()),
            ("deleted".into(), old_note["id"].clone())
        ],
        "the private note of another is not among them"
    );
    assert!(notes["changes"][1].get("note").is_none());

    // Subscribing from the synced seqs continues without a gap or a repeat.
    let ok_world = a.subscribe("world", Some(3)).await.unwrap();
    assert_eq!((ok_world.recovered, ok_world.replayed), (Some(true), 0));
    b.publish("world", "w4", "w4").await.unwrap();
    assert_eq!(message_push(next_push(&mut a).await).1, 4);

    // The same over HTTP; syncing again from the new revision finds no note change.
    let mut again = request.clone();
    again["notes"]["rev"] = notes["rev"].clone();
    let r = http::authed(
        server.addr,
        "POST",
        "/v1/sync",
        &server.token(&addr(1)),
        Some(&again),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notes"]["changes"], json!([]));
    assert_eq!(r.json()["channels"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn sync_refuses_what_the_address_may_not_read_and_bad_cursors() {
    let server = Server::start().await;
    let a = server.client(&addr(1)).await;
    let b = server.client(&addr(2)).await;
    let others = format!("dm:{}:{}", addr(2), addr(3));
    b.publish(&others, "private", "p1").await.unwrap();
    let ok = a
        .request(
            "sync",
            json!({"channels": {(others.as_str()): 0, "world": 0}}),
        )
        .await
        .unwrap();
    let thread = &ok["channels"][0];
    assert_eq!(thread["error"]["code"], "forbidden");
    assert_eq!(thread["messages"], json!([]));
    assert_eq!(ok["receipts"], json!([]));
    assert_eq!(ok["channels"][1]["recovered"], true);
    let e = a
        .request("sync", json!({"channels": {"Bad Name": 0}}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidChannel));
    let e = a
        .request(
            "sync",
            json!({"notes": {"area": {"min_x": 9, "min_y": 0, "max_x": 1, "max_y": 1}, "rev": 0}}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let e = a.request("sync", json!({"cursor": 1})).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("c{i}"), json!(0))).collect();
    let e = a
        .request("sync", json!({"channels": many}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
}
