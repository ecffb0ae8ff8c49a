//! Bans, mutes and revoked sessions in force, kept in memory so every sign-in, request and
//! publish checks them without a round trip. Storage is the truth: each instance reads it at
//! start, after every moderator action it hears of (its own, or another instance's notice),
//! and every `[moderation] reload_interval` in case a notice was lost.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use realtime_core::time::{now_ms, rfc3339_ms};
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::ErrorBody;
use realtime_store::{Sanction, SanctionKind, Store, StoreError};

/// A sanction as checked: when it ends, and why it was given.
#[derive(Debug, Clone)]
struct Term {
    until_ms: Option<i64>,
    reason: String,
}

impl Term {
    fn holds(&self, now: i64) -> bool {
        self.until_ms.is_none_or(|u| u > now)
    }
}

#[derive(Debug, Default)]
struct Snapshot {
    bans: HashMap<Address, Term>,
    /// Mutes by address: `None` channel is everywhere.
    mutes: HashMap<Address, Vec<(Option<String>, Term)>>,
    revoked: HashSet<String>,
}

/// What is in force now, for the checks.
#[derive(Debug, Default)]
pub struct Standing {
    snapshot: RwLock<Snapshot>,
}

fn until_text(until: Option<i64>) -> String {
    until.map_or_else(
        || "until lifted".into(),
        |u| format!("until {}", rfc3339_ms(u)),
    )
}

impl Standing {
    /// Reads what is in force from storage and replaces the snapshot.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let now = now_ms();
        let sanctions = store.live_sanctions(now).await?;
        let revoked = store.revoked_tokens(now).await?;
        let mut next = Snapshot::default();
        for Sanction {
            address,
            kind,
            channel,
            reason,
            until_ms,
            ..
        } in sanctions
        {
            let term = Term { until_ms, reason };
            match kind {
                SanctionKind::Ban => {
                    // Of several bans, the one that ends last decides.
                    let keep = next.bans.get(&address).is_some_and(|t| {
                        t.until_ms.is_none() || term.until_ms.is_some_and(|u| t.until_ms > Some(u))
                    });
                    if !keep {
                        next.bans.insert(address, term);
                    }
                }
                SanctionKind::Mute => next.mutes.entry(address).or_default().push((channel, term)),
            }
        }
        next.revoked = revoked.into_iter().map(|(jti, _)| jti).collect();
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The `banned` refusal when `who` is banned now.
    pub fn check_ban(&self, who: Address) -> Result<(), ErrorBody> {
        let snapshot = self.read();
        match snapshot.bans.get(&who) {
            Some(term) if term.holds(now_ms()) => Err(ErrorBody::new(
                ErrorCode::Banned,
                format!(
                    "this address is banned {}: {}",
                    until_text(term.until_ms),
                    term.reason
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Whether session `jti` was revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.read().revoked.contains(jti)
    }

    /// The `muted` refusal when `who` may not post in `channel` now (`None`: a note, which
    /// only a mute everywhere stops), with when the mute ends.
    pub fn check_mute(&self, who: Address, channel: Option<&ChannelName>) -> Result<(), ErrorBody> {
        let snapshot = self.read();
        let Some(mutes) = snapshot.mutes.get(&who) else {
            return Ok(());
        };
        let now = now_ms();
        let applies = |c: &Option<String>| match (c, channel) {
            (None, _) => true,
            (Some(c), Some(channel)) => c == channel.as_str(),
            (Some(_), None) => false,
        };
        // The mute that ends last says when posting is possible again.
        let longest = mutes
            .iter()
            .filter(|(c, t)| applies(c) && t.holds(now))
            .max_by_key(|(_, t)| t.until_ms.unwrap_or(i64::MAX));
        let Some((c, term)) = longest else {
            return Ok(());
        };
        let place = c
            .as_deref()
            .map_or_else(|| "everywhere".to_owned(), |c| format!("in {c}"));
        let mut refusal = ErrorBody::new(
            ErrorCode::Muted,
            format!(
                "you are muted {place} {}: {}",
                until_text(term.until_ms),
                term.reason
            ),
        );
        if let Some(until) = term.until_ms {
            let wait = u64::try_from(until.saturating_sub(now)).unwrap_or(0);
            refusal = refusal.retry_after(std::time::Duration::from_millis(wait));
        }
        Err(refusal)
    }

    /// Counts for `/v1/status`: bans, muted addresses, revoked sessions.
    pub fn counts(&self) -> (usize, usize, usize) {
        let s = self.read();
        (s.bans.len(), s.mutes.len(), s.revoked.len())
    }
}
