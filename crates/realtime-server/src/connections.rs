//! Connection counting: a total for the instance and a count per address. Slots are RAII
//! guards, so a session that ends in any way gives its slot back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use realtime_core::Address;

/// Counts of open WebSocket connections.
#[derive(Debug)]
pub struct Connections {
    total: AtomicUsize,
    per_address: Mutex<HashMap<Address, usize>>,
    max_total: usize,
    max_per_address: usize,
}

/// One of the instance's connection slots.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<Connections>);

/// One of an address's connection slots.
#[derive(Debug)]
pub struct AddressSlot(Arc<Connections>, Address);

impl Connections {
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            max_total,
            max_per_address,
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
    pub fn claim(self: &Arc<Self>, address: Address) -> Option<AddressSlot> {
        let mut map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(address).or_insert(0);
        if *n >= self.max_per_address {
            if *n == 0 {
                map.remove(&address);
            }
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), address))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.total.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.0.per_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
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
