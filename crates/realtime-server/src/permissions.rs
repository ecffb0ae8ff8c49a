//! Channel permissions as the server asks them: the pure rules of
//! [`realtime_core::policy`] over the live Torii projection, whose availability (synced, not
//! stale) decides whether rules on on-chain state can be answered now.

use std::sync::LazyLock;

use realtime_core::policy::{Action, ChannelRules, Refusal};
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::ErrorBody;

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

impl Permissions {
    /// The channel name to use for `channel`: group channels get their canonical id.
    pub fn canonical(&self, channel: ChannelName) -> ChannelName {
        self.rules.canonical(channel)
    }

    /// Whether `sender` may start a direct-message thread with `peer` (`[dm] start`).
    pub fn may_start_dm(&self, sender: Address, peer: Address) -> Result<(), ErrorBody> {
        let refused = |r: Refusal| ErrorBody::new(r.code, r.message);
        let (dm, admins) = (&self.rules.dm, self.rules.admins.as_slice());
        type View = torii_plugin::projection::Projection;
        let Some(world) = &self.world else {
            return dm
                .may_start::<View>(Err(&NO_TORII), admins, sender, peer)
                .map_err(refused);
        };
        if let Some(why) = world.unavailable() {
            let unavailable = Refusal::new(ErrorCode::Unavailable, format!("{why}; retry shortly"));
            return dm
                .may_start::<View>(Err(&unavailable), admins, sender, peer)
                .map_err(refused);
        }
        let projection = world.projection.read().unwrap_or_else(|p| p.into_inner());
        dm.may_start(Ok(&*projection), admins, sender, peer)
            .map_err(refused)
    }

    /// Whether `who` (`None`: not signed in) may do `action` on `channel`.
    pub fn check(
        &self,
        who: Option<Address>,
        channel: &ChannelName,
        action: Action,
    ) -> Result<(), ErrorBody> {
        let refused = |r: Refusal| ErrorBody::new(r.code, r.message);
        let Some(world) = &self.world else {
            return self
                .rules
                .check::<torii_plugin::projection::Projection>(Err(&NO_TORII), who, channel, action)
                .map_err(refused);
        };
        if let Some(why) = world.unavailable() {
            let unavailable = Refusal::new(ErrorCode::Unavailable, format!("{why}; retry shortly"));
            return self
                .rules
                .check::<torii_plugin::projection::Projection>(
                    Err(&unavailable),
                    who,
                    channel,
                    action,
                )
                .map_err(refused);
        }
        let projection = world.projection.read().unwrap_or_else(|p| p.into_inner());
        self.rules
            .check(Ok(&*projection), who, channel, action)
            .map_err(refused)
    }
}
