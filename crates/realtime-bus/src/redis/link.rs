//! The state of the two Redis connections (one publishes, one subscribes), their counters,
//! reconnect delays and rate-limited warnings. Shared by the broker and its two tasks.
//!
//! The publishing connection is multiplexed: while it is up, a clone of it is kept here so
//! the cluster-wide state (rate limits, presence, connection counts) sends its commands over
//! the same connection, reconnected by the same task, instead of a second one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use crate::{BusState, BusStatus};

/// First delay before reconnecting; doubled after each failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest delay between attempts: bounds how long live fan-out stays off after Redis is
/// back.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection that lived this long was healthy: the next loss starts again from
/// [`BACKOFF_MIN`].
const STABLE: Duration = Duration::from_secs(10);
/// While Redis stays unreachable, the same warning is repeated at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);

const CONNECTING: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Which connection a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Publish,
    Subscribe,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Publish => "publish",
            Side::Subscribe => "subscribe",
        }
    }
}

#[derive(Default)]
pub(super) struct Link {
    publish: AtomicU8,
    subscribe: AtomicU8,
    pub reconnects: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
    warned: Mutex<Option<Instant>>,
    /// The publishing connection while it is up, for commands of the shared state.
    commands: Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("state", &self.status().state)
            .finish_non_exhaustive()
    }
}

impl Link {
    fn side(&self, side: Side) -> &AtomicU8 {
        match side {
            Side::Publish => &self.publish,
            Side::Subscribe => &self.subscribe,
        }
    }

    /// Shares the publishing connection (set when it is up, cleared when it is lost).
    pub fn set_commands(&self, conn: Option<MultiplexedConnection>) {
        *self.commands.lock().unwrap_or_else(|p| p.into_inner()) = conn;
    }

    /// A handle on the publishing connection, if it is up.
    pub fn commands(&self) -> Option<MultiplexedConnection> {
        if !self.is_up(Side::Publish) {
            return None;
        }
        self.commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn is_up(&self, side: Side) -> bool {
        self.side(side).load(Ordering::Acquire) == UP
    }

    /// The connection of `side` is (again) usable.
    pub fn up(&self, side: Side) {
        let before = self.side(side).swap(UP, Ordering::AcqRel);
        if before == DOWN {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(connection = side.name(), "redis connection restored");
        } else if before == CONNECTING {
            tracing::info!(connection = side.name(), "redis connected");
        }
    }

    /// The connection of `side` failed or could not be made.
    pub fn down(&self, side: Side, error: &str) {
        if side == Side::Publish {
            self.set_commands(None);
        }
        let before = self.side(side).swap(DOWN, Ordering::AcqRel);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_owned());
        if before == UP {
            // A loss is news every time; retries that keep failing are repeated only now and then.
            tracing::warn!(
                connection = side.name(),
                %error,
                "redis connection lost; live delivery between instances falls back to storage \
                 head checks while reconnecting"
            );
        } else {
            self.warn_now_and_then(side, error);
        }
    }

    /// Logs that Redis is still unreachable, at most once per [`WARN_EVERY`].
    pub fn warn_now_and_then(&self, side: Side, error: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        *warned = Some(Instant::now());
        drop(warned);
        tracing::warn!(
            connection = side.name(),
            %error,
            dropped = self.dropped.load(Ordering::Relaxed),
            "redis unreachable; retrying"
        );
    }

    pub fn status(&self) -> BusStatus {
        let (p, s) = (
            self.publish.load(Ordering::Acquire),
            self.subscribe.load(Ordering::Acquire),
        );
        let state = if p == UP && s == UP {
            BusState::Connected
        } else if p == DOWN || s == DOWN {
            BusState::Disconnected
        } else {
            BusState::Connecting
        };
        BusStatus {
            state,
            reconnects: self.reconnects.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// Delays between reconnect attempts: exponential with jitter, so instances that lost Redis
/// together do not all knock at once when it returns.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: BACKOFF_MIN }
    }
}

impl Backoff {
    /// The delay before the next attempt, after a connection that lived `lived` (zero when
    /// none was made).
    pub fn after(&mut self, lived: Duration) -> Duration {
        if lived >= STABLE {
            self.next = BACKOFF_MIN;
        }
        let base = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        // Between half and all of the base delay.
        base.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_cap_and_reset_after_a_stable_connection() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = (0..10).map(|_| b.after(Duration::ZERO)).collect();
        assert!(delays[0] >= BACKOFF_MIN / 2 && delays[0] <= BACKOFF_MIN);
        assert!(delays.iter().all(|d| *d <= BACKOFF_MAX));
        assert!(delays[9] >= BACKOFF_MAX / 2, "{delays:?}");
        assert!(b.after(STABLE) <= BACKOFF_MIN);
    }

    #[test]
    fn the_state_joins_both_connections() {
        let link = Link::default();
        assert_eq!(link.status().state, BusState::Connecting);
        link.up(Side::Publish);
        assert_eq!(link.status().state, BusState::Connecting);
        link.up(Side::Subscribe);
        assert_eq!(link.status().state, BusState::Connected);
        link.down(Side::Subscribe, "connection refused");
        let s = link.status();
        assert_eq!(s.state, BusState::Disconnected);
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        link.up(Side::Subscribe);
        let s = link.status();
        assert_eq!((s.state, s.reconnects), (BusState::Connected, 1));
    }
}
