//! Validation of the world rules against each other: `[torii]`, `[players]`, `[groups]`,
//! `[[positions]]`, `[channels]`, `[feed]`, `[dm]`, `[notes]` and `[[announcements]]`, so a
//! rule that cannot work stops the server at start with the key that is wrong.

use realtime_core::dm::DM_KIND;
use realtime_core::notes::PinRule;
use torii_plugin::announce::{Template, Trigger};
use torii_plugin::rules::Policy;

use super::Config;

impl Config {
    pub(super) fn validate_world(&self) -> Result<(), (String, String)> {
        let fail = |k: &str, r: String| Err((k.to_owned(), r));
        let uses_world = self.players.is_some()
            || !self.groups.is_empty()
            || !self.positions.is_empty()
            || !self.feed.models.is_empty()
            || !self.announcements.is_empty();
        if let Some(t) = &self.torii {
            if !(t.grpc_url.starts_with("http://") || t.grpc_url.starts_with("https://")) {
                return fail(
                    "torii.grpc_url",
                    format!("{:?} is not an http:// or https:// URL", t.grpc_url),
                );
            }
            if let Err(e) = t.world_address.parse::<realtime_core::Address>() {
                return fail("torii.world_address", e.to_string());
            }
            if t.page_size == 0 {
                return fail("torii.page_size", "must be at least 1".into());
            }
        } else if uses_world {
            return fail(
                "torii",
                "world rules ([players], [groups], [[positions]], [feed], [[announcements]]) need a [torii] section"
                    .into(),
            );
        }
        for name in self.groups.keys() {
            if realtime_core::ChannelName::new(name).is_err() || name.contains(':') {
                return fail(
                    &format!("groups.{name}"),
                    "a group name is a channel kind: lower-case letters, digits, '_', '-', '.'"
                        .into(),
                );
            }
            if self.channels.contains_key(name) {
                return fail(
                    &format!("channels.{name}"),
                    format!(
                        "channels {name}:ID belong to [groups.{name}] members; remove this entry"
                    ),
                );
            }
        }
        for (name, rule) in &self.channels {
            if realtime_core::ChannelName::new(name).is_err() {
                return fail(
                    &format!("channels.{name}"),
                    "not a valid channel name".into(),
                );
            }
            for (what, policy) in [("read", &rule.read), ("post", &rule.post)] {
                let key = format!("channels.{name}.{what}");
                match policy {
                    Policy::Player if self.players.is_none() => {
                        return fail(&key, "\"player\" needs a [players] section".into());
                    }
                    Policy::Group(g) if !self.groups.contains_key(g) => {
                        return fail(&key, format!("no [groups.{g}] section"));
                    }
                    Policy::Admin if self.auth.admins.is_empty() => {
                        return fail(&key, "\"admin\" needs addresses in auth.admins".into());
                    }
                    _ => {}
                }
            }
        }
        if let Some(name) = self
            .channels
            .keys()
            .find(|n| n.as_str() == crate::config::MODERATION_CHANNEL)
        {
            return fail(
                &format!("channels.{name}"),
                "the moderation channel is the moderators' queue; its rules are fixed".into(),
            );
        }
        let rules = self.channel_rules();
        for (i, rule) in self.moderation.rules.iter().enumerate() {
            for name in &rule.channels {
                let Ok(channel) = realtime_core::ChannelName::new(name) else {
                    continue; // refused with its key when the rules are compiled
                };
                let canonical = rules.canonical(channel.clone());
                if canonical != channel {
                    return fail(
                        &format!("moderation.rules[{i}].channels"),
                        format!(
                            "{name:?} is spelled {:?} on this server",
                            canonical.as_str()
                        ),
                    );
                }
            }
        }
        if let Some(policy) = &self.moderation.moderator_policy {
            match policy {
                Policy::Player if self.players.is_none() => {
                    return fail(
                        "moderation.moderator_policy",
                        "\"player\" needs a [players] section".into(),
                    );
                }
                Policy::Group(g) if !self.groups.contains_key(g) => {
                    return fail(
                        "moderation.moderator_policy",
                        format!("no [groups.{g}] section"),
                    );
                }
                Policy::Admin if self.auth.admins.is_empty() => {
                    return fail(
                        "moderation.moderator_policy",
                        "\"admin\" needs addresses in auth.admins".into(),
                    );
                }
                Policy::Anyone | Policy::Authenticated => {
                    return fail(
                        "moderation.moderator_policy",
                        "would make every signed-in address a moderator; use group:NAME, admin \
                         or player"
                            .into(),
                    );
                }
                _ => {}
            }
        }
        self.validate_dm()?;
        self.validate_notes()?;
        self.validate_announcements()?;
        for (i, model) in self.feed.models.iter().enumerate() {
            if !self.positions.iter().any(|p| &p.model == model) {
                return fail(
                    &format!("feed.models[{i}]"),
                    format!(
                        "{model:?} has no [[positions]] rule, so its updates have no tile or owner to route by"
                    ),
                );
            }
        }
        for (i, p) in self.positions.iter().enumerate() {
            if self.positions[..i].iter().any(|q| q.name == p.name) {
                return fail(
                    &format!("positions[{i}].name"),
                    format!("{:?} is used twice", p.name),
                );
            }
        }
        Ok(())
    }

    /// `dm` channels are threads, whatever rules say; `[dm]` names only what exists.
    fn validate_dm(&self) -> Result<(), (String, String)> {
        let fail = |k: &str, r: String| Err((k.to_owned(), r));
        let reserved = "dm:LOW:HIGH channels are direct-message threads, set by [dm]";
        if self.groups.contains_key(DM_KIND) {
            return fail("groups.dm", reserved.into());
        }
        if let Some(name) = self
            .channels
            .keys()
            .find(|n| n.split(':').next() == Some(DM_KIND))
        {
            return fail(&format!("channels.{name}"), reserved.into());
        }
        match &self.dm.start {
            Policy::Player if self.players.is_none() => {
                return fail("dm.start", "\"player\" needs a [players] section".into());
            }
            Policy::Group(g) if !self.groups.contains_key(g) => {
                return fail("dm.start", format!("no [groups.{g}] section"));
            }
            Policy::Admin if self.auth.admins.is_empty() => {
                return fail(
                    "dm.start",
                    "\"admin\" needs addresses in auth.admins".into(),
                );
            }
            _ => {}
        }
        if self.dm.max_new_threads_per_hour == 0 {
            return fail("dm.max_new_threads_per_hour", "must be at least 1".into());
        }
        if let Some(kind) = &self.dm.shared_group
            && !self.groups.contains_key(kind)
        {
            return fail("dm.shared_group", format!("no [groups.{kind}] section"));
        }
        Ok(())
    }

    /// `[[announcements]]`: names usable in message ids, templates that parse, owners only
    /// where a `[[positions]]` rule says who owns the model, channels that exist.
    fn validate_announcements(&self) -> Result<(), (String, String)> {
        for (i, a) in self.announcements.iter().enumerate() {
            let key = |k: &str| format!("announcements[{i}].{k}");
            let fail = |k: &str, r: String| Err((key(k), r));
            let named = !a.name.is_empty()
                && a.name.len() <= 32
                && a.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !named {
                return fail("name", "1 to 32 letters, digits, '_' or '-'".into());
            }
            if self.announcements[..i].iter().any(|b| b.name == a.name) {
                return fail("name", format!("{:?} is used twice", a.name));
            }
            let template = Template::parse(&a.text).map_err(|e| (key("text"), e))?;
            let positioned = self.positions.iter().any(|p| p.model == a.model);
            let needs_owner =
                a.on == Trigger::OwnerChanged || template.uses_owner() || !a.groups_of.is_empty();
            if needs_owner && !positioned {
                return fail(
                    "model",
                    format!(
                        "owners, tiles and groups_of need a [[positions]] rule for {:?}",
                        a.model
                    ),
                );
            }
            match &a.group {
                Some(kind) if !self.groups.contains_key(kind) => {
                    return fail("group", format!("no [groups.{kind}] section"));
                }
                None if !a.groups_of.is_empty() => {
                    return fail(
                        "group",
                        "groups_of needs the group kind, e.g. group = \"guild\"".into(),
                    );
                }
                _ => {}
            }
            if a.channels.is_empty() && a.groups_of.is_empty() {
                return fail("channels", "name channels, groups_of, or both".into());
            }
            for c in &a.channels {
                match realtime_core::ChannelName::new(c) {
                    Ok(name) if name.kind() != DM_KIND => {}
                    _ => {
                        return fail(
                            "channels",
                            format!("{c:?} is not a channel announcements can go to"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// `[notes]`: a pin rule on positions needs them; sizes are at least 1.
    fn validate_notes(&self) -> Result<(), (String, String)> {
        let fail = |k: &str, r: &str| Err((k.to_owned(), r.to_owned()));
        let n = &self.notes;
        match n.pin {
            PinRule::Player if self.players.is_none() => {
                return fail("notes.pin", "\"player\" needs a [players] section");
            }
            PinRule::OwnsTile | PinRule::Near if self.positions.is_empty() => {
                return fail(
                    "notes.pin",
                    "a pin rule on positions needs [[positions]] rules (and [torii])",
                );
            }
            _ => {}
        }
        for (key, value) in [
            ("notes.max_title_chars", n.max_title_chars as u64),
            ("notes.max_body_chars", n.max_body_chars as u64),
            ("notes.max_per_author", u64::from(n.max_per_author)),
            ("notes.max_expiry_secs", n.max_expiry_secs),
        ] {
            if value == 0 {
                return fail(key, "must be at least 1");
            }
        }
        if n.max_body_chars > 100_000 {
            return fail("notes.max_body_chars", "at most 100000");
        }
        Ok(())
    }
}
