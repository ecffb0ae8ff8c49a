//! Rate limits, presence and connection counts shared through a private `redis-server`: two
//! brokers stand for two instances.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use realtime_bus::{
    BusConfig, BusKind, BusState, LocalRedis, Publication, PublicationHandler, Rate, RateLimiter,
    RedisBroker, Round, SharedState,
};

struct Nothing;

impl PublicationHandler for Nothing {
    fn on_publication(&self, _: Publication) {}
}

async fn broker(port: u16) -> RedisBroker {
    let config = BusConfig {
        kind: BusKind::Redis,
        url: format!("redis://127.0.0.1:{port}"),
        prefix: "deploy".into(),
        ..BusConfig::default()
    };
    let b = RedisBroker::start(&config, Arc::new(Nothing))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while realtime_bus::Broker::status(&b).state != BusState::Connected {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b
}

const SLOW: Rate = Rate {
    burst: 3,
    per_second: 0.01,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bucket_for_all_instances_and_local_buckets_when_redis_is_gone() {
    let server = LocalRedis::start().await.unwrap();
    let (a, b) = (broker(server.port).await, broker(server.port).await);
    let (la, lb) = (a.rate_limiter(100), b.rate_limiter(100));
    la.take("publish:0x1", SLOW).await.unwrap();
    lb.take("publish:0x1", SLOW).await.unwrap();
    la.take("publish:0x1", SLOW).await.unwrap();
    let wait = lb.take("publish:0x1", SLOW).await.unwrap_err();
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    assert!(la.take("publish:0x1", SLOW).await.is_err());
    assert!(
        la.take("publish:0x2", SLOW).await.is_ok(),
        "another subject"
    );
    assert_eq!(la.fallbacks() + lb.fallbacks(), 0);

    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while realtime_bus::Broker::status(&a).state == BusState::Connected {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Fails open to this instance's own bucket, which is full.
    la.take("publish:0x1", SLOW).await.unwrap();
    assert_eq!(la.fallbacks(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_an_address_once_and_caps_count_every_instance() {
    let server = LocalRedis::start().await.unwrap();
    let (a, b) = (broker(server.port).await, broker(server.port).await);
    let (sa, sb) = (a.shared_state(), b.shared_state());
    let round = |present: &[&str], left: &[&str]| Round {
        present: vec![(
            "world".into(),
            present.iter().map(|s| s.to_string()).collect(),
        )],
        left: vec![("world".into(), left.iter().map(|s| s.to_string()).collect())],
        read: vec!["world".into()],
        connections: Vec::new(),
    };
    sa.sync(round(&["0x1", "0x2"], &[])).await.unwrap();
    let seen = sb.sync(round(&["0x1"], &[])).await.unwrap();
    assert_eq!(seen["world"], vec!["0x1", "0x2"], "what A wrote");
    assert_eq!(sa.present("world").await.unwrap(), vec!["0x1", "0x2"]);
    sa.sync(round(&["0x2"], &["0x1"])).await.unwrap();
    assert_eq!(
        sa.present("world").await.unwrap(),
        vec!["0x1", "0x2"],
        "still on B"
    );
    let seen = sa.sync(round(&[], &["0x2"])).await.unwrap();
    assert_eq!(seen["world"], vec!["0x1"]);
    sb.sync(round(&[], &["0x1"])).await.unwrap();
    assert!(sa.present("world").await.unwrap().is_empty());

    assert!(sa.claim("0x9", 1, 2).await.unwrap());
    assert!(sb.claim("0x9", 1, 2).await.unwrap());
    assert!(
        !sb.claim("0x9", 2, 2).await.unwrap(),
        "two across instances"
    );
    assert_eq!(
        sb.online(&["0x9".into(), "0x8".into()]).await.unwrap(),
        [true, false]
    );
    sa.release("0x9", 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sb.claim("0x9", 2, 2).await.unwrap());
}
