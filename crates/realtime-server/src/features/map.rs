//! On-chain updates over WebSocket: the `watch` op sets which map area (and/or which of the
//! signed-in address's own entities) a connection follows; [`crate::feed`] routes each update
//! to the watchers of its map cell.

use realtime_core::ErrorCode;
use realtime_protocol::reply::WatchOk;
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

/// A connection's watch lives in the feed itself; this only ends it.
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
                Op::Watch { area, mine } => watch(&conn, id, area, mine),
                other => Err(not_registered("the map feed", &other)),
            }
        })
    }

    fn leave(&mut self, app: &App, id: ConnId) {
        app.world.feed.remove(id);
    }
}

fn watch(
    conn: &Conn<'_>,
    id: u64,
    area: Option<realtime_protocol::request::Area>,
    mine: bool,
) -> Result<(), ErrorBody> {
    if conn.app.world.permissions.world.is_none() || conn.app.config.feed.models.is_empty() {
        return Err(ErrorBody::new(
            ErrorCode::NotFound,
            "this server has no on-chain feed ([torii] and [feed] are not configured)",
        ));
    }
    let max = conn.app.config.limits.max_watch_tiles;
    let rect = area.map(|a| crate::feed::check_area(a, max)).transpose()?;
    let owner = if mine { conn.address() } else { None };
    conn.app
        .world
        .feed
        .watch(conn.id, conn.queue.clone(), rect, owner);
    conn.reply_ok(id, &WatchOk { area, mine });
    Ok(())
}
