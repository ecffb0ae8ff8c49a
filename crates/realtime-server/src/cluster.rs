//! State shared with the other instances when the bus is shared (`[bus] kind = "redis"`):
//! presence, per-address connection counts and "is this address online". Each instance
//! keeps its own sockets in memory (the truth for them) and, once a second, writes what
//! changed to the shared store and reads who is present through the others ([`run`]); every
//! entry is refreshed every [`REFRESH_EVERY`] and expires after [`ENTRY_TTL`], so the members
//! and connections of an instance that dies without a word leave by themselves.
//!
//! With the in-process bus there is no shared state and everything here answers from this
//! instance's memory. When the shared store cannot be reached the answers fall back to it
//! too (fail open): a connection over the per-address cap of the cluster may then be let in,
//! and presence shows the last view of the others until their entries would have expired.
//!
//! Revocations: what is revoked on chain (`permission_revoked`, `notes_revoked`) follows
//! on-chain changes, which every instance reads from Torii itself, so each instance revokes
//! on its own sockets with no message between instances. Moderator decisions (bans, revoked
//! sessions) travel as control notices on the bus (`features::moderation::control`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use realtime_bus::SharedState;
pub use realtime_bus::cluster::{ENTRY_TTL, REFRESH_EVERY};
use realtime_core::{Address, ChannelName};
use realtime_protocol::social::PresenceSnapshot;

use crate::presence::LIST_MAX;
use crate::state::{App, AppState};

/// How often changes are written and the others' presence read.
const ROUND_EVERY: Duration = Duration::from_secs(1);
/// While the shared store stays unreachable, the same warning is repeated at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Writes this instance's presence and connections and reads the others', until shutdown.
pub async fn run(app: App, shared: Arc<dyn SharedState>) {
    let mut tick = tokio::time::interval(ROUND_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every = (REFRESH_EVERY.as_secs_f64() / ROUND_EVERY.as_secs_f64()).ceil() as u64;
    let mut n: u64 = 0;
    let mut failing: Option<Instant> = None;
    let mut warned: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = app.shutdown.cancelled() => return,
        }
        // After a failure everything is written again: the changes of that round are lost.
        let full = n.is_multiple_of(every) || failing.is_some();
        n += 1;
        let round = app.conns.presence.round(full);
        let connections = if full {
            app.conns.registry.connections()
        } else {
            Vec::new()
        };
        let shared_round = realtime_bus::Round {
            present: names(&round.present),
            left: names(&round.left),
            read: round.rooms.iter().map(ToString::to_string).collect(),
            connections: connections
                .into_iter()
                .map(|(a, conns)| (a.to_short_hex(), conns))
                .collect(),
        };
        match shared.sync(shared_round).await {
            Ok(mut views) => {
                if failing.take().is_some() {
                    tracing::info!("shared presence restored");
                }
                for channel in &round.rooms {
                    let remote = views
                        .remove(channel.as_str())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|a| a.parse().ok())
                        .collect();
                    app.conns.presence.set_remote(channel, remote);
                }
            }
            Err(e) => {
                let since = *failing.get_or_insert_with(Instant::now);
                if warned.is_none_or(|w| w.elapsed() >= WARN_EVERY) {
                    warned = Some(Instant::now());
                    tracing::warn!(error = %e, "cannot update shared presence; showing this instance's view");
                }
                // The others' entries would have expired by now: stop showing them.
                if since.elapsed() >= ENTRY_TTL {
                    for channel in &round.rooms {
                        app.conns.presence.set_remote(channel, HashSet::new());
                    }
                }
            }
        }
    }
}

fn names(list: &[(ChannelName, Vec<Address>)]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(c, a)| (c.to_string(), a.iter().map(|a| a.to_short_hex()).collect()))
        .collect()
}

/// Who is present in `channel` across instances: the shared store's view joined with this
/// instance's sockets (which it may not show yet), or this instance's view alone without one.
pub async fn snapshot(app: &AppState, channel: &ChannelName) -> PresenceSnapshot {
    let presence = &app.conns.presence;
    let Some(shared) = &app.conns.shared else {
        return presence.snapshot_of(channel);
    };
    let mut all: Vec<Address> = match shared.present(channel.as_str()).await {
        Ok(list) => list.iter().filter_map(|a| a.parse().ok()).collect(),
        Err(_) => return presence.snapshot_of(channel),
    };
    all.extend(presence.local(channel));
    all.sort();
    all.dedup();
    let count = all.len();
    all.truncate(LIST_MAX);
    PresenceSnapshot {
        count: count as u64,
        complete: all.len() == count,
        members: all.iter().map(ToString::to_string).collect(),
    }
}

/// Which of `addresses` have a connection open on any instance.
pub async fn online(app: &AppState, addresses: &[Address]) -> HashSet<Address> {
    let registry = &app.conns.registry;
    let (mut here, elsewhere): (Vec<Address>, Vec<Address>) =
        addresses.iter().partition(|a| registry.is_online(**a));
    if let Some(shared) = &app.conns.shared
        && !elsewhere.is_empty()
    {
        let names: Vec<String> = elsewhere.iter().map(|a| a.to_short_hex()).collect();
        if let Ok(found) = shared.online(&names).await {
            here.extend(
                elsewhere
                    .iter()
                    .zip(found)
                    .filter(|(_, on)| *on)
                    .map(|(a, _)| *a),
            );
        }
    }
    here.into_iter().collect()
}

/// A connection counted in the shared store; dropping it removes the entry.
pub struct SharedSlot {
    shared: Arc<dyn SharedState>,
    address: String,
    conn: u64,
}

impl std::fmt::Debug for SharedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSlot")
            .field("address", &self.address)
            .field("conn", &self.conn)
            .finish()
    }
}

impl Drop for SharedSlot {
    fn drop(&mut self) {
        self.shared.release(&self.address, self.conn);
    }
}

/// Counts connection `conn` of `who` across instances under `max`. `Err` when the address
/// has `max` open already; `Ok(None)` without a shared store, or when it cannot be reached
/// (fail open: this instance's own cap still holds).
pub async fn claim(
    app: &AppState,
    who: Address,
    conn: u64,
    max: usize,
) -> Result<Option<SharedSlot>, ()> {
    let Some(shared) = &app.conns.shared else {
        return Ok(None);
    };
    let address = who.to_short_hex();
    match shared.claim(&address, conn, max).await {
        Ok(true) => Ok(Some(SharedSlot {
            shared: shared.clone(),
            address,
            conn,
        })),
        Ok(false) => Err(()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot count connections across instances; counting this instance's only");
            Ok(None)
        }
    }
}
