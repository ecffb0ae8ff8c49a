//! A private `redis-server` per test (realtime-bus's [`LocalRedis`]), so a test can stop it
//! and start it again on the same port without touching anyone else's Redis.

use std::ops::{Deref, DerefMut};

use realtime_bus::LocalRedis;

/// A running (or stopped) Redis of one test.
pub struct Redis(LocalRedis);

impl Redis {
    /// Starts Redis on a free port and waits until it answers.
    pub async fn start() -> Self {
        Self(LocalRedis::start().await.expect("a private redis-server"))
    }

    /// Starts the server again on the same port (empty: nothing was persisted).
    pub async fn restart(&mut self) {
        self.0.restart().await.expect("redis-server restarts");
    }
}

impl Deref for Redis {
    type Target = LocalRedis;
    fn deref(&self) -> &LocalRedis {
        &self.0
    }
}

impl DerefMut for Redis {
    fn deref_mut(&mut self) -> &mut LocalRedis {
        &mut self.0
    }
}
