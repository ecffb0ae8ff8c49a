//! Chain announcements as messages: an `[[announcements]]` rule that fired (see
//! [`torii_plugin::announce`]) becomes one line in each of its channels, stored and sequenced
//! like any message, so it is recovered, paged and synced like one.
//!
//! The sender is the world contract's address. The client message id is derived from the
//! rule, the entity, the owners and the time the transaction ran, so the same on-chain change
//! always gets the same id: a change seen twice (again after a reconnect, or by a second
//! instance following the same Torii) is stored once, as any retried publish is.

use realtime_core::{Address, ChannelName};
use realtime_protocol::ErrorBody;
use realtime_protocol::reply::PublishOk;
use torii_plugin::announce::{Context, Party, Template};
use torii_plugin::projection::Announcement;

use crate::chat;
use crate::config::Config;
use crate::permissions::Permissions;
use crate::publisher::{Job, Publisher, Reply};

/// FNV-1a over `parts`: a stable 64-bit digest (the same on every build and instance).
fn digest(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The client message id of an announcement: the same for the same on-chain change. Without
/// the time the transaction ran (an indexer that does not report it), two changes with the
/// same owners could not be told apart: the id then includes the time it was seen, and only
/// this instance's projection keeps the change from being announced twice.
pub fn message_id(rule: &str, a: &Announcement) -> String {
    let owner = a.owner.map(|o| o.to_bytes()).unwrap_or_default();
    let previous = a.previous_owner.map(|o| o.to_bytes()).unwrap_or_default();
    let h = digest(&[rule.as_bytes(), &a.entity, &owner, &previous]);
    if a.executed_at == 0 {
        return format!("ann:seen{}:{h:016x}", realtime_core::time::now_ms());
    }
    format!("ann:{}:{h:016x}", a.executed_at)
}

/// What rendering an announcement needs.
#[derive(Debug, Clone, Copy)]
pub struct Announcer<'a> {
    pub config: &'a Config,
    pub permissions: &'a Permissions,
}

/// An announcement ready to post: rendered when its change was applied (names and groups as
/// they were then), posted by whichever instance leads (see [`crate::posting`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    rule: String,
    sender: Address,
    body: String,
    id: String,
    channels: Vec<ChannelName>,
}

impl Prepared {
    /// Posts the line in each of its channels; the commits happen in the background. Posting
    /// it again, from this or another instance, stores nothing new: the message id is the
    /// change's.
    pub async fn post(self, publisher: &Publisher) {
        for channel in self.channels {
            tracing::info!(rule = %self.rule, %channel, "announcement");
            crate::metrics::get().message_in(crate::metrics::Feature::Announcement);
            let (tx, rx) = tokio::sync::oneshot::channel();
            publisher
                .submit(Job {
                    channel,
                    sender: self.sender,
                    body: self.body.clone(),
                    client_msg_id: self.id.clone(),
                    reply: Reply::Waiting(tx),
                })
                .await;
            let rule = self.rule.clone();
            tokio::spawn(async move {
                let outcome: Option<Result<PublishOk, ErrorBody>> = rx.await.ok();
                if let Some(Err(e)) = outcome {
                    tracing::warn!(%rule, code = %e.code, error = %e.message, "announcement not stored");
                }
            });
        }
    }
}

impl Announcer<'_> {
    /// Renders `a` for each of its rule's channels, from the live projection; `None` when
    /// there is nothing to post.
    pub fn prepare(&self, a: &Announcement) -> Option<Prepared> {
        let rule = self.config.announcements.get(a.rule)?;
        let sender = self
            .config
            .torii
            .as_ref()
            .and_then(|t| t.world_address.parse::<Address>().ok())?;
        // Validated at load.
        let template = Template::parse(&rule.text).ok()?;
        let (text, channels) = self.render(rule, &template, a);
        let body = match chat::validate_body(&self.config.limits, &text) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(rule = %rule.name, error = %e.message, "announcement not posted");
                return None;
            }
        };
        Some(Prepared {
            rule: rule.name.clone(),
            sender,
            body,
            id: message_id(&rule.name, a),
            channels,
        })
    }

    /// The line and the channels it goes to, from the live projection.
    fn render(
        &self,
        rule: &torii_plugin::announce::AnnouncementRule,
        template: &Template,
        a: &Announcement,
    ) -> (String, Vec<ChannelName>) {
        let mut channels: Vec<ChannelName> = rule
            .channels
            .iter()
            .filter_map(|c| ChannelName::new(c).ok())
            .map(|c| self.permissions.canonical(c))
            .collect();
        let projection = self
            .permissions
            .world
            .as_ref()
            .map(|w| w.projection.read().unwrap_or_else(|p| p.into_inner()));
        let name_of = |who: Address| projection.as_ref().and_then(|p| p.name_of(who));
        let text = template.render(&Context {
            record: a.record.as_ref(),
            owner: a.owner,
            previous_owner: a.previous_owner,
            tile: a.tile,
            name_of: &name_of,
        });
        if let (Some(kind), Some(p)) = (&rule.group, &projection) {
            for party in &rule.groups_of {
                let who = match party {
                    Party::Owner => a.owner,
                    Party::PreviousOwner => a.previous_owner,
                };
                for (k, id) in who.map(|w| p.groups_of(w)).unwrap_or_default() {
                    if &k == kind
                        && let Ok(c) = ChannelName::new(&format!("{k}:{id}"))
                    {
                        channels.push(c);
                    }
                }
            }
        }
        channels.sort();
        channels.dedup();
        (text, channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement(owner: u64, previous: u64, executed_at: u64) -> Announcement {
        let addr = |n: u64| format!("0x{n:x}").parse::<Address>().ok();
        Announcement {
            rule: 0,
            entity: [7; 32],
            executed_at,
            record: None,
            owner: addr(owner),
            previous_owner: addr(previous),
            tile: None,
        }
    }

    #[test]
    fn one_change_has_one_id_and_different_changes_differ() {
        let taken = announcement(2, 1, 100);
        assert_eq!(
            message_id("taken", &taken),
            message_id("taken", &taken.clone())
        );
        let id = message_id("taken", &taken);
        assert!(
            realtime_core::text::validate_client_msg_id(&id).is_ok(),
            "{id}"
        );
        // Without an execution time, two changes with the same owners stay apart.
        let unknown = announcement(2, 1, 0);
        let first = message_id("taken", &unknown);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_ne!(first, message_id("taken", &unknown));
        assert!(
            realtime_core::text::validate_client_msg_id(&first).is_ok(),
            "{first}"
        );
        for other in [
            message_id("other_rule", &taken),
            message_id("taken", &announcement(1, 2, 100)),
            message_id("taken", &announcement(2, 1, 101)),
        ] {
            assert_ne!(other, id);
        }
    }
}
