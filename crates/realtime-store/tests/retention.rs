//! Retention on both backends: trimming channels by age and by count in bounded batches, the
//! trim point readers compare with, and purging note tombstones and expired nonces.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use realtime_core::hex::{Rect, Tile};
use realtime_core::notes::Visibility;
use realtime_core::{Address, ChannelName};
use realtime_store::{
    ChannelId, HistoryPage, HistoryQuery, NewMessage, NewNote, Nonce, Reader, Store, StoredChannel,
    Trim,
};

fn ch(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

/// Publishes `n` messages to `channel`, the i-th (from 1) at `i * 1000` ms.
async fn fill(store: &Store, channel: &ChannelName, n: u64) {
    for i in 1..=n {
        let id = format!("m{i}");
        store
            .publish(NewMessage {
                channel,
                sender: addr(1),
                body: "x",
                client_msg_id: &id,
                now_ms: i as i64 * 1000,
            })
            .await
            .unwrap();
    }
}

async fn id_of(store: &Store, channel: &ChannelName) -> ChannelId {
    store
        .list_channels(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == channel.as_str())
        .unwrap()
        .id
}

fn by_age(older_than_ms: i64, batch: u32) -> Trim {
    Trim {
        older_than_ms: Some(older_than_ms),
        keep: None,
        batch,
    }
}

fn by_count(keep: u64, batch: u32) -> Trim {
    Trim {
        older_than_ms: None,
        keep: Some(keep),
        batch,
    }
}

async fn page(
    store: &Store,
    channel: &ChannelName,
    before: Option<u64>,
    after: Option<u64>,
) -> HistoryPage {
    store
        .history(
            channel,
            HistoryQuery {
                before,
                after,
                limit: 5,
            },
        )
        .await
        .unwrap()
}

fn seqs(p: &HistoryPage) -> Vec<u64> {
    p.messages.iter().map(|m| m.seq).collect()
}

async fn trimming_by_age_removes_the_oldest_and_sets_the_trim_point(store: &Store) {
    let world = ch("world");
    fill(store, &world, 10).await;
    let id = id_of(store, &world).await;
    // Published at 1 000 … 10 000: those before 5 500 go.
    assert_eq!(store.trim_channel(id, by_age(5_500, 100)).await.unwrap(), 5);
    assert_eq!(store.trim_channel(id, by_age(5_500, 100)).await.unwrap(), 0);
    let head = store.channel_head(&world).await.unwrap();
    assert_eq!(
        (head.last_seq, head.first_seq, head.trimmed_to),
        (10, Some(6), 5)
    );
    assert_eq!(store.trimmed_to(&world).await.unwrap(), 5);
    assert_eq!(store.range(&world, 0, 10, 100).await.unwrap().len(), 5);
    // Paging backwards reaches the trim point: the last page says older ones expired.
    let newest = page(store, &world, None, None).await;
    assert_eq!(seqs(&newest), [6, 7, 8, 9, 10]);
    assert!(!newest.has_more && newest.expired, "{newest:?}");
    let below = page(store, &world, Some(6), None).await;
    assert!(below.messages.is_empty() && !below.has_more && below.expired);
    // A page that does not reach it says nothing.
    let partial = store
        .history(
            &world,
            HistoryQuery {
                before: None,
                after: None,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert!(partial.has_more && !partial.expired, "{partial:?}");
    // Forwards from before the trim point: the page starts at the oldest kept, expired.
    let forward = page(store, &world, None, Some(2)).await;
    assert_eq!(seqs(&forward), [6, 7, 8, 9, 10]);
    assert!(forward.expired && !forward.has_more);
    // From the trim point on, nothing is missing.
    let from_trim = page(store, &world, None, Some(5)).await;
    assert_eq!(seqs(&from_trim), [6, 7, 8, 9, 10]);
    assert!(!from_trim.expired);
    // Everything old: the channel is emptied, its seqs go on.
    assert_eq!(
        store.trim_channel(id, by_age(i64::MAX, 100)).await.unwrap(),
        5
    );
    let empty = page(store, &world, None, None).await;
    assert!(empty.messages.is_empty() && empty.expired);
    fill_from(store, &world, 11).await;
    let head = store.channel_head(&world).await.unwrap();
    assert_eq!(
        (head.last_seq, head.first_seq, head.trimmed_to),
        (11, Some(11), 10)
    );
}
on_each_backend!(trimming_by_age_removes_the_oldest_and_sets_the_trim_point);

async fn fill_from(store: &Store, channel: &ChannelName, seq: u64) {
    let published = store
        .publish(NewMessage {
            channel,
            sender: addr(2),
            body: "later",
            client_msg_id: &format!("later{seq}"),
            now_ms: 1_000_000,
        })
        .await
        .unwrap();
    assert_eq!(published.message.seq, seq);
}

async fn trimming_by_count_keeps_the_newest(store: &Store) {
    let world = ch("world");
    let other = ch("guild:7");
    fill(store, &world, 20).await;
    fill(store, &other, 3).await;
    let id = id_of(store, &world).await;
    assert_eq!(store.trim_channel(id, by_count(5, 100)).await.unwrap(), 15);
    let kept = store.range(&world, 0, 20, 100).await.unwrap();
    assert_eq!(
        kept.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (16..=20).collect::<Vec<_>>()
    );
    assert_eq!(store.channel_head(&world).await.unwrap().trimmed_to, 15);
    // Another channel is untouched.
    assert_eq!(store.range(&other, 0, 3, 100).await.unwrap().len(), 3);
    assert_eq!(store.trimmed_to(&other).await.unwrap(), 0);
    // One more message: one more beyond the newest five.
    fill_from(store, &world, 21).await;
    assert_eq!(store.trim_channel(id, by_count(5, 100)).await.unwrap(), 1);
    assert_eq!(
        store.channel_head(&world).await.unwrap().first_seq,
        Some(17)
    );
    // Either rule removes: age (17, 18, 19 before 19 500) takes more than count here.
    assert_eq!(
        store
            .trim_channel(
                id,
                Trim {
                    older_than_ms: Some(19_500),
                    keep: Some(5),
                    batch: 100
                }
            )
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.trimmed_to(&world).await.unwrap(), 19);
    // Nothing to do without a rule.
    let none = Trim {
        older_than_ms: None,
        keep: None,
        batch: 100,
    };
    assert_eq!(store.trim_channel(id, none).await.unwrap(), 0);
}
on_each_backend!(trimming_by_count_keeps_the_newest);

async fn a_trim_removes_at_most_a_batch(store: &Store) {
    let world = ch("world");
    fill(store, &world, 25).await;
    let id = id_of(store, &world).await;
    let mut removed = Vec::new();
    let mut points = Vec::new();
    loop {
        let n = store.trim_channel(id, by_age(i64::MAX, 10)).await.unwrap();
        removed.push(n);
        points.push(store.trimmed_to(&world).await.unwrap());
        if n == 0 {
            break;
        }
    }
    assert_eq!(removed, [10, 10, 5, 0]);
    assert_eq!(points, [10, 20, 25, 25]);
    assert_eq!(store.channel_head(&world).await.unwrap().first_seq, None);
}
on_each_backend!(a_trim_removes_at_most_a_batch);

async fn publishing_goes_on_while_a_channel_is_trimmed(store: &Store) {
    let world = ch("world");
    fill(store, &world, 50).await;
    let id = id_of(store, &world).await;
    let writer = {
        let store = store.clone();
        let world = world.clone();
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..100 {
                let id = format!("w{i}");
                let p = store
                    .publish(NewMessage {
                        channel: &world,
                        sender: addr(3),
                        body: "w",
                        client_msg_id: &id,
                        now_ms: 100_000,
                    })
                    .await
                    .unwrap();
                seqs.push(p.message.seq);
            }
            seqs
        })
    };
    // Keep the newest ten, in batches of three, while the writer goes on.
    let mut removed_meanwhile = 0;
    while !writer.is_finished() {
        removed_meanwhile += store.trim_channel(id, by_count(10, 3)).await.unwrap();
        tokio::task::yield_now().await;
    }
    let seqs = writer.await.unwrap();
    assert_eq!(seqs, (51..=150).collect::<Vec<_>>(), "gap-free, in order");
    assert!(removed_meanwhile > 0, "the trims ran while the writer did");
    while store.trim_channel(id, by_count(10, 3)).await.unwrap() > 0 {}
    let kept: BTreeSet<u64> = store
        .range(&world, 0, 150, 1000)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(kept, (141..=150).collect::<BTreeSet<_>>());
    assert_eq!(store.trimmed_to(&world).await.unwrap(), 140);
}
on_each_backend!(publishing_goes_on_while_a_channel_is_trimmed);

async fn channels_are_listed_in_pages_with_their_oldest_message(store: &Store) {
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        fill(store, &ch(name), i as u64 + 1).await;
    }
    let mut seen: Vec<StoredChannel> = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_channels(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    let names: Vec<&str> = seen.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));
    let e = &seen[4];
    assert_eq!(
        (e.last_seq, e.trimmed_to, e.oldest_at_ms),
        (5, 0, Some(1_000))
    );
    // After a trim, the oldest kept message's time.
    store.trim_channel(e.id, by_count(2, 100)).await.unwrap();
    let again = store.list_channels(Some(seen[3].id), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].trimmed_to, again[0].oldest_at_ms),
        (3, Some(4_000))
    );
    store
        .trim_channel(e.id, by_age(i64::MAX, 100))
        .await
        .unwrap();
    let emptied = store.list_channels(Some(seen[3].id), 10).await.unwrap();
    assert_eq!((emptied[0].trimmed_to, emptied[0].oldest_at_ms), (5, None));
}
on_each_backend!(channels_are_listed_in_pages_with_their_oldest_message);

async fn old_note_tombstones_are_purged_and_the_horizon_rises(store: &Store) {
    let author = addr(1);
    let mut ids = Vec::new();
    for i in 0..4u32 {
        let note = store
            .create_note(NewNote {
                author,
                tile: Tile::new(i, i),
                title: "t",
                body: "",
                visibility: &Visibility::Public,
                expires_at_ms: None,
                now_ms: 1_000,
            })
            .await
            .unwrap();
        ids.push(note.id);
    }
    // Two removed long ago, one recently, one live.
    let old_a = store
        .delete_note(ids[0], author, 2_000)
        .await
        .unwrap()
        .unwrap();
    let old_b = store
        .delete_note(ids[1], author, 3_000)
        .await
        .unwrap()
        .unwrap();
    store
        .delete_note(ids[2], author, 50_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.purged_note_rev().await.unwrap(), 0);
    // A batch of one at a time.
    assert_eq!(store.purge_note_tombstones(10_000, 1).await.unwrap(), 1);
    assert_eq!(store.purged_note_rev().await.unwrap(), old_a.rev);
    assert_eq!(store.purge_note_tombstones(10_000, 1).await.unwrap(), 1);
    assert_eq!(store.purge_note_tombstones(10_000, 1).await.unwrap(), 0);
    assert_eq!(store.purged_note_rev().await.unwrap(), old_b.rev);
    assert!(store.note(ids[0]).await.unwrap().is_none());
    assert!(store.note(ids[1]).await.unwrap().is_none());
    assert!(store.note(ids[2]).await.unwrap().unwrap().removed.is_some());
    assert!(store.note(ids[3]).await.unwrap().unwrap().removed.is_none());
    // What a client resuming from the start still learns: the recent removal.
    let everywhere = Rect::new(0, 0, 100, 100).unwrap();
    let reader = Reader {
        address: Some(author),
        groups: Vec::new(),
    };
    let changes = store
        .note_changes(everywhere, &reader, 0, 100)
        .await
        .unwrap();
    let ids_seen: Vec<u64> = changes.iter().map(|n| n.id).collect();
    assert_eq!(ids_seen, [ids[3], ids[2]]);
    // The horizon never goes back.
    assert_eq!(store.purge_note_tombstones(i64::MAX, 10).await.unwrap(), 1);
    assert!(store.purged_note_rev().await.unwrap() > old_b.rev);
}
on_each_backend!(old_note_tombstones_are_purged_and_the_horizon_rises);

async fn expired_nonces_are_purged(store: &Store) {
    let me = addr(1);
    store.create_nonce("0xa1", me, 1_000, 5_000).await.unwrap();
    store.create_nonce("0xa2", me, 1_000, 6_000).await.unwrap();
    store.create_nonce("0xa3", me, 1_000, 60_000).await.unwrap();
    assert_eq!(store.purge_nonces(7_000).await.unwrap(), 2);
    assert_eq!(store.purge_nonces(7_000).await.unwrap(), 0);
    // Purged ones are unknown (not merely expired); the valid one still works.
    assert_eq!(
        store.consume_nonce("0xa1", me, 7_000).await.unwrap(),
        Nonce::Unknown
    );
    assert!(matches!(
        store.consume_nonce("0xa3", me, 7_000).await.unwrap(),
        Nonce::Valid { .. }
    ));
}
on_each_backend!(expired_nonces_are_purged);
