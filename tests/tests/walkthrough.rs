//! The two-player walkthrough of docs/walkthrough.md, as a test against the real binary and
//! the fake Torii with config/eternum-blitz.toml: a direct message, a read receipt, a block,
//! a guild note seen by the guild mate in their viewport (and not by an outsider), and an
//! announcement. Run it with `--no-capture` to print every request and what came back.

#![allow(clippy::unwrap_used)]

use e2e::blitz::*;
use e2e::{next_push, quiet};
use realtime_client::{Client, ErrorCode, Push};
use serde_json::{Value, json};

/// Sends `op` as `who`, printing the request and the reply.
async fn say(
    c: &Client,
    who: &str,
    op: &str,
    args: Value,
) -> Result<Value, realtime_client::ClientError> {
    println!("{who} → {op} {args}");
    let reply = c.request(op, args).await;
    match &reply {
        Ok(ok) => println!("{who} ← ok {ok}"),
        Err(e) => println!("{who} ← error {e}"),
    }
    reply
}

/// The next push to `who`, printed.
async fn hear(c: &mut Client, who: &str) -> Push {
    let push = next_push(c).await;
    println!("{who} ← push {push:?}");
    push
}

#[tokio::test]
async fn two_players_walk_through_the_social_layer() {
    let torii = world().await;
    let server = server_for(&torii).await;
    // Player 1 ("e") and player 2 ("f") are guild mates in guild 0x9001; player 3 is not.
    let mut one = server.client(&who(1)).await;
    let mut two = server.client(&who(2)).await;
    let mut three = server.client(&who(3)).await;
    let dm = "dm:0x1:0x2";

    // 1. A direct message starts the thread; both sides hear of it.
    say(
        &one,
        "p1",
        "publish",
        json!({"channel": dm, "body": "gm, want to raid?", "client_msg_id": "w1"}),
    )
    .await
    .unwrap();
    assert_eq!(hear(&mut one, "p1").await.name(), "dm_started");
    assert_eq!(hear(&mut two, "p2").await.name(), "dm_started");
    let ok = say(
        &two,
        "p2",
        "subscribe",
        json!({"channel": dm, "since": 0, "presence": true}),
    )
    .await
    .unwrap();
    assert_eq!(ok["replayed"], 1);
    let Push::Message { message, .. } = hear(&mut two, "p2").await else {
        panic!("the message")
    };
    assert_eq!(message.body, "gm, want to raid?");

    // 2. Player 2 reads it: player 1 gets a read receipt.
    say(&two, "p2", "read", json!({"channel": dm, "seq": 1}))
        .await
        .unwrap();
    let Push::Read { read, .. } = hear(&mut one, "p1").await else {
        panic!("a read receipt")
    };
    assert_eq!(read.seq, 1);

    // 3. Player 2 blocks player 1: player 1's next message is refused; then unblocks.
    say(&two, "p2", "block", json!({"address": "0x1"}))
        .await
        .unwrap();
    let e = say(
        &one,
        "p1",
        "publish",
        json!({"channel": dm, "body": "hello?", "client_msg_id": "w2"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Blocked));
    say(&two, "p2", "unblock", json!({"address": "0x1"}))
        .await
        .unwrap();

    // 4. A guild note: the guild mate sees it appear in their viewport, the outsider does not.
    let viewport = json!({"area": {"min_x": 90, "min_y": 90, "max_x": 110, "max_y": 110}});
    say(&two, "p2", "watch", viewport.clone()).await.unwrap();
    say(&three, "p3", "watch", viewport).await.unwrap();
    say(
        &one,
        "p1",
        "note_create",
        json!({"x": 101, "y": 101, "title": "Rally here", "body": "at dawn", "visibility": "group", "group": "guild"}),
    )
    .await
    .unwrap();
    // Player 2's presence in the thread is announced to it too; skip to the note.
    let note = loop {
        match hear(&mut two, "p2").await {
            Push::Note(n) => break n,
            Push::PresenceChange { .. } => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(note.note.unwrap().title, "Rally here");
    quiet(&mut three).await;

    // 5. On chain, player 1 takes player 3's structure: the guild hears of it.
    say(&two, "p2", "subscribe", json!({"channel": "guild:0x9001"}))
        .await
        .unwrap();
    println!("chain: structure 8 passes from player 3 to player 1");
    torii.set(108, structure(8, a(1), 500, 500));
    let Push::Message {
        channel, message, ..
    } = hear(&mut two, "p2").await
    else {
        panic!("the announcement")
    };
    assert_eq!(channel, "guild:0x9001");
    assert_eq!(message.body, "e took structure 8 at (500, 500) from g");
}
