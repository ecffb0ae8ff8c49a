//! Notes pinned to map tiles: who may pin one where (the world's `[notes]` rule, answered
//! from on-chain positions), and who may see one (its visibility).
//!
//! A note's visibility is fixed when it is created: editing changes its text and expiry,
//! never its audience. So everyone who saw a note also sees its edits and its removal, and
//! an edit can never leave a stale copy with a viewer who may no longer see it. A group
//! note is seen by the group's members (as on-chain state says now) and its author.

use serde::{Deserialize, Serialize};

use crate::hex::Tile;
use crate::policy::{Refusal, WorldView};
use crate::{Address, ErrorCode};

/// Who sees a note.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Everyone, signed in or not.
    Public,
    /// Members of one group (`kind` as in `[groups.KIND]`, `id` canonical) and the author.
    Group { kind: String, id: String },
    /// The author only.
    Private,
}

impl Visibility {
    /// The wire name: `public`, `group` or `private`.
    pub fn name(&self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Group { .. } => "group",
            Visibility::Private => "private",
        }
    }

    /// `KIND:ID` of a group note.
    pub fn group_key(&self) -> Option<String> {
        match self {
            Visibility::Group { kind, id } => Some(format!("{kind}:{id}")),
            _ => None,
        }
    }

    /// Whether `viewer` (`None`: not signed in) sees a note of `author` with this visibility.
    /// `is_member` answers group membership from on-chain state.
    pub fn admits(
        &self,
        author: Address,
        viewer: Option<Address>,
        is_member: impl Fn(&str, &str, Address) -> bool,
    ) -> bool {
        match (self, viewer) {
            (Visibility::Public, _) => true,
            (_, None) => false,
            (_, Some(v)) if v == author => true,
            (Visibility::Private, _) => false,
            (Visibility::Group { kind, id }, Some(v)) => is_member(kind, id, v),
        }
    }
}

/// Where an address may pin a note (`[notes] pin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinRule {
    /// Any signed-in address, anywhere.
    Authenticated,
    /// Any player (`[players]`), anywhere.
    Player,
    /// Only on a tile where the address owns something (a structure, a unit).
    OwnsTile,
    /// Only within `distance` tiles of something the address owns.
    Near,
}

/// `[notes]`: whether notes exist, where they may be pinned, and their sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoteRule {
    pub enabled: bool,
    pub pin: PinRule,
    /// For `pin = "near"`: how many tiles away from one's own things.
    pub distance: u64,
    /// Longest title, in characters.
    pub max_title_chars: usize,
    /// Longest body, in characters.
    pub max_body_chars: usize,
    /// Most live notes one address may have at once.
    pub max_per_author: u32,
    /// Longest expiry a note may ask for, in seconds.
    pub max_expiry_secs: u64,
}

impl Default for NoteRule {
    fn default() -> Self {
        Self {
            enabled: true,
            pin: PinRule::Authenticated,
            distance: 3,
            max_title_chars: 120,
            max_body_chars: 2000,
            max_per_author: 100,
            max_expiry_secs: 30 * 86_400,
        }
    }
}

impl NoteRule {
    /// Whether the pin rule asks anything of on-chain state.
    pub fn needs_world(&self) -> bool {
        self.pin != PinRule::Authenticated
    }

    /// Whether `who` may pin a note on `tile`; `world` is on-chain state or why it cannot be
    /// relied on now.
    pub fn may_pin<W: WorldView + ?Sized>(
        &self,
        world: Result<&W, &Refusal>,
        who: Address,
        tile: Tile,
    ) -> Result<(), Refusal> {
        let world = || world.map_err(Clone::clone);
        let (ok, why) = match self.pin {
            PinRule::Authenticated => (true, String::new()),
            PinRule::Player => (world()?.is_player(who), "only players may pin notes".into()),
            PinRule::OwnsTile => (
                world()?.owns_at(tile, who),
                format!(
                    "you may pin a note only on a tile where you own something, and ({}, {}) is not one",
                    tile.x, tile.y
                ),
            ),
            PinRule::Near => (
                world()?.has_near(tile, self.distance, who),
                format!(
                    "you may pin a note only within {} tiles of something you own",
                    self.distance
                ),
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::new(ErrorCode::Forbidden, why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u32) -> Address {
        format!("0x{n:x}").parse().unwrap()
    }

    /// 0x1 is a player owning something at (10, 10); 0x2 is in guild 0x61.
    struct World;

    impl WorldView for World {
        fn is_player(&self, who: Address) -> bool {
            who == addr(1)
        }
        fn is_member(&self, kind: &str, id: &str, who: Address) -> bool {
            kind == "guild" && id == "0x61" && who == addr(2)
        }
        fn in_any_group(&self, _: &str, who: Address) -> bool {
            who == addr(2)
        }
        fn groups_of(&self, _: Address) -> Vec<(String, String)> {
            Vec::new()
        }
        fn owns_at(&self, tile: Tile, who: Address) -> bool {
            who == addr(1) && tile == Tile::new(10, 10)
        }
        fn has_near(&self, tile: Tile, distance: u64, who: Address) -> bool {
            who == addr(1) && tile.distance(Tile::new(10, 10)) <= distance
        }
    }

    #[test]
    fn the_visibility_matrix() {
        let author = addr(7);
        let member = addr(2);
        let other = addr(3);
        let guild = Visibility::Group {
            kind: "guild".into(),
            id: "0x61".into(),
        };
        let member_of = |kind: &str, id: &str, who: Address| World.is_member(kind, id, who);
        let rows = [
            (Visibility::Public, [true, true, true, true]),
            (guild, [true, true, false, false]),
            (Visibility::Private, [true, false, false, false]),
        ];
        for (visibility, expected) in rows {
            let seen = [Some(author), Some(member), Some(other), None]
                .map(|viewer| visibility.admits(author, viewer, member_of));
            assert_eq!(
                seen, expected,
                "{visibility:?}: author, member, other, anonymous"
            );
        }
    }

    #[test]
    fn pin_rules_ask_positions() {
        let unavailable = Refusal::new(ErrorCode::Unavailable, "syncing");
        let anywhere = NoteRule::default();
        assert!(!anywhere.needs_world());
        let far = Tile::new(500, 500);
        assert!(
            anywhere
                .may_pin::<World>(Err(&unavailable), addr(9), far)
                .is_ok()
        );

        let owns = NoteRule {
            pin: PinRule::OwnsTile,
            ..NoteRule::default()
        };
        assert!(owns.may_pin(Ok(&World), addr(1), Tile::new(10, 10)).is_ok());
        let next_door = owns.may_pin(Ok(&World), addr(1), Tile::new(11, 10));
        assert_eq!(next_door.unwrap_err().code, ErrorCode::Forbidden);
        let syncing = owns.may_pin::<World>(Err(&unavailable), addr(1), Tile::new(10, 10));
        assert_eq!(syncing.unwrap_err().code, ErrorCode::Unavailable);

        let near = NoteRule {
            pin: PinRule::Near,
            distance: 2,
            ..NoteRule::default()
        };
        assert!(near.may_pin(Ok(&World), addr(1), Tile::new(12, 10)).is_ok());
        let refusal = near
            .may_pin(Ok(&World), addr(1), Tile::new(13, 10))
            .unwrap_err();
        assert!(
            refusal.message.contains("within 2 tiles"),
            "{}",
            refusal.message
        );
        assert!(
            near.may_pin(Ok(&World), addr(2), Tile::new(10, 10))
                .is_err()
        );

        let players = NoteRule {
            pin: PinRule::Player,
            ..NoteRule::default()
        };
        assert!(players.may_pin(Ok(&World), addr(1), far).is_ok());
        assert!(players.may_pin(Ok(&World), addr(2), far).is_err());
    }
}
