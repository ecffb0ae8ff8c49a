//! A client that floods the server with requests does not slow anyone else down: what it
//! sends beyond its allowance is refused cheaply, and past `[limits] frames_per_second` its
//! socket is simply not read (TCP pushes back on it), so its cost to the server is bounded.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::{Options, Server, addr, message_push, next_push};
use futures_util::{SinkExt, StreamExt};
use realtime_client::Client;
use tokio_tungstenite::tungstenite::Message;

/// Publish→deliver latencies of `n` messages of `sender` seen by `reader`, one at a time.
async fn latencies(sender: &Client, reader: &mut Client, n: usize, tag: &str) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("{tag}-{i}");
        let start = Instant::now();
        sender.publish("world", &id, &id).await.unwrap();
        let (_, _, m) = message_push(next_push(reader).await);
        assert_eq!(m.body, id);
        out.push(start.elapsed());
        // Within the sender's own publish allowance.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Floods publishes as fast as the socket takes them, reading (and counting) every answer,
/// until `stop`; counts the frames sent.
async fn flood(url: String, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>, answered: Arc<AtomicU64>) {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut sink, mut stream) = ws.split();
    let drain = tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            if m.is_text() {
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let mut i: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let frame = format!(
            r#"{{"id":{i},"op":"publish","channel":"spam","body":"flood {i}","client_msg_id":"f{i}"}}"#
        );
        if sink.send(Message::text(frame)).await.is_err() {
            break;
        }
        i += 1;
        sent.store(i, Ordering::Relaxed);
    }
    drain.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_leaves_another_clients_latency_within_a_fifth() {
    let server = Server::start_with(Options {
        // The defaults of frames_burst and frames_per_second.
        limits: "publish_burst = 100\npublish_per_second = 50.0\n\
                 frames_burst = 200\nframes_per_second = 50.0\n"
            .into(),
        ..Options::default()
    })
    .await;
    let sender = server.client(&addr(1)).await;
    let mut reader = server.client(&addr(2)).await;
    reader.subscribe("world", None).await.unwrap();
    latencies(&sender, &mut reader, 10, "warm").await;

    let mut quiet = Vec::new();
    let mut loaded = Vec::new();
    let sent = Arc::new(AtomicU64::new(0));
    let mut flooded = Duration::ZERO;
    let mut answered_total = 0;
    // Alternating rounds, so a slow moment of the machine weighs on both sides.
    for round in 0..4 {
        quiet.extend(latencies(&sender, &mut reader, 20, &format!("q{round}")).await);
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{}?token={}", server.ws_url(), server.token(&addr(3)));
        let answered = Arc::new(AtomicU64::new(0));
        let began = Instant::now();
        let flooder = tokio::spawn(flood(url, stop.clone(), sent.clone(), answered.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        loaded.extend(latencies(&sender, &mut reader, 20, &format!("l{round}")).await);
        stop.store(true, Ordering::Relaxed);
        flooder.abort();
        flooded += began.elapsed();
        answered_total += answered.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (quiet, loaded) = (median(quiet), median(loaded));
    let ratio = loaded.as_secs_f64() / quiet.as_secs_f64();
    eprintln!(
        "median publish→deliver: {quiet:?} alone, {loaded:?} during the flood ({ratio:.2}×); \
         flood frames sent: {}",
        sent.load(Ordering::Relaxed)
    );
    // Each flooding connection was answered its burst (and its `connected` push), then at
    // most its rate.
    let allowed = 4.0 * (200.0 + 1.0) + 50.0 * flooded.as_secs_f64() * 1.1;
    assert!(
        (answered_total as f64) <= allowed,
        "the flood was served {answered_total} frames in {flooded:?}; at most {allowed:.0}"
    );
    assert!(
        ratio <= 1.2,
        "the flood slowed another client: {quiet:?} → {loaded:?} ({ratio:.2}×)"
    );
}
