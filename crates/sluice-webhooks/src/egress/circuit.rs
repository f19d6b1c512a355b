//! An endpoint's circuit breaker. After `threshold` consecutive failed
//! requests (5xx, timeouts, connection errors) it opens: deliveries wait
//! instead of spending their retries on a dead endpoint; after `open_for`
//! one probe is let through, and its outcome closes or reopens the circuit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is out; another may go at `until` if it never reports.
    Probing {
        until: Instant,
    },
}

#[derive(Debug)]
pub(crate) struct Circuit {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
    /// How long a probe may take before another is let through.
    probe_timeout: Duration,
}

impl Circuit {
    pub(crate) fn new(threshold: u32, open_for: Duration, probe_timeout: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold,
            open_for,
            probe_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok` when a request may go now; otherwise when to ask again.
    pub(crate) fn permit(&self, now: Instant) -> Result<(), Instant> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } | State::Probing { until } if now >= until => {
                *state = State::Probing {
                    until: now + self.probe_timeout,
                };
                Ok(())
            }
            State::Open { until } => Err(until),
            // Waiters look again soon: the probe may close the circuit.
            State::Probing { until } => Err(until.min(now + Duration::from_millis(50))),
        }
    }

    pub(crate) fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// An answer that says nothing of the endpoint's health (408, 429): a
    /// probe that gets one hands its turn to the next request.
    pub(crate) fn neutral(&self) {
        let mut state = self.lock();
        if let State::Probing { .. } = *state {
            *state = State::Open {
                until: Instant::now(),
            };
        }
    }

    pub(crate) fn failure(&self, now: Instant) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures.saturating_add(1),
            // Requests sent before the circuit opened, failing late: the
            // circuit stays open as long as it was going to.
            State::Open { .. } => return,
            State::Probing { .. } => self.threshold,
        };
        *state = if failures >= self.threshold {
            tracing::warn!(failures, "endpoint failing; circuit open");
            State::Open {
                until: now + self.open_for,
            }
        } else {
            State::Closed { failures }
        };
    }

    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }

    /// Waits until a request may go.
    pub(crate) async fn wait(&self) {
        while let Err(at) = self.permit(Instant::now()) {
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_once_and_closes_on_success() {
        let circuit = Circuit::new(3, Duration::from_secs(5), Duration::from_secs(1));
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(circuit.permit(t0), Ok(()));
            circuit.failure(t0);
        }
        assert_eq!(circuit.permit(t0), Ok(()));
        // A success in between resets the count.
        circuit.success();
        for _ in 0..3 {
            circuit.failure(t0);
        }
        assert_eq!(circuit.permit(t0), Err(t0 + Duration::from_secs(5)));
        let later = t0 + Duration::from_secs(5);
        // One probe; the others wait for it.
        assert_eq!(circuit.permit(later), Ok(()));
        assert!(circuit.permit(later).is_err());
        circuit.success();
        assert_eq!(circuit.permit(later), Ok(()));
        assert!(!circuit.is_open());
    }

    #[test]
    fn late_failures_do_not_extend_an_open_circuit_and_a_throttled_probe_passes_its_turn() {
        let circuit = Circuit::new(1, Duration::from_secs(5), Duration::from_secs(10));
        let t0 = Instant::now();
        circuit.failure(t0);
        circuit.failure(t0 + Duration::from_secs(4));
        let probe_at = t0 + Duration::from_secs(5);
        assert_eq!(circuit.permit(probe_at), Ok(()));
        assert!(circuit.permit(probe_at).is_err());
        // The probe got 429: the next request probes at once, not after
        // the probe timeout.
        circuit.neutral();
        assert_eq!(circuit.permit(Instant::now()), Ok(()));
        circuit.success();
        assert!(!circuit.is_open());
    }

    #[test]
    fn a_failed_probe_reopens_and_a_lost_probe_is_replaced() {
        let circuit = Circuit::new(1, Duration::from_secs(5), Duration::from_secs(1));
        let t0 = Instant::now();
        circuit.failure(t0);
        let probe_at = t0 + Duration::from_secs(5);
        assert_eq!(circuit.permit(probe_at), Ok(()));
        circuit.failure(probe_at);
        assert_eq!(
            circuit.permit(probe_at),
            Err(probe_at + Duration::from_secs(5))
        );
        // A probe that never reports: another goes after the probe timeout.
        let second = probe_at + Duration::from_secs(5);
        assert_eq!(circuit.permit(second), Ok(()));
        assert!(circuit.permit(second).is_err());
        assert_eq!(circuit.permit(second + Duration::from_secs(1)), Ok(()));
    }
}
