//! One storage suite, run against SQLite and Postgres: both backends must behave the same.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use realtime_core::{Address, ChannelName};
use realtime_store::{Backend, HistoryQuery, NewMessage, Store};

fn ch(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

async fn post(store: &Store, channel: &ChannelName, sender: u32, body: &str, id: &str) -> u64 {
    store
        .publish(NewMessage {
            channel,
            sender: addr(sender),
            body,
            client_msg_id: id,
            now_ms: 1_000,
        })
        .await
        .expect("publish")
        .message
        .seq
}

async fn seq_is_gap_free_per_channel(store: &Store) {
    let world = ch("world");
    let guild = ch("guild:7");
    assert_eq!(post(store, &world, 1, "a", "w1").await, 1);
    assert_eq!(post(store, &world, 2, "b", "w2").await, 2);
    assert_eq!(post(store, &guild, 1, "c", "g1").await, 1);
    assert_eq!(post(store, &world, 1, "d", "w3").await, 3);
    let head = store.channel_head(&world).await.unwrap();
    assert_eq!((head.last_seq, head.first_seq), (3, Some(1)));
    let empty = store.channel_head(&ch("nobody")).await.unwrap();
    assert_eq!((empty.last_seq, empty.first_seq), (0, None));
}
on_each_backend!(seq_is_gap_free_per_channel);

async fn heads_of_many_channels_in_one_call(store: &Store) {
    let world = ch("world");
    let guild = ch("guild:7");
    for i in 0..3 {
        post(store, &world, 1, "w", &format!("w{i}")).await;
    }
    post(store, &guild, 1, "g", "g1").await;
    // More names than one query takes, most of them never used, in an order of our own.
    let mut names: Vec<ChannelName> = (0..realtime_store::HEADS_PER_QUERY * 2 + 5)
        .map(|i| ch(&format!("dm:{i}")))
        .collect();
    names.insert(3, guild.clone());
    names.push(world.clone());
    names.push(guild.clone());
    let heads = store.channel_heads(&names).await.unwrap();
    assert_eq!(heads.len(), names.len());
    for (name, head) in names.iter().zip(&heads) {
        let expected = match name.as_str() {
            "world" => 3,
            "guild:7" => 1,
            _ => 0,
        };
        assert_eq!(*head, expected, "{name}");
    }
    assert_eq!(store.channel_heads(&[]).await.unwrap(), Vec::<u64>::new());
}
on_each_backend!(heads_of_many_channels_in_one_call);

async fn retry_with_same_client_id_is_stored_once(store: &Store) {
    let world = ch("world");
    let first = store
        .publish(NewMessage {
            channel: &world,
            sender: addr(1),
            body: "hello",
            client_msg_id: "m-1",
            now_ms: 5,
        })
        .await
        .unwrap();
    assert!(!first.duplicate);
    let retry = store
        .publish(NewMessage {
            channel: &world,
            sender: addr(1),
            body: "hello",
            client_msg_id: "m-1",
            now_ms: 99,
        })
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        retry.message, first.message,
        "the retry returns the original"
    );
    // The retry consumed no seq.
    assert_eq!(post(store, &world, 1, "next", "m-2").await, 2);
    // The same id from another sender, or in another channel, is another message.
    assert_eq!(post(store, &world, 2, "other sender", "m-1").await, 3);
    assert_eq!(post(store, &ch("elsewhere"), 1, "x", "m-1").await, 1);
}
on_each_backend!(retry_with_same_client_id_is_stored_once);

async fn a_batch_spans_channels_and_collapses_retries(store: &Store) {
    let (world, guild) = (ch("world"), ch("guild:7"));
    assert_eq!(post(store, &world, 1, "stored before", "old").await, 1);
    let msg = |channel, sender, body, id| NewMessage {
        channel,
        sender: addr(sender),
        body,
        client_msg_id: id,
        now_ms: 7,
    };
    let batch = [
        msg(&world, 1, "a", "w-a"),
        msg(&guild, 1, "g", "g-a"),
        msg(&world, 2, "b", "w-b"),
        // A retry of a message stored by an earlier transaction.
        msg(&world, 1, "stored before", "old"),
        // A retry of a message earlier in this batch, and the same id from another sender.
        msg(&world, 2, "b", "w-b"),
        msg(&world, 3, "c", "w-b"),
    ];
    let out = store.publish_many(&batch).await.unwrap();
    let seqs: Vec<(u64, bool)> = out.iter().map(|p| (p.message.seq, p.duplicate)).collect();
    assert_eq!(
        seqs,
        [
            (2, false),
            (1, false),
            (3, false),
            (1, true),
            (3, true),
            (4, false)
        ]
    );
    assert_eq!(out[3].message.body, "stored before");
    assert_eq!(
        out[4].message, out[2].message,
        "the batched retry is the original"
    );
    assert_eq!(store.channel_head(&world).await.unwrap().last_seq, 4);
    assert_eq!(store.channel_head(&guild).await.unwrap().last_seq, 1);
    let stored = store.range(&world, 0, 10, 10).await.unwrap();
    let bodies: Vec<&str> = stored.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["stored before", "a", "b", "c"]);
    assert!(store.publish_many(&[]).await.unwrap().is_empty());
}
on_each_backend!(a_batch_spans_channels_and_collapses_retries);

async fn concurrent_publishers_get_distinct_gap_free_seqs(store: &Store) {
    let world = ch("world");
    let mut tasks = Vec::new();
    for sender in 1..=8u32 {
        let store = store.clone();
        let world = world.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                seqs.push(post(&store, &world, sender, "x", &format!("s{sender}-{i}")).await);
            }
            seqs
        }));
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        let seqs = t.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one sender's seqs rise"
        );
        all.extend(seqs);
    }
    assert_eq!(all, (1..=200).collect::<BTreeSet<u64>>());
}
on_each_backend!(concurrent_publishers_get_distinct_gap_free_seqs);

async fn concurrent_identical_retries_store_one(store: &Store) {
    let world = ch("world");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let world = world.clone();
        tasks.push(tokio::spawn(async move {
            post(&store, &world, 3, "once", "same-id").await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(store.channel_head(&world).await.unwrap().last_seq, 1);
}
on_each_backend!(concurrent_identical_retries_store_one);

async fn history_pages_both_ways(store: &Store) {
    let world = ch("world");
    for i in 1..=250u32 {
        post(
            store,
            &world,
            1 + i % 3,
            &format!("m{i}"),
            &format!("id{i}"),
        )
        .await;
    }
    let seqs = |p: &realtime_store::HistoryPage| -> Vec<u64> {
        p.messages.iter().map(|m| m.seq).collect()
    };
    // Newest page.
    let newest = store
        .history(
            &world,
            HistoryQuery {
                before: None,
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&newest), (151..=250).collect::<Vec<_>>());
    assert!(newest.has_more);
    assert_eq!(newest.messages[0].body, "m151");
    // Walk backwards to the start.
    let older = store
        .history(
            &world,
            HistoryQuery {
                before: Some(151),
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&older), (51..=150).collect::<Vec<_>>());
    assert!(older.has_more);
    let oldest = store
        .history(
            &world,
            HistoryQuery {
                before: Some(51),
                after: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&oldest), (1..=50).collect::<Vec<_>>());
    assert!(!oldest.has_more);
    // Forward from a point.
    let fwd = store
        .history(
            &world,
            HistoryQuery {
                before: None,
                after: Some(200),
                limit: 30,
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&fwd), (201..=230).collect::<Vec<_>>());
    assert!(fwd.has_more);
    let tail = store
        .history(
            &world,
            HistoryQuery {
                before: None,
                after: Some(230),
                limit: 30,
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&tail), (231..=250).collect::<Vec<_>>());
    assert!(!tail.has_more);
    // Between two bounds.
    let window = store
        .history(
            &world,
            HistoryQuery {
                before: Some(15),
                after: Some(10),
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&window), vec![11, 12, 13, 14]);
    // Unknown channel: an empty page.
    let none = store
        .history(
            &ch("void"),
            HistoryQuery {
                before: None,
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(none.messages.is_empty() && !none.has_more);
}
on_each_backend!(history_pages_both_ways);

async fn range_reads_a_bounded_slice(store: &Store) {
    let world = ch("world");
    for i in 1..=20u32 {
        post(store, &world, 1, "r", &format!("r{i}")).await;
    }
    let r = store.range(&world, 5, 12, 100).await.unwrap();
    assert_eq!(
        r.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (6..=12).collect::<Vec<_>>()
    );
    let capped = store.range(&world, 0, 20, 4).await.unwrap();
    assert_eq!(
        capped.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(store.range(&world, 20, 20, 10).await.unwrap().is_empty());
}
on_each_backend!(range_reads_a_bounded_slice);

async fn text_round_trips_exactly(store: &Store) {
    let world = ch("world");
    let body = "gm 🦀 — ünïcödé\nsecond line\t'quotes' \"and\" \\ backslash; DROP TABLE x;";
    post(store, &world, 9, body, "u1").await;
    let page = store
        .history(
            &world,
            HistoryQuery {
                before: None,
                after: None,
                limit: 1,
            },
        )
        .await
        .unwrap();
    let m = &page.messages[0];
    assert_eq!(m.body, body);
    assert_eq!(m.sender, addr(9));
    assert_eq!(m.client_msg_id.as_deref(), Some("u1"));
    assert_eq!(m.created_at_ms, 1_000);
    assert_eq!((m.edited_at_ms, m.deleted_at_ms), (None, None));
}
on_each_backend!(text_round_trips_exactly);

async fn migrations_go_down_and_up(store: &Store) {
    let status = store.migration_status().await.unwrap();
    assert!(status.pending().is_empty());
    assert_eq!(status.applied, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(store.migrate_down(6).await.unwrap(), vec![6, 5, 4, 3, 2, 1]);
    assert_eq!(
        store.migration_status().await.unwrap().pending(),
        vec![1, 2, 3, 4, 5, 6]
    );
    // The tables are gone: publishing fails.
    let world = ch("world");
    let failed = store
        .publish(NewMessage {
            channel: &world,
            sender: addr(1),
            body: "x",
            client_msg_id: "x",
            now_ms: 0,
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(store.migrate_up().await.unwrap(), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(post(store, &world, 1, "back", "b").await, 1);
    // Nothing to do twice.
    assert!(store.migrate_up().await.unwrap().is_empty());
}
on_each_backend!(migrations_go_down_and_up);

/// History paging must be a range scan on the primary key, whatever the table's size.
async fn history_reads_use_the_primary_key(store: &Store) {
    let plan = store.history_plan().await.unwrap();
    match store.backend() {
        Backend::Sqlite => assert!(plan.contains("PRIMARY KEY"), "plan: {plan}"),
        Backend::Postgres => assert!(plan.contains("messages_pkey"), "plan: {plan}"),
    }
}
on_each_backend!(history_reads_use_the_primary_key);

/// A database whose default isolation is stricter than READ COMMITTED must not make
/// concurrent publishers fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_publish_works_under_a_serializable_default() {
    use sqlx::Connection;
    let t = support::postgres().await;
    let db = t.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::postgres::PgConnection::connect(&support::admin_url())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {db} SET default_transaction_isolation = 'serializable'"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let strict = Store::connect(&realtime_store::StorageConfig {
        url: t.url.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    concurrent_publishers_get_distinct_gap_free_seqs(&strict).await;
    strict.close().await;
    t.finish().await;
}

async fn nonces_are_single_use_and_expire(store: &Store) {
    use realtime_store::Nonce;
    let me = addr(1);
    store.create_nonce("0xaa", me, 1_000, 61_000).await.unwrap();
    // Another address cannot use it, and trying does not use it up.
    assert_eq!(
        store.consume_nonce("0xaa", addr(2), 2_000).await.unwrap(),
        Nonce::Unknown
    );
    assert_eq!(
        store.consume_nonce("0xaa", me, 2_000).await.unwrap(),
        Nonce::Valid {
            issued_at_ms: 1_000,
            expires_at_ms: 61_000
        }
    );
    assert_eq!(
        store.consume_nonce("0xaa", me, 2_000).await.unwrap(),
        Nonce::Unknown,
        "replay"
    );
    // A verification that could not finish puts it back, once, with its times.
    store
        .restore_nonce("0xaa", me, 1_000, 61_000)
        .await
        .unwrap();
    assert_eq!(
        store.consume_nonce("0xaa", me, 3_000).await.unwrap(),
        Nonce::Valid {
            issued_at_ms: 1_000,
            expires_at_ms: 61_000
        }
    );
    store.create_nonce("0xbb", me, 1_000, 5_000).await.unwrap();
    assert_eq!(
        store.consume_nonce("0xbb", me, 9_000).await.unwrap(),
        Nonce::Expired
    );
    assert_eq!(
        store.consume_nonce("0xbb", me, 9_000).await.unwrap(),
        Nonce::Unknown
    );
    // Concurrent verifications of one nonce: exactly one wins.
    store.create_nonce("0xcc", me, 1_000, 61_000).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.consume_nonce("0xcc", me, 2_000).await.unwrap()
        }));
    }
    let mut valid = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Nonce::Valid { .. }) {
            valid += 1;
        }
    }
    assert_eq!(valid, 1);
    // Issuing purges expired ones.
    store.create_nonce("0xdd", me, 1_000, 1_500).await.unwrap();
    store
        .create_nonce("0xee", me, 10_000, 70_000)
        .await
        .unwrap();
    assert_eq!(
        store.consume_nonce("0xdd", me, 1_200).await.unwrap(),
        Nonce::Unknown
    );
}
on_each_backend!(nonces_are_single_use_and_expire);

/// A batch that fails half-way stores nothing of itself, leaves no gap, and the store goes on
/// publishing (on SQLite the batch opens its transaction inside one query, so this checks that
/// it is rolled back and the write connection is usable again).
async fn a_failed_batch_stores_nothing(store: &Store) {
    let world = ch("world");
    assert_eq!(post(store, &world, 1, "first", "a").await, 1);
    let msg = |body, id| NewMessage {
        channel: &world,
        sender: addr(1),
        body,
        client_msg_id: id,
        now_ms: 7,
    };
    let failing = [msg("kept out", "b"), msg("boom", "c")];
    assert!(store.publish_many(&failing).await.is_err());
    assert_eq!(store.channel_head(&world).await.unwrap().last_seq, 1);
    for round in 0..3 {
        assert_eq!(
            post(store, &world, 1, "after", &format!("d{round}")).await,
            2 + round
        );
    }
    // The message of the failed batch was never stored: publishing it now is new.
    let out = store.publish(msg("kept out", "b")).await.unwrap();
    assert_eq!((out.message.seq, out.duplicate), (5, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_stores_nothing_sqlite() {
    use sqlx::Connection;
    let t = support::sqlite().await;
    let mut side = sqlx::sqlite::SqliteConnection::connect(&t.url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.body = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'boom'); END",
    )
    .execute(&mut side)
    .await
    .unwrap();
    side.close().await.unwrap();
    a_failed_batch_stores_nothing(&t.store).await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_stores_nothing_postgres() {
    use sqlx::Connection;
    let t = support::postgres().await;
    let mut side = sqlx::postgres::PgConnection::connect(&t.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF NEW.body = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER boom BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION boom()",
    )
    .execute(&mut side)
    .await
    .unwrap();
    side.close().await.unwrap();
    a_failed_batch_stores_nothing(&t.store).await;
    t.finish().await;
}
