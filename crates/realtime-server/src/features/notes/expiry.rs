//! The expiry sweep: notes leave every query the moment they expire (queries compare with
//! the clock); this task turns them into tombstones soon after, so that watchers get an
//! `expired` event and clients resuming with `sync` learn that they are gone.

use std::time::Duration;

use realtime_core::time::now_ms;
use realtime_protocol::notes::NoteEventKind;

use crate::state::App;

/// How often expired notes are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Most notes one sweep turns into tombstones; the rest wait for the next.
const SWEEP_BATCH: u32 = 200;

/// Sweeps until the server shuts down.
pub async fn run(app: App) {
    if !app.config.notes.enabled {
        return;
    }
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = app.shutdown.cancelled() => return,
        }
        match app.storage.store.expire_notes(now_ms(), SWEEP_BATCH).await {
            Ok(expired) => {
                for note in &expired {
                    tracing::debug!(note = note.id, "note expired");
                    super::announce(&app, note, NoteEventKind::Expired);
                }
            }
            Err(e) => tracing::warn!(error = %e, "note expiry sweep failed; retrying"),
        }
    }
}
