//! Signed-in sessions by address, so that what concerns an address (an on-chain change, a
//! new direct-message thread, a read on another device) reaches each of its connections.

use std::collections::HashMap;
use std::sync::Mutex;

use realtime_core::Address;
use realtime_protocol::CloseCode;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::hub::ConnId;
use crate::queue::SendQueue;

/// Something a session must do on behalf of another task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCommand {
    /// Permissions may have shrunk: check every subscription again.
    Recheck,
}

/// Capacity of a session's command queue; a full queue already holds a pending recheck.
pub const COMMAND_QUEUE: usize = 8;

/// How to reach one signed-in session.
#[derive(Debug, Clone)]
pub struct Handle {
    /// Its command queue, read by its reader task.
    pub commands: mpsc::Sender<SessionCommand>,
    /// Its outbound queue, for pushes.
    pub queue: SendQueue,
    /// The id (`jti`) of the token it signed in with, so one session can be revoked.
    pub jti: Option<std::sync::Arc<str>>,
}

type Sessions = HashMap<Address, HashMap<ConnId, Handle>>;

#[derive(Debug, Default)]
pub struct Registry {
    by_address: Mutex<Sessions>,
}

impl Registry {
    fn map(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.by_address.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, address: Address, conn: ConnId, handle: Handle) {
        self.map().entry(address).or_default().insert(conn, handle);
    }

    pub fn unregister(&self, address: Address, conn: ConnId) {
        let mut map = self.map();
        if let Some(conns) = map.get_mut(&address) {
            conns.remove(&conn);
            if conns.is_empty() {
                map.remove(&address);
            }
        }
    }

    /// Asks every session of `address` to re-check its subscriptions.
    pub fn recheck(&self, address: Address) {
        if let Some(conns) = self.map().get(&address) {
            for handle in conns.values() {
                // Full means a recheck is already queued.
                let _ = handle.commands.try_send(SessionCommand::Recheck);
            }
        }
    }

    /// Queues `frame` on every session of `address` except `except`; how many got it. A
    /// queue that overflows closes its connection as a slow consumer, as for any push.
    pub fn push(&self, address: Address, frame: &Utf8Bytes, except: Option<ConnId>) -> usize {
        let map = self.map();
        let Some(conns) = map.get(&address) else {
            return 0;
        };
        let sent = conns
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .filter(|(_, h)| h.queue.push(frame.clone()).is_ok())
            .count();
        crate::metrics::get().messages_out(crate::metrics::Feature::Notice, sent as u64);
        sent
    }

    /// Records the token a session refreshed to.
    pub fn set_jti(&self, address: Address, conn: ConnId, jti: Option<&str>) {
        if let Some(handle) = self
            .map()
            .get_mut(&address)
            .and_then(|conns| conns.get_mut(&conn))
        {
            handle.jti = jti.map(std::sync::Arc::from);
        }
    }

    /// Sends `frame` to every session of `address`, then closes each with `code`; how many.
    pub fn close(&self, address: Address, frame: &Utf8Bytes, code: CloseCode) -> usize {
        let map = self.map();
        let Some(conns) = map.get(&address) else {
            return 0;
        };
        for handle in conns.values() {
            let _ = handle.queue.push(frame.clone());
            handle.queue.close(code);
        }
        conns.len()
    }

    /// [`Registry::close`] for the sessions signed in with token `jti`.
    pub fn close_token(&self, jti: &str, frame: &Utf8Bytes, code: CloseCode) -> usize {
        let map = self.map();
        let mut closed = 0;
        for handle in map.values().flat_map(HashMap::values) {
            if handle.jti.as_deref() == Some(jti) {
                let _ = handle.queue.push(frame.clone());
                handle.queue.close(code);
                closed += 1;
            }
        }
        closed
    }

    /// [`Registry::close`] for every session whose token `revoked` says is revoked.
    pub fn close_revoked(
        &self,
        revoked: impl Fn(&str) -> bool,
        frame: &Utf8Bytes,
        code: CloseCode,
    ) -> usize {
        let map = self.map();
        let mut closed = 0;
        for handle in map.values().flat_map(HashMap::values) {
            if handle.jti.as_deref().is_some_and(&revoked) && !handle.queue.is_closing() {
                let _ = handle.queue.push(frame.clone());
                handle.queue.close(code);
                closed += 1;
            }
        }
        closed
    }

    /// Whether `address` has a signed-in session on this instance.
    pub fn is_online(&self, address: Address) -> bool {
        self.map().contains_key(&address)
    }

    /// The connections of every signed-in address, to refresh their shared entries.
    pub fn connections(&self) -> Vec<(Address, Vec<ConnId>)> {
        self.map()
            .iter()
            .map(|(a, conns)| (*a, conns.keys().copied().collect()))
            .collect()
    }

    /// Signed-in sessions.
    pub fn len(&self) -> usize {
        self.map().values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
