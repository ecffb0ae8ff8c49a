//! Every migration goes down and up again on a database that holds data in every table, on
//! both backends: a down script that trips over rows (a foreign key, a trigger) or an up
//! script that cannot run over existing data fails here, not during a deploy. What older
//! migrations store survives the newer ones being reverted and re-applied.

#![allow(clippy::unwrap_used)]

mod support;

use realtime_core::dm::Thread;
use realtime_core::hex::Tile;
use realtime_core::notes::Visibility;
use realtime_core::{Address, ChannelName};
use realtime_store::{
    Audit, HeldMessage, NewMessage, NewNote, NewReport, NewSanction, ReportTarget, SanctionKind,
    Store,
};

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

fn world() -> ChannelName {
    ChannelName::new("world").unwrap()
}

fn audit(at_ms: i64) -> Audit<'static> {
    Audit {
        actor: "0x9",
        action: "ban",
        target: "0x3",
        reason: "test",
        detail: None,
        at_ms,
    }
}

/// Writes a row into every table the migrations create.
async fn fill(store: &Store, round: u32) {
    let world = world();
    let id = format!("r{round}");
    store
        .publish(NewMessage {
            channel: &world,
            sender: addr(1),
            body: &id,
            client_msg_id: &id,
            now_ms: 1_000,
        })
        .await
        .unwrap();
    store
        .create_nonce(&format!("nonce-{round}"), addr(1), 1_000, i64::MAX / 2)
        .await
        .unwrap();
    let thread = Thread::between(addr(1), addr(2)).unwrap();
    let dm = thread.channel();
    store
        .start_thread(&dm, thread.participants(), addr(1), 1_000)
        .await
        .unwrap();
    store.block(addr(1), addr(3 + round), 1_000).await.unwrap();
    store.mark_read(addr(2), &world, 1, 1_000).await.unwrap();
    store
        .create_note(NewNote {
            author: addr(1),
            tile: Tile::new(round, round),
            title: "t",
            body: "b",
            visibility: &Visibility::Public,
            expires_at_ms: None,
            now_ms: 1_000,
        })
        .await
        .unwrap();
    store
        .add_sanction(
            NewSanction {
                address: addr(3),
                kind: SanctionKind::Mute,
                channel: None,
                until_ms: None,
            },
            &audit(1_000),
        )
        .await
        .unwrap();
    store
        .revoke_token(&format!("jti-{round}"), None, i64::MAX / 2, &audit(1_000))
        .await
        .unwrap();
    store
        .hold_message(HeldMessage {
            channel: &world,
            author: addr(1),
            body: "held",
            client_msg_id: &format!("held-{round}"),
            rule: "r",
            now_ms: 1_000,
        })
        .await
        .unwrap();
    let seq = store.channel_head(&world).await.unwrap().last_seq;
    store
        .report(NewReport {
            target: ReportTarget::Message {
                channel: &world,
                seq,
            },
            reporter: addr(2),
            reason: "spam",
            comment: None,
            now_ms: 1_000,
        })
        .await
        .unwrap()
        .unwrap();
}

async fn every_migration_goes_down_and_up_with_data_in_place(store: &Store) {
    let known: Vec<i64> = store
        .migration_status()
        .await
        .unwrap()
        .known
        .iter()
        .map(|(v, _)| *v)
        .collect();
    fill(store, 0).await;
    // Down the k newest over data in every table, up again over what the older ones hold.
    for k in 1..=known.len() {
        let mut expected: Vec<i64> = known[known.len() - k..].to_vec();
        expected.reverse();
        assert_eq!(store.migrate_down(k).await.unwrap(), expected, "down {k}");
        if k < known.len() {
            let messages = store.range(&world(), 0, 1000, 1000).await.unwrap();
            assert!(
                !messages.is_empty(),
                "messages survive reverting {expected:?}"
            );
        }
        expected.reverse();
        assert_eq!(store.migrate_up().await.unwrap(), expected, "up {k}");
        fill(store, k as u32).await;
    }
    assert!(store.migration_status().await.unwrap().pending().is_empty());
}
on_each_backend!(every_migration_goes_down_and_up_with_data_in_place);
