//! The Redis broker against a private `redis-server`: notices reach the instances that
//! subscribed (and only those, and only of their own deployment), an instance does not hear
//! its own echo, and subscriptions come back after Redis restarts.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use realtime_bus::{
    Broker, BusConfig, BusKind, BusState, LocalRedis, Publication, PublicationHandler, RedisBroker,
};

/// The publications a broker handed to its instance, as (channel, seq).
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, u64)>>);

impl PublicationHandler for Recorder {
    fn on_publication(&self, p: Publication) {
        self.0.lock().unwrap().push((p.channel.to_string(), p.seq));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Waits until `n` publications arrived, then a little longer for any extra one.
    async fn wait_for(&self, n: usize) -> Vec<(String, u64)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.0.lock().unwrap().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.take()
    }
}

async fn broker(port: u16, prefix: &str) -> (RedisBroker, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let config = BusConfig {
        kind: BusKind::Redis,
        url: format!("redis://127.0.0.1:{port}"),
        prefix: prefix.into(),
        ..BusConfig::default()
    };
    let broker = RedisBroker::start(&config, recorder.clone()).await.unwrap();
    (broker, recorder)
}

fn batch(items: &[(&str, u64)]) -> Vec<Publication> {
    items
        .iter()
        .map(|(channel, seq)| Publication {
            channel: Arc::from(*channel),
            seq: *seq,
            frame: Bytes::from(format!("{{\"seq\":{seq}}}")),
        })
        .collect()
}

fn pairs(items: &[(&str, u64)]) -> Vec<(String, u64)> {
    items.iter().map(|(c, s)| (c.to_string(), *s)).collect()
}

async fn wait_for_state(broker: &RedisBroker, state: BusState) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while broker.status().state != state {
        assert!(Instant::now() < deadline, "{:?}", broker.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_subscribed_instances_once() {
    let server = LocalRedis::start().await.unwrap();
    let (a, from_a) = broker(server.port, "deploy").await;
    let (b, at_b) = broker(server.port, "deploy").await;
    let (other, at_other) = broker(server.port, "other-deploy").await;
    assert_eq!(a.status().state, BusState::Connected);
    for broker in [&a, &b, &other] {
        broker.subscribe("world").await.unwrap();
    }

    let sent = [("world", 1), ("guild:1", 1), ("world", 2)];
    a.publish_batch(batch(&sent)).await.unwrap();
    // The publishing instance delivers everything at once, and not again from its echo.
    assert_eq!(from_a.take(), pairs(&sent));
    // Another instance gets the channels it subscribed to, in order; another deployment on
    // the same Redis gets nothing.
    assert_eq!(at_b.wait_for(2).await, pairs(&[("world", 1), ("world", 2)]));
    assert_eq!(from_a.take(), []);
    assert_eq!(at_other.take(), []);
    assert_eq!(
        b.status().received,
        1,
        "one notice for the channel's part of the batch"
    );

    b.unsubscribe("world");
    b.subscribe("guild:1").await.unwrap();
    a.publish_batch(batch(&[("world", 3), ("guild:1", 2)]))
        .await
        .unwrap();
    assert_eq!(at_b.wait_for(1).await, pairs(&[("guild:1", 2)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_come_back_after_redis_restarts() {
    let mut server = LocalRedis::start().await.unwrap();
    let port = server.port;
    let (a, from_a) = broker(port, "deploy").await;
    let (b, at_b) = broker(port, "deploy").await;
    b.subscribe("world").await.unwrap();

    server.kill();
    wait_for_state(&a, BusState::Disconnected).await;
    wait_for_state(&b, BusState::Disconnected).await;
    // Publishing neither fails nor waits; the instance's own subscribers still get it.
    let started = Instant::now();
    a.publish_batch(batch(&[("world", 1)])).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(from_a.take(), pairs(&[("world", 1)]));
    // A subscription made meanwhile is kept for when Redis is back.
    assert!(b.subscribe("guild:1").await.is_err());

    server.restart().await.unwrap();
    wait_for_state(&a, BusState::Connected).await;
    wait_for_state(&b, BusState::Connected).await;
    a.publish_batch(batch(&[("world", 2), ("guild:1", 1)]))
        .await
        .unwrap();
    assert_eq!(
        at_b.wait_for(2).await,
        pairs(&[("world", 2), ("guild:1", 1)])
    );
    assert!(b.status().reconnects >= 1);
}
