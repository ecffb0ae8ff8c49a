//! Connection counting: a total for the instance and a count per address, and the generic
//! per-key counts behind both (also used per client IP). Slots are RAII guards, so a session
//! that ends in any way gives its slot back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use realtime_core::Address;

/// Counts of open things per key, at most `max` per key.
#[derive(Debug)]
pub struct Counts<K> {
    max: usize,
    counts: Mutex<HashMap<K, usize>>,
}

/// One counted thing of a key; dropping it gives the place back.
#[derive(Debug)]
pub struct Slot<K: Hash + Eq>(Arc<Counts<K>>, K);

impl<K: Hash + Eq + Clone> Counts<K> {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one more for `key`, if it has fewer than the maximum.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Slot<K>> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            if *n == 0 {
                counts.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), key))
    }
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut counts = self.0.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.1);
            }
        }
    }
}

/// Counts of open connections.
#[derive(Debug)]
pub struct Connections {
    total: AtomicUsize,
    per_address: Arc<Counts<Address>>,
    max_total: usize,
}

/// One of the instance's connection slots.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<Connections>);

/// One of an address's connection slots.
pub type AddressSlot = Slot<Address>;

impl Connections {
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            total: AtomicUsize::new(0),
            per_address: Counts::new(max_per_address),
            max_total,
        }
    }

    /// Open connections.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Takes an instance slot, if the total allows.
    pub fn open(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let taken = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| ConnectionSlot(self.clone()))
    }

    /// Takes a slot for `address`, if its limit allows.
    pub fn claim(&self, address: Address) -> Option<AddressSlot> {
        self.per_address.take(address)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.total.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_returned() {
        let c = Arc::new(Connections::new(2, 1));
        let a = c.open().unwrap();
        let _b = c.open().unwrap();
        assert!(c.open().is_none());
        drop(a);
        assert!(c.open().is_some());

        let addr: Address = "0x5".parse().unwrap();
        let s = c.claim(addr).unwrap();
        assert!(c.claim(addr).is_none());
        assert!(c.claim("0x6".parse().unwrap()).is_some());
        drop(s);
        assert!(c.claim(addr).is_some());
    }
}
