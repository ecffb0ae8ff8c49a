//! The retention job: every `retention.interval` it removes what `[retention]` no longer
//! keeps: the messages of channels with a rule (by age or by count, oldest first, raising
//! each channel's trim point), note tombstones older than `retention.note_tombstones`, and
//! expired sign-in nonces.
//!
//! It never holds up publishing for long: each transaction removes at most
//! `retention.batch` rows, and the job pauses after each one, so publishes waiting for the
//! database (SQLite has a single writer) go in between. Channels are listed in pages with
//! their oldest message, and only those with something due are touched. A failed round is
//! logged and the next one starts over: removing is idempotent, and a trim point only rises.
//!
//! With several instances, the one that posts announcements ([`crate::leader`]) runs it and
//! the others skip their rounds, sparing the database the same reads; two running at once
//! during a handover remove nothing twice.

use std::time::Duration;

use realtime_core::time::now_ms;
use realtime_store::{StoreError, StoredChannel, Trim};

use crate::config::RetentionConfig;
use crate::state::{App, AppState};

/// Channels listed per query.
const LIST_PAGE: u32 = 500;

/// The pause after each transaction that removed something, leaving the database to
/// publishers meanwhile.
const PAUSE: Duration = Duration::from_millis(5);

/// What one round removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Removed {
    messages: u64,
    channels: u64,
    tombstones: u64,
    nonces: u64,
}

/// Runs rounds until the server shuts down; the first at once.
pub async fn run(app: App) {
    let mut tick = tokio::time::interval(app.config.retention.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = app.shutdown.cancelled() => return,
        }
        if !app.delivery.leader.is_leader() {
            continue;
        }
        match round(&app).await {
            Ok(r) if r == Removed::default() => tracing::debug!("retention: nothing due"),
            Ok(r) => tracing::info!(
                messages = r.messages,
                channels = r.channels,
                note_tombstones = r.tombstones,
                nonces = r.nonces,
                "retention removed what is no longer kept"
            ),
            Err(e) => tracing::warn!(error = %e, "retention round failed; retrying next round"),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What `config` removes from `channel` at `now`, if anything is due (judged from the
/// listing, without reading the channel's messages).
fn due(config: &RetentionConfig, channel: &StoredChannel, now: i64) -> Option<Trim> {
    let rule = config.rule_for(&channel.name)?;
    let trim = Trim {
        older_than_ms: rule.max_age.map(|age| now.saturating_sub(millis(age))),
        keep: rule.max_messages,
        batch: config.batch,
    };
    let stored = channel.last_seq.saturating_sub(channel.trimmed_to);
    let over_count = trim.keep.is_some_and(|keep| stored > keep);
    let too_old = matches!(
        (trim.older_than_ms, channel.oldest_at_ms),
        (Some(cutoff), Some(oldest)) if oldest < cutoff
    );
    (over_count || too_old).then_some(trim)
}

/// One pass over everything; returns early, keeping what it did, at shutdown.
async fn round(app: &AppState) -> Result<Removed, StoreError> {
    let config = &app.config.retention;
    let store = &app.storage.store;
    let now = now_ms();
    let mut removed = Removed::default();
    if config.trims_messages() {
        let mut after = None;
        loop {
            let page = store.list_channels(after, LIST_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for channel in &page {
                let Some(trim) = due(config, channel, now) else {
                    continue;
                };
                let mut trimmed = 0;
                loop {
                    if app.shutdown.is_cancelled() {
                        return Ok(removed);
                    }
                    let n = store.trim_channel(channel.id, trim).await?;
                    trimmed += n;
                    if n > 0 {
                        tokio::time::sleep(PAUSE).await;
                    }
                    if n < u64::from(trim.batch) {
                        break;
                    }
                }
                if trimmed > 0 {
                    tracing::debug!(channel = %channel.name, removed = trimmed, "channel trimmed");
                    removed.messages += trimmed;
                    removed.channels += 1;
                }
            }
            if page.len() < LIST_PAGE as usize {
                break;
            }
        }
    }
    let before = now.saturating_sub(millis(config.note_tombstones));
    loop {
        if app.shutdown.is_cancelled() {
            return Ok(removed);
        }
        let n = store.purge_note_tombstones(before, config.batch).await?;
        removed.tombstones += n;
        if n < u64::from(config.batch) {
            break;
        }
        tokio::time::sleep(PAUSE).await;
    }
    removed.nonces = store.purge_nonces(now).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetentionRule;

    fn channel(name: &str, last_seq: u64, trimmed_to: u64, oldest: Option<i64>) -> StoredChannel {
        let id = realtime_store::ChannelId::default();
        StoredChannel {
            id,
            name: name.into(),
            last_seq,
            trimmed_to,
            oldest_at_ms: oldest,
        }
    }

    #[test]
    fn only_channels_with_something_due_are_trimmed() {
        let mut config = RetentionConfig::default();
        config.channels.insert(
            "world".into(),
            RetentionRule {
                max_age: None,
                max_messages: Some(100),
            },
        );
        config.channels.insert(
            "guild".into(),
            RetentionRule {
                max_age: Some(Duration::from_secs(60)),
                max_messages: None,
            },
        );
        let now = 1_000_000;
        // By count: 150 stored of which 50 trimmed already leaves 100.
        assert!(due(&config, &channel("world", 150, 50, Some(0)), now).is_none());
        let trim = due(&config, &channel("world", 150, 49, Some(0)), now).unwrap();
        assert_eq!(
            (trim.keep, trim.older_than_ms, trim.batch),
            (Some(100), None, 500)
        );
        // By age: the oldest kept message against now - 60 s.
        assert!(due(&config, &channel("guild:1", 5, 0, Some(940_000)), now).is_none());
        let trim = due(&config, &channel("guild:1", 5, 0, Some(939_999)), now).unwrap();
        assert_eq!(trim.older_than_ms, Some(940_000));
        assert!(due(&config, &channel("guild:1", 5, 5, None), now).is_none());
        // No rule: never.
        assert!(due(&config, &channel("zone:1", 1_000_000, 0, Some(0)), now).is_none());
    }
}
