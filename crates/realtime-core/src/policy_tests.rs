use super::*;

/// A world with one player outside any group (0x2), one guild member (0x3, guild 0x61, also
/// a player), and an admin (0x4) who is neither.
struct World;

const STRANGER: u32 = 1;
const PLAYER: u32 = 2;
const MEMBER: u32 = 3;
const ADMIN: u32 = 4;

fn addr(n: u32) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

impl WorldView for World {
    fn is_player(&self, who: Address) -> bool {
        who == addr(PLAYER) || who == addr(MEMBER)
    }
    fn is_member(&self, kind: &str, id: &str, who: Address) -> bool {
        kind == "guild" && id == "0x61" && who == addr(MEMBER)
    }
    fn in_any_group(&self, kind: &str, who: Address) -> bool {
        kind == "guild" && who == addr(MEMBER)
    }
    fn groups_of(&self, who: Address) -> Vec<(String, String)> {
        if who == addr(MEMBER) {
            vec![("guild".into(), "0x61".into())]
        } else {
            Vec::new()
        }
    }
    fn owns_at(&self, _tile: Tile, _who: Address) -> bool {
        false
    }
    fn has_near(&self, _tile: Tile, _distance: u64, _who: Address) -> bool {
        false
    }
}

fn rules(policy: Policy) -> ChannelRules {
    ChannelRules {
        channels: BTreeMap::from([(
            "zone".to_owned(),
            ChannelRule {
                read: Policy::Anyone,
                post: policy,
            },
        )]),
        group_kinds: BTreeSet::from(["guild".to_owned()]),
        admins: vec![addr(ADMIN)],
        ..ChannelRules::default()
    }
}

fn ch(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

/// The outcome's code: `None` when allowed.
fn outcome(
    rules: &ChannelRules,
    world: Result<&World, &Refusal>,
    who: Option<u32>,
    channel: &str,
    action: Action,
) -> Option<ErrorCode> {
    rules
        .check(world, who.map(addr), &ch(channel), action)
        .err()
        .map(|r| r.code)
}

#[test]
fn every_policy_against_every_kind_of_member() {
    use ErrorCode::{Forbidden as F, Unauthorized as U};
    let who = [
        None,
        Some(STRANGER),
        Some(PLAYER),
        Some(MEMBER),
        Some(ADMIN),
    ];
    let table: [(Policy, [Option<ErrorCode>; 5]); 5] = [
        (Policy::Anyone, [None, None, None, None, None]),
        (Policy::Authenticated, [Some(U), None, None, None, None]),
        (Policy::Player, [Some(U), Some(F), None, None, Some(F)]),
        (
            Policy::Group("guild".into()),
            [Some(U), Some(F), Some(F), None, Some(F)],
        ),
        (Policy::Admin, [Some(U), Some(F), Some(F), Some(F), None]),
    ];
    for (policy, expected) in table {
        let rules = rules(policy.clone());
        for (w, want) in who.iter().zip(expected) {
            let got = outcome(&rules, Ok(&World), *w, "zone:12", Action::Post);
            assert_eq!(got, want, "{policy:?} for {w:?}");
            // Reading is open to anyone under these rules, whoever asks.
            assert_eq!(
                outcome(&rules, Ok(&World), *w, "zone:12", Action::Read),
                None
            );
        }
    }
}

#[test]
fn group_channels_are_for_their_members_only() {
    use ErrorCode::{Forbidden as F, Unauthorized as U};
    let rules = rules(Policy::Authenticated);
    let who = [
        None,
        Some(STRANGER),
        Some(PLAYER),
        Some(MEMBER),
        Some(ADMIN),
    ];
    let expected = [Some(U), Some(F), Some(F), None, Some(F)];
    for action in [Action::Read, Action::Post] {
        for (w, want) in who.iter().zip(expected) {
            let got = outcome(&rules, Ok(&World), *w, "guild:0x61", action);
            assert_eq!(got, want, "{w:?} {action:?}");
        }
        // Another guild's channel is closed to this member.
        let other = outcome(&rules, Ok(&World), Some(MEMBER), "guild:0x62", action);
        assert_eq!(other, Some(F));
    }
    let refusal = rules
        .check(
            Ok(&World),
            Some(addr(PLAYER)),
            &ch("guild:0x61"),
            Action::Post,
        )
        .unwrap_err();
    assert_eq!(
        refusal.message,
        "you may not post to guild:0x61: only members of guild 0x61 may"
    );
    assert_eq!(
        outcome(&rules, Ok(&World), Some(MEMBER), "guild", Action::Read),
        Some(ErrorCode::NotFound),
        "a group channel needs an id"
    );
}

#[test]
fn group_ids_have_one_spelling() {
    let rules = rules(Policy::Anyone);
    assert_eq!(rules.canonical(ch("guild:0x0061")), ch("guild:0x61"));
    assert_eq!(rules.canonical(ch("guild:0x61")), ch("guild:0x61"));
    // Only hex felts have another spelling.
    assert_eq!(rules.canonical(ch("guild:42")), ch("guild:42"));
    assert_eq!(rules.canonical(ch("guild:name")), ch("guild:name"));
    // Not a group kind: left as written.
    assert_eq!(rules.canonical(ch("zone:0x0061")), ch("zone:0x0061"));
}

#[test]
fn channels_without_a_rule_do_not_exist_unless_nothing_is_configured() {
    let rules = rules(Policy::Anyone);
    assert_eq!(
        outcome(&rules, Ok(&World), Some(PLAYER), "market", Action::Read),
        Some(ErrorCode::NotFound)
    );
    let open = ChannelRules::default();
    assert_eq!(
        outcome(
            &open,
            Ok(&World),
            Some(STRANGER),
            "anything:1",
            Action::Post
        ),
        None
    );
    assert_eq!(
        outcome(&open, Ok(&World), None, "anything:1", Action::Read),
        Some(ErrorCode::Unauthorized)
    );
}

#[test]
fn a_full_name_rule_wins_over_its_kind() {
    let mut rules = rules(Policy::Anyone);
    rules.channels.insert(
        "zone:7".into(),
        ChannelRule {
            read: Policy::Admin,
            post: Policy::Admin,
        },
    );
    assert_eq!(
        outcome(&rules, Ok(&World), Some(PLAYER), "zone:7", Action::Read),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        outcome(&rules, Ok(&World), Some(PLAYER), "zone:8", Action::Read),
        None
    );
}

#[test]
fn rules_on_chain_state_fail_closed_while_it_is_unavailable() {
    let syncing = Refusal::new(ErrorCode::Unavailable, "world state is still syncing");
    for policy in [Policy::Player, Policy::Group("guild".into())] {
        let rules = rules(policy.clone());
        let got = rules
            .check::<World>(
                Err(&syncing),
                Some(addr(MEMBER)),
                &ch("zone:1"),
                Action::Post,
            )
            .unwrap_err();
        assert_eq!(got, syncing, "{policy:?}");
    }
    let rules = rules(Policy::Authenticated);
    assert_eq!(
        outcome(
            &rules,
            Err(&syncing),
            Some(STRANGER),
            "zone:1",
            Action::Post
        ),
        None,
        "a rule that needs no on-chain state does not wait for it"
    );
    assert_eq!(
        outcome(
            &rules,
            Err(&syncing),
            Some(MEMBER),
            "guild:0x61",
            Action::Read
        ),
        Some(ErrorCode::Unavailable)
    );
}

#[test]
fn policies_are_written_as_strings() {
    for (text, policy) in [
        ("anyone", Policy::Anyone),
        ("authenticated", Policy::Authenticated),
        ("player", Policy::Player),
        ("group:guild", Policy::Group("guild".into())),
        ("admin", Policy::Admin),
    ] {
        assert_eq!(Policy::try_from(text.to_owned()), Ok(policy.clone()));
        assert_eq!(String::from(policy), text);
    }
    for bad in ["group:", "everyone", ""] {
        assert!(Policy::try_from(bad.to_owned()).is_err(), "{bad}");
    }
}

/// A policy outside channels (who moderates): members of a group kind pass, others do not,
/// and an on-chain policy fails closed while on-chain state cannot be relied on.
#[test]
fn a_policy_passes_who_it_names_and_fails_closed_without_the_world() {
    let r = rules(Policy::Authenticated);
    let council = Policy::Group("guild".into());
    assert!(r.passes(Ok(&World), addr(MEMBER), &council));
    assert!(!r.passes(Ok(&World), addr(PLAYER), &council));
    assert!(r.passes(Ok(&World), addr(ADMIN), &Policy::Admin));
    assert!(!r.passes(Ok(&World), addr(MEMBER), &Policy::Admin));
    let stale = Refusal::new(ErrorCode::Unavailable, "torii is stale");
    assert!(!r.passes(Err::<&World, _>(&stale), addr(MEMBER), &council));
}
