//! The send path: refuse while shut down, after a fatal error or with the
//! circuit open; encode; wait for room in the send buffer; hand the record
//! to librdkafka. And `send_all`, which keeps each key's order when a send
//! fails.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, Producer as _};
use sluice_core::{EncodeError, Envelope, Event};
use sluice_kafka::OutgoingRecord;
use tokio::sync::oneshot;

use super::Producer;
use super::buffer::record_size;
use super::delivery::{Delivered, InFlight, Outcome, PendingDelivery};
use super::route::Route;
use crate::error::{SendError, SendErrorKind};

impl Producer {
    /// Sends `event` and waits for the broker's acknowledgement.
    pub async fn send<E: Event>(&self, event: E) -> Result<Delivered, SendError<E>> {
        self.enqueue(event).await?.wait().await
    }

    /// Sends `event` with the given envelope (to set correlation, causation or
    /// trace context), and waits for the acknowledgement.
    pub async fn send_with<E: Event>(
        &self,
        event: E,
        envelope: Envelope,
    ) -> Result<Delivered, SendError<E>> {
        self.enqueue_with(event, envelope).await?.wait().await
    }

    /// Hands `event` to the client once there is room in the send buffer —
    /// waiting, not failing, while it is full — and returns without waiting
    /// for the acknowledgement.
    pub async fn enqueue<E: Event>(&self, event: E) -> Result<PendingDelivery<E>, SendError<E>> {
        let envelope = Envelope::new::<E>(self.inner.config.source.clone());
        self.enqueue_with(event, envelope).await
    }

    /// [`enqueue`](Self::enqueue) with the given envelope.
    ///
    /// Opens a `send` span (OpenTelemetry messaging attributes) that lasts
    /// until the acknowledgement is read; when the envelope carries no trace
    /// context, the span's goes into the record's `traceparent` header.
    pub async fn enqueue_with<E: Event>(
        &self,
        event: E,
        envelope: Envelope,
    ) -> Result<PendingDelivery<E>, SendError<E>> {
        match self.hand_over(&event, envelope).await {
            Ok(pending) => Ok(pending.with_event(event)),
            Err((kind, message)) => Err(SendError::new(kind, E::EVENT_TYPE, message, event)),
        }
    }

    /// [`enqueue`](Self::enqueue) without taking the event: nothing is kept
    /// until the acknowledgement, so the delivery and its error carry `()`
    /// where the owning calls hand the event back. For callers that keep
    /// their events anyway, or can rebuild them.
    pub async fn enqueue_ref<E: Event>(
        &self,
        event: &E,
    ) -> Result<PendingDelivery<()>, SendError<()>> {
        let envelope = Envelope::new::<E>(self.inner.config.source.clone());
        self.hand_over(event, envelope)
            .await
            .map_err(|(kind, message)| SendError::new(kind, E::EVENT_TYPE, message, ()))
    }

    /// Encodes `event`, waits for room in the send buffer and hands the
    /// record to librdkafka.
    async fn hand_over<E: Event>(
        &self,
        event: &E,
        mut envelope: Envelope,
    ) -> Result<PendingDelivery<()>, (SendErrorKind, String)> {
        let route = self.inner.route(E::EVENT_TYPE);
        let topic = route.topic.as_str();
        let span = tracing::info_span!(
            "send",
            otel.name = %format_args!("send {topic}"),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = %topic,
            messaging.message.id = %envelope.id,
            messaging.kafka.message.key = tracing::field::Empty,
            messaging.destination.partition.id = tracing::field::Empty,
            messaging.kafka.offset = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        if envelope.trace.is_none() {
            envelope.trace = sluice_telemetry::propagation::of(&span);
        }
        let fail = |kind: SendErrorKind, message: String| {
            route.error(kind);
            span.record("error.type", kind.class());
            Err((kind, message))
        };
        if let Err((kind, message)) = self.admit() {
            return fail(kind, message);
        }
        let record = match OutgoingRecord::new(&self.inner.encoder, event, envelope) {
            Ok(record) => record,
            Err(e @ EncodeError::Oversize { .. }) => {
                return fail(SendErrorKind::RecordTooLarge, e.to_string());
            }
            Err(e) => return fail(SendErrorKind::Encode, e.to_string()),
        };
        span.record("messaging.kafka.message.key", record.key.as_str());
        let size = record_size(&record);
        let outcome = match self
            .submit(&route, &record.key, &record.value, record.headers, size)
            .await
        {
            Ok(outcome) => outcome,
            Err((kind, message)) => return fail(kind, message),
        };
        Ok(PendingDelivery::new(
            E::EVENT_TYPE,
            Arc::clone(&route),
            record.envelope.id,
            outcome,
            span,
        ))
    }

    /// Whether a send may be attempted now: the producer is open, not
    /// fatally failed, and the circuit lets it through.
    pub(super) fn admit(&self) -> Result<(), (SendErrorKind, String)> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err((SendErrorKind::Closed, "the producer is shut down".into()));
        }
        // librdkafka's error callback reports a fatal error under its
        // underlying code (an out-of-order sequence, say), not as fatal:
        // the client's own state is what says so. Without one this is an
        // atomic read.
        if let Some((code, reason)) = self.inner.client.client().fatal_error() {
            return Err((
                SendErrorKind::Fatal,
                format!(
                    "the producer hit a fatal error and cannot send again ({code:?}: {reason})"
                ),
            ));
        }
        if !self.inner.circuit.admit() {
            return Err((
                SendErrorKind::Unavailable,
                "the cluster is unreachable (circuit open); retry later".into(),
            ));
        }
        Ok(())
    }

    /// Waits for `size` bytes of the send buffer and hands the record to
    /// librdkafka; the receiver reports its delivery.
    pub(super) async fn submit(
        &self,
        route: &Arc<Route>,
        key: &str,
        value: &[u8],
        headers: OwnedHeaders,
        size: usize,
    ) -> Result<oneshot::Receiver<Outcome>, (SendErrorKind, String)> {
        let Some(share) = self.inner.buffer.reserve(size).await else {
            return Err((SendErrorKind::Closed, "the producer is shut down".into()));
        };
        let (in_flight, outcome) = InFlight::new(share, Arc::clone(route));
        let base = BaseRecord::with_opaque_to(&route.topic, in_flight)
            .key(key)
            .payload(value)
            .headers(headers);
        // On failure the record, and with it the buffer share, is dropped here.
        if let Err((error, _)) = self.inner.client.send(base) {
            return Err((SendErrorKind::of(&error), error.to_string()));
        }
        Ok(outcome)
    }

    /// Sends every event, keeping their order per key, and returns each
    /// result in the order given.
    ///
    /// Once an event fails to be handed over (the circuit is open, the
    /// buffer is closed, it does not encode), the later events of its key
    /// are not sent: they fail with [`SendErrorKind::KeyBlocked`], so that a
    /// probe let through a half-open circuit never delivers a key's later
    /// event ahead of an earlier one the caller will retry.
    pub async fn send_all<E: Event>(
        &self,
        events: impl IntoIterator<Item = E>,
    ) -> Vec<Result<Delivered, SendError<E>>> {
        let mut pending = Vec::new();
        let mut failed_keys: HashSet<String> = Default::default();
        for event in events {
            if !failed_keys.is_empty() && failed_keys.contains(event.partition_key()) {
                pending.push(Err(SendError::new(
                    SendErrorKind::KeyBlocked,
                    E::EVENT_TYPE,
                    "an earlier event with this key was not sent; this one waits for it".into(),
                    event,
                )));
                continue;
            }
            let handed = self.enqueue(event).await;
            if let Err(error) = &handed {
                failed_keys.insert(error.event().partition_key().to_owned());
            }
            pending.push(handed);
        }
        let mut results = Vec::with_capacity(pending.len());
        for p in pending {
            results.push(match p {
                Ok(p) => p.wait().await,
                Err(e) => Err(e),
            });
        }
        results
    }
}
