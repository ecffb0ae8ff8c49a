//! Who may read or post on a channel, decided from configuration and, through the Torii
//! projection, from on-chain state.
//!
//! - A channel whose kind is a `[groups.NAME]` name (`guild:0x61`) is open to the members of
//!   that group only; its id is put in canonical form first, so `guild:0x0061` and
//!   `guild:0x61` are one channel.
//! - Otherwise `[channels.FULL_NAME]`, then `[channels.KIND]`, gives the read and post
//!   policies; a channel matching neither does not exist.
//! - With no `[channels]` and no `[groups]` at all, every channel is open to signed-in
//!   addresses (the zero-configuration default).

use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::ErrorBody;
use torii_plugin::projection::Projection;
use torii_plugin::rules::Policy;

use crate::state::AppState;

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

/// The canonical spelling of a group id: felts as minimal lower-case hex.
fn canonical_id(id: &str) -> String {
    match id.parse::<Address>() {
        Ok(a) => a.to_short_hex(),
        Err(_) => id.to_owned(),
    }
}

/// The channel name to use for `channel`: group channels get their canonical id.
pub fn canonical(app: &AppState, channel: ChannelName) -> ChannelName {
    let kind = channel.kind();
    if !app.config.groups.contains_key(kind) {
        return channel;
    }
    let Some((_, id)) = channel.as_str().split_once(':') else {
        return channel;
    };
    let canonical = format!("{kind}:{}", canonical_id(id));
    ChannelName::new(&canonical).unwrap_or(channel)
}

fn forbidden(channel: &ChannelName, action: Action, why: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Forbidden,
        format!("you may not {} {channel}: {why}", action.verb()),
    )
}

/// Runs `f` on the projection once the first sync is done, while it is not stale.
fn with_world<T>(app: &AppState, f: impl FnOnce(&Projection) -> T) -> Result<T, ErrorBody> {
    let world = app.world.as_ref().ok_or_else(|| {
        ErrorBody::new(
            ErrorCode::Internal,
            "world rules are configured without [torii]",
        )
    })?;
    if let Some(why) = world.unavailable() {
        return Err(ErrorBody::new(
            ErrorCode::Unavailable,
            format!("{why}; retry shortly"),
        ));
    }
    let projection = world.projection.read().unwrap_or_else(|p| p.into_inner());
    Ok(f(&projection))
}

/// Whether `who` (`None`: not signed in) may do `action` on `channel`.
pub fn check(
    app: &AppState,
    who: Option<Address>,
    channel: &ChannelName,
    action: Action,
) -> Result<(), ErrorBody> {
    let config = &app.config;
    let kind = channel.kind();
    if config.groups.contains_key(kind) {
        let Some((_, id)) = channel.as_str().split_once(':') else {
            return Err(ErrorBody::new(
                ErrorCode::NotFound,
                format!("{kind} channels are named {kind}:ID"),
            ));
        };
        let who = who.ok_or_else(|| ErrorBody::new(ErrorCode::Unauthorized, "sign in first"))?;
        let member = with_world(app, |p| p.is_member(kind, id, who))?;
        return if member {
            Ok(())
        } else {
            Err(forbidden(
                channel,
                action,
                &format!("only members of {kind} {id} may"),
            ))
        };
    }
    let rule = config
        .channels
        .get(channel.as_str())
        .or_else(|| config.channels.get(kind));
    let policy = match rule {
        Some(rule) => match action {
            Action::Read => &rule.read,
            Action::Post => &rule.post,
        },
        None if config.channels.is_empty() && config.groups.is_empty() => &Policy::Authenticated,
        None => {
            return Err(ErrorBody::new(
                ErrorCode::NotFound,
                format!("there is no channel {channel}"),
            ));
        }
    };
    allowed(app, who, policy).map_err(|why| match why {
        Denied::NotSignedIn => ErrorBody::new(ErrorCode::Unauthorized, "sign in first"),
        Denied::Because(why) => forbidden(channel, action, &why),
        Denied::Error(e) => e,
    })
}

enum Denied {
    NotSignedIn,
    Because(String),
    Error(ErrorBody),
}

fn allowed(app: &AppState, who: Option<Address>, policy: &Policy) -> Result<(), Denied> {
    if *policy == Policy::Anyone {
        return Ok(());
    }
    let who = who.ok_or(Denied::NotSignedIn)?;
    let ok = match policy {
        Policy::Anyone | Policy::Authenticated => true,
        Policy::Admin => app.config.auth.admins.contains(&who),
        Policy::Player => with_world(app, |p| p.is_player(who)).map_err(Denied::Error)?,
        Policy::Group(g) => with_world(app, |p| p.in_any_group(g, who)).map_err(Denied::Error)?,
    };
    if ok {
        Ok(())
    } else {
        Err(Denied::Because(match policy {
            Policy::Admin => "admins only".into(),
            Policy::Player => "players only".into(),
            Policy::Group(g) => format!("members of a {g} only"),
            _ => String::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_id;

    #[test]
    fn group_ids_have_one_spelling() {
        assert_eq!(canonical_id("0x0061"), "0x61");
        assert_eq!(canonical_id("0x61"), "0x61");
        assert_eq!(canonical_id("42"), "42");
    }
}
