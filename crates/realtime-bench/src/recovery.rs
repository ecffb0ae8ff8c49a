//! Recovery storm: N clients subscribed to one channel drop at once, M messages are published
//! while they are away, then all reconnect at the same moment and subscribe with their last
//! seq. Each must receive exactly the M messages it missed, in order. Reports the time until
//! the last client has them all, losses and duplicates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::clients::{self, join, join_many};
use crate::procfs::CpuMeter;
use crate::servers::Server;
use crate::stats::{Counters, histogram};
use crate::ws::{OP_TEXT, Writer, find, number_after};

#[derive(Debug)]
pub struct Outcome {
    pub clients: usize,
    pub missed: u64,
    /// Clients that received every missed message exactly once, in order.
    pub complete: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub failed: u64,
    /// From the reconnect to the last client complete.
    pub elapsed: Duration,
    /// Per client, reconnect to complete, in microseconds.
    pub per_client: Histogram<u64>,
    pub server_cpu: Duration,
}

/// How long the storm may take before the clients still waiting count as failed.
const LIMIT: Duration = Duration::from_secs(60);

pub async fn run(
    server: &Server,
    clients_n: usize,
    missed: u64,
    run: &str,
) -> Result<Outcome, String> {
    let room = clients::room(run, 0);
    let publisher_id = clients_n as u64;
    let (mut p_reader, mut p_writer) = join(server.target, publisher_id, &room, None)
        .await
        .map_err(|e| format!("publisher: {e}"))?;
    let mut next_id = 10u64;
    let base = publish(
        &mut p_reader,
        &mut p_writer,
        &room,
        publisher_id,
        &mut next_id,
        1,
    )
    .await?;
    let away = join_many(server.target, 0, clients_n, 256, |_| room.clone(), None)
        .await
        .map_err(|e| format!("subscribers: {e}"))?;
    drop(away);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let head = publish(
        &mut p_reader,
        &mut p_writer,
        &room,
        publisher_id,
        &mut next_id,
        missed,
    )
    .await?;
    if head != base + missed {
        return Err(format!(
            "expected head {} after publishing, got {head}",
            base + missed
        ));
    }
    let meter = CpuMeter::start(&[server.pid()], false);
    let started = Instant::now();
    let done = Arc::new(Counters::default());
    let lost = Arc::new(AtomicU64::new(0));
    let dups = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(clients_n);
    for k in 0..clients_n {
        let target = server.target;
        let room = room.clone();
        let (done, lost, dups) = (done.clone(), lost.clone(), dups.clone());
        tasks.push(tokio::spawn(async move {
            let work = async {
                let (mut reader, writer) = join(target, k as u64, &room, Some(base)).await.ok()?;
                let mut expect = base + 1;
                while expect <= head {
                    let (op, range) = reader.next().await.ok()?;
                    if op != OP_TEXT {
                        continue;
                    }
                    let f = reader.payload(range);
                    if find(f, br#""push":"message""#).is_none() {
                        continue;
                    }
                    let seq = number_after(f, br#""seq":"#)?;
                    if seq < expect {
                        dups.fetch_add(1, Ordering::Relaxed);
                    } else {
                        lost.fetch_add(seq - expect, Ordering::Relaxed);
                        expect = seq + 1;
                    }
                }
                Counters::add(&done.acked, 1);
                Some((started.elapsed(), writer))
            };
            tokio::time::timeout(LIMIT, work).await.ok().flatten()
        }));
    }
    let mut per_client = histogram();
    let mut failed = 0;
    let mut writers: Vec<Writer> = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Some((took, writer))) => {
                let _ = per_client.record(took.as_micros().max(1) as u64);
                writers.push(writer);
            }
            _ => failed += 1,
        }
    }
    let elapsed = started.elapsed();
    let (server_cpu, _) = meter.read();
    drop(writers);
    Ok(Outcome {
        clients: clients_n,
        missed,
        complete: Counters::get(&done.acked),
        lost: lost.load(Ordering::Relaxed),
        duplicates: dups.load(Ordering::Relaxed),
        failed,
        elapsed,
        per_client,
        server_cpu,
    })
}

/// Publishes `count` messages one after the other; returns the seq of the last.
async fn publish(
    reader: &mut crate::ws::Reader,
    writer: &mut Writer,
    room: &str,
    client: u64,
    next_id: &mut u64,
    count: u64,
) -> Result<u64, String> {
    let mut seq = 0;
    for _ in 0..count {
        let id = *next_id;
        *next_id += 1;
        writer
            .text(clients::publish_frame(id, room, client).as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let prefix = format!("{{\"id\":{id},");
        let reply = reader
            .until(|f| f.starts_with(prefix.as_bytes()).then(|| f.to_vec()))
            .await
            .map_err(|e| e.to_string())?;
        seq = number_after(&reply, br#""seq":"#)
            .ok_or_else(|| format!("publish refused: {}", String::from_utf8_lossy(&reply)))?;
    }
    Ok(seq)
}
