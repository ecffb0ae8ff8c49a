//! Who may read or post on a channel: the configured policies and their evaluation, as pure
//! functions over a [`WorldView`] (the questions a rule asks about on-chain state), so every
//! rule is decided the same way wherever it is asked and can be tested without a server.
//!
//! - A channel whose kind is a group kind (`guild:0x61` when `[groups.guild]` exists) is open
//!   to the members of that group only; its id is put in canonical form first, so
//!   `guild:0x0061` and `guild:0x61` are one channel.
//! - Otherwise the rule of the full name, then the rule of the kind, gives the read and post
//!   policies; a channel matching neither does not exist.
//! - With no channel rules and no group kinds at all, every channel is open to signed-in
//!   addresses (the zero-configuration default).
//! - A `dm:LOW:HIGH` channel is a direct-message thread (see [`crate::dm`]): open to its two
//!   participants only, whatever else is configured.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::dm::{DmRule, Thread};
use crate::hex::Tile;
use crate::{Address, ChannelName, ErrorCode};

/// Who may do something on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Policy {
    /// Anyone, signed in or not (reads only make sense over HTTP without a token).
    Anyone,
    /// Any signed-in address.
    Authenticated,
    /// Addresses the `[players]` rule recognises.
    Player,
    /// Members of any group of kind NAME (`group:guild`).
    Group(String),
    /// Addresses listed in `[auth] admins`.
    Admin,
}

impl TryFrom<String> for Policy {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ok(match s.as_str() {
            "anyone" => Policy::Anyone,
            "authenticated" => Policy::Authenticated,
            "player" => Policy::Player,
            "admin" => Policy::Admin,
            other => match other.strip_prefix("group:") {
                Some(name) if !name.is_empty() => Policy::Group(name.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown policy {other:?}; use anyone, authenticated, player, group:NAME or admin"
                    ));
                }
            },
        })
    }
}

impl From<Policy> for String {
    fn from(p: Policy) -> String {
        match p {
            Policy::Anyone => "anyone".into(),
            Policy::Authenticated => "authenticated".into(),
            Policy::Player => "player".into(),
            Policy::Group(n) => format!("group:{n}"),
            Policy::Admin => "admin".into(),
        }
    }
}

/// `[channels.NAME]`: read and post policies of the channel NAME, or of every channel of
/// kind NAME (`[channels.zone]` covers `zone:12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRule {
    pub read: Policy,
    pub post: Policy,
}

/// What is asked of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Post,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Post => "post to",
        }
    }
}

/// The questions rules ask about on-chain state. The Torii projection answers them; a rule
/// that needs no on-chain state never asks.
pub trait WorldView {
    /// Whether `who` is a player of the world.
    fn is_player(&self, who: Address) -> bool;
    /// Whether `who` belongs to the group `id` of kind `kind` (guild 0x61).
    fn is_member(&self, kind: &str, id: &str, who: Address) -> bool;
    /// Whether `who` belongs to any group of kind `kind`.
    fn in_any_group(&self, kind: &str, who: Address) -> bool;
    /// The groups `who` belongs to, as (kind, id).
    fn groups_of(&self, who: Address) -> Vec<(String, String)>;
    /// Whether `who` owns something standing on `tile`.
    fn owns_at(&self, tile: Tile, who: Address) -> bool;
    /// Whether `who` has something within `distance` tiles of `tile`.
    fn has_near(&self, tile: Tile, distance: u64, who: Address) -> bool;
}

/// Why a request was refused: a stable code and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The channel rules of a world, built once from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelRules {
    /// `[channels.*]`, by full name or kind.
    pub channels: BTreeMap<String, ChannelRule>,
    /// Kinds of group channels (`[groups.NAME]`).
    pub group_kinds: BTreeSet<String>,
    /// Addresses that pass the `admin` policy.
    pub admins: Vec<Address>,
    /// `[dm]`: whether direct-message threads exist, and who may start one.
    pub dm: DmRule,
}

/// The canonical spelling of a group id: felts as minimal lower-case hex.
fn canonical_id(id: &str) -> String {
    match id.parse::<Address>() {
        Ok(a) => a.to_short_hex(),
        Err(_) => id.to_owned(),
    }
}

fn forbidden(channel: &ChannelName, action: Action, why: &str) -> Refusal {
    Refusal::new(
        ErrorCode::Forbidden,
        format!("you may not {} {channel}: {why}", action.verb()),
    )
}

fn sign_in_first() -> Refusal {
    Refusal::new(ErrorCode::Unauthorized, "sign in first")
}

impl ChannelRules {
    /// The channel name to use for `channel`: group channels get their canonical id.
    pub fn canonical(&self, channel: ChannelName) -> ChannelName {
        if let Some(Ok(thread)) = Thread::of(&channel) {
            return thread.channel();
        }
        let kind = channel.kind();
        if !self.group_kinds.contains(kind) {
            return channel;
        }
        let Some((_, id)) = channel.as_str().split_once(':') else {
            return channel;
        };
        let canonical = format!("{kind}:{}", canonical_id(id));
        ChannelName::new(&canonical).unwrap_or(channel)
    }

    /// Whether `who` (`None`: not signed in) may do `action` on `channel`. `world` is the
    /// on-chain state, or why it cannot be relied on now: rules that need it then fail
    /// closed with that refusal, and rules that do not need it never look.
    pub fn check<W: WorldView + ?Sized>(
        &self,
        world: Result<&W, &Refusal>,
        who: Option<Address>,
        channel: &ChannelName,
        action: Action,
    ) -> Result<(), Refusal> {
        if let Some(thread) = Thread::of(channel) {
            if !self.dm.enabled {
                return Err(Refusal::new(
                    ErrorCode::NotFound,
                    "direct messages are turned off on this server",
                ));
            }
            let thread = thread?;
            let who = who.ok_or_else(sign_in_first)?;
            return if thread.has(who) {
                Ok(())
            } else {
                Err(forbidden(channel, action, "only its two participants may"))
            };
        }
        let kind = channel.kind();
        if self.group_kinds.contains(kind) {
            let Some((_, id)) = channel.as_str().split_once(':') else {
                return Err(Refusal::new(
                    ErrorCode::NotFound,
                    format!("{kind} channels are named {kind}:ID"),
                ));
            };
            let who = who.ok_or_else(sign_in_first)?;
            return if world.map_err(Clone::clone)?.is_member(kind, id, who) {
                Ok(())
            } else {
                Err(forbidden(
                    channel,
                    action,
                    &format!("only members of {kind} {id} may"),
                ))
            };
        }
        let rule = self
            .channels
            .get(channel.as_str())
            .or_else(|| self.channels.get(kind));
        let policy = match rule {
            Some(rule) => match action {
                Action::Read => &rule.read,
                Action::Post => &rule.post,
            },
            None if self.channels.is_empty() && self.group_kinds.is_empty() => {
                &Policy::Authenticated
            }
            None => {
                return Err(Refusal::new(
                    ErrorCode::NotFound,
                    format!("there is no channel {channel}"),
                ));
            }
        };
        self.allowed(world, who, policy)
            .map_err(|denied| match denied {
                Denied::As(refusal) => refusal,
                Denied::Because(why) => forbidden(channel, action, &why),
            })
    }

    /// Whether `who` passes `policy` (for rules that are not about a channel, such as who
    /// moderates); on-chain policies fail closed while `world` cannot be relied on.
    pub fn passes<W: WorldView + ?Sized>(
        &self,
        world: Result<&W, &Refusal>,
        who: Address,
        policy: &Policy,
    ) -> bool {
        self.allowed(world, Some(who), policy).is_ok()
    }

    fn allowed<W: WorldView + ?Sized>(
        &self,
        world: Result<&W, &Refusal>,
        who: Option<Address>,
        policy: &Policy,
    ) -> Result<(), Denied> {
        if *policy == Policy::Anyone {
            return Ok(());
        }
        let who = who.ok_or_else(|| Denied::As(sign_in_first()))?;
        let world = || world.map_err(|r| Denied::As(r.clone()));
        let ok = match policy {
            Policy::Anyone | Policy::Authenticated => true,
            Policy::Admin => self.admins.contains(&who),
            Policy::Player => world()?.is_player(who),
            Policy::Group(g) => world()?.in_any_group(g, who),
        };
        if ok {
            return Ok(());
        }
        Err(Denied::Because(match policy {
            Policy::Admin => "admins only".into(),
            Policy::Player => "players only".into(),
            Policy::Group(g) => format!("members of a {g} only"),
            Policy::Anyone | Policy::Authenticated => String::new(),
        }))
    }
}

/// Why a policy refused: a refusal to pass on as it is, or a reason to phrase as forbidden.
enum Denied {
    As(Refusal),
    Because(String),
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
