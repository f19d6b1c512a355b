//! One task per assigned partition: it schedules the partition's records
//! by key, runs the handler with retries, dead-letters what fails, and
//! publishes how far the partition may be committed.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::FutureExt as _;
use futures::stream::{FuturesUnordered, StreamExt as _};
use metrics::{Counter, Histogram};
use sluice_telemetry::metrics as names;
use tokio::sync::mpsc;
use tracing::Instrument as _;

use crate::config::{OrderBy, RetryPolicy};
use crate::dlq::{DeadLetters, Failure, Sent};
use crate::handler::{Context, RecordHandler};
use crate::partition::PartitionState;
use crate::record::Record;
use crate::scheduler::{FNV_OFFSET, KeyScheduler, fnv1a};
use crate::status::ConsumerStatus;
use crate::tracker::OffsetTracker;

/// Metric handles of one partition's topic and group, looked up once.
pub(crate) struct PartitionMetrics {
    topic: String,
    group: String,
    received: Counter,
    handled: Counter,
    retries: Counter,
    handler_duration: Histogram,
    end_to_end: Histogram,
}

impl PartitionMetrics {
    pub(crate) fn new(topic: &str, group: &str) -> Self {
        let labels = [("topic", topic.to_owned()), ("group", group.to_owned())];
        Self {
            topic: topic.to_owned(),
            group: group.to_owned(),
            received: metrics::counter!(names::CONSUMER_RECEIVED, &labels),
            handled: metrics::counter!(names::CONSUMER_HANDLED, &labels),
            retries: metrics::counter!(names::CONSUMER_RETRIES, &labels),
            handler_duration: metrics::histogram!(names::CONSUMER_HANDLER_DURATION, &labels),
            end_to_end: metrics::histogram!(names::CONSUMER_END_TO_END, &labels),
        }
    }

    fn handler_error(&self, class: &str) {
        metrics::counter!(
            names::CONSUMER_HANDLER_ERRORS,
            "topic" => self.topic.clone(),
            "group" => self.group.clone(),
            "class" => class.to_owned()
        )
        .increment(1);
    }

    fn dlq_error(&self, class: &str) {
        metrics::counter!(
            names::CONSUMER_DLQ_ERRORS,
            "topic" => self.topic.clone(),
            "group" => self.group.clone(),
            "class" => class.to_owned()
        )
        .increment(1);
    }

    fn dead_lettered(&self, class: &str) {
        metrics::counter!(
            names::CONSUMER_DEAD_LETTERED,
            "topic" => self.topic.clone(),
            "group" => self.group.clone(),
            "class" => class.to_owned()
        )
        .increment(1);
    }
}

/// What every worker of a consumer needs.
pub(crate) struct WorkerEnv<H> {
    /// Where workers report that the consumer cannot go on, or that a dead
    /// letter cannot be written.
    pub(crate) status: ConsumerStatus,
    pub(crate) handler: H,
    pub(crate) dead_letters: DeadLetters,
    pub(crate) retry: RetryPolicy,
    pub(crate) group: Arc<str>,
    /// Records running at once per partition.
    pub(crate) limit: usize,
    /// Which records may run concurrently.
    pub(crate) order: OrderBy,
    /// Larger values are dead-lettered without calling the handler.
    pub(crate) max_record_bytes: usize,
}

impl<H> std::fmt::Debug for WorkerEnv<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerEnv")
            .field("group", &self.group)
            .field("limit", &self.limit)
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

/// FNV-1a of the key (a collision only serializes two keys). Records
/// without a key share one queue, so they keep their partition order.
fn key_hash(record: &Record) -> u64 {
    let Some(key) = record.key() else {
        return 0;
    };
    fnv1a(FNV_OFFSET, key) | 1
}

/// Runs until `records` (batches of consecutive records) closes, then
/// finishes the records already running (records queued but not started
/// are left for the next owner) and returns. Dropping the task abandons
/// whatever still runs.
pub(crate) async fn run<H: RecordHandler>(
    env: Arc<WorkerEnv<H>>,
    state: Arc<PartitionState>,
    metrics: Arc<PartitionMetrics>,
    mut records: mpsc::UnboundedReceiver<Vec<Record>>,
) {
    let mut tracker = OffsetTracker::default();
    let mut scheduler = KeyScheduler::new(env.limit);
    let mut running = FuturesUnordered::new();
    let mut open = true;
    loop {
        if open {
            let mut passed = 0;
            while let Some((key, record)) = scheduler.next() {
                let mut work =
                    Box::pin(process(Arc::clone(&env), Arc::clone(&metrics), key, record));
                // Most handlers finish without waiting: each record runs to
                // its first await here, and only records that wait are kept.
                match futures::poll!(work.as_mut()) {
                    Poll::Ready((key, offset, bytes)) => {
                        scheduler.done(key);
                        passed += tracker.finish(offset);
                        state.release(bytes);
                    }
                    Poll::Pending => running.push(work),
                }
            }
            publish(&state, &tracker, passed);
        } else if running.is_empty() {
            return;
        }
        let oldest = tracker.oldest_timestamp().unwrap_or(-1);
        state.oldest_pending_ms.store(oldest, Ordering::Relaxed);
        tokio::select! {
            batch = records.recv(), if open => match batch {
                Some(batch) => {
                    for record in batch {
                        let timestamp = record.timestamp().to_millis().unwrap_or(-1);
                        if tracker.start(record.offset(), timestamp) {
                            metrics.received.increment(1);
                            state.newest_received_ms.store(timestamp, Ordering::Relaxed);
                            let key = match env.order {
                                OrderBy::Key => key_hash(&record),
                                OrderBy::Partition => 0,
                                // A key of its own: offsets are unique.
                                OrderBy::Unordered => record.offset().cast_unsigned(),
                            };
                            scheduler.push(key, Arc::new(record));
                        } else {
                            state.commits.redelivered();
                            state.release(record.held_bytes());
                        }
                    }
                }
                None => open = false,
            },
            Some((key, offset, bytes)) = running.next(), if !running.is_empty() => {
                scheduler.done(key);
                let passed = tracker.finish(offset);
                state.release(bytes);
                publish(&state, &tracker, passed);
            }
        }
    }
}

/// Tells the poll thread that `passed` more records are behind the commit
/// position.
fn publish(state: &PartitionState, tracker: &OffsetTracker, passed: usize) {
    if let Some(committable) = tracker.committable() {
        state.commits.passed(committable, passed as u64);
    }
}

/// Handles one record: retries retriable failures with backoff, then
/// dead-letters; dead-letters permanent failures and panics at once. Only
/// returns once the record is handled or its DLQ copy acknowledged.
///
/// The work runs in a `process` span (OpenTelemetry messaging attributes)
/// that continues the trace of the record's `traceparent` header, with a
/// `handle` span per handler call, `retry` spans for the backoff waits and
/// a `dead_letter` span for the DLQ write.
async fn process<H: RecordHandler>(
    env: Arc<WorkerEnv<H>>,
    metrics: Arc<PartitionMetrics>,
    key: u64,
    record: Arc<Record>,
) -> (u64, i64, u64) {
    let span = record_span(&record, &env.group);
    let bytes = record.held_bytes();
    let (key, offset) = handle_record(env, metrics, key, record)
        .instrument(span)
        .await;
    (key, offset, bytes)
}

fn record_span(record: &Record, group: &str) -> tracing::Span {
    let header = |name: &str| {
        record
            .header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {}", record.topic()),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = record.topic(),
        messaging.destination.partition.id = record.partition(),
        messaging.kafka.offset = record.offset(),
        messaging.kafka.message.key = record.key().map(String::from_utf8_lossy).as_deref(),
        messaging.consumer.group.name = group,
        messaging.message.id = header(sluice_core::envelope::header::ID),
        error.type = tracing::field::Empty,
    );
    if !span.is_disabled() {
        sluice_telemetry::propagation::continue_from(
            &span,
            header(sluice_core::envelope::header::TRACEPARENT),
            header(sluice_core::envelope::header::TRACESTATE),
        );
    }
    span
}

async fn handle_record<H: RecordHandler>(
    env: Arc<WorkerEnv<H>>,
    metrics: Arc<PartitionMetrics>,
    key: u64,
    record: Arc<Record>,
) -> (u64, i64) {
    let offset = record.offset();
    let failure = match oversize(&record, env.max_record_bytes) {
        Some(failure) => failure,
        None => run_handler(&env, &metrics, &record).await,
    };
    if let Some(failure) = failure {
        dead_letter(&env, &metrics, &record, failure).await;
    }
    (key, offset)
}

/// A record whose value is larger than `limit` fails before any handler
/// sees it.
fn oversize(record: &Record, limit: usize) -> Option<Option<Failure>> {
    let size = record.payload().map_or(0, <[u8]>::len);
    (size > limit).then(|| {
        let error = sluice_core::DecodeError::Oversize { size, limit };
        Some(Failure {
            class: error.class().to_owned(),
            message: error.to_string(),
            attempts: 0,
        })
    })
}

/// Runs the handler, retrying retriable failures; the failure to
/// dead-letter, if it did not succeed.
async fn run_handler<H: RecordHandler>(
    env: &WorkerEnv<H>,
    metrics: &PartitionMetrics,
    record: &Arc<Record>,
) -> Option<Failure> {
    let offset = record.offset();
    let mut attempt = 1;
    let failure = loop {
        let ctx = Context {
            record: Arc::clone(record),
            group: Arc::clone(&env.group),
            attempt,
        };
        let started = Instant::now();
        // The call happens inside the caught future, so a panic before the
        // handler's future exists is caught too, and so is one in its
        // `Drop`, which runs when the awaited future completes.
        let outcome = AssertUnwindSafe(async { env.handler.handle(&ctx).await })
            .catch_unwind()
            .instrument(tracing::info_span!("handle", attempt))
            .await;
        metrics.handler_duration.record(started.elapsed());
        match outcome {
            Ok(Ok(())) => {
                metrics.handled.increment(1);
                if let Some(ms) = record.timestamp().to_millis() {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    let since = now.saturating_sub(Duration::from_millis(ms.max(0) as u64));
                    metrics.end_to_end.record(since);
                }
                return None;
            }
            Ok(Err(error)) if error.is_retriable() && attempt < env.retry.max_attempts => {
                metrics.handler_error(error.class());
                metrics.retries.increment(1);
                tracing::debug!(
                    topic = record.topic(),
                    partition = record.partition(),
                    offset,
                    attempt,
                    %error,
                    "retrying record"
                );
                tokio::time::sleep(env.retry.delay(attempt, error.retry_delay()))
                    .instrument(tracing::info_span!("retry", attempt, error.type = error.class()))
                    .await;
                attempt += 1;
            }
            Ok(Err(error)) => {
                metrics.handler_error(error.class());
                break Failure {
                    class: error.class().to_owned(),
                    message: error.message().to_owned(),
                    attempts: attempt,
                };
            }
            Err(panic) => {
                metrics.handler_error("handler_panic");
                break Failure {
                    class: "handler_panic".to_owned(),
                    message: panic_message(panic.as_ref()),
                    attempts: attempt,
                };
            }
        }
    };
    Some(failure)
}

/// Writes the record's dead letter; returns once the DLQ acknowledged it
/// (whole or as a reference), retrying for as long as it takes.
async fn dead_letter<H: RecordHandler>(
    env: &WorkerEnv<H>,
    metrics: &PartitionMetrics,
    record: &Record,
    failure: Failure,
) {
    let offset = record.offset();
    tracing::Span::current().record("error.type", failure.class.as_str());
    tracing::warn!(
        topic = record.topic(),
        partition = record.partition(),
        offset,
        class = failure.class,
        attempts = failure.attempts,
        "dead-lettering record: {}",
        failure.message
    );
    let dead_letter = tracing::info_span!(
        "dead_letter",
        messaging.destination.name = %env.dead_letters.topic_for(record.topic()),
        error.type = failure.class.as_str(),
    );
    let mut tries = 1;
    let mut blocked = None;
    let mut last_log: Option<Instant> = None;
    loop {
        match env
            .dead_letters
            .send(record, &failure)
            .instrument(dead_letter.clone())
            .await
        {
            Ok(sent) => {
                if let Sent::Reference(error) = sent {
                    metrics.dlq_error("too_large");
                    tracing::warn!(
                        topic = record.topic(),
                        partition = record.partition(),
                        offset,
                        %error,
                        "the DLQ refused the whole record; wrote a reference without its value"
                    );
                }
                metrics.dead_lettered(&failure.class);
                drop(blocked);
                return;
            }
            Err(error) => {
                // Not committed until the DLQ has it: keep trying, with a
                // bounded backoff, readiness red meanwhile, logged once a
                // minute.
                metrics.dlq_error(&dlq_error_class(&error));
                if let Some(reason) = env.dead_letters.fatal_error() {
                    env.status.fail(reason);
                }
                let guard = blocked.get_or_insert_with(|| env.status.dlq_blocked());
                guard.set_error(&error);
                if last_log.is_none_or(|at| at.elapsed() >= DLQ_LOG_INTERVAL) {
                    last_log = Some(Instant::now());
                    tracing::error!(
                        topic = record.topic(),
                        partition = record.partition(),
                        offset,
                        %error,
                        attempts = tries,
                        "DLQ write failed; retrying"
                    );
                }
                tokio::time::sleep(env.retry.backoff(tries.min(16))).await;
                tries = tries.saturating_add(1);
            }
        }
    }
}

/// The `class` label of a failed DLQ write: librdkafka's error code, in
/// snake case (`message_timed_out`, `topic_authorization_failed`, ...).
fn dlq_error_class(error: &rdkafka::error::KafkaError) -> String {
    let Some(code) = error.rdkafka_error_code() else {
        return "client".to_owned();
    };
    let mut class = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                class.push('_');
            }
            class.push(c.to_ascii_lowercase());
        } else {
            class.push(c);
        }
    }
    class
}

/// How often a dead letter that cannot be written is logged again.
const DLQ_LOG_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)");
    format!("handler panicked: {text}")
}

#[cfg(test)]
mod tests {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    use super::*;

    #[test]
    fn dlq_error_classes_are_snake_case_codes() {
        let error = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(dlq_error_class(&error), "message_timed_out");
        let error = KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed);
        assert_eq!(dlq_error_class(&error), "topic_authorization_failed");
        assert_eq!(dlq_error_class(&KafkaError::Canceled), "client");
    }
}
