//! Rows that can never be published are found before they are sent: an
//! unknown event type, a payload the registry cannot decode, headers that
//! are not an object of strings.

use sluice_core::envelope::header;
use sluice_core::{Decoder, SchemaRegistry, wire};

use crate::relay::settle::Failure;

/// Record headers from the `headers` column: a JSON object whose values
/// are strings (the envelope's headers are all UTF-8). A row written the
/// Debezium way, without headers, still gets `ce_id` and `ce_type` from
/// its `id` and `type` columns, so consumers can deduplicate it.
pub(crate) fn headers(
    value: &serde_json::Value,
    id: &str,
    event_type: &str,
) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let invalid = |why: &str| Failure::new("invalid_headers", format!("the headers column {why}"));
    let object = value
        .as_object()
        .ok_or_else(|| invalid("is not a JSON object"))?;
    let mut headers = object
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(text) => Ok((name.clone(), text.as_bytes().to_vec())),
            None => Err(invalid(&format!(
                "has a value for {name:?} that is not a string"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (name, column) in [(header::ID, id), (header::TYPE, event_type)] {
        if !object.contains_key(name) {
            headers.push((name.to_owned(), column.as_bytes().to_vec()));
        }
    }
    Ok(headers)
}

/// That the registry knows `event_type` and that `payload` decodes as a
/// registered schema of that type.
pub(crate) fn payload(
    registry: &SchemaRegistry,
    event_type: &str,
    payload: &[u8],
) -> Result<(), Failure> {
    if !registry
        .iter()
        .any(|s| s.event_type.as_deref() == Some(event_type))
    {
        return Err(Failure::new(
            "unknown_event_type",
            format!("no schema in the registry has the event type {event_type:?}"),
        ));
    }
    let decoder = Decoder::new(registry).with_max_record_bytes(usize::MAX);
    decoder
        .to_json(payload)
        .map_err(|e| Failure::new(e.class(), format!("the payload does not decode: {e}")))?;
    // `to_json` succeeded, so the frame and its schema id are valid.
    let schema_type = wire::read_header(payload)
        .ok()
        .and_then(|frame| registry.get(frame.schema_id))
        .and_then(|schema| schema.event_type.as_deref());
    match schema_type {
        Some(found) if found != event_type => Err(Failure::new(
            "type_mismatch",
            format!("the payload is a {found:?}, the row says {event_type:?}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_must_be_an_object_of_strings() {
        let ok = serde_json::json!({"ce_id": "1", "ce_type": "t.v1"});
        assert_eq!(headers(&ok, "1", "t.v1").map(|h| h.len()), Ok(2));
        for bad in [serde_json::json!([1]), serde_json::json!({"ce_id": 1})] {
            assert_eq!(
                headers(&bad, "1", "t.v1").map_err(|f| f.class),
                Err("invalid_headers".to_owned())
            );
        }
    }

    #[test]
    fn a_row_without_headers_gets_its_id_and_type_as_headers() {
        let written = headers(&serde_json::json!({}), "e-1", "t.v1").unwrap();
        assert_eq!(
            written,
            [
                ("ce_id".to_owned(), b"e-1".to_vec()),
                ("ce_type".to_owned(), b"t.v1".to_vec())
            ]
        );
        let own = headers(&serde_json::json!({"ce_id": "x"}), "e-1", "t.v1").unwrap();
        assert_eq!(own[0], ("ce_id".to_owned(), b"x".to_vec()));
        assert_eq!(own.len(), 2);
    }
}
