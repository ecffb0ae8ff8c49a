//! Announcements from the projection: which changes fire a rule, with what, and that the
//! same state seen twice, or a first sync, fires nothing.

use super::tests::{a, entity, name_record, rules, structure};
use super::*;
use crate::announce::{AnnouncementRule, Trigger};

fn announced(rules_on: &[Trigger]) -> Projection {
    let mut r = rules();
    r.players.as_mut().unwrap().name = Some("name".into());
    for (i, on) in rules_on.iter().enumerate() {
        r.announcements.push(AnnouncementRule {
            name: format!("rule{i}"),
            model: "s1_eternum-Structure".into(),
            on: *on,
            channels: vec!["world".into()],
            groups_of: Vec::new(),
            group: None,
            text: "{owner:name} now holds {entity_id}".into(),
        });
    }
    Projection::new(r)
}

fn at(mut e: types::Entity, executed_at: u64) -> types::Entity {
    e.executed_at = executed_at;
    e
}

fn announcements(changes: Vec<Change>) -> Vec<Announcement> {
    changes
        .into_iter()
        .filter_map(|c| match c {
            Change::Announce(a) => Some(*a),
            _ => None,
        })
        .collect()
}

#[test]
fn an_owner_change_fires_once_with_both_owners() {
    let mut p = announced(&[Trigger::OwnerChanged, Trigger::Created]);
    let created = announcements(p.apply(&at(entity(7, structure(7, a(1), 10, 10)), 100)));
    assert_eq!(created.len(), 1);
    assert_eq!((created[0].rule, created[0].owner), (1, Some(a(1))));
    // The same state again (a re-delivery) fires nothing.
    assert!(announcements(p.apply(&at(entity(7, structure(7, a(1), 10, 10)), 100))).is_empty());
    let taken = announcements(p.apply(&at(entity(7, structure(7, a(2), 10, 10)), 200)));
    assert_eq!(taken.len(), 1);
    let t = &taken[0];
    assert_eq!(
        (t.rule, t.owner, t.previous_owner),
        (0, Some(a(2)), Some(a(1)))
    );
    assert_eq!((t.executed_at, t.tile), (200, Some(Tile::new(10, 10))));
    assert!(t.record.as_ref().unwrap().contains_key("entity_id"));
}

#[test]
fn players_names_come_from_the_name_field() {
    let mut p = announced(&[]);
    p.apply(&entity(1, name_record(a(5), 0x616c696365)));
    assert_eq!(p.name_of(a(5)).as_deref(), Some("alice"));
    assert_eq!(p.name_of(a(6)), None);
}

#[test]
fn a_resync_announces_what_changed_while_down_and_nothing_else() {
    let mut before = announced(&[Trigger::OwnerChanged, Trigger::Deleted]);
    before.apply(&at(entity(7, structure(7, a(1), 10, 10)), 100));
    before.apply(&at(entity(8, structure(8, a(3), 20, 20)), 100));
    before.apply(&at(entity(9, structure(9, a(4), 30, 30)), 100));
    let mut after = announced(&[Trigger::OwnerChanged, Trigger::Deleted]);
    after.apply(&at(entity(7, structure(7, a(2), 10, 10)), 300));
    after.apply(&at(entity(8, structure(8, a(3), 20, 20)), 100));
    let found = announcements(before.announcements_since(&after));
    let summary: Vec<(usize, Option<Address>, Option<Address>)> = found
        .iter()
        .map(|x| (x.rule, x.owner, x.previous_owner))
        .collect();
    assert_eq!(
        summary,
        vec![(0, Some(a(2)), Some(a(1))), (1, None, Some(a(4)))],
        "7 changed hands, 9 is gone, 8 is as it was"
    );
    assert_eq!(found[0].executed_at, 300);
    assert_eq!(found[1].tile, Some(Tile::new(30, 30)));
}

#[test]
fn a_deletion_is_named_by_the_state_it_ends_live_as_on_resync() {
    let mut p = announced(&[Trigger::Deleted]);
    p.apply(&at(entity(9, structure(9, a(4), 30, 30)), 100));
    let deleted = types::Struct {
        name: "s1_eternum-Structure".into(),
        children: Vec::new(),
    };
    let gone = announcements(p.apply(&at(entity(9, deleted), 300)));
    assert_eq!(gone.len(), 1);
    assert_eq!(
        (gone[0].executed_at, gone[0].previous_owner),
        (100, Some(a(4)))
    );
}
