//! A connection's outbound queue, bounded by bytes. Replies and pushes wait here for the
//! writer task. When a push would take the queue past its budget, the connection is a slow
//! consumer: the queue drops what it holds (so memory is freed at once), records the close
//! code, and wakes the writer, which abandons the frame it is stuck on and closes with 4001.
//! Nothing is skipped silently: the client is told to reconnect and recover from its last seq.
//!
//! A recovery replay may be larger than the budget; it goes through [`SendQueue::push_paced`],
//! which waits for room instead of failing, so a client that reads at all receives it. Paced
//! frames fill at most three quarters of the budget: the rest stays free for replies and live
//! pushes sent meanwhile.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use realtime_protocol::CloseCode;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::metrics::SlowCause;

/// What the writer should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Frames were taken into the caller's batch.
    Frames,
    /// Send a close frame with this code, then stop.
    Close(CloseCode),
    /// The peer is gone: stop without a close frame.
    Stop,
}

#[derive(Debug)]
enum Ending {
    Close(CloseCode),
    Stop,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
    ending: Option<Ending>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    notify: Notify,
    /// Signalled when the writer takes a frame, for pushes waiting for room.
    room: Notify,
    budget: usize,
    /// Cancelled when the writer must stop at once, even mid-frame (slow consumer).
    abort: CancellationToken,
    /// Cancelled when the connection is over for whatever reason.
    done: CancellationToken,
}

/// Cheap to clone; every clone is the same queue.
#[derive(Debug, Clone)]
pub struct SendQueue {
    inner: Arc<Inner>,
}

/// The queue overflowed; the connection is being closed as a slow consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl SendQueue {
    pub fn new(budget: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                notify: Notify::new(),
                room: Notify::new(),
                budget,
                abort: CancellationToken::new(),
                done: CancellationToken::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame. Frames pushed after the connection started closing are dropped.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), Overflow> {
        self.push_quiet(frame)?;
        self.wake();
        Ok(())
    }

    /// Queues a frame without waking the writer: a caller pushing several frames (a batch
    /// of messages) wakes it once with [`SendQueue::wake`], so they go out in one write.
    pub fn push_quiet(&self, frame: Utf8Bytes) -> Result<(), Overflow> {
        let mut state = self.lock();
        if state.ending.is_some() {
            return Ok(());
        }
        let len = frame.len();
        if state.bytes + len > self.inner.budget {
            drop(state);
            self.fail_slow(SlowCause::Overflow);
            return Err(Overflow);
        }
        state.bytes += len;
        state.frames.push_back(frame);
        Ok(())
    }

    /// Wakes the writer for frames pushed with [`SendQueue::push_quiet`].
    pub fn wake(&self) {
        self.inner.notify.notify_one();
    }

    /// Queues a frame, waiting up to `patience` for the writer to make room when the budget is
    /// full. A client that takes nothing for that long is closed as a slow consumer.
    pub async fn push_paced(
        &self,
        frame: Utf8Bytes,
        patience: std::time::Duration,
    ) -> Result<(), Overflow> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let room = self.inner.room.notified();
            {
                let state = self.lock();
                if state.ending.is_some() {
                    return Ok(());
                }
                // An empty queue always takes one frame, however large. Paced frames leave a
                // quarter of the budget free, so replies and live pushes that arrive meanwhile
                // (which are not paced) still fit.
                let paced_budget = self.inner.budget - self.inner.budget / 4;
                if state.bytes == 0 || state.bytes + frame.len() <= paced_budget {
                    drop(state);
                    return self.push(frame);
                }
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return self.push(frame);
            }
        }
    }

    /// The peer is not keeping up: drop everything queued (freeing the memory now), abandon
    /// the frame being written, and close with 4001.
    pub fn fail_slow(&self, cause: SlowCause) {
        let mut state = self.lock();
        state.frames.clear();
        state.bytes = 0;
        if state.ending.is_none() {
            state.ending = Some(Ending::Close(CloseCode::SlowConsumer));
            crate::metrics::get().slow_consumer(cause);
        }
        drop(state);
        self.inner.abort.cancel();
        self.inner.notify.notify_one();
    }

    /// Asks the writer to send what is queued, then close with `code`. The first ending wins.
    pub fn close(&self, code: CloseCode) {
        self.end(Ending::Close(code));
    }

    /// The peer went away: the writer stops without sending anything more.
    pub fn stop(&self) {
        self.end(Ending::Stop);
        self.inner.abort.cancel();
    }

    fn end(&self, ending: Ending) {
        let mut state = self.lock();
        if state.ending.is_none() {
            state.ending = Some(ending);
        }
        drop(state);
        self.inner.notify.notify_one();
    }

    /// Whether the connection is closing.
    pub fn is_closing(&self) -> bool {
        self.lock().ending.is_some()
    }

    /// The close code recorded, if the connection is closing with one.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self.lock().ending {
            Some(Ending::Close(c)) => Some(c),
            _ => None,
        }
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Waits for the next thing the writer must do. Queued frames come first: they are moved
    /// into `batch`, oldest first, up to `max_bytes` (at least one frame, however large).
    pub async fn next_batch(&self, batch: &mut Vec<Utf8Bytes>, max_bytes: usize) -> Next {
        loop {
            let notified = self.inner.notify.notified();
            {
                let mut state = self.lock();
                if !state.frames.is_empty() {
                    let mut taken = 0;
                    while let Some(frame) = state.frames.front() {
                        if taken > 0 && taken + frame.len() > max_bytes {
                            break;
                        }
                        taken += frame.len();
                        if let Some(frame) = state.frames.pop_front() {
                            batch.push(frame);
                        }
                    }
                    state.bytes -= taken;
                    drop(state);
                    self.inner.room.notify_waiters();
                    return Next::Frames;
                }
                match state.ending {
                    Some(Ending::Close(code)) => return Next::Close(code),
                    Some(Ending::Stop) => return Next::Stop,
                    None => {}
                }
            }
            notified.await;
        }
    }

    /// The next frame alone, or what the writer must do instead.
    #[cfg(test)]
    pub(crate) async fn next_one(&self) -> Result<Utf8Bytes, Next> {
        let mut batch = Vec::new();
        match self.next_batch(&mut batch, 1).await {
            Next::Frames => Ok(batch.remove(0)),
            other => Err(other),
        }
    }

    /// Resolves when the writer must abandon the frame it is writing.
    pub async fn aborted(&self) {
        self.inner.abort.cancelled().await;
    }

    /// Marks the connection finished (called by the writer when it exits).
    pub fn finish(&self) {
        self.inner.done.cancel();
    }

    /// Resolves once the writer has finished.
    pub async fn finished(&self) {
        self.inner.done.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Utf8Bytes {
        Utf8Bytes::from("x".repeat(n))
    }

    #[tokio::test]
    async fn a_batch_takes_queued_frames_in_order_up_to_its_size() {
        let q = SendQueue::new(100);
        for n in [10, 20, 30] {
            q.push_quiet(frame(n)).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(q.next_batch(&mut batch, 35).await, Next::Frames);
        assert_eq!(batch, [frame(10), frame(20)]);
        assert_eq!(q.queued_bytes(), 30);
        batch.clear();
        // One frame larger than the batch size still goes.
        q.push(frame(40)).unwrap();
        assert_eq!(q.next_batch(&mut batch, 5).await, Next::Frames);
        assert_eq!(batch, [frame(30)]);
    }

    #[tokio::test]
    async fn frames_come_out_in_order_then_the_close() {
        let q = SendQueue::new(100);
        q.push(frame(10)).unwrap();
        q.push(frame(20)).unwrap();
        q.close(CloseCode::Shutdown);
        q.push(frame(5)).unwrap(); // dropped: closing
        assert_eq!(q.next_one().await, Ok(frame(10)));
        assert_eq!(q.next_one().await, Ok(frame(20)));
        assert_eq!(q.next_one().await, Err(Next::Close(CloseCode::Shutdown)));
    }

    #[tokio::test]
    async fn overflow_frees_memory_and_closes_as_slow_consumer() {
        let q = SendQueue::new(100);
        q.push(frame(60)).unwrap();
        assert_eq!(q.queued_bytes(), 60);
        assert_eq!(q.push(frame(41)), Err(Overflow));
        assert_eq!(q.queued_bytes(), 0);
        assert_eq!(q.close_code(), Some(CloseCode::SlowConsumer));
        // A later close does not override the first reason.
        q.close(CloseCode::Shutdown);
        assert_eq!(
            q.next_one().await,
            Err(Next::Close(CloseCode::SlowConsumer))
        );
        tokio::time::timeout(std::time::Duration::from_secs(1), q.aborted())
            .await
            .expect("the writer is told to abandon its frame");
    }

    #[tokio::test]
    async fn paced_pushes_wait_for_room_instead_of_overflowing() {
        let q = SendQueue::new(100);
        q.push(frame(80)).unwrap();
        let q2 = q.clone();
        let paced = tokio::spawn(async move {
            q2.push_paced(frame(50), std::time::Duration::from_secs(5))
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!paced.is_finished(), "waits while the budget is full");
        assert_eq!(q.next_one().await, Ok(frame(80)));
        assert_eq!(paced.await.unwrap(), Ok(()));
        assert_eq!(q.next_one().await, Ok(frame(50)));
        assert_eq!(q.close_code(), None);
    }

    #[tokio::test]
    async fn paced_pushes_leave_room_for_replies() {
        let q = SendQueue::new(100);
        q.push(frame(60)).unwrap();
        let q2 = q.clone();
        let paced = tokio::spawn(async move {
            q2.push_paced(frame(20), std::time::Duration::from_secs(5))
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !paced.is_finished(),
            "80 of 100 would pass the paced three quarters: it waits"
        );
        q.push(frame(40)).expect("a reply still fits beside it");
        assert_eq!(q.next_one().await, Ok(frame(60)));
        assert_eq!(q.next_one().await, Ok(frame(40)));
        assert_eq!(paced.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_paced_push_gives_up_on_a_reader_that_takes_nothing() {
        let q = SendQueue::new(100);
        q.push(frame(80)).unwrap();
        let r = q
            .push_paced(frame(50), std::time::Duration::from_millis(50))
            .await;
        assert_eq!(r, Err(Overflow));
        assert_eq!(q.close_code(), Some(CloseCode::SlowConsumer));
    }

    #[tokio::test]
    async fn the_writer_wakes_for_new_frames() {
        let q = SendQueue::new(100);
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.next_one().await });
        tokio::task::yield_now().await;
        q.push(frame(3)).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(frame(3)));
    }
}
