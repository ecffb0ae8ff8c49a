//! World rules as world creators write them in TOML: which model makes an address a player,
//! which models are groups, where things stand on the map, who may read and post where, and
//! which models' updates clients may follow. No game name appears in code; a world is
//! described entirely here (see config/eternum-blitz.toml).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Channel policies are domain rules; they are read from the same file as the world rules.
pub use realtime_core::policy::{ChannelRule, Policy};

/// `[torii]`: where the indexer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToriiConfig {
    /// Torii's gRPC endpoint, e.g. `http://127.0.0.1:50051`.
    pub grpc_url: String,
    /// The world contract address.
    pub world_address: String,
    /// Entities per `RetrieveEntities` page during a full sync.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// First reconnect delay after the stream drops; doubles up to `reconnect_max`, with
    /// full jitter.
    #[serde(
        default = "default_reconnect_min",
        with = "realtime_core::duration::serde"
    )]
    pub reconnect_min: Duration,
    #[serde(
        default = "default_reconnect_max",
        with = "realtime_core::duration::serde"
    )]
    pub reconnect_max: Duration,
    /// Timeout of each unary call (Worlds, one RetrieveEntities page) and of connecting.
    #[serde(
        default = "default_call_timeout",
        with = "realtime_core::duration::serde"
    )]
    pub call_timeout: Duration,
    /// How long on-chain state may go unconfirmed after the connection to Torii is lost.
    /// Past it, rules that depend on on-chain state refuse with `unavailable` (fail closed)
    /// until the next completed sync, and `/readyz` reports the instance degraded.
    #[serde(default = "default_max_stale", with = "realtime_core::duration::serde")]
    pub max_stale: Duration,
}

fn default_page_size() -> u32 {
    1000
}
fn default_reconnect_min() -> Duration {
    Duration::from_millis(500)
}
fn default_reconnect_max() -> Duration {
    Duration::from_secs(30)
}
fn default_call_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_stale() -> Duration {
    Duration::from_secs(60)
}

/// A value a field must equal: `true`, `3`, `"0x1f"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expected {
    Bool(bool),
    Int(i64),
    Text(String),
}

impl Expected {
    /// The value as a number, when it is one (`3`, `"0x1f"`, `"42"`).
    pub fn as_number(&self) -> Option<[u8; 32]> {
        match self {
            Expected::Bool(_) => None,
            Expected::Int(i) => u128::try_from(*i).ok().map(crate::value::number_bytes),
            Expected::Text(t) => {
                if let Ok(a) = t.parse::<realtime_core::Address>() {
                    Some(a.to_bytes())
                } else {
                    t.parse::<u128>().ok().map(crate::value::number_bytes)
                }
            }
        }
    }

    /// Whether a stored value equals this one: numerically when both are numbers,
    /// otherwise by canonical spelling.
    pub fn matches(&self, value: &crate::value::Scalar) -> bool {
        match (self.as_number(), value.as_number()) {
            (Some(a), Some(b)) => a == b,
            _ => value.canonical() == self.canonical(),
        }
    }

    /// The canonical spelling, comparable with `Scalar::canonical`.
    pub fn canonical(&self) -> String {
        match self {
            Expected::Bool(b) => b.to_string(),
            Expected::Int(i) => i.to_string(),
            Expected::Text(t) => match t.parse::<realtime_core::Address>() {
                Ok(a) => a.to_short_hex(),
                Err(_) => t.clone(),
            },
        }
    }
}

/// Conditions on a model record; all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conditions {
    /// Fields that must be non-zero (not 0, false or empty).
    pub nonzero: Vec<String>,
    /// Fields that must equal a value.
    pub equals: BTreeMap<String, Expected>,
}

impl Conditions {
    /// Every field path the conditions read.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nonzero
            .iter()
            .map(String::as_str)
            .chain(self.equals.keys().map(String::as_str))
    }
}

/// `[players]`: an address is a player when a record of `model` names it in `address` and
/// meets the conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayersRule {
    /// Model tag, `namespace-Model`.
    pub model: String,
    /// Path of the field holding the player's address.
    pub address: String,
    /// Path of the field holding the player's name (a short string felt), for announcements.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, flatten)]
    pub when: Conditions,
}

/// `[groups.NAME]`: membership records; each group gets the channel `NAME:ID`, readable and
/// writable by its members only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    pub model: String,
    /// Path of the member's address.
    pub member: String,
    /// Path of the group id.
    pub group: String,
    #[serde(default, flatten)]
    pub when: Conditions,
}

/// Joins an owner id through another model: the position's `owner` field holds a key of
/// `model`, whose `owner` field holds the player address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerJoin {
    pub model: String,
    /// Path of the field in `model` that the position's owner value matches.
    pub key: String,
    /// Path of the address in `model`.
    pub owner: String,
}

/// `[[positions]]`: things on the map and who owns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionRule {
    /// A label for logs and feed updates (`structure`, `explorer`).
    pub name: String,
    pub model: String,
    /// Paths of the tile coordinates.
    pub x: String,
    pub y: String,
    /// Path of the owner: an address, or a key of `owner_via.model`.
    pub owner: String,
    #[serde(default)]
    pub owner_via: Option<OwnerJoin>,
}

/// `[feed]`: models whose on-chain updates clients may subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedRule {
    pub models: Vec<String>,
}

impl FeedRule {
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// Every world rule, as the server's config holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorldRules {
    pub players: Option<PlayersRule>,
    pub groups: BTreeMap<String, GroupRule>,
    pub positions: Vec<PositionRule>,
    pub feed: FeedRule,
    pub announcements: Vec<crate::announce::AnnouncementRule>,
}

impl WorldRules {
    /// Model tag → field paths the rules read (feed models: all fields, marked by `None`).
    pub fn needed_fields(&self) -> BTreeMap<String, Option<std::collections::BTreeSet<String>>> {
        let mut out: BTreeMap<String, Option<std::collections::BTreeSet<String>>> = BTreeMap::new();
        let mut need = |model: &str, path: &str| {
            if let Some(set) = out
                .entry(model.to_owned())
                .or_insert_with(|| Some(Default::default()))
            {
                set.insert(path.to_owned());
            }
        };
        if let Some(p) = &self.players {
            need(&p.model, &p.address);
            if let Some(name) = &p.name {
                need(&p.model, name);
            }
            for f in p.when.paths() {
                need(&p.model, f);
            }
        }
        for g in self.groups.values() {
            need(&g.model, &g.member);
            need(&g.model, &g.group);
            for f in g.when.paths() {
                need(&g.model, f);
            }
        }
        for p in &self.positions {
            need(&p.model, &p.x);
            need(&p.model, &p.y);
            need(&p.model, &p.owner);
            if let Some(j) = &p.owner_via {
                need(&j.model, &j.key);
                need(&j.model, &j.owner);
            }
        }
        for a in &self.announcements {
            // Validated at load; a template that does not parse reads no field.
            if let Ok(t) = crate::announce::Template::parse(&a.text) {
                for f in t.fields() {
                    need(&a.model, f);
                }
            }
        }
        // A template without fields still needs its model followed (its keys only).
        for a in &self.announcements {
            out.entry(a.model.clone())
                .or_insert_with(|| Some(Default::default()));
        }
        for m in &self.feed.models {
            out.insert(m.clone(), None);
        }
        out
    }

    /// The models to follow, sorted.
    pub fn models(&self) -> Vec<String> {
        self.needed_fields().into_keys().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        for s in ["anyone", "authenticated", "player", "group:guild", "admin"] {
            let p = Policy::try_from(s.to_owned()).unwrap();
            assert_eq!(String::from(p), s);
        }
        assert!(Policy::try_from("group:".to_owned()).is_err());
        assert!(
            Policy::try_from("everyone".to_owned())
                .unwrap_err()
                .contains("anyone")
        );
    }

    #[test]
    fn expected_values_compare_canonically() {
        assert_eq!(Expected::Text("0x00AB".into()).canonical(), "0xab");
        assert_eq!(Expected::Bool(true).canonical(), "true");
        assert_eq!(Expected::Int(3).canonical(), "3");
        use crate::value::Scalar;
        let felt_one = Scalar::Felt(crate::value::number_bytes(1));
        assert!(Expected::Int(1).matches(&felt_one), "1 equals the felt 0x1");
        assert!(Expected::Text("0x1".into()).matches(&Scalar::UInt(1)));
        assert!(Expected::Text("7".into()).matches(&Scalar::UInt(7)));
        assert!(!Expected::Int(2).matches(&felt_one));
        assert!(Expected::Bool(true).matches(&Scalar::Bool(true)));
        assert!(!Expected::Bool(true).matches(&Scalar::Bool(false)));
    }
}
