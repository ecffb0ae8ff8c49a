//! Notes pinned to tiles end to end: the visibility matrix over queries, the live feed and
//! HTTP; the pin rule from positions the fake Torii reports; a member leaving the guild on
//! chain; edits, deletes and expiry reaching watchers; bad input.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::blitz::*;
use e2e::{Server, addr, http, next_push, quiet};
use realtime_client::{Client, ErrorCode, Event, NoteEvent, NoteEventKind, Push};
use serde_json::{Value, json};

fn note_push(p: Push) -> NoteEvent {
    match p {
        Push::Note(e) => e,
        other => panic!("expected a note push, got {other:?}"),
    }
}

async fn watch(c: &Client, min: u32, max: u32) {
    c.request(
        "watch",
        json!({"area": {"min_x": min, "min_y": min, "max_x": max, "max_y": max}}),
    )
    .await
    .unwrap();
}

async fn pin(c: &Client, x: u32, y: u32, title: &str, visibility: &str) -> Value {
    let mut args = json!({"x": x, "y": y, "title": title, "body": "b", "visibility": visibility});
    if visibility == "group" {
        args["group"] = "guild".into();
    }
    c.request("note_create", args).await.unwrap()["note"].clone()
}

async fn titles(c: &Client) -> Vec<String> {
    let page = c
        .request(
            "notes",
            json!({"area": {"min_x": 90, "min_y": 90, "max_x": 110, "max_y": 110}}),
        )
        .await
        .unwrap();
    page["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect()
}

/// Players 1 and 2 share guild 0x9001; player 3 is in none; player 1 owns things at
/// (100, 100) and (101, 100).
#[tokio::test]
async fn the_visibility_matrix_over_queries_the_feed_and_http() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let author = server.client(&who(1)).await;
    let mut author_feed = server.client(&who(1)).await;
    let mut mate = server.client(&who(2)).await;
    let mut other = server.client(&who(3)).await;
    for c in [&author_feed, &mate, &other] {
        watch(c, 90, 110).await;
    }
    let public = pin(&author, 100, 101, "public", "public").await;
    let group = pin(&author, 101, 101, "group", "group").await;
    pin(&author, 102, 100, "private", "private").await;
    assert_eq!(group["group"], "guild:0x9001");
    assert_eq!(group["visibility"], "group");

    let seen = |e: NoteEvent| (e.event, e.note.unwrap().title);
    for (feed, expected) in [
        (&mut author_feed, vec!["public", "group", "private"]),
        (&mut mate, vec!["public", "group"]),
        (&mut other, vec!["public"]),
    ] {
        for title in expected {
            let (event, got) = seen(note_push(next_push(feed).await));
            assert_eq!((event, got.as_str()), (NoteEventKind::Created, title));
        }
        quiet(feed).await;
    }
    assert_eq!(titles(&author).await, vec!["private", "group", "public"]);
    assert_eq!(titles(&mate).await, vec!["group", "public"]);
    assert_eq!(titles(&other).await, vec!["public"]);
    let path = "/v1/notes?min_x=90&min_y=90&max_x=110&max_y=110";
    let anonymous = http::get(server.addr, path, &[]).await.json();
    assert_eq!(anonymous["notes"].as_array().unwrap().len(), 1);
    assert_eq!(anonymous["notes"][0]["id"], public["id"]);
    let mate_http = http::authed(server.addr, "GET", path, &server.token(&who(2)), None).await;
    assert_eq!(mate_http.json()["notes"].as_array().unwrap().len(), 2);

    // Only the author changes a note; one a viewer cannot see does not exist for it.
    let e = mate
        .request(
            "note_edit",
            json!({"note": group["id"], "title": "mine now"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let e = other
        .request("note_delete", json!({"note": group["id"]}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    // A group the author is not in, and a kind that does not exist, are refused.
    let e = author
        .request(
            "note_create",
            json!({"x": 100, "y": 100, "title": "t", "visibility": "group", "group": "guild:0x9002"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let e = other
        .request(
            "note_create",
            json!({"x": 500, "y": 501, "title": "t", "visibility": "group", "group": "guild"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e:?}");
}

#[tokio::test]
async fn the_pin_rule_follows_positions_from_the_chain() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let one = server.client(&who(1)).await;
    let two = server.client(&who(2)).await;
    let refused = |e: realtime_client::ClientError| e.code();
    // Within 3 tiles of its structure: fine; far away: not.
    pin(&one, 103, 100, "near home", "public").await;
    let far = json!({"x": 200, "y": 200, "title": "far"});
    let e = one.request("note_create", far.clone()).await.unwrap_err();
    assert_eq!(refused(e), Some(ErrorCode::Forbidden));
    // Player 2 owns nothing on the map.
    let e = two
        .request("note_create", json!({"x": 100, "y": 100, "title": "t"}))
        .await
        .unwrap_err();
    assert_eq!(refused(e), Some(ErrorCode::Forbidden));
    // Its explorer marches to (199, 200): now (200, 200) is near.
    torii.set_member(201, EXPLORER, coord(199, 200));
    for _ in 0..100 {
        if one.request("note_create", far.clone()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the explorer's move did not open (200, 200)");
}

#[tokio::test]
async fn leaving_the_guild_on_chain_stops_its_notes_at_once() {
    let torii = world().await;
    let server = server_for(&torii).await;
    let author = server.client(&who(1)).await;
    let mut mate = server.client(&who(2)).await;
    watch(&mate, 90, 110).await;
    let group = pin(&author, 101, 101, "war plans", "group").await;
    assert_eq!(
        note_push(next_push(&mut mate).await).id,
        group["id"].as_u64().unwrap()
    );

    torii.delete(12, MEMBER);
    let Push::NotesRevoked(revoked) = next_push(&mut mate).await else {
        panic!("expected notes_revoked")
    };
    assert_eq!(revoked.group, "guild:0x9001");
    author
        .request(
            "note_edit",
            json!({"note": group["id"], "body": "new plans"}),
        )
        .await
        .unwrap();
    pin(&author, 100, 101, "more plans", "group").await;
    quiet(&mut mate).await;
    assert!(titles(&mate).await.is_empty());
    let e = mate
        .request("note_edit", json!({"note": group["id"], "title": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
}

#[tokio::test]
async fn edits_deletes_and_expiry_reach_watchers() {
    let server = Server::start().await;
    let author = server.client(&addr(1)).await;
    let mut watcher = server.client(&addr(2)).await;
    watch(&watcher, 0, 50).await;
    let brief = author
        .request(
            "note_create",
            json!({"x": 5, "y": 5, "title": "brief", "expires_in_secs": 1}),
        )
        .await
        .unwrap()["note"]
        .clone();
    assert!(brief["expires_at"].is_string());
    let lasting = pin(&author, 6, 6, "lasting", "public").await;
    for _ in 0..2 {
        assert_eq!(
            note_push(next_push(&mut watcher).await).event,
            NoteEventKind::Created
        );
    }
    let edited = author
        .request(
            "note_edit",
            json!({"note": lasting["id"], "title": "edited"}),
        )
        .await
        .unwrap();
    assert_eq!(edited["note"]["body"], "b");
    let e = note_push(next_push(&mut watcher).await);
    assert_eq!(
        (e.event, e.note.unwrap().title.as_str()),
        (NoteEventKind::Edited, "edited")
    );
    // The brief note expires by itself: an event without the note, then gone from queries.
    let Some(Event::Push(p)) = watcher.next_event_within(Duration::from_secs(4)).await else {
        panic!("no expiry within 4 s")
    };
    let e = note_push(p);
    assert_eq!(
        (e.event, e.id, e.note),
        (NoteEventKind::Expired, brief["id"].as_u64().unwrap(), None)
    );
    let page = watcher
        .request(
            "notes",
            json!({"area": {"min_x": 0, "min_y": 0, "max_x": 50, "max_y": 50}}),
        )
        .await
        .unwrap();
    assert_eq!(page["notes"].as_array().unwrap().len(), 1);

    // Over HTTP: the same codes, and the same events.
    let token = server.token(&addr(1));
    let path = format!("/v1/notes/{}", lasting["id"]);
    let r = http::authed(
        server.addr,
        "PATCH",
        &path,
        &token,
        Some(&json!({"body": "via http"})),
    )
    .await;
    assert_eq!(r.json()["note"]["body"], "via http", "{}", r.body);
    assert_eq!(
        note_push(next_push(&mut watcher).await).event,
        NoteEventKind::Edited
    );
    let r = http::authed(server.addr, "DELETE", &path, &token, None).await;
    assert_eq!(r.json()["id"], lasting["id"]);
    let e = note_push(next_push(&mut watcher).await);
    assert_eq!((e.event, e.note), (NoteEventKind::Deleted, None));
    let r = http::authed(server.addr, "DELETE", &path, &token, None).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let r = http::authed(
        server.addr,
        "POST",
        "/v1/notes",
        &token,
        Some(&json!({"x": 1, "y": 1, "title": "http"})),
    )
    .await;
    assert_eq!(r.json()["note"]["visibility"], "public");
    assert_eq!(
        note_push(next_push(&mut watcher).await).event,
        NoteEventKind::Created
    );
    quiet(&mut watcher).await;
}

#[tokio::test]
async fn bad_notes_are_refused_with_stable_codes() {
    let server = Server::start().await;
    let c = server.client(&addr(1)).await;
    let long_title = "t".repeat(121);
    let long_body = "b".repeat(2001);
    let cases = [
        (
            json!({"x": 1, "y": 1, "title": long_title}),
            ErrorCode::MessageTooLong,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "body": long_body}),
            ErrorCode::MessageTooLong,
        ),
        (
            json!({"x": 1, "y": 1, "title": "   "}),
            ErrorCode::EmptyMessage,
        ),
        (
            json!({"x": 1, "y": 1, "title": "a\u{0007}"}),
            ErrorCode::InvalidText,
        ),
        (json!({"x": 1, "y": 1}), ErrorCode::BadRequest),
        (
            json!({"x": -1, "y": 1, "title": "t"}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "expires_in_secs": 0}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "expires_in_secs": 99_999_999}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "visibility": "friends"}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "visibility": "group"}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "visibility": "group", "group": "guild"}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "group": "guild"}),
            ErrorCode::BadRequest,
        ),
        (
            json!({"x": 1, "y": 1, "title": "t", "colour": "red"}),
            ErrorCode::BadRequest,
        ),
    ];
    for (args, code) in cases {
        let e = c.request("note_create", args.clone()).await.unwrap_err();
        assert_eq!(e.code(), Some(code), "{args}: {e:?}");
    }
    let note = pin(&c, 1, 1, "ok", "public").await;
    let e = c
        .request("note_edit", json!({"note": note["id"]}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let e = c
        .request("note_edit", json!({"note": 999_999, "title": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    for area in [
        json!({"min_x": 0, "min_y": 0, "max_x": 100_000, "max_y": 100_000}),
        json!({"min_x": 5, "min_y": 0, "max_x": 1, "max_y": 1}),
    ] {
        let e = c.request("notes", json!({"area": area})).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadRequest), "{area}");
    }
    let e = c
        .request(
            "notes",
            json!({"area": {"min_x": 0, "min_y": 0, "max_x": 9, "max_y": 9}, "limit": 0}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let r = http::get(server.addr, "/v1/notes?min_x=0&min_y=0", &[]).await;
    assert_eq!(r.status, 400);
    // The socket took every refusal and still works.
    c.ping().await.unwrap();
}
