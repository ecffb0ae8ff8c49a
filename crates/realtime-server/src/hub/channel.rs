//! One channel's delivery state on this instance: the last seq delivered, publications
//! waiting behind a gap, and the subscribers (live or pending recovery).

use std::collections::{BTreeMap, HashMap};

use realtime_core::ChannelName;
use realtime_protocol::CloseCode;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::ConnId;
use crate::metrics::Feature;
use crate::queue::SendQueue;

/// Live pushes held for a subscriber while its recovery replay is read from storage.
#[derive(Debug)]
struct Pending {
    frames: Vec<(u64, Utf8Bytes)>,
    bytes: usize,
    budget: usize,
}

#[derive(Debug)]
pub(super) struct Subscriber {
    queue: SendQueue,
    pending: Option<Pending>,
    /// The seq the subscriber's replay goes up to; buffered pushes at or below it are not
    /// sent again.
    floor: u64,
}

#[derive(Debug)]
pub(super) struct ChannelState {
    pub name: ChannelName,
    /// Last seq delivered; `None` until the first joiner has read the head from storage.
    pub last: Option<u64>,
    pub subscribers: HashMap<ConnId, Subscriber>,
    /// Publications ahead of `last + 1`, waiting for the ones before them.
    early: BTreeMap<u64, Utf8Bytes>,
    /// The newest seq storage was seen to hold (head check): what is between `last` and it
    /// was committed, and its notices did not arrive.
    pub head: u64,
    /// A gap fill is scheduled or running.
    pub filling: bool,
    /// Consecutive failed gap fills, for backoff.
    pub fill_failures: u32,
    /// Removed from the hub's map: joiners must start over.
    pub removed: bool,
    /// What its messages count as in `realtime_messages_out_total`.
    feature: Feature,
}

impl ChannelState {
    pub fn new(name: ChannelName) -> Self {
        Self {
            feature: Feature::of_channel(name.as_str()),
            name,
            last: None,
            subscribers: HashMap::new(),
            early: BTreeMap::new(),
            head: 0,
            filling: false,
            fill_failures: 0,
            removed: false,
        }
    }

    pub fn add_pending(&mut self, conn: ConnId, queue: SendQueue, budget: usize) {
        let previous = self.subscribers.insert(
            conn,
            Subscriber {
                queue,
                pending: Some(Pending {
                    frames: Vec::new(),
                    bytes: 0,
                    budget,
                }),
                floor: 0,
            },
        );
        if previous.is_none() {
            crate::metrics::get().subscriptions.inc();
        }
    }

    pub fn set_floor(&mut self, conn: ConnId, floor: u64) {
        if let Some(sub) = self.subscribers.get_mut(&conn) {
            sub.floor = floor;
        }
    }

    pub fn activate(&mut self, conn: ConnId) {
        let Some(sub) = self.subscribers.get_mut(&conn) else {
            return;
        };
        let Some(pending) = sub.pending.take() else {
            return;
        };
        let mut sent = 0;
        for (seq, frame) in pending.frames {
            if seq <= sub.floor {
                continue;
            }
            if sub.queue.push(frame).is_err() {
                break;
            }
            sent += 1;
        }
        crate::metrics::get().messages_out(self.feature, sent);
    }

    /// Accepts a publication; returns true when publications wait behind a gap.
    pub fn offer(&mut self, seq: u64, frame: Utf8Bytes) -> bool {
        self.offer_many(std::iter::once((seq, frame)))
    }

    /// Accepts publications (a batch), delivering those next in line together; returns true
    /// when publications wait behind a gap.
    pub fn offer_many(&mut self, items: impl IntoIterator<Item = (u64, Utf8Bytes)>) -> bool {
        for (seq, frame) in items {
            if self.last.is_none_or(|last| seq > last) {
                self.early.insert(seq, frame);
            }
        }
        self.drain_ready()
    }

    /// Delivers every publication that is next in line; returns true if some still wait.
    pub fn drain_ready(&mut self) -> bool {
        let Some(mut last) = self.last else {
            return false;
        };
        while let Some(entry) = self.early.first_entry() {
            if *entry.key() > last {
                break;
            }
            entry.remove();
        }
        let mut ready = Vec::new();
        while let Some(frame) = self.early.remove(&(last + 1)) {
            last += 1;
            ready.push((last, frame));
        }
        if !ready.is_empty() {
            self.fan_out(&ready);
        }
        self.last = Some(last);
        !self.early.is_empty()
    }

    /// The missing range `(after, up_to]`: before the earliest waiting publication, or else
    /// up to the head storage was seen to hold.
    pub fn gap(&self) -> Option<(u64, u64)> {
        let last = self.last?;
        let up_to = match self.early.keys().next() {
            Some(first) => first - 1,
            None => self.head,
        };
        (up_to > last).then_some((last, up_to))
    }

    /// Gives up on the missing range and continues after it.
    pub fn skip_gap(&mut self) {
        if let Some((_, up_to)) = self.gap() {
            self.last = Some(up_to);
        }
    }

    /// Hands an ephemeral frame (not stored, no seq) to every live subscriber but `except`.
    /// A subscriber still recovering misses it: it is about now, not history.
    pub fn signal(&self, frame: &Utf8Bytes, except: Option<ConnId>) {
        let mut sent = 0;
        for (conn, sub) in &self.subscribers {
            if Some(*conn) != except && sub.pending.is_none() {
                // On overflow the queue closes the connection itself (4001).
                sent += u64::from(sub.queue.push(frame.clone()).is_ok());
            }
        }
        crate::metrics::get().messages_out(Feature::of_signal(frame.as_str()), sent);
    }

    /// Hands consecutive publications to every subscriber, waking each writer once.
    fn fan_out(&mut self, ready: &[(u64, Utf8Bytes)]) {
        let mut sent = 0;
        for sub in self.subscribers.values_mut() {
            match &mut sub.pending {
                Some(p) => {
                    for (seq, frame) in ready {
                        p.bytes += frame.len();
                        if p.bytes > p.budget {
                            // Same rule as the send queue: too far behind, reconnect and recover.
                            sub.pending = None;
                            sub.queue.close(CloseCode::SlowConsumer);
                            crate::metrics::get()
                                .slow_consumer(crate::metrics::SlowCause::Overflow);
                            break;
                        }
                        p.frames.push((*seq, frame.clone()));
                    }
                }
                None => {
                    let mut pushed = false;
                    for (_, frame) in ready.iter().filter(|(seq, _)| *seq > sub.floor) {
                        // On overflow the queue closes the connection itself (4001).
                        if sub.queue.push_quiet(frame.clone()).is_err() {
                            pushed = false;
                            break;
                        }
                        pushed = true;
                        sent += 1;
                    }
                    if pushed {
                        sub.queue.wake();
                    }
                }
            }
        }
        // One atomic add per batch, not per socket: this is the hottest loop of the server.
        crate::metrics::get().messages_out(self.feature, sent);
    }
}
