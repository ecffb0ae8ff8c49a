//! Two instances following one world. They follow one fake Torii over one Postgres database
//! and a private Redis; the one holding the lease posts each announcement, once; when it is
//! killed (`kill -9`, no release), the other takes over within the lease's TTL and posts what
//! changed meanwhile, once. A revocation on chain reaches the clients of both instances.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use e2e::blitz::*;
use e2e::redis::Redis;
use e2e::{Options, Server, http, message_push, next_push, quiet};
use realtime_client::{Client, History};
use serde_json::Value;
use torii_plugin::fake::FakeTorii;

/// Short, so the test is; production uses the default 10 s.
const TTL: Duration = Duration::from_secs(2);

async fn instance(torii: &FakeTorii, database: &str, redis: &Redis, prefix: &str) -> Server {
    let mut env = torii_env(torii);
    env.extend([
        ("TORII_REALTIME__BUS__KIND".into(), "redis".into()),
        ("TORII_REALTIME__BUS__URL".into(), redis.url()),
        ("TORII_REALTIME__BUS__PREFIX".into(), prefix.into()),
        (
            "TORII_REALTIME__BUS__LEASE_TTL".into(),
            format!("{}s", TTL.as_secs()),
        ),
    ]);
    let server = Server::start_with(Options {
        config_file: Some(config_file()),
        env,
        storage_url: Some(database.into()),
        ..Options::default()
    })
    .await;
    wait_ready(&server).await;
    server
}

async fn leads(server: &Server) -> bool {
    let status: Value = http::get(server.addr, "/v1/status", &[]).await.json();
    status["leader"].as_bool().unwrap()
}

/// Waits until exactly one of `servers` leads; returns its index.
async fn one_leader(servers: &[&Server]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut leading = Vec::new();
        for (i, s) in servers.iter().enumerate() {
            if leads(s).await {
                leading.push(i);
            }
        }
        if let [one] = leading[..] {
            return one;
        }
        assert!(Instant::now() < deadline, "leaders: {leading:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many times the server logged posting an announcement.
fn posted(server: &Server) -> usize {
    server
        .logs()
        .iter()
        .filter(|l| l["message"] == "announcement")
        .count()
}

async fn stored(c: &Client) -> Vec<String> {
    c.history("guild:0x9001", History::default())
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.body)
        .collect()
}

/// Two instances over one fresh Postgres and `redis`, both following `torii`, once one of
/// them leads: (the leader, the other, the database to drop).
async fn two_instances(torii: &FakeTorii, redis: &Redis) -> (Server, Server, String) {
    let (url, db) = e2e::fresh_postgres().await;
    let prefix = e2e::unique("lease");
    let first = instance(torii, &url, redis, &prefix).await;
    let second = instance(torii, &url, redis, &prefix).await;
    if one_leader(&[&first, &second]).await == 0 {
        (first, second, db)
    } else {
        (second, first, db)
    }
}

#[tokio::test]
async fn one_instance_announces_and_another_takes_over_when_it_dies() {
    let torii = world().await;
    let redis = Redis::start().await;
    let (leader, survivor, db) = two_instances(&torii, &redis).await;
    // Player 2's client is on the instance that will survive.
    let mut mate = survivor.client(&who(2)).await;
    mate.subscribe("guild:0x9001", None).await.unwrap();

    // Player 1 takes structure 8: one line, posted by the leader only.
    torii.set(108, structure(8, a(1), 500, 500));
    let (channel, seq, m) = message_push(next_push(&mut mate).await);
    assert_eq!((channel.as_str(), seq), ("guild:0x9001", 1));
    assert_eq!(m.body, "e took structure 8 at (500, 500) from g");
    quiet(&mut mate).await;
    assert_eq!(stored(&mate).await.len(), 1);
    assert_eq!((posted(&leader), posted(&survivor)), (1, 0));
    // The lease is renewed: leadership stays put over several renewals.
    tokio::time::sleep(TTL * 2).await;
    assert!(leads(&leader).await && !leads(&survivor).await);

    // The leader dies without releasing the lease; a change lands while nobody leads.
    drop(leader);
    let killed = Instant::now();
    torii.set(108, structure(8, a(2), 500, 500));
    while !leads(&survivor).await {
        assert!(
            killed.elapsed() < TTL + Duration::from_millis(500),
            "no takeover within the TTL"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took_over = killed.elapsed();
    // It had kept the change seen while nobody led, and posted it on taking over.
    survivor
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("took over announcements"))
                && l["count"] == 1
        })
        .await;
    let (_, seq, m) = message_push(next_push(&mut mate).await);
    assert_eq!(
        (seq, m.body.as_str()),
        (2, "f took structure 8 at (500, 500) from e")
    );
    quiet(&mut mate).await;

    // Leading now, it posts at once.
    torii.set(108, structure(8, a(1), 500, 500));
    let (_, seq, m) = message_push(next_push(&mut mate).await);
    assert_eq!(
        (seq, m.body.as_str()),
        (3, "e took structure 8 at (500, 500) from f")
    );
    quiet(&mut mate).await;
    assert_eq!(stored(&mate).await.len(), 3, "each change stored once");
    assert_eq!(posted(&survivor), 2);
    eprintln!("takeover {took_over:?} after kill -9");
    drop(survivor);
    drop(redis);
    e2e::drop_postgres(&db).await;
}

#[tokio::test]
async fn a_single_instance_leads_without_a_lease() {
    let torii = world().await;
    let server = server_for(&torii).await;
    assert!(leads(&server).await);
}

/// Stopped gracefully, the leader gives the lease back: the other takes over at its next
/// attempt (a third of the TTL), not after the TTL.
#[tokio::test]
async fn a_leader_that_stops_hands_over_at_once() {
    let torii = world().await;
    let redis = Redis::start().await;
    let (mut leader, survivor, db) = two_instances(&torii, &redis).await;
    leader.terminate();
    let stopped = Instant::now();
    leader.wait_exit(Duration::from_secs(10)).await;
    assert!(
        leader
            .logs()
            .iter()
            .any(|l| l["message"] == "lease released")
    );
    while !leads(&survivor).await {
        assert!(
            stopped.elapsed() < TTL * 2 / 3,
            "no handover within a third of the TTL"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(leader);
    drop(survivor);
    drop(redis);
    e2e::drop_postgres(&db).await;
}

/// A membership lost on chain ends the guild subscriptions of that address on every
/// instance (each follows the chain itself), and nobody else's.
#[tokio::test]
async fn a_revocation_on_chain_reaches_the_clients_of_both_instances() {
    let torii = world().await;
    let redis = Redis::start().await;
    let (first, second, db) = two_instances(&torii, &redis).await;
    let mut on_first = first.client(&who(2)).await;
    let mut on_second = second.client(&who(2)).await;
    let mut mate = second.client(&who(1)).await;
    for c in [&mut on_first, &mut on_second, &mut mate] {
        c.subscribe("guild:0x9001", None).await.unwrap();
    }

    torii.delete(12, MEMBER);
    for c in [&mut on_first, &mut on_second] {
        match c.next_event_within(Duration::from_secs(2)).await {
            Some(realtime_client::Event::Push(realtime_client::Push::PermissionRevoked {
                channel,
                ..
            })) => assert_eq!(channel, "guild:0x9001"),
            other => panic!("expected permission_revoked, got {other:?}"),
        }
    }
    // The guild mate stays, and still hears the guild across instances.
    let ok = first
        .client(&who(1))
        .await
        .publish("guild:0x9001", "still here", "r1")
        .await
        .unwrap();
    let (channel, seq, m) = message_push(next_push(&mut mate).await);
    assert_eq!(
        (channel.as_str(), seq, m.body.as_str()),
        ("guild:0x9001", ok.seq, "still here")
    );
    e2e::drop_postgres(&db).await;
}
