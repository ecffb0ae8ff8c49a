//! Per-client-IP limits for what happens before a client is signed in: token buckets (sign-in
//! requests, WebSocket upgrades), so one host cannot burn nonces, hammer the RPC node or churn
//! sockets; and counts of open sockets that have not signed in yet, so one host cannot fill
//! the instance with token-less sockets. Clients are keyed by [`limit_key`]: IPv4 address or
//! IPv6 /64. Tables are bounded: past their size, idle entries go.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use realtime_bus::{KeyedBuckets, Rate};

use crate::client_ip::limit_key;
use crate::connections::{Counts, Slot};

/// Most client IPs tracked at once.
const MAX_TRACKED: usize = 100_000;

/// A token bucket per client IP.
#[derive(Debug)]
pub struct IpLimiter {
    rate: Rate,
    buckets: KeyedBuckets<IpAddr>,
}

impl IpLimiter {
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self {
            rate: Rate { burst, per_second },
            buckets: KeyedBuckets::new(MAX_TRACKED),
        }
    }

    /// Takes a token for `ip` (an IPv6 client counts by its /64), or says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.buckets.take(&limit_key(ip), self.rate, Instant::now())
    }
}

/// Open connections or sockets per client IP (keyed by [`limit_key`]).
#[derive(Debug, Clone)]
pub struct IpCounter(Arc<Counts<IpAddr>>);

/// One counted connection of a client IP; dropping it gives the place back.
pub type IpSlot = Slot<IpAddr>;

impl IpCounter {
    pub fn new(max: usize) -> Self {
        Self(Counts::new(max))
    }

    /// Counts one for `ip`, if it has fewer than the maximum.
    pub fn take(&self, ip: IpAddr) -> Option<IpSlot> {
        self.0.take(limit_key(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_counted_per_ip_and_given_back() {
        let c = IpCounter::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let one = c.take(a).unwrap();
        let _two = c.take(a).unwrap();
        assert!(c.take(a).is_none());
        assert!(
            c.take("::ffff:10.0.0.1".parse().unwrap()).is_none(),
            "mapped is IPv4"
        );
        assert!(c.take("10.0.0.2".parse().unwrap()).is_some());
        drop(one);
        assert!(c.take(a).is_some());
    }

    #[test]
    fn limits_each_ip_separately() {
        let l = IpLimiter::new(2, 0.001);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_err());
        assert!(l.check(b).is_ok());
        // One IPv6 /64 is one client.
        let l = IpLimiter::new(1, 0.001);
        assert!(l.check("2001:db8::1".parse().unwrap()).is_ok());
        assert!(l.check("2001:db8::ffff:2".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}
