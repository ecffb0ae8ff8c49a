//! Direct-message threads. A thread between two addresses is the channel
//! `dm:LOW:HIGH`: the two addresses in their short spelling, the numerically lower first. The
//! name follows from the pair alone, so both sides (and every instance) name it alike
//! without asking the server, and the channel machinery (seq, recovery, history, idempotent
//! publish) serves threads unchanged. Only the two participants may read or post.
//!
//! Who may *start* a thread is the world's `[dm]` rule ([`DmRule`]), asked only for the
//! first message of a pair.

use serde::{Deserialize, Serialize};

use crate::policy::{Policy, Refusal, WorldView};
use crate::{Address, ChannelName, ErrorCode};

/// The channel kind of direct-message threads; reserved, so no rule may define it.
pub const DM_KIND: &str = "dm";

/// A thread's two participants, the lower address first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thread {
    low: Address,
    high: Address,
}

impl Thread {
    /// The thread between `a` and `b`; a thread needs two different addresses.
    pub fn between(a: Address, b: Address) -> Result<Self, Refusal> {
        match a.cmp(&b) {
            std::cmp::Ordering::Less => Ok(Self { low: a, high: b }),
            std::cmp::Ordering::Greater => Ok(Self { low: b, high: a }),
            std::cmp::Ordering::Equal => Err(Refusal::new(
                ErrorCode::BadRequest,
                "a direct-message thread is between two different addresses",
            )),
        }
    }

    /// The thread `channel` names: `None` when it is not a `dm` channel, a `not_found`
    /// refusal when it is one but not of the form `dm:ADDRESS:ADDRESS`.
    pub fn of(channel: &ChannelName) -> Option<Result<Self, Refusal>> {
        if channel.kind() != DM_KIND {
            return None;
        }
        let mut parts = channel.as_str().split(':').skip(1);
        let parsed = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) => a.parse::<Address>().ok().zip(b.parse().ok()),
            _ => None,
        };
        Some(match parsed {
            Some((a, b)) => Self::between(a, b),
            None => Err(Refusal::new(
                ErrorCode::NotFound,
                "direct-message threads are named dm:ADDRESS:ADDRESS",
            )),
        })
    }

    /// The thread's channel, in its one canonical spelling.
    pub fn channel(&self) -> ChannelName {
        let name = format!(
            "{DM_KIND}:{}:{}",
            self.low.to_short_hex(),
            self.high.to_short_hex()
        );
        // Two short felts fit the channel grammar and its length limit.
        ChannelName::new(&name).expect("a dm thread name is a valid channel name")
    }

    /// Whether `who` is one of the two participants.
    pub fn has(&self, who: Address) -> bool {
        who == self.low || who == self.high
    }

    /// The other participant, when `who` is one.
    pub fn peer_of(&self, who: Address) -> Option<Address> {
        if who == self.low {
            Some(self.high)
        } else if who == self.high {
            Some(self.low)
        } else {
            None
        }
    }

    /// Both participants, lower first.
    pub fn participants(&self) -> [Address; 2] {
        [self.low, self.high]
    }
}

/// `[dm]`: who may start a thread. Once a thread exists, both participants may post in it
/// (unless one blocks the other), whatever the rule says later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmRule {
    /// Whether direct messages exist at all on this server.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Who may write the first message: `authenticated`, `player`, `group:NAME` or `admin`.
    /// The recipient must pass it too, so a player cannot write to a stranger's address.
    #[serde(default = "authenticated")]
    pub start: Policy,
    /// When set (a group kind such as `guild`), only two addresses sharing a group of that
    /// kind may start a thread.
    #[serde(default)]
    pub shared_group: Option<String>,
    /// Most new threads one address may start per hour (spam by direct message is one
    /// first message to many strangers).
    #[serde(default = "new_threads_per_hour")]
    pub max_new_threads_per_hour: u32,
}

fn new_threads_per_hour() -> u32 {
    20
}

fn enabled() -> bool {
    true
}

fn authenticated() -> Policy {
    Policy::Authenticated
}

impl Default for DmRule {
    fn default() -> Self {
        Self {
            enabled: true,
            start: Policy::Authenticated,
            shared_group: None,
            max_new_threads_per_hour: new_threads_per_hour(),
        }
    }
}

impl DmRule {
    /// Whether the rule asks anything of on-chain state.
    pub fn needs_world(&self) -> bool {
        matches!(self.start, Policy::Player | Policy::Group(_)) || self.shared_group.is_some()
    }

    /// Whether `sender` may start a thread with `peer`. `admins` pass the `admin` policy;
    /// `world` is the on-chain state or why it cannot be relied on now.
    pub fn may_start<W: WorldView + ?Sized>(
        &self,
        world: Result<&W, &Refusal>,
        admins: &[Address],
        sender: Address,
        peer: Address,
    ) -> Result<(), Refusal> {
        let world = || world.map_err(Clone::clone);
        let passes = |who: Address| -> Result<bool, Refusal> {
            Ok(match &self.start {
                Policy::Anyone | Policy::Authenticated => true,
                Policy::Admin => admins.contains(&who),
                Policy::Player => world()?.is_player(who),
                Policy::Group(kind) => world()?.in_any_group(kind, who),
            })
        };
        let who_may = match &self.start {
            Policy::Anyone | Policy::Authenticated => "signed-in addresses",
            Policy::Admin => "admins",
            Policy::Player => "players",
            Policy::Group(_) => "group members",
        };
        if !passes(sender)? {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                format!("only {who_may} may start a direct-message thread"),
            ));
        }
        if !passes(peer)? {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                format!("direct messages go to {who_may} only, and {peer} is not one"),
            ));
        }
        if let Some(kind) = &self.shared_group {
            let world = world()?;
            let theirs = world.groups_of(peer);
            let shared = world
                .groups_of(sender)
                .iter()
                .any(|g| g.0 == *kind && theirs.contains(g));
            if !shared {
                return Err(Refusal::new(
                    ErrorCode::Forbidden,
                    format!("direct messages start only between members of the same {kind}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "dm_tests.rs"]
mod tests;
