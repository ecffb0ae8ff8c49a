//! The publishing connection: sends what the committers announce, everything queued at once
//! as one pipeline (one round trip for many PUBLISH commands), so several committers and busy
//! channels share round trips instead of each waiting for its own.
//!
//! The queue in front of it is bounded and never waited on: a committer must not stall
//! because Redis is slow or gone. What does not fit, or is queued while Redis is down, is
//! dropped and counted; the messages are committed, and other instances read them from
//! storage (gap fill, head check).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::link::{Backoff, Link, Side};
use super::subscribe::{COMMAND_TIMEOUT, PING_EVERY};

/// Notices waiting for the publishing connection.
pub(super) const QUEUE_DEPTH: usize = 4096;
/// Most PUBLISH commands in one pipeline.
const PIPELINE_MAX: usize = 512;

/// One PUBLISH: the Redis channel and the payload.
#[derive(Debug)]
pub(super) struct Notice {
    pub key: String,
    pub payload: Vec<u8>,
}

pub(super) struct Publisher {
    pub client: redis::Client,
    pub link: Arc<Link>,
    pub queue: mpsc::Receiver<Notice>,
}

impl Publisher {
    /// Connects and sends, reconnecting with backoff, until `cancel` or until the broker is
    /// gone.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let started = Instant::now();
            let (error, connected) = tokio::select! {
                () = cancel.cancelled() => return,
                r = self.session() => match r {
                    Ok(()) => return,
                    Err(e) => e,
                },
            };
            self.link.down(Side::Publish, &error);
            let lived = if connected {
                started.elapsed()
            } else {
                Duration::ZERO
            };
            let delay = backoff.after(lived);
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            // Stale by now: storage has them, and the other instances' head checks read them.
            let mut stale = 0u64;
            while self.queue.try_recv().is_ok() {
                stale += 1;
            }
            self.link.dropped.fetch_add(stale, Ordering::Relaxed);
        }
    }

    /// One connection's life: `Ok` when the broker is gone, else the error and whether it
    /// had been connected.
    async fn session(&mut self) -> Result<(), (String, bool)> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let mut conn: MultiplexedConnection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| (e.to_string(), false))?;
        // A PING proves the server answers (not merely that a port accepted).
        ping(&mut conn).await.map_err(|e| (e, false))?;
        self.link.set_commands(Some(conn.clone()));
        self.link.up(Side::Publish);
        let mut batch = Vec::with_capacity(PIPELINE_MAX);
        loop {
            let got = tokio::select! {
                n = self.queue.recv_many(&mut batch, PIPELINE_MAX) => n,
                // An idle connection is checked, so the state shown is true before the next
                // message needs it.
                () = tokio::time::sleep(PING_EVERY) => {
                    ping(&mut conn).await.map_err(|e| (e, true))?;
                    continue;
                }
            };
            if got == 0 {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            for n in &batch {
                pipe.cmd("PUBLISH").arg(&n.key).arg(&n.payload).ignore();
            }
            let count = batch.len() as u64;
            batch.clear();
            let sent = super::metrics::timed(
                super::metrics::Op::Publish,
                pipe.query_async::<()>(&mut conn),
            );
            if let Err(e) = sent.await {
                self.link.dropped.fetch_add(count, Ordering::Relaxed);
                return Err((e.to_string(), true));
            }
            self.link.sent.fetch_add(count, Ordering::Relaxed);
        }
    }
}

async fn ping(conn: &mut MultiplexedConnection) -> Result<(), String> {
    redis::cmd("PING")
        .query_async::<redis::Value>(conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
