//! Counters shared by the tasks of a scenario, latency histograms, and formatting.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// A latency histogram in microseconds, from 1 µs to 10 minutes, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records `now - then` (microseconds), clamped to the histogram's range.
pub fn record(h: &mut Histogram<u64>, then: u64, now: u64) {
    let _ = h.record(now.saturating_sub(then).clamp(1, 600_000_000));
}

/// Counters every task of a run adds to.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
    /// Payload bytes of the deliveries.
    pub delivered_bytes: AtomicU64,
    /// Connections the server closed or that failed during the run.
    pub closed: AtomicU64,
    refused: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts an error reply by its code.
    pub fn refuse(&self, code: &str) {
        let mut map = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(code.to_owned()).or_default() += 1;
    }

    pub fn refused(&self) -> BTreeMap<String, u64> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The `code` of an error reply.
pub fn error_code(frame: &[u8]) -> Option<String> {
    let key = br#""code":""#;
    let at = crate::ws::find(frame, key)? + key.len();
    let len = frame[at..].iter().position(|b| *b == b'"')?;
    Some(String::from_utf8_lossy(&frame[at..at + len]).into_owned())
}

/// `1234567` as `1.23 M`, for table cells.
pub fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub fn ms(micros: u64) -> String {
    if micros >= 10_000 {
        format!("{:.0} ms", micros as f64 / 1000.0)
    } else {
        format!("{:.2} ms", micros as f64 / 1000.0)
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

/// Latency percentiles of a histogram as `p50 / p99 / p999`.
pub fn percentiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "–".into();
    }
    format!(
        "{} / {} / {}",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_replies() {
        let f = br#"{"id":3,"error":{"code":"rate_limited","message":"slow down"}}"#;
        assert_eq!(error_code(f).as_deref(), Some("rate_limited"));
        assert_eq!(error_code(br#"{"id":3,"ok":{}}"#), None);
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(si(1_210_000.0), "1.21 M");
        assert_eq!(si(2_500.0), "2.5 k");
        assert_eq!(ms(1_500), "1.50 ms");
        assert_eq!(ms(45_000), "45 ms");
    }
}
