//! `[moderation]`: who moderates, the content rules, and the limits on reports.

use std::time::Duration;

use realtime_core::Address;
use realtime_core::moderation::{ContentRules, RuleConfig};
use realtime_core::policy::Policy;
use serde::{Deserialize, Serialize};

/// The moderators' channel: each new job of the review queue is announced there. Only
/// moderators may read it, and nobody posts to it but the server.
pub const MODERATION_CHANNEL: &str = "moderation";

/// `[moderation]` of the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModerationConfig {
    /// Addresses that may use the moderation API (besides `[auth] admins`, tokens carrying
    /// `moderator: true`, and `moderator_policy`).
    pub moderators: Vec<Address>,
    /// An on-chain rule that makes moderators, e.g. `"group:council"`: any member of a
    /// council group moderates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderator_policy: Option<Policy>,
    /// Whether rules without `channels` also screen direct messages (players' private
    /// threads are not read by rules unless the world says so).
    pub screen_dms: bool,
    /// Reports one address may file in a burst...
    pub reports_burst: u32,
    /// ...and per hour after it.
    pub reports_per_hour: u32,
    /// How often each instance re-reads bans, mutes and revoked sessions from storage, in
    /// case a notice from another instance was lost.
    #[serde(with = "realtime_core::duration::serde")]
    pub reload_interval: Duration,
    /// Content rules, applied in order; the strongest action of those that match wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        Self {
            moderators: Vec::new(),
            moderator_policy: None,
            screen_dms: false,
            reports_burst: 5,
            reports_per_hour: 20,
            reload_interval: Duration::from_secs(5),
            rules: Vec::new(),
        }
    }
}

impl ModerationConfig {
    /// Compiles the content rules; the error names the rule's key.
    pub fn content_rules(&self) -> Result<ContentRules, (String, String)> {
        ContentRules::compile(&self.rules, self.screen_dms).map_err(|e| (e.key, e.reason))
    }

    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        self.content_rules()?;
        if self.reports_burst == 0 || self.reports_per_hour == 0 {
            return Err((
                "moderation.reports_per_hour".into(),
                "reports_burst and reports_per_hour must be at least 1".into(),
            ));
        }
        if self.reload_interval < Duration::from_millis(100) {
            return Err(("moderation.reload_interval".into(), "at least 100ms".into()));
        }
        Ok(())
    }
}
