//! Threads, blocks and read positions, on both backends.

#![allow(clippy::unwrap_used)]

mod support;

use realtime_core::dm::Thread;
use realtime_core::{Address, ChannelName};
use realtime_store::{NewMessage, Store, ThreadCursor, UNREAD_CAP};

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

fn thread(a: u32, b: u32) -> (Thread, ChannelName) {
    let t = Thread::between(addr(a), addr(b)).unwrap();
    (t, t.channel())
}

async fn post(store: &Store, channel: &ChannelName, sender: u32, id: &str, at: i64) -> u64 {
    store
        .publish(NewMessage {
            channel,
            sender: addr(sender),
            body: id,
            client_msg_id: id,
            now_ms: at,
        })
        .await
        .unwrap()
        .message
        .seq
}

async fn a_thread_starts_once_and_blocks_are_seen_from_both_sides(store: &Store) {
    let (t, channel) = thread(2, 1);
    let fresh = store.dm_gate(&channel, addr(1), addr(2)).await.unwrap();
    assert!(!fresh.started && !fresh.blocked_by_peer && !fresh.blocking_peer);
    assert!(
        store
            .start_thread(&channel, t.participants(), addr(1), 10)
            .await
            .unwrap()
    );
    assert!(
        !store
            .start_thread(&channel, t.participants(), addr(2), 11)
            .await
            .unwrap()
    );
    assert!(store.block(addr(2), addr(1), 20).await.unwrap());
    assert!(!store.block(addr(2), addr(1), 21).await.unwrap(), "once");
    let from_blocked = store.dm_gate(&channel, addr(1), addr(2)).await.unwrap();
    assert!(from_blocked.started && from_blocked.blocked_by_peer);
    assert!(!from_blocked.blocking_peer);
    let from_blocker = store.dm_gate(&channel, addr(2), addr(1)).await.unwrap();
    assert!(from_blocker.blocking_peer && !from_blocker.blocked_by_peer);
    assert_eq!(store.blocks_of(addr(2)).await.unwrap(), vec![(addr(1), 20)]);
    assert_eq!(
        store.blocked_either_way(addr(1)).await.unwrap(),
        vec![addr(2)]
    );
    assert_eq!(
        store.blocked_either_way(addr(2)).await.unwrap(),
        vec![addr(1)]
    );
    assert!(store.blocked_either_way(addr(3)).await.unwrap().is_empty());
    assert!(store.blocks_of(addr(1)).await.unwrap().is_empty());
    assert!(store.unblock(addr(2), addr(1)).await.unwrap());
    assert!(!store.unblock(addr(2), addr(1)).await.unwrap());
    let after = store.dm_gate(&channel, addr(1), addr(2)).await.unwrap();
    assert!(!after.blocked_by_peer);
}
on_each_backend!(a_thread_starts_once_and_blocks_are_seen_from_both_sides);

async fn read_positions_only_move_forward(store: &Store) {
    let world = ChannelName::new("world").unwrap();
    assert_eq!(store.mark_read(addr(1), &world, 5, 1).await.unwrap(), 5);
    assert_eq!(
        store.mark_read(addr(1), &world, 3, 2).await.unwrap(),
        5,
        "a late report from another device does not move it back"
    );
    assert_eq!(store.mark_read(addr(1), &world, 9, 3).await.unwrap(), 9);
    assert_eq!(store.mark_read(addr(2), &world, 1, 3).await.unwrap(), 1);
    assert_eq!(store.read_seq(addr(1), &world).await.unwrap(), 9);
    assert_eq!(
        store.read_seq(addr(3), &world).await.unwrap(),
        0,
        "never marked"
    );
}
on_each_backend!(read_positions_only_move_forward);

async fn unread_counts_the_others_messages_after_the_read_position(store: &Store) {
    let (t, dm) = thread(1, 2);
    store
        .start_thread(&dm, t.participants(), addr(1), 1)
        .await
        .unwrap();
    post(store, &dm, 1, "a", 100).await;
    post(store, &dm, 2, "b", 101).await;
    post(store, &dm, 2, "c", 102).await;
    let world = ChannelName::new("world").unwrap();
    for i in 0..4 {
        post(store, &world, 3, &format!("w{i}"), 50).await;
    }
    store.mark_read(addr(1), &world, 1, 5).await.unwrap();
    let unread = store.unread(addr(1)).await.unwrap();
    let by: Vec<(&str, u64, u64, u64)> = unread
        .iter()
        .map(|u| (u.channel.as_str(), u.last_seq, u.read_seq, u.unread))
        .collect();
    assert_eq!(by, vec![("dm:0x1:0x2", 3, 0, 2), ("world", 4, 1, 3)]);
    // Its own messages never count: the other side has one unread.
    let theirs = store.unread(addr(2)).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!((theirs[0].unread, theirs[0].read_seq), (1, 0));
    store.mark_read(addr(1), &dm, 3, 6).await.unwrap();
    let unread = store.unread(addr(1)).await.unwrap();
    assert_eq!((unread[0].read_seq, unread[0].unread), (3, 0));
    assert!(store.unread(addr(9)).await.unwrap().is_empty());
}
on_each_backend!(unread_counts_the_others_messages_after_the_read_position);

async fn unread_counts_stop_at_the_cap(store: &Store) {
    let world = ChannelName::new("world").unwrap();
    let bodies: Vec<String> = (0..UNREAD_CAP + 5).map(|i| format!("m{i}")).collect();
    let batch: Vec<NewMessage<'_>> = bodies
        .iter()
        .map(|b| NewMessage {
            channel: &world,
            sender: addr(3),
            body: b,
            client_msg_id: b,
            now_ms: 1,
        })
        .collect();
    store.publish_many(&batch).await.unwrap();
    store.mark_read(addr(1), &world, 2, 5).await.unwrap();
    let unread = store.unread(addr(1)).await.unwrap();
    assert_eq!(unread[0].last_seq, UNREAD_CAP + 5);
    assert_eq!(unread[0].unread, UNREAD_CAP);
}
on_each_backend!(unread_counts_stop_at_the_cap);

async fn threads_list_newest_first_with_last_message_and_unread(store: &Store) {
    // 0x1 has threads with 0x2 (last message at 300), 0x3 (at 100) and 0x4 (started at 200,
    // no message yet); 0x2 and 0x3 have one of their own.
    for (peer, starter) in [(2, 1), (3, 3), (4, 1)] {
        let (t, c) = thread(1, peer);
        let at = if peer == 4 { 200 } else { 1 };
        store
            .start_thread(&c, t.participants(), addr(starter), at)
            .await
            .unwrap();
    }
    let (t, other) = thread(2, 3);
    store
        .start_thread(&other, t.participants(), addr(2), 1)
        .await
        .unwrap();
    let (_, with2) = thread(1, 2);
    let (_, with3) = thread(1, 3);
    post(store, &with3, 3, "hi", 100).await;
    post(store, &with2, 1, "yo", 250).await;
    post(store, &with2, 2, "sup", 300).await;

    let page = store.threads(addr(1), None, 10).await.unwrap();
    let peers: Vec<Address> = page.iter().map(|t| t.peer).collect();
    assert_eq!(peers, vec![addr(2), addr(4), addr(3)]);
    let first = &page[0];
    assert_eq!((first.last_seq, first.read_seq, first.unread), (2, 0, 1));
    let last = first.last_message.as_ref().unwrap();
    assert_eq!(
        (last.seq, last.body.as_str(), last.sender),
        (2, "sup", addr(2))
    );
    assert!(page[1].last_message.is_none());
    assert_eq!((page[1].last_seq, page[1].activity_ms), (0, 200));
    assert_eq!(page[2].unread, 1);

    // Paging: two, then the rest after the cursor.
    let head = store.threads(addr(1), None, 2).await.unwrap();
    assert_eq!(head.len(), 2);
    let cursor = ThreadCursor {
        activity_ms: head[1].activity_ms,
        channel: head[1].channel.to_string(),
    };
    let tail = store.threads(addr(1), Some(&cursor), 2).await.unwrap();
    assert_eq!(
        tail.iter().map(|t| t.peer).collect::<Vec<_>>(),
        vec![addr(3)]
    );
    // Someone else's list holds only their own threads.
    let theirs = store.threads(addr(3), None, 10).await.unwrap();
    assert_eq!(
        theirs.iter().map(|t| t.peer).collect::<Vec<_>>(),
        vec![addr(1), addr(2)]
    );
}
on_each_backend!(threads_list_newest_first_with_last_message_and_unread);
