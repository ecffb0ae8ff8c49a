//! [`SharedState`] over Redis, on the broker's publishing connection.
//!
//! - **Presence**: a sorted set per channel, `{prefix}:pr:{channel}`, of
//!   `{address}/{instance}` → expiry (ms since the epoch). An instance writes an entry for
//!   each address with a subscribed socket on it, refreshes all of them every
//!   [`REFRESH_EVERY`], and removes one when the address's last local socket leaves; an
//!   address on two instances has two entries and counts once. Readers skip expired
//!   entries and remove them; the key itself expires [`ENTRY_TTL`] after its last write.
//! - **Connections**: a sorted set per address, `{prefix}:cn:{address}`, of
//!   `{instance}/{connection}` → expiry, written by a script that counts the live entries
//!   and adds one only under the cap (atomic, so two instances cannot both take the last
//!   place). Refreshed with the presence entries; "online" is "has a live entry".
//!
//! Expiries are written with each instance's clock: clocks are assumed to agree within a
//! second or two (NTP), small beside [`ENTRY_TTL`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use redis::aio::MultiplexedConnection;

use super::link::Link;
use crate::BusError;
use crate::cluster::{ENTRY_TTL, Round, SharedState};

/// How long one round of commands may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(1);

/// KEYS[1]: the address's connections. ARGV: now, expiry, cap, member, key lifetime (ms).
pub(super) const CLAIM: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
";

/// Presence and connection entries of one instance in Redis.
pub struct RedisShared {
    pub(super) prefix: String,
    pub(super) origin: u64,
    pub(super) link: Arc<Link>,
}

impl std::fmt::Debug for RedisShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisShared")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

pub(crate) fn presence_key(prefix: &str, channel: &str) -> String {
    format!("{prefix}:pr:{channel}")
}

pub(crate) fn connections_key(prefix: &str, address: &str) -> String {
    format!("{prefix}:cn:{address}")
}

/// A presence member: the address, and the instance that wrote it.
fn presence_member(address: &str, origin: u64) -> String {
    format!("{address}/{origin:x}")
}

/// The address of a presence member, unless `skip` wrote it.
fn member_address(member: &str, skip: Option<u64>) -> Option<&str> {
    let (address, origin) = member.rsplit_once('/')?;
    let origin = u64::from_str_radix(origin, 16).ok()?;
    (Some(origin) != skip).then_some(address)
}

/// Distinct addresses of `members`, sorted, leaving out those `skip` wrote.
pub(crate) fn addresses(members: &[String], skip: Option<u64>) -> Vec<String> {
    members
        .iter()
        .filter_map(|m| member_address(m, skip))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

impl RedisShared {
    fn conn(&self) -> Result<MultiplexedConnection, BusError> {
        self.link
            .commands()
            .ok_or_else(|| unavailable("redis is unreachable"))
    }

    fn connection_member(&self, conn: u64) -> String {
        format!("{:x}/{conn}", self.origin)
    }
}

async fn timed<T>(f: impl Future<Output = redis::RedisResult<T>>) -> Result<T, BusError> {
    super::metrics::timed(super::metrics::Op::Shared, async {
        match tokio::time::timeout(TIMEOUT, f).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(unavailable("redis did not answer in time")),
        }
    })
    .await
}

impl SharedState for RedisShared {
    fn sync(&self, round: Round) -> BoxFuture<'_, Result<HashMap<String, Vec<String>>, BusError>> {
        Box::pin(async move {
            let mut conn = self.conn()?;
            let now = now_ms();
            let expiry = now + ENTRY_TTL.as_millis() as u64;
            let ttl = ENTRY_TTL.as_millis() as u64;
            let mut pipe = redis::pipe();
            for (channel, present) in &round.present {
                if present.is_empty() {
                    continue;
                }
                let key = presence_key(&self.prefix, channel);
                let items: Vec<(u64, String)> = present
                    .iter()
                    .map(|a| (expiry, presence_member(a, self.origin)))
                    .collect();
                pipe.zadd_multiple(&key, &items).ignore();
                pipe.pexpire(&key, ttl as i64).ignore();
            }
            for (channel, left) in &round.left {
                let members: Vec<String> = left
                    .iter()
                    .map(|a| presence_member(a, self.origin))
                    .collect();
                if !members.is_empty() {
                    pipe.zrem(presence_key(&self.prefix, channel), members)
                        .ignore();
                }
            }
            for (address, conns) in &round.connections {
                if conns.is_empty() {
                    continue;
                }
                let key = connections_key(&self.prefix, address);
                // XX: a connection released meanwhile is not brought back.
                let mut cmd = redis::cmd("ZADD");
                cmd.arg(&key).arg("XX");
                for c in conns {
                    cmd.arg(expiry).arg(self.connection_member(*c));
                }
                pipe.add_command(cmd).ignore();
                pipe.pexpire(&key, ttl as i64).ignore();
            }
            for channel in &round.read {
                let key = presence_key(&self.prefix, channel);
                pipe.zrembyscore(&key, "-inf", now).ignore();
                pipe.zrangebyscore(&key, now + 1, "+inf");
            }
            // An idle instance has nothing to write or read: an empty pipeline is an error
            // to Redis, and a round trip for nothing.
            if pipe.cmd_iter().next().is_none() {
                return Ok(HashMap::new());
            }
            let read: Vec<Vec<String>> = timed(pipe.query_async(&mut conn)).await?;
            Ok(round
                .read
                .into_iter()
                .zip(read)
                .map(|(channel, members)| (channel, addresses(&members, Some(self.origin))))
                .collect())
        })
    }

    fn present(&self, channel: &str) -> BoxFuture<'_, Result<Vec<String>, BusError>> {
        let key = presence_key(&self.prefix, channel);
        Box::pin(async move {
            let mut conn = self.conn()?;
            let members: Vec<String> = timed(redis::AsyncCommands::zrangebyscore(
                &mut conn,
                &key,
                now_ms() + 1,
                "+inf",
            ))
            .await?;
            Ok(addresses(&members, None))
        })
    }

    fn claim(&self, address: &str, conn: u64, max: usize) -> BoxFuture<'_, Result<bool, BusError>> {
        let key = connections_key(&self.prefix, address);
        let member = self.connection_member(conn);
        Box::pin(async move {
            let mut c = self.conn()?;
            let now = now_ms();
            let mut eval = redis::cmd("EVAL");
            eval.arg(CLAIM)
                .arg(1)
                .arg(key)
                .arg(now)
                .arg(now + ENTRY_TTL.as_millis() as u64)
                .arg(max)
                .arg(member)
                .arg(ENTRY_TTL.as_millis() as u64);
            let taken: i64 = timed(eval.query_async(&mut c)).await?;
            Ok(taken == 1)
        })
    }

    fn release(&self, address: &str, conn: u64) {
        let Ok(mut c) = self.conn() else {
            return; // It expires.
        };
        let key = connections_key(&self.prefix, address);
        let member = self.connection_member(conn);
        tokio::spawn(async move {
            let _ = timed(redis::AsyncCommands::zrem::<_, _, ()>(&mut c, key, member)).await;
        });
    }

    fn online(&self, addresses: &[String]) -> BoxFuture<'_, Result<Vec<bool>, BusError>> {
        let keys: Vec<String> = addresses
            .iter()
            .map(|a| connections_key(&self.prefix, a))
            .collect();
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut conn = self.conn()?;
            let now = now_ms();
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.zcount(key, now + 1, "+inf");
            }
            let counts: Vec<u64> = timed(pipe.query_async(&mut conn)).await?;
            Ok(counts.into_iter().map(|n| n > 0).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_on_several_instances_counts_once() {
        let members = vec![
            presence_member("0x2", 0xa),
            presence_member("0x1", 0xa),
            presence_member("0x1", 0xb),
            "garbage".to_owned(),
            "0x3/not-hex".to_owned(),
        ];
        assert_eq!(addresses(&members, None), vec!["0x1", "0x2"]);
        // An instance's own entries are left out of what it reads of the others.
        assert_eq!(addresses(&members, Some(0xa)), vec!["0x1"]);
        assert_eq!(addresses(&members, Some(0xb)), vec!["0x1", "0x2"]);
        assert_eq!(presence_key("d", "guild:1"), "d:pr:guild:1");
        assert_eq!(connections_key("d", "0x1"), "d:cn:0x1");
    }
}
