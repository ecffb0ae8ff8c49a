//! CPU time and resident memory of a process, read from `/proc`. CPU is compared per
//! delivered message rather than as a rate, because the generator shares the machine.

use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` times (`_SC_CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time of `pid` (children excluded).
pub fn cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // After the name: state is field 3 of stat(5), utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) / TICKS_PER_SECOND))
}

/// CPU time of this process.
pub fn own_cpu() -> Duration {
    cpu(std::process::id()).unwrap_or_default()
}

/// Resident set size of `pid`, in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Processes named `name` (as `/proc/PID/comm` gives it).
pub fn pids_named(name: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect()
}

/// CPU used by a set of processes over an interval, optionally with every Postgres process
/// (backends started during the interval count in full).
#[derive(Debug, Clone)]
pub struct CpuMeter {
    pids: Vec<u32>,
    start: Vec<Duration>,
    postgres: Option<std::collections::HashMap<u32, Duration>>,
    own_start: Duration,
}

fn postgres_cpu() -> std::collections::HashMap<u32, Duration> {
    pids_named("postgres")
        .into_iter()
        .filter_map(|p| Some((p, cpu(p)?)))
        .collect()
}

impl CpuMeter {
    pub fn start(pids: &[u32], with_postgres: bool) -> Self {
        Self {
            pids: pids.to_vec(),
            start: pids.iter().map(|p| cpu(*p).unwrap_or_default()).collect(),
            postgres: with_postgres.then(postgres_cpu),
            own_start: own_cpu(),
        }
    }

    /// (CPU of the measured processes, CPU of the generator) since `start`.
    pub fn read(&self) -> (Duration, Duration) {
        let mut server: Duration = self
            .pids
            .iter()
            .zip(&self.start)
            .map(|(p, s)| cpu(*p).unwrap_or(*s).saturating_sub(*s))
            .sum();
        if let Some(before) = &self.postgres {
            for (pid, now) in postgres_cpu() {
                server += now.saturating_sub(before.get(&pid).copied().unwrap_or_default());
            }
        }
        (server, own_cpu().saturating_sub(self.own_start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_counts_its_own_cpu() {
        let pid = std::process::id();
        assert!(rss(pid).unwrap() > 1 << 20);
        let meter = CpuMeter::start(&[pid], false);
        let until = std::time::Instant::now() + Duration::from_millis(300);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let (server, own) = meter.read();
        assert!(server >= Duration::from_millis(100), "{server:?}");
        assert!(own >= Duration::from_millis(100), "{own:?}");
    }
}
