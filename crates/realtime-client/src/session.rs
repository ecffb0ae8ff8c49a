//! A client that stays connected: [`Session`] reconnects after any drop, with full-jitter
//! exponential backoff, asks its token source for a token on every connection (so an expired
//! session comes back with a fresh one), subscribes again to every channel from the last seq
//! it delivered (the server replays what was missed), sets its map watch again, and delivers
//! each message once, in order. A publish gets its client message id once and keeps it
//! through retries, so a publish whose reply was lost to a drop is stored once.
//!
//! An expiring token would otherwise cost a 4402 close, a reconnect and a replay, so the
//! session refreshes in band: at about four fifths of the remaining lifetime, and never
//! sooner than a second, it asks its token source for a fresh token and sends `refresh` on
//! the live connection ([`SessionEvent::Refreshed`]). When that fails (the source errs, the
//! server refuses the token, or too little time is left), the 4402 close still leads to a
//! reconnect with a fresh token.
//!
//! What the server says cannot be fixed by reconnecting (a token refused with a fresh one,
//! a protocol this client does not speak) stops the session with [`SessionEvent::Stopped`].

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use realtime_protocol::push::Push;
use realtime_protocol::reply::PublishOk;
use realtime_protocol::request::Area;
use realtime_protocol::{CloseCode, ErrorCode};
use tokio::sync::{mpsc, watch};

use crate::{Auth, Client, ClientError, Event};

mod refresh;

/// A boxed future, for token sources.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where session tokens come from: called before every connection attempt and before each
/// in-band refresh, so each call should give a token with as much time left as possible.
/// [`fixed_token`] gives one token throughout; with the `wallet` feature,
/// `wallet::wallet_token` signs in with a Starknet account whenever its token runs short.
pub type TokenSource = Arc<dyn Fn() -> BoxFuture<Result<String, String>> + Send + Sync>;

/// A token source that always gives `token`: for tools and bots whose token outlives them.
/// Such a session is never refreshed (the same token cannot extend it), and an expired
/// token stops it (the server refuses it twice).
pub fn fixed_token(token: String) -> TokenSource {
    Arc::new(move || {
        let t = token.clone();
        Box::pin(async move { Ok(t) })
    })
}

/// Full-jitter exponential backoff: attempt `n` waits a random time up to
/// `min(max, base × 2^n)`, so clients dropped together do not come back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt` (0 for the first retry), for a random `unit` in
    /// [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        cap.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A random number in [0, 1), from the standard library's per-process random hashing keys.
pub(crate) fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh client message id: random, so retries of other clients never collide with it.
pub fn client_msg_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

/// What a session tells its user.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Signed in; `reconnect` is false the first time.
    Connected { address: String, reconnect: bool },
    /// A push; `message` pushes arrive once each, in seq order per channel.
    Push(Push),
    /// Messages of `channel` after `after` could not be replayed (too many, or no longer
    /// stored): read them with `history`. Live messages continue.
    Gap { channel: String, after: u64 },
    /// The live connection was extended in band with a fresh token from the token source,
    /// so it now expires at `expires_at` (RFC 3339) and no reconnect is needed. For logs
    /// and for apps that show the session's lifetime; nothing to do.
    Refreshed { expires_at: String },
    /// The connection dropped; the session is reconnecting.
    Disconnected { code: Option<u16>, reason: String },
    /// The session gave up, with why.
    Stopped(String),
}

/// How to start a session.
#[derive(Clone)]
pub struct SessionOptions {
    /// `ws://host:port/v1/ws`.
    pub url: String,
    pub token: TokenSource,
    pub backoff: Backoff,
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("url", &self.url)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// What the session keeps across connections.
#[derive(Debug, Default)]
struct Wanted {
    /// Subscribed channels and the last seq delivered of each.
    channels: BTreeMap<String, u64>,
    watch: Option<(Option<Area>, bool)>,
}

#[derive(Debug)]
struct Shared {
    wanted: Mutex<Wanted>,
    /// The live connection, `None` while reconnecting; closed when the session stops.
    current: watch::Sender<Option<Arc<Client>>>,
}

impl Shared {
    fn wanted(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A client that reconnects and recovers by itself; see the module documentation. It owns
/// the event stream; [`Session::handle`] gives what sends requests, to share with tasks.
#[derive(Debug)]
pub struct Session {
    handle: SessionHandle,
    events: mpsc::Receiver<SessionEvent>,
    task: tokio::task::JoinHandle<()>,
}

/// Sends requests through a [`Session`], whichever connection is live; cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    shared: Arc<Shared>,
}

impl std::ops::Deref for Session {
    type Target = SessionHandle;

    fn deref(&self) -> &SessionHandle {
        &self.handle
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Starts connecting in the background; events tell when it is signed in.
    pub fn start(options: SessionOptions) -> Self {
        let (current, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            wanted: Mutex::default(),
            current,
        });
        let (tx, events) = mpsc::channel(crate::EVENT_BUFFER);
        let task = tokio::spawn(run(options, shared.clone(), tx));
        Self {
            handle: SessionHandle { shared },
            events,
            task,
        }
    }

    /// What sends requests, for other tasks.
    pub fn handle(&self) -> SessionHandle {
        self.handle.clone()
    }

    /// The next event; `None` once the session has ended (it stopped and every event was
    /// read).
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// The next event, waiting up to `timeout`.
    pub async fn next_event_within(&mut self, timeout: Duration) -> Option<SessionEvent> {
        tokio::time::timeout(timeout, self.events.recv())
            .await
            .ok()
            .flatten()
    }
}

impl SessionHandle {
    /// The live connection, waiting for one; an error once the session has stopped.
    pub async fn connection(&self) -> Result<Arc<Client>, ClientError> {
        let mut rx = self.shared.current.subscribe();
        loop {
            if let Some(c) = rx.borrow_and_update().clone() {
                return Ok(c);
            }
            rx.changed().await.map_err(|_| ClientError::Closed)?;
        }
    }

    /// Follows `channel` from now on, on this connection and every later one.
    pub async fn subscribe(&self, channel: &str) -> Result<(), ClientError> {
        loop {
            let client = self.connection().await?;
            match client.subscribe(channel, None).await {
                Ok(ok) => {
                    self.shared
                        .wanted()
                        .channels
                        .entry(channel.to_owned())
                        .or_insert(ok.last_seq);
                    return Ok(());
                }
                Err(e) if retryable(&e) => self.wait_for_another(&client).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sets the map watch, on this connection and every later one.
    pub async fn watch(&self, area: Option<Area>, mine: bool) -> Result<(), ClientError> {
        self.shared.wanted().watch = Some((area, mine));
        loop {
            let client = self.connection().await?;
            match client.watch(area, mine).await {
                Ok(_) => return Ok(()),
                Err(e) if retryable(&e) => self.wait_for_another(&client).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Publishes `body`, retrying through drops and `unavailable` with one client message
    /// id, so it is stored once; returns once it is stored.
    pub async fn publish(&self, channel: &str, body: &str) -> Result<PublishOk, ClientError> {
        let id = client_msg_id();
        let mut attempt = 0;
        loop {
            let client = self.connection().await?;
            match client.publish(channel, body, &id).await {
                Ok(ok) => return Ok(ok),
                Err(e) if retryable(&e) => self.wait_for_another(&client).await?,
                Err(ClientError::Server(e))
                    if matches!(e.code, ErrorCode::Unavailable | ErrorCode::RateLimited) =>
                {
                    let wait = e
                        .retry_after_ms
                        .map(Duration::from_millis)
                        .unwrap_or_else(|| Backoff::default().delay(attempt, random_unit()));
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the connection is no longer `client`.
    async fn wait_for_another(&self, client: &Arc<Client>) -> Result<(), ClientError> {
        let mut rx = self.shared.current.subscribe();
        loop {
            let same = rx
                .borrow_and_update()
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, client));
            if !same {
                return Ok(());
            }
            rx.changed().await.map_err(|_| ClientError::Closed)?;
        }
    }
}

/// Failures a new connection fixes.
fn retryable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Closed | ClientError::Timeout(_) | ClientError::WebSocket(_)
    )
}

/// Close codes after which reconnecting cannot help.
fn fatal(code: u16) -> bool {
    code == CloseCode::UnsupportedProtocol.code()
        || matches!(code, 1002 | 1007 | 1009)
        || code == CloseCode::TooManyConnections.code()
}

/// The connection loop: connect, restore, pump events, and again after a drop.
async fn run(options: SessionOptions, shared: Arc<Shared>, tx: mpsc::Sender<SessionEvent>) {
    let mut attempt: u32 = 0;
    let mut connected_once = false;
    // Consecutive refusals of a fresh token: the second one stops the session.
    let mut refused = 0;
    loop {
        if attempt > 0 {
            tokio::time::sleep(options.backoff.delay(attempt - 1, random_unit())).await;
        }
        attempt = attempt.saturating_add(1);
        let token = match (options.token)().await {
            Ok(t) => t,
            Err(e) => {
                let _ = tx
                    .send(SessionEvent::Stopped(format!("no token: {e}")))
                    .await;
                return;
            }
        };
        let Ok(mut client) = Client::connect(&options.url, Auth::Header(token.clone())).await
        else {
            continue;
        };
        let mut events = client.take_events();
        let (address, expires_at) = match events.recv().await {
            Some(Event::Push(Push::Connected(c))) => (c.address, c.expires_at),
            Some(Event::Closed(Some(info))) if fatal(info.code) => {
                let _ = tx
                    .send(SessionEvent::Stopped(format!(
                        "closed {}: {}",
                        info.code, info.reason
                    )))
                    .await;
                return;
            }
            Some(Event::Closed(Some(info))) if info.code / 100 == 44 => {
                refused += 1;
                if refused > 1 {
                    let _ = tx
                        .send(SessionEvent::Stopped(format!(
                            "sign-in refused ({}: {})",
                            info.code, info.reason
                        )))
                        .await;
                    return;
                }
                continue;
            }
            _ => continue,
        };
        refused = 0;
        let client = Arc::new(client);
        if restore(&client, &shared, &tx).await.is_err() {
            continue;
        }
        attempt = 0;
        shared.current.send_replace(Some(client.clone()));
        let _ = tx
            .send(SessionEvent::Connected {
                address,
                reconnect: connected_once,
            })
            .await;
        connected_once = true;
        let close = tokio::select! {
            close = pump(&mut events, &shared, &tx) => close,
            never = refresh::keep_fresh(&client, &options.token, token, expires_at, &tx) => {
                match never {}
            }
        };
        shared.current.send_replace(None);
        match close {
            Some((code, reason)) if fatal(code) => {
                let _ = tx
                    .send(SessionEvent::Stopped(format!("closed {code}: {reason}")))
                    .await;
                return;
            }
            close => {
                let (code, reason) = close.map_or((None, String::new()), |(c, r)| (Some(c), r));
                let _ = tx.send(SessionEvent::Disconnected { code, reason }).await;
            }
        }
    }
}

/// Subscribes again from each channel's last delivered seq, and sets the watch again.
async fn restore(
    client: &Client,
    shared: &Shared,
    tx: &mpsc::Sender<SessionEvent>,
) -> Result<(), ClientError> {
    let (channels, watch) = {
        let w = shared.wanted();
        (w.channels.clone(), w.watch)
    };
    for (channel, last) in channels {
        let ok = client.subscribe(&channel, Some(last)).await?;
        if ok.recovered == Some(false) {
            // Live pushes continue after the head; what lies between is for `history`.
            shared
                .wanted()
                .channels
                .insert(channel.clone(), ok.last_seq);
            let _ = tx
                .send(SessionEvent::Gap {
                    channel,
                    after: last,
                })
                .await;
        }
    }
    if let Some((area, mine)) = watch {
        client.watch(area, mine).await?;
    }
    Ok(())
}

/// Delivers events until the connection ends; returns its close code and reason, if any.
async fn pump(
    events: &mut mpsc::Receiver<Event>,
    shared: &Shared,
    tx: &mpsc::Sender<SessionEvent>,
) -> Option<(u16, String)> {
    while let Some(event) = events.recv().await {
        match event {
            Event::Push(Push::Message {
                channel,
                seq,
                message,
            }) => {
                {
                    let mut w = shared.wanted();
                    let last = w.channels.entry(channel.clone()).or_insert(0);
                    if seq <= *last {
                        continue;
                    }
                    *last = seq;
                }
                let push = Push::Message {
                    channel,
                    seq,
                    message,
                };
                let _ = tx.send(SessionEvent::Push(push)).await;
            }
            Event::Push(Push::PermissionRevoked { channel, revoked }) => {
                shared.wanted().channels.remove(&channel);
                let push = Push::PermissionRevoked { channel, revoked };
                let _ = tx.send(SessionEvent::Push(push)).await;
            }
            Event::Push(push) => {
                let _ = tx.send(SessionEvent::Push(push)).await;
            }
            Event::Closed(info) => return info.map(|i| (i.code, i.reason)),
            Event::Error(_) | Event::Invalid(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_jitters_below_it() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(
            b.delay(0, 0.999_999),
            Duration::from_millis(100).mul_f64(0.999_999)
        );
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(b.delay(30, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(5, 0.0), Duration::ZERO);
        let units: Vec<f64> = (0..100).map(|_| random_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(units.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn client_message_ids_are_valid_and_distinct() {
        let a = client_msg_id();
        let b = client_msg_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
