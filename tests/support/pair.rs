//! Two instances over one Postgres database and one private Redis, as a load balancer
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
    /// The database made for the pair on the shared Postgres, dropped by [`Pair::finish`];
    /// empty when the pair was started on a database the test owns ([`Pair::start_on`]).
    pub db: String,
    /// What each instance is started with (storage, bus and secret included), for
    /// [`Pair::start_instance`].
    options: Options,
}

impl Pair {
    /// Starts both with `options` (its `env` extended with the shared storage and bus), on a
    /// fresh database of the shared test Postgres.
    pub async fn start(options: Options) -> Self {
        let (url, db) = fresh_postgres().await;
        let mut pair = Self::start_on(options, &url).await;
        pair.db = db;
        pair
    }

    /// Starts both on the storage at `url`, which the caller owns (a private Postgres it
    /// may stop and restart).
    pub async fn start_on(options: Options, url: &str) -> Self {
        let redis = Redis::start().await;
        let mut options = options;
        options.env.extend([
            ("TORII_REALTIME__STORAGE__URL".into(), url.to_owned()),
            ("TORII_REALTIME__BUS__KIND".into(), "redis".into()),
            ("TORII_REALTIME__BUS__URL".into(), redis.url()),
            ("TORII_REALTIME__BUS__PREFIX".into(), unique("rt")),
            ("TORII_REALTIME__AUTH__SESSION_SECRET".into(), SECRET.into()),
        ]);
        let a = Server::start_with(options.clone()).await;
        let b = Server::start_with(options.clone()).await;
        for s in [&a, &b] {
            wait_for_bus(s).await;
        }
        Self {
            a,
            b,
            redis,
            db: String::new(),
            options,
        }
    }

    /// Starts another instance with the pair's storage, bus and secret (to replace one that
    /// died), connected to the bus.
    pub async fn start_instance(&self) -> Server {
        let server = Server::start_with(self.options.clone()).await;
        wait_for_bus(&server).await;
        server
    }

    /// Stops both and drops the database.
    pub async fn finish(self) {
        drop(self.a);
        drop(self.b);
        if !self.db.is_empty() {
            drop_postgres(&self.db).await;
        }
    }
}

/// Waits until `server` reports its bus connected.
async fn wait_for_bus(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = http::get(server.addr, "/v1/status", &[]).await.json();
        if status["bus_status"]["state"] == "connected" {
            break;
        }
        assert!(Instant::now() < deadline, "bus never connected: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
