//! What a load leaves behind, and the checks of the fault tests: every acknowledged publish
//! is stored exactly once, and every subscriber received every message of its channels
//! after the point it joined, exactly once and in seq order.

use std::collections::{BTreeMap, BTreeSet};

use realtime_client::History;

use super::{Ack, Failure, Plan, SubLog};
use crate::Server;

/// The end state of a [`super::Load`].
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plan: Plan,
    pub acks: Vec<Ack>,
    pub failures: Vec<Failure>,
    pub subscribers: Vec<SubLog>,
}

/// A channel's stored messages in seq order: (seq, client_msg_id).
pub type Stored = BTreeMap<String, Vec<(u64, String)>>;

impl Outcome {
    /// The channels publishers wrote to.
    pub fn channels(&self) -> BTreeSet<String> {
        self.plan
            .publishers
            .iter()
            .map(|p| p.channel.clone())
            .collect()
    }

    /// Failed attempts by kind (`unavailable`, `closed`, …).
    pub fn failure_kinds(&self) -> BTreeMap<String, usize> {
        let mut kinds = BTreeMap::new();
        for f in &self.failures {
            *kinds.entry(f.kind.clone()).or_default() += 1;
        }
        kinds
    }

    /// Fails unless every failed attempt was of one of `allowed` kinds (a protocol error a
    /// client retries, such as `unavailable`, or a dropped connection) and none ended a
    /// message's retries.
    pub fn assert_failures_within(&self, allowed: &[&str]) {
        let odd: Vec<&Failure> = self
            .failures
            .iter()
            .filter(|f| f.fatal || !allowed.contains(&f.kind.as_str()))
            .collect();
        assert!(
            odd.is_empty(),
            "failures other than {allowed:?}: {} of them, first {:?}; all kinds {:?}",
            odd.len(),
            odd.first(),
            self.failure_kinds()
        );
    }

    /// Reads every channel's whole history through `server`, signed in as `reader`, and
    /// checks it against the acknowledgements: each acknowledged message is stored once,
    /// with the seq its acknowledgement gave, and nothing else is stored (publishers retry
    /// until acknowledged, so whatever was committed was acknowledged). Returns the stored
    /// log of each channel.
    pub async fn check_storage(&self, server: &Server, reader: &str) -> Stored {
        let client = server.client(reader).await;
        let mut stored = Stored::new();
        let mut acked_ids = BTreeSet::new();
        for a in &self.acks {
            assert!(
                acked_ids.insert(a.client_msg_id.as_str()),
                "{} acknowledged twice",
                a.client_msg_id
            );
        }
        for channel in self.channels() {
            let mut messages = Vec::new();
            let mut after = 0;
            loop {
                let page = client
                    .history(
                        &channel,
                        History {
                            after: Some(after),
                            limit: Some(100),
                            before: None,
                        },
                    )
                    .await
                    .unwrap_or_else(|e| panic!("history of {channel}: {e}"));
                for m in &page.messages {
                    let seq = m.seq.expect("history has seqs");
                    messages.push((seq, m.client_msg_id.clone().unwrap_or_default()));
                    after = seq;
                }
                if !page.has_more || page.messages.is_empty() {
                    break;
                }
            }
            assert!(
                messages.windows(2).all(|w| w[1].0 == w[0].0 + 1),
                "{channel}: stored seqs are not contiguous: {:?}",
                messages.iter().map(|m| m.0).collect::<Vec<_>>()
            );
            let mut ids = BTreeMap::new();
            for (seq, id) in &messages {
                if let Some(first) = ids.insert(id.as_str(), *seq) {
                    panic!("{channel}: {id} stored twice, at seqs {first} and {seq}");
                }
            }
            let acks: Vec<&Ack> = self.acks.iter().filter(|a| a.channel == channel).collect();
            for a in &acks {
                match ids.get(a.client_msg_id.as_str()) {
                    Some(&seq) => assert_eq!(
                        seq, a.seq,
                        "{channel}: {} acknowledged as seq {} but stored as seq {seq}",
                        a.client_msg_id, a.seq
                    ),
                    None => panic!(
                        "{channel}: acknowledged {} (seq {}) is not stored: an acknowledged \
                         message was lost",
                        a.client_msg_id, a.seq
                    ),
                }
            }
            assert_eq!(
                messages.len(),
                acks.len(),
                "{channel}: stored messages that were never acknowledged"
            );
            stored.insert(channel, messages);
        }
        stored
    }

    /// Checks that each subscriber received, on each of its channels, exactly the stored
    /// messages after the head it first joined at: none missing, none twice, in seq order,
    /// live and replayed alike; and that every resume after a drop was a full recovery.
    pub fn check_subscribers(&self, stored: &Stored) {
        for (n, (plan, log)) in self
            .plan
            .subscribers
            .iter()
            .zip(&self.subscribers)
            .enumerate()
        {
            for r in &log.resumes {
                assert_eq!(
                    r.recovered,
                    Some(true),
                    "subscriber {n} resumed {} from seq {} without recovery: {r:?}",
                    r.channel,
                    r.since
                );
            }
            for channel in &plan.channels {
                let Some(all) = stored.get(channel) else {
                    continue;
                };
                let start = log.start[channel];
                let expected: Vec<&(u64, String)> = all.iter().filter(|m| m.0 > start).collect();
                let got: Vec<&(u64, String)> = log
                    .received
                    .get(channel)
                    .map(|r| r.iter().collect())
                    .unwrap_or_default();
                if got == expected {
                    continue;
                }
                let first_difference = got
                    .iter()
                    .zip(&expected)
                    .position(|(g, e)| g != e)
                    .unwrap_or(got.len().min(expected.len()));
                let mut seen = BTreeSet::new();
                let twice: Vec<u64> = got
                    .iter()
                    .filter(|m| !seen.insert(m.0))
                    .map(|m| m.0)
                    .collect();
                let got_seqs: BTreeSet<u64> = got.iter().map(|m| m.0).collect();
                let missing: Vec<u64> = expected
                    .iter()
                    .map(|m| m.0)
                    .filter(|s| !got_seqs.contains(s))
                    .collect();
                panic!(
                    "subscriber {n} ({}) on {channel} from seq {start}: received {} messages, \
                     {} expected; first difference at position {first_difference} (got {:?}, \
                     expected {:?}); received twice: {twice:?}; missing: {missing:?}; \
                     resumes: {:?}",
                    plan.address,
                    got.len(),
                    expected.len(),
                    got.get(first_difference),
                    expected.get(first_difference),
                    log.resumes
                );
            }
        }
    }
}
