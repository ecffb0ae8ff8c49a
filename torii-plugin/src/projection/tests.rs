//! The projection against an Eternum-shaped world, with updates shaped as Torii sends them.

use realtime_core::Address;
use realtime_core::hex::Tile;
use serde::Deserialize;

use super::*;
use crate::proto::types::{Entity, Member, Struct};
use crate::rules::{FeedRule, GroupRule, PlayersRule, PositionRule};
use crate::value::build::*;

#[derive(Deserialize)]
struct Rules {
    players: PlayersRule,
    groups: std::collections::BTreeMap<String, GroupRule>,
    positions: Vec<PositionRule>,
    feed: FeedRule,
    #[serde(default)]
    announcements: Vec<crate::announce::AnnouncementRule>,
}

pub(super) fn rules() -> WorldRules {
    let r: Rules = toml::from_str(
        r#"
        [players]
        model = "s1_eternum-AddressName"
        address = "address"
        nonzero = ["name"]

        [groups.guild]
        model = "s1_eternum-GuildMember"
        member = "member"
        group = "guild_id"

        [[positions]]
        name = "structure"
        model = "s1_eternum-Structure"
        x = "base.coord_x"
        y = "base.coord_y"
        owner = "owner"

        [[positions]]
        name = "explorer"
        model = "s1_eternum-ExplorerTroops"
        x = "coord.x"
        y = "coord.y"
        owner = "owner"
        owner_via = { model = "s1_eternum-Structure", key = "entity_id", owner = "owner" }

        [feed]
        models = ["s1_eternum-ExplorerTroops"]
        "#,
    )
    .unwrap();
    WorldRules {
        players: Some(r.players),
        groups: r.groups,
        positions: r.positions,
        feed: r.feed,
        announcements: r.announcements,
    }
}

pub(super) fn a(n: u64) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

pub(super) fn entity(id: u64, model: Struct) -> Entity {
    Entity {
        hashed_keys: felt_of(id).to_vec(),
        models: vec![model],
        ..Default::default()
    }
}

pub(super) fn name_record(addr: Address, name: u64) -> Struct {
    model(
        "s1_eternum-AddressName",
        vec![
            member("address", address(addr), true),
            member("name", felt(felt_of(name)), false),
        ],
    )
}

fn guild_member(addr: Address, guild: Address) -> Struct {
    model(
        "s1_eternum-GuildMember",
        vec![
            member("member", address(addr), true),
            member("guild_id", address(guild), false),
        ],
    )
}

pub(super) fn structure(id: u32, owner: Address, x: u32, y: u32) -> Struct {
    model(
        "s1_eternum-Structure",
        vec![
            member("entity_id", u32(id), true),
            member("owner", address(owner), false),
            member(
                "base",
                nested(
                    "StructureBase",
                    vec![
                        member("category", u8(1), false),
                        member("coord_x", u32(x), false),
                        member("coord_y", u32(y), false),
                    ],
                ),
                false,
            ),
        ],
    )
}

fn explorer(id: u32, owner_structure: u32, x: u32, y: u32) -> Struct {
    model(
        "s1_eternum-ExplorerTroops",
        vec![
            member("explorer_id", u32(id), true),
            member("owner", u32(owner_structure), false),
            member(
                "coord",
                nested(
                    "Coord",
                    vec![member("x", u32(x), false), member("y", u32(y), false)],
                ),
                false,
            ),
        ],
    )
}

fn deletion(tag: &str) -> Struct {
    model(tag, vec![])
}

/// An update of one member only, as Torii sends for a single-field write.
fn one_member(tag: &str, m: Member) -> Struct {
    model(tag, vec![m])
}

#[test]
fn players_follow_the_condition_and_deletions() {
    let mut p = Projection::new(rules());
    assert_eq!(p.apply(&entity(1, name_record(a(0xa), 0))), vec![]);
    assert!(!p.is_player(a(0xa)), "name 0 is not a player");
    let changes = p.apply(&entity(
        1,
        one_member(
            "s1_eternum-AddressName",
            member("name", felt(felt_of(42)), false),
        ),
    ));
    assert_eq!(
        changes,
        vec![Change::PlayerAdded(a(0xa))],
        "a partial update completes the record"
    );
    assert!(p.is_player(a(0xa)));
    assert_eq!(
        p.apply(&entity(1, deletion("s1_eternum-AddressName"))),
        vec![Change::PlayerRemoved(a(0xa))]
    );
    assert!(!p.is_player(a(0xa)));
    assert_eq!(p.entity_count(), 0, "nothing is kept for a deleted record");
}

#[test]
fn group_membership_both_ways_and_moves() {
    let mut p = Projection::new(rules());
    let g1 = a(0x61);
    let g2 = a(0x62);
    p.apply(&entity(10, guild_member(a(1), g1)));
    p.apply(&entity(11, guild_member(a(2), g1)));
    assert!(p.is_member("guild", "0x61", a(1)));
    let mut members = p.members("guild", "0x61");
    members.sort();
    assert_eq!(members, vec![a(1), a(2)]);
    // Address 1 moves to another guild: left the first, joined the second.
    let changes = p.apply(&entity(
        10,
        one_member(
            "s1_eternum-GuildMember",
            member("guild_id", address(g2), false),
        ),
    ));
    assert_eq!(
        changes,
        vec![
            Change::Left {
                group: ("guild".into(), "0x61".into()),
                member: a(1)
            },
            Change::Joined {
                group: ("guild".into(), "0x62".into()),
                member: a(1)
            },
        ]
    );
    assert_eq!(
        p.groups_of(a(1)),
        vec![("guild".to_string(), "0x62".to_string())]
    );
    assert_eq!(p.members("guild", "0x61"), vec![a(2)]);
    assert!(p.in_any_group("guild", a(2)));
    // Leaving: the record is deleted.
    p.apply(&entity(11, deletion("s1_eternum-GuildMember")));
    assert!(p.members("guild", "0x61").is_empty());
    assert!(!p.in_any_group("guild", a(2)));
}

#[test]
fn tiles_owners_and_units_through_a_join() {
    let mut p = Projection::new(rules());
    p.apply(&entity(100, structure(7, a(0xa), 50, 50)));
    let at = p.at(Tile::new(50, 50));
    assert_eq!(at.len(), 1);
    assert_eq!(
        (at[0].kind.as_str(), at[0].owner),
        ("structure", Some(a(0xa)))
    );
    // A unit owned by structure 7 belongs to the structure's owner.
    let changes = p.apply(&entity(200, explorer(1, 7, 52, 50)));
    let Change::Feed(update) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(update.tile, Some(Tile::new(52, 50)));
    assert_eq!(update.owner, Some(a(0xa)));
    assert_eq!(update.keys["explorer_id"], serde_json::json!(1));
    assert_eq!(
        p.near(a(0xa), Some("explorer"), Tile::new(50, 50), 2).len(),
        1
    );
    assert!(
        p.near(a(0xa), Some("explorer"), Tile::new(50, 50), 1)
            .is_empty()
    );
    // The unit moves: one member update of its coord.
    let changes = p.apply(&entity(
        200,
        one_member(
            "s1_eternum-ExplorerTroops",
            member(
                "coord",
                nested(
                    "Coord",
                    vec![member("x", u32(60), false), member("y", u32(61), false)],
                ),
                false,
            ),
        ),
    ));
    let Change::Feed(update) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(
        (update.previous_tile, update.tile),
        (Some(Tile::new(52, 50)), Some(Tile::new(60, 61)))
    );
    assert_eq!(update.changed["coord.x"], serde_json::json!(60));
    assert!(p.at(Tile::new(52, 50)).is_empty());
    assert_eq!(p.at(Tile::new(60, 61))[0].owner, Some(a(0xa)));
    // The structure changes hands: its units follow.
    p.apply(&entity(
        100,
        one_member(
            "s1_eternum-Structure",
            member("owner", address(a(0xb)), false),
        ),
    ));
    assert!(p.owned_by(a(0xa)).is_empty());
    let kinds: Vec<String> = p.owned_by(a(0xb)).into_iter().map(|x| x.kind).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    // A unit whose structure is unknown has no owner yet, and gets one when it arrives.
    p.apply(&entity(201, explorer(2, 8, 1, 1)));
    assert_eq!(p.at(Tile::new(1, 1))[0].owner, None);
    p.apply(&entity(101, structure(8, a(0xc), 0, 0)));
    assert_eq!(p.at(Tile::new(1, 1))[0].owner, Some(a(0xc)));
    // Deleting the unit removes it everywhere.
    let changes = p.apply(&entity(201, deletion("s1_eternum-ExplorerTroops")));
    let Change::Feed(update) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert!(update.deleted);
    assert_eq!(
        (update.tile, update.previous_tile),
        (Some(Tile::new(1, 1)), None),
        "where it was; previous_tile is for moves only"
    );
    assert!(p.at(Tile::new(1, 1)).is_empty());
    assert_eq!(p.owned_by(a(0xc)).len(), 1);
}

#[test]
fn models_not_in_the_rules_are_ignored_and_fields_trimmed() {
    let mut p = Projection::new(rules());
    let other = model("s1_eternum-Resource", vec![member("amount", u32(5), false)]);
    assert!(p.apply(&entity(1, other)).is_empty());
    assert_eq!(p.entity_count(), 0);
    let mut m = structure(7, a(1), 5, 5);
    m.children.push(member(
        "metadata",
        nested("M", vec![member("realm_id", u32(3), false)]),
        false,
    ));
    p.apply(&entity(100, m));
    let kept = &p.entities[&felt_of(100)].records["s1_eternum-Structure"];
    assert!(kept.contains_key("base.coord_x"));
    assert!(!kept.contains_key("metadata.realm_id"), "{kept:?}");
    assert!(!kept.contains_key("base.category"), "{kept:?}");
}

#[test]
fn a_member_update_replaces_the_whole_member() {
    use crate::proto::types::{Enum, EnumOption, Ty, ty::TyType};
    let rules: WorldRules = {
        let mut r = rules();
        r.players = Some(PlayersRule {
            model: "s1_eternum-Status".into(),
            address: "who".into(),
            name: None,
            when: crate::rules::Conditions {
                nonzero: vec!["state.Alive.hp".into()],
                ..Default::default()
            },
        });
        r
    };
    let status = |variant: u32, hp: Option<u32>| {
        let options = vec![
            EnumOption {
                name: "Alive".into(),
                ty: Some(nested("A", vec![member("hp", u32(hp.unwrap_or(0)), false)])),
            },
            EnumOption {
                name: "Dead".into(),
                ty: Some(nested("D", vec![])),
            },
        ];
        let e = Ty {
            ty_type: Some(TyType::Enum(Enum {
                name: "S".into(),
                option: variant,
                options,
            })),
        };
        model(
            "s1_eternum-Status",
            vec![
                member("who", address(a(5)), true),
                member("state", e, false),
            ],
        )
    };
    let mut p = Projection::new(rules);
    p.apply(&entity(1, status(0, Some(10))));
    assert!(p.is_player(a(5)));
    // The enum switches variant: the old variant's payload must not linger.
    let changes = p.apply(&entity(1, status(1, None)));
    assert_eq!(changes, vec![Change::PlayerRemoved(a(5))]);
}

#[test]
fn feed_updates_name_the_owner_an_entity_leaves() {
    let mut p = Projection::new(rules());
    p.apply(&entity(100, structure(7, a(0xa), 50, 50)));
    p.apply(&entity(101, structure(8, a(0xb), 60, 60)));
    p.apply(&entity(200, explorer(1, 7, 52, 50)));
    // The explorer is reassigned to structure 8: its new owner and the one it left both learn.
    let changes = p.apply(&entity(
        200,
        one_member("s1_eternum-ExplorerTroops", member("owner", u32(8), false)),
    ));
    let Change::Feed(u) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!((u.owner, u.previous_owner), (Some(a(0xb)), Some(a(0xa))));
    // Deleted: reported to the owner it had.
    let changes = p.apply(&entity(200, deletion("s1_eternum-ExplorerTroops")));
    let Change::Feed(u) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(u.owner, Some(a(0xb)));
    assert!(u.deleted);
}
