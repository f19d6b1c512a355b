//! Record values rendered as JSON, driven by the registered schema of each
//! record — no generated type needed, so a bridge or a CLI can show any
//! registered event.
//!
//! - **Protobuf** follows the proto3 JSON mapping: lowerCamelCase field
//!   names, 64-bit integers as strings, bytes as standard base64, enums by
//!   name (by number when the value is not in the schema), maps as objects,
//!   `NaN`/`Infinity` as strings. Only what is on the wire appears: proto3
//!   does not write fields holding their default value. Unknown fields are
//!   skipped, as a proto3 reader would.
//! - **Avro** renders a datum as plain JSON: records and maps as objects,
//!   unions as the value of the branch (not Avro's `{"type": value}`
//!   wrapping), enums by symbol, bytes and fixed as standard base64.
//!
//! # Layout
//!
//! - `protobuf`: Protobuf messages to JSON and back, walking the
//!   registered [`ProtoModel`](crate::protobuf_schema::ProtoModel).
//! - `protobuf_wire`: reading Protobuf's wire format (varints,
//!   fixed-width values, length-delimited fields).
//! - `avro`: Avro datums to JSON and back.

mod avro;
mod protobuf;
mod protobuf_wire;

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Number, Value};

use crate::error::DecodeError;
use crate::registry::{Parsed, RegisteredSchema};
use crate::wire;

/// Nesting deeper than this is refused rather than followed.
const MAX_DEPTH: usize = 64;

/// Renders a record value (framed: magic byte, schema id, body) as JSON.
pub(crate) fn render(schema: &RegisteredSchema, body: &[u8]) -> Result<Value, DecodeError> {
    let malformed = |reason: String| DecodeError::Malformed {
        format: schema.format(),
        subject: Cow::Owned(schema.subject.clone()),
        len: body.len(),
        reason,
    };
    match schema.parsed() {
        Parsed::Protobuf(model) => {
            // The model is of the schema's registered message: a frame whose
            // indexes name another message of the file is refused, not
            // rendered as the wrong one.
            let (indexes, message) = wire::read_message_indexes(body)?;
            let registered = schema.message_indexes.as_deref().unwrap_or(&[0]);
            if indexes.as_slice() != registered {
                return Err(DecodeError::TypeMismatch {
                    expected: format!("{} (message indexes {registered:?})", schema.subject),
                    found: format!("message indexes {indexes:?}"),
                });
            }
            model.render(message).map_err(malformed)
        }
        Parsed::Avro(avro) => avro::render(avro, body).map_err(malformed),
    }
}

/// Encodes `json` as a record value of `schema` (framed: magic byte,
/// schema id, message indexes for Protobuf, body): the inverse of
/// [`render`]. Protobuf accepts JSON names and proto field names, and, as
/// proto3 does, writes no singular field that holds its default value.
pub(crate) fn encode(schema: &RegisteredSchema, json: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(256);
    wire::write_header(schema.id, &mut out);
    match schema.parsed() {
        Parsed::Protobuf(model) => {
            let indexes = schema.message_indexes.as_deref().unwrap_or(&[0]);
            wire::write_message_indexes(indexes, &mut out);
            model.encode(json, &mut out)?;
        }
        Parsed::Avro(avro) => avro::encode(avro, json, &mut out)?,
    }
    Ok(out)
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".to_owned()),
        None if f > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Format;

    /// A message with a `float` (1) and a `string` (2).
    fn schema() -> RegisteredSchema {
        let text = r#"{"syntax": "proto3", "root": ".t.M", "messages": [{"name": ".t.M",
            "fields": [{"number": 1, "name": "ratio", "label": "optional", "type": "float"},
                       {"number": 2, "name": "name", "label": "optional", "type": "string"}]}]}"#;
        RegisteredSchema::new(1, "t.M", 1, Format::Protobuf, text).unwrap()
    }

    #[test]
    fn a_float_beyond_f32_is_refused_and_infinity_is_kept() {
        let schema = schema();
        let error = encode(&schema, &json!({"ratio": 1e39})).unwrap_err();
        assert!(error.contains("out of range"), "{error}");
        let value = encode(&schema, &json!({"ratio": "Infinity"})).unwrap();
        assert_eq!(
            render(&schema, &value[5..]).unwrap(),
            json!({"ratio": "Infinity"})
        );
        let value = encode(&schema, &json!({"ratio": 0.5})).unwrap();
        assert_eq!(render(&schema, &value[5..]).unwrap(), json!({"ratio": 0.5}));
    }

    #[test]
    fn field_numbers_outside_protobufs_range_are_malformed() {
        let schema = schema();
        // Message index [0] (one zero byte), then a key.
        let with_key = |key: &[u8]| [&[0u8][..], key, &[0]].concat();
        // Field 0, varint.
        assert!(render(&schema, &with_key(&[0x00])).is_err());
        // Field 2^29 (key 2^32, just over u32): not a field number.
        assert!(render(&schema, &with_key(&[0x80, 0x80, 0x80, 0x80, 0x10])).is_err());
        // Field 2^29 − 1, varint: unknown, skipped.
        let rendered = render(&schema, &with_key(&[0xf8, 0xff, 0xff, 0xff, 0x0f])).unwrap();
        assert_eq!(rendered, json!({}));
    }
}
