//! The circuit breaker: fails sends fast while the cluster is unreachable.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Fails sends fast while the cluster is unreachable.
///
/// Opens when librdkafka reports all brokers down or a delivery times out;
/// closes on the next successful delivery. While open, one send per
/// `probe_interval` goes through as a probe; the others fail at once with
/// [`SendErrorKind::Unavailable`](crate::SendErrorKind::Unavailable),
/// handing their events back.
#[derive(Debug)]
pub(super) struct Circuit {
    enabled: bool,
    probe_interval: Duration,
    /// Mirrors `open.is_some()`, so that sends and deliveries skip the lock
    /// while the circuit is closed.
    is_open: AtomicBool,
    /// When the circuit opened or last let a probe through; `None` = closed.
    open: Mutex<Option<Instant>>,
}

impl Circuit {
    pub(super) fn new(enabled: bool, probe_interval: Duration) -> Self {
        Self {
            enabled,
            probe_interval,
            is_open: AtomicBool::new(false),
            open: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn open(&self) {
        if self.enabled {
            let mut open = self.lock();
            open.get_or_insert_with(Instant::now);
            self.is_open.store(true, Ordering::Release);
        }
    }

    pub(super) fn close(&self) {
        if self.is_open.load(Ordering::Acquire) {
            let mut open = self.lock();
            *open = None;
            self.is_open.store(false, Ordering::Release);
        }
    }

    /// Whether a send may go ahead now.
    pub(super) fn admit(&self) -> bool {
        if !self.is_open.load(Ordering::Acquire) {
            return true;
        }
        let mut open = self.lock();
        match *open {
            None => true,
            Some(since) if since.elapsed() >= self.probe_interval => {
                *open = Some(Instant::now());
                true
            }
            Some(_) => false,
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.is_open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    /// Pretends the circuit opened, or let its last probe through, a whole
    /// probe interval ago.
    fn probe_due(circuit: &Circuit) {
        let since = Instant::now().checked_sub(circuit.probe_interval);
        *circuit.lock() = Some(since.unwrap_or_else(Instant::now));
    }

    #[test]
    fn an_open_circuit_lets_one_probe_through_per_interval() {
        let circuit = Circuit::new(true, LONG);
        assert!(circuit.admit());
        circuit.open();
        assert!(circuit.is_open());
        assert!(!circuit.admit(), "no probe before the interval");
        probe_due(&circuit);
        assert!(circuit.admit(), "the probe");
        assert!(!circuit.admit(), "the interval starts again at the probe");
        assert!(circuit.is_open(), "a probe does not close the circuit");
    }

    #[test]
    fn opening_again_keeps_the_first_opening() {
        let circuit = Circuit::new(true, LONG);
        circuit.open();
        probe_due(&circuit);
        circuit.open();
        assert!(circuit.admit(), "the probe stays due");
    }

    #[test]
    fn a_delivery_closes_the_circuit() {
        let circuit = Circuit::new(true, LONG);
        circuit.open();
        circuit.close();
        assert!(!circuit.is_open());
        assert!(circuit.admit());
        assert!(circuit.admit());
    }

    #[test]
    fn a_disabled_circuit_never_opens() {
        let circuit = Circuit::new(false, LONG);
        circuit.open();
        assert!(!circuit.is_open());
        assert!(circuit.admit());
    }
}
