//! Signed-in sessions by address, so that on-chain changes can reach the connections of the
//! address they concern.

use std::collections::HashMap;
use std::sync::Mutex;

use realtime_core::Address;
use tokio::sync::mpsc;

use crate::hub::ConnId;

/// Something a session must do on behalf of another task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCommand {
    /// Permissions may have shrunk: check every subscription again.
    Recheck,
}

/// Capacity of a session's command queue; a full queue already holds a pending recheck.
pub const COMMAND_QUEUE: usize = 8;

#[derive(Debug, Default)]
pub struct Registry {
    by_address: Mutex<HashMap<Address, HashMap<ConnId, mpsc::Sender<SessionCommand>>>>,
}

impl Registry {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Address, HashMap<ConnId, mpsc::Sender<SessionCommand>>>>
    {
        self.by_address.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, address: Address, conn: ConnId, tx: mpsc::Sender<SessionCommand>) {
        self.map().entry(address).or_default().insert(conn, tx);
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
            for tx in conns.values() {
                // Full means a recheck is already queued.
                let _ = tx.try_send(SessionCommand::Recheck);
            }
        }
    }

    /// Signed-in sessions.
    pub fn len(&self) -> usize {
        self.map().values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
