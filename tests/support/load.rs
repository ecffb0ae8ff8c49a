//! Steady chat load from real WebSocket clients, for tests that break something underneath
//! (an instance, Postgres, Redis, Torii) and then check that nothing acknowledged was lost.
//!
//! Clients behave as the protocol tells them to (docs/protocol.md):
//!
//! - a publisher sends one message at a time, each with its own `client_msg_id`, and retries
//!   it with the same id, on the same connection or a new one, until it is acknowledged:
//!   after `unavailable` or `rate_limited` (waiting `retry_after_ms` or a short backoff), a
//!   timeout, or a dropped connection. A message is acknowledged once, by its last reply.
//! - a subscriber records every `message` push it gets, duplicates included (the raw
//!   [`Client`], not the SDK's `Session`, which would hide them), and after a drop
//!   reconnects and subscribes again with `since` = the last seq it saw.
//!
//! Each client is given the instances as a load balancer would: it starts on its own and,
//! when that one does not answer, goes on to the next and stays there.
//!
//! [`Load::finish`] stops the publishers (each finishes the message it is sending), waits
//! until every subscriber has caught up with the acknowledged head of its channels, and
//! gives an [`Outcome`], which `check` compares with storage and with what each
//! subscriber received.

pub mod check;
mod clients;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Server;
use clients::{publish_loop, subscribe_loop};

pub use check::Outcome;

/// A publisher: who, where to, and the instance it connects to first.
#[derive(Debug, Clone)]
pub struct Publisher {
    pub address: String,
    pub channel: String,
    pub instance: usize,
}

/// A subscriber: who, the channels it follows, and the instance it connects to first.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub address: String,
    pub channels: Vec<String>,
    pub instance: usize,
}

/// The clients of a load, and how long each publisher waits between two messages.
#[derive(Debug, Clone)]
pub struct Plan {
    pub publishers: Vec<Publisher>,
    pub subscribers: Vec<Subscriber>,
    pub pause: Duration,
}

/// An acknowledged publish: the reply that ended its retries.
#[derive(Debug, Clone)]
pub struct Ack {
    /// Index of the publisher in the plan.
    pub publisher: usize,
    pub channel: String,
    pub seq: u64,
    pub client_msg_id: String,
    /// The instance that answered.
    pub instance: usize,
    /// The reply said an earlier attempt had stored it already.
    pub duplicate: bool,
    pub at: Instant,
}

/// A failed attempt at a request (then retried), or an error that ended a message's retries
/// (`fatal`).
#[derive(Debug, Clone)]
pub struct Failure {
    /// `publisher N` or `subscriber N`.
    pub who: String,
    /// The error code the server answered, or `closed`, `timeout`, `websocket`, `reply`.
    pub kind: String,
    pub message: String,
    pub instance: usize,
    pub fatal: bool,
    pub at: Instant,
}

/// A subscribe with `since` after a reconnect.
#[derive(Debug, Clone)]
pub struct Resume {
    pub channel: String,
    pub since: u64,
    pub recovered: Option<bool>,
    pub replayed: u64,
    pub instance: usize,
    pub at: Instant,
}

/// What one subscriber saw.
#[derive(Debug, Clone, Default)]
pub struct SubLog {
    /// The head of each channel when it first subscribed: it is owed every message after.
    pub start: BTreeMap<String, u64>,
    /// Every `message` push, in arrival order: (seq, client_msg_id).
    pub received: BTreeMap<String, Vec<(u64, String)>>,
    pub resumes: Vec<Resume>,
    /// Connections that ended under it.
    pub drops: usize,
    /// The instance it is connected to now (or last).
    pub instance: usize,
    /// Other pushes by name (`permission_revoked` would end a subscription).
    pub other_pushes: BTreeMap<String, usize>,
}

impl SubLog {
    /// The last seq received on `channel` (or its start).
    pub fn last(&self, channel: &str) -> Option<u64> {
        self.received
            .get(channel)
            .and_then(|r| r.last().map(|m| m.0))
            .or_else(|| self.start.get(channel).copied())
    }
}

#[derive(Default)]
struct Shared {
    acks: Mutex<Vec<Ack>>,
    failures: Mutex<Vec<Failure>>,
}

impl Shared {
    fn fail(&self, failure: Failure) {
        self.failures.lock().unwrap().push(failure);
    }
}

/// A running load; see the module documentation.
pub struct Load {
    plan: Plan,
    shared: Arc<Shared>,
    subs: Vec<Arc<Mutex<SubLog>>>,
    stop_publishers: watch::Sender<bool>,
    stop_subscribers: watch::Sender<bool>,
    publishers: Vec<JoinHandle<()>>,
    subscribers: Vec<JoinHandle<()>>,
}

/// Where a client connects, and as whom.
#[derive(Clone)]
struct Endpoint {
    urls: Arc<Vec<String>>,
    token: String,
    who: String,
}

impl Load {
    /// Starts the subscribers, waits until each follows its channels, then starts the
    /// publishers. Tokens come from the first server (instances share the session secret).
    pub async fn start(servers: &[&Server], plan: Plan) -> Self {
        let urls = Arc::new(servers.iter().map(|s| s.ws_url()).collect::<Vec<_>>());
        let mut tokens = BTreeMap::new();
        for a in plan
            .publishers
            .iter()
            .map(|p| &p.address)
            .chain(plan.subscribers.iter().map(|s| &s.address))
        {
            if !tokens.contains_key(a) {
                tokens.insert(a.clone(), servers[0].token(a));
            }
        }
        let shared = Arc::new(Shared::default());
        let (stop_publishers, _) = watch::channel(false);
        let (stop_subscribers, _) = watch::channel(false);
        let mut subs = Vec::new();
        let mut subscribers = Vec::new();
        for (n, s) in plan.subscribers.iter().enumerate() {
            let log = Arc::new(Mutex::new(SubLog {
                instance: s.instance,
                ..SubLog::default()
            }));
            subs.push(log.clone());
            let endpoint = Endpoint {
                urls: urls.clone(),
                token: tokens[&s.address].clone(),
                who: format!("subscriber {n}"),
            };
            subscribers.push(tokio::spawn(subscribe_loop(
                endpoint,
                s.clone(),
                log,
                shared.clone(),
                stop_subscribers.subscribe(),
            )));
        }
        let mut load = Self {
            plan,
            shared,
            subs,
            stop_publishers,
            stop_subscribers,
            publishers: Vec::new(),
            subscribers,
        };
        load.wait_until(
            "every subscriber follows its channels",
            Duration::from_secs(30),
            |l| {
                l.plan.subscribers.iter().enumerate().all(|(n, s)| {
                    let log = l.subscriber(n);
                    s.channels.iter().all(|c| log.start.contains_key(c))
                })
            },
        )
        .await;
        for (n, p) in load.plan.publishers.clone().into_iter().enumerate() {
            let endpoint = Endpoint {
                urls: urls.clone(),
                token: tokens[&p.address].clone(),
                who: format!("publisher {n}"),
            };
            load.publishers.push(tokio::spawn(publish_loop(
                endpoint,
                n,
                p,
                load.plan.pause,
                load.shared.clone(),
                load.stop_publishers.subscribe(),
            )));
        }
        load
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Acknowledged publishes so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.shared.acks.lock().unwrap().clone()
    }

    pub fn acked(&self) -> usize {
        self.shared.acks.lock().unwrap().len()
    }

    /// Failed attempts so far.
    pub fn failures(&self) -> Vec<Failure> {
        self.shared.failures.lock().unwrap().clone()
    }

    /// What subscriber `n` has seen so far.
    pub fn subscriber(&self, n: usize) -> SubLog {
        self.subs[n].lock().unwrap().clone()
    }

    /// Waits until `done` holds, checking every 20 ms; fails the test after `timeout` with
    /// what the load did.
    pub async fn wait_until(&self, what: &str, timeout: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if Instant::now() > deadline {
                panic!("{what}: not within {timeout:?}\n{}", self.summary());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `more` publishes beyond those acknowledged now are acknowledged.
    pub async fn wait_more_acks(&self, more: usize, timeout: Duration) {
        let target = self.acked() + more;
        self.wait_until(&format!("{target} acknowledged publishes"), timeout, |l| {
            l.acked() >= target
        })
        .await;
    }

    /// Waits until every publisher has had `more` of its messages acknowledged after `since`:
    /// every one of them is making progress again.
    pub async fn wait_every_publisher(&self, since: Instant, more: usize, timeout: Duration) {
        let count = self.plan.publishers.len();
        self.wait_until(
            &format!("every publisher acknowledged {more} after {since:?}"),
            timeout,
            |l| {
                let acks = l.acks();
                (0..count).all(|p| {
                    acks.iter()
                        .filter(|a| a.publisher == p && a.at > since)
                        .count()
                        >= more
                })
            },
        )
        .await;
    }

    /// A few lines about the load, for failure messages.
    pub fn summary(&self) -> String {
        let acks = self.acks();
        let failures = self.failures();
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &failures {
            *kinds.entry(f.kind.as_str()).or_default() += 1;
        }
        let mut out = format!(
            "{} acknowledged; failed attempts by kind: {kinds:?}\n",
            acks.len()
        );
        for (n, p) in self.plan.publishers.iter().enumerate() {
            let mine: Vec<&Ack> = acks.iter().filter(|a| a.publisher == n).collect();
            let longest = mine
                .windows(2)
                .map(|w| w[1].at - w[0].at)
                .max()
                .unwrap_or_default();
            out.push_str(&format!(
                "publisher {n} ({} on {}): {} acknowledged, longest between two {longest:?}, \
                 last (seq, instance, age) {:?}\n",
                p.address,
                p.channel,
                mine.len(),
                mine.last().map(|a| (a.seq, a.instance, a.at.elapsed()))
            ));
        }
        for n in 0..self.subs.len() {
            let log = self.subscriber(n);
            let lasts: BTreeMap<&String, Option<u64>> =
                log.start.keys().map(|c| (c, log.last(c))).collect();
            out.push_str(&format!(
                "subscriber {n}: on instance {}, drops {}, last seqs {lasts:?}, resumes {:?}\n",
                log.instance,
                log.drops,
                log.resumes
                    .iter()
                    .map(|r| (&r.channel, r.since, r.recovered, r.replayed))
                    .collect::<Vec<_>>()
            ));
        }
        if let Some(f) = failures.last() {
            out.push_str(&format!("last failure: {f:?}\n"));
        }
        out
    }

    /// Stops publishing (each publisher finishes the message it is on, retrying until it is
    /// acknowledged), waits until every subscriber has received up to the acknowledged head
    /// of each of its channels, then stops the subscribers.
    pub async fn finish(mut self, timeout: Duration) -> Outcome {
        let _ = self.stop_publishers.send(true);
        let deadline = Instant::now() + timeout;
        for task in std::mem::take(&mut self.publishers) {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, task).await.is_err() {
                panic!(
                    "a publisher did not get its last message acknowledged within {timeout:?}\n{}",
                    self.summary()
                );
            }
        }
        let acks = self.acks();
        let mut heads: BTreeMap<String, u64> = BTreeMap::new();
        for a in &acks {
            let h = heads.entry(a.channel.clone()).or_default();
            *h = (*h).max(a.seq);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait_until("every subscriber caught up", left, |l| {
            l.plan.subscribers.iter().enumerate().all(|(n, s)| {
                let log = l.subscriber(n);
                s.channels
                    .iter()
                    .all(|c| log.last(c).unwrap_or(0) >= heads.get(c).copied().unwrap_or(0))
            })
        })
        .await;
        let _ = self.stop_subscribers.send(true);
        for task in std::mem::take(&mut self.subscribers) {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        Outcome {
            plan: self.plan.clone(),
            acks,
            failures: self.failures(),
            subscribers: (0..self.subs.len()).map(|n| self.subscriber(n)).collect(),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for task in self.publishers.iter().chain(&self.subscribers) {
            task.abort();
        }
    }
}
