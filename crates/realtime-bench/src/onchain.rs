//! On-chain routing: a fake Torii (the real gRPC protocol, served from this process) holds
//! one unit per map cell; V clients each watch one cell (10 × 10 tiles); units move inside
//! their cell at a fixed total rate. Each update must reach exactly the one client watching
//! its cell. The update carries its send time in a felt member, so every delivery yields the
//! latency from the indexer's stream to the client: gRPC, projection, routing and socket.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use realtime_core::Address;
use tokio::sync::watch;
use torii_plugin::fake::FakeTorii;
use torii_plugin::proto::types::Struct;
use torii_plugin::value::build::{felt, felt_of, member, model, u32};

use crate::clients::{now_micros, token_in};
use crate::fanout::listen;
use crate::procfs::CpuMeter;
use crate::servers::{self, Storage};
use crate::stats::{Counters, histogram};
use crate::ws::{self, Reader, Writer};

const MODEL: &str = "bench-Unit";
const WORLD: &str = "0xbe7c";
/// Tiles per side of a watched cell.
const CELL: u32 = 10;

#[derive(Debug, Clone)]
pub struct Spec {
    pub viewports: usize,
    /// Updates per second.
    pub rate: f64,
    pub duration: Duration,
}

#[derive(Debug)]
pub struct Outcome {
    pub sent: u64,
    pub delivered: u64,
    pub server_cpu: Duration,
    pub latency: Histogram<u64>,
}

fn unit(k: u32, x: u32, y: u32, stamp: u64) -> Struct {
    model(
        MODEL,
        vec![
            member("unit_id", u32(k), true),
            member("owner", felt(felt_of(u64::from(k) + 1)), false),
            member("x", u32(x), false),
            member("y", u32(y), false),
            member("stamp", felt(felt_of(stamp)), false),
        ],
    )
}

/// The cell of viewport `k` on a square grid: its lowest corner.
fn cell(k: u32, side: u32) -> (u32, u32) {
    ((k % side) * CELL, (k / side) * CELL)
}

/// The send time in an `entity` push (the low 64 bits of the `stamp` felt).
fn entity_stamp(frame: &[u8]) -> Option<u64> {
    let key = br#""stamp":"0x"#;
    let at = ws::find(frame, key)? + key.len();
    let hex = std::str::from_utf8(frame.get(at + 48..at + 64)?).ok()?;
    u64::from_str_radix(hex, 16).ok().filter(|s| *s > 0)
}

pub async fn run(binary: &Path, spec: &Spec) -> Result<Outcome, String> {
    let world: Address = WORLD.parse().map_err(|e| format!("{e}"))?;
    let fake = FakeTorii::start(world, 0)
        .await
        .map_err(|e| format!("fake torii: {e}"))?;
    let n = u32::try_from(spec.viewports).map_err(|e| e.to_string())?;
    let side = (f64::from(n).sqrt().ceil() as u32).max(1);
    fake.add_model(&unit(0, 0, 0, 0));
    for k in 0..n {
        let (x, y) = cell(k, side);
        fake.set(u64::from(k) + 1, unit(k, x, y, 0));
    }
    let toml = format!(
        "[torii]\ngrpc_url = \"{}\"\nworld_address = \"{WORLD}\"\n\n\
         [[positions]]\nname = \"unit\"\nmodel = \"{MODEL}\"\nx = \"x\"\ny = \"y\"\nowner = \"owner\"\n\n\
         [feed]\nmodels = [\"{MODEL}\"]\n",
        fake.url()
    );
    let server = servers::start_realtime(binary, &Storage::Sqlite, &toml).await?;
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut listeners = Vec::new();
    for first in (0..n).step_by(256) {
        let mut set = tokio::task::JoinSet::new();
        for k in first..(first + 256).min(n) {
            let addr = server.target.addr;
            let world = world.to_string();
            set.spawn(async move { watch_cell(addr, k, cell(k, side), world).await });
        }
        while let Some(joined) = set.join_next().await {
            let (reader, writer) = joined.map_err(|e| e.to_string())??;
            listeners.push(tokio::spawn(listen(
                reader,
                writer,
                counters.clone(),
                stop.clone(),
                entity_stamp,
            )));
        }
    }
    let meter = CpuMeter::start(&[server.pid()], false);
    let total = (spec.rate * spec.duration.as_secs_f64()) as u64;
    let per_tick = (spec.rate / 1000.0).max(1.0) as u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        for _ in 0..per_tick.min(total - sent) {
            let k = (sent % u64::from(n)) as u32;
            let (x, y) = cell(k, side);
            // Back and forth inside the cell: always a move, never out of its watcher's view.
            let x = x + 1 + (sent / u64::from(n) % 2) as u32;
            fake.set(u64::from(k) + 1, unit(k, x, y + 1, now_micros()));
            sent += 1;
        }
    }
    drain(&counters, sent).await;
    let (server_cpu, _) = meter.read();
    let _ = stop_tx.send(true);
    let mut latency = histogram();
    for l in listeners {
        if let Ok(h) = l.await {
            let _ = latency.add(h);
        }
    }
    drop(server);
    Ok(Outcome {
        sent,
        delivered: Counters::get(&counters.delivered),
        server_cpu,
        latency,
    })
}

/// Waits until `expected` deliveries arrived, or none for two seconds (at most 15 s).
async fn drain(counters: &Counters, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = (0, Instant::now());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Counters::get(&counters.delivered);
        if now >= expected {
            return;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(2) {
            return;
        }
    }
}

/// Signs client `k` in and watches its cell.
async fn watch_cell(
    addr: std::net::SocketAddr,
    k: u32,
    (x, y): (u32, u32),
    world: String,
) -> Result<(Reader, Writer), String> {
    let token = token_in(u64::from(k), Some(world));
    let (mut reader, mut writer) = ws::connect(addr, "/v1/ws", Some(&token))
        .await
        .map_err(|e| e.to_string())?;
    reader
        .until(|f| ws::find(f, br#""push":"connected""#).map(|_| ()))
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        r#"{{"id":2,"op":"watch","area":{{"min_x":{x},"min_y":{y},"max_x":{},"max_y":{}}}}}"#,
        x + CELL - 1,
        y + CELL - 1
    );
    writer
        .text(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let reply = reader
        .until(|f| f.starts_with(br#"{"id":2,"#).then(|| f.to_vec()))
        .await
        .map_err(|e| e.to_string())?;
    if ws::find(&reply, br#""ok":"#).is_none() {
        return Err(format!(
            "watch refused: {}",
            String::from_utf8_lossy(&reply)
        ));
    }
    Ok((reader, writer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_is_read_from_an_entity_push() {
        let frame = format!(
            r#"{{"push":"entity","data":{{"changed":{{"stamp":"0x{:064x}","x":3}}}}}}"#,
            1_733_000_000_123_456u64
        );
        assert_eq!(entity_stamp(frame.as_bytes()), Some(1_733_000_000_123_456));
        // The initial state carries no stamp (zero): not a measured delivery.
        let initial = format!(r#"{{"changed":{{"stamp":"0x{:064x}"}}}}"#, 0);
        assert_eq!(entity_stamp(initial.as_bytes()), None);
    }

    #[test]
    fn viewports_tile_the_map_without_overlap() {
        let side = 100;
        let cells: std::collections::HashSet<(u32, u32)> =
            (0..10_000).map(|k| cell(k, side)).collect();
        assert_eq!(cells.len(), 10_000);
        assert!(cells.iter().all(|(x, y)| x % CELL == 0 && y % CELL == 0));
    }
}
