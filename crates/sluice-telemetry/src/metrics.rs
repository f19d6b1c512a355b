//! Metric names (Prometheus conventions: base units, `_total` counters,
//! `_seconds` durations) and the Prometheus recorder.
//!
//! Metrics go through the [`metrics`] facade: nothing is recorded until a
//! recorder is installed, by [`prometheus`] or by the service's own.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Records acknowledged by the broker. Labels: `topic`.
pub const PRODUCER_SENT: &str = "sluice_producer_sent_total";
/// Records that failed to send. Labels: `topic`, `class`.
pub const PRODUCER_ERRORS: &str = "sluice_producer_errors_total";
/// From hand-over to the client to the broker's acknowledgement. Labels: `topic`.
pub const PRODUCER_SEND_DURATION: &str = "sluice_producer_send_duration_seconds";
/// Records read from the cluster. Labels: `topic`, `group`.
pub const CONSUMER_RECEIVED: &str = "sluice_consumer_received_total";
/// Records whose handler succeeded. Labels: `topic`, `group`.
pub const CONSUMER_HANDLED: &str = "sluice_consumer_handled_total";
/// Failed handler calls, each attempt. Labels: `topic`, `group`, `class`.
pub const CONSUMER_HANDLER_ERRORS: &str = "sluice_consumer_handler_errors_total";
/// Handler calls that were retries. Labels: `topic`, `group`.
pub const CONSUMER_RETRIES: &str = "sluice_consumer_retries_total";
/// Records written to a DLQ topic. Labels: `topic` (the original), `group`, `class`.
pub const CONSUMER_DEAD_LETTERED: &str = "sluice_consumer_dead_lettered_total";
/// Failed attempts to write a dead letter, each attempt. Labels: `topic`
/// (the original), `group`, `class` (`too_large` when the record was then
/// written as a reference, otherwise librdkafka's error code in snake case).
pub const CONSUMER_DLQ_ERRORS: &str = "sluice_consumer_dlq_errors_total";
/// One handler call. Labels: `topic`, `group`.
pub const CONSUMER_HANDLER_DURATION: &str = "sluice_consumer_handler_duration_seconds";
/// From the record's timestamp to the end of its successful handling.
/// Labels: `topic`, `group`.
pub const CONSUMER_END_TO_END: &str = "sluice_consumer_end_to_end_seconds";
/// Records between the committed position and the end. Labels: `topic`,
/// `partition`, `group`.
pub const CONSUMER_LAG_RECORDS: &str = "sluice_consumer_lag_records";
/// Age of the oldest unfinished record. Labels: `topic`, `partition`, `group`.
pub const CONSUMER_LAG_SECONDS: &str = "sluice_consumer_lag_seconds";
/// Records read and not yet finished (handled or dead-lettered). Labels:
/// `topic`, `partition`, `group`.
pub const CONSUMER_IN_FLIGHT: &str = "sluice_consumer_in_flight_records";
/// Partitions this member owns. Labels: `group`.
pub const CONSUMER_ASSIGNED_PARTITIONS: &str = "sluice_consumer_assigned_partitions";
/// Entries AWS accepted. Labels: `route`, `destination` (`eventbridge`, `sqs`).
pub const BRIDGE_ENTRIES_SENT: &str = "sluice_bridge_entries_sent_total";
/// Entries AWS did not accept, each time. Labels: `route`, `reason`
/// (`throttled`, or the AWS error code).
pub const BRIDGE_ENTRIES_FAILED: &str = "sluice_bridge_entries_failed_total";
/// Batch calls to AWS. Labels: `route`, `outcome` (`ok`, `throttled`,
/// `unavailable`, `rejected`).
pub const BRIDGE_CALLS: &str = "sluice_bridge_calls_total";
/// One batch call to AWS. Labels: `route`.
pub const BRIDGE_CALL_DURATION: &str = "sluice_bridge_call_duration_seconds";
/// Outbox rows waiting to be published (all buckets, as the relay last
/// read them).
pub const OUTBOX_PENDING: &str = "sluice_outbox_pending_rows";
/// Age of the oldest pending outbox row.
pub const OUTBOX_OLDEST_PENDING: &str = "sluice_outbox_oldest_pending_seconds";
/// Outbox rows in the dead-letter state.
pub const OUTBOX_DEAD: &str = "sluice_outbox_dead_rows";
/// Outbox rows published (acknowledged by the broker and marked).
pub const OUTBOX_PUBLISHED: &str = "sluice_outbox_published_total";
/// Outbox rows that failed a round and stay pending. Labels: `class`.
pub const OUTBOX_FAILURES: &str = "sluice_outbox_failures_total";
/// Outbox rows moved to the dead-letter state. Labels: `class`.
pub const OUTBOX_DEAD_LETTERED: &str = "sluice_outbox_dead_lettered_total";
/// From a row's `created_at` to the broker's acknowledgement.
pub const OUTBOX_COMMIT_TO_ACK: &str = "sluice_outbox_commit_to_ack_seconds";
/// Buckets of aggregates this relay publishes.
pub const OUTBOX_BUCKETS_HELD: &str = "sluice_outbox_buckets_held";
/// Events an inbox had seen already (not handled again). Labels: `group`.
pub const INBOX_DUPLICATES: &str = "sluice_inbox_duplicates_total";
/// Webhook ingress answers. Labels: `source`, `status`.
pub const WEBHOOK_REQUESTS: &str = "sluice_webhook_requests_total";
/// From a webhook request's arrival to its answer. Labels: `source`.
pub const WEBHOOK_REQUEST_DURATION: &str = "sluice_webhook_request_seconds";
/// Webhook egress requests. Labels: `endpoint`, `outcome` (`delivered`,
/// `retried`, `refused`).
pub const WEBHOOK_DELIVERIES: &str = "sluice_webhook_deliveries_total";
/// From a record's timestamp to its endpoint's 2xx. Labels: `endpoint`.
pub const WEBHOOK_DELIVERY_DURATION: &str = "sluice_webhook_delivery_seconds";
/// 1 while an endpoint's circuit is open. Labels: `endpoint`.
pub const WEBHOOK_CIRCUIT_OPEN: &str = "sluice_webhook_circuit_open";

/// A gauge not set for this long leaves the Prometheus output: the
/// consumer sets its partitions' gauges every second, so a revoked
/// partition's lag and in-flight gauges disappear instead of staying at
/// their last value.
pub const GAUGE_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Quantiles rendered for every histogram.
pub const QUANTILES: &[f64] = &[0.5, 0.95, 0.99];

/// Installs the Prometheus recorder (once per process; later calls return
/// the same handle) and describes sluice's metrics.
///
/// # Errors
/// When another recorder is installed already.
pub fn prometheus() -> Result<&'static PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_quantiles(QUANTILES)
                .map_err(|e| e.to_string())?
                .idle_timeout(
                    metrics_util::MetricKindMask::GAUGE,
                    Some(GAUGE_IDLE_TIMEOUT),
                )
                .install_recorder()
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Help texts and units, shown in the Prometheus output.
pub fn describe() {
    describe_counter!(PRODUCER_SENT, "Records acknowledged by the broker.");
    describe_counter!(
        PRODUCER_ERRORS,
        "Records that failed to send, by error class."
    );
    describe_histogram!(
        PRODUCER_SEND_DURATION,
        Unit::Seconds,
        "From hand-over to the client to the broker's acknowledgement."
    );
    describe_gauge!(OUTBOX_PENDING, "Outbox rows waiting to be published.");
    describe_gauge!(
        OUTBOX_OLDEST_PENDING,
        Unit::Seconds,
        "Age of the oldest pending outbox row."
    );
    describe_gauge!(OUTBOX_DEAD, "Outbox rows in the dead-letter state.");
    describe_counter!(OUTBOX_PUBLISHED, "Outbox rows published and marked.");
    describe_counter!(
        OUTBOX_FAILURES,
        "Outbox rows that failed a round and stay pending, by error class."
    );
    describe_counter!(
        OUTBOX_DEAD_LETTERED,
        "Outbox rows moved to the dead-letter state, by error class."
    );
    describe_histogram!(
        OUTBOX_COMMIT_TO_ACK,
        Unit::Seconds,
        "From an outbox row's creation to the broker's acknowledgement."
    );
    describe_gauge!(
        OUTBOX_BUCKETS_HELD,
        "Aggregate buckets this relay publishes."
    );
    describe_counter!(
        INBOX_DUPLICATES,
        "Events an inbox had seen already and did not handle again."
    );
    describe_counter!(WEBHOOK_REQUESTS, "Webhook ingress answers, by status.");
    describe_histogram!(
        WEBHOOK_REQUEST_DURATION,
        Unit::Seconds,
        "From a webhook request's arrival to its answer (the broker's ack included)."
    );
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook egress requests, by outcome.");
    describe_histogram!(
        WEBHOOK_DELIVERY_DURATION,
        Unit::Seconds,
        "From a record's timestamp to its endpoint's 2xx."
    );
    describe_gauge!(
        WEBHOOK_CIRCUIT_OPEN,
        "1 while a webhook endpoint's circuit is open."
    );
    describe_counter!(CONSUMER_RECEIVED, "Records read from the cluster.");
    describe_counter!(CONSUMER_HANDLED, "Records whose handler succeeded.");
    describe_counter!(
        CONSUMER_HANDLER_ERRORS,
        "Failed handler calls, by error class."
    );
    describe_counter!(CONSUMER_RETRIES, "Handler calls that were retries.");
    describe_counter!(
        CONSUMER_DEAD_LETTERED,
        "Records written to a DLQ topic, by error class."
    );
    describe_counter!(
        CONSUMER_DLQ_ERRORS,
        "Failed attempts to write a dead letter, by error class."
    );
    describe_histogram!(
        CONSUMER_HANDLER_DURATION,
        Unit::Seconds,
        "One handler call."
    );
    describe_histogram!(
        CONSUMER_END_TO_END,
        Unit::Seconds,
        "From the record's timestamp to the end of its handling."
    );
    describe_gauge!(
        CONSUMER_LAG_RECORDS,
        "Records between the committed position and the end."
    );
    describe_gauge!(
        CONSUMER_LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest unfinished record."
    );
    describe_gauge!(CONSUMER_IN_FLIGHT, "Records read and not yet finished.");
    describe_gauge!(CONSUMER_ASSIGNED_PARTITIONS, "Partitions this member owns.");
    describe_counter!(BRIDGE_ENTRIES_SENT, "Entries AWS accepted.");
    describe_counter!(
        BRIDGE_ENTRIES_FAILED,
        "Entries AWS did not accept, by reason."
    );
    describe_counter!(BRIDGE_CALLS, "Batch calls to AWS, by outcome.");
    describe_histogram!(
        BRIDGE_CALL_DURATION,
        Unit::Seconds,
        "One batch call to AWS."
    );
}
