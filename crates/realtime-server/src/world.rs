//! The on-chain side: the Torii follower feeding the projection, and the task that turns
//! projection changes into live permission changes on open connections.

use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use torii_plugin::projection::{Change, Projection};
use torii_plugin::sync::{self, SyncError, SyncStatus};

use crate::config::Config;

/// The projection and the follower's status, shared with every request.
#[derive(Debug, Clone)]
pub struct World {
    pub projection: Arc<RwLock<Projection>>,
    pub status: watch::Receiver<SyncStatus>,
    /// `[torii] max_stale`: how long the projection is trusted after Torii is lost.
    pub max_stale: std::time::Duration,
}

impl World {
    /// Why on-chain state cannot be relied on now, if it cannot: not synced yet, or not
    /// confirmed by Torii for longer than `max_stale`. Rules that depend on it fail closed.
    pub fn unavailable(&self) -> Option<String> {
        let status = self.status.borrow();
        if !status.synced {
            return Some("world state is still syncing from Torii".into());
        }
        match status.stale_for() {
            Some(age) if age > self.max_stale => Some(format!(
                "on-chain state is stale: Torii has been unreachable for {}s (torii.max_stale is {})",
                age.as_secs(),
                realtime_core::duration::format(self.max_stale)
            )),
            _ => None,
        }
    }
}

/// A started follower.
#[derive(Debug)]
pub struct Following {
    pub world: World,
    pub changes: mpsc::Receiver<Vec<Change>>,
    pub task: JoinHandle<Result<(), SyncError>>,
}

/// Starts following Torii when `[torii]` is configured.
pub fn start(config: &Config, shutdown: CancellationToken) -> Option<Following> {
    let torii = config.torii.clone()?;
    let projection = Arc::new(RwLock::new(Projection::new(config.world_rules())));
    let (tx, changes) = mpsc::channel(1024);
    let max_stale = torii.max_stale;
    let (status, task) = sync::spawn(torii, projection.clone(), tx, shutdown);
    Some(Following {
        world: World {
            projection,
            status,
            max_stale,
        },
        changes,
        task,
    })
}
