//! Two instances over one fresh Postgres database and one private Redis, as a load balancer
//! would see them: each started with `[bus] kind = "redis"` and the same session secret, and
//! both connected to the bus before a test begins.

use std::time::{Duration, Instant};

use crate::redis::Redis;
use crate::{Options, Server, drop_postgres, fresh_postgres, http, unique};

/// Both instances must accept each other's tokens (a load balancer may send a client to
/// either): they share the session secret.
pub const SECRET: &str = "instances-share-this-secret-of-forty-bytes";

/// Instances A and B, their database and their Redis.
pub struct Pair {
    pub a: Server,
    pub b: Server,
    pub redis: Redis,
    pub db: String,
}

impl Pair {
    /// Starts both with `options` (its `env` extended with the shared storage and bus).
    pub async fn start(options: Options) -> Self {
        let redis = Redis::start().await;
        let (url, db) = fresh_postgres().await;
        let prefix = unique("rt");
        let instance = || {
            let mut options = options.clone();
            options.env.extend([
                ("TORII_REALTIME__STORAGE__URL".into(), url.clone()),
                ("TORII_REALTIME__BUS__KIND".into(), "redis".into()),
                ("TORII_REALTIME__BUS__URL".into(), redis.url()),
                ("TORII_REALTIME__BUS__PREFIX".into(), prefix.clone()),
                ("TORII_REALTIME__AUTH__SESSION_SECRET".into(), SECRET.into()),
            ]);
            Server::start_with(options)
        };
        let a = instance().await;
        let b = instance().await;
        for s in [&a, &b] {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let status = http::get(s.addr, "/v1/status", &[]).await.json();
                if status["bus_status"]["state"] == "connected" {
                    break;
                }
                assert!(Instant::now() < deadline, "bus never connected");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Self { a, b, redis, db }
    }

    /// Stops both and drops the database.
    pub async fn finish(self) {
        drop(self.a);
        drop(self.b);
        drop_postgres(&self.db).await;
    }
}
