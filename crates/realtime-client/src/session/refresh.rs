//! In-band refresh: a live connection is extended with a fresh token before the server
//! closes it with 4402, so a session outlives its tokens without dropping its subscriptions
//! or replaying what they missed. A refresh that fails costs nothing more than before: the
//! close comes, and the session reconnects with a fresh token.

use std::convert::Infallible;
use std::time::Duration;

use realtime_core::time::{now_ms, parse_rfc3339_ms};
use tokio::sync::mpsc;

use super::{SessionEvent, TokenSource};
use crate::Client;

/// The share of the remaining lifetime waited before refreshing: late enough that the token
/// source is asked rarely, early enough that a slow source or a lost reply leaves time for
/// another try.
const REFRESH_AT: f64 = 0.8;

/// The shortest wait before a refresh, so a token source that hands out nearly expired
/// tokens, or a clock running ahead of the server's, cannot start a tight loop.
const MIN_REFRESH_DELAY: Duration = Duration::from_secs(1);

/// How long to wait before refreshing a session that expires at `expires_at_ms`, seen at
/// `now_ms` (milliseconds since the epoch). `None` when no refresh could arrive in time: the
/// 4402 close and a reconnect take over.
fn refresh_delay(expires_at_ms: i64, now_ms: i64) -> Option<Duration> {
    let left = Duration::from_millis(u64::try_from(expires_at_ms.saturating_sub(now_ms)).ok()?);
    (left > MIN_REFRESH_DELAY).then(|| left.mul_f64(REFRESH_AT).max(MIN_REFRESH_DELAY))
}

/// Refreshes `client`'s session before each expiry, from `expires_at` (the `connected`
/// push's) on. Never returns: it ends when the caller drops it with the connection. A
/// failed attempt is tried again from the same expiry while there is time. `current` is the
/// token in use: the source giving it again (a fixed token) cannot extend anything, so it
/// is not sent.
pub(super) async fn keep_fresh(
    client: &Client,
    source: &TokenSource,
    mut current: String,
    mut expires_at: String,
    tx: &mpsc::Sender<SessionEvent>,
) -> Infallible {
    loop {
        let Some(delay) = parse_rfc3339_ms(&expires_at).and_then(|at| refresh_delay(at, now_ms()))
        else {
            // Too late to refresh: the 4402 close brings a reconnect with a fresh token.
            return std::future::pending().await;
        };
        tokio::time::sleep(delay).await;
        let Ok(fresh) = source().await else {
            continue;
        };
        if fresh == current {
            continue;
        }
        let Ok(ok) = client.refresh(&fresh).await else {
            continue;
        };
        current = fresh;
        expires_at = ok.expires_at;
        let _ = tx
            .send(SessionEvent::Refreshed {
                expires_at: expires_at.clone(),
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    #[test]
    fn refreshes_at_four_fifths_of_what_is_left() {
        let now = 1_764_000_000_000;
        assert_eq!(
            refresh_delay(now + 86_400 * S, now),
            Some(Duration::from_secs(69_120))
        );
        assert_eq!(
            refresh_delay(now + 3 * S, now),
            Some(Duration::from_millis(2400))
        );
    }

    #[test]
    fn never_sooner_than_a_second() {
        let now = 1_764_000_000_000;
        assert_eq!(refresh_delay(now + 1100, now), Some(MIN_REFRESH_DELAY));
        assert_eq!(refresh_delay(now + 1250, now), Some(MIN_REFRESH_DELAY));
    }

    #[test]
    fn leaves_it_to_the_reconnect_when_too_late() {
        let now = 1_764_000_000_000;
        assert_eq!(refresh_delay(now + S, now), None);
        assert_eq!(refresh_delay(now + 500, now), None);
        assert_eq!(refresh_delay(now, now), None);
        assert_eq!(refresh_delay(now - 5 * S, now), None);
        assert_eq!(refresh_delay(i64::MIN, i64::MAX), None);
    }

    #[test]
    fn a_far_expiry_does_not_overflow() {
        assert!(refresh_delay(i64::MAX, 0).is_some_and(|d| d > Duration::from_secs(1 << 40)));
    }
}
