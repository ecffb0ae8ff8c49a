//! Redis round trips, for the server's `/metrics`: how long each kind of command took and how
//! many failed. Registered in the Prometheus client's default registry, which the server
//! scrapes; the labels are this closed set of operations.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

/// What a Redis round trip was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The pipeline of PUBLISH commands of committed messages.
    Publish,
    /// A shared rate-limit bucket.
    RateLimit,
    /// Presence, connection counts and "online" shared between instances.
    Shared,
    /// The announcement leader's lease.
    Lease,
}

const OPS: [Op; 4] = [Op::Publish, Op::RateLimit, Op::Shared, Op::Lease];

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Publish => "publish",
            Op::RateLimit => "rate_limit",
            Op::Shared => "shared",
            Op::Lease => "lease",
        }
    }
}

struct Metrics {
    seconds: Vec<Histogram>,
    errors: Vec<IntCounter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let buckets = vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ];
    let seconds = HistogramVec::new(
        HistogramOpts::new("realtime_redis_seconds", "Redis round trips, by operation.")
            .buckets(buckets),
        &["op"],
    )
    .unwrap_or_else(|e| panic!("realtime_redis_seconds: {e}"));
    let errors = IntCounterVec::new(
        Opts::new(
            "realtime_redis_errors_total",
            "Failed or timed-out Redis round trips, by operation.",
        ),
        &["op"],
    )
    .unwrap_or_else(|e| panic!("realtime_redis_errors_total: {e}"));
    let registry = prometheus::default_registry();
    for family in [
        Box::new(seconds.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(errors.clone()),
    ] {
        registry
            .register(family)
            .unwrap_or_else(|e| panic!("redis metrics: {e}"));
    }
    Metrics {
        seconds: OPS
            .iter()
            .map(|op| seconds.with_label_values(&[op.as_str()]))
            .collect(),
        errors: OPS
            .iter()
            .map(|op| errors.with_label_values(&[op.as_str()]))
            .collect(),
    }
});

/// Registers the metrics (so they are listed before the first round trip).
pub fn register() {
    LazyLock::force(&METRICS);
}

/// Records one round trip.
pub fn record(op: Op, started: Instant, ok: bool) {
    let m = &*METRICS;
    m.seconds[op as usize].observe(started.elapsed().as_secs_f64());
    if !ok {
        m.errors[op as usize].inc();
    }
}

/// Runs a round trip and records it; `Err` and `None`-like failures count as errors.
pub async fn timed<T, E>(op: Op, call: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    record(op, started, result.is_ok());
    result
}
