//! The `[bus]` config section. The server reads the file; the section and its rules belong to
//! the bus, as `[storage]` belongs to the store.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A setting of `[bus]` that breaks a rule: its dotted key and why.
pub use realtime_core::setting::SettingError as ConfigError;
use realtime_core::setting::refuse as fail;

/// Which fan-out implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// In-process: one instance.
    Memory,
    /// Redis pub/sub: several instances over one Redis (and one Postgres).
    Redis,
}

/// `[bus]`: fan-out between instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    pub kind: BusKind,
    /// Redis to meet the other instances at (`kind = "redis"`):
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path/to/redis.sock`.
    pub url: String,
    /// Prepended to every Redis name this server uses, so that deployments (two worlds,
    /// staging and production) can share one Redis without hearing each other.
    pub prefix: String,
    /// With a shared bus, how often each instance compares the stored head of every channel
    /// it has subscribers to with what it delivered: pub/sub may lose a notice, or Redis may
    /// be down, and a quiet channel would otherwise wait for its next message to notice.
    #[serde(with = "realtime_core::duration::serde")]
    pub head_check_interval: Duration,
    /// With a shared bus, how long the lease that makes one instance the leader (the one that
    /// posts on-chain announcements) lasts without renewal: how long announcements may wait
    /// after the leader dies before another instance takes over.
    #[serde(with = "realtime_core::duration::serde")]
    pub lease_ttl: Duration,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Memory,
            url: "redis://127.0.0.1:6379".into(),
            prefix: "torii-realtime".into(),
            head_check_interval: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(10),
        }
    }
}

/// Longest `bus.prefix`: every Redis name carries it.
pub const MAX_PREFIX_BYTES: usize = 64;

impl BusConfig {
    /// Checks the keys the chosen kind uses; `memory` uses none of them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.kind == BusKind::Memory {
            return Ok(());
        }
        check_url(&self.url)?;
        if self.prefix.is_empty() || self.prefix.len() > MAX_PREFIX_BYTES {
            return fail(
                "bus.prefix",
                format!("must be 1 to {MAX_PREFIX_BYTES} bytes"),
            );
        }
        // Glob characters would make pattern commands (PSUBSCRIBE, SCAN MATCH) over the
        // prefix match other deployments' names.
        if let Some(c) = self
            .prefix
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '*' | '?' | '[' | ']' | '\\'))
        {
            return fail(
                "bus.prefix",
                format!("{c:?} is not allowed: use ASCII letters, digits, punctuation but *?[]\\"),
            );
        }
        if self.head_check_interval < Duration::from_millis(100)
            || self.head_check_interval > Duration::from_secs(60)
        {
            return fail("bus.head_check_interval", "must be between 100ms and 60s");
        }
        // Renewed every third of it: below a second, one slow round trip would cost the lease.
        if self.lease_ttl < Duration::from_secs(1) || self.lease_ttl > Duration::from_secs(300) {
            return fail("bus.lease_ttl", "must be between 1s and 300s");
        }
        Ok(())
    }

    /// The URL with any password replaced by `***`, for logs and printed configuration.
    pub fn redacted_url(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return self.url.clone();
        };
        match rest.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split_once(':').map_or("", |(u, _)| u);
                format!("{scheme}://{user}:***@{host}")
            }
            _ => self.url.clone(),
        }
    }
}

fn check_url(url: &str) -> Result<(), ConfigError> {
    if url.starts_with("rediss://") {
        return fail(
            "bus.url",
            "TLS to Redis is not built in: reach Redis over a private network, or through a TLS \
             tunnel with a redis:// URL",
        );
    }
    if !["redis://", "redis+unix://", "unix://"]
        .iter()
        .any(|s| url.starts_with(s))
    {
        return fail(
            "bus.url",
            "expected redis://host:port or redis+unix:///path/to/redis.sock",
        );
    }
    parse_url(url)
}

#[cfg(feature = "redis")]
fn parse_url(url: &str) -> Result<(), ConfigError> {
    match redis::Client::open(url) {
        Ok(_) => Ok(()),
        Err(e) => fail("bus.url", e.to_string()),
    }
}

#[cfg(not(feature = "redis"))]
fn parse_url(_url: &str) -> Result<(), ConfigError> {
    fail("bus.kind", "this build has no Redis support")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(url: &str, prefix: &str) -> BusConfig {
        BusConfig {
            kind: BusKind::Redis,
            url: url.into(),
            prefix: prefix.into(),
            ..BusConfig::default()
        }
    }

    #[test]
    fn memory_ignores_the_redis_keys() {
        let c = BusConfig {
            url: "nonsense".into(),
            prefix: String::new(),
            ..BusConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls_and_prefixes_are_checked() {
        assert_eq!(
            redis("redis://127.0.0.1:6379", "torii-realtime").validate(),
            Ok(())
        );
        assert_eq!(
            redis("redis://:pw@cache:6380/2", "world:a").validate(),
            Ok(())
        );
        assert_eq!(
            redis("redis+unix:///run/redis.sock", "w").validate(),
            Ok(())
        );
        for (url, prefix, key) in [
            ("rediss://cache:6379", "p", "bus.url"),
            ("http://cache:6379", "p", "bus.url"),
            ("redis://", "p", "bus.url"),
            ("redis://cache", "", "bus.prefix"),
            ("redis://cache", "two words", "bus.prefix"),
            ("redis://cache", "glob*", "bus.prefix"),
            ("redis://cache", &"x".repeat(65), "bus.prefix"),
        ] {
            let e = redis(url, prefix).validate().unwrap_err();
            assert_eq!(e.key, key, "{url} {prefix}: {e}");
        }
        let mut fast = redis("redis://cache", "p");
        fast.head_check_interval = Duration::from_millis(10);
        assert_eq!(fast.validate().unwrap_err().key, "bus.head_check_interval");
        let mut short = redis("redis://cache", "p");
        short.lease_ttl = Duration::from_millis(500);
        assert_eq!(short.validate().unwrap_err().key, "bus.lease_ttl");
    }

    #[test]
    fn passwords_are_hidden() {
        let c = redis("redis://app:s3cret@cache:6379/0", "p");
        assert_eq!(c.redacted_url(), "redis://app:***@cache:6379/0");
        assert_eq!(
            redis("redis://:s3cret@cache:6379", "p").redacted_url(),
            "redis://:***@cache:6379"
        );
        assert_eq!(
            redis("redis://cache:6379", "p").redacted_url(),
            "redis://cache:6379"
        );
    }
}
