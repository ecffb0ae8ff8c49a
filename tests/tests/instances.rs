//! Several instances over one Postgres database and one Redis: a message committed on one
//! reaches the subscribers of the other once each, in seq order, while Redis works, while it
//! is down, and after an instance dies. Every test has its own database and its own
//! `redis-server`, which it may kill and restart.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::redis::Redis;
use e2e::{Options, Server, addr, drop_postgres, fresh_postgres, http, messages, quiet, unique};
use realtime_client::Client;
use serde_json::Value;

/// Both instances must accept each other's tokens (a load balancer may send a client to
/// either): they share the session secret.
const SECRET: &str = "instances-share-this-secret-of-forty-bytes";

/// One instance on the shared database and Redis; `prefix` keeps tests that run at the same
/// time apart even if they met on one Redis.
async fn instance(database: &str, redis: &Redis, prefix: &str) -> Server {
    Server::start_with(Options {
        env: vec![
            ("TORII_REALTIME__STORAGE__URL".into(), database.into()),
            ("TORII_REALTIME__BUS__KIND".into(), "redis".into()),
            ("TORII_REALTIME__BUS__URL".into(), redis.url()),
            ("TORII_REALTIME__BUS__PREFIX".into(), prefix.into()),
            ("TORII_REALTIME__AUTH__SESSION_SECRET".into(), SECRET.into()),
        ],
        ..Options::default()
    })
    .await
}

/// Two instances, A and B, over a fresh database and a private Redis.
struct Pair {
    a: Server,
    b: Server,
    redis: Redis,
    db: String,
}

impl Pair {
    async fn start() -> Self {
        let redis = Redis::start().await;
        let (url, db) = fresh_postgres().await;
        let prefix = unique("rt");
        let a = instance(&url, &redis, &prefix).await;
        let b = instance(&url, &redis, &prefix).await;
        for s in [&a, &b] {
            wait_for_bus(s, "connected").await;
        }
        Self { a, b, redis, db }
    }

    async fn finish(self) {
        drop(self.a);
        drop(self.b);
        drop(self.redis);
        drop_postgres(&self.db).await;
    }
}

async fn status(server: &Server) -> Value {
    http::get(server.addr, "/v1/status", &[]).await.json()
}

/// Waits until the instance reports its bus in `state`.
async fn wait_for_bus(server: &Server, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
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

/// Notices the instance received from other instances through Redis.
async fn received(server: &Server) -> u64 {
    status(server).await["bus_status"]["received"]
        .as_u64()
        .unwrap()
}

async fn subscribed(server: &Server, who: u32, channel: &str) -> Client {
    let c = server.client(&addr(who)).await;
    c.subscribe(channel, None).await.unwrap();
    c
}

/// Publishes `count` messages `{tag}-{i}` one after the other; returns their seqs.
async fn publish(c: &Client, channel: &str, tag: &str, count: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for i in 0..count {
        let id = format!("{tag}-{i}");
        seqs.push(c.publish(channel, &id, &id).await.unwrap().seq);
    }
    seqs
}

/// The next `n` messages are exactly seqs `from..from + n`, in order.
async fn expect_seqs(c: &mut Client, from: u64, n: usize) -> Vec<String> {
    let got = messages(c, n).await;
    let seqs: Vec<u64> = got.iter().map(|m| m.1).collect();
    assert_eq!(seqs, (from..from + n as u64).collect::<Vec<_>>());
    got.into_iter().map(|m| m.2).collect()
}

#[tokio::test]
async fn messages_cross_instances_in_order_exactly_once() {
    let pair = Pair::start().await;
    let mut on_a = subscribed(&pair.a, 1, "world").await;
    let mut on_b = subscribed(&pair.b, 2, "world").await;
    // Two publishers on each instance, all at once.
    let per_publisher = 40;
    let mut tasks = Vec::new();
    for (n, server) in [(10, &pair.a), (11, &pair.a), (20, &pair.b), (21, &pair.b)] {
        let c = server.client(&addr(n)).await;
        tasks.push(tokio::spawn(async move {
            publish(&c, "world", &format!("p{n}"), per_publisher).await
        }));
    }
    let mut committed = Vec::new();
    for t in tasks {
        committed.extend(t.await.unwrap());
    }
    committed.sort_unstable();
    let total = per_publisher * 4;
    assert_eq!(committed, (1..=total as u64).collect::<Vec<_>>());
    let bodies_a = expect_seqs(&mut on_a, 1, total).await;
    let bodies_b = expect_seqs(&mut on_b, 1, total).await;
    assert_eq!(bodies_a, bodies_b, "both instances deliver the same log");
    assert_eq!(
        bodies_a.iter().collect::<BTreeSet<_>>().len(),
        total,
        "each message once"
    );
    quiet(&mut on_a).await;
    quiet(&mut on_b).await;
    // Live fan-out carried them, both ways, not only the storage head check.
    assert!(received(&pair.a).await > 0 && received(&pair.b).await > 0);
    // A channel only B follows is never sent to A's sockets.
    let mut guild_b = subscribed(&pair.b, 3, "guild:1").await;
    let poster = pair.a.client(&addr(30)).await;
    publish(&poster, "guild:1", "g", 3).await;
    expect_seqs(&mut guild_b, 1, 3).await;
    quiet(&mut on_a).await;
    pair.finish().await;
}

#[tokio::test]
async fn a_redis_outage_falls_back_to_storage_and_live_fan_out_resumes() {
    let mut pair = Pair::start().await;
    let mut on_a = subscribed(&pair.a, 1, "world").await;
    let mut on_b = subscribed(&pair.b, 2, "world").await;
    let from_a = pair.a.client(&addr(10)).await;
    let from_b = pair.b.client(&addr(20)).await;
    publish(&from_a, "world", "before", 3).await;
    expect_seqs(&mut on_a, 1, 3).await;
    expect_seqs(&mut on_b, 1, 3).await;

    pair.redis.kill();
    wait_for_bus(&pair.a, "disconnected").await;
    wait_for_bus(&pair.b, "disconnected").await;
    let ready = http::get(pair.b.addr, "/readyz", &[]).await;
    assert_eq!(ready.status, 200, "a bus outage degrades, it does not stop");
    assert!(
        ready.json()["degraded"]
            .as_str()
            .is_some_and(|d| d.contains("bus disconnected")),
        "{}",
        ready.body
    );
    // Publishing still works; the publishing instance's subscribers get the messages at once
    // and the other instance's through its head check, in order, once.
    let seqs = publish(&from_a, "world", "down-a", 10).await;
    assert_eq!(seqs, (4..=13).collect::<Vec<_>>());
    expect_seqs(&mut on_a, 4, 10).await;
    expect_seqs(&mut on_b, 4, 10).await;
    publish(&from_b, "world", "down-b", 5).await;
    expect_seqs(&mut on_b, 14, 5).await;
    expect_seqs(&mut on_a, 14, 5).await;
    quiet(&mut on_a).await;
    quiet(&mut on_b).await;

    pair.redis.restart().await;
    wait_for_bus(&pair.a, "connected").await;
    wait_for_bus(&pair.b, "connected").await;
    let before = received(&pair.b).await;
    publish(&from_a, "world", "after", 5).await;
    expect_seqs(&mut on_a, 19, 5).await;
    expect_seqs(&mut on_b, 19, 5).await;
    assert!(
        received(&pair.b).await > before,
        "live fan-out carries messages again"
    );
    quiet(&mut on_a).await;
    quiet(&mut on_b).await;
    let s = status(&pair.b).await;
    assert!(s["bus_status"]["reconnects"].as_u64().unwrap() >= 1, "{s}");
    pair.finish().await;
}

#[tokio::test]
async fn an_instance_killed_mid_traffic_leaves_the_other_serving() {
    let pair = Pair::start().await;
    let mut on_a = subscribed(&pair.a, 1, "world").await;
    let mut on_b = subscribed(&pair.b, 2, "world").await;
    let from_b = pair.b.client(&addr(20)).await;
    publish(&from_b, "world", "first", 5).await;
    expect_seqs(&mut on_a, 1, 5).await;
    expect_seqs(&mut on_b, 1, 5).await;

    let Pair { a, b, redis, db } = pair;
    // Dropping a server kills it with SIGKILL: no shutdown, no goodbye to Redis.
    drop(a);
    assert_eq!(
        e2e::close_code(&mut on_a).await,
        None,
        "the socket just drops"
    );
    publish(&from_b, "world", "after", 5).await;
    expect_seqs(&mut on_b, 6, 5).await;
    quiet(&mut on_b).await;
    let ready = http::get(b.addr, "/readyz", &[]).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["degraded"], Value::Null, "{}", ready.body);
    // The client of the dead instance comes back through the load balancer to B and
    // recovers from its last seq.
    let back = b.client(&addr(1)).await;
    let ok = back.subscribe("world", Some(5)).await.unwrap();
    assert_eq!((ok.recovered, ok.replayed), (Some(true), 5));
    let mut back = back;
    expect_seqs(&mut back, 6, 5).await;
    quiet(&mut back).await;
    drop(b);
    drop(redis);
    drop_postgres(&db).await;
}

#[tokio::test]
async fn a_client_reconnecting_to_another_instance_recovers_with_since() {
    let pair = Pair::start().await;
    let from_a = pair.a.client(&addr(10)).await;
    let mut on_b = subscribed(&pair.b, 2, "world").await;
    publish(&from_a, "world", "seen", 3).await;
    expect_seqs(&mut on_b, 1, 3).await;
    drop(on_b);
    publish(&from_a, "world", "missed", 4).await;
    let mut back = pair.b.client(&addr(2)).await;
    let ok = back.subscribe("world", Some(3)).await.unwrap();
    assert_eq!((ok.recovered, ok.replayed, ok.last_seq), (Some(true), 4, 7));
    let bodies = expect_seqs(&mut back, 4, 4).await;
    assert_eq!(bodies, ["missed-0", "missed-1", "missed-2", "missed-3"]);
    // Live again after the replay, from the other instance.
    publish(&from_a, "world", "live", 2).await;
    expect_seqs(&mut back, 8, 2).await;
    quiet(&mut back).await;
    pair.finish().await;
}
