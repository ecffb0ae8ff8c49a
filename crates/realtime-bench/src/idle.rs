//! Idle connections: N clients signed in and subscribed (spread over some channels), then
//! nothing. The server's resident memory grows by what it keeps per idle connection.

use std::time::Duration;

use crate::clients::{self, join_many};
use crate::procfs;
use crate::servers::Server;

#[derive(Debug)]
pub struct Outcome {
    pub connections: usize,
    pub rss_before: u64,
    pub rss_after: u64,
}

impl Outcome {
    pub fn per_connection(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.connections.max(1) as f64
    }
}

/// How long connections sit idle before memory is read.
const SETTLE: Duration = Duration::from_secs(3);

pub async fn run(
    server: &Server,
    connections: usize,
    channels: usize,
    run: &str,
) -> Result<Outcome, String> {
    let pid = server.pid();
    let rss_before = procfs::rss(pid).unwrap_or(0);
    let clients = join_many(
        server.target,
        0,
        connections,
        256,
        |k| clients::room(run, k % channels),
        None,
    )
    .await
    .map_err(|e| format!("idle connections: {e}"))?;
    tokio::time::sleep(SETTLE).await;
    let rss_after = procfs::rss(pid).unwrap_or(0);
    drop(clients);
    Ok(Outcome {
        connections,
        rss_before,
        rss_after,
    })
}
