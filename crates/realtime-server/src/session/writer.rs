//! The writer task of a connection: sends queued frames, pings on an interval, closes a
//! silent connection (4002), and performs the close the queue asks for.
//!
//! A peer that stops reading blocks the socket write. The writer never waits on one frame
//! longer than the heartbeat allows (`ping_interval + pong_timeout`): past that the peer is
//! treated as a slow consumer, so heartbeats and shutdown closes are never starved.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt};
use realtime_protocol::CloseCode;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::activity::Activity;
use super::{CLOSE_GRACE, Socket};
use crate::queue::{Next, SendQueue};

pub(crate) type Sink = SplitSink<Socket, Message>;

/// Most bytes of queued frames written with one flush.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Heartbeat settings of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
}

impl Heartbeat {
    /// How long the peer may stay silent, or leave a frame unread, before it is dropped.
    fn allowance(self) -> Duration {
        self.ping_interval + self.pong_timeout
    }
}

/// Runs until the connection is over; returns the sink, so the reader can reunite the socket
/// to drain it after a protocol violation.
pub async fn run(
    mut sink: Sink,
    queue: SendQueue,
    heartbeat: Heartbeat,
    activity: Arc<Activity>,
) -> Sink {
    let mut next_ping = Instant::now() + heartbeat.ping_interval;
    let mut batch = Vec::new();
    loop {
        // The peer is due to have sent something by then (a pong to the last ping at least).
        let silent_deadline =
            Instant::now() + heartbeat.allowance().saturating_sub(activity.idle_for());
        tokio::select! {
            next = queue.next_batch(&mut batch, WRITE_BATCH_BYTES) => match next {
                Next::Frames => {
                    let messages = batch.drain(..).map(Message::Text);
                    if !send_bounded(&mut sink, &queue, messages, heartbeat.allowance()).await {
                        break;
                    }
                    // A burst's batch is not kept for the rest of an idle connection's life.
                    if batch.capacity() > 64 {
                        batch = Vec::new();
                    }
                }
                Next::Close(code) => {
                    if code == CloseCode::SlowConsumer {
                        tracing::warn!("slow consumer: the send queue overflowed or stalled; closing with 4001");
                    }
                    close(&mut sink, code).await;
                    break;
                }
                Next::Stop => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
                    break;
                }
            },
            _ = sleep_until(next_ping) => {
                next_ping += heartbeat.ping_interval;
                let ping = std::iter::once(Message::Ping(Bytes::new()));
                if !send_bounded(&mut sink, &queue, ping, heartbeat.allowance()).await {
                    break;
                }
            }
            _ = sleep_until(silent_deadline) => {
                if activity.idle_for() >= heartbeat.allowance() && !queue.is_closing() {
                    tracing::debug!(idle = ?activity.idle_for(), "peer silent past the heartbeat allowance");
                    queue.close(CloseCode::HeartbeatTimeout);
                }
            }
        }
    }
    queue.finish();
    sink
}

/// Sends frames with one flush (one write to the socket for a whole batch) unless the queue
/// aborts meanwhile (overflow) or the peer leaves them unread for `stall`. Returns false when
/// the socket is broken.
async fn send_bounded(
    sink: &mut Sink,
    queue: &SendQueue,
    messages: impl Iterator<Item = Message>,
    stall: Duration,
) -> bool {
    let write = async {
        for message in messages {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    let mut write = std::pin::pin!(write);
    // Most writes complete at once into the socket buffer: no timer for those.
    if let Some(result) = (&mut write).now_or_never() {
        return result.is_ok();
    }
    tokio::select! {
        result = write => result.is_ok(),
        // What was written stays in the socket's buffer and is flushed before the close frame.
        _ = queue.aborted() => true,
        _ = tokio::time::sleep(stall) => {
            tracing::debug!(?stall, "frames stayed unread past the heartbeat allowance");
            queue.fail_slow(crate::metrics::SlowCause::Stalled);
            true
        }
    }
}

async fn close(sink: &mut Sink, code: CloseCode) {
    let frame = CloseFrame {
        code: code.code().into(),
        reason: code.reason().into(),
    };
    let sent = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::debug!(close = code.code(), "close frame could not be delivered");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}
