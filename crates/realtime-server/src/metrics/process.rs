//! The standard `process_*` metrics, read from `/proc/self` when scraped (Linux; elsewhere
//! they stay at 0).

use prometheus::{Counter, IntGauge};

/// Kernel clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 on every Linux ABI
/// this server is built for.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug)]
pub(super) struct Process {
    cpu: Counter,
    resident: IntGauge,
    fds: IntGauge,
}

impl Process {
    pub fn register() -> Self {
        let start = super::gauge(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
        );
        // Registered at start-up, so "now" is the start time to the second.
        start.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        );
        Self {
            cpu: super::register(
                Counter::new(
                    "process_cpu_seconds_total",
                    "User and system CPU time spent, in seconds.",
                )
                .unwrap_or_else(|e| panic!("process_cpu_seconds_total: {e}")),
            ),
            resident: super::gauge(
                "process_resident_memory_bytes",
                "Resident memory size, in bytes.",
            ),
            fds: super::gauge("process_open_fds", "Open file descriptors."),
        }
    }

    pub fn refresh(&self) {
        if let Some(seconds) = cpu_seconds() {
            let now = self.cpu.get();
            if seconds > now {
                self.cpu.inc_by(seconds - now);
            }
        }
        if let Some(bytes) = resident_bytes() {
            self.resident.set(bytes);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.fds.set(dir.count() as i64);
        }
    }
}

/// utime + stime from `/proc/self/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its closing parenthesis.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// `VmRSS` from `/proc/self/status`, which is in kB whatever the page size.
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
#[test]
fn reads_this_process() {
    assert!(resident_bytes().is_some_and(|b| b > 0));
    assert!(cpu_seconds().is_some());
}
