use super::*;
use crate::hex::Tile;
use crate::policy::{Action, ChannelRule, ChannelRules};

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

fn channel(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

/// Players 0x2, 0x3 and 0x5; 0x3 and 0x5 share guild 0x61, 0x2 is in guild 0x62; 0x1 is
/// nobody.
struct World;

impl WorldView for World {
    fn is_player(&self, who: Address) -> bool {
        [addr(2), addr(3), addr(5)].contains(&who)
    }
    fn is_member(&self, _kind: &str, _id: &str, _who: Address) -> bool {
        unreachable!("dm rules ask groups_of")
    }
    fn in_any_group(&self, kind: &str, who: Address) -> bool {
        !self.groups_of(who).is_empty() && kind == "guild"
    }
    fn groups_of(&self, who: Address) -> Vec<(String, String)> {
        let id = match who {
            w if w == addr(3) || w == addr(5) => "0x61",
            w if w == addr(2) => "0x62",
            _ => return Vec::new(),
        };
        vec![("guild".into(), id.into())]
    }
    fn owns_at(&self, _: Tile, _: Address) -> bool {
        false
    }
    fn has_near(&self, _: Tile, _: u64, _: Address) -> bool {
        false
    }
}

#[test]
fn a_pair_names_one_thread_whatever_the_order_or_spelling() {
    let ab = Thread::between(addr(0x1f), addr(0xa)).unwrap();
    let ba = Thread::between(addr(0xa), addr(0x1f)).unwrap();
    assert_eq!(ab, ba);
    assert_eq!(ab.channel().as_str(), "dm:0xa:0x1f");
    let spelled = Thread::of(&channel("dm:0x001f:0x0a")).unwrap().unwrap();
    assert_eq!(spelled.channel(), ab.channel());
    assert_eq!(ab.peer_of(addr(0xa)), Some(addr(0x1f)));
    assert_eq!(ab.peer_of(addr(0x2)), None);
    let rules = ChannelRules::default();
    assert_eq!(
        rules.canonical(channel("dm:0x1f:0xa")).as_str(),
        "dm:0xa:0x1f"
    );
}

#[test]
fn two_full_addresses_fit_a_channel_name() {
    let a: Address = format!("0x7{}", "f".repeat(62)).parse().unwrap();
    let b: Address = format!("0x6{}", "e".repeat(62)).parse().unwrap();
    let name = Thread::between(a, b).unwrap().channel();
    assert_eq!(name.as_str().len(), 3 + 65 + 1 + 65);
}

#[test]
fn malformed_thread_names_are_not_found_and_self_threads_refused() {
    for name in ["dm", "dm:0x1", "dm:0x1:0x2:0x3", "dm:abc:0x2", "dm:0x0:0x2"] {
        let refusal = Thread::of(&channel(name)).unwrap().unwrap_err();
        assert_eq!(refusal.code, ErrorCode::NotFound, "{name}");
    }
    let refusal = Thread::of(&channel("dm:0x2:0x02")).unwrap().unwrap_err();
    assert_eq!(refusal.code, ErrorCode::BadRequest);
    assert!(Thread::of(&channel("guild:0x1")).is_none());
}

#[test]
fn only_the_two_participants_read_or_post_whatever_else_is_configured() {
    let mut rules = ChannelRules::default();
    // A catch-all rule for the kind cannot open threads to others.
    rules.channels.insert(
        "dm".into(),
        ChannelRule {
            read: Policy::Anyone,
            post: Policy::Anyone,
        },
    );
    let thread = channel("dm:0x2:0x3");
    for action in [Action::Read, Action::Post] {
        for who in [addr(2), addr(3)] {
            assert!(rules.check(Ok(&World), Some(who), &thread, action).is_ok());
        }
        let third = rules.check(Ok(&World), Some(addr(5)), &thread, action);
        assert_eq!(third.unwrap_err().code, ErrorCode::Forbidden);
        let anonymous = rules.check(Ok(&World), None, &thread, action);
        assert_eq!(anonymous.unwrap_err().code, ErrorCode::Unauthorized);
    }
    rules.dm.enabled = false;
    let off = rules.check(Ok(&World), Some(addr(2)), &thread, Action::Read);
    assert_eq!(off.unwrap_err().code, ErrorCode::NotFound);
}

#[test]
fn the_start_rule_applies_to_both_sides() {
    let anyone = DmRule::default();
    assert!(!anyone.needs_world());
    let unavailable = Refusal::new(ErrorCode::Unavailable, "syncing");
    assert!(
        anyone
            .may_start::<World>(Err(&unavailable), &[], addr(1), addr(2))
            .is_ok()
    );

    let players = DmRule {
        start: Policy::Player,
        ..DmRule::default()
    };
    assert!(players.needs_world());
    assert!(players.may_start(Ok(&World), &[], addr(2), addr(3)).is_ok());
    let from_stranger = players.may_start(Ok(&World), &[], addr(1), addr(2));
    assert_eq!(from_stranger.unwrap_err().code, ErrorCode::Forbidden);
    let to_stranger = players.may_start(Ok(&World), &[], addr(2), addr(1));
    assert!(
        to_stranger
            .unwrap_err()
            .message
            .contains("go to players only")
    );
    let syncing = players.may_start::<World>(Err(&unavailable), &[], addr(2), addr(3));
    assert_eq!(syncing.unwrap_err().code, ErrorCode::Unavailable);

    let admins = DmRule {
        start: Policy::Admin,
        ..DmRule::default()
    };
    let list = [addr(1), addr(2)];
    assert!(
        admins
            .may_start::<World>(Err(&unavailable), &list, addr(1), addr(2))
            .is_ok()
    );
    assert!(
        admins
            .may_start::<World>(Err(&unavailable), &list, addr(1), addr(3))
            .is_err()
    );
}

#[test]
fn a_shared_group_rule_needs_a_common_group_of_that_kind() {
    let guildmates = DmRule {
        start: Policy::Player,
        shared_group: Some("guild".into()),
        ..DmRule::default()
    };
    assert!(
        guildmates
            .may_start(Ok(&World), &[], addr(3), addr(5))
            .is_ok()
    );
    let other_guild = guildmates.may_start(Ok(&World), &[], addr(3), addr(2));
    let refusal = other_guild.unwrap_err();
    assert_eq!(refusal.code, ErrorCode::Forbidden);
    assert!(
        refusal.message.contains("same guild"),
        "{}",
        refusal.message
    );
    let wrong_kind = DmRule {
        shared_group: Some("party".into()),
        ..DmRule::default()
    };
    assert!(
        wrong_kind
            .may_start(Ok(&World), &[], addr(3), addr(5))
            .is_err()
    );
}
