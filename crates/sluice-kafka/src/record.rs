//! Typed events as rdkafka records, and back.

use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use sluice_core::{DecodeError, Decoder, EncodeError, Encoder, Envelope, EnvelopeError, Event};

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

    /// A record for rdkafka's producers, borrowing this one.
    pub fn to_future_record<'a>(&'a self, topic: &'a str) -> FutureRecord<'a, str, [u8]> {
        FutureRecord::to(topic)
            .key(self.key.as_str())
            .payload(self.value.as_slice())
            .headers(self.headers.clone())
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

/// Why a consumed message could not be turned into a typed event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error("record has no value (tombstone)")]
    NoPayload,
    #[error("invalid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl RecordError {
    /// The error class used in DLQ headers and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            RecordError::NoPayload => "empty_payload",
            RecordError::Envelope(_) => "invalid_envelope",
            RecordError::Decode(e) => e.class(),
        }
    }
}

/// The envelope carried in a message's headers.
/// Headers whose name is not UTF-8 are not CloudEvents attributes and are
/// passed over.
pub fn envelope_of<M>(message: &M) -> Result<Envelope, EnvelopeError>
where
    M: Message,
    M::Headers: crate::headers::AsRawHeaders,
{
    Envelope::from_headers(
        crate::headers::of_message(message).filter_map(|h| Some((h.name_str()?, h.value))),
    )
}

/// Decodes a consumed message into a typed event and its envelope.
pub fn decode_message<E: Event, M>(
    decoder: &Decoder<'_>,
    message: &M,
) -> Result<(E, Envelope), RecordError>
where
    M: Message,
    M::Headers: crate::headers::AsRawHeaders,
{
    let envelope = envelope_of(message)?;
    let value = message.payload().ok_or(RecordError::NoPayload)?;
    let event = decoder.decode_typed(Some(&envelope.event_type), value)?;
    Ok((event, envelope))
}
