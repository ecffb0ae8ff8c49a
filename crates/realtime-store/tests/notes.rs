//! Notes on both backends: visibility filtered in SQL, edits, tombstones, expiry, and changes
//! since a revision.

#![allow(clippy::unwrap_used)]

mod support;

use realtime_core::Address;
use realtime_core::hex::{Rect, Tile};
use realtime_core::notes::Visibility;
use realtime_store::{NewNote, Note, NoteEdit, Reader, Removal, Store};

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

fn guild() -> Visibility {
    Visibility::Group {
        kind: "guild".into(),
        id: "0x61".into(),
    }
}

async fn pin(store: &Store, author: u32, at: (u32, u32), title: &str, v: &Visibility) -> Note {
    store
        .create_note(NewNote {
            author: addr(author),
            tile: Tile::new(at.0, at.1),
            title,
            body: "body",
            visibility: v,
            expires_at_ms: None,
            now_ms: 1_000,
        })
        .await
        .unwrap()
}

fn everywhere() -> Rect {
    Rect::new(0, 0, 1000, 1000).unwrap()
}

fn titles(notes: &[Note]) -> Vec<&str> {
    notes.iter().map(|n| n.title.as_str()).collect()
}

fn reader(n: Option<u32>, groups: &[&str]) -> Reader {
    Reader {
        address: n.map(addr),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

async fn queries_return_what_the_reader_may_see(store: &Store) {
    pin(store, 1, (5, 5), "public", &Visibility::Public).await;
    pin(store, 1, (5, 6), "guild", &guild()).await;
    pin(store, 1, (6, 5), "private", &Visibility::Private).await;
    pin(store, 2, (500, 500), "far", &Visibility::Public).await;
    let near = Rect::new(0, 0, 10, 10).unwrap();
    let cases = [
        (reader(Some(1), &[]), vec!["private", "guild", "public"]),
        (reader(Some(2), &["guild:0x61"]), vec!["guild", "public"]),
        (reader(Some(3), &["guild:0x62"]), vec!["public"]),
        (reader(None, &[]), vec!["public"]),
    ];
    for (who, expected) in cases {
        let page = store.notes_in(near, &who, 2_000, None, 10).await.unwrap();
        assert_eq!(titles(&page), expected, "{who:?}");
    }
    // Paging by id, newest first.
    let me = reader(Some(1), &[]);
    let first = store
        .notes_in(everywhere(), &me, 2_000, None, 2)
        .await
        .unwrap();
    assert_eq!(titles(&first), vec!["far", "private"]);
    let rest = store
        .notes_in(everywhere(), &me, 2_000, Some(first[1].id), 10)
        .await
        .unwrap();
    assert_eq!(titles(&rest), vec!["guild", "public"]);
    assert_eq!(store.live_notes_of(addr(1), 2_000).await.unwrap(), 3);
}
on_each_backend!(queries_return_what_the_reader_may_see);

async fn edits_and_deletes_belong_to_the_author_and_leave_tombstones(store: &Store) {
    let note = pin(store, 1, (5, 5), "draft", &Visibility::Public).await;
    let clock = store.note_clock().await.unwrap();
    assert_eq!(note.rev, clock);
    let edit = NoteEdit {
        title: Some("final"),
        ..NoteEdit::default()
    };
    assert!(
        store
            .edit_note(note.id, addr(2), edit.clone(), 2_000)
            .await
            .unwrap()
            .is_none()
    );
    let edited = store
        .edit_note(note.id, addr(1), edit, 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (edited.title.as_str(), edited.body.as_str()),
        ("final", "body")
    );
    assert_eq!(edited.updated_at_ms, 2_000);
    assert!(edited.rev > note.rev);

    assert!(
        store
            .delete_note(note.id, addr(2), 3_000)
            .await
            .unwrap()
            .is_none()
    );
    let gone = store
        .delete_note(note.id, addr(1), 3_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.removed, Some((Removal::Deleted, 3_000)));
    assert!(
        store
            .delete_note(note.id, addr(1), 3_000)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    let again = NoteEdit {
        body: Some("zombie"),
        ..NoteEdit::default()
    };
    assert!(
        store
            .edit_note(note.id, addr(1), again, 4_000)
            .await
            .unwrap()
            .is_none()
    );
    let me = reader(Some(1), &[]);
    assert!(
        store
            .notes_in(everywhere(), &me, 4_000, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The tombstone is what a client resuming from before the edit learns.
    let changes = store
        .note_changes(everywhere(), &me, note.rev, 10)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].removed.map(|r| r.0), Some(Removal::Deleted));
    assert!(
        store
            .note_changes(everywhere(), &me, gone.rev, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.note(note.id).await.unwrap().unwrap().rev, gone.rev);
}
on_each_backend!(edits_and_deletes_belong_to_the_author_and_leave_tombstones);

async fn expired_notes_leave_queries_at_once_and_become_tombstones(store: &Store) {
    let short = store
        .create_note(NewNote {
            author: addr(1),
            tile: Tile::new(1, 1),
            title: "short",
            body: "",
            visibility: &Visibility::Public,
            expires_at_ms: Some(5_000),
            now_ms: 1_000,
        })
        .await
        .unwrap();
    let long = pin(store, 1, (1, 2), "long", &Visibility::Public).await;
    let anyone = reader(None, &[]);
    let before = store
        .notes_in(everywhere(), &anyone, 4_999, None, 10)
        .await
        .unwrap();
    assert_eq!(titles(&before), vec!["long", "short"]);
    // Past its expiry it leaves queries before any sweep.
    let after = store
        .notes_in(everywhere(), &anyone, 5_000, None, 10)
        .await
        .unwrap();
    assert_eq!(titles(&after), vec!["long"]);
    assert!(store.expire_notes(4_999, 10).await.unwrap().is_empty());
    let swept = store.expire_notes(9_000, 10).await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].id, short.id);
    assert_eq!(swept[0].removed, Some((Removal::Expired, 5_000)));
    assert!(
        store.expire_notes(9_000, 10).await.unwrap().is_empty(),
        "once"
    );
    let changes = store
        .note_changes(everywhere(), &anyone, short.rev, 10)
        .await
        .unwrap();
    // Since the short note was pinned: the long one, then the short one's expiry.
    let ids: Vec<u64> = changes.iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![long.id, short.id]);
    assert_eq!(changes[1].removed.map(|r| r.0), Some(Removal::Expired));
}
on_each_backend!(expired_notes_leave_queries_at_once_and_become_tombstones);

async fn changes_respect_area_and_visibility(store: &Store) {
    let start = store.note_clock().await.unwrap();
    pin(store, 1, (5, 5), "inside", &Visibility::Public).await;
    pin(store, 1, (50, 50), "outside", &Visibility::Public).await;
    pin(store, 2, (6, 6), "their secret", &Visibility::Private).await;
    pin(store, 2, (7, 7), "their guild", &guild()).await;
    let area = Rect::new(0, 0, 10, 10).unwrap();
    let me = reader(Some(1), &["guild:0x61"]);
    let changes = store.note_changes(area, &me, start, 10).await.unwrap();
    assert_eq!(titles(&changes), vec!["inside", "their guild"]);
    let capped = store.note_changes(area, &me, start, 1).await.unwrap();
    assert_eq!(titles(&capped), vec!["inside"]);
}
on_each_backend!(changes_respect_area_and_visibility);
