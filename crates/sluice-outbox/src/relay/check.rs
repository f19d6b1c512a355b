//! Rows that can never be published are found before they are sent: an
//! unknown event type, a payload the registry cannot decode, headers that
//! are not an object of strings.

use sluice_core::{Decoder, SchemaRegistry, wire};

use crate::relay::settle::Failure;

/// Record headers from the `headers` column: a JSON object whose values
/// are strings (the envelope's headers are all UTF-8).
pub(crate) fn headers(value: &serde_json::Value) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let invalid = |why: &str| Failure::new("invalid_headers", format!("the headers column {why}"));
    let object = value
        .as_object()
        .ok_or_else(|| invalid("is not a JSON object"))?;
    object
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(text) => Ok((name.clone(), text.as_bytes().to_vec())),
            None => Err(invalid(&format!(
                "has a value for {name:?} that is not a string"
            ))),
        })
        .collect()
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
        assert_eq!(headers(&ok).map(|h| h.len()), Ok(2));
        for bad in [serde_json::json!([1]), serde_json::json!({"ce_id": 1})] {
            assert_eq!(
                headers(&bad).map_err(|f| f.class),
                Err("invalid_headers".to_owned())
            );
        }
    }
}
