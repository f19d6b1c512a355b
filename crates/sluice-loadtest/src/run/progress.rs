//! While a run lasts: a progress line every second, and consumer lag
//! samples.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_consumer::ConsumerStatus;

use crate::workload::{LagSamples, SharedCheck};

/// Prints a progress line every second until `done`.
pub(super) fn progress(
    started: Instant,
    sent: Arc<AtomicU64>,
    check: SharedCheck,
    statuses: Vec<ConsumerStatus>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = 0;
        while !done.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (unique, p99) = {
                let check = check.lock().unwrap_or_else(|e| e.into_inner());
                (
                    check.unique,
                    check.latency.value_at_percentile(99.0) as f64 / 1_000.0,
                )
            };
            let lag = max_lag(&statuses);
            eprintln!(
                "  {:>5.1} s  sent {:>9}  handled {:>9}  {:>8}/s  p99 {:>7.1} ms  lag {:>5} ms",
                started.elapsed().as_secs_f64(),
                sent.load(Ordering::Relaxed),
                unique,
                unique - last,
                p99,
                lag.map_or("-".to_owned(), |l| l.as_millis().to_string()),
            );
            last = unique;
        }
    })
}

/// Samples the consumers' largest lag every 100 ms until `done`.
pub(super) fn sample_lag(
    statuses: Vec<ConsumerStatus>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<LagSamples> {
    tokio::spawn(async move {
        let mut samples = LagSamples::new();
        while !done.load(Ordering::Relaxed) {
            if let Some(lag) = max_lag(&statuses) {
                samples.record(lag);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        samples
    })
}

fn max_lag(statuses: &[ConsumerStatus]) -> Option<Duration> {
    statuses
        .iter()
        .flat_map(ConsumerStatus::lag)
        .map(|l| Duration::from_millis(l.millis))
        .max()
}
