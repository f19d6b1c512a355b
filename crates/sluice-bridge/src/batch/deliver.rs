//! Sending one batch until every entry is settled: accepted, or rejected
//! for good. Only failed entries are sent again; a call refused for its
//! content is split into single-entry calls.

use tokio::time::sleep;
use tracing::Instrument as _;

use super::metrics::RouteMetrics;
use super::throttle::{Throttle, backoff};
use super::{BatchSender, CallError, EntryStatus, Item, Rejection};
use crate::config::BatchingConfig;

/// Sends `items` until each one is accepted or rejected for good.
pub(super) async fn deliver<S: BatchSender>(
    sender: &S,
    mut items: Vec<Item<S::Entry>>,
    throttle: &Throttle,
    config: &BatchingConfig,
    metrics: &RouteMetrics,
) {
    let mut unavailable = 0;
    while !items.is_empty() {
        throttle.wait().await;
        let entries: Vec<S::Entry> = items.iter().map(|i| i.entry.clone()).collect();
        let span = tracing::info_span!(
            "aws_call",
            otel.name = %format_args!("{}.{}", S::SERVICE, S::METHOD),
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = S::SERVICE,
            rpc.method = S::METHOD,
            sluice.route = %metrics.route,
            aws.entries = entries.len(),
            outcome = tracing::field::Empty,
        );
        if !span.is_disabled() {
            for trace in items.iter().filter_map(|i| i.trace.as_ref()) {
                sluice_telemetry::propagation::link(&span, trace);
            }
        }
        let started = std::time::Instant::now();
        let result = sender.send(&entries).instrument(span.clone()).await;
        metrics.duration.record(started.elapsed());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(CallError::Throttled(_)) => "throttled",
            Err(CallError::Unavailable(_)) => "unavailable",
            Err(CallError::Rejected { .. }) => "rejected",
        };
        span.record("outcome", outcome);
        metrics.call(outcome);
        match result {
            Ok(statuses) => {
                unavailable = 0;
                let accepted = statuses
                    .iter()
                    .filter(|s| **s == EntryStatus::Accepted)
                    .count();
                metrics.sent.increment(accepted as u64);
                for status in &statuses {
                    match status {
                        EntryStatus::Accepted => {}
                        EntryStatus::Throttled => metrics.failed("throttled", 1),
                        EntryStatus::Failed { code, .. } => metrics.failed(code, 1),
                    }
                }
                let mut again = Vec::new();
                let mut throttled = false;
                let mut retry_after = 0;
                for (mut item, status) in items.into_iter().zip(statuses) {
                    match status {
                        EntryStatus::Accepted => {
                            let _ = item.done.send(Ok(()));
                        }
                        EntryStatus::Throttled => {
                            throttled = true;
                            again.push(item);
                        }
                        EntryStatus::Failed {
                            code,
                            message,
                            retriable: true,
                        } => {
                            item.attempts += 1;
                            if item.attempts >= config.max_entry_attempts {
                                let message =
                                    format!("{message} (gave up after {} attempts)", item.attempts);
                                let _ = item.done.send(Err(Rejection { code, message }));
                            } else {
                                tracing::debug!(%code, %message, attempt = item.attempts, "entry failed, sending it again");
                                retry_after = retry_after.max(item.attempts);
                                again.push(item);
                            }
                        }
                        EntryStatus::Failed { code, message, .. } => {
                            let _ = item.done.send(Err(Rejection { code, message }));
                        }
                    }
                }
                if throttled {
                    throttle.hit();
                } else {
                    throttle.clear();
                }
                items = again;
                if retry_after > 0 && !items.is_empty() {
                    sleep(backoff(config, retry_after)).await;
                }
            }
            Err(CallError::Throttled(message)) => {
                tracing::debug!(%message, "throttled");
                metrics.failed("throttled", items.len() as u64);
                throttle.hit();
            }
            Err(CallError::Unavailable(message)) => {
                unavailable += 1;
                tracing::warn!(%message, attempt = unavailable, "AWS call failed; trying again");
                sleep(backoff(config, unavailable)).await;
            }
            Err(CallError::Rejected { code, message }) => {
                if items.len() == 1
                    && let Some(item) = items.pop()
                {
                    metrics.failed(&code, 1);
                    let _ = item.done.send(Err(Rejection { code, message }));
                } else {
                    tracing::debug!(%code, %message, entries = items.len(), "batch refused; sending its entries one by one");
                    for item in std::mem::take(&mut items) {
                        Box::pin(deliver(sender, vec![item], throttle, config, metrics)).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::super::{BatchLimits, Batcher, fast_config as config};
    use super::*;

    /// Fails entries ending in 3 (retriable) and 5 (throttled) on their
    /// first send, entries ending in 07 for good, and throttles every third
    /// call; records each call's entries.
    struct Flaky {
        calls: Mutex<Vec<Vec<u32>>>,
        seen: Mutex<std::collections::HashSet<u32>>,
        count: AtomicUsize,
    }

    impl BatchSender for Flaky {
        type Entry = u32;
        const SERVICE: &'static str = "Test";
        const METHOD: &'static str = "Send";
        const DESTINATION: &'static str = "test";

        async fn send(&self, entries: &[u32]) -> Result<Vec<EntryStatus>, CallError> {
            if self.count.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
                return Err(CallError::Throttled("slow down".into()));
            }
            self.calls.lock().unwrap().push(entries.to_vec());
            let mut seen = self.seen.lock().unwrap();
            Ok(entries
                .iter()
                .map(|&n| match n {
                    n if n % 10 == 3 && seen.insert(n) => EntryStatus::Failed {
                        code: "InternalFailure".into(),
                        message: "try again".into(),
                        retriable: true,
                    },
                    n if n % 10 == 5 && seen.insert(n) => EntryStatus::Throttled,
                    n if n % 100 == 7 => EntryStatus::Failed {
                        code: "InvalidArgument".into(),
                        message: "no".into(),
                        retriable: false,
                    },
                    _ => EntryStatus::Accepted,
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn only_failed_entries_are_sent_again_and_every_entry_ends() {
        let sender = Arc::new(Flaky {
            calls: Mutex::default(),
            seen: Mutex::default(),
            count: AtomicUsize::new(0),
        });
        let limits = BatchLimits {
            max_entries: 10,
            max_request_bytes: 1000,
        };
        let batcher = Batcher::start(Arc::clone(&sender), limits, config(), "test");
        let results = futures::future::join_all((0..1000_u32).map(|n| {
            let batcher = batcher.clone();
            async move { (n, batcher.submit(n, 10, None).await.expect("running")) }
        }))
        .await;
        for (n, result) in &results {
            if n % 100 == 7 {
                assert_eq!(result.as_ref().unwrap_err().code, "InvalidArgument");
            } else {
                assert!(result.is_ok(), "{n}: {result:?}");
            }
        }
        let calls = sender.calls.lock().unwrap();
        let mut sends = std::collections::HashMap::<u32, usize>::new();
        for call in calls.iter() {
            assert!(call.len() <= 10);
            for n in call {
                *sends.entry(*n).or_default() += 1;
            }
        }
        for n in 0..1000_u32 {
            let expected = if n % 10 == 3 || n % 10 == 5 { 2 } else { 1 };
            assert_eq!(sends[&n], expected, "entry {n}");
        }
    }

    #[tokio::test]
    async fn a_refused_batch_is_split_and_only_the_bad_entry_rejected() {
        struct Picky(Mutex<Vec<usize>>);
        impl BatchSender for Picky {
            type Entry = u32;
            const SERVICE: &'static str = "Test";
            const METHOD: &'static str = "Send";
            const DESTINATION: &'static str = "test";
            async fn send(&self, entries: &[u32]) -> Result<Vec<EntryStatus>, CallError> {
                self.0.lock().unwrap().push(entries.len());
                if entries.contains(&13) {
                    return Err(CallError::Rejected {
                        code: "InvalidParameterValue".into(),
                        message: "13 is bad".into(),
                    });
                }
                Ok(vec![EntryStatus::Accepted; entries.len()])
            }
        }
        let sender = Arc::new(Picky(Mutex::default()));
        let limits = BatchLimits {
            max_entries: 10,
            max_request_bytes: 1000,
        };
        let batcher = Batcher::start(Arc::clone(&sender), limits, config(), "test");
        let results =
            futures::future::join_all((10..20_u32).map(|n| batcher.submit(n, 1, None))).await;
        for (n, result) in (10..20_u32).zip(results) {
            let result = result.expect("running");
            if n == 13 {
                assert_eq!(result.unwrap_err().message, "13 is bad");
            } else {
                assert!(result.is_ok());
            }
        }
    }
}
