//! Posting on-chain announcements: the leader ([`crate::leader`]) posts what the Torii
//! follower prepared; the other instances keep it, for twice `bus.lease_ttl`, and post it if
//! they take over. A leader that died after a change but before posting it so leaves that
//! change to its successor; what the old leader did post is stored once, since the message
//! id is the change's.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::announcer::Prepared;
use crate::state::App;

/// Most announcements a non-leader keeps for a takeover.
const HELD_MAX: usize = 10_000;
/// Announcements waiting between the Torii follower and the poster.
pub const QUEUE: usize = 1024;

/// Posts what the follower prepared while this instance leads; otherwise keeps it for
/// `2 × bus.lease_ttl` and posts it on taking over. Ends when the follower does.
pub async fn post_announcements(app: App, mut prepared: mpsc::Receiver<Prepared>) {
    let mut leading = app.delivery.leader.watch();
    let mut watching = true;
    let keep = app.config.bus.lease_ttl * 2;
    let mut held: VecDeque<(Instant, Prepared)> = VecDeque::new();
    loop {
        tokio::select! {
            next = prepared.recv() => {
                let Some(p) = next else { return };
                if app.delivery.leader.is_leader() {
                    p.post(&app.delivery.publisher).await;
                } else {
                    hold(&mut held, p, keep);
                }
            }
            changed = leading.changed(), if watching => {
                if changed.is_err() {
                    // The lease was released: shutting down.
                    watching = false;
                    continue;
                }
                let now_leading = *leading.borrow_and_update();
                if now_leading && !held.is_empty() {
                    prune(&mut held, keep);
                    tracing::info!(
                        count = held.len(),
                        "took over announcements: posting those seen while another instance led"
                    );
                    for (_, p) in held.drain(..) {
                        p.post(&app.delivery.publisher).await;
                    }
                }
            }
        }
    }
}

fn hold(held: &mut VecDeque<(Instant, Prepared)>, p: Prepared, keep: Duration) {
    prune(held, keep);
    if held.len() >= HELD_MAX {
        held.pop_front();
    }
    held.push_back((Instant::now(), p));
}

/// Drops what is older than `keep`: a leader that died with it unposted left the lease free
/// within a TTL, so any instance that took over since held it too and posted it.
fn prune(held: &mut VecDeque<(Instant, Prepared)>, keep: Duration) {
    while held.front().is_some_and(|(at, _)| at.elapsed() > keep) {
        held.pop_front();
    }
}
