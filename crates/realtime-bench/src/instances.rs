//! Two instances: the fan-out scenario with the publishers on instance A and the subscribers
//! on instance B, over one Postgres and one Redis (`[bus] kind = "redis"`, a private
//! `redis-server` started here), against the same scenario on one instance over the same
//! Postgres. Every delivery then crosses Redis: B receives each commit as a notice and pushes
//! its frames. The comparison gives what the hop costs: CPU per delivery of both instances
//! together, and the latency it adds.

use std::path::Path;
use std::time::Duration;

use realtime_bus::LocalRedis;

use crate::fanout::{self, Outcome, Spec};
use crate::procfs;
use crate::servers::{self, Storage};

/// The same spec on one instance and across two.
#[derive(Debug)]
pub struct Outcomes {
    pub one: Outcome,
    pub two: Outcome,
    /// CPU of `redis-server` over the two-instance run (joins included), not in `two`.
    pub redis_cpu: Duration,
}

impl Outcomes {
    /// What the Redis hop adds to publish→deliver latency at quantile `q`, in µs (negative
    /// when the two-instance run was faster there).
    pub fn added_micros(&self, q: f64) -> i64 {
        let at = |o: &Outcome| i64::try_from(o.latency.value_at_quantile(q)).unwrap_or(i64::MAX);
        at(&self.two) - at(&self.one)
    }
}

/// Runs `spec` on one instance, then across two, both over the Postgres at `postgres_url`
/// (whose CPU is charged to the servers, as in the Postgres column).
pub async fn run(binary: &Path, postgres_url: &str, spec: &Spec) -> Result<Outcomes, String> {
    let storage = Storage::Postgres(postgres_url.to_owned());
    let one = {
        let server = servers::start_realtime(binary, &storage, "").await?;
        let spec = Spec {
            run: crate::suite::run_id(),
            ..spec.clone()
        };
        fanout::run(&server, &spec, true).await?
    };
    let redis = LocalRedis::start().await.map_err(|e| e.to_string())?;
    let bus = format!(
        "[bus]\nkind = \"redis\"\nurl = \"{}\"\nprefix = \"bench-{}\"\n",
        redis.url(),
        crate::suite::run_id()
    );
    let a = servers::start_realtime(binary, &storage, &bus).await?;
    let b = servers::start_realtime(binary, &storage, &bus).await?;
    let redis_before = procfs::cpu(redis.pid()).unwrap_or_default();
    let spec = Spec {
        run: crate::suite::run_id(),
        ..spec.clone()
    };
    let two = fanout::run_across(&a, &b, &spec, true).await?;
    let redis_cpu = procfs::cpu(redis.pid())
        .unwrap_or_default()
        .saturating_sub(redis_before);
    Ok(Outcomes {
        one,
        two,
        redis_cpu,
    })
}
