//! Pacing: at the fixed rate when there is one, and never more than
//! `max_lag` events ahead of the consumers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Workload;

/// Paces sends: at the fixed rate when there is one, and never more than
/// `max_lag` events ahead of the consumers.
pub(super) struct Pacer {
    started: Instant,
    interval: Duration,
    max_lag: u64,
}

impl Pacer {
    /// Paces `workload`'s sends from `started` on.
    pub(super) fn new(workload: &Workload, started: Instant) -> Self {
        Self {
            started,
            interval: Duration::from_micros(workload.interval_us()),
            max_lag: workload.max_lag,
        }
    }

    /// Waits until event `sequence` is due and the consumers are close
    /// enough behind.
    pub(super) async fn wait(&self, sequence: u64, sent: &AtomicU64, consumed: &AtomicU64) {
        if !self.interval.is_zero() {
            let due = self.started + self.interval * sequence as u32;
            tokio::time::sleep_until(due.into()).await;
        }
        while sent
            .load(Ordering::Relaxed)
            .saturating_sub(consumed.load(Ordering::Relaxed))
            >= self.max_lag
        {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::timeout;

    use super::*;

    const A_WHILE: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn a_sender_max_lag_ahead_waits_for_the_consumers() {
        let pacer = Pacer {
            started: Instant::now(),
            interval: Duration::ZERO,
            max_lag: 2,
        };
        let (sent, consumed) = (AtomicU64::new(2), AtomicU64::new(0));
        assert!(
            timeout(A_WHILE, pacer.wait(2, &sent, &consumed))
                .await
                .is_err()
        );
        consumed.store(1, Ordering::Relaxed);
        assert!(
            timeout(Duration::from_secs(5), pacer.wait(2, &sent, &consumed))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn at_a_fixed_rate_an_event_waits_for_its_due_time() {
        let pacer = Pacer {
            started: Instant::now(),
            interval: Duration::from_secs(1),
            max_lag: u64::MAX,
        };
        let (sent, consumed) = (AtomicU64::new(0), AtomicU64::new(0));
        assert!(
            timeout(A_WHILE, pacer.wait(0, &sent, &consumed))
                .await
                .is_ok()
        );
        assert!(
            timeout(A_WHILE, pacer.wait(1, &sent, &consumed))
                .await
                .is_err()
        );
    }
}
