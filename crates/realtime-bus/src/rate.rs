//! Rate limits kept per subject (an address, a client IP) rather than per connection, so a
//! client that reconnects does not get a full bucket back. [`RateLimiter`] is what the server
//! calls; [`MemoryRateLimiter`] keeps the buckets of one instance, and a shared store (Redis)
//! plugs in behind the same trait for limits across instances.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt};
use realtime_core::TokenBucket;

/// A limit: up to `burst` actions at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub per_second: f64,
}

impl Rate {
    /// How long an untouched bucket takes to be full again: after that it can be forgotten.
    fn refill(self) -> Duration {
        Duration::from_secs_f64(f64::from(self.burst.max(1)) / self.per_second.max(1e-9))
            .min(Duration::from_secs(86_400))
    }
}

/// Per-subject rate limits.
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one action of `subject` under `rate`, or says how long until one is allowed.
    /// Subjects are namespaced by the caller (`publish:0x…`, `read:0x…`).
    fn take(&self, subject: &str, rate: Rate) -> BoxFuture<'_, Result<(), Duration>>;

    /// Short name for logs (`memory`, `redis`).
    fn kind(&self) -> &'static str;

    /// Takes decided by this instance's own buckets because the shared store could not be
    /// reached (a shared limiter fails open to local limits); always 0 for local limiters.
    fn fallbacks(&self) -> u64 {
        0
    }
}

/// Token buckets by key, bounded: when the table is full, buckets idle long enough to be full
/// again are forgotten (forgetting them changes nothing), at most once a second so that a
/// full table costs no scan per request. Past twice the size a new key is refused (told to
/// wait) rather than let the table grow: under a flood of new keys, limits fail closed.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    max: usize,
    buckets: Mutex<Table<K>>,
}

#[derive(Debug)]
struct Table<K> {
    map: HashMap<K, Entry>,
    swept: Option<Instant>,
}

/// How often a full table may be swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Entry {
    bucket: TokenBucket,
    seen: Instant,
    refill: Duration,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    /// A table of at most about `max` buckets.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            buckets: Mutex::new(Table {
                map: HashMap::new(),
                swept: None,
            }),
        }
    }

    /// Takes one token from `key`'s bucket under `rate`.
    pub fn take(&self, key: &K, rate: Rate, now: Instant) -> Result<(), Duration> {
        let mut table = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Table { map, swept } = &mut *table;
        if map.len() >= self.max && !map.contains_key(key) {
            if swept.is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY) {
                *swept = Some(now);
                map.retain(|_, e| now.saturating_duration_since(e.seen) < e.refill);
            }
            if map.len() >= self.max.saturating_mul(2) {
                return Err(SWEEP_EVERY);
            }
        }
        let entry = map.entry(key.clone()).or_insert_with(|| Entry {
            bucket: TokenBucket::new(rate.burst, rate.per_second, now),
            seen: now,
            refill: rate.refill(),
        });
        entry.seen = now;
        entry.bucket.try_take(now)
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The buckets of this instance.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    buckets: KeyedBuckets<String>,
}

impl MemoryRateLimiter {
    /// Keeps at most about `max_subjects` buckets.
    pub fn new(max_subjects: usize) -> Self {
        Self {
            buckets: KeyedBuckets::new(max_subjects),
        }
    }
}

impl RateLimiter for MemoryRateLimiter {
    fn take(&self, subject: &str, rate: Rate) -> BoxFuture<'_, Result<(), Duration>> {
        let result = self.buckets.take(&subject.to_owned(), rate, Instant::now());
        futures_util::future::ready(result).boxed()
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: Rate = Rate {
        burst: 2,
        per_second: 0.001,
    };

    #[tokio::test]
    async fn a_subject_keeps_its_bucket_whoever_asks() {
        let l = MemoryRateLimiter::new(100);
        assert!(l.take("publish:0xa", SLOW).await.is_ok());
        assert!(l.take("publish:0xa", SLOW).await.is_ok());
        let wait = l.take("publish:0xa", SLOW).await.unwrap_err();
        assert!(wait > Duration::from_secs(100));
        assert!(l.take("publish:0xb", SLOW).await.is_ok(), "another subject");
        assert!(l.take("read:0xa", SLOW).await.is_ok(), "another namespace");
    }

    #[test]
    fn the_table_is_bounded_by_forgetting_full_buckets() {
        let b = KeyedBuckets::new(2);
        let fast = Rate {
            burst: 1,
            per_second: 1000.0,
        };
        let start = Instant::now();
        b.take(&1, fast, start).unwrap();
        b.take(&2, SLOW, start).unwrap();
        // Later, the fast bucket is full again and goes; the slow one stays.
        let later = start + Duration::from_secs(1);
        b.take(&3, fast, later).unwrap();
        assert_eq!(b.len(), 2);
        b.take(&2, SLOW, later).unwrap();
        assert!(b.take(&2, SLOW, later).is_err(), "the slow bucket was kept");
    }

    #[test]
    fn a_flood_of_new_keys_is_refused_past_twice_the_size() {
        let b = KeyedBuckets::new(2);
        let now = Instant::now();
        for k in 0..4 {
            b.take(&k, SLOW, now).unwrap();
        }
        assert_eq!(b.take(&99, SLOW, now), Err(SWEEP_EVERY));
        assert_eq!(b.len(), 4, "the table did not grow");
        // Known keys keep their buckets.
        assert!(b.take(&0, SLOW, now).is_ok());
    }
}
