//! Codecs: the body of a record, after the 5-byte Schema Registry header.
//!
//! [`Codec`] is the one interface; [`ProtobufCodec`] and [`AvroCodec`] are its
//! implementations. Generated event types pick theirs through
//! [`Event::Codec`](crate::Event::Codec).

use std::marker::PhantomData;

use crate::error::{DecodeError, EncodeError};
use crate::event::{Event, Format};
use crate::registry::{Parsed, RegisteredSchema};
use crate::wire;

/// Encodes and decodes the body of a framed record for events of type `E`.
pub trait Codec<E>: Send + Sync + 'static {
    const FORMAT: Format;

    /// Appends the body of `event` to `out`.
    fn encode(event: &E, out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Decodes a body that was written with the `writer` schema, which may be
    /// an older version of `E`'s schema.
    fn decode(body: &[u8], writer: &RegisteredSchema) -> Result<E, DecodeError>;
}

/// What the Protobuf codec needs to know about a generated message.
pub trait ProtobufMessage: prost::Message + Default {
    /// The path from the top-level messages of the `.proto` file to this
    /// message, as written in the Confluent frame.
    const MESSAGE_INDEXES: &'static [i32];
}

/// What the Avro codec needs to know about a generated record.
pub trait AvroRecord: serde::Serialize + serde::de::DeserializeOwned {
    /// The schema the type was generated from (the reader's schema).
    fn avro_schema() -> &'static apache_avro::Schema;
}

/// Protobuf bodies: Confluent message indexes, then the message.
#[derive(Debug)]
pub struct ProtobufCodec<E>(PhantomData<fn() -> E>);

impl<E: Event + ProtobufMessage> Codec<E> for ProtobufCodec<E> {
    const FORMAT: Format = Format::Protobuf;

    fn encode(event: &E, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        wire::write_message_indexes(E::MESSAGE_INDEXES, out);
        // `encode` would compute the length a second time to check capacity;
        // a Vec grows as needed, so reserve once and write.
        out.reserve(event.encoded_len());
        event.encode_raw(out);
        Ok(())
    }

    fn decode(body: &[u8], _writer: &RegisteredSchema) -> Result<E, DecodeError> {
        let (indexes, message) = wire::read_message_indexes(body)?;
        if indexes.as_slice() != E::MESSAGE_INDEXES {
            return Err(DecodeError::TypeMismatch {
                expected: format!("{} (message indexes {:?})", E::SUBJECT, E::MESSAGE_INDEXES),
                found: format!("message indexes {indexes:?}"),
            });
        }
        E::decode(message).map_err(|e| DecodeError::Malformed {
            format: Format::Protobuf,
            subject: E::SUBJECT.into(),
            len: body.len(),
            reason: e.to_string(),
        })
    }
}

/// Avro bodies: a single binary datum, no container header.
///
/// Encoding serializes straight from the Rust value with the schema; decoding
/// reads with the writer's schema and resolves to the reader's, so records of
/// older, compatible versions decode into the current type.
#[derive(Debug)]
pub struct AvroCodec<E>(PhantomData<fn() -> E>);

impl<E: Event + AvroRecord> Codec<E> for AvroCodec<E> {
    const FORMAT: Format = Format::Avro;

    fn encode(event: &E, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        apache_avro::write_avro_datum_ref(E::avro_schema(), event, out)
            .map(drop)
            .map_err(|e| EncodeError::Codec {
                format: Format::Avro,
                subject: E::SUBJECT,
                reason: e.to_string(),
            })
    }

    fn decode(body: &[u8], writer: &RegisteredSchema) -> Result<E, DecodeError> {
        let malformed = |reason: String| DecodeError::Malformed {
            format: Format::Avro,
            subject: E::SUBJECT.into(),
            len: body.len(),
            reason,
        };
        let reader_schema = E::avro_schema();
        let writer_schema = match writer.parsed() {
            Parsed::Avro(schema) if writer.id != E::SCHEMA_ID => schema,
            _ => reader_schema,
        };
        crate::avro_guard::check(writer_schema, body).map_err(malformed)?;
        let mut input = body;
        let value = apache_avro::from_avro_datum(
            writer_schema,
            &mut input,
            (!std::ptr::eq(writer_schema, reader_schema)).then_some(reader_schema),
        )
        .map_err(|e| malformed(e.to_string()))?;
        if !input.is_empty() {
            return Err(malformed(format!(
                "{} trailing bytes after the datum",
                input.len()
            )));
        }
        apache_avro::from_value(&value).map_err(|e| malformed(e.to_string()))
    }
}
