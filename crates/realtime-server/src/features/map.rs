//! The map over WebSocket: the `watch` op sets which map area (and/or which of the signed-in
//! address's own entities) a connection follows; [`crate::feed`] routes each on-chain update
//! and each change of a note pinned there to the watchers of its map cell. When the address
//! leaves a group on chain, the connection is told to drop that group's notes
//! (`notes_revoked`): it no longer receives them from that moment.

use std::collections::BTreeSet;

use realtime_core::{Address, ErrorCode};
use realtime_protocol::notes::NotesRevoked;
use realtime_protocol::reply::{WatchOk, encode_push};
use realtime_protocol::{ErrorBody, Op};

use crate::hub::ConnId;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, not_registered};
use crate::state::App;

/// The map feed feature.
#[derive(Debug, Default)]
pub struct MapFeed;

impl Feature for MapFeed {
    fn name(&self) -> &'static str {
        "map feed"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["watch"]
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Watching)
    }
}

/// A connection's watch lives in the feed itself (with the groups whose notes it was shown);
/// this only answers, re-checks and ends it, and costs a connection nothing.
struct Watching;

impl FeatureConn for Watching {
    fn handle<'a>(
        &'a mut self,
        conn: Conn<'a>,
        id: u64,
        op: Op,
    ) -> BoxFuture<'a, Result<(), ErrorBody>> {
        Box::pin(async move {
            match op {
                Op::Watch { area, mine } => {
                    watch(&conn, id, area, mine)?;
                    conn.app.world.feed.swap_groups(conn.id, groups_seen(&conn));
                    Ok(())
                }
                other => Err(not_registered("the map feed", &other)),
            }
        })
    }

    fn recheck(&mut self, conn: Conn<'_>) {
        let world = conn.app.world.permissions.world.as_ref();
        // While on-chain state cannot be relied on, nothing is revoked on a guess.
        if world.is_some_and(|w| w.unavailable().is_some()) {
            return;
        }
        let now = groups_seen(&conn);
        let before = conn.app.world.feed.swap_groups(conn.id, now.clone());
        for (kind, id) in before.difference(&now) {
            let group = format!("{kind}:{id}");
            tracing::info!(%group, "group notes revoked");
            conn.send(encode_push(
                "notes_revoked",
                &NotesRevoked {
                    reason: format!("you are no longer a member of {kind} {id}"),
                    group,
                },
            ));
        }
    }

    fn leave(&mut self, app: &App, id: ConnId, _who: Option<Address>) {
        app.world.feed.remove(id);
    }
}

fn watch(
    conn: &Conn<'_>,
    id: u64,
    area: Option<realtime_protocol::request::Area>,
    mine: bool,
) -> Result<(), ErrorBody> {
    let chain =
        conn.app.world.permissions.world.is_some() && !conn.app.config.feed.models.is_empty();
    if !chain && !conn.app.config.notes.enabled {
        return Err(ErrorBody::new(
            ErrorCode::NotFound,
            "this server has no map feed ([torii] and [feed] are not configured, notes are off)",
        ));
    }
    let max = conn.app.config.limits.max_watch_tiles;
    let rect = area.map(|a| crate::feed::check_area(a, max)).transpose()?;
    let owner = if mine { conn.address() } else { None };
    conn.app
        .world
        .feed
        .watch(conn.id, conn.queue.clone(), conn.address(), rect, owner);
    conn.reply_ok(id, &WatchOk { area, mine });
    Ok(())
}

/// The groups whose notes a watching connection is shown: the address's groups now, when
/// notes are on and it watches an area.
fn groups_seen(conn: &Conn<'_>) -> BTreeSet<(String, String)> {
    let watching = conn.app.world.feed.area_of(conn.id).is_some();
    match conn.address() {
        Some(who) if watching && conn.app.config.notes.enabled => conn
            .app
            .world
            .permissions
            .groups_of(who)
            .into_iter()
            .collect(),
        _ => BTreeSet::new(),
    }
}
