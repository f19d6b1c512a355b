//! Records encoded elsewhere — framing, headers and key as they are — sent
//! with the same buffer, circuit breaker and delivery reports as typed
//! events: for relays of records encoded when they were written (the
//! transactional outbox).

use std::sync::Arc;

use rdkafka::message::{Header, OwnedHeaders};
use sluice_core::envelope::header::{TRACEPARENT, TRACESTATE};

use super::Producer;
use super::buffer::buffered_size;
use super::delivery::PendingDelivery;
use crate::error::{SendError, SendErrorKind};

/// What the errors and deliveries of encoded records name as their type.
const WHAT: &str = "an encoded record";

/// A record encoded elsewhere, for [`Producer::enqueue_encoded`].
#[derive(Debug, Clone, Copy)]
pub struct EncodedRecord<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    /// The framed value.
    pub value: &'a [u8],
    /// Record headers, in order (the CloudEvents ones among them).
    pub headers: &'a [(String, Vec<u8>)],
    /// The event's id (`ce_id`), reported back in
    /// [`Delivered::event_id`](super::Delivered::event_id).
    pub id: &'a str,
}

impl EncodedRecord<'_> {
    /// The share of the producer's buffer (`max_buffered_bytes`) this
    /// record takes while it waits for its acknowledgement.
    pub fn buffered_size(&self) -> usize {
        let header_bytes = self.headers.iter().fold(0_usize, |sum, (name, value)| {
            sum.saturating_add(name.len() + value.len())
        });
        buffered_size(self.key.len(), self.value.len(), header_bytes)
    }

    /// The last value of header `name`, when it is text.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

impl Producer {
    /// Sends `record` to `record.topic` as it is, and returns without
    /// waiting for the acknowledgement. The `send` span continues the
    /// trace the record's `traceparent` header carries (the span the event
    /// was written in), as a consumer's span would.
    pub async fn enqueue_encoded(
        &self,
        record: EncodedRecord<'_>,
    ) -> Result<PendingDelivery<()>, SendError<()>> {
        let route = self.inner.route_to_topic(record.topic);
        let span = tracing::info_span!(
            "send",
            otel.name = %format_args!("send {}", record.topic),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = %record.topic,
            messaging.message.id = %record.id,
            messaging.kafka.message.key = %record.key,
            messaging.destination.partition.id = tracing::field::Empty,
            messaging.kafka.offset = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        if let Some(traceparent) = record.header(TRACEPARENT) {
            sluice_telemetry::propagation::continue_from(
                &span,
                Some(traceparent),
                record.header(TRACESTATE),
            );
        }
        let fail = |kind: SendErrorKind, message: String| {
            route.error(kind);
            span.record("error.type", kind.class());
            Err(SendError::new(kind, WHAT, message, ()))
        };
        if let Err((kind, message)) = self.admit() {
            return fail(kind, message);
        }
        let limit = self.inner.config.max_record_bytes;
        if record.value.len() > limit {
            return fail(
                SendErrorKind::RecordTooLarge,
                format!(
                    "the value is {} bytes, more than max_record_bytes ({limit})",
                    record.value.len()
                ),
            );
        }
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in record.headers {
            headers = headers.insert(Header {
                key: name.as_str(),
                value: Some(value.as_slice()),
            });
        }
        let size = record.buffered_size();
        match self
            .submit(&route, record.key, record.value, headers, size)
            .await
        {
            Ok(outcome) => Ok(PendingDelivery::new(
                WHAT,
                Arc::clone(&route),
                record.id.to_owned(),
                outcome,
                span,
            )),
            Err((kind, message)) => fail(kind, message),
        }
    }
}
