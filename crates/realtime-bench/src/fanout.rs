//! Fan-out: R rooms × C subscribers, P publishers per room sending at a fixed total rate for a
//! fixed time (open loop: a slow server does not slow the publishers down). Counts every
//! delivery, its publish→deliver latency, the server's CPU over the publishing window and the
//! drain after it, and the generator's own CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;

use crate::clients::{self, join_many, now_micros, stamp};
use crate::procfs::{self, CpuMeter};
use crate::servers::{Kind, Server};
use crate::stats::{self, Counters, histogram, record};
use crate::ws::{OP_CLOSE, OP_TEXT, Reader, Writer};

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub rooms: usize,
    pub subscribers: usize,
    pub publishers: usize,
    /// Publishes per second over all publishers.
    pub rate: f64,
    pub duration: Duration,
    /// Makes room names unique on a database shared by several runs.
    pub run: String,
}

/// What happened.
#[derive(Debug)]
pub struct Outcome {
    pub sent: u64,
    pub acked: u64,
    pub refused: std::collections::BTreeMap<String, u64>,
    pub expected: u64,
    pub delivered: u64,
    /// Payload bytes per delivery at the subscribers.
    pub bytes_per_delivery: f64,
    pub closed: u64,
    pub server_cpu: Duration,
    pub generator_cpu: Duration,
    pub latency: Histogram<u64>,
    pub ack_latency: Histogram<u64>,
    pub rss: u64,
}

impl Outcome {
    pub fn deliveries_per_cpu_second(&self) -> f64 {
        self.delivered as f64 / self.server_cpu.as_secs_f64().max(0.01)
    }

    /// Server CPU per sent publish, in milliseconds.
    pub fn cpu_ms_per_publish(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1000.0 / self.sent.max(1) as f64
    }

    pub fn delivered_share(&self) -> f64 {
        self.delivered as f64 / self.expected.max(1) as f64
    }
}

/// How long to wait for deliveries still in flight once publishing stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);
/// Deliveries are over when none arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(2);

pub async fn run(server: &Server, spec: &Spec, with_postgres: bool) -> Result<Outcome, String> {
    run_across(server, server, spec, with_postgres).await
}

/// Fan-out with the publishers on `publish_to` and the subscribers on `subscribe_to` (the
/// same server, or two instances sharing a bus); the CPU and memory of both are counted.
pub async fn run_across(
    publish_to: &Server,
    subscribe_to: &Server,
    spec: &Spec,
    with_postgres: bool,
) -> Result<Outcome, String> {
    let target = subscribe_to.target;
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let run = spec.run.clone();
    let subs = join_many(
        target,
        0,
        spec.rooms * spec.subscribers,
        256,
        |k| clients::room(&run, k % spec.rooms),
        None,
    )
    .await
    .map_err(|e| format!("subscribers: {e}"))?;
    let mut readers = Vec::new();
    for (reader, writer) in subs {
        readers.push(tokio::spawn(listen(
            reader,
            writer,
            counters.clone(),
            stop.clone(),
            stamp,
        )));
    }
    let first = (spec.rooms * spec.subscribers) as u64;
    let pubs = join_many(
        publish_to.target,
        first,
        spec.rooms * spec.publishers,
        256,
        |k| clients::room(&run, k % spec.rooms),
        None,
    )
    .await
    .map_err(|e| format!("publishers: {e}"))?;
    let total_publishers = pubs.len().max(1);
    let per_publisher = (spec.rate * spec.duration.as_secs_f64() / total_publishers as f64).round();
    let period = Duration::from_secs_f64(total_publishers as f64 / spec.rate);
    let mut pids = vec![publish_to.pid(), subscribe_to.pid()];
    pids.dedup();
    let meter = CpuMeter::start(&pids, with_postgres);
    let mut senders = Vec::new();
    let mut ack_readers = Vec::new();
    for (k, (reader, writer)) in pubs.into_iter().enumerate() {
        let room = clients::room(&run, k % spec.rooms);
        let sent_at: Arc<Vec<AtomicU64>> =
            Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
        senders.push(tokio::spawn(send(
            target.kind,
            writer,
            room,
            first + k as u64,
            per_publisher as u64,
            period,
            counters.clone(),
            sent_at.clone(),
        )));
        ack_readers.push(tokio::spawn(acks(
            target.kind,
            reader,
            counters.clone(),
            stop.clone(),
            sent_at,
        )));
    }
    // Writers stay open until the end: closing one would end its connection before the
    // replies to its last publishes arrive.
    let mut writers = Vec::new();
    for s in senders {
        if let Ok(w) = s.await {
            writers.push(w);
        }
    }
    // Drain: until every expected delivery arrived, or none arrived for a while.
    let members = match target.kind {
        Kind::Realtime => spec.subscribers as u64,
        // The peer's publishers are room members too; Bun's publish skips only the sender.
        Kind::Peer => (spec.subscribers + spec.publishers) as u64 - 1,
    };
    let expected = Counters::get(&counters.sent) * members;
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut last = (Counters::get(&counters.delivered), Instant::now());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Counters::get(&counters.delivered);
        let answered = Counters::get(&counters.acked) + counters.refused().values().sum::<u64>();
        if now >= expected
            && (target.kind == Kind::Peer || answered >= Counters::get(&counters.sent))
        {
            break;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= DRAIN_QUIET {
            break;
        }
    }
    let (server_cpu, generator_cpu) = meter.read();
    let rss = pids.iter().map(|p| procfs::rss(*p).unwrap_or(0)).sum();
    let _ = stop_tx.send(true);
    drop(writers);
    let mut latency = histogram();
    for r in readers {
        if let Ok(h) = r.await {
            let _ = latency.add(h);
        }
    }
    let mut ack_latency = histogram();
    for r in ack_readers {
        if let Ok((deliveries, acks)) = r.await {
            let _ = latency.add(deliveries);
            let _ = ack_latency.add(acks);
        }
    }
    Ok(Outcome {
        sent: Counters::get(&counters.sent),
        acked: Counters::get(&counters.acked),
        refused: counters.refused(),
        expected,
        delivered: Counters::get(&counters.delivered),
        bytes_per_delivery: Counters::get(&counters.delivered_bytes) as f64
            / Counters::get(&counters.delivered).max(1) as f64,
        closed: Counters::get(&counters.closed),
        server_cpu,
        generator_cpu,
        latency,
        ack_latency,
        rss,
    })
}

/// Slots of a publisher's send-time ring, indexed by request id.
const SLOTS: usize = 8192;

/// Counts stamped frames (deliveries, as `stamp` reads their send time) and their latency
/// until told to stop or the connection ends.
pub async fn listen(
    mut reader: Reader,
    writer: Writer,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
    stamp: fn(&[u8]) -> Option<u64>,
) -> Histogram<u64> {
    let mut latency = histogram();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = reader.next() => match frame {
                Ok((OP_TEXT, range)) => {
                    let len = range.len() as u64;
                    if let Some(t) = stamp(reader.payload(range)) {
                        Counters::add(&counters.delivered, 1);
                        Counters::add(&counters.delivered_bytes, len);
                        record(&mut latency, t, now_micros());
                    }
                }
                Ok((OP_CLOSE, _)) | Err(_) => {
                    Counters::add(&counters.closed, 1);
                    break;
                }
                Ok(_) => {}
            }
        }
    }
    drop(writer);
    latency
}

/// Sends `count` messages, one every `period`.
#[allow(clippy::too_many_arguments)]
async fn send(
    kind: Kind,
    mut writer: Writer,
    room: String,
    client: u64,
    count: u64,
    period: Duration,
    counters: Arc<Counters>,
    sent_at: Arc<Vec<AtomicU64>>,
) -> Writer {
    let mut tick = tokio::time::interval(period);
    for id in 1..=count {
        tick.tick().await;
        let frame = match kind {
            Kind::Realtime => clients::publish_frame(id, &room, client),
            Kind::Peer => clients::stamped_body(),
        };
        sent_at[id as usize % SLOTS].store(now_micros(), Ordering::Relaxed);
        if writer.text(frame.as_bytes()).await.is_err() {
            break;
        }
        Counters::add(&counters.sent, 1);
    }
    writer
}

/// Reads a publisher's socket: acks and refusals on torii-realtime, deliveries on the peer
/// (whose publishers are room members). Returns (delivery latency, ack latency).
async fn acks(
    kind: Kind,
    mut reader: Reader,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
    sent_at: Arc<Vec<AtomicU64>>,
) -> (Histogram<u64>, Histogram<u64>) {
    let mut deliveries = histogram();
    let mut acks = histogram();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = reader.next() => match frame {
                Ok((OP_TEXT, range)) => {
                    let f = reader.payload(range);
                    match kind {
                        Kind::Peer => {
                            if let Some(t) = stamp(f) {
                                Counters::add(&counters.delivered, 1);
                                Counters::add(&counters.delivered_bytes, f.len() as u64);
                                record(&mut deliveries, t, now_micros());
                            }
                        }
                        Kind::Realtime => {
                            let Some(id) = crate::ws::number_after(f, br#"{"id":"#) else {
                                continue;
                            };
                            if let Some(code) = stats::error_code(f) {
                                counters.refuse(&code);
                            } else {
                                Counters::add(&counters.acked, 1);
                                let t = sent_at[id as usize % SLOTS].load(Ordering::Relaxed);
                                record(&mut acks, t, now_micros());
                            }
                        }
                    }
                }
                Ok((OP_CLOSE, _)) | Err(_) => {
                    Counters::add(&counters.closed, 1);
                    break;
                }
                Ok(_) => {}
            }
        }
    }
    (deliveries, acks)
}
