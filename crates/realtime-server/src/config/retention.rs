//! The `[retention]` section: how long messages are kept, per channel or channel kind, how
//! long note tombstones are kept, and how the job that removes them runs. Nothing is removed
//! by default: a world keeps its chat until its operator decides otherwise.

use std::collections::BTreeMap;
use std::time::Duration;

use realtime_core::ChannelName;
use serde::{Deserialize, Serialize};

use super::sections::{Check, fail};

/// Largest `retention.batch`: a transaction that deletes more holds SQLite's single writer
/// (and publishing with it) for too long.
pub const MAX_RETENTION_BATCH: u32 = 10_000;

/// How long messages of some channels are kept. A key left out sets no limit of that kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// Messages published longer ago than this are removed.
    #[serde(
        default,
        with = "realtime_core::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
    /// Only the newest this many messages of each channel are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u64>,
}

impl RetentionRule {
    /// Whether the rule removes anything at all.
    pub fn limits(&self) -> bool {
        self.max_age.is_some() || self.max_messages.is_some()
    }

    fn validate(&self, key: &str) -> Check {
        if self.max_age.is_some_and(|a| a < Duration::from_secs(1)) {
            return fail(
                &format!("{key}max_age"),
                "must be at least 1s; leave it out to keep messages whatever their age",
            );
        }
        if self.max_messages == Some(0) {
            return fail(
                &format!("{key}max_messages"),
                "must be at least 1; leave it out to keep messages whatever their number",
            );
        }
        Ok(())
    }
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How often the retention job runs. Each run removes everything due, in batches.
    #[serde(with = "realtime_core::duration::serde")]
    pub interval: Duration,
    /// Messages (or tombstones) removed per transaction. Small batches keep each transaction
    /// short, so publishes are never held up for long (SQLite has a single writer).
    pub batch: u32,
    /// Default for every channel without an entry in `channels`: messages older than this
    /// are removed. Unset: kept whatever their age.
    #[serde(
        default,
        with = "realtime_core::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
    /// Default for every channel without an entry in `channels`: only the newest this many
    /// messages are kept. Unset: kept whatever their number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u64>,
    /// How long a removed or expired note's tombstone is kept. Clients resuming with `sync`
    /// from an older note revision are told to reload their viewport instead.
    #[serde(with = "realtime_core::duration::serde")]
    pub note_tombstones: Duration,
    /// Rules by full channel name (`world`, `guild:0x9001`) or channel kind (`guild`,
    /// `dm`). The most specific entry replaces the defaults as a whole: an entry without
    /// keys keeps its channels forever.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, RetentionRule>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(600),
            batch: 500,
            max_age: None,
            max_messages: None,
            note_tombstones: Duration::from_secs(30 * 86_400),
            channels: BTreeMap::new(),
        }
    }
}

impl RetentionConfig {
    /// The rule for `channel` (a stored name): its own entry, else its kind's, else the
    /// defaults; `None` when that rule removes nothing.
    pub fn rule_for(&self, channel: &str) -> Option<RetentionRule> {
        let kind = channel.split(':').next().unwrap_or(channel);
        let rule = match self
            .channels
            .get(channel)
            .or_else(|| self.channels.get(kind))
        {
            Some(rule) => rule.clone(),
            None => RetentionRule {
                max_age: self.max_age,
                max_messages: self.max_messages,
            },
        };
        rule.limits().then_some(rule)
    }

    /// Whether any channel may have messages removed; when none can, the job does not list
    /// channels at all.
    pub fn trims_messages(&self) -> bool {
        self.max_age.is_some()
            || self.max_messages.is_some()
            || self.channels.values().any(RetentionRule::limits)
    }

    /// Checks the values; `canonical` names a channel as the server stores it (group ids
    /// and thread addresses in their short form), so that an entry for one channel can be
    /// refused when it would never match.
    pub(crate) fn validate(&self, canonical: impl Fn(ChannelName) -> ChannelName) -> Check {
        if self.interval < Duration::from_millis(100) {
            return fail("retention.interval", "must be at least 100ms");
        }
        if !(1..=MAX_RETENTION_BATCH).contains(&self.batch) {
            return fail(
                "retention.batch",
                format!("must be between 1 and {MAX_RETENTION_BATCH}"),
            );
        }
        if self.note_tombstones < Duration::from_secs(1) {
            return fail("retention.note_tombstones", "must be at least 1s");
        }
        RetentionRule {
            max_age: self.max_age,
            max_messages: self.max_messages,
        }
        .validate("retention.")?;
        for (name, rule) in &self.channels {
            let key = format!("retention.channels.{name}");
            let Ok(channel) = ChannelName::new(name) else {
                return fail(
                    &key,
                    "not a channel name (`world`, `guild:0x9001`) or kind (`guild`)",
                );
            };
            let stored = canonical(channel.clone());
            if stored != channel {
                return fail(
                    &key,
                    format!("the server names this channel {stored}; write that name instead"),
                );
            }
            rule.validate(&format!("{key}."))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(max_age: Option<u64>, max_messages: Option<u64>) -> RetentionRule {
        RetentionRule {
            max_age: max_age.map(Duration::from_secs),
            max_messages,
        }
    }

    #[test]
    fn the_most_specific_entry_wins_as_a_whole() {
        let mut config = RetentionConfig {
            max_age: Some(Duration::from_secs(90)),
            ..RetentionConfig::default()
        };
        config.channels.insert("guild".into(), rule(None, Some(50)));
        config
            .channels
            .insert("guild:0x9001".into(), rule(Some(10), None));
        config
            .channels
            .insert("world".into(), RetentionRule::default());
        assert_eq!(config.rule_for("guild:0x9001"), Some(rule(Some(10), None)));
        assert_eq!(config.rule_for("guild:0x12"), Some(rule(None, Some(50))));
        assert_eq!(config.rule_for("dm:0x1:0x2"), Some(rule(Some(90), None)));
        assert_eq!(config.rule_for("zone:3"), Some(rule(Some(90), None)));
        // An entry without keys keeps its channel forever, whatever the defaults.
        assert_eq!(config.rule_for("world"), None);
        assert!(config.trims_messages());
        // Without defaults, only channels with a rule.
        config.max_age = None;
        assert_eq!(config.rule_for("zone:3"), None);
        assert!(config.trims_messages());
        assert!(!RetentionConfig::default().trims_messages());
        assert_eq!(RetentionConfig::default().rule_for("world"), None);
    }
}
