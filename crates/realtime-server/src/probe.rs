//! The storage probe behind `/readyz`, shared by every request so storage is asked at most
//! once per [`PROBE_TTL`].

/// How long a storage probe's answer is reused.
pub const PROBE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Why storage did not answer a probe (the error, for the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StorageDown(pub String);

/// The last storage probe and when it was made.
#[derive(Debug, Default)]
pub struct StorageProbe {
    last: tokio::sync::Mutex<Option<(std::time::Instant, Result<(), StorageDown>)>>,
}

impl StorageProbe {
    /// The answer of a probe made less than [`PROBE_TTL`] ago, or of `probe` now. Concurrent
    /// callers wait for one probe rather than each making their own.
    pub async fn check<F>(&self, probe: impl FnOnce() -> F) -> Result<(), StorageDown>
    where
        F: std::future::Future<Output = Result<(), StorageDown>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last
            && at.elapsed() < PROBE_TTL
        {
            return answer.clone();
        }
        let answer = probe().await;
        *last = Some((std::time::Instant::now(), answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn storage_is_probed_at_most_once_a_second() {
        let probe = StorageProbe::default();
        let made = AtomicUsize::new(0);
        for _ in 0..100 {
            let answer = probe
                .check(|| async {
                    made.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await;
            assert_eq!(answer, Ok(()));
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        tokio::time::sleep(PROBE_TTL + std::time::Duration::from_millis(50)).await;
        let answer = probe
            .check(|| async {
                made.fetch_add(1, Ordering::SeqCst);
                Err(StorageDown("down".to_owned()))
            })
            .await;
        assert_eq!(answer, Err(StorageDown("down".to_owned())));
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
