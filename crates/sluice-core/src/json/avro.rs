//! Avro datums as plain JSON, and JSON back into datums.

use serde_json::Value;

use super::{MAX_DEPTH, base64, float};

/// Renders one binary datum of `schema` as JSON.
pub(super) fn render(schema: &apache_avro::Schema, body: &[u8]) -> Result<Value, String> {
    crate::avro_guard::check(schema, body)?;
    let mut reader = body;
    let datum =
        apache_avro::from_avro_datum(schema, &mut reader, None).map_err(|e| e.to_string())?;
    if !reader.is_empty() {
        return Err(format!("{} bytes left after the datum", reader.len()));
    }
    avro_to_json(datum, 0)
}

/// Appends `json`, resolved against `schema`, as one binary datum.
pub(super) fn encode(
    schema: &apache_avro::Schema,
    json: &Value,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let value = apache_avro::types::Value::from(json.clone())
        .resolve(schema)
        .map_err(|e| e.to_string())?;
    let body = apache_avro::to_avro_datum(schema, value).map_err(|e| e.to_string())?;
    out.extend_from_slice(&body);
    Ok(())
}

fn avro_to_json(value: apache_avro::types::Value, depth: usize) -> Result<Value, String> {
    use apache_avro::types::Value as Avro;
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(match value {
        Avro::Bytes(bytes) | Avro::Fixed(_, bytes) => Value::String(base64(&bytes)),
        Avro::Float(f) => float(f64::from(f)),
        Avro::Double(d) => float(d),
        Avro::Union(_, inner) => avro_to_json(*inner, depth + 1)?,
        Avro::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| avro_to_json(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Avro::Map(items) => Value::Object(
            items
                .into_iter()
                .map(|(k, v)| Ok((k, avro_to_json(v, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        Avro::Record(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| Ok((k, avro_to_json(v, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => Value::try_from(other).map_err(|e| e.to_string())?,
    })
}
