//! Typed events through rdkafka's own clients, for tests that send or read
//! records around sluice's producer and consumer rather than through them.

use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use sluice_core::{DecodeError, Decoder, Envelope, EnvelopeError, Event};
use sluice_kafka::OutgoingRecord;
use sluice_kafka::headers::{self, AsRawHeaders};

/// Why a consumed message is not the typed event a test expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("record has no value (tombstone)")]
    NoPayload,
    #[error("invalid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl MessageError {
    /// The class the runtime would give the same failure.
    pub fn class(&self) -> &'static str {
        match self {
            MessageError::NoPayload => "empty_payload",
            MessageError::Envelope(_) => "invalid_envelope",
            MessageError::Decode(e) => e.class(),
        }
    }
}

/// Decodes a consumed message into a typed event and the envelope of its
/// headers (names that are not UTF-8 are not CloudEvents attributes and are
/// passed over).
pub fn decode_message<E: Event, M>(
    decoder: &Decoder<'_>,
    message: &M,
) -> Result<(E, Envelope), MessageError>
where
    M: Message,
    M::Headers: AsRawHeaders,
{
    let envelope = Envelope::from_headers(
        headers::of_message(message).filter_map(|h| Some((h.name_str()?, h.value))),
    )?;
    let value = message.payload().ok_or(MessageError::NoPayload)?;
    let event = decoder.decode_typed(Some(&envelope.event_type), value)?;
    Ok((event, envelope))
}

/// `record` as a record for rdkafka's own producers.
pub fn future_record<'a>(
    record: &'a OutgoingRecord,
    topic: &'a str,
) -> FutureRecord<'a, str, [u8]> {
    FutureRecord::to(topic)
        .key(record.key.as_str())
        .payload(record.value.as_slice())
        .headers(record.headers.clone())
}
