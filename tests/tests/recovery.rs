//! Recovery after a disconnect: exactly once, in order, or an explicit "not recovered".

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{Options, Server, addr, messages, quiet};

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed_exactly_once_in_order() {
    let server = Server::start().await;
    let sender = server.client(&addr(2)).await;
    let mut reader = server.client(&addr(1)).await;
    reader.subscribe("world", None).await.unwrap();
    for i in 1..=3 {
        sender
            .publish("world", &format!("m{i}"), &format!("id{i}"))
            .await
            .unwrap();
    }
    let seen = messages(&mut reader, 3).await;
    let last_seen = seen.last().unwrap().1;
    drop(reader); // The connection drops.

    for i in 4..=10 {
        sender
            .publish("world", &format!("m{i}"), &format!("id{i}"))
            .await
            .unwrap();
    }
    let mut back = server.client(&addr(1)).await;
    let ok = back.subscribe("world", Some(last_seen)).await.unwrap();
    assert_eq!(ok.recovered, Some(true));
    assert_eq!(ok.last_seq, 10);
    assert_eq!(ok.replayed, 7);
    sender.publish("world", "m11", "id11").await.unwrap();
    let got = messages(&mut back, 8).await;
    let seqs: Vec<u64> = got.iter().map(|m| m.1).collect();
    assert_eq!(seqs, (4..=11).collect::<Vec<_>>());
    assert_eq!(got[0].2, "m4");
    quiet(&mut back).await;
}

#[tokio::test]
async fn messages_committed_during_the_replay_are_neither_lost_nor_doubled() {
    let server = Server::start().await;
    let sender = server.client(&addr(2)).await;
    for i in 1..=200 {
        sender
            .publish("world", "before", &format!("b{i}"))
            .await
            .unwrap();
    }
    // A publisher keeps writing while clients resubscribe from an old seq.
    let writer = tokio::spawn(async move {
        for i in 1..=150 {
            sender
                .publish("world", "during", &format!("d{i}"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sender
    });
    let mut readers = Vec::new();
    let mut heads = Vec::new();
    for n in 0..5u64 {
        let c = server.client(&addr(10 + n as u32)).await;
        let since = n * 30;
        let ok = c.subscribe("world", Some(since)).await.unwrap();
        assert_eq!(ok.recovered, Some(true), "{ok:?}");
        heads.push(ok.last_seq);
        readers.push((since, c));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.await.unwrap();
    assert!(
        heads.iter().any(|h| *h > 200 && *h < 350),
        "some subscription started while messages were being committed: {heads:?}"
    );
    for (since, c) in &mut readers {
        let expected = 350 - *since as usize;
        let got = messages(c, expected).await;
        let seqs: Vec<u64> = got.iter().map(|m| m.1).collect();
        assert_eq!(seqs, ((*since + 1)..=350).collect::<Vec<_>>());
        quiet(c).await;
    }
}

#[tokio::test]
async fn too_large_a_gap_is_reported_not_partly_replayed() {
    let server = Server::start_with(Options {
        limits: "recovery_max_messages = 5\n".into(),
        ..Options::default()
    })
    .await;
    let sender = server.client(&addr(2)).await;
    for i in 1..=20 {
        sender
            .publish("world", "x", &format!("x{i}"))
            .await
            .unwrap();
    }
    let mut c = server.client(&addr(1)).await;
    let ok = c.subscribe("world", Some(3)).await.unwrap();
    assert_eq!(ok.recovered, Some(false));
    assert_eq!(ok.replayed, 0);
    assert_eq!(ok.last_seq, 20);
    // Live delivery continues after last_seq; the client pages history for the rest.
    sender.publish("world", "live", "live").await.unwrap();
    assert_eq!(messages(&mut c, 1).await[0].1, 21);
    c.unsubscribe("world").await.unwrap();
    // Within the limit, it is replayed.
    let ok = c.subscribe("world", Some(17)).await.unwrap();
    assert_eq!((ok.recovered, ok.replayed), (Some(true), 4));
    assert_eq!(
        messages(&mut c, 4)
            .await
            .iter()
            .map(|m| m.1)
            .collect::<Vec<_>>(),
        vec![18, 19, 20, 21]
    );
    // A client claiming a seq the server never had (storage was reset) is not recovered.
    c.unsubscribe("world").await.unwrap();
    let ok = c.subscribe("world", Some(999)).await.unwrap();
    assert_eq!(ok.recovered, Some(false));
    // Up to date: recovered with nothing to replay.
    c.unsubscribe("world").await.unwrap();
    let ok = c.subscribe("world", Some(21)).await.unwrap();
    assert_eq!((ok.recovered, ok.replayed), (Some(true), 0));
    quiet(&mut c).await;
}

#[tokio::test]
async fn acknowledged_messages_survive_a_restart() {
    let server = Server::start().await;
    let sender = server.client(&addr(2)).await;
    for i in 1..=5 {
        sender
            .publish("world", &format!("kept {i}"), &format!("k{i}"))
            .await
            .unwrap();
    }
    drop(sender);
    let dir = server.keep_dir(); // killed hard, no graceful shutdown
    let server = Server::start_with(Options {
        dir: Some(dir),
        ..Options::default()
    })
    .await;
    let mut c = server.client(&addr(1)).await;
    let ok = c.subscribe("world", Some(0)).await.unwrap();
    assert_eq!(ok.last_seq, 5);
    let got = messages(&mut c, 5).await;
    assert_eq!(got[4].2, "kept 5");
}

#[tokio::test]
async fn a_replay_larger_than_the_send_budget_is_delivered_whole() {
    let server = Server::start_with(Options {
        limits: "max_frame_bytes = 4096\nsend_queue_bytes = 16384\n".into(),
        ..Options::default()
    })
    .await;
    let sender = server.client(&addr(2)).await;
    let body = "r".repeat(1900);
    for i in 1..=60 {
        sender
            .publish("world", &body, &format!("big{i}"))
            .await
            .unwrap();
    }
    // About 120 KB to replay through a 16 KB queue.
    let mut c = server.client(&addr(1)).await;
    let ok = c.subscribe("world", Some(0)).await.unwrap();
    assert_eq!((ok.recovered, ok.replayed), (Some(true), 60));
    let got = messages(&mut c, 60).await;
    assert_eq!(
        got.iter().map(|m| m.1).collect::<Vec<_>>(),
        (1..=60).collect::<Vec<_>>()
    );
    c.request("ping", serde_json::json!({})).await.unwrap();
}

/// A server with a 2 s heartbeat allowance and a small send queue, and 1000 messages of 8 KB
/// in `world`: twice what the kernel buffers between server and client hold, so replaying
/// them to a client that reads one frame every 8 ms takes about 8 s, half of it with the
/// server waiting for the client: longer than the allowance.
async fn long_replay_setup() -> Server {
    let server = Server::start_with(Options {
        server: "ping_interval = \"1s\"\npong_timeout = \"1s\"\n".into(),
        limits: "max_frame_bytes = 16384\nsend_queue_bytes = 16384\n".into(),
        ..Options::default()
    })
    .await;
    let sender = server.client(&addr(2)).await;
    let body = "🦀".repeat(2000);
    for i in 1..=1000 {
        sender
            .publish("world", &body, &format!("slow{i}"))
            .await
            .unwrap();
    }
    server
}

/// Subscribes with recovery on a raw socket and reads slowly; with `ping`, it also sends a
/// ping of its own every 200 ms: the server's pings wait behind megabytes of replay in the
/// kernel buffers, the client's reach the server at once, so the heartbeat holds only if the
/// server reads them during the replay. Returns the close code (if the server closed) and the
/// message pushes read.
async fn read_replay_slowly(
    server: &Server,
    token: &str,
    limit: usize,
    ping: bool,
) -> (Option<u16>, usize) {
    read_replay_slowly_refreshing(server, token, limit, ping, None).await
}

/// [`read_replay_slowly`], sending a `refresh` with `refresh` right after subscribing.
async fn read_replay_slowly_refreshing(
    server: &Server,
    token: &str,
    limit: usize,
    ping: bool,
    refresh: Option<&str>,
) -> (Option<u16>, usize) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!("{}?token={token}", server.ws_url());
    let mut ws = e2e::raw::connect_small_buffer(server.addr, &url).await;
    e2e::raw::send(
        &mut ws,
        r#"{"id":1,"op":"subscribe","channel":"world","since":0}"#,
    )
    .await;
    if let Some(fresh) = refresh {
        let frame = format!(r#"{{"id":3,"op":"refresh","token":"{fresh}"}}"#);
        e2e::raw::send(&mut ws, &frame).await;
    }
    let mut pushed = 0;
    let mut pinged = std::time::Instant::now();
    while pushed < limit {
        if ping && pinged.elapsed() > std::time::Duration::from_millis(200) {
            pinged = std::time::Instant::now();
            if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                return (None, pushed);
            }
        }
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("the server keeps talking");
        match next {
            Some(Ok(Message::Text(t))) => {
                if t.contains(r#""push":"message""#) {
                    pushed += 1;
                }
            }
            Some(Ok(Message::Close(frame))) => return (frame.map(|f| f.code.into()), pushed),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (None, pushed),
        }
        tokio::time::sleep(std::time::Duration::from_millis(8)).await;
    }
    e2e::raw::send(&mut ws, r#"{"id":2,"op":"ping"}"#).await;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains(r#""id":2"#) => return (None, pushed),
            Some(Ok(Message::Close(frame))) => return (frame.map(|f| f.code.into()), pushed),
            Some(Ok(_)) => {}
            _ => return (None, pushed),
        }
    }
}

/// While a long replay is paced by the client's reading, its pongs are still read: the
/// heartbeat does not close a client that is reading.
#[tokio::test]
async fn a_long_replay_does_not_starve_the_heartbeat() {
    let server = long_replay_setup().await;
    let token = server.token(&addr(1));
    let (close, pushed) = read_replay_slowly(&server, &token, 1000, true).await;
    assert_eq!(
        (close, pushed),
        (None, 1000),
        "the whole replay, then a ping reply"
    );
}

/// Token expiry acts during a replay instead of after it.
#[tokio::test]
async fn token_expiry_acts_during_a_long_replay() {
    let server = long_replay_setup().await;
    let token = server.token_with(&addr(1), &["--ttl", "1s"]);
    let (close, pushed) = read_replay_slowly(&server, &token, 1000, false).await;
    assert_eq!(close, Some(4402));
    assert!(pushed < 1000, "closed mid-replay, after {pushed} messages");
}

/// Shutdown acts during a replay instead of after it.
#[tokio::test]
async fn shutdown_acts_during_a_long_replay() {
    let server = long_replay_setup().await;
    let token = server.token(&addr(1));
    let stop = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        server.terminate();
    };
    let ((close, pushed), ()) =
        tokio::join!(read_replay_slowly(&server, &token, 1000, false), stop);
    assert_eq!(close, Some(4000));
    assert!(pushed < 1000, "closed mid-replay, after {pushed} messages");
}

/// A `refresh` sent during a long replay is handled at once, not after the replay: the
/// session does not expire while its newer token waits.
#[tokio::test]
async fn a_refresh_during_a_long_replay_is_handled_at_once() {
    let server = long_replay_setup().await;
    let token = server.token_with(&addr(1), &["--ttl", "2s"]);
    let fresh = server.token_with(&addr(1), &["--ttl", "1h"]);
    let (close, pushed) =
        read_replay_slowly_refreshing(&server, &token, 1000, true, Some(&fresh)).await;
    assert_eq!(
        (close, pushed),
        (None, 1000),
        "refreshed: no 4402 mid-replay"
    );
}
