//! Per-client-IP token buckets for unauthenticated endpoints (sign-in), so one client cannot
//! burn nonces or hammer the RPC node. The table is bounded: past its size, idle entries go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use realtime_core::TokenBucket;

/// Most client IPs tracked at once.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub struct IpLimiter {
    burst: u32,
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, (TokenBucket, Instant)>>,
}

impl IpLimiter {
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self {
            burst,
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `ip` (an IPv6 client counts by its /64, which one host usually
    /// holds whole), or says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let ip = match ip {
            IpAddr::V6(v6) => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
            v4 => v4,
        };
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            // A bucket idle for the time a full refill takes is full again: forget it.
            let refill = Duration::from_secs_f64(f64::from(self.burst) / self.per_second);
            map.retain(|_, (_, seen)| now.duration_since(*seen) < refill);
        }
        let (bucket, seen) = map
            .entry(ip)
            .or_insert_with(|| (TokenBucket::new(self.burst, self.per_second, now), now));
        *seen = now;
        bucket.try_take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
