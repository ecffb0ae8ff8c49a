//! Sanctions, revocations, removals, the audit log and the review queue, on both backends.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;

use realtime_core::hex::Tile;
use realtime_core::notes::Visibility;
use realtime_core::{Address, ChannelName};
use realtime_store::{
    Audit, HeldMessage, JobKind, JobState, NewMessage, NewNote, NewReport, NewSanction, Removal,
    ReportTarget, SanctionKind, Store,
};

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

fn world() -> ChannelName {
    ChannelName::new("world").unwrap()
}

fn audit<'a>(action: &'a str, target: &'a str, at_ms: i64) -> Audit<'a> {
    Audit {
        actor: "0xm0d",
        action,
        target,
        reason: "test",
        detail: None,
        at_ms,
    }
}

async fn post(store: &Store, sender: u32, id: &str) -> u64 {
    store
        .publish(NewMessage {
            channel: &world(),
            sender: addr(sender),
            body: id,
            client_msg_id: id,
            now_ms: 1_000,
        })
        .await
        .unwrap()
        .message
        .seq
}

async fn sanctions_hold_until_they_end_or_are_lifted_and_each_action_is_audited(store: &Store) {
    let ban = NewSanction {
        address: addr(1),
        kind: SanctionKind::Ban,
        channel: None,
        until_ms: None,
    };
    store
        .add_sanction(ban, &audit("ban", "0x1", 1_000))
        .await
        .unwrap();
    let mute = NewSanction {
        address: addr(2),
        kind: SanctionKind::Mute,
        channel: Some("world"),
        until_ms: Some(5_000),
    };
    store
        .add_sanction(mute, &audit("mute", "0x2", 1_000))
        .await
        .unwrap();
    let live = store.live_sanctions(2_000).await.unwrap();
    assert_eq!(live.len(), 2);
    assert_eq!(live[1].channel.as_deref(), Some("world"));
    assert_eq!(live[1].reason, "test");
    // The mute ends by itself; the ban holds until lifted.
    let later = store.live_sanctions(5_000).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].kind, SanctionKind::Ban);
    let lifted = store
        .lift_sanctions(
            addr(1),
            SanctionKind::Ban,
            None,
            &audit("unban", "0x1", 6_000),
        )
        .await
        .unwrap();
    assert_eq!(lifted, 1);
    assert!(store.live_sanctions(6_000).await.unwrap().is_empty());

    let log = store.audit_log(None, 10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["unban", "mute", "ban"], "newest first");
    let older = store.audit_log(Some(log[0].id), 1).await.unwrap();
    assert_eq!(older[0].action, "mute");
}
on_each_backend!(sanctions_hold_until_they_end_or_are_lifted_and_each_action_is_audited);

/// Runs `statement` on a connection of its own and returns the error text.
async fn refused(url: &str, statement: &str) -> String {
    use sqlx::Connection;
    let result = if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut c)
            .await
            .map(|_| ())
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut c)
            .await
            .map(|_| ())
    };
    result.expect_err(statement).to_string()
}

async fn append_only(t: support::TestStore) {
    t.store.record_audit(&audit("note", "x", 1)).await.unwrap();
    for statement in [
        "UPDATE audit_log SET reason = 'rewritten'",
        "DELETE FROM audit_log",
    ] {
        let e = refused(&t.url, statement).await;
        assert!(e.contains("append-only"), "{}: {e}", t.url);
    }
    assert_eq!(t.store.audit_log(None, 10).await.unwrap()[0].reason, "test");
    t.finish().await;
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed_or_deleted_on_sqlite() {
    append_only(support::sqlite().await).await;
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed_or_deleted_on_postgres() {
    append_only(support::postgres().await).await;
}

async fn revoked_tokens_are_kept_until_they_would_have_expired(store: &Store) {
    store
        .revoke_token(
            "jti-1",
            Some(addr(1)),
            10_000,
            &audit("revoke", "jti:jti-1", 1_000),
        )
        .await
        .unwrap();
    assert_eq!(
        store.revoked_tokens(2_000).await.unwrap(),
        [("jti-1".to_owned(), 10_000)]
    );
    assert!(store.revoked_tokens(10_000).await.unwrap().is_empty());
}
on_each_backend!(revoked_tokens_are_kept_until_they_would_have_expired);

async fn a_removed_message_keeps_its_seq_and_loses_its_text(store: &Store) {
    let seq = post(store, 1, "rude words").await;
    post(store, 2, "after").await;
    let removed = store
        .remove_message(&world(), seq, &audit("delete_message", "world#1", 2_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.deleted_at_ms, Some(2_000));
    assert_eq!(removed.body, "");
    let again = store
        .remove_message(&world(), seq, &audit("delete_message", "world#1", 3_000))
        .await
        .unwrap();
    assert!(again.is_none(), "removed once");
    let page = store.range(&world(), 0, 2, 10).await.unwrap();
    assert_eq!(page.len(), 2, "no gap in the log");
    assert!(page[0].deleted_at_ms.is_some() && page[0].body.is_empty());
    assert_eq!(
        store.audit_log(None, 10).await.unwrap().len(),
        1,
        "one audit entry"
    );
}
on_each_backend!(a_removed_message_keeps_its_seq_and_loses_its_text);

async fn a_removed_note_becomes_a_tombstone(store: &Store) {
    let note = store
        .create_note(NewNote {
            author: addr(1),
            tile: Tile::new(3, 4),
            title: "t",
            body: "b",
            visibility: &Visibility::Public,
            expires_at_ms: None,
            now_ms: 1_000,
        })
        .await
        .unwrap();
    let removed = store
        .remove_note(note.id, &audit("delete_note", "note:1", 2_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.removed, Some((Removal::Removed, 2_000)));
    assert!(
        store
            .note(note.id)
            .await
            .unwrap()
            .unwrap()
            .removed
            .is_some()
    );
}
on_each_backend!(a_removed_note_becomes_a_tombstone);

async fn a_held_message_is_queued_once(store: &Store) {
    let held = HeldMessage {
        channel: &world(),
        author: addr(1),
        body: "buy my airdrop",
        client_msg_id: "c1",
        rule: "scam",
        now_ms: 1_000,
    };
    let first = store.hold_message(held).await.unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.job.kind, JobKind::Held);
    assert_eq!(first.job.state, JobState::Pending);
    assert_eq!(first.job.rule.as_deref(), Some("scam"));
    let retry = store.hold_message(held).await.unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.job.id, first.job.id);
    assert_eq!(store.pending_jobs().await.unwrap(), 1);
}
on_each_backend!(a_held_message_is_queued_once);

async fn reports_of_one_thing_collapse_onto_one_pending_job(store: &Store) {
    let seq = post(store, 9, "spam").await;
    let channel = world();
    let report = |reporter| NewReport {
        target: ReportTarget::Message {
            channel: &channel,
            seq,
        },
        reporter: addr(reporter),
        reason: "spam",
        comment: Some("again"),
        now_ms: 2_000,
    };
    let a = store.report(report(1)).await.unwrap().unwrap();
    assert!(!a.duplicate);
    assert_eq!(a.job.author, addr(9));
    assert_eq!(a.job.body.as_deref(), Some("spam"), "the text as reported");
    let b = store.report(report(2)).await.unwrap().unwrap();
    assert_eq!((b.job.id, b.job.reports, b.duplicate), (a.job.id, 2, false));
    let again = store.report(report(1)).await.unwrap().unwrap();
    assert_eq!((again.job.reports, again.duplicate), (2, true));
    assert_eq!(store.reports_of(a.job.id).await.unwrap().len(), 2);

    let missing = NewReport {
        target: ReportTarget::Message {
            channel: &channel,
            seq: 99,
        },
        ..report(1)
    };
    assert!(store.report(missing).await.unwrap().is_none());
    let no_note = NewReport {
        target: ReportTarget::Note { id: 42 },
        ..report(1)
    };
    assert!(store.report(no_note).await.unwrap().is_none());

    // Once decided, a new report opens a new job.
    let decided = store
        .decide_job(
            a.job.id,
            JobState::Dismissed,
            &audit("dismiss", "job", 3_000),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decided.state, JobState::Dismissed);
    assert_eq!(decided.decided_by.as_deref(), Some("0xm0d"));
    let twice = store
        .decide_job(
            a.job.id,
            JobState::Resolved,
            &audit("resolve", "job", 3_000),
        )
        .await
        .unwrap();
    assert!(twice.is_none(), "decided once");
    let fresh = store.report(report(1)).await.unwrap().unwrap();
    assert_ne!(fresh.job.id, a.job.id);
    assert_eq!(fresh.job.reports, 1);
    let pending = store.jobs(Some(JobState::Pending), None, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(store.jobs(None, None, 10).await.unwrap().len(), 2);
}
on_each_backend!(reports_of_one_thing_collapse_onto_one_pending_job);

async fn claimed_jobs_wait_for_their_lease_and_retries_for_their_time(store: &Store) {
    for i in 0..3 {
        let body = format!("m{i}");
        store
            .hold_message(HeldMessage {
                channel: &world(),
                author: addr(1),
                body: &body,
                client_msg_id: &body,
                rule: "r",
                now_ms: 1_000,
            })
            .await
            .unwrap();
    }
    let first = store.claim_jobs(1_000, 500, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store.claim_jobs(1_100, 500, 10).await.unwrap();
    assert_eq!(rest.len(), 1, "claimed ones are leased");
    store.job_notified(first[0].id, 1_200).await.unwrap();
    store.job_retry(first[1].id, 5_000).await.unwrap();
    assert!(store.claim_jobs(1_300, 500, 10).await.unwrap().is_empty());
    // The third job's lease ran out; the retried one is due at 5 000.
    let expired = store.claim_jobs(1_700, 500, 10).await.unwrap();
    assert_eq!(
        expired.iter().map(|j| j.id).collect::<Vec<_>>(),
        [rest[0].id]
    );
    let due = store.claim_jobs(5_000, 500, 10).await.unwrap();
    assert!(due.iter().any(|j| j.id == first[1].id));
    assert!(store.job(first[0].id).await.unwrap().unwrap().notified);
}
on_each_backend!(claimed_jobs_wait_for_their_lease_and_retries_for_their_time);

async fn concurrent_workers_never_claim_one_job_twice(store: &Store) {
    const JOBS: usize = 120;
    for i in 0..JOBS {
        let body = format!("m{i}");
        store
            .hold_message(HeldMessage {
                channel: &world(),
                author: addr(1),
                body: &body,
                client_msg_id: &body,
                rule: "r",
                now_ms: 1_000,
            })
            .await
            .unwrap();
    }
    let worker = |store: Store| async move {
        let mut mine = Vec::new();
        loop {
            let batch = store.claim_jobs(2_000, 60_000, 3).await.unwrap();
            if batch.is_empty() {
                return mine;
            }
            for job in batch {
                store.job_notified(job.id, 2_000).await.unwrap();
                mine.push(job.id);
            }
        }
    };
    let workers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(worker(store.clone())))
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), JOBS, "each job claimed exactly once");
    assert_eq!(distinct.len(), JOBS);
}
on_each_backend!(concurrent_workers_never_claim_one_job_twice);
