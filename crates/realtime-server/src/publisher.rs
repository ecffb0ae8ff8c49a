//! The publish pipeline: group commit, then one announcement per batch.
//!
//! Publishes (from sockets and HTTP alike) are handed to a committer task (one per shard of channels, so a channel's
//! publishes keep their submission order). Each committer takes everything queued, up to
//! [`MAX_BATCH`], stores it in one transaction, then, for each publish in batch order, puts the
//! reply on the publisher's connection queue, and finally announces every committed message
//! to the bus as one batch. So:
//!
//! - a reply is sent only after the commit (an acknowledged message is durable);
//! - on the publisher's own connection, the reply is queued before the push of its message;
//! - while one batch commits, the next one gathers: the busier a channel, the larger its
//!   batches and the cheaper each message, instead of a queue of one transaction per message;
//! - subscribers get a batch's messages together, written with one flush.
//!
//! The queues in front of the committers are bounded: when storage falls behind, submitting
//! waits, which stops the publishing connection from reading more requests (back-pressure),
//! rather than piling up transactions that would time out.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use realtime_bus::{Broker, Publication};
use realtime_core::time::now_ms;
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::ErrorBody;
use realtime_protocol::reply::{PublishOk, encode_error, encode_ok};
use realtime_store::{Backend, NewMessage, Store};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::chat;
use crate::hub::ConnId;
use crate::metrics::{Feature, Transport};
use crate::queue::SendQueue;

/// Most publishes stored in one transaction.
pub const MAX_BATCH: usize = 256;
/// Publishes waiting per committer before submitters wait.
const QUEUE_DEPTH: usize = 4096;
/// Committers on Postgres, where transactions on different channels run in parallel. SQLite
/// has one writer, so one committer.
const POSTGRES_SHARDS: usize = 4;

/// One validated publish, waiting for its commit.
#[derive(Debug)]
pub struct Job {
    pub channel: ChannelName,
    pub sender: Address,
    pub body: String,
    pub client_msg_id: String,
    pub reply: Reply,
}

/// Where a publish's outcome goes.
#[derive(Debug)]
pub enum Reply {
    /// Straight onto the publishing connection's send queue, as the reply to request `id`.
    /// The permit counts the connection's publishes in flight and is released with the
    /// reply.
    Socket {
        queue: SendQueue,
        id: u64,
        /// The connection, for the log line of a refusal (this runs in the committer's task,
        /// outside the connection's span).
        conn: ConnId,
        permit: OwnedSemaphorePermit,
    },
    /// To a task waiting for it: an HTTP request, an announcement.
    Waiting(oneshot::Sender<Result<PublishOk, ErrorBody>>),
}

impl Reply {
    fn send(self, outcome: Result<PublishOk, ErrorBody>) {
        match self {
            Reply::Socket {
                queue,
                id,
                conn,
                permit,
            } => {
                if let Err(e) = &outcome {
                    crate::metrics::get().refused(e.code, Transport::Ws);
                    tracing::info!(
                        conn,
                        op = "publish",
                        code = %e.code,
                        reason = crate::web::log_reason(e),
                        "refused"
                    );
                }
                let frame = match &outcome {
                    Ok(ok) => encode_ok(id, ok),
                    Err(e) => encode_error(Some(id), e),
                };
                // On overflow the queue closes the connection as a slow consumer by itself.
                let _ = queue.push(Utf8Bytes::from(frame));
                drop(permit);
            }
            // A task that gave up waiting has nobody to tell. Its own transport counts and
            // logs a refusal.
            Reply::Waiting(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// Hands publishes to the committers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Each job with when it was queued, for `realtime_publish_delivery_seconds`.
    shards: Arc<[mpsc::Sender<(Instant, Job)>]>,
}

impl Publisher {
    /// Starts the committers. They stop once every handle is dropped and their queue is empty.
    pub fn start(store: Store, broker: Arc<dyn Broker>) -> Self {
        let count = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_SHARDS,
        };
        let shards = (0..count)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
                // Not tracked: a committer ends when the last sender (the state) is gone,
                // after answering everything queued; shutdown drains the sessions first.
                tokio::spawn(commit_loop(store.clone(), broker.clone(), rx));
                tx
            })
            .collect();
        Self { shards }
    }

    /// Queues a publish; waits while its committer's queue is full.
    pub async fn submit(&self, job: Job) {
        let shard = if self.shards.len() == 1 {
            0
        } else {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            job.channel.as_str().hash(&mut h);
            (h.finish() % self.shards.len() as u64) as usize
        };
        if let Err(mpsc::error::SendError((_, job))) =
            self.shards[shard].send((Instant::now(), job)).await
        {
            job.reply.send(Err(ErrorBody::new(
                ErrorCode::Unavailable,
                "the server is shutting down",
            )));
        }
    }
}

async fn commit_loop(
    store: Store,
    broker: Arc<dyn Broker>,
    mut rx: mpsc::Receiver<(Instant, Job)>,
) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut queued, MAX_BATCH).await > 0 {
        let (times, jobs): (Vec<Instant>, Vec<Job>) =
            std::mem::take(&mut queued).into_iter().unzip();
        let (publications, delivered) = commit(&store, jobs).await;
        if !publications.is_empty() {
            let (first, count) = (publications[0].seq, publications.len());
            // The bus hands the batch to this instance's hub before anything else.
            if let Err(e) = broker.publish_batch(publications).await {
                // Committed already: subscribers catch up from storage on the next message.
                tracing::warn!(first, count, error = %e, "bus publish failed");
            }
            let latency = &crate::metrics::get().publish_delivery;
            for (time, _) in times.iter().zip(&delivered).filter(|(_, d)| **d) {
                latency.observe(time.elapsed().as_secs_f64());
            }
        }
    }
}

/// Stores a batch, replies to every job, and returns what to announce, with which jobs
/// brought a new message (in job order). When the batch fails
/// for a reason other than storage being unavailable, each publish is retried on its own, so
/// one bad message cannot fail the others.
async fn commit(store: &Store, jobs: Vec<Job>) -> (Vec<Publication>, Vec<bool>) {
    let now = now_ms();
    let batch: Vec<NewMessage<'_>> = jobs
        .iter()
        .map(|j| NewMessage {
            channel: &j.channel,
            sender: j.sender,
            body: &j.body,
            client_msg_id: &j.client_msg_id,
            now_ms: now,
        })
        .collect();
    let committed = crate::metrics::timed(
        crate::metrics::StorageOp::Commit,
        store.publish_many(&batch),
    )
    .await;
    let results = match committed {
        Ok(published) => published.into_iter().map(Ok).collect(),
        Err(e) if e.is_unavailable() || batch.len() == 1 => {
            let error = chat::store_error(&e);
            vec![Err(error); batch.len()]
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch failed; storing one by one");
            let mut results = Vec::with_capacity(batch.len());
            for one in &batch {
                results.push(
                    store
                        .publish(one.clone())
                        .await
                        .map_err(|e| chat::store_error(&e)),
                );
            }
            results
        }
    };
    drop(batch);
    let mut publications = Vec::new();
    let mut delivered = Vec::with_capacity(jobs.len());
    for (job, result) in jobs.into_iter().zip(results) {
        let outcome = result.and_then(|p| chat::outcome(&job.body, &job.client_msg_id, p));
        match outcome {
            Ok((ok, publication)) => {
                // A retry of a stored message is neither a new message nor a delivery to time.
                let new = !ok.duplicate;
                if new {
                    crate::metrics::get().message_in(Feature::of_channel(job.channel.as_str()));
                }
                job.reply.send(Ok(ok));
                publications.push(publication);
                delivered.push(new);
            }
            Err(e) => {
                job.reply.send(Err(e));
                delivered.push(false);
            }
        }
    }
    (publications, delivered)
}
