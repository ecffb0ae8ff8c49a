//! The writer task of a connection: sends queued frames, pings on an interval, closes a
//! silent connection (4002), and performs the close the queue asks for.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use realtime_protocol::CloseCode;
use tokio::time::{MissedTickBehavior, interval_at};

use super::CLOSE_GRACE;
use super::activity::Activity;
use super::queue::{Next, SendQueue};

type Sink = SplitSink<WebSocket, Message>;

pub async fn run(
    mut sink: Sink,
    queue: SendQueue,
    ping_interval: Duration,
    pong_timeout: Duration,
    activity: Arc<Activity>,
) {
    let mut ticker = interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = queue.next() => match next {
                Next::Frame(frame) => {
                    if !send_or_abort(&mut sink, &queue, Message::Text(frame)).await {
                        break;
                    }
                }
                Next::Close(code) => {
                    if code == CloseCode::SlowConsumer {
                        tracing::warn!("slow consumer: the send queue overflowed; closing with 4001");
                    }
                    close(&mut sink, code).await;
                    break;
                }
                Next::Stop => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
                    break;
                }
            },
            _ = ticker.tick() => {
                if activity.idle_for() > ping_interval + pong_timeout {
                    queue.close(CloseCode::HeartbeatTimeout);
                    continue;
                }
                if !send_or_abort(&mut sink, &queue, Message::Ping(Bytes::new())).await {
                    break;
                }
            }
        }
    }
    queue.finish();
}

/// Sends one frame unless the queue aborts meanwhile (slow consumer). Returns false when the
/// socket is broken.
async fn send_or_abort(sink: &mut Sink, queue: &SendQueue, message: Message) -> bool {
    tokio::select! {
        result = sink.send(message) => result.is_ok(),
        // The frame stays in the socket's buffer and is flushed before the close frame.
        _ = queue.aborted() => true,
    }
}

async fn close(sink: &mut Sink, code: CloseCode) {
    let frame = CloseFrame {
        code: code.code(),
        reason: code.reason().into(),
    };
    let sent = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    if !matches!(sent, Ok(Ok(()))) {
        tracing::debug!(close = code.code(), "close frame could not be delivered");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}
