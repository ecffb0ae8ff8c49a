//! Faults under load: two instances, steady chat traffic from real WebSocket clients on both,
//! and then an instance killed, Postgres restarted and crashed, Redis restarted, or Torii's
//! stream dropped. Clients do what the protocol tells them (retry a publish with its
//! `client_msg_id` until acknowledged, reconnect and subscribe with `since`), and afterwards
//! every acknowledged message is stored exactly once and every subscriber received every
//! message of its channels exactly once, in seq order.
//!
//! Each test has a marked point "after the fault" where both instances are still at hand
//! (`pair.a`, `pair.b`), for checks of what they report about the fault.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::blitz::{self, EXPLORER, coord, who};
use e2e::load::{Load, Plan, Publisher, Subscriber};
use e2e::metrics::scrape;
use e2e::pair::Pair;
use e2e::postgres_server::PostgresServer;
use e2e::{Options, Server, addr, http, next_push};
use realtime_client::{Event, Push};
use serde_json::{Value, json};

/// Generous: the machine may be busy with other tests.
const WAIT: Duration = Duration::from_secs(30);

fn publisher(address: String, channel: &str, instance: usize) -> Publisher {
    Publisher {
        address,
        channel: channel.into(),
        instance,
    }
}

fn subscriber(address: String, channels: &[&str], instance: usize) -> Subscriber {
    Subscriber {
        address,
        channels: channels.iter().map(|c| (*c).into()).collect(),
        instance,
    }
}

/// Two publishers and two subscribers of both channels on each instance (0 is A, 1 is B).
fn chat_plan() -> Plan {
    let both = ["world", "guild:1"];
    Plan {
        publishers: vec![
            publisher(addr(10), "world", 0),
            publisher(addr(11), "guild:1", 0),
            publisher(addr(20), "world", 1),
            publisher(addr(21), "guild:1", 1),
        ],
        subscribers: vec![
            subscriber(addr(1), &both, 0),
            subscriber(addr(2), &both, 0),
            subscriber(addr(3), &both, 1),
            subscriber(addr(4), &both, 1),
        ],
        pause: Duration::from_millis(20),
    }
}

async fn status(server: &Server) -> Value {
    http::get(server.addr, "/v1/status", &[]).await.json()
}

/// Waits until `/readyz` of `server` answers `code`; returns its body.
async fn wait_ready_status(server: &Server, code: u16) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = http::get(server.addr, "/readyz", &[]).await;
        if r.status == code {
            return r.json();
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered {code}: {} {}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `server` reports its bus in `state`.
async fn wait_for_bus(server: &Server, state: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = status(server).await;
        if s["bus_status"]["state"] == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bus never became {state}: {}",
            s["bus_status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_instance_killed_under_load_loses_no_acknowledged_message() {
    let mut pair = Pair::start(Options::default()).await;
    let load = Load::start(&[&pair.a, &pair.b], chat_plan()).await;
    load.wait_more_acks(150, WAIT).await;

    pair.a.kill();
    let killed = Instant::now();
    // A's clients find B, publishers retry what A left unanswered, subscribers resume.
    load.wait_every_publisher(killed, 20, WAIT).await;
    load.wait_until("A's subscribers resumed on B", WAIT, |l| {
        (0..2).all(|n| {
            let log = l.subscriber(n);
            log.instance == 1 && log.resumes.iter().filter(|r| r.at > killed).count() >= 2
        })
    })
    .await;
    load.wait_more_acks(100, WAIT).await;

    // What the load did, in the output of a failing run.
    eprintln!("{}", load.summary());
    // After the fault: A (dead) and B are still at hand here. B's metrics show A's clients
    // arriving: sign-ins and recoveries beyond its own clients'.
    let b = scrape(pair.b.addr).await;
    assert!(
        b.value("realtime_recoveries_total", &[("result", "recovered")]) >= 2.0,
        "{:?}",
        b.samples
    );
    assert!(
        b.value("realtime_connections", &[]) >= 8.0,
        "{:?}",
        b.samples
    );
    let outcome = load.finish(WAIT).await;
    let stored = outcome.check_storage(&pair.b, &addr(1)).await;
    outcome.check_subscribers(&stored);
    outcome.assert_failures_within(&["closed", "websocket", "timeout"]);
    // Acknowledgements came from A before the kill, and A's publishers were acknowledged by
    // B after it.
    for n in 0..2 {
        let acks = || outcome.acks.iter().filter(move |a| a.publisher == n);
        assert!(
            acks().any(|a| a.instance == 0 && a.at < killed),
            "publisher {n}"
        );
        assert!(
            acks().any(|a| a.instance == 1 && a.at > killed),
            "publisher {n}"
        );
    }
    // A's subscribers resumed on B, each channel from where it was (check_subscribers has
    // checked that every resume recovered).
    for log in &outcome.subscribers[..2] {
        let channels: Vec<&str> = log.resumes.iter().map(|r| r.channel.as_str()).collect();
        assert!(log.resumes.iter().all(|r| r.instance == 1), "{log:?}");
        assert!(
            channels.contains(&"world") && channels.contains(&"guild:1"),
            "{log:?}"
        );
    }

    // A comes back on the same database and serves: it replays from storage, takes
    // publishes, and B's subscribers get them through the bus.
    pair.a = pair.start_instance().await;
    wait_ready_status(&pair.a, 200).await;
    let head = stored["world"].last().unwrap().0;
    let mut on_b = pair.b.client(&addr(3)).await;
    on_b.subscribe("world", None).await.unwrap();
    let back = pair.a.client(&addr(1)).await;
    let ok = back.subscribe("world", Some(head - 5)).await.unwrap();
    assert_eq!(
        (ok.recovered, ok.replayed, ok.last_seq),
        (Some(true), 5, head)
    );
    let published = back.publish("world", "back", "back-1").await.unwrap();
    assert_eq!(published.seq, head + 1);
    let Push::Message { seq, .. } = next_push(&mut on_b).await else {
        panic!("expected a message push")
    };
    assert_eq!(seq, head + 1);
    pair.finish().await;
}

/// Waits until both instances are out of rotation with storage named as the reason, and a
/// publish has been answered `unavailable` since `since`.
async fn storage_down(pair: &Pair, load: &Load, since: Instant) {
    for server in [&pair.a, &pair.b] {
        let r = wait_ready_status(server, 503).await;
        assert!(r["reason"].as_str().unwrap().contains("storage"), "{r}");
    }
    load.wait_until("a publish refused while storage is down", WAIT, |l| {
        l.failures()
            .iter()
            .any(|f| f.kind == "unavailable" && f.at > since)
    })
    .await;
}

/// Waits until both instances are back in rotation and every publisher is acknowledged
/// again.
async fn storage_back(pair: &Pair, load: &Load) {
    for server in [&pair.a, &pair.b] {
        let r = wait_ready_status(server, 200).await;
        assert_eq!(r["storage"], "ok", "{r}");
    }
    load.wait_every_publisher(Instant::now(), 10, WAIT).await;
}

#[tokio::test]
async fn postgres_restarted_and_crashed_under_load_loses_no_acknowledged_message() {
    let pg = PostgresServer::init().await;
    let pair = Pair::start_on(
        Options {
            env: vec![(
                "TORII_REALTIME__STORAGE__ACQUIRE_TIMEOUT".into(),
                "1s".into(),
            )],
            ..Options::default()
        },
        &pg.url(),
    )
    .await;
    let load = Load::start(&[&pair.a, &pair.b], chat_plan()).await;
    load.wait_more_acks(100, WAIT).await;

    // An operator's restart: sessions are ended, transactions rolled back. While it is
    // down, publishes are answered `unavailable` and retried.
    let since = Instant::now();
    pg.stop().await;
    storage_down(&pair, &load, since).await;
    pg.start().await;
    storage_back(&pair, &load).await;
    // A crash: every Postgres process killed, then crash recovery on start.
    let since = Instant::now();
    pg.kill().await;
    storage_down(&pair, &load, since).await;
    pg.start().await;
    storage_back(&pair, &load).await;
    load.wait_more_acks(100, WAIT).await;

    // What the load did, in the output of a failing run.
    eprintln!("{}", load.summary());
    // After the fault: both instances are at hand here. Their metrics show it: failed
    // storage round trips, publishes refused `unavailable`, readiness probes that failed.
    for server in [&pair.a, &pair.b] {
        let s = scrape(server.addr).await;
        assert!(
            s.total("realtime_storage_errors_total") >= 1.0,
            "{:?}",
            s.samples
        );
        assert!(
            s.value("realtime_storage_errors_total", &[("op", "probe")]) >= 1.0,
            "{:?}",
            s.samples
        );
    }
    let refused: f64 = {
        let (a, b) = (scrape(pair.a.addr).await, scrape(pair.b.addr).await);
        [a, b]
            .iter()
            .map(|s| {
                s.value(
                    "realtime_refusals_total",
                    &[("code", "unavailable"), ("transport", "ws")],
                )
            })
            .sum()
    };
    assert!(refused >= 1.0);
    let outcome = load.finish(WAIT).await;
    let stored = outcome.check_storage(&pair.b, &addr(1)).await;
    outcome.check_subscribers(&stored);
    outcome.assert_failures_within(&["unavailable"]);
    for (n, log) in outcome.subscribers.iter().enumerate() {
        assert_eq!(log.drops, 0, "subscriber {n} kept its connection");
    }
    pair.finish().await;
    drop(pg);
}

#[tokio::test]
async fn redis_restarted_under_load_loses_no_acknowledged_message() {
    let mut pair = Pair::start(Options::default()).await;
    let load = Load::start(&[&pair.a, &pair.b], chat_plan()).await;
    load.wait_more_acks(100, WAIT).await;

    pair.redis.kill();
    for server in [&pair.a, &pair.b] {
        wait_for_bus(server, "disconnected").await;
        let r = wait_ready_status(server, 200).await;
        assert!(
            r["degraded"]
                .as_str()
                .is_some_and(|d| d.contains("bus disconnected")),
            "{r}"
        );
    }
    // While Redis is down, each instance's subscribers get the other's messages through
    // its storage head check.
    load.wait_more_acks(100, WAIT).await;
    let acks = load.acks();
    let head = |channel: &str| {
        acks.iter()
            .filter(|a| a.channel == channel)
            .map(|a| a.seq)
            .max()
            .unwrap()
    };
    let (world, guild) = (head("world"), head("guild:1"));
    load.wait_until("subscribers caught up while Redis is down", WAIT, |l| {
        (0..4).all(|n| {
            let log = l.subscriber(n);
            log.last("world") >= Some(world) && log.last("guild:1") >= Some(guild)
        })
    })
    .await;
    assert_eq!(status(&pair.b).await["bus_status"]["state"], "disconnected");

    pair.redis.restart().await;
    let mut received = Vec::new();
    for server in [&pair.a, &pair.b] {
        wait_for_bus(server, "connected").await;
        received.push(status(server).await["bus_status"]["received"].as_u64());
    }
    load.wait_more_acks(100, WAIT).await;

    // What the load did, in the output of a failing run.
    eprintln!("{}", load.summary());
    // After the fault: both instances are at hand here. Their metrics show the outage: the
    // bus reconnected and is connected again, and Redis round trips failed meanwhile.
    for server in [&pair.a, &pair.b] {
        let s = scrape(server.addr).await;
        assert!(
            s.value("realtime_bus_reconnects_total", &[]) >= 1.0,
            "{:?}",
            s.samples
        );
        assert_eq!(s.value("realtime_bus_connected", &[]), 1.0);
        assert!(
            s.total("realtime_redis_errors_total") >= 1.0,
            "{:?}",
            s.samples
        );
    }
    for (server, before) in [&pair.a, &pair.b].into_iter().zip(received) {
        let s = status(server).await;
        assert!(
            s["bus_status"]["received"].as_u64() > before,
            "live fan-out carries messages again: {s}"
        );
        assert_eq!(
            wait_ready_status(server, 200).await["degraded"],
            Value::Null
        );
    }
    let outcome = load.finish(WAIT).await;
    let stored = outcome.check_storage(&pair.b, &addr(1)).await;
    outcome.check_subscribers(&stored);
    outcome.assert_failures_within(&[]);
    pair.finish().await;
}

/// A client watching the tiles around explorer 1, recording what arrives.
#[derive(Default)]
struct Watched {
    tiles: Vec<(u64, u64)>,
    resets: usize,
}

async fn watcher(
    server: &Server,
    address: &str,
) -> (Arc<Mutex<Watched>>, tokio::task::JoinHandle<()>) {
    let mut c = server.client(address).await;
    c.request(
        "watch",
        json!({"area": {"min_x": 90, "min_y": 90, "max_x": 110, "max_y": 110}}),
    )
    .await
    .unwrap();
    let seen = Arc::new(Mutex::new(Watched::default()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Some(event) = c.next_event().await {
            let Event::Push(p) = event else { continue };
            let mut w = log.lock().unwrap();
            match p {
                Push::Entity(e) => {
                    let tile = e.tile.map(|t| (u64::from(t.x), u64::from(t.y)));
                    w.tiles.extend(tile);
                }
                Push::FeedReset(_) => w.resets += 1,
                _ => {}
            }
        }
    });
    (seen, task)
}

/// How many times `server` has completed a sync with Torii.
fn syncs(server: &Server) -> usize {
    server
        .logs()
        .iter()
        .filter(|l| l["message"] == "torii sync complete")
        .count()
}

#[tokio::test]
async fn a_torii_stream_drop_under_load_resyncs_without_disrupting_chat() {
    let torii = Arc::new(blitz::world().await);
    let pair = Pair::start(Options {
        config_file: Some(blitz::config_file()),
        env: blitz::torii_env(&torii),
        ..Options::default()
    })
    .await;
    for server in [&pair.a, &pair.b] {
        wait_ready_status(server, 200).await;
    }
    let (near_a, watch_a) = watcher(&pair.a, &who(2)).await;
    let (near_b, watch_b) = watcher(&pair.b, &who(3)).await;
    // Guild 0x9001 (members 1 and 2) is gated by on-chain state; world takes players' posts.
    let guild = "guild:0x9001";
    let plan = Plan {
        publishers: vec![
            publisher(who(1), guild, 0),
            publisher(who(2), guild, 1),
            publisher(who(3), "world", 0),
            publisher(who(1), "world", 1),
        ],
        subscribers: vec![
            subscriber(who(1), &[guild, "world"], 0),
            subscriber(who(2), &[guild, "world"], 1),
            subscriber(who(4), &["world"], 0),
            subscriber(who(3), &["world"], 1),
        ],
        pause: Duration::from_millis(20),
    };
    let load = Load::start(&[&pair.a, &pair.b], plan).await;
    // Explorer 1 paces inside the watched area meanwhile.
    let mover = {
        let torii = torii.clone();
        tokio::spawn(async move {
            for i in 0u32.. {
                torii.set_member(201, EXPLORER, coord(100 + i % 8, 100));
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    load.wait_more_acks(100, WAIT).await;
    load.wait_until("entity updates reach both watchers", WAIT, |_| {
        near_a.lock().unwrap().tiles.len() >= 5 && near_b.lock().unwrap().tiles.len() >= 5
    })
    .await;

    let synced = [syncs(&pair.a), syncs(&pair.b)];
    let dropped = Instant::now();
    torii.drop_streams();
    load.wait_until("both instances resynced with Torii", WAIT, |_| {
        syncs(&pair.a) > synced[0] && syncs(&pair.b) > synced[1]
    })
    .await;
    load.wait_until("both watchers told to reload", WAIT, |_| {
        near_a.lock().unwrap().resets >= 1 && near_b.lock().unwrap().resets >= 1
    })
    .await;
    mover.abort();
    let _ = mover.await;
    // An on-chain update after the resync reaches the watchers of both instances.
    torii.set_member(201, EXPLORER, coord(107, 93));
    load.wait_until(
        "the update after the resync reaches both watchers",
        WAIT,
        |_| {
            [&near_a, &near_b]
                .iter()
                .all(|w| w.lock().unwrap().tiles.last() == Some(&(107, 93)))
        },
    )
    .await;
    load.wait_every_publisher(dropped, 20, WAIT).await;

    // What the load did, in the output of a failing run.
    eprintln!("{}", load.summary());
    // After the fault: both instances are at hand here; their metrics show the reconnect,
    // a live stream again, and on-chain updates delivered.
    for server in [&pair.a, &pair.b] {
        let s = status(server).await;
        assert!(s["torii"]["reconnects"].as_u64().unwrap() >= 1, "{s}");
        assert_eq!(s["torii"]["synced"], true, "{s}");
        let m = scrape(server.addr).await;
        assert!(
            m.value("realtime_torii_reconnects_total", &[]) >= 1.0,
            "{:?}",
            m.samples
        );
        assert_eq!(m.value("realtime_torii_live", &[]), 1.0);
        assert_eq!(m.value("realtime_torii_stale_seconds", &[]), 0.0);
        assert!(
            m.value("realtime_messages_out_total", &[("feature", "onchain")]) >= 1.0,
            "{:?}",
            m.samples
        );
    }
    let outcome = load.finish(WAIT).await;
    // Chat went on as if nothing happened: no refusal, no drop, no revoked subscription.
    outcome.assert_failures_within(&[]);
    for (n, log) in outcome.subscribers.iter().enumerate() {
        assert_eq!(log.drops, 0, "subscriber {n}");
        assert!(
            log.other_pushes.is_empty(),
            "subscriber {n}: {:?}",
            log.other_pushes
        );
    }
    let stored = outcome.check_storage(&pair.b, &who(1)).await;
    outcome.check_subscribers(&stored);
    watch_a.abort();
    watch_b.abort();
    pair.finish().await;
}
