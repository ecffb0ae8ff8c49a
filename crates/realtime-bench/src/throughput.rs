//! Publish throughput of one channel: P publishers keep W publishes each in flight (closed
//! loop: a new one as each reply arrives) for a fixed time, with a few subscribers reading.
//! Reports acknowledged publishes per second, refusals by code, and reply latency.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;

use crate::clients::{self, join_many, now_micros, stamp};
use crate::fanout::listen;
use crate::procfs::CpuMeter;
use crate::servers::Server;
use crate::stats::{self, Counters, histogram, record};
use crate::ws::{OP_TEXT, Reader, Writer, number_after};

#[derive(Debug, Clone)]
pub struct Spec {
    pub publishers: usize,
    pub window: usize,
    pub subscribers: usize,
    pub duration: Duration,
    pub run: String,
}

#[derive(Debug)]
pub struct Outcome {
    pub acked: u64,
    pub refused: std::collections::BTreeMap<String, u64>,
    pub delivered: u64,
    pub elapsed: Duration,
    pub server_cpu: Duration,
    pub ack_latency: Histogram<u64>,
}

impl Outcome {
    pub fn acks_per_second(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64().max(0.001)
    }
}

pub async fn run(server: &Server, spec: &Spec, with_postgres: bool) -> Result<Outcome, String> {
    let room = clients::room(&spec.run, 0);
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let subs = join_many(
        server.target,
        0,
        spec.subscribers,
        64,
        |_| room.clone(),
        None,
    )
    .await
    .map_err(|e| format!("subscribers: {e}"))?;
    let mut listeners = Vec::new();
    for (reader, writer) in subs {
        listeners.push(tokio::spawn(listen(
            reader,
            writer,
            counters.clone(),
            stop.clone(),
            stamp,
        )));
    }
    let first = spec.subscribers as u64;
    let pubs = join_many(
        server.target,
        first,
        spec.publishers,
        64,
        |_| room.clone(),
        None,
    )
    .await
    .map_err(|e| format!("publishers: {e}"))?;
    let meter = CpuMeter::start(&[server.pid()], with_postgres);
    let started = Instant::now();
    let until = started + spec.duration;
    let mut tasks = Vec::new();
    for (k, (reader, writer)) in pubs.into_iter().enumerate() {
        tasks.push(tokio::spawn(publish_loop(
            reader,
            writer,
            room.clone(),
            first + k as u64,
            spec.window,
            until,
            counters.clone(),
        )));
    }
    let mut ack_latency = histogram();
    for t in tasks {
        if let Ok(h) = t.await {
            let _ = ack_latency.add(h);
        }
    }
    let elapsed = started.elapsed();
    let (server_cpu, _) = meter.read();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    for l in listeners {
        let _ = l.await;
    }
    Ok(Outcome {
        acked: Counters::get(&counters.acked),
        refused: counters.refused(),
        delivered: Counters::get(&counters.delivered),
        elapsed,
        server_cpu,
        ack_latency,
    })
}

/// Keeps `window` publishes in flight until `until`, then waits for the last replies.
async fn publish_loop(
    mut reader: Reader,
    mut writer: Writer,
    room: String,
    client: u64,
    window: usize,
    until: Instant,
    counters: Arc<Counters>,
) -> Histogram<u64> {
    let mut latency = histogram();
    // Send times of the requests in flight, oldest first (replies of one connection to one
    // channel come in order).
    let mut in_flight: VecDeque<u64> = VecDeque::with_capacity(window);
    let mut next_id = 1u64;
    while in_flight.len() < window {
        if writer
            .text(clients::publish_frame(next_id, &room, client).as_bytes())
            .await
            .is_err()
        {
            return latency;
        }
        in_flight.push_back(now_micros());
        next_id += 1;
    }
    let deadline = until + Duration::from_secs(10);
    while !in_flight.is_empty() && Instant::now() < deadline {
        let frame = tokio::time::timeout_at(deadline.into(), reader.next()).await;
        let Ok(Ok((OP_TEXT, range))) = frame else {
            break;
        };
        let f = reader.payload(range);
        if number_after(f, br#"{"id":"#).is_none() {
            continue;
        }
        match stats::error_code(f) {
            Some(code) => counters.refuse(&code),
            None => Counters::add(&counters.acked, 1),
        }
        if let Some(sent) = in_flight.pop_front() {
            record(&mut latency, sent, now_micros());
        }
        if Instant::now() < until {
            if writer
                .text(clients::publish_frame(next_id, &room, client).as_bytes())
                .await
                .is_err()
            {
                break;
            }
            in_flight.push_back(now_micros());
            next_id += 1;
        }
    }
    latency
}
