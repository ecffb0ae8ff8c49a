use std::time::Duration;

use realtime_core::{Address, ChannelName};
use realtime_store::{NewMessage, StorageConfig, Store};

use super::*;

struct Fixture {
    hub: Arc<Hub>,
    store: Store,
    dir: std::path::PathBuf,
    world: ChannelName,
}

impl Fixture {
    async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "rt-hub-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let store = Store::connect(&StorageConfig {
            url: format!("sqlite://{}/hub.db", dir.display()),
            ..StorageConfig::default()
        })
        .await
        .unwrap();
        store.migrate_up().await.unwrap();
        Self {
            hub: Hub::new(store.clone(), 1 << 20),
            store,
            dir,
            world: ChannelName::new("world").unwrap(),
        }
    }

    /// Commits a message and returns its publication (not yet delivered).
    async fn commit(&self, body: &str) -> Publication {
        let sender: Address = "0x1".parse().unwrap();
        let p = self
            .store
            .publish(NewMessage {
                channel: &self.world,
                sender,
                body,
                client_msg_id: body,
                now_ms: 0,
            })
            .await
            .unwrap();
        Publication {
            channel: Arc::from("world"),
            seq: p.message.seq,
            frame: encode_message_push(&p.message).into(),
        }
    }

    async fn finish(self) {
        self.store.close().await;
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

async fn seqs(queue: &SendQueue, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..n {
        let next = tokio::time::timeout(Duration::from_secs(2), queue.next_one())
            .await
            .expect("a frame arrives");
        let Ok(f) = next else {
            panic!("unexpected {next:?}")
        };
        let v: serde_json::Value = serde_json::from_str(f.as_str()).unwrap();
        out.push(v["seq"].as_u64().unwrap());
    }
    out
}

async fn nothing_more(queue: &SendQueue) {
    let r = tokio::time::timeout(Duration::from_millis(200), queue.next_one()).await;
    assert!(r.is_err(), "unexpected frame {r:?}");
}

#[tokio::test]
async fn delivers_in_seq_order_and_drops_duplicates() {
    let f = Fixture::new().await;
    let q = SendQueue::new(1 << 20);
    assert_eq!(f.hub.join(&f.world, 1, q.clone()).await.unwrap(), 0);
    f.hub.activate(&f.world, 1);
    let p1 = f.commit("a").await;
    let p2 = f.commit("b").await;
    let p3 = f.commit("c").await;
    // Out of order, with a duplicate.
    f.hub.on_publication(p2.clone());
    f.hub.on_publication(p1.clone());
    f.hub.on_publication(p1);
    f.hub.on_publication(p3);
    f.hub.on_publication(p2);
    assert_eq!(seqs(&q, 3).await, vec![1, 2, 3]);
    nothing_more(&q).await;
    f.finish().await;
}

#[tokio::test]
async fn a_lost_publication_is_read_from_storage() {
    let f = Fixture::new().await;
    let q = SendQueue::new(1 << 20);
    f.hub.join(&f.world, 1, q.clone()).await.unwrap();
    f.hub.activate(&f.world, 1);
    let _lost = f.commit("a").await;
    let _lost_too = f.commit("b").await;
    let p3 = f.commit("c").await;
    f.hub.on_publication(p3);
    assert_eq!(seqs(&q, 3).await, vec![1, 2, 3]);
    nothing_more(&q).await;
    f.finish().await;
}

#[tokio::test]
async fn pending_subscribers_get_only_pushes_after_their_floor() {
    let f = Fixture::new().await;
    let early = f.commit("before join").await;
    let live = SendQueue::new(1 << 20);
    f.hub.join(&f.world, 1, live.clone()).await.unwrap();
    f.hub.activate(&f.world, 1);
    let late = SendQueue::new(1 << 20);
    // Joins at seq 1: the replay covers 1, pending holds what comes after.
    assert_eq!(f.hub.join(&f.world, 2, late.clone()).await.unwrap(), 1);
    f.hub.on_publication(early); // duplicate of an already-stored seq: dropped
    let p2 = f.commit("during replay").await;
    f.hub.on_publication(p2);
    assert_eq!(seqs(&live, 1).await, vec![2]);
    nothing_more(&late).await; // still pending
    f.hub.activate(&f.world, 2);
    assert_eq!(seqs(&late, 1).await, vec![2]);
    f.finish().await;
}

#[tokio::test]
async fn the_last_subscriber_leaving_forgets_the_channel() {
    let f = Fixture::new().await;
    let q = SendQueue::new(1 << 20);
    f.hub.join(&f.world, 1, q.clone()).await.unwrap();
    f.hub.activate(&f.world, 1);
    assert_eq!(f.hub.channel_count(), 1);
    f.hub.leave(&f.world, 1);
    assert_eq!(f.hub.channel_count(), 0);
    let p = f.commit("nobody listens").await;
    f.hub.on_publication(p);
    nothing_more(&q).await;
    f.finish().await;
}

#[tokio::test]
async fn live_pushes_respect_a_raised_floor() {
    let f = Fixture::new().await;
    let first = SendQueue::new(1 << 20);
    f.hub.join(&f.world, 1, first.clone()).await.unwrap();
    f.hub.activate(&f.world, 1);
    // Two messages whose notices have not reached the hub yet.
    let _late1 = f.commit("a").await;
    let _late2 = f.commit("b").await;
    let second = SendQueue::new(1 << 20);
    assert_eq!(f.hub.join(&f.world, 2, second.clone()).await.unwrap(), 0);
    // The second client already has both (it read them from storage).
    f.hub.raise_floor(&f.world, 2, 2);
    f.hub.activate(&f.world, 2);
    let p3 = f.commit("c").await;
    f.hub.on_publication(p3);
    assert_eq!(seqs(&first, 3).await, vec![1, 2, 3]);
    assert_eq!(seqs(&second, 1).await, vec![3]);
    nothing_more(&second).await;
    f.finish().await;
}

#[tokio::test]
async fn a_batch_reaches_each_subscriber_in_seq_order_as_one_write() {
    let f = Fixture::new().await;
    let q = SendQueue::new(1 << 20);
    f.hub.join(&f.world, 1, q.clone()).await.unwrap();
    f.hub.activate(&f.world, 1);
    let p1 = f.commit("a").await;
    let p2 = f.commit("b").await;
    let p3 = f.commit("c").await;
    let other = Publication {
        channel: Arc::from("elsewhere"),
        ..p1.clone()
    };
    // Out of order within the batch, with a duplicate and a channel nobody here follows.
    f.hub.on_publications(vec![p3, other, p1.clone(), p2, p1]);
    let mut batch = Vec::new();
    let next = tokio::time::timeout(Duration::from_secs(2), q.next_batch(&mut batch, 1 << 20))
        .await
        .unwrap();
    assert_eq!(next, crate::queue::Next::Frames);
    let seqs: Vec<u64> = batch
        .iter()
        .map(|f| {
            serde_json::from_str::<serde_json::Value>(f.as_str()).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        seqs,
        [1, 2, 3],
        "the whole batch is taken by one writer turn"
    );
    nothing_more(&q).await;
    f.finish().await;
}

#[tokio::test]
async fn a_quiet_channel_catches_up_through_the_head_check() {
    let f = Fixture::new().await;
    let q = SendQueue::new(1 << 20);
    f.hub.join(&f.world, 1, q.clone()).await.unwrap();
    f.hub.activate(&f.world, 1);
    assert_eq!(f.hub.followed(), vec![f.world.clone()]);
    // Committed elsewhere; no notice ever arrives, and nothing later reveals a gap.
    for body in ["a", "b", "c"] {
        f.commit(body).await;
    }
    nothing_more(&q).await;
    assert_eq!(f.hub.check_heads().await.unwrap(), 1);
    assert_eq!(seqs(&q, 3).await, vec![1, 2, 3]);
    // Nothing is delivered twice: not by another check, nor by the late notices.
    f.hub.check_heads().await.unwrap();
    f.hub.on_publication(f.commit("d").await);
    assert_eq!(seqs(&q, 1).await, vec![4]);
    nothing_more(&q).await;
    f.finish().await;
}

#[tokio::test]
async fn a_long_outage_is_read_back_in_pages() {
    let f = Fixture::new().await;
    let q = SendQueue::new(1 << 22);
    f.hub.join(&f.world, 1, q.clone()).await.unwrap();
    f.hub.activate(&f.world, 1);
    let total = GAP_FILL_BATCH as usize * 2 + 7;
    let ids: Vec<String> = (0..total).map(|i| format!("m{i}")).collect();
    let sender: Address = "0x1".parse().unwrap();
    let batch: Vec<NewMessage<'_>> = ids
        .iter()
        .map(|id| NewMessage {
            channel: &f.world,
            sender,
            body: id,
            client_msg_id: id,
            now_ms: 0,
        })
        .collect();
    f.store.publish_many(&batch).await.unwrap();
    f.hub.check_heads().await.unwrap();
    let got = seqs(&q, total).await;
    assert_eq!(got, (1..=total as u64).collect::<Vec<_>>());
    nothing_more(&q).await;
    f.finish().await;
}

/// Records what the hub asks of the bus, in order.
#[derive(Default)]
struct RecordingBroker(std::sync::Mutex<Vec<String>>);

impl Broker for RecordingBroker {
    fn publish_batch(
        &self,
        _: Vec<Publication>,
    ) -> futures_util::future::BoxFuture<'_, Result<(), realtime_bus::BusError>> {
        Box::pin(async { Ok(()) })
    }

    fn subscribe(
        &self,
        channel: &str,
    ) -> futures_util::future::BoxFuture<'_, Result<(), realtime_bus::BusError>> {
        self.0.lock().unwrap().push(format!("+{channel}"));
        Box::pin(async { Ok(()) })
    }

    fn unsubscribe(&self, channel: &str) {
        self.0.lock().unwrap().push(format!("-{channel}"));
    }

    fn kind(&self) -> &'static str {
        "recording"
    }
}

#[tokio::test]
async fn the_bus_hears_of_a_channel_s_first_join_and_last_leave_in_order() {
    let f = Fixture::new().await;
    let bus = Arc::new(RecordingBroker::default());
    f.hub.set_broker(bus.clone());
    let q = SendQueue::new(1 << 20);
    f.hub.join(&f.world, 1, q.clone()).await.unwrap();
    f.hub.join(&f.world, 2, q.clone()).await.unwrap();
    f.hub.leave(&f.world, 1);
    f.hub.leave(&f.world, 2);
    f.hub.join(&f.world, 3, q.clone()).await.unwrap();
    assert_eq!(*bus.0.lock().unwrap(), ["+world", "-world", "+world"]);
    assert!(f.hub.followed().contains(&f.world));
    f.finish().await;
}
