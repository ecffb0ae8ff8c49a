//! Moderation state every request is checked against: the world's content rules, and the
//! bans, mutes and revoked sessions in force ([`standing`]). The checks are here; the
//! moderators' API, the review queue worker and the notices between instances are the
//! `features::moderation` feature, and token verification with these checks is
//! `AppState::verify`.

pub mod standing;

use realtime_auth::Identity;
use realtime_core::ErrorCode;
use realtime_core::moderation::{ContentRules, Place, Verdict};
use realtime_protocol::ErrorBody;

use crate::config::ModerationConfig;
use standing::Standing;

/// Moderation state of a running server.
#[derive(Debug)]
pub struct Moderation {
    pub rules: ContentRules,
    pub standing: Standing,
    /// Wakes the review queue's worker when a job is filed on this instance.
    pub wake: tokio::sync::Notify,
}

/// What the content rules let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screened {
    /// Publish this text (as written, or masked).
    Publish(String),
    /// Queue this text (masked where a mask rule matched too) for review, held by `rule`.
    Hold { text: String, rule: String },
}

impl Moderation {
    /// Compiles the rules of `config` (validated at load, so this cannot fail then).
    pub fn new(config: &ModerationConfig) -> Self {
        Self {
            rules: config.content_rules().unwrap_or_default(),
            standing: Standing::default(),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Refuses `identity` when its session was revoked or its address is banned.
    pub fn admit(&self, identity: &Identity) -> Result<(), ErrorBody> {
        if identity
            .jti
            .as_deref()
            .is_some_and(|j| self.standing.is_revoked(j))
        {
            return Err(ErrorBody::new(
                ErrorCode::Unauthorized,
                "this session was revoked; sign in again",
            ));
        }
        self.standing.check_ban(identity.address)
    }

    /// Applies the content rules to `text` written at `place`; a rule that rejects it gives
    /// the `rejected` refusal with the rule's sentence.
    pub fn screen(&self, text: String, place: Place<'_>) -> Result<Screened, ErrorBody> {
        if self.rules.is_empty() {
            return Ok(Screened::Publish(text));
        }
        match self.rules.screen(&text, place) {
            Verdict::Allow => Ok(Screened::Publish(text)),
            Verdict::Mask { text, .. } => Ok(Screened::Publish(text)),
            Verdict::Hold { text, rule } => Ok(Screened::Hold { text, rule }),
            Verdict::Reject { rule, message } => {
                tracing::info!(rule, "content rejected");
                Err(ErrorBody::new(ErrorCode::Rejected, message))
            }
        }
    }
}
