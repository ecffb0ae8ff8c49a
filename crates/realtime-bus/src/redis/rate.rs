//! Rate limits shared by every instance: one token bucket per subject in Redis, so an
//! address whose connections land on several instances gets one allowance, not one each.
//!
//! A bucket is a hash `{prefix}:rl:{subject}` with the tokens left and when they were
//! counted, updated by one Lua script (read, refill, take, write, in one atomic step, on
//! Redis's clock so instances' clocks need not agree). The key expires once the bucket would
//! be full again: an idle subject costs nothing.
//!
//! **Fails open to the local buckets.** When Redis cannot be reached or does not answer
//! within [`TAKE_TIMEOUT`], the action is counted in this instance's own buckets instead, as
//! with one instance: an outage of the shared store must not stop chat, and each instance
//! still limits what it sees. The number of such fallbacks is in `/v1/status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::link::Link;
use crate::rate::{MemoryRateLimiter, Rate, RateLimiter};

/// How long a take may wait for Redis before the local bucket decides: it is on the path of
/// every publish.
const TAKE_TIMEOUT: Duration = Duration::from_millis(250);
/// Longest time a bucket is kept (a very slow rate): a day, as for the local buckets.
const MAX_TTL_MS: u64 = 86_400_000;

/// KEYS[1]: the bucket. ARGV: burst, tokens per second, key lifetime in ms.
/// Returns 0 when a token was taken, else the milliseconds until one is back.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2]) / 1000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * per_ms)
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
elseif per_ms > 0 then
  wait = math.max(1, math.ceil((1 - tokens) / per_ms))
else
  wait = 4294967295000
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return wait
";

/// Per-subject buckets in Redis, with this instance's buckets as the fallback.
pub struct RedisRateLimiter {
    prefix: String,
    link: Arc<Link>,
    local: MemoryRateLimiter,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("fallbacks", &self.fallbacks.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    pub(super) fn new(prefix: String, link: Arc<Link>, max_local_subjects: usize) -> Self {
        Self {
            prefix,
            link,
            local: MemoryRateLimiter::new(max_local_subjects),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// Takes a token from the shared bucket; `None` when Redis did not answer.
    async fn shared(&self, subject: &str, rate: Rate) -> Option<Result<(), Duration>> {
        let mut conn = self.link.commands()?;
        let key = bucket_key(&self.prefix, subject);
        let ttl = ttl_ms(rate);
        // EVAL rather than EVALSHA: Redis caches the compiled script by its text, and a
        // Redis that restarted empty needs no reload.
        let mut eval = redis::cmd("EVAL");
        eval.arg(TAKE)
            .arg(1)
            .arg(key)
            .arg(rate.burst.max(1))
            .arg(rate.per_second.max(0.0))
            .arg(ttl);
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(TAKE_TIMEOUT, eval.query_async::<u64>(&mut conn)).await;
        let answer = answer.ok().and_then(Result::ok);
        super::metrics::record(super::metrics::Op::RateLimit, started, answer.is_some());
        let wait = answer?;
        Some(if wait == 0 {
            Ok(())
        } else {
            Err(Duration::from_millis(wait))
        })
    }
}

impl RateLimiter for RedisRateLimiter {
    fn take(&self, subject: &str, rate: Rate) -> BoxFuture<'_, Result<(), Duration>> {
        let subject = subject.to_owned();
        Box::pin(async move {
            match self.shared(&subject, rate).await {
                Some(result) => result,
                None => {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    self.local.take(&subject, rate).await
                }
            }
        })
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}

/// The Redis key of a subject's bucket.
pub(crate) fn bucket_key(prefix: &str, subject: &str) -> String {
    format!("{prefix}:rl:{subject}")
}

/// How long an untouched bucket takes to be full again, in ms (at least 1 s): after that
/// its key can go.
fn ttl_ms(rate: Rate) -> u64 {
    let per_second = rate.per_second.max(1e-9);
    let ms = (f64::from(rate.burst.max(1)) / per_second * 1000.0).ceil();
    (ms as u64).clamp(1000, MAX_TTL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_until_the_bucket_is_full_again() {
        let rate = |burst, per_second| Rate { burst, per_second };
        assert_eq!(ttl_ms(rate(10, 2.0)), 5000);
        assert_eq!(ttl_ms(rate(1, 1000.0)), 1000, "at least a second");
        assert_eq!(ttl_ms(rate(5, 0.0)), MAX_TTL_MS, "never refills: a day");
        assert_eq!(bucket_key("deploy", "publish:0x1"), "deploy:rl:publish:0x1");
    }
}
