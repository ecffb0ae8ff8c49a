//! Prometheus metrics, served at `/metrics` (see `docs/operations.md` for each one).
//!
//! One set per process, in the Prometheus client's default registry, where the Redis bus
//! registers its own. Every labelled child is created up front, so a scrape lists every
//! series at 0 before anything happened (alerts on `rate()` need the series to exist), and
//! the hot path bumps a pre-resolved atomic instead of looking a label up.
//!
//! Gauges that mirror state kept elsewhere (the bus, the Torii follower, the registry) are
//! set when scraped, by the `/metrics` route, from that state; this module knows no other
//! module of the server.

pub mod labels;
mod process;

use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, TextEncoder,
};
use realtime_core::ErrorCode;

use labels::StatusClass;
pub use labels::{Closed, Feature, Outcome, Recovery, SignIn, SlowCause, StorageOp, Transport};

/// Latency buckets, in seconds: from half a millisecond (a local fan-out) to ten seconds (a
/// storage round trip during a failover).
const LATENCY: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of the server (the bus keeps its Redis ones).
#[derive(Debug)]
pub struct Metrics {
    pub connections: IntGauge,
    pub signed_in: IntGauge,
    pub opened: IntCounter,
    closed: Vec<IntCounter>,
    sign_ins: Vec<IntCounter>,
    pub subscriptions: IntGauge,
    pub channels: IntGauge,
    /// By [`Feature`] index; `None` for a feature that has no such direction.
    messages_in: Vec<Option<IntCounter>>,
    messages_out: Vec<Option<IntCounter>>,
    pub publish_delivery: Histogram,
    slow: Vec<IntCounter>,
    recoveries: Vec<IntCounter>,
    storage_seconds: Vec<Histogram>,
    storage_errors: Vec<IntCounter>,
    refusals: Vec<IntCounter>,
    http: Vec<IntCounter>,
    pub bus_connected: IntGauge,
    pub bus_reconnects: IntCounter,
    pub bus_sent: IntCounter,
    pub bus_received: IntCounter,
    pub bus_dropped: IntCounter,
    pub rate_limit_fallbacks: IntCounter,
    pub torii_live: IntGauge,
    pub torii_synced: IntGauge,
    pub torii_reconnects: IntCounter,
    pub torii_updates: IntCounter,
    pub torii_lag: IntGauge,
    pub torii_stale: IntGauge,
    pub torii_entities: IntGauge,
    pub pending_jobs: IntGauge,
    pub leader: IntGauge,
    process: process::Process,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::register);

/// The process's metrics, registered on first use.
pub fn get() -> &'static Metrics {
    &METRICS
}

fn register<T: prometheus::core::Collector + Clone + 'static>(metric: T) -> T {
    // Registered once, by `LazyLock`: a name clash is a programming error caught by tests.
    prometheus::default_registry()
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| panic!("metric registration: {e}"));
    metric
}

fn gauge(name: &str, help: &str) -> IntGauge {
    register(IntGauge::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}")))
}

fn counter(name: &str, help: &str) -> IntCounter {
    register(IntCounter::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}")))
}

/// A counter family with one child per combination of `values` (one list per label).
fn counters(name: &str, help: &str, labels: &[&str], values: &[Vec<&str>]) -> Vec<IntCounter> {
    let family = register(
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("{name}: {e}")),
    );
    values.iter().map(|v| family.with_label_values(v)).collect()
}

fn one_label(values: impl IntoIterator<Item = &'static str>) -> Vec<Vec<&'static str>> {
    values.into_iter().map(|v| vec![v]).collect()
}

/// A counter per feature of `features`, indexed by [`Feature`].
fn by_feature(name: &str, help: &str, features: &[Feature]) -> Vec<Option<IntCounter>> {
    let values = one_label(features.iter().map(|f| f.as_str()));
    let mut children = counters(name, help, &["feature"], &values).into_iter();
    Feature::ALL
        .iter()
        .map(|f| features.contains(f).then(|| children.next()).flatten())
        .collect()
}

fn histograms(name: &str, help: &str, label: &str, values: &[&str]) -> Vec<Histogram> {
    let family = register(
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(LATENCY.to_vec()),
            &[label],
        )
        .unwrap_or_else(|e| panic!("{name}: {e}")),
    );
    values
        .iter()
        .map(|v| family.with_label_values(&[v]))
        .collect()
}

impl Metrics {
    fn register() -> Self {
        realtime_bus::register_metrics();
        let build = register(
            IntGaugeVec::new(
                Opts::new("realtime_build_info", "The running version; always 1."),
                &["version"],
            )
            .unwrap_or_else(|e| panic!("build_info: {e}")),
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let storage_ops: Vec<&str> = StorageOp::ALL.iter().map(|o| o.as_str()).collect();
        let refusals: Vec<Vec<&str>> = ErrorCode::ALL
            .iter()
            .flat_map(|c| {
                Transport::ALL
                    .iter()
                    .map(move |t| vec![c.as_str(), t.as_str()])
            })
            .collect();
        let sign_ins: Vec<Vec<&str>> = SignIn::ALL
            .iter()
            .flat_map(|m| {
                Outcome::ALL
                    .iter()
                    .map(move |o| vec![m.as_str(), o.as_str()])
            })
            .collect();
        Self {
            connections: gauge(
                "realtime_connections",
                "Open WebSocket connections on this instance.",
            ),
            signed_in: gauge(
                "realtime_connections_signed_in",
                "Open WebSocket connections that are signed in.",
            ),
            opened: counter(
                "realtime_connections_opened_total",
                "WebSocket upgrades accepted.",
            ),
            closed: counters(
                "realtime_connections_closed_total",
                "WebSocket connections ended, by close reason (client: the client closed or left).",
                &["reason"],
                &one_label(Closed::ALL.iter().map(|c| c.as_str())),
            ),
            sign_ins: counters(
                "realtime_sign_ins_total",
                "Sign-ins by method and outcome.",
                &["method", "result"],
                &sign_ins,
            ),
            subscriptions: gauge(
                "realtime_subscriptions",
                "Channel subscriptions (a socket in a channel) on this instance.",
            ),
            channels: gauge(
                "realtime_channels",
                "Channels with at least one subscriber on this instance.",
            ),
            messages_in: by_feature(
                "realtime_messages_in_total",
                "Messages accepted, by feature.",
                Feature::INBOUND,
            ),
            messages_out: by_feature(
                "realtime_messages_out_total",
                "Frames queued to sockets, by feature.",
                Feature::OUTBOUND,
            ),
            publish_delivery: register(
                Histogram::with_opts(
                    HistogramOpts::new(
                        "realtime_publish_delivery_seconds",
                        "From a publish's arrival to its message queued on this instance's subscribers.",
                    )
                    .buckets(LATENCY.to_vec()),
                )
                .unwrap_or_else(|e| panic!("publish_delivery: {e}")),
            ),
            slow: counters(
                "realtime_slow_consumer_closes_total",
                "Connections closed as slow consumers (4001), by cause.",
                &["cause"],
                &one_label(SlowCause::ALL.iter().map(|c| c.as_str())),
            ),
            recoveries: counters(
                "realtime_recoveries_total",
                "Recoveries of missed messages, by result.",
                &["result"],
                &one_label(Recovery::ALL.iter().map(|r| r.as_str())),
            ),
            storage_seconds: histograms(
                "realtime_storage_seconds",
                "Storage round trips, by operation.",
                "op",
                &storage_ops,
            ),
            storage_errors: counters(
                "realtime_storage_errors_total",
                "Failed storage round trips, by operation.",
                &["op"],
                &one_label(storage_ops.iter().copied()),
            ),
            refusals: counters(
                "realtime_refusals_total",
                "Requests refused, by error code and transport.",
                &["code", "transport"],
                &refusals,
            ),
            http: counters(
                "realtime_http_requests_total",
                "HTTP responses, by status class.",
                &["class"],
                &one_label(StatusClass::ALL.iter().map(|c| c.as_str())),
            ),
            bus_connected: gauge(
                "realtime_bus_connected",
                "1 when the bus between instances is connected (always 1 for the memory bus).",
            ),
            bus_reconnects: counter(
                "realtime_bus_reconnects_total",
                "Reconnections of the bus.",
            ),
            bus_sent: counter("realtime_bus_sent_total", "Notices sent on the bus."),
            bus_received: counter(
                "realtime_bus_received_total",
                "Notices received from the bus.",
            ),
            bus_dropped: counter(
                "realtime_bus_dropped_total",
                "Notices not sent because the bus was down or behind.",
            ),
            rate_limit_fallbacks: counter(
                "realtime_rate_limit_fallbacks_total",
                "Rate-limit checks answered by this instance alone because Redis failed.",
            ),
            torii_live: gauge(
                "realtime_torii_live",
                "1 while Torii's entity stream is followed live.",
            ),
            torii_synced: gauge(
                "realtime_torii_synced",
                "1 once a full sync from Torii completed.",
            ),
            torii_reconnects: counter(
                "realtime_torii_reconnects_total",
                "Torii follower sessions after the first.",
            ),
            torii_updates: counter(
                "realtime_torii_updates_total",
                "Live entity updates applied from Torii.",
            ),
            torii_lag: gauge(
                "realtime_torii_lag_seconds",
                "Seconds between the last update's on-chain time and when it was applied.",
            ),
            torii_stale: gauge(
                "realtime_torii_stale_seconds",
                "Seconds since Torii's stream was lost after a sync; 0 while live.",
            ),
            torii_entities: gauge(
                "realtime_torii_entities",
                "Entities in the on-chain projection.",
            ),
            pending_jobs: gauge(
                "realtime_moderation_pending_jobs",
                "Review-queue jobs waiting for a moderator.",
            ),
            leader: gauge(
                "realtime_leader",
                "1 when this instance posts announcements.",
            ),
            process: process::Process::register(),
        }
    }

    pub fn closed(&self, code: Option<realtime_protocol::CloseCode>) {
        self.closed[Closed::of(code).index()].inc();
    }

    pub fn sign_in(&self, method: SignIn, outcome: Outcome) {
        self.sign_ins[method.index() * Outcome::ALL.len() + outcome.index()].inc();
    }

    /// One message accepted (a feature without inbound messages is not counted).
    pub fn message_in(&self, feature: Feature) {
        if let Some(c) = &self.messages_in[feature.index()] {
            c.inc();
        }
    }

    /// `n` frames queued to sockets.
    pub fn messages_out(&self, feature: Feature, n: u64) {
        if let Some(c) = &self.messages_out[feature.index()] {
            c.inc_by(n);
        }
    }

    pub fn slow_consumer(&self, cause: SlowCause) {
        self.slow[cause.index()].inc();
    }

    pub fn recovery(&self, result: Recovery) {
        self.recoveries[result.index()].inc();
    }

    pub fn refused(&self, code: ErrorCode, transport: Transport) {
        let code = ErrorCode::ALL.iter().position(|c| *c == code).unwrap_or(0);
        self.refusals[code * Transport::ALL.len() + transport.index()].inc();
    }

    pub fn http_response(&self, status: u16) {
        self.http[StatusClass::of(status).index()].inc();
    }

    /// Records one storage round trip.
    pub fn storage(&self, op: StorageOp, took: Duration, ok: bool) {
        self.storage_seconds[op.index()].observe(took.as_secs_f64());
        if !ok {
            self.storage_errors[op.index()].inc();
        }
    }

    /// Every metric in the text exposition format, process figures read now.
    pub fn encode(&self) -> String {
        self.process.refresh();
        let mut out = Vec::new();
        // Writing to a Vec cannot fail; a metric the encoder rejects would be a bug.
        if let Err(e) = TextEncoder::new().encode(&prometheus::gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Runs a storage call and records how long it took and whether it failed.
pub async fn timed<T, E>(op: StorageOp, call: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let start = Instant::now();
    let result = call.await;
    get().storage(op, start.elapsed(), result.is_ok());
    result
}

/// Raises a counter that mirrors a total kept elsewhere to that total.
pub fn catch_up(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}
