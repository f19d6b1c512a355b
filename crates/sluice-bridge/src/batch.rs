//! Entries gathered into AWS calls: up to the entry and byte limits, a
//! linger timer for partial batches, several calls in flight, only the
//! failed entries sent again, and throttling that slows every call of the
//! route down instead of failing entries.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Histogram};
use sluice_core::TraceContext;
use sluice_telemetry::metrics as names;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};
use tracing::Instrument as _;

use crate::config::BatchingConfig;

/// The second stage of a destination: entries go to AWS in one batch call
/// ([`EntryBuilder`](crate::route::EntryBuilder) is the first).
pub(crate) trait BatchSender: Send + Sync + 'static {
    type Entry: Clone + Send + Sync + 'static;
    /// For spans and metrics: `EventBridge`, `PutEvents`, `eventbridge`.
    const SERVICE: &'static str;
    const METHOD: &'static str;
    const DESTINATION: &'static str;

    /// Sends one batch; on success, one status per entry, in order.
    fn send(
        &self,
        entries: &[Self::Entry],
    ) -> impl Future<Output = Result<Vec<EntryStatus>, CallError>> + Send;
}

/// What AWS said about one entry of a successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryStatus {
    Accepted,
    Throttled,
    Failed {
        code: String,
        message: String,
        retriable: bool,
    },
}

/// A call that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    Throttled(String),
    /// The service cannot be used right now: network errors, timeouts, 5xx,
    /// and refusals that are not about the entries (credentials, a missing
    /// queue). Retried until it works; nothing is dead-lettered for it.
    Unavailable(String),
    /// The request's content was refused: sent again one entry per call,
    /// so that only the entries at fault are dead-lettered.
    Rejected {
        code: String,
        message: String,
    },
}

/// Why AWS will not take an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) code: String,
    pub(crate) message: String,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub(crate) max_entries: usize,
    pub(crate) max_request_bytes: usize,
}

struct Item<E> {
    entry: E,
    size: usize,
    attempts: u32,
    /// The record's trace, linked from the call's span.
    trace: Option<TraceContext>,
    done: oneshot::Sender<Result<(), Rejection>>,
}

/// Metric handles of one route.
struct RouteMetrics {
    route: String,
    sent: Counter,
    duration: Histogram,
}

impl RouteMetrics {
    fn new<S: BatchSender>(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            sent: metrics::counter!(
                names::BRIDGE_ENTRIES_SENT,
                "route" => route.to_owned(),
                "destination" => S::DESTINATION
            ),
            duration: metrics::histogram!(names::BRIDGE_CALL_DURATION, "route" => route.to_owned()),
        }
    }

    fn call(&self, outcome: &'static str) {
        metrics::counter!(names::BRIDGE_CALLS, "route" => self.route.clone(), "outcome" => outcome)
            .increment(1);
    }

    fn failed(&self, reason: &str, n: u64) {
        if n > 0 {
            metrics::counter!(
                names::BRIDGE_ENTRIES_FAILED,
                "route" => self.route.clone(),
                "reason" => reason.to_owned()
            )
            .increment(n);
        }
    }
}

/// The submitting side; the batching task stops when every clone is gone
/// and the calls in flight are done.
#[derive(Debug)]
pub(crate) struct Batcher<E> {
    tx: mpsc::Sender<Item<E>>,
}

impl<E> Clone for Batcher<E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

/// The batching task is gone: only while shutting down.
#[derive(Debug)]
pub(crate) struct Stopped;

impl<E: Clone + Send + Sync + 'static> Batcher<E> {
    pub(crate) fn start<S: BatchSender<Entry = E>>(
        sender: Arc<S>,
        limits: BatchLimits,
        config: BatchingConfig,
        route: &str,
    ) -> Self {
        let (tx, rx) = mpsc::channel(limits.max_entries * config.max_batches_in_flight * 2);
        let metrics = Arc::new(RouteMetrics::new::<S>(route));
        tokio::spawn(dispatch(sender, rx, limits, config, metrics));
        Self { tx }
    }

    /// Resolves when AWS accepted the entry, or with why it never will.
    pub(crate) async fn submit(
        &self,
        entry: E,
        size: usize,
        trace: Option<TraceContext>,
    ) -> Result<Result<(), Rejection>, Stopped> {
        let (done, accepted) = oneshot::channel();
        let item = Item {
            entry,
            size,
            attempts: 0,
            trace,
            done,
        };
        self.tx.send(item).await.map_err(|_| Stopped)?;
        accepted.await.map_err(|_| Stopped)
    }
}

async fn dispatch<S: BatchSender>(
    sender: Arc<S>,
    mut rx: mpsc::Receiver<Item<S::Entry>>,
    limits: BatchLimits,
    config: BatchingConfig,
    metrics: Arc<RouteMetrics>,
) {
    let calls = Arc::new(Semaphore::new(config.max_batches_in_flight));
    let throttle = Arc::new(Throttle::new(&config));
    let linger = Duration::from_millis(config.linger_ms);
    let mut held = None;
    loop {
        let first = match held.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => break,
            },
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        let deadline = Instant::now() + linger;
        while batch.len() < limits.max_entries {
            let next = tokio::select! {
                biased;
                item = rx.recv() => item,
                () = sleep_until(deadline) => break,
            };
            let Some(item) = next else { break };
            if bytes + item.size > limits.max_request_bytes {
                held = Some(item);
                break;
            }
            bytes += item.size;
            batch.push(item);
        }
        let permit = Arc::clone(&calls)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let sender = Arc::clone(&sender);
        let throttle = Arc::clone(&throttle);
        let config = config.clone();
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            deliver(&*sender, batch, &throttle, &config, &metrics).await;
            drop(permit);
        });
    }
    // Wait for the calls in flight before the task ends.
    let _ = calls
        .acquire_many(config.max_batches_in_flight as u32)
        .await;
}

/// Sends `items` until each one is accepted or rejected for good.
async fn deliver<S: BatchSender>(
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
                if let [_] = items.as_slice() {
                    metrics.failed(&code, 1);
                    let item = items.pop().expect("one item");
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

fn backoff(config: &BatchingConfig, attempt: u32) -> Duration {
    let exp = config
        .initial_backoff_ms
        .saturating_mul(1_u64 << attempt.saturating_sub(1).min(20))
        .min(config.max_backoff_ms);
    // Full jitter over the upper half keeps calls of many tasks apart.
    Duration::from_millis(exp / 2 + fastrand::u64(0..=exp / 2))
}

/// A route-wide pause after throttling, doubling while throttling goes on.
struct Throttle {
    state: Mutex<(u32, Instant)>,
    config: BatchingConfig,
}

impl Throttle {
    fn new(config: &BatchingConfig) -> Self {
        Self {
            state: Mutex::new((0, Instant::now())),
            config: config.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Instant)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hit(&self) {
        let mut state = self.lock();
        state.0 = (state.0 + 1).min(20);
        let until = Instant::now() + backoff(&self.config, state.0);
        state.1 = state.1.max(until);
    }

    fn clear(&self) {
        self.lock().0 = 0;
    }

    async fn wait(&self) {
        loop {
            let until = self.lock().1;
            if until <= Instant::now() {
                return;
            }
            sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails every entry whose number is in `fail` on its first send, and
    /// the whole call every third time; records each call's entries.
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

    fn config() -> BatchingConfig {
        BatchingConfig {
            linger_ms: 5,
            max_batches_in_flight: 4,
            max_entry_attempts: 3,
            initial_backoff_ms: 1,
            max_backoff_ms: 4,
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
    async fn batches_respect_the_byte_limit() {
        let sender = Arc::new(Flaky {
            calls: Mutex::default(),
            seen: Mutex::default(),
            count: AtomicUsize::new(1),
        });
        let limits = BatchLimits {
            max_entries: 10,
            max_request_bytes: 100,
        };
        let batcher = Batcher::start(Arc::clone(&sender), limits, config(), "test");
        futures::future::join_all((0..200_u32).map(|n| {
            let batcher = batcher.clone();
            // 10, 20, 30 or 40 bytes.
            async move {
                batcher
                    .submit(n * 10 + 1, 10 * (1 + n as usize % 4), None)
                    .await
            }
        }))
        .await;
        for call in sender.calls.lock().unwrap().iter() {
            let bytes: usize = call
                .iter()
                .map(|n| 10 * (1 + ((n - 1) / 10) as usize % 4))
                .sum();
            assert!(bytes <= 100, "{call:?} is {bytes} bytes");
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
