//! The standard set of scenarios and its Markdown report. Each scenario starts fresh servers,
//! so one run's memory or storage does not leak into the next.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::Servers;
use crate::fanout::{self, Outcome, Spec};
use crate::servers::{self, Server, Storage};
use crate::stats::{mib, percentiles, si};
use crate::{idle, instances, onchain, recovery, throughput};

/// A short id that keeps channel names of this run apart from earlier runs on one database.
pub fn run_id() -> String {
    format!("{:x}", crate::clients::now_micros() % 0xffff_ffff)
}

/// Which server a target name means.
enum Which {
    Realtime(Storage),
    Peer,
}

fn which(servers: &Servers, target: &str) -> Result<Which, String> {
    match target {
        "realtime" => Ok(Which::Realtime(Storage::Sqlite)),
        "realtime-postgres" => servers
            .postgres_url
            .clone()
            .map(|u| Which::Realtime(Storage::Postgres(u)))
            .ok_or_else(|| "realtime-postgres needs --postgres-url".into()),
        "peer" => Ok(Which::Peer),
        other => Err(format!(
            "unknown target {other:?}: realtime, realtime-postgres or peer"
        )),
    }
}

/// Starts a server; the flag says whether Postgres CPU is charged to it.
async fn start(servers: &Servers, which: &Which) -> Result<(Server, bool), String> {
    match which {
        Which::Realtime(storage) => {
            let server = servers::start_realtime(&servers.server_bin, storage, "").await?;
            Ok((server, matches!(storage, Storage::Postgres(_))))
        }
        Which::Peer => {
            let (Some(bun), Some(script)) = (&servers.bun, &servers.peer_script) else {
                return Err("the peer needs --bun and --peer-script".into());
            };
            Ok((servers::start_peer(bun, script).await?, false))
        }
    }
}

/// One fan-out run, printed.
pub async fn fanout_one(servers: &Servers, target: &str, spec: &Spec) -> Result<(), String> {
    let which = which(servers, target)?;
    let (server, extra) = start(servers, &which).await?;
    let outcome = fanout::run(&server, spec, extra).await?;
    println!("{}", describe(target, &outcome));
    Ok(())
}

/// One idle run, printed.
pub async fn idle_one(servers: &Servers, target: &str, n: usize) -> Result<(), String> {
    let (server, _) = start(servers, &which(servers, target)?).await?;
    let o = idle::run(&server, n, 100, &run_id()).await?;
    println!("{target}: {n} idle connections: {}", describe_idle(&o));
    Ok(())
}

fn describe_idle(o: &idle::Outcome) -> String {
    format!(
        "RSS {} → {}: **{:.1} KiB per connection**",
        mib(o.rss_before),
        mib(o.rss_after),
        o.per_connection() / 1024.0
    )
}

/// One throughput run, printed.
pub async fn throughput_one(
    servers: &Servers,
    target: &str,
    spec: &throughput::Spec,
) -> Result<(), String> {
    let (server, extra) = start(servers, &which(servers, target)?).await?;
    let o = throughput::run(&server, spec, extra).await?;
    println!(
        "{target}: {}; {} deliveries",
        describe_throughput(&o),
        o.delivered
    );
    Ok(())
}

fn describe_throughput(o: &throughput::Outcome) -> String {
    format!(
        "{} | {:?} | {} | {:.3} ms",
        si(o.acks_per_second()),
        o.refused,
        percentiles(&o.ack_latency),
        o.server_cpu.as_secs_f64() * 1000.0 / o.acked.max(1) as f64
    )
}

/// One on-chain routing run, printed.
pub async fn onchain_one(servers: &Servers, spec: &onchain::Spec) -> Result<(), String> {
    let o = onchain::run(&servers.server_bin, spec).await?;
    println!("on-chain routing: {}", describe_onchain(spec, &o));
    Ok(())
}

fn describe_onchain(spec: &onchain::Spec, o: &onchain::Outcome) -> String {
    format!(
        "{} entity updates into {} viewports, {} delivered ({:.1} %), update→client p50 / p99 / p999 {}, server CPU {:.2} s ({:.1} µs per update)",
        o.sent,
        spec.viewports,
        o.delivered,
        o.delivered as f64 * 100.0 / o.sent.max(1) as f64,
        percentiles(&o.latency),
        o.server_cpu.as_secs_f64(),
        o.server_cpu.as_secs_f64() * 1e6 / o.sent.max(1) as f64
    )
}

/// One recovery storm, printed.
pub async fn recovery_one(servers: &Servers, n: usize, missed: u64) -> Result<(), String> {
    let (server, _) = start(servers, &Which::Realtime(Storage::Sqlite)).await?;
    let o = recovery::run(&server, n, missed, &run_id()).await?;
    println!("recovery storm: {}", describe_recovery(&o));
    Ok(())
}

fn describe_recovery(o: &recovery::Outcome) -> String {
    let h = &o.per_client;
    format!(
        "{} of {} clients recovered {} missed messages each in **{:.2} s** (per client p50 / p99 {} / {}), lost {}, duplicates {}, failed {}, server CPU {:.2} s",
        o.complete,
        o.clients,
        o.missed,
        o.elapsed.as_secs_f64(),
        crate::stats::ms(h.value_at_quantile(0.5)),
        crate::stats::ms(h.value_at_quantile(0.99)),
        o.lost,
        o.duplicates,
        o.failed,
        o.server_cpu.as_secs_f64()
    )
}

fn describe(target: &str, o: &Outcome) -> String {
    format!(
        "{target}: sent {} acked {} refused {:?} delivered {}/{} ({:.1} %) closed {}\n  \
         server CPU {:.2} s → {} deliveries per CPU-second, {:.3} ms per publish; generator CPU {:.2} s\n  \
         publish→deliver p50/p99/p999 {}; ack {}; RSS {}; {:.0} bytes per delivery",
        o.sent,
        o.acked,
        o.refused,
        o.delivered,
        o.expected,
        o.delivered_share() * 100.0,
        o.closed,
        o.server_cpu.as_secs_f64(),
        si(o.deliveries_per_cpu_second()),
        o.cpu_ms_per_publish(),
        o.generator_cpu.as_secs_f64(),
        percentiles(&o.latency),
        percentiles(&o.ack_latency),
        mib(o.rss),
        o.bytes_per_delivery,
    )
}

/// The targets of a suite run, in table column order.
fn targets(servers: &Servers) -> Vec<&'static str> {
    let mut t = Vec::new();
    if servers.bun.is_some() && servers.peer_script.is_some() {
        t.push("peer");
    }
    t.push("realtime");
    if servers.postgres_url.is_some() {
        t.push("realtime-postgres");
    }
    t
}

fn column(target: &str) -> &'static str {
    match target {
        "peer" => "Bun+Hono+SQLite",
        "realtime" => "torii-realtime (SQLite)",
        _ => "torii-realtime (Postgres)",
    }
}

/// Runs the standard set and prints (and optionally stores) the report.
pub async fn run(servers: &Servers, smoke: bool, out: Option<&Path>) -> Result<(), String> {
    let seconds = if smoke { 2 } else { 10 };
    let duration = Duration::from_secs(seconds);
    let scale = if smoke { 10 } else { 1 };
    let scenarios = [
        (
            "A: 1 room × 1 000 subscribers, 1 000 publishes/s",
            Spec {
                rooms: 1,
                subscribers: 1000 / scale,
                publishers: 10,
                rate: 1000.0,
                duration,
                run: String::new(),
            },
        ),
        (
            "B: 1 room × 1 000 subscribers, 2 000 publishes/s",
            Spec {
                rooms: 1,
                subscribers: 1000 / scale,
                publishers: 10,
                rate: 2000.0,
                duration,
                run: String::new(),
            },
        ),
        (
            "C: 100 rooms × 10 subscribers, 1 000 publishes/s",
            Spec {
                rooms: 100 / scale,
                subscribers: 10,
                publishers: 1,
                rate: 1000.0,
                duration,
                run: String::new(),
            },
        ),
    ];
    let targets = targets(servers);
    let mut table = String::new();
    let header: Vec<&str> = targets.iter().map(|t| column(t)).collect();
    let _ = writeln!(
        table,
        "| scenario ({seconds} s, loopback) | {} |",
        header.join(" | ")
    );
    let _ = writeln!(table, "|---|{}", "---|".repeat(targets.len()));
    let mut details = String::new();
    for (name, spec) in scenarios {
        let mut cells = Vec::new();
        let mut peer_rate = None;
        for target in &targets {
            let spec = Spec {
                run: run_id(),
                ..spec.clone()
            };
            let which = which(servers, target)?;
            let (server, extra) = start(servers, &which).await?;
            let o = fanout::run(&server, &spec, extra).await?;
            drop(server);
            let text = describe(target, &o);
            println!("{name}\n{text}");
            let _ = writeln!(details, "- {name}, {text}");
            let rate = o.deliveries_per_cpu_second();
            let ratio = match (peer_rate, *target) {
                (Some(p), t) if t != "peer" => format!(" (**{:.2}×** the peer)", rate / p),
                _ => String::new(),
            };
            if *target == "peer" {
                peer_rate = Some(rate);
            }
            cells.push(format!(
                "{:.1} % delivered, **{}/CPU-s**{ratio}, {:.3} ms CPU per publish, p99 {}, RSS {}",
                o.delivered_share() * 100.0,
                si(rate),
                o.cpu_ms_per_publish(),
                crate::stats::ms(o.latency.value_at_quantile(0.99)),
                mib(o.rss),
            ));
        }
        let _ = writeln!(table, "| {name} | {} |", cells.join(" | "));
    }
    let mut more = others(servers, smoke, &targets, &mut details).await?;
    if let Some(url) = &servers.postgres_url {
        let spec = Spec {
            rooms: 1,
            subscribers: 1000 / scale,
            publishers: 10,
            // A fifth of A's rate: below saturation of two cores, so latency shows the hop
            // rather than queueing.
            rate: 200.0,
            duration,
            run: String::new(),
        };
        let o = instances::run(&servers.server_bin, url, &spec).await?;
        let _ = writeln!(
            details,
            "- two instances, one instance: {}",
            describe("realtime-postgres", &o.one)
        );
        let _ = writeln!(
            details,
            "- two instances, A → Redis → B: {}",
            describe("realtime-postgres ×2", &o.two)
        );
        more.push_str(&describe_instances(&spec, &o));
    }
    let report = format!("{table}\n{more}\nRuns:\n\n{details}");
    println!("\n{report}");
    if let Some(path) = out {
        store(path, &report)?;
    }
    Ok(())
}

/// Idle memory, publish throughput and the recovery storm.
async fn others(
    servers: &Servers,
    smoke: bool,
    targets: &[&str],
    details: &mut String,
) -> Result<String, String> {
    let mut out = String::new();
    // The machine allows 20 000 open files per process: the server needs a few beyond its
    // sockets.
    let idle_n = if smoke { 1000 } else { IDLE_CONNECTIONS };
    let _ = writeln!(
        out,
        "| idle: {idle_n} signed-in sockets, each subscribed (100 channels) | {} |",
        targets
            .iter()
            .map(|t| {
                let c = column(t);
                c.to_owned()
            })
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let mut cells = Vec::new();
    for target in targets {
        let which = which(servers, target)?;
        let (server, _) = start(servers, &which).await?;
        let o = idle::run(&server, idle_n, 100, &run_id()).await?;
        let text = describe_idle(&o);
        println!("idle {target}: {text}");
        let _ = writeln!(details, "- idle, {target}: {text}");
        cells.push(text);
    }
    let _ = writeln!(out, "|---|{}", "---|".repeat(targets.len()));
    let _ = writeln!(out, "| memory | {} |\n", cells.join(" | "));

    let seconds = if smoke { 2 } else { 5 };
    let _ = writeln!(
        out,
        "| publish throughput, 1 channel, 10 subscribers ({seconds} s) | acked per second | refused | reply p50 / p99 / p999 | server CPU per publish |\n|---|---|---|---|---|"
    );
    for target in targets.iter().filter(|t| **t != "peer") {
        let which = which(servers, target)?;
        let (server, extra) = start(servers, &which).await?;
        let spec = throughput::Spec {
            publishers: 20,
            window: 32,
            subscribers: 10,
            duration: Duration::from_secs(seconds),
            run: run_id(),
        };
        let o = throughput::run(&server, &spec, extra).await?;
        let text = describe_throughput(&o);
        println!("throughput {target}: {text}; delivered {}", o.delivered);
        let _ = writeln!(
            details,
            "- throughput, {target}: {text}; {} deliveries to 10 subscribers",
            o.delivered
        );
        let _ = writeln!(out, "| {} | {text} |", column(target));
    }

    let (n, missed) = if smoke { (200, 20) } else { (5000, 100) };
    let which = which(servers, "realtime")?;
    let (server, _) = start(servers, &which).await?;
    let o = recovery::run(&server, n, missed, &run_id()).await?;
    let text = describe_recovery(&o);
    println!("recovery storm: {text}");
    let _ = writeln!(details, "- recovery storm (SQLite): {text}");
    let _ = writeln!(out, "\nRecovery storm (torii-realtime, SQLite): {text}.");
    drop(server);

    let spec = if smoke {
        onchain::Spec {
            viewports: 1000,
            rate: 1000.0,
            duration: Duration::from_secs(2),
        }
    } else {
        onchain::Spec {
            viewports: 10_000,
            rate: 10_000.0,
            duration: Duration::from_secs(5),
        }
    };
    let o = onchain::run(&servers.server_bin, &spec).await?;
    let text = describe_onchain(&spec, &o);
    println!("on-chain routing: {text}");
    let _ = writeln!(
        details,
        "- on-chain routing (fake Torii in the generator): {text}"
    );
    let _ = writeln!(
        out,
        "\nOn-chain routing (torii-realtime, fake Torii in the generator): {text}."
    );
    Ok(out)
}

/// One two-instance run, printed.
pub async fn instances_one(servers: &Servers, spec: &Spec) -> Result<(), String> {
    let url = servers
        .postgres_url
        .as_deref()
        .ok_or("two instances need --postgres-url")?;
    let o = instances::run(&servers.server_bin, url, spec).await?;
    println!("{}", describe("one instance", &o.one));
    println!("{}", describe("two instances", &o.two));
    println!("{}", describe_instances(spec, &o));
    Ok(())
}

/// The two-instance table: one instance and two side by side, and what the hop adds.
fn describe_instances(spec: &Spec, o: &instances::Outcomes) -> String {
    let us = |v: i64| {
        let ms = v as f64 / 1000.0;
        if ms.abs() < 1.0 {
            format!("{v} µs")
        } else {
            format!("{ms:.1} ms")
        }
    };
    let cell = |x: &Outcome| {
        format!(
            "{:.1} % delivered, **{}/CPU-s**, {:.3} ms CPU per publish, p50 / p99 / p999 {}, RSS {}",
            x.delivered_share() * 100.0,
            si(x.deliveries_per_cpu_second()),
            x.cpu_ms_per_publish(),
            percentiles(&x.latency),
            mib(x.rss),
        )
    };
    format!(
        "\n| two instances: 1 room × {} subscribers, {} publishers, {} publishes/s ({} s, Postgres) | one instance | publishers on A, subscribers on B, over Redis |\n|---|---|---|\n\
         | deliveries per CPU-second (instances and Postgres together) | {} | {} |\n\n\
         The Redis hop adds p50 {} / p99 {} / p999 {} publish→deliver; CPU is {:.2}× the one instance's per delivery; `redis-server` used {:.2} s CPU (not counted above).\n",
        spec.subscribers,
        spec.publishers,
        spec.rate,
        spec.duration.as_secs(),
        cell(&o.one),
        cell(&o.two),
        us(o.added_micros(0.5)),
        us(o.added_micros(0.99)),
        us(o.added_micros(0.999)),
        o.one.deliveries_per_cpu_second() / o.two.deliveries_per_cpu_second().max(1.0),
        o.redis_cpu.as_secs_f64(),
    )
}

/// Idle connections measured by the full suite.
const IDLE_CONNECTIONS: usize = 19_000;

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// Replaces what lies between the report markers of `path` with `report`.
fn store(path: &Path, report: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!("{} has no {BEGIN} … {END} markers", path.display()));
    };
    let updated = format!("{}{BEGIN}\n{report}\n{}", &text[..b], &text[e..]);
    std::fs::write(path, updated).map_err(|e| format!("{}: {e}", path.display()))
}
