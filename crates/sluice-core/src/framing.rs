//! [`Encoder`] and [`Decoder`]: typed events to framed record values
//! and back.

use crate::codec::Codec;
use crate::error::{DecodeError, EncodeError};
use crate::event::Event;
use crate::registry::{RegisteredSchema, SchemaRegistry};
use crate::wire;

/// The default cap on a record value: Kafka's default `message.max.bytes`
/// (1 MiB plus record-batch overhead), rounded down to 1 MiB of value.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Encodes typed events into Schema Registry framed record values.
#[derive(Debug, Clone, Copy)]
pub struct Encoder {
    max_record_bytes: usize,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Values larger than this are refused with [`EncodeError::Oversize`]
    /// before they reach the broker.
    pub fn with_max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// Appends the framed value of `event` to `out`.
    pub fn encode_into<E: Event>(&self, event: &E, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        wire::write_header(E::SCHEMA_ID, out);
        let encoded = E::Codec::encode(event, out).and_then(|()| {
            let size = out.len() - start;
            if size > self.max_record_bytes {
                Err(EncodeError::Oversize {
                    subject: E::SUBJECT,
                    size,
                    limit: self.max_record_bytes,
                })
            } else {
                Ok(())
            }
        });
        if encoded.is_err() {
            out.truncate(start);
        }
        encoded
    }

    /// Encodes an event given as JSON (the form [`Decoder::to_json`]
    /// renders) with a registered schema: for tools that have no generated
    /// type, such as the CLI.
    pub fn encode_json(
        &self,
        schema: &crate::RegisteredSchema,
        json: &serde_json::Value,
    ) -> Result<Vec<u8>, EncodeError> {
        let value =
            crate::json::encode(schema, json).map_err(|reason| EncodeError::InvalidJson {
                subject: schema.subject.clone(),
                reason,
            })?;
        if value.len() > self.max_record_bytes {
            return Err(EncodeError::Oversize {
                subject: "record",
                size: value.len(),
                limit: self.max_record_bytes,
            });
        }
        Ok(value)
    }

    pub fn encode<E: Event>(&self, event: &E) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(event, &mut out)?;
        Ok(out)
    }
}

/// Decodes framed record values into typed events, looking schema ids up in
/// a registry.
#[derive(Debug, Clone, Copy)]
pub struct Decoder<'r> {
    registry: &'r SchemaRegistry,
    max_record_bytes: usize,
}

impl<'r> Decoder<'r> {
    pub fn new(registry: &'r SchemaRegistry) -> Self {
        Self {
            registry,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// Values larger than this are refused with [`DecodeError::Oversize`]
    /// without being parsed.
    pub fn with_max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    pub fn registry(&self) -> &'r SchemaRegistry {
        self.registry
    }

    /// Decodes `value` as an `E`.
    pub fn decode<E: Event>(&self, value: &[u8]) -> Result<E, DecodeError> {
        let (schema, body) = self.schema_of(value)?;
        if schema.subject != E::SUBJECT || schema.format() != E::Codec::FORMAT {
            return Err(DecodeError::TypeMismatch {
                expected: format!("{} ({})", E::SUBJECT, E::Codec::FORMAT),
                found: format!(
                    "{} ({}) version {}, schema id {}",
                    schema.subject,
                    schema.format(),
                    schema.version,
                    schema.id
                ),
            });
        }
        E::Codec::decode(body, schema)
    }

    /// The registered schema a framed value names, and its body; checks the
    /// size limit first.
    fn schema_of<'v>(
        &self,
        value: &'v [u8],
    ) -> Result<(&'r RegisteredSchema, &'v [u8]), DecodeError> {
        if value.len() > self.max_record_bytes {
            return Err(DecodeError::Oversize {
                size: value.len(),
                limit: self.max_record_bytes,
            });
        }
        let frame = wire::read_header(value)?;
        let schema = self
            .registry
            .get(frame.schema_id)
            .ok_or(DecodeError::UnknownSchemaId {
                id: frame.schema_id,
            })?;
        Ok((schema, frame.body))
    }

    /// Renders `value`, whatever registered type it holds, as JSON, driven
    /// by its registered schema (no generated type needed):
    ///
    /// - **Protobuf** follows the proto3 JSON mapping: lowerCamelCase field
    ///   names, 64-bit integers as strings, bytes as standard base64, enums
    ///   by name (by number when the value is not in the schema), maps as
    ///   objects, `NaN`/`Infinity` as strings. Only what is on the wire
    ///   appears; unknown fields are skipped, as a proto3 reader would.
    /// - **Avro** renders a datum as plain JSON: records and maps as
    ///   objects, unions as the value of the branch (not Avro's
    ///   `{"type": value}` wrapping), enums by symbol, bytes and fixed as
    ///   standard base64.
    pub fn to_json(&self, value: &[u8]) -> Result<serde_json::Value, DecodeError> {
        let (schema, body) = self.schema_of(value)?;
        crate::json::render(schema, body)
    }

    /// Decodes `value` as an `E`, first checking that the record's `ce_type`
    /// header, when it has one, names `E`.
    pub fn decode_typed<E: Event>(
        &self,
        ce_type: Option<&str>,
        value: &[u8],
    ) -> Result<E, DecodeError> {
        match ce_type {
            Some(found) if found != E::EVENT_TYPE => Err(DecodeError::TypeMismatch {
                expected: E::EVENT_TYPE.to_owned(),
                found: format!("ce_type {found:?}"),
            }),
            _ => self.decode(value),
        }
    }
}
