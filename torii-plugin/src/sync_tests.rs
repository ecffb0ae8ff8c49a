//! The follower against the fake Torii.

use std::time::Duration;

use realtime_core::Address;
use realtime_core::hex::Tile;

use super::*;
use crate::fake::FakeTorii;
use crate::proto::types::Struct;
use crate::rules::{GroupRule, PlayersRule, PositionRule, WorldRules};
use crate::value::build::*;

const NAME: &str = "w-AddressName";
const MEMBER: &str = "w-GuildMember";
const UNIT: &str = "w-Unit";

fn a(n: u64) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

fn name(addr: Address, n: u64) -> Struct {
    model(
        NAME,
        vec![
            member("address", address(addr), true),
            member("name", felt(felt_of(n)), false),
        ],
    )
}

fn guild(addr: Address, g: u64) -> Struct {
    model(
        MEMBER,
        vec![
            member("member", address(addr), true),
            member("guild_id", felt(felt_of(g)), false),
        ],
    )
}

fn unit(owner: Address, x: u32, y: u32) -> Struct {
    model(
        UNIT,
        vec![
            member("id", u32(1), true),
            member("owner", address(owner), false),
            member(
                "pos",
                nested(
                    "Pos",
                    vec![member("x", u32(x), false), member("y", u32(y), false)],
                ),
                false,
            ),
        ],
    )
}

fn rules() -> WorldRules {
    let mut groups = std::collections::BTreeMap::new();
    groups.insert(
        "guild".to_string(),
        GroupRule {
            model: MEMBER.into(),
            member: "member".into(),
            group: "guild_id".into(),
            when: Default::default(),
        },
    );
    WorldRules {
        players: Some(PlayersRule {
            model: NAME.into(),
            address: "address".into(),
            name: None,
            when: crate::rules::Conditions {
                nonzero: vec!["name".into()],
                ..Default::default()
            },
        }),
        groups,
        positions: vec![PositionRule {
            name: "unit".into(),
            model: UNIT.into(),
            x: "pos.x".into(),
            y: "pos.y".into(),
            owner: "owner".into(),
            owner_via: None,
        }],
        feed: crate::rules::FeedRule {
            models: vec![UNIT.into()],
        },
        announcements: Vec::new(),
    }
}

struct Setup {
    torii: FakeTorii,
    projection: Arc<RwLock<Projection>>,
    changes: mpsc::Receiver<Vec<Change>>,
    status: watch::Receiver<SyncStatus>,
    task: JoinHandle<Result<(), SyncError>>,
    stop: CancellationToken,
}

async fn torii() -> FakeTorii {
    let t = FakeTorii::start(a(0x3077), 0).await.unwrap();
    t.add_model(&name(a(1), 1));
    t.add_model(&guild(a(1), 1));
    t.add_model(&unit(a(1), 0, 0));
    t
}

fn follow(torii: FakeTorii, rules: WorldRules) -> Setup {
    let projection = Arc::new(RwLock::new(Projection::new(rules)));
    let (tx, changes) = mpsc::channel(1024);
    let stop = CancellationToken::new();
    let config = ToriiConfig {
        grpc_url: torii.url(),
        world_address: "0x3077".into(),
        page_size: 2,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        call_timeout: Duration::from_secs(5),
        max_stale: Duration::from_secs(60),
    };
    let (status, task) = spawn(config, projection.clone(), tx, stop.clone());
    Setup {
        torii,
        projection,
        changes,
        status,
        task,
        stop,
    }
}

impl Setup {
    async fn live(&mut self) {
        tokio::time::timeout(
            Duration::from_secs(10),
            self.status.wait_for(|s| s.state == SyncState::Live),
        )
        .await
        .expect("live in time")
        .unwrap();
    }

    async fn until(&self, what: &str, f: impl Fn(&Projection) -> bool) {
        for _ in 0..200 {
            if f(&self.projection.read().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what}: not reached");
    }

    async fn changes(&mut self) -> Vec<Change> {
        tokio::time::timeout(Duration::from_secs(5), self.changes.recv())
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn pages_the_initial_state_then_follows_partial_updates_and_deletions() {
    let t = torii().await;
    for i in 1..=5u64 {
        t.set(i, name(a(i), 7));
    }
    t.set(10, guild(a(1), 0x61));
    let mut s = follow(t, rules());
    s.live().await;
    assert!(
        s.torii.calls().retrieve_pages >= 3,
        "paged by 2: {:?}",
        s.torii.calls()
    );
    {
        let p = s.projection.read().unwrap();
        assert_eq!(p.player_count(), 5);
        assert!(p.is_member("guild", "0x61", a(1)));
    }
    let initial = s.changes().await;
    assert!(initial.contains(&Change::PlayerAdded(a(3))), "{initial:?}");

    // One member: the name goes to 0, so address 2 stops being a player.
    s.torii
        .set_member(2, NAME, member("name", felt(felt_of(0)), false));
    assert_eq!(s.changes().await, vec![Change::PlayerRemoved(a(2))]);
    // Record without keys: a new guild id.
    s.torii.set_without_keys(10, guild(a(1), 0x62));
    let c = s.changes().await;
    assert!(
        c.contains(&Change::Joined {
            group: ("guild".into(), "0x62".into()),
            member: a(1)
        }),
        "{c:?}"
    );
    // Deletion.
    s.torii.delete(10, MEMBER);
    let c = s.changes().await;
    assert!(matches!(&c[..], [Change::Left { .. }]), "{c:?}");
    // A feed model moving.
    s.torii.set(20, unit(a(1), 3, 4));
    let c = s.changes().await;
    let Change::Feed(u) = &c[0] else {
        panic!("{c:?}")
    };
    assert_eq!(u.tile, Some(Tile::new(3, 4)));
    assert!(s.status.borrow().updates >= 4);
    s.stop.cancel();
    assert_eq!(s.task.await.unwrap(), Ok(()));
}

#[tokio::test]
async fn updates_made_while_paging_are_not_lost() {
    let t = torii().await;
    for i in 1..=6u64 {
        t.set(i, name(a(i), 7));
    }
    // Address 9 registers while the follower is reading page one.
    t.set_during_next_retrieve(9, name(a(9), 5));
    let mut s = follow(t, rules());
    s.live().await;
    s.until("address 9 is a player", |p| p.is_player(a(9)))
        .await;
    assert_eq!(s.projection.read().unwrap().player_count(), 7);
    s.stop.cancel();
}

#[tokio::test]
async fn a_dropped_stream_resyncs_and_reports_what_changed_meanwhile() {
    let t = torii().await;
    t.set(1, name(a(1), 7));
    t.set(10, guild(a(1), 0x61));
    let mut s = follow(t, rules());
    s.live().await;
    let _initial = s.changes().await;
    // While the follower is disconnected, address 1 leaves its guild and 2 registers.
    s.torii.delete_silently(10, MEMBER);
    s.torii.set_silently(2, name(a(2), 9));
    s.torii.drop_streams();
    let c = s.changes().await;
    assert!(
        c.contains(&Change::Left {
            group: ("guild".into(), "0x61".into()),
            member: a(1)
        }),
        "{c:?}"
    );
    assert!(c.contains(&Change::PlayerAdded(a(2))), "{c:?}");
    assert!(s.status.borrow().reconnects >= 1);
    assert!(s.torii.calls().subscribes >= 2);
    // Live again: updates flow.
    s.torii.set(3, name(a(3), 1));
    assert_eq!(s.changes().await, vec![Change::PlayerAdded(a(3))]);
    s.stop.cancel();
}

/// A synced projection that loses Torii reports how long it has gone unconfirmed, until the
/// next sync completes.
#[tokio::test]
async fn the_age_of_a_disconnected_projection_is_reported() {
    let t = torii().await;
    t.set(1, name(a(1), 7));
    let mut s = follow(t, rules());
    s.live().await;
    assert_eq!(s.status.borrow().stale_for(), None, "live");
    s.torii.set_down(true);
    s.torii.drop_streams();
    let st = tokio::time::timeout(
        Duration::from_secs(5),
        s.status.wait_for(|st| st.stale_for().is_some()),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert!(st.synced, "still synced: the old projection is kept");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let age = s.status.borrow().stale_for().unwrap();
    assert!(age >= Duration::from_millis(300), "{age:?}");
    s.torii.set_down(false);
    tokio::time::timeout(
        Duration::from_secs(5),
        s.status
            .wait_for(|st| st.state == SyncState::Live && st.stale_for().is_none()),
    )
    .await
    .unwrap()
    .unwrap();
    s.stop.cancel();
}

#[tokio::test]
async fn retries_while_torii_is_down() {
    let t = torii().await;
    t.set(1, name(a(1), 7));
    t.set_down(true);
    let mut s = follow(t, rules());
    tokio::time::timeout(
        Duration::from_secs(5),
        s.status
            .wait_for(|st| st.state == SyncState::Retrying && st.reconnects >= 1),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!s.status.borrow().synced);
    assert!(s.status.borrow().last_error.is_some());
    s.torii.set_down(false);
    s.live().await;
    assert!(s.projection.read().unwrap().is_player(a(1)));
    s.stop.cancel();
}

#[tokio::test]
async fn rules_that_do_not_fit_the_world_stop_the_follower() {
    let t = torii().await;
    let mut r = rules();
    r.players.as_mut().unwrap().address = "addr".into();
    let s = follow(t, r);
    let err = tokio::time::timeout(Duration::from_secs(10), s.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("w-AddressName") && text.contains("\"addr\""),
        "{text}"
    );
}

#[tokio::test]
async fn an_entity_updated_ahead_of_the_cursor_is_read_whole() {
    let t = torii().await;
    for i in 1..=6u64 {
        t.set(i, name(a(i), 0));
    }
    // While page one is read, address 6 (on the last page) gets a name by a one-member
    // update; Torii's newest-first paging then skips it, leaving only that member.
    t.set_member_during_next_retrieve(6, NAME, member("name", felt(felt_of(9)), false));
    let mut s = follow(t, rules());
    s.live().await;
    s.until("address 6 is a player", |p| p.is_player(a(6)))
        .await;
    assert_eq!(s.projection.read().unwrap().player_count(), 1);
    s.stop.cancel();
}

#[tokio::test]
async fn after_a_reconnect_a_world_answering_oddly_is_retried_not_fatal() {
    let t = torii().await;
    t.set(1, name(a(1), 7));
    let mut s = follow(t, rules());
    s.live().await;
    let _ = s.changes().await;
    s.torii.hide_models(true);
    s.torii.drop_streams();
    tokio::time::timeout(
        Duration::from_secs(5),
        s.status.wait_for(|st| {
            st.last_error
                .as_deref()
                .is_some_and(|e| e.contains("not in the world"))
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!s.task.is_finished(), "the follower keeps trying");
    s.torii.hide_models(false);
    s.live().await;
    // The resync says feed watchers missed updates.
    let c = s.changes().await;
    assert!(c.contains(&Change::Resynced), "{c:?}");
    s.stop.cancel();
}

/// The first reconnect after a completed sync is quick, however many failures came before
/// it; failures in a row and sync-then-drop flapping grow the delay; a stable session resets.
#[test]
fn reconnects_are_quick_after_a_sync_and_slow_only_when_failing_repeatedly() {
    let mut b = Backoff::default();
    let failures: Vec<u32> = (0..6).map(|_| b.after(Ended::Unsynced)).collect();
    assert_eq!(failures, [0, 1, 2, 3, 4, 5]);
    // Synced at last, then the stream dropped a moment later: reconnect at once.
    assert_eq!(b.after(Ended::Synced(Duration::from_secs(2))), 0);
    // That attempt fails: the delays grow again from there.
    assert_eq!(b.after(Ended::Unsynced), 1);
    // Syncing and dropping right away, over and over, is slowed down.
    assert_eq!(b.after(Ended::Synced(Duration::from_millis(10))), 1);
    assert_eq!(b.after(Ended::Synced(Duration::from_millis(10))), 2);
    // A session that stayed live resets everything.
    assert_eq!(b.after(Ended::Synced(STABLE_AFTER)), 0);
    assert_eq!(b.after(Ended::Synced(Duration::from_secs(1))), 0);
}
