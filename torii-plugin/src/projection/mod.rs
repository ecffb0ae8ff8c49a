//! The projection: an in-memory view of just the models and fields the world rules read,
//! with indexes that answer the server's questions in constant time (hash lookups) or in
//! time proportional to one player's own holdings, never to the world's size:
//!
//! - is this address a player;
//! - which groups is an address in, who is in a group;
//! - who owns or occupies tile (x, y); which of a player's units are within d tiles of (x, y).
//!
//! [`Projection::apply`] merges one entity update as Torii sends it (full record, record
//! without keys, one member, or a deletion) and returns the [`Change`]s it caused, which the
//! server turns into live permission changes and feed pushes.

#[cfg(test)]
mod announce_tests;
mod derive;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use realtime_core::Address;
use realtime_core::hex::Tile;
use serde_json::{Map, Value as Json};

use crate::proto::types;
use crate::rules::WorldRules;
use crate::value::{Record, flatten};

/// Torii's entity id (`hashed_keys`), 32 bytes.
pub type EntityId = [u8; 32];

/// A group: its kind (the `[groups.NAME]` name) and id (canonical spelling).
pub type GroupKey = (String, String);

/// Something on the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The `[[positions]]` rule's name.
    pub kind: String,
    pub entity: EntityId,
    pub tile: Tile,
    /// The player it belongs to, once known (a join may not have resolved yet).
    pub owner: Option<Address>,
}

/// An on-chain update of a `[feed]` model, normalised for clients.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedUpdate {
    /// Model tag.
    pub model: String,
    pub entity: EntityId,
    /// Key fields of the entity, as known.
    pub keys: Map<String, Json>,
    /// The fields this update set (empty for a deletion).
    pub changed: Map<String, Json>,
    pub deleted: bool,
    /// Where the entity stands after the update, and before it (for viewport routing).
    pub tile: Option<Tile>,
    pub previous_tile: Option<Tile>,
    /// The player it belongs to, if a position rule says so.
    pub owner: Option<Address>,
    /// The player it belonged to before this update, when that changed.
    pub previous_owner: Option<Address>,
}

/// An on-chain change an `[[announcements]]` rule asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// The rule's index in `WorldRules::announcements`.
    pub rule: usize,
    pub entity: EntityId,
    /// When the transaction that made the change ran (unix seconds, from Torii): with the
    /// rule and the entity, it names the change the same way on every instance.
    pub executed_at: u64,
    /// The model's record after the change (before it, for a deletion).
    pub record: Option<Record>,
    pub owner: Option<Address>,
    pub previous_owner: Option<Address>,
    pub tile: Option<Tile>,
}

/// What an update changed, for the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    PlayerAdded(Address),
    PlayerRemoved(Address),
    Joined {
        group: GroupKey,
        member: Address,
    },
    Left {
        group: GroupKey,
        member: Address,
    },
    Feed(Box<FeedUpdate>),
    /// An `[[announcements]]` rule fired.
    Announce(Box<Announcement>),
    /// The projection was rebuilt after a reconnect: feed updates during the outage were not
    /// seen, so watchers should refetch.
    Resynced,
}

#[derive(Debug, Default)]
struct Entity {
    records: HashMap<String, Record>,
    keys: BTreeMap<String, crate::value::Scalar>,
    /// `executed_at` of the last update seen.
    executed_at: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Projection {
    rules: WorldRules,
    needed: BTreeMap<String, Option<BTreeSet<String>>>,
    entities: HashMap<EntityId, Entity>,
    idx: derive::Indexes,
}

impl Projection {
    pub fn new(rules: WorldRules) -> Self {
        let needed = rules.needed_fields();
        Self {
            rules,
            needed,
            entities: HashMap::new(),
            idx: derive::Indexes::default(),
        }
    }

    /// The rules this projection follows.
    pub fn rules(&self) -> &WorldRules {
        &self.rules
    }

    /// Model tags to follow.
    pub fn models(&self) -> Vec<String> {
        self.needed.keys().cloned().collect()
    }

    /// Entities held.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    /// Forgets everything (before a full resync).
    pub fn clear(&mut self) {
        self.entities.clear();
        self.idx = derive::Indexes::default();
    }

    /// Merges one entity update and returns what it changed.
    pub fn apply(&mut self, entity: &types::Entity) -> Vec<Change> {
        let id: EntityId = pad32(&entity.hashed_keys);
        let mut changes = Vec::new();
        for model in &entity.models {
            if !self.needed.contains_key(&model.name) {
                continue;
            }
            self.apply_model(id, model, entity.executed_at, &mut changes);
        }
        changes
    }

    fn apply_model(
        &mut self,
        id: EntityId,
        model: &types::Struct,
        executed_at: u64,
        changes: &mut Vec<Change>,
    ) {
        let tag = model.name.clone();
        let deleted = model.children.is_empty();
        let wanted = self.needed.get(&tag).cloned().flatten();
        let mut changed = Map::new();
        let ent = self.entities.entry(id).or_default();
        // A deletion is named by the state it ends (resync finds it the same way).
        let executed_before = ent.executed_at;
        ent.executed_at = ent.executed_at.max(executed_at);
        let announced = self.rules.announcements.iter().any(|a| a.model == tag);
        let before_record = ent.records.get(&tag).filter(|_| announced).cloned();
        let existed = ent.records.contains_key(&tag);
        if deleted {
            ent.records.remove(&tag);
        } else {
            let record = ent.records.entry(tag.clone()).or_default();
            // An update carries whole members: drop what a member held before (an enum's
            // previous variant payload, array elements past the new length).
            for m in &model.children {
                let prefix = format!("{}.", m.name);
                record.retain(|path, _| path != &m.name && !path.starts_with(&prefix));
            }
            for (path, value, key) in flatten(model) {
                if key {
                    ent.keys.insert(path.clone(), value.clone());
                }
                changed.insert(path.clone(), value.to_json());
                if wanted.as_ref().is_none_or(|w| w.contains(&path) || key) {
                    record.insert(path, value);
                }
            }
        }
        let record = ent.records.get(&tag).cloned();
        let keys: Map<String, Json> = ent
            .keys
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        if ent.records.is_empty() {
            self.entities.remove(&id);
        }
        let before_tile = self.idx.tile_of_model(&self.rules, &tag, id);
        let before_owner = self.idx.owner_of_model(&self.rules, &tag, id);
        derive::rederive(
            &self.rules,
            &mut self.idx,
            &tag,
            id,
            record.as_ref(),
            changes,
        );
        if announced {
            let after_owner = self.idx.owner_of_model(&self.rules, &tag, id);
            let after_tile = self.idx.tile_of_model(&self.rules, &tag, id);
            let now = Facts {
                existed,
                exists: record.is_some(),
                owner: after_owner,
                previous_owner: before_owner,
            };
            for (rule, a) in self.rules.announcements.iter().enumerate() {
                if a.model != tag || !now.fires(a.on) {
                    continue;
                }
                let deletion = a.on == crate::announce::Trigger::Deleted;
                changes.push(Change::Announce(Box::new(Announcement {
                    rule,
                    entity: id,
                    executed_at: if deletion {
                        executed_before
                    } else {
                        executed_at
                    },
                    record: if deletion {
                        before_record.clone()
                    } else {
                        record.clone()
                    },
                    owner: after_owner,
                    previous_owner: before_owner,
                    tile: if deletion { before_tile } else { after_tile },
                })));
            }
        }
        if self.rules.feed.models.contains(&tag) {
            let after_tile = self.idx.tile_of_model(&self.rules, &tag, id);
            let after_owner = self.idx.owner_of_model(&self.rules, &tag, id);
            // A deleted entity is reported where it was; `previous_tile` only on a move.
            let tile = if deleted { before_tile } else { after_tile };
            let moved = !deleted && before_tile.is_some() && before_tile != after_tile;
            changes.push(Change::Feed(Box::new(FeedUpdate {
                model: tag,
                entity: id,
                keys,
                changed,
                deleted,
                tile,
                previous_tile: before_tile.filter(|_| moved),
                // A deleted entity is reported to the owner it had.
                owner: after_owner.or(before_owner),
                previous_owner: before_owner.filter(|b| Some(*b) != after_owner),
            })));
        }
    }

    /// The announcements for what changed from `self` to `other` in announced models:
    /// what happened while the stream was down, found when a resync replaces the projection.
    pub fn announcements_since(&self, other: &Projection) -> Vec<Change> {
        let mut out = Vec::new();
        for (rule, a) in self.rules.announcements.iter().enumerate() {
            let ids: BTreeSet<EntityId> = self
                .entities
                .iter()
                .chain(other.entities.iter())
                .filter(|(_, e)| e.records.contains_key(&a.model))
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                let before = self.entities.get(&id).and_then(|e| e.records.get(&a.model));
                let after = other
                    .entities
                    .get(&id)
                    .and_then(|e| e.records.get(&a.model));
                let facts = Facts {
                    existed: before.is_some(),
                    exists: after.is_some(),
                    owner: other.idx.owner_of_model(&other.rules, &a.model, id),
                    previous_owner: self.idx.owner_of_model(&self.rules, &a.model, id),
                };
                if !facts.fires(a.on) {
                    continue;
                }
                let (source, record) = if after.is_some() {
                    (other, after)
                } else {
                    (self, before)
                };
                out.push(Change::Announce(Box::new(Announcement {
                    rule,
                    entity: id,
                    executed_at: source.entities.get(&id).map_or(0, |e| e.executed_at),
                    record: record.cloned(),
                    owner: facts.owner,
                    previous_owner: facts.previous_owner,
                    tile: source.idx.tile_of_model(&source.rules, &a.model, id),
                })));
            }
        }
        out
    }

    /// The name the `[players] name` field gives `address`.
    pub fn name_of(&self, address: Address) -> Option<String> {
        self.idx.names.get(&address).cloned()
    }

    /// What differs from `self` to `other` in players and group memberships, as changes
    /// (used when a resync replaces the projection).
    pub fn diff(&self, other: &Projection) -> Vec<Change> {
        let mut out = Vec::new();
        for a in self.idx.player_count.keys() {
            if !other.idx.player_count.contains_key(a) {
                out.push(Change::PlayerRemoved(*a));
            }
        }
        for a in other.idx.player_count.keys() {
            if !self.idx.player_count.contains_key(a) {
                out.push(Change::PlayerAdded(*a));
            }
        }
        let pairs = |p: &Projection| -> BTreeSet<(GroupKey, Address)> {
            p.idx
                .groups_of
                .iter()
                .flat_map(|(a, g)| g.keys().map(move |k| (k.clone(), *a)))
                .collect()
        };
        let (before, after) = (pairs(self), pairs(other));
        for (group, member) in before.difference(&after) {
            out.push(Change::Left {
                group: group.clone(),
                member: *member,
            });
        }
        for (group, member) in after.difference(&before) {
            out.push(Change::Joined {
                group: group.clone(),
                member: *member,
            });
        }
        out
    }

    /// Whether the `[players]` rule recognises `address`.
    pub fn is_player(&self, address: Address) -> bool {
        self.idx.player_count.contains_key(&address)
    }

    /// Number of players.
    pub fn player_count(&self) -> usize {
        self.idx.player_count.len()
    }

    /// Groups `address` belongs to.
    pub fn groups_of(&self, address: Address) -> Vec<GroupKey> {
        self.idx
            .groups_of
            .get(&address)
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `address` is in group `(kind, id)`.
    pub fn is_member(&self, kind: &str, id: &str, address: Address) -> bool {
        self.idx
            .groups_of
            .get(&address)
            .is_some_and(|g| g.contains_key(&(kind.to_owned(), id.to_owned())))
    }

    /// Whether `address` is in any group of `kind`.
    pub fn in_any_group(&self, kind: &str, address: Address) -> bool {
        self.idx
            .groups_of
            .get(&address)
            .is_some_and(|g| g.keys().any(|(k, _)| k == kind))
    }

    /// Members of group `(kind, id)`; only tests ask it so far.
    #[cfg(test)]
    pub(crate) fn members(&self, kind: &str, id: &str) -> Vec<Address> {
        self.idx
            .members_of
            .get(&(kind.to_owned(), id.to_owned()))
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// What stands on `tile`, with its owner.
    pub fn at(&self, tile: Tile) -> Vec<Placement> {
        self.idx
            .by_tile
            .get(&tile)
            .into_iter()
            .flatten()
            .filter_map(|slot| self.idx.placement(&self.rules, slot))
            .collect()
    }

    /// Everything `owner` has on the map.
    pub fn owned_by(&self, owner: Address) -> Vec<Placement> {
        self.idx
            .by_owner
            .get(&owner)
            .into_iter()
            .flatten()
            .filter_map(|slot| self.idx.placement(&self.rules, slot))
            .collect()
    }

    /// `owner`'s placements of `kind` (or of any kind) within `distance` tiles of `tile`.
    pub fn near(
        &self,
        owner: Address,
        kind: Option<&str>,
        tile: Tile,
        distance: u64,
    ) -> Vec<Placement> {
        self.owned_by(owner)
            .into_iter()
            .filter(|p| kind.is_none_or(|k| p.kind == k) && p.tile.distance(tile) <= distance)
            .collect()
    }
}

/// The projection answers the channel rules' questions about on-chain state.
impl realtime_core::policy::WorldView for Projection {
    fn is_player(&self, who: Address) -> bool {
        Projection::is_player(self, who)
    }
    fn is_member(&self, kind: &str, id: &str, who: Address) -> bool {
        Projection::is_member(self, kind, id, who)
    }
    fn in_any_group(&self, kind: &str, who: Address) -> bool {
        Projection::in_any_group(self, kind, who)
    }
    fn groups_of(&self, who: Address) -> Vec<(String, String)> {
        Projection::groups_of(self, who)
    }
    fn owns_at(&self, tile: Tile, who: Address) -> bool {
        self.at(tile).iter().any(|p| p.owner == Some(who))
    }
    fn has_near(&self, tile: Tile, distance: u64, who: Address) -> bool {
        !self.near(who, None, tile, distance).is_empty()
    }
}

fn pad32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = bytes.len().min(32);
    out[32 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    out
}

/// Before and after one change of a model on one entity.
struct Facts {
    existed: bool,
    exists: bool,
    owner: Option<Address>,
    previous_owner: Option<Address>,
}

impl Facts {
    fn fires(&self, on: crate::announce::Trigger) -> bool {
        use crate::announce::Trigger;
        match on {
            Trigger::Created => !self.existed && self.exists,
            Trigger::Deleted => self.existed && !self.exists,
            Trigger::OwnerChanged => {
                self.existed
                    && self.exists
                    && self.owner.is_some()
                    && self.previous_owner.is_some()
                    && self.owner != self.previous_owner
            }
        }
    }
}
