//! Channel permissions as the server asks them: the pure rules of
//! [`realtime_core::policy`] over the live Torii projection, whose availability (synced, not
//! stale) decides whether rules on on-chain state can be answered now.

use std::sync::LazyLock;

use realtime_core::hex::Tile;
use realtime_core::notes::{NoteRule, Visibility};
use realtime_core::policy::{Action, ChannelRules, Refusal};
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::ErrorBody;
use torii_plugin::projection::Projection;

use crate::world::World;

/// What rules on on-chain state answer without `[torii]` (config validation refuses such
/// rules, so this is a bug); built once, since most checks never look at it.
static NO_TORII: LazyLock<Refusal> = LazyLock::new(|| {
    Refusal::new(
        ErrorCode::Internal,
        "world rules are configured without [torii]",
    )
});

/// The channel rules and the on-chain state they may ask about.
#[derive(Debug)]
pub struct Permissions {
    pub rules: ChannelRules,
    /// On-chain state, when `[torii]` is configured.
    pub world: Option<World>,
}

fn refused(r: Refusal) -> ErrorBody {
    ErrorBody::new(r.code, r.message)
}

impl Permissions {
    /// The channel name to use for `channel`: group channels get their canonical id.
    pub fn canonical(&self, channel: ChannelName) -> ChannelName {
        self.rules.canonical(channel)
    }

    /// Runs `f` over the on-chain state, or over why it cannot be relied on now (not
    /// configured, not synced, stale): rules that need it then fail closed with that reason.
    fn with_world<T>(&self, f: impl FnOnce(Result<&Projection, &Refusal>) -> T) -> T {
        let Some(world) = &self.world else {
            return f(Err(&NO_TORII));
        };
        if let Some(why) = world.unavailable() {
            let unavailable = Refusal::new(ErrorCode::Unavailable, format!("{why}; retry shortly"));
            return f(Err(&unavailable));
        }
        let projection = world.projection.read().unwrap_or_else(|p| p.into_inner());
        f(Ok(&*projection))
    }

    /// Whether `sender` may start a direct-message thread with `peer` (`[dm] start`).
    pub fn may_start_dm(&self, sender: Address, peer: Address) -> Result<(), ErrorBody> {
        let (dm, admins) = (&self.rules.dm, self.rules.admins.as_slice());
        self.with_world(|w| dm.may_start(w, admins, sender, peer))
            .map_err(refused)
    }

    /// Whether `who` may pin a note on `tile` (`[notes] pin`).
    pub fn may_pin(&self, rule: &NoteRule, who: Address, tile: Tile) -> Result<(), ErrorBody> {
        self.with_world(|w| rule.may_pin(w, who, tile))
            .map_err(refused)
    }

    /// The groups `who` belongs to now, as `(kind, id)`; none while on-chain state cannot be
    /// relied on, so group-only things fail closed.
    pub fn groups_of(&self, who: Address) -> Vec<(String, String)> {
        self.with_world(|w| w.map(|w| w.groups_of(who)).unwrap_or_default())
    }

    /// What on-chain state says of `who` now: its `[players] name`, whether it is a player,
    /// and its groups; nothing while that state cannot be relied on.
    pub fn standing_of(&self, who: Address) -> (Option<String>, bool, Vec<(String, String)>) {
        self.with_world(|w| match w {
            Ok(w) => (
                w.name_of(who),
                realtime_core::policy::WorldView::is_player(w, who),
                realtime_core::policy::WorldView::groups_of(w, who),
            ),
            Err(_) => (None, false, Vec::new()),
        })
    }

    /// The `[players] name` of each of `addresses` that has one (none while on-chain state is
    /// unavailable).
    pub fn names_of(&self, addresses: &[Address]) -> Vec<(Address, String)> {
        self.with_world(|w| match w {
            Ok(w) => addresses
                .iter()
                .filter_map(|a| w.name_of(*a).map(|n| (*a, n)))
                .collect(),
            Err(_) => Vec::new(),
        })
    }

    /// Whether `viewer` sees a note of `author` with `visibility`.
    pub fn sees(&self, visibility: &Visibility, author: Address, viewer: Option<Address>) -> bool {
        // Public and private notes need no on-chain state: only group notes take the lock.
        visibility.admits(author, viewer, |kind, id, who| {
            self.with_world(|w| w.is_ok_and(|w| w.is_member(kind, id, who)))
        })
    }

    /// Whether `who` passes `policy` now.
    pub fn passes(&self, who: Address, policy: &realtime_core::policy::Policy) -> bool {
        self.with_world(|w| self.rules.passes(w, who, policy))
    }

    /// Whether `who` (`None`: not signed in) may do `action` on `channel`. The moderators'
    /// channel is refused here: its readers are checked by
    /// `AppState::is_moderator`, which needs the whole identity.
    pub fn check(
        &self,
        who: Option<Address>,
        channel: &ChannelName,
        action: Action,
    ) -> Result<(), ErrorBody> {
        if channel.as_str() == crate::config::MODERATION_CHANNEL {
            return Err(ErrorBody::new(
                ErrorCode::Forbidden,
                "the moderation channel is for moderators only",
            ));
        }
        self.with_world(|w| self.rules.check(w, who, channel, action))
            .map_err(refused)
    }
}
