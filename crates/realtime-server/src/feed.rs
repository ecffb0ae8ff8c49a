//! The map feed: connections watch a map area (a tile rectangle) and/or their own entities,
//! and receive normalised updates of the `[feed]` models there, and the changes of the notes
//! pinned inside the area that they may see.
//!
//! Routing an update costs the number of interested watchers, not the number of
//! connections: areas are indexed in a grid of buckets, and an update looks only at the
//! buckets of its tile (and previous tile, so a watcher also learns that something left its
//! area), then at the owner's own watchers.
//!
//! An area is checked before anything is allocated for it ([`check_area`]): its size in
//! tiles, and the number of buckets it touches, which bounds what one watch costs in memory
//! and under the index lock. The bucket list is built before the lock is taken.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use realtime_core::hex::{Rect, Tile};
use realtime_core::{Address, ErrorCode};
use realtime_protocol::ErrorBody;
use realtime_protocol::push::{EntityUpdate, FeedReset, TileXY};
use realtime_protocol::reply::encode_push;
use realtime_protocol::request::Area;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use torii_plugin::projection::FeedUpdate;

use crate::hub::ConnId;
use crate::queue::SendQueue;

/// Side of a grid bucket, in tiles.
const BUCKET: u32 = 32;
pub use crate::config::MAX_WATCH_BUCKETS;

/// The rectangle a client asked to watch, if it is one and within the limits: `max_tiles`
/// tiles, [`MAX_WATCH_BUCKETS`] buckets. Sizes are computed without overflow for any corners.
pub fn check_area(a: Area, max_tiles: u64) -> Result<Rect, ErrorBody> {
    let bad = |m: String| ErrorBody::new(ErrorCode::BadRequest, m);
    let r = Rect::new(a.min_x, a.min_y, a.max_x, a.max_y).map_err(|e| bad(format!("area: {e}")))?;
    if r.area() > max_tiles {
        let tiles = if r.area() == u64::MAX {
            "more than 2^64".to_owned()
        } else {
            r.area().to_string()
        };
        return Err(bad(format!(
            "the area covers {tiles} tiles; at most {max_tiles} may be watched"
        )));
    }
    if r.cells(BUCKET) > MAX_WATCH_BUCKETS {
        return Err(bad(format!(
            "the area is {}×{} tiles and touches {} map cells of {BUCKET}×{BUCKET}; at most \
             {MAX_WATCH_BUCKETS} may be watched (watch a squarer area)",
            r.width(),
            r.height(),
            r.cells(BUCKET)
        )));
    }
    Ok(r)
}

#[derive(Debug)]
struct Watcher {
    queue: SendQueue,
    area: Option<Rect>,
    mine: Option<Address>,
    /// The signed-in address of the connection, for what only some may see (notes).
    viewer: Option<Address>,
    /// The groups whose notes the connection was last shown, to tell it which to drop when
    /// the address leaves one.
    groups: BTreeSet<(String, String)>,
}

#[derive(Debug, Default)]
struct Index {
    watchers: HashMap<ConnId, Watcher>,
    buckets: HashMap<(u32, u32), HashSet<ConnId>>,
    by_owner: HashMap<Address, HashSet<ConnId>>,
}

/// Who watches what.
#[derive(Debug, Default)]
pub struct Feed {
    index: Mutex<Index>,
}

/// The buckets of an area that passed [`check_area`].
fn buckets(r: Rect) -> impl Iterator<Item = (u32, u32)> {
    r.cell_coords(BUCKET)
}

fn bucket_of(t: Tile) -> (u32, u32) {
    (t.x / BUCKET, t.y / BUCKET)
}

/// The `entity` push of an update, encoded once for every watcher.
pub fn encode(u: &FeedUpdate) -> String {
    let tile = |t: Tile| TileXY { x: t.x, y: t.y };
    encode_push(
        "entity",
        &EntityUpdate {
            model: u.model.clone(),
            entity: realtime_core::address::full_hex(&u.entity),
            keys: u.keys.clone(),
            changed: u.changed.clone(),
            deleted: u.deleted,
            tile: u.tile.map(tile),
            previous_tile: u.previous_tile.map(tile),
            owner: u.owner.map(|a| a.to_string()),
        },
    )
}

impl Feed {
    fn lock(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets what `conn` (signed in as `viewer`) watches, replacing what it watched before.
    /// `area` has passed [`check_area`].
    pub fn watch(
        &self,
        conn: ConnId,
        queue: SendQueue,
        viewer: Option<Address>,
        area: Option<Rect>,
        mine: Option<Address>,
    ) {
        let cells: Vec<(u32, u32)> = area.map(|r| buckets(r).collect()).unwrap_or_default();
        let mut idx = self.lock();
        Self::remove_locked(&mut idx, conn);
        if area.is_none() && mine.is_none() {
            return;
        }
        for b in cells {
            idx.buckets.entry(b).or_default().insert(conn);
        }
        if let Some(a) = mine {
            idx.by_owner.entry(a).or_default().insert(conn);
        }
        idx.watchers.insert(
            conn,
            Watcher {
                queue,
                area,
                mine,
                viewer,
                groups: BTreeSet::new(),
            },
        );
    }

    /// Stops every watch of `conn`.
    pub fn remove(&self, conn: ConnId) {
        Self::remove_locked(&mut self.lock(), conn);
    }

    fn remove_locked(idx: &mut Index, conn: ConnId) {
        let Some(w) = idx.watchers.remove(&conn) else {
            return;
        };
        if let Some(r) = w.area {
            for b in buckets(r) {
                if let Some(set) = idx.buckets.get_mut(&b) {
                    set.remove(&conn);
                    if set.is_empty() {
                        idx.buckets.remove(&b);
                    }
                }
            }
        }
        if let Some(a) = w.mine
            && let Some(set) = idx.by_owner.get_mut(&a)
        {
            set.remove(&conn);
            if set.is_empty() {
                idx.by_owner.remove(&a);
            }
        }
    }

    /// Tells every watcher that updates were missed (the follower resynced after an outage)
    /// and its view should be reloaded.
    pub fn reset_all(&self) {
        let idx = self.lock();
        if idx.watchers.is_empty() {
            return;
        }
        let frame = Utf8Bytes::from(encode_push(
            "feed_reset",
            &FeedReset {
                reason: "on-chain updates were missed while reconnecting to the indexer; reload the watched area".into(),
            },
        ));
        for w in idx.watchers.values() {
            let _ = w.queue.push(frame.clone());
        }
    }

    /// The area `conn` watches, if any.
    pub fn area_of(&self, conn: ConnId) -> Option<Rect> {
        self.lock().watchers.get(&conn).and_then(|w| w.area)
    }

    /// Records `groups` as the groups whose notes `conn` is shown, and returns those it was
    /// shown before (none when it does not watch).
    pub fn swap_groups(
        &self,
        conn: ConnId,
        groups: BTreeSet<(String, String)>,
    ) -> BTreeSet<(String, String)> {
        match self.lock().watchers.get_mut(&conn) {
            Some(w) => std::mem::replace(&mut w.groups, groups),
            None => BTreeSet::new(),
        }
    }

    /// Delivers `frame` (a note change on `tile`) to the connections watching the tile whose
    /// viewer `sees`; returns how many received it. `sees` runs after the index is
    /// released, so it may take other locks.
    pub fn route_note(
        &self,
        tile: Tile,
        frame: &Utf8Bytes,
        sees: impl Fn(Option<Address>) -> bool,
    ) -> usize {
        let targets: Vec<(SendQueue, Option<Address>)> = {
            let idx = self.lock();
            let Some(set) = idx.buckets.get(&bucket_of(tile)) else {
                return 0;
            };
            set.iter()
                .map(|conn| &idx.watchers[conn])
                .filter(|w| w.area.is_some_and(|r| r.contains(tile)))
                .map(|w| (w.queue.clone(), w.viewer))
                .collect()
        };
        targets
            .into_iter()
            .filter(|(_, viewer)| sees(*viewer))
            .filter(|(queue, _)| queue.push(frame.clone()).is_ok())
            .count()
    }

    /// Watching connections.
    pub fn watchers(&self) -> usize {
        self.lock().watchers.len()
    }

    /// Delivers an update to every connection watching its tile, previous tile or owner.
    /// Returns how many received it.
    pub fn route(&self, u: &FeedUpdate) -> usize {
        let idx = self.lock();
        let mut targets: HashSet<ConnId> = HashSet::new();
        for t in [u.tile, u.previous_tile].into_iter().flatten() {
            if let Some(set) = idx.buckets.get(&bucket_of(t)) {
                for conn in set {
                    let inside = idx.watchers[conn].area.is_some_and(|r| r.contains(t));
                    if inside {
                        targets.insert(*conn);
                    }
                }
            }
        }
        for owner in [u.owner, u.previous_owner].into_iter().flatten() {
            if let Some(set) = idx.by_owner.get(&owner) {
                targets.extend(set.iter().copied());
            }
        }
        if targets.is_empty() {
            return 0;
        }
        let frame = Utf8Bytes::from(encode(u));
        for conn in &targets {
            // On overflow the queue closes the connection itself (4001).
            let _ = idx.watchers[conn].queue.push(frame.clone());
        }
        crate::metrics::get().messages_out(crate::metrics::Feature::Onchain, targets.len() as u64);
        targets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn update(
        tile: Option<(u32, u32)>,
        previous: Option<(u32, u32)>,
        owner: Option<Address>,
    ) -> FeedUpdate {
        FeedUpdate {
            model: "w-Unit".into(),
            entity: [1; 32],
            keys: Map::new(),
            changed: Map::new(),
            deleted: false,
            tile: tile.map(|(x, y)| Tile::new(x, y)),
            previous_tile: previous.map(|(x, y)| Tile::new(x, y)),
            owner,
            previous_owner: None,
        }
    }

    fn rect(min_x: u32, min_y: u32, max_x: u32, max_y: u32) -> Rect {
        Rect::new(min_x, min_y, max_x, max_y).unwrap()
    }

    fn area(min_x: u32, min_y: u32, max_x: u32, max_y: u32) -> Area {
        Area {
            min_x,
            min_y,
            max_x,
            max_y,
        }
    }

    #[test]
    fn the_whole_map_and_inverted_areas_are_refused() {
        let m = u32::MAX;
        for (a, why) in [
            (area(0, 0, m, m), "more than 2^64"),
            (area(0, 0, m, 0), "4294967296 tiles"),
            (area(0, 0, 0, m), "4294967296 tiles"),
            (area(10, 0, 9, 5), "min_x (10) is above max_x (9)"),
            (area(0, 10, 5, 9), "min_y (10) is above max_y (9)"),
            (area(0, 0, 65_535, 0), "touches 2048 map cells"),
        ] {
            let e = check_area(a, 65_536).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert!(e.message.contains(why), "{a:?}: {}", e.message);
        }
        assert!(check_area(area(m - 255, m - 255, m, m), 65_536).is_ok());
        assert!(check_area(area(0, 0, 255, 255), 65_536).is_ok());
    }

    /// Random corners over the whole `u32` range: an area passes exactly when it is a
    /// rectangle within both limits (checked in 128 bits), and a passing area's buckets are
    /// as many as it was allowed.
    #[test]
    fn property_area_checks_match_exact_arithmetic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let edges = [0, 1, 31, 32, 255, 256, 65_535, u32::MAX - 256, u32::MAX];
        let pick = |rng: &mut rand::rngs::StdRng, near: u32| match rng.random_range(0..3) {
            0 => edges[rng.random_range(0..edges.len())],
            1 => near.saturating_add(rng.random_range(0..600)),
            _ => rng.random(),
        };
        for _ in 0..20_000 {
            let (x0, y0) = (pick(&mut rng, 0), pick(&mut rng, 0));
            let (x1, y1) = (pick(&mut rng, x0), pick(&mut rng, y0));
            let max = [1u64, 4096, 65_536, 1 << 20][rng.random_range(0..4)];
            let result = check_area(area(x0, y0, x1, y1), max);
            let span = |lo: u32, hi: u32| u128::from(hi - lo) + 1;
            let expected = x0 <= x1
                && y0 <= y1
                && span(x0, x1) * span(y0, y1) <= u128::from(max)
                && span(x0 / 32, x1 / 32) * span(y0 / 32, y1 / 32) <= u128::from(MAX_WATCH_BUCKETS);
            assert_eq!(
                result.is_ok(),
                expected,
                "({x0},{y0})-({x1},{y1}) max {max}"
            );
            if let Ok(r) = result {
                assert!(buckets(r).count() as u64 <= MAX_WATCH_BUCKETS);
            }
        }
    }

    #[tokio::test]
    async fn areas_get_updates_inside_them_only() {
        let feed = Feed::default();
        let a = SendQueue::new(1 << 20);
        let b = SendQueue::new(1 << 20);
        feed.watch(1, a.clone(), None, Some(rect(0, 0, 9, 9)), None);
        feed.watch(2, b.clone(), None, Some(rect(100, 100, 140, 140)), None);
        assert_eq!(feed.route(&update(Some((5, 5)), None, None)), 1);
        assert_eq!(
            feed.route(&update(Some((10, 5)), None, None)),
            0,
            "same bucket, outside"
        );
        // Leaving the area is delivered too.
        assert_eq!(feed.route(&update(Some((50, 50)), Some((9, 9)), None)), 1);
        assert_eq!(feed.route(&update(Some((120, 139)), None, None)), 1);
        assert!(a.next_one().await.is_ok());
        assert!(a.next_one().await.is_ok());
        assert_eq!(a.queued_bytes(), 0);
        assert!(b.queued_bytes() > 0);
        // Moving the viewport replaces it.
        feed.watch(1, a.clone(), None, Some(rect(200, 200, 210, 210)), None);
        assert_eq!(feed.route(&update(Some((5, 5)), None, None)), 0);
        feed.remove(2);
        assert_eq!(feed.route(&update(Some((120, 139)), None, None)), 0);
    }

    #[tokio::test]
    async fn own_entities_reach_their_owner_anywhere() {
        let feed = Feed::default();
        let q = SendQueue::new(1 << 20);
        let me: Address = "0xa".parse().unwrap();
        feed.watch(1, q.clone(), Some(me), None, Some(me));
        assert_eq!(feed.route(&update(Some((9999, 9999)), None, Some(me))), 1);
        assert_eq!(
            feed.route(&update(Some((1, 1)), None, Some("0xb".parse().unwrap()))),
            0
        );
        // Both an area and ownership match: delivered once.
        feed.watch(1, q.clone(), Some(me), Some(rect(0, 0, 5, 5)), Some(me));
        assert_eq!(feed.route(&update(Some((1, 1)), None, Some(me))), 1);
        // Something that changed hands reaches the owner it left.
        let mut given = update(Some((9000, 9000)), None, Some("0xb".parse().unwrap()));
        given.previous_owner = Some(me);
        assert_eq!(feed.route(&given), 1);
    }
}
