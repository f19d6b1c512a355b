//! The normalized Protobuf schema the registry stores for each version.
//!
//! A [`ProtoSchema`] is a message and every message and enum it reaches,
//! with field numbers, names, labels and types. `sluice-build` writes it from
//! `protoc`'s descriptors and its compatibility gate compares versions of it;
//! the registry reads it back into a [`ProtoModel`] to render and encode
//! records as JSON without generated types. Comments, options and file
//! layout are left out, so only changes that matter on the wire make a new
//! version.
//!
//! ```text
//! {"syntax": "proto3", "root": ".shop.v1.Order",
//!  "messages": [{"name": ".shop.v1.Order", "map_entry": false, "fields": [
//!    {"number": 1, "name": "order_id", "label": "optional", "type": "string"},
//!    {"number": 2, "name": "lines", "label": "repeated", "type": "message",
//!     "type_name": ".shop.v1.Line"}]}, ...],
//!  "enums": [{"name": ".shop.v1.State", "values": {"STATE_OPEN": 0}}]}
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A message's schema as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoSchema {
    /// `proto2` or `proto3`: the syntax of the root message's file.
    pub syntax: String,
    /// The fully qualified name of the message, with a leading dot.
    pub root: String,
    /// The root and every message it reaches, sorted by name.
    pub messages: Vec<ProtoMessage>,
    /// Every enum the messages use, sorted by name.
    #[serde(default)]
    pub enums: Vec<ProtoEnum>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoMessage {
    pub name: String,
    /// Whether `protoc` made this message for a `map<K, V>` field
    /// (`MessageOptions.map_entry`). `None` in versions registered before
    /// the flag was recorded: [`ProtoMessage::is_map_entry`] then goes by
    /// the message's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_entry: Option<bool>,
    /// Sorted by number.
    pub fields: Vec<ProtoField>,
}

impl ProtoMessage {
    /// Whether this is the entry type of a `map<K, V>` field. Without the
    /// recorded flag it is inferred from the shape `protoc` gives every map
    /// entry: a name ending in `Entry` and exactly the fields `key` = 1 and
    /// `value` = 2 (so a hand-written message of that shape counts as one).
    pub fn is_map_entry(&self) -> bool {
        self.map_entry.unwrap_or_else(|| {
            let has = |number, name: &str| {
                self.fields
                    .iter()
                    .any(|f| f.number == number && f.name == name)
            };
            self.name.ends_with("Entry")
                && self.fields.len() == 2
                && has(1, "key")
                && has(2, "value")
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoField {
    pub number: u32,
    pub name: String,
    pub label: ProtoLabel,
    #[serde(rename = "type")]
    pub kind: ProtoKind,
    /// The fully qualified name of the message or enum, for those kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoEnum {
    pub name: String,
    pub values: BTreeMap<String, i32>,
}

/// A field's cardinality, as `descriptor.proto` names it. proto3's singular
/// fields are `optional`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtoLabel {
    Optional,
    Required,
    Repeated,
}

impl ProtoLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtoLabel::Optional => "optional",
            ProtoLabel::Required => "required",
            ProtoLabel::Repeated => "repeated",
        }
    }
}

impl fmt::Display for ProtoLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field's type, as `descriptor.proto` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtoKind {
    Double,
    Float,
    Int64,
    Uint64,
    Int32,
    Fixed64,
    Fixed32,
    Bool,
    String,
    Group,
    Message,
    Bytes,
    Uint32,
    Enum,
    Sfixed32,
    Sfixed64,
    Sint32,
    Sint64,
}

impl ProtoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtoKind::Double => "double",
            ProtoKind::Float => "float",
            ProtoKind::Int64 => "int64",
            ProtoKind::Uint64 => "uint64",
            ProtoKind::Int32 => "int32",
            ProtoKind::Fixed64 => "fixed64",
            ProtoKind::Fixed32 => "fixed32",
            ProtoKind::Bool => "bool",
            ProtoKind::String => "string",
            ProtoKind::Group => "group",
            ProtoKind::Message => "message",
            ProtoKind::Bytes => "bytes",
            ProtoKind::Uint32 => "uint32",
            ProtoKind::Enum => "enum",
            ProtoKind::Sfixed32 => "sfixed32",
            ProtoKind::Sfixed64 => "sfixed64",
            ProtoKind::Sint32 => "sint32",
            ProtoKind::Sint64 => "sint64",
        }
    }
}

impl fmt::Display for ProtoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ProtoSchema {
    /// Reads the registry's JSON form.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The registry's JSON form: pretty-printed, with a final newline.
    pub fn to_json(&self) -> String {
        // Plain structs of strings, numbers and string-keyed maps always
        // serialize.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// A registered Protobuf schema, indexed for reading and writing records
/// of its root message as JSON.
#[derive(Debug)]
pub struct ProtoModel {
    pub(crate) root: String,
    messages: HashMap<String, MessageModel>,
    /// Enum value names by enum and number.
    pub(crate) enum_names: HashMap<String, HashMap<i32, String>>,
    /// Enum value numbers by enum and name.
    pub(crate) enum_numbers: HashMap<String, BTreeMap<String, i32>>,
}

#[derive(Debug)]
pub(crate) struct MessageModel {
    pub(crate) fields: HashMap<u32, FieldModel>,
    /// Field numbers by JSON name and by proto name.
    pub(crate) by_name: HashMap<String, u32>,
    /// A `map<K, V>` field's entry type: fields `key` = 1 and `value` = 2.
    pub(crate) is_map_entry: bool,
}

#[derive(Debug)]
pub(crate) struct FieldModel {
    pub(crate) json_name: String,
    pub(crate) repeated: bool,
    /// Never [`ProtoKind::Group`]: groups (proto2's tag-delimited messages)
    /// are indexed as messages, and a record that holds one fails on its
    /// wire type.
    pub(crate) kind: ProtoKind,
    pub(crate) type_name: Option<String>,
}

/// proto3 JSON names: `size_bytes` → `sizeBytes`.
fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl ProtoModel {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        Self::new(ProtoSchema::from_json(text).map_err(|e| e.to_string())?)
    }

    /// Indexes `schema`; refuses one whose root message is not described,
    /// or with a message or enum field that names no type.
    pub fn new(schema: ProtoSchema) -> Result<Self, String> {
        let mut messages = HashMap::new();
        for message in &schema.messages {
            let mut fields = HashMap::new();
            let mut by_name = HashMap::new();
            for field in &message.fields {
                by_name.insert(field.name.clone(), field.number);
                by_name.insert(json_name(&field.name), field.number);
                let kind = match field.kind {
                    ProtoKind::Group => ProtoKind::Message,
                    kind => kind,
                };
                if matches!(kind, ProtoKind::Enum | ProtoKind::Message) && field.type_name.is_none()
                {
                    return Err(format!("field {} has no type name", field.name));
                }
                fields.insert(
                    field.number,
                    FieldModel {
                        json_name: json_name(&field.name),
                        repeated: field.label == ProtoLabel::Repeated,
                        kind,
                        type_name: field.type_name.clone(),
                    },
                );
            }
            messages.insert(
                message.name.clone(),
                MessageModel {
                    fields,
                    by_name,
                    is_map_entry: message.is_map_entry(),
                },
            );
        }
        if !messages.contains_key(&schema.root) {
            return Err(format!("root message {} is not described", schema.root));
        }
        let enum_names = schema
            .enums
            .iter()
            .map(|e| {
                let names = e.values.iter().map(|(k, v)| (*v, k.clone())).collect();
                (e.name.clone(), names)
            })
            .collect();
        let enum_numbers = schema
            .enums
            .into_iter()
            .map(|e| (e.name, e.values))
            .collect();
        Ok(Self {
            root: schema.root,
            messages,
            enum_names,
            enum_numbers,
        })
    }

    /// The fully qualified name of the root message, with a leading dot.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The message `name`.
    pub(crate) fn message_model(&self, name: &str) -> Option<&MessageModel> {
        self.messages.get(name)
    }

    /// The entry type of a `map<K, V>` field (a repeated field of a map
    /// entry message), rendered as a JSON object.
    pub(crate) fn map_entry(&self, field: &FieldModel) -> Option<&MessageModel> {
        let entry = self.messages.get(field.type_name.as_deref()?)?;
        (field.repeated && field.kind == ProtoKind::Message && entry.is_map_entry).then_some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(name: &str, map_entry: Option<bool>) -> ProtoMessage {
        let field = |number, name: &str| ProtoField {
            number,
            name: name.to_owned(),
            label: ProtoLabel::Optional,
            kind: ProtoKind::String,
            type_name: None,
        };
        ProtoMessage {
            name: name.to_owned(),
            map_entry,
            fields: vec![field(1, "key"), field(2, "value")],
        }
    }

    #[test]
    fn the_recorded_map_entry_flag_wins_over_the_shape() {
        assert!(message(".t.M.TagsEntry", None).is_map_entry());
        assert!(!message(".t.Pair", None).is_map_entry());
        assert!(!message(".t.M.TagsEntry", Some(false)).is_map_entry());
        assert!(message(".t.Pair", Some(true)).is_map_entry());
    }

    #[test]
    fn the_json_form_round_trips() {
        let schema = ProtoSchema {
            syntax: "proto3".to_owned(),
            root: ".t.M".to_owned(),
            messages: vec![message(".t.M.TagsEntry", Some(true))],
            enums: vec![ProtoEnum {
                name: ".t.E".to_owned(),
                values: [("E_UNSPECIFIED".to_owned(), 0)].into(),
            }],
        };
        let text = schema.to_json();
        assert!(text.contains(r#""label": "optional""#), "{text}");
        assert!(text.contains(r#""type": "string""#), "{text}");
        assert!(text.contains(r#""map_entry": true"#), "{text}");
        assert_eq!(ProtoSchema::from_json(&text).expect("parses"), schema);
    }
}
