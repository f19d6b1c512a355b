//! Typed events as rdkafka records.

use rdkafka::message::OwnedHeaders;
use sluice_core::{EncodeError, Encoder, Envelope, Event};

/// A typed event encoded for Kafka: key, framed value and envelope headers.
#[derive(Debug)]
pub struct OutgoingRecord {
    pub key: String,
    pub value: Vec<u8>,
    pub headers: OwnedHeaders,
    /// Bytes of the header names and values, counted as they were written.
    pub header_bytes: usize,
    pub envelope: Envelope,
}

impl OutgoingRecord {
    /// Encodes `event` with `encoder` and attaches `envelope` as headers.
    pub fn new<E: Event>(
        encoder: &Encoder,
        event: &E,
        envelope: Envelope,
    ) -> Result<Self, EncodeError> {
        let (headers, header_bytes) = headers_and_size(&envelope);
        Ok(Self {
            key: event.partition_key().to_owned(),
            value: encoder.encode(event)?,
            headers,
            header_bytes,
            envelope,
        })
    }
}

/// The envelope as Kafka record headers (CloudEvents Kafka binding).
pub fn envelope_headers(envelope: &Envelope) -> OwnedHeaders {
    headers_and_size(envelope).0
}

/// The envelope's headers and the bytes of their names and values.
fn headers_and_size(envelope: &Envelope) -> (OwnedHeaders, usize) {
    let mut headers = OwnedHeaders::new_with_capacity(10);
    let mut size = 0;
    envelope.write_headers(|key, value| {
        size += key.len() + value.len();
        // `insert` consumes the headers and hands them back.
        headers = std::mem::take(&mut headers).insert(rdkafka::message::Header {
            key,
            value: Some(value),
        });
    });
    (headers, size)
}
