//! Derived indexes and how one record change updates them. Counts (rather than sets) make
//! the indexes correct when several records say the same thing, e.g. two membership
//! records for one address and group.

use std::collections::{BTreeSet, HashMap};

use realtime_core::Address;
use realtime_core::hex::Tile;

use super::{Change, EntityId, GroupKey, Placement};
use crate::rules::{Conditions, PositionRule, WorldRules};
use crate::value::Record;

/// A position rule's index and an entity.
pub(super) type Slot = (usize, EntityId);

/// Who a placement belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnerRef {
    Direct(Option<Address>),
    /// Join id and the key value to look up.
    Via(String, String),
}

#[derive(Debug, Clone)]
pub(super) struct Placed {
    tile: Tile,
    owner_ref: OwnerRef,
    owner: Option<Address>,
}

#[derive(Debug, Default)]
pub(super) struct Indexes {
    players: HashMap<EntityId, Address>,
    /// Players' names, from the `[players] name` field.
    pub names: HashMap<Address, String>,
    pub player_count: HashMap<Address, u32>,
    memberships: HashMap<(String, EntityId), (Address, String)>,
    pub groups_of: HashMap<Address, HashMap<GroupKey, u32>>,
    pub members_of: HashMap<GroupKey, HashMap<Address, u32>>,
    placed: HashMap<Slot, Placed>,
    pub by_tile: HashMap<Tile, BTreeSet<Slot>>,
    pub by_owner: HashMap<Address, BTreeSet<Slot>>,
    /// (join id, entity) → (key value, owner) of a joined model's record.
    join_rows: HashMap<(String, EntityId), (String, Option<Address>)>,
    /// (join id, key value) → owner.
    join_owner: HashMap<(String, String), Address>,
    /// (join id, key value) → placements whose owner goes through it.
    dependents: HashMap<(String, String), BTreeSet<Slot>>,
}

fn join_id(rule: &PositionRule) -> Option<String> {
    rule.owner_via
        .as_ref()
        .map(|j| format!("{}|{}|{}", j.model, j.key, j.owner))
}

fn holds(when: &Conditions, r: &Record) -> bool {
    when.nonzero
        .iter()
        .all(|f| r.get(f).is_some_and(|v| !v.is_zero()))
        && when
            .equals
            .iter()
            .all(|(f, want)| r.get(f).is_some_and(|v| want.matches(v)))
}

fn inc<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, k: K) -> bool {
    let n = map.entry(k).or_insert(0);
    *n += 1;
    *n == 1
}

fn dec<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, k: &K) -> bool {
    match map.get_mut(k) {
        Some(n) if *n > 1 => {
            *n -= 1;
            false
        }
        Some(_) => {
            map.remove(k);
            true
        }
        None => false,
    }
}

impl Indexes {
    pub fn placement(&self, rules: &WorldRules, slot: &Slot) -> Option<Placement> {
        let p = self.placed.get(slot)?;
        Some(Placement {
            kind: rules.positions.get(slot.0)?.name.clone(),
            entity: slot.1,
            tile: p.tile,
            owner: p.owner,
        })
    }

    pub fn tile_of_model(&self, rules: &WorldRules, tag: &str, id: EntityId) -> Option<Tile> {
        rules
            .positions
            .iter()
            .enumerate()
            .filter(|(_, r)| r.model == tag)
            .find_map(|(i, _)| self.placed.get(&(i, id)).map(|p| p.tile))
    }

    pub fn owner_of_model(&self, rules: &WorldRules, tag: &str, id: EntityId) -> Option<Address> {
        rules
            .positions
            .iter()
            .enumerate()
            .filter(|(_, r)| r.model == tag)
            .find_map(|(i, _)| self.placed.get(&(i, id)).and_then(|p| p.owner))
    }

    fn set_owner(&mut self, slot: Slot, owner: Option<Address>) {
        let Some(p) = self.placed.get_mut(&slot) else {
            return;
        };
        if p.owner == owner {
            return;
        }
        if let Some(old) = p.owner
            && let Some(set) = self.by_owner.get_mut(&old)
        {
            set.remove(&slot);
            if set.is_empty() {
                self.by_owner.remove(&old);
            }
        }
        p.owner = owner;
        if let Some(new) = owner {
            self.by_owner.entry(new).or_default().insert(slot);
        }
    }

    fn unplace(&mut self, slot: Slot) {
        self.set_owner(slot, None);
        let Some(p) = self.placed.remove(&slot) else {
            return;
        };
        if let Some(set) = self.by_tile.get_mut(&p.tile) {
            set.remove(&slot);
            if set.is_empty() {
                self.by_tile.remove(&p.tile);
            }
        }
        if let OwnerRef::Via(join, key) = p.owner_ref
            && let Some(set) = self.dependents.get_mut(&(join.clone(), key.clone()))
        {
            set.remove(&slot);
            if set.is_empty() {
                self.dependents.remove(&(join, key));
            }
        }
    }

    fn place(&mut self, slot: Slot, tile: Tile, owner_ref: OwnerRef) {
        let owner = match &owner_ref {
            OwnerRef::Direct(a) => *a,
            OwnerRef::Via(join, key) => {
                self.dependents
                    .entry((join.clone(), key.clone()))
                    .or_default()
                    .insert(slot);
                self.join_owner.get(&(join.clone(), key.clone())).copied()
            }
        };
        self.by_tile.entry(tile).or_default().insert(slot);
        self.placed.insert(
            slot,
            Placed {
                tile,
                owner_ref,
                owner: None,
            },
        );
        self.set_owner(slot, owner);
    }

    /// Re-resolves the owners of placements that join through `(join, key)`.
    fn refresh_dependents(&mut self, join: &str, key: &str) {
        let k = (join.to_owned(), key.to_owned());
        let owner = self.join_owner.get(&k).copied();
        let slots: Vec<Slot> = self
            .dependents
            .get(&k)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for slot in slots {
            self.set_owner(slot, owner);
        }
    }
}

/// Updates every index that reads model `tag` after entity `id`'s record became `record`
/// (`None`: deleted).
pub(super) fn rederive(
    rules: &WorldRules,
    idx: &mut Indexes,
    tag: &str,
    id: EntityId,
    record: Option<&Record>,
    changes: &mut Vec<Change>,
) {
    if let Some(p) = rules.players.as_ref().filter(|p| p.model == tag) {
        let new = record
            .filter(|r| holds(&p.when, r))
            .and_then(|r| r.get(&p.address))
            .and_then(|v| v.as_address());
        let old = idx.players.get(&id).copied();
        if let (Some(a), Some(field)) = (new, &p.name) {
            match record.and_then(|r| r.get(field)) {
                Some(v) if !v.is_zero() => {
                    idx.names.insert(a, crate::announce::short_string(v));
                }
                _ => {
                    idx.names.remove(&a);
                }
            }
        }
        if new != old {
            if let Some(a) = old.filter(|a| Some(*a) != new) {
                idx.names.remove(&a);
            }
            if let Some(a) = old {
                idx.players.remove(&id);
                if dec(&mut idx.player_count, &a) {
                    changes.push(Change::PlayerRemoved(a));
                }
            }
            if let Some(a) = new {
                idx.players.insert(id, a);
                if inc(&mut idx.player_count, a) {
                    changes.push(Change::PlayerAdded(a));
                }
            }
        }
    }

    for (kind, g) in rules.groups.iter().filter(|(_, g)| g.model == tag) {
        let new = record.filter(|r| holds(&g.when, r)).and_then(|r| {
            let member = r.get(&g.member)?.as_address()?;
            let group = r.get(&g.group)?;
            (!group.is_zero()).then(|| (member, group.canonical()))
        });
        let slot = (kind.clone(), id);
        let old = idx.memberships.get(&slot).cloned();
        if new == old {
            continue;
        }
        if let Some((member, gid)) = old {
            idx.memberships.remove(&slot);
            let key = (kind.clone(), gid);
            if let Some(m) = idx.members_of.get_mut(&key) {
                dec(m, &member);
                if m.is_empty() {
                    idx.members_of.remove(&key);
                }
            }
            let left = idx.groups_of.get_mut(&member).is_some_and(|g| dec(g, &key));
            if idx.groups_of.get(&member).is_some_and(HashMap::is_empty) {
                idx.groups_of.remove(&member);
            }
            if left {
                changes.push(Change::Left { group: key, member });
            }
        }
        if let Some((member, gid)) = new {
            idx.memberships.insert(slot, (member, gid.clone()));
            let key = (kind.clone(), gid);
            inc(idx.members_of.entry(key.clone()).or_default(), member);
            if inc(idx.groups_of.entry(member).or_default(), key.clone()) {
                changes.push(Change::Joined { group: key, member });
            }
        }
    }

    // Joined models: a structure's owner changing moves its units to the new owner.
    let mut seen = BTreeSet::new();
    for rule in &rules.positions {
        let (Some(via), Some(join)) = (&rule.owner_via, join_id(rule)) else {
            continue;
        };
        if via.model != tag || !seen.insert(join.clone()) {
            continue;
        }
        let new = record.and_then(|r| {
            let key = r.get(&via.key)?.canonical();
            Some((key, r.get(&via.owner).and_then(|v| v.as_address())))
        });
        let row = (join.clone(), id);
        let old = idx.join_rows.get(&row).cloned();
        if new == old {
            continue;
        }
        if let Some((key, _)) = &old {
            idx.join_rows.remove(&row);
            idx.join_owner.remove(&(join.clone(), key.clone()));
            idx.refresh_dependents(&join, key);
        }
        if let Some((key, owner)) = new {
            idx.join_rows.insert(row, (key.clone(), owner));
            if let Some(owner) = owner {
                idx.join_owner.insert((join.clone(), key.clone()), owner);
            }
            idx.refresh_dependents(&join, &key);
        }
    }

    for (i, rule) in rules
        .positions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.model == tag)
    {
        let slot = (i, id);
        let new = record.and_then(|r| {
            let tile = Tile::new(r.get(&rule.x)?.as_u32()?, r.get(&rule.y)?.as_u32()?);
            let owner = r.get(&rule.owner)?;
            let owner_ref = match join_id(rule) {
                Some(join) => OwnerRef::Via(join, owner.canonical()),
                None => OwnerRef::Direct(owner.as_address()),
            };
            Some((tile, owner_ref))
        });
        let old = idx.placed.get(&slot).map(|p| (p.tile, p.owner_ref.clone()));
        if new == old {
            continue;
        }
        idx.unplace(slot);
        if let Some((tile, owner_ref)) = new {
            idx.place(slot, tile, owner_ref);
        }
    }
}
