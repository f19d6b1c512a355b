//! Protobuf messages as proto3 JSON, and JSON back into messages, walking
//! the registered schema's [`ProtoModel`].

use base64::Engine as _;
use prost::encoding::encode_varint as write_varint;
use serde_json::{Map, Value};

use super::protobuf_wire::{fixed, length_delimited, skip, varint};
use super::{MAX_DEPTH, base64, float};
use crate::protobuf_schema::{FieldModel, MessageModel, ProtoKind, ProtoModel};
use crate::varint::{zigzag_decode, zigzag_encode};

/// The wire type a single value of `kind` is written with.
fn wire_type_of(kind: ProtoKind) -> u8 {
    match kind {
        ProtoKind::Double | ProtoKind::Fixed64 | ProtoKind::Sfixed64 => 1,
        ProtoKind::Float | ProtoKind::Fixed32 | ProtoKind::Sfixed32 => 5,
        ProtoKind::String | ProtoKind::Bytes | ProtoKind::Message | ProtoKind::Group => 2,
        _ => 0,
    }
}

impl ProtoModel {
    /// The message `name`, reached at nesting `depth`.
    fn model(&self, name: &str, depth: usize) -> Result<&MessageModel, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.message_model(name)
            .ok_or_else(|| format!("message {name} is not described"))
    }

    pub(super) fn render(&self, bytes: &[u8]) -> Result<Value, String> {
        self.message(&self.root, bytes, 0).map(Value::Object)
    }

    fn message(
        &self,
        name: &str,
        mut input: &[u8],
        depth: usize,
    ) -> Result<Map<String, Value>, String> {
        let model = self.model(name, depth)?;
        let mut out = Map::new();
        while !input.is_empty() {
            let key = varint(&mut input)?;
            let number = field_number(key)?;
            let wire_type = (key & 7) as u8;
            let Some(field) = model.fields.get(&number) else {
                skip(&mut input, wire_type)?;
                continue;
            };
            let at = |e: String| format!("field {} ({number}): {e}", field.json_name);
            let packable = wire_type_of(field.kind) != 2;
            if field.repeated && packable && wire_type == 2 {
                let mut packed = length_delimited(&mut input).map_err(at)?;
                let list = out
                    .entry(field.json_name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                while !packed.is_empty() {
                    let value = self
                        .scalar(field, wire_type_of(field.kind), &mut packed, depth)
                        .map_err(at)?;
                    if let Value::Array(list) = list {
                        list.push(value);
                    }
                }
                continue;
            }
            if wire_type != wire_type_of(field.kind) {
                return Err(at(format!(
                    "wire type {wire_type}, expected {}",
                    wire_type_of(field.kind)
                )));
            }
            let value = self
                .scalar(field, wire_type, &mut input, depth)
                .map_err(at)?;
            if self.map_entry(field).is_some() {
                let Value::Object(mut entry) = value else {
                    return Err(format!(
                        "field {}: a map entry that is not a message",
                        field.json_name
                    ));
                };
                let key = match entry.remove("key") {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let value = entry.remove("value").unwrap_or(Value::Null);
                if let Value::Object(map) = out
                    .entry(field.json_name.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    map.insert(key, value);
                }
            } else if field.repeated {
                if let Value::Array(list) = out
                    .entry(field.json_name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.push(value);
                }
            } else {
                out.insert(field.json_name.clone(), value);
            }
        }
        Ok(out)
    }

    fn scalar(
        &self,
        field: &FieldModel,
        wire_type: u8,
        input: &mut &[u8],
        depth: usize,
    ) -> Result<Value, String> {
        debug_assert_eq!(wire_type, wire_type_of(field.kind));
        Ok(match field.kind {
            ProtoKind::Double => float(f64::from_le_bytes(fixed::<8>(input)?)),
            ProtoKind::Float => float(f64::from(f32::from_le_bytes(fixed::<4>(input)?))),
            ProtoKind::Fixed64 => Value::String(u64::from_le_bytes(fixed::<8>(input)?).to_string()),
            ProtoKind::Sfixed64 => {
                Value::String(i64::from_le_bytes(fixed::<8>(input)?).to_string())
            }
            ProtoKind::Fixed32 => Value::from(u32::from_le_bytes(fixed::<4>(input)?)),
            ProtoKind::Sfixed32 => Value::from(i32::from_le_bytes(fixed::<4>(input)?)),
            ProtoKind::Int32 => Value::from(varint(input)? as i32),
            ProtoKind::Int64 => Value::String((varint(input)? as i64).to_string()),
            ProtoKind::Uint32 => Value::from(varint(input)? as u32),
            ProtoKind::Uint64 => Value::String(varint(input)?.to_string()),
            // A sint32 is read as proto3 readers do: its low 32 bits.
            ProtoKind::Sint32 => {
                Value::from(zigzag_decode(u64::from(varint(input)? as u32)) as i32)
            }
            ProtoKind::Sint64 => Value::String(zigzag_decode(varint(input)?).to_string()),
            ProtoKind::Bool => Value::Bool(varint(input)? != 0),
            ProtoKind::Enum => {
                let number = varint(input)? as i32;
                let name = field
                    .type_name
                    .as_deref()
                    .and_then(|t| self.enum_names.get(t))
                    .and_then(|values| values.get(&number));
                match name {
                    Some(name) => Value::String(name.clone()),
                    None => Value::from(number),
                }
            }
            ProtoKind::String => {
                let bytes = length_delimited(input)?;
                Value::String(
                    std::str::from_utf8(bytes)
                        .map_err(|e| format!("string is not UTF-8: {e}"))?
                        .to_owned(),
                )
            }
            ProtoKind::Bytes => Value::String(base64(length_delimited(input)?)),
            ProtoKind::Message | ProtoKind::Group => {
                let bytes = length_delimited(input)?;
                let name = field.type_name.as_deref().unwrap_or_default();
                Value::Object(self.message(name, bytes, depth + 1)?)
            }
        })
    }
}

impl ProtoModel {
    pub(super) fn encode(&self, json: &Value, out: &mut Vec<u8>) -> Result<(), String> {
        self.encode_message(&self.root, json, out, 0)
    }

    fn encode_message(
        &self,
        name: &str,
        json: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        let model = self.model(name, depth)?;
        let object = json
            .as_object()
            .ok_or_else(|| format!("{name}: expected an object, found {json}"))?;
        let mut fields: Vec<(u32, &str, &Value)> = Vec::with_capacity(object.len());
        for (key, value) in object {
            let number = model
                .by_name
                .get(key)
                .ok_or_else(|| format!("{} has no field {key:?}", name.trim_start_matches('.')))?;
            fields.push((*number, key, value));
        }
        fields.sort_by_key(|(number, _, _)| *number);
        for (number, key, value) in fields {
            if value.is_null() {
                continue;
            }
            let field = &model.fields[&number];
            self.encode_field(number, field, value, out, depth)
                .map_err(|e| format!("field {key}: {e}"))?;
        }
        Ok(())
    }

    fn encode_field(
        &self,
        number: u32,
        field: &FieldModel,
        value: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        let wire_type = wire_type_of(field.kind);
        if let Some(entry_model) = self.map_entry(field) {
            let object = value
                .as_object()
                .ok_or_else(|| format!("expected an object (a map), found {value}"))?;
            for (k, v) in object {
                let mut entry = Vec::new();
                let key_field = &entry_model.fields[&1];
                let key = match key_field.kind {
                    ProtoKind::String => Value::String(k.clone()),
                    ProtoKind::Bool => Value::Bool(k == "true"),
                    _ => Value::String(k.clone()),
                };
                write_varint(
                    u64::from(1 << 3 | u32::from(wire_type_of(key_field.kind))),
                    &mut entry,
                );
                self.encode_scalar(key_field, &key, &mut entry, depth)?;
                let value_field = &entry_model.fields[&2];
                write_varint(
                    u64::from(2 << 3 | u32::from(wire_type_of(value_field.kind))),
                    &mut entry,
                );
                self.encode_scalar(value_field, v, &mut entry, depth)?;
                write_varint(u64::from(number << 3 | 2), out);
                write_varint(entry.len() as u64, out);
                out.extend_from_slice(&entry);
            }
            return Ok(());
        }
        if field.repeated {
            let items = value
                .as_array()
                .ok_or_else(|| format!("expected an array, found {value}"))?;
            if wire_type != 2 {
                let mut packed = Vec::new();
                for item in items {
                    self.encode_scalar(field, item, &mut packed, depth)?;
                }
                write_varint(u64::from(number << 3 | 2), out);
                write_varint(packed.len() as u64, out);
                out.extend_from_slice(&packed);
            } else {
                for item in items {
                    write_varint(u64::from(number << 3 | u32::from(wire_type)), out);
                    self.encode_scalar(field, item, out, depth)?;
                }
            }
            return Ok(());
        }
        if is_default(field.kind, value) {
            // proto3 writes no field that holds its default value.
            return Ok(());
        }
        write_varint(u64::from(number << 3 | u32::from(wire_type)), out);
        self.encode_scalar(field, value, out, depth)
    }

    fn encode_scalar(
        &self,
        field: &FieldModel,
        value: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        match field.kind {
            ProtoKind::Double => out.extend_from_slice(&json_f64(value)?.to_le_bytes()),
            ProtoKind::Float => out.extend_from_slice(&json_f32(value)?.to_le_bytes()),
            ProtoKind::Int32 => write_varint(
                json_int(value, i32::MIN.into(), i32::MAX.into())? as u64,
                out,
            ),
            ProtoKind::Int64 => write_varint(
                json_int(value, i64::MIN.into(), i64::MAX.into())? as u64,
                out,
            ),
            ProtoKind::Uint32 => write_varint(json_int(value, 0, u32::MAX.into())? as u64, out),
            ProtoKind::Uint64 => write_varint(json_int(value, 0, u64::MAX.into())? as u64, out),
            // In range, zigzag over 64 bits is sint32's zigzag over 32.
            ProtoKind::Sint32 | ProtoKind::Sint64 => {
                let (min, max) = match field.kind {
                    ProtoKind::Sint32 => (i32::MIN.into(), i32::MAX.into()),
                    _ => (i64::MIN.into(), i64::MAX.into()),
                };
                write_varint(zigzag_encode(json_int(value, min, max)? as i64), out);
            }
            ProtoKind::Fixed32 => {
                out.extend_from_slice(&(json_int(value, 0, u32::MAX.into())? as u32).to_le_bytes());
            }
            ProtoKind::Sfixed32 => out.extend_from_slice(
                &(json_int(value, i32::MIN.into(), i32::MAX.into())? as i32).to_le_bytes(),
            ),
            ProtoKind::Fixed64 => {
                out.extend_from_slice(&(json_int(value, 0, u64::MAX.into())? as u64).to_le_bytes());
            }
            ProtoKind::Sfixed64 => out.extend_from_slice(
                &(json_int(value, i64::MIN.into(), i64::MAX.into())? as i64).to_le_bytes(),
            ),
            ProtoKind::Bool => {
                let b = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, found {value}"))?;
                write_varint(u64::from(b), out);
            }
            ProtoKind::String => {
                let s = value
                    .as_str()
                    .ok_or_else(|| format!("expected a string, found {value}"))?;
                write_varint(s.len() as u64, out);
                out.extend_from_slice(s.as_bytes());
            }
            ProtoKind::Bytes => {
                let s = value
                    .as_str()
                    .ok_or_else(|| format!("expected base64, found {value}"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
                    .map_err(|e| format!("not base64: {e}"))?;
                write_varint(bytes.len() as u64, out);
                out.extend_from_slice(&bytes);
            }
            ProtoKind::Enum => {
                let number = match value {
                    Value::String(name) => *field
                        .type_name
                        .as_deref()
                        .and_then(|t| self.enum_numbers.get(t))
                        .and_then(|values| values.get(name))
                        .ok_or_else(|| format!("{name:?} is not a value of the enum"))?,
                    other => json_int(other, i32::MIN.into(), i32::MAX.into())? as i32,
                };
                write_varint(i64::from(number) as u64, out);
            }
            ProtoKind::Message | ProtoKind::Group => {
                let mut nested = Vec::new();
                let name = field.type_name.as_deref().unwrap_or_default();
                self.encode_message(name, value, &mut nested, depth + 1)?;
                write_varint(nested.len() as u64, out);
                out.extend_from_slice(&nested);
            }
        }
        Ok(())
    }
}

/// Whether a singular scalar holds its default (zero, false, empty).
fn is_default(kind: ProtoKind, value: &Value) -> bool {
    match (kind, value) {
        (ProtoKind::Message | ProtoKind::Group, _) => false,
        (ProtoKind::Enum, Value::Number(n)) => n.as_i64() == Some(0),
        (ProtoKind::Enum, Value::String(_)) => false,
        (_, Value::Bool(b)) => !b,
        (_, Value::Number(n)) => n.as_f64() == Some(0.0),
        (ProtoKind::String | ProtoKind::Bytes, Value::String(s)) => s.is_empty(),
        (_, Value::String(s)) => s == "0",
        _ => false,
    }
}

/// The field number of a field's key, 1 to 2^29 − 1 as Protobuf allows
/// (and prost, which decodes the typed events, checks).
fn field_number(key: u64) -> Result<u32, String> {
    match u32::try_from(key).map(|key| key >> 3) {
        Ok(number) if number > 0 => Ok(number),
        _ => Err(format!("field key {key} has no valid field number")),
    }
}

/// A `float`: finite JSON numbers beyond `f32`'s range are refused rather
/// than written as infinity.
fn json_f32(value: &Value) -> Result<f32, String> {
    let wide = json_f64(value)?;
    let narrow = wide as f32;
    if wide.is_finite() && !narrow.is_finite() {
        return Err(format!("{wide} is out of range for a float"));
    }
    Ok(narrow)
}

fn json_f64(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse()
                .map_err(|_| format!("{other:?} is not a number")),
        },
        other => Err(format!("expected a number, found {other}")),
    }
}

/// An integer from a JSON number or string, within `min..=max`.
fn json_int(value: &Value, min: i128, max: i128) -> Result<i128, String> {
    let n: i128 = match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.into(),
            (_, Some(u), _) => u.into(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e19 => f as i128,
            _ => return Err(format!("{n} is not an integer")),
        },
        Value::String(s) => s.parse().map_err(|_| format!("{s:?} is not an integer"))?,
        other => return Err(format!("expected an integer, found {other}")),
    };
    if n < min || n > max {
        return Err(format!("{n} is out of range ({min} to {max})"));
    }
    Ok(n)
}
