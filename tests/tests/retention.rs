//! Retention end to end: the job removes old messages while publishing goes on, and every
//! way of reading them back (history over WebSocket and HTTP, subscribe with `since`, sync)
//! says so explicitly rather than passing the end of the stored log off as the channel's
//! start. Old note tombstones go too, and a sync from before them asks for a reload.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use e2e::{Options, Server, addr, http, messages};
use realtime_client::{Client, History, HistoryPage, NotRecovered};
use serde_json::json;

fn seqs(page: &HistoryPage) -> Vec<u64> {
    page.messages.iter().map(|m| m.seq.unwrap()).collect()
}

/// The newest page of `channel`.
async fn newest(c: &Client, channel: &str) -> HistoryPage {
    c.history(channel, History::default()).await.unwrap()
}

/// Waits (up to 10 s) until the newest page of `channel` satisfies `done`.
async fn until(c: &Client, channel: &str, done: impl Fn(&HistoryPage) -> bool) -> HistoryPage {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = newest(c, channel).await;
        if done(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "still {page:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn trimmed_messages_are_reported_expired_by_history_subscribe_and_sync() {
    let server = Server::start_with(Options {
        toml: "[retention]\ninterval = \"200ms\"\n\n\
               [retention.channels.world]\nmax_messages = 5\n"
            .into(),
        limits: "recovery_max_messages = 10\n".into(),
        ..Options::default()
    })
    .await;
    let mut c = server.client(&addr(1)).await;
    for i in 1..=20 {
        c.publish("world", &format!("w{i}"), &format!("w{i}"))
            .await
            .unwrap();
        // A channel without a rule keeps everything.
        c.publish("lobby", &format!("l{i}"), &format!("l{i}"))
            .await
            .unwrap();
    }
    let page = until(&c, "world", |p| p.expired && p.messages.len() == 5).await;
    assert_eq!(seqs(&page), (16..=20).collect::<Vec<_>>());
    assert!(!page.has_more);
    assert_eq!(page.messages[0].body, "w16");
    let lobby = newest(&c, "lobby").await;
    assert_eq!(seqs(&lobby), (1..=20).collect::<Vec<_>>());
    assert!(!lobby.expired && !lobby.has_more);

    // Over HTTP too: backwards to the trim point, and forwards from before it.
    let token = server.token(&addr(1));
    let r = http::authed(
        server.addr,
        "GET",
        "/v1/channels/world/messages",
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["expired"], true, "{}", r.body);
    let r = http::authed(
        server.addr,
        "GET",
        "/v1/channels/world/messages?after=3&limit=2",
        &token,
        None,
    )
    .await;
    let page: HistoryPage = serde_json::from_value(r.json()).unwrap();
    assert_eq!(
        (seqs(&page), page.has_more, page.expired),
        (vec![16, 17], true, true)
    );
    // A page that does not reach the trim point says nothing (the field is left out).
    let r = http::authed(
        server.addr,
        "GET",
        "/v1/channels/world/messages?after=16&limit=2",
        &token,
        None,
    )
    .await;
    assert!(r.json().get("expired").is_none(), "{}", r.body);

    // A resubscribe from before the trim point: not recovered, because expired, whether
    // more (17) or fewer (8) than recovery_max_messages were missed.
    for since in [12, 3] {
        let ok = c.subscribe("world", Some(since)).await.unwrap();
        assert_eq!(
            (ok.recovered, ok.reason, ok.replayed, ok.last_seq),
            (Some(false), Some(NotRecovered::Expired), 0, 20),
            "since {since}"
        );
        if since == 12 {
            c.unsubscribe("world").await.unwrap();
        }
    }
    // Too many missed where nothing was removed is another reason.
    let ok = c.subscribe("lobby", Some(3)).await.unwrap();
    assert_eq!(
        (ok.recovered, ok.reason),
        (Some(false), Some(NotRecovered::TooMany))
    );
    c.unsubscribe("lobby").await.unwrap();
    // Live delivery goes on after last_seq.
    c.publish("world", "w21", "w21").await.unwrap();
    assert_eq!(messages(&mut c, 1).await[0].1, 21);
    // From within what is kept, the replay is whole.
    c.unsubscribe("world").await.unwrap();
    let ok = c.subscribe("world", Some(18)).await.unwrap();
    assert_eq!(
        (ok.recovered, ok.reason, ok.replayed),
        (Some(true), None, 3)
    );
    let replayed: Vec<u64> = messages(&mut c, 3).await.iter().map(|m| m.1).collect();
    assert_eq!(replayed, [19, 20, 21]);

    // Sync says the same.
    let ok = c
        .request("sync", json!({"channels": {"world": 3, "lobby": 12}}))
        .await
        .unwrap();
    let channels = ok["channels"].as_array().unwrap();
    let lobby = channels.iter().find(|c| c["channel"] == "lobby").unwrap();
    let world = channels.iter().find(|c| c["channel"] == "world").unwrap();
    assert_eq!(lobby["recovered"], true, "{ok}");
    assert!(lobby.get("reason").is_none(), "{ok}");
    assert_eq!(
        (&world["recovered"], &world["reason"]),
        (&json!(false), &json!("expired"))
    );
    assert_eq!(world["messages"], json!([]));
}

#[tokio::test]
async fn publishing_goes_on_while_old_messages_are_trimmed() {
    // Small batches, so trimming a backlog takes many transactions.
    let server = Server::start_with(Options {
        toml: "[retention]\ninterval = \"200ms\"\nbatch = 10\nmax_age = \"1s\"\n".into(),
        ..Options::default()
    })
    .await;
    let c = server.client(&addr(1)).await;
    for i in 1..=300 {
        c.publish("world", "backlog", &format!("b{i}"))
            .await
            .unwrap();
    }
    // For three seconds, a message every 10 ms: the rule removes each a second after it was
    // published, while the writer goes on.
    let started = Instant::now();
    let mut published = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut seen_trimmed_while_writing = false;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(3) {
        i += 1;
        let sent = Instant::now();
        let ok = c.publish("world", "live", &format!("l{i}")).await.unwrap();
        slowest = slowest.max(sent.elapsed());
        published.push(ok.seq);
        if i % 50 == 0 {
            let page = c
                .history(
                    "world",
                    History {
                        after: Some(0),
                        limit: Some(1),
                        ..History::default()
                    },
                )
                .await
                .unwrap();
            seen_trimmed_while_writing |=
                page.expired && page.messages.first().is_some_and(|m| m.seq > Some(300));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        published,
        (301..301 + published.len() as u64).collect::<Vec<_>>(),
        "every publish stored, gap-free"
    );
    assert!(
        seen_trimmed_while_writing,
        "the backlog and the writer's own older messages were removed while it wrote"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a publish took {slowest:?}"
    );
    // What is left is the last second or so, and the page says older ones expired.
    let last = *published.last().unwrap();
    let page = until(&c, "world", |p| p.expired && !p.has_more).await;
    assert!(seqs(&page).iter().all(|s| *s > 300), "{page:?}");
    assert_eq!(seqs(&page).last(), Some(&last));
    server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "retention removed what is no longer kept"
                && l["messages"].as_u64().is_some_and(|n| n > 0)
        })
        .await;
}

#[tokio::test]
async fn a_sync_from_before_purged_note_tombstones_asks_for_a_reload() {
    let server = Server::start_with(Options {
        toml: "[retention]\ninterval = \"200ms\"\nnote_tombstones = \"1s\"\n".into(),
        ..Options::default()
    })
    .await;
    let c = server.client(&addr(1)).await;
    let area = json!({"min_x": 0, "min_y": 0, "max_x": 20, "max_y": 20});
    let note = c
        .request("note_create", json!({"x": 3, "y": 3, "title": "gone soon"}))
        .await
        .unwrap()["note"]
        .clone();
    let before = note["rev"].as_u64().unwrap();
    c.request("note_delete", json!({"note": note["id"]}))
        .await
        .unwrap();
    let sync = json!({"notes": {"area": area, "rev": before}});
    // While the tombstone is kept, the removal comes back.
    let ok = c.request("sync", sync.clone()).await.unwrap();
    assert_eq!(ok["notes"]["complete"], true, "{ok}");
    assert_eq!(ok["notes"]["changes"][0]["event"], "deleted", "{ok}");
    // Once it is purged, the client is told to reload rather than left with the note.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ok = loop {
        let ok = c.request("sync", sync.clone()).await.unwrap();
        if ok["notes"]["complete"] == false {
            break ok;
        }
        assert!(Instant::now() < deadline, "still {ok}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ok["notes"]["changes"], json!([]), "{ok}");
    assert_eq!(ok["notes"]["rev"], before, "{ok}");
}
