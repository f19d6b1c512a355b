//! The Protobuf and Avro definitions of each event carry the same fields,
//! with corresponding types, all the way down.

use apache_avro::Schema;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use sluice_core::codec::AvroRecord;
use sluice_events::{avro, proto};

struct Protos {
    set: FileDescriptorSet,
}

impl Protos {
    fn message(&self, full_name: &str) -> &DescriptorProto {
        fn find<'a>(
            prefix: &str,
            m: &'a DescriptorProto,
            want: &str,
        ) -> Option<&'a DescriptorProto> {
            let name = format!("{prefix}.{}", m.name());
            if name == want {
                return Some(m);
            }
            m.nested_type.iter().find_map(|n| find(&name, n, want))
        }
        self.set
            .file
            .iter()
            .flat_map(|f| f.message_type.iter().map(move |m| (f.package(), m)))
            .find_map(|(package, m)| find(&format!(".{package}"), m, full_name))
            .unwrap_or_else(|| panic!("no message {full_name}"))
    }

    fn enum_values(&self, full_name: &str) -> Vec<String> {
        let (parent, name) = full_name.rsplit_once('.').expect("qualified");
        let top_level = self
            .set
            .file
            .iter()
            .filter(|f| format!(".{}", f.package()) == parent)
            .flat_map(|f| &f.enum_type);
        let nested = || self.message(parent).enum_type.iter();
        let found = top_level
            .clone()
            .find(|e| e.name() == name)
            .or_else(|| nested().find(|e| e.name() == name))
            .unwrap_or_else(|| panic!("no enum {full_name}"));
        found.value.iter().map(|v| v.name().to_owned()).collect()
    }

    /// Compares a proto message with an Avro record; returns the differences.
    fn compare(&self, message: &str, record: &Schema, path: &str, diffs: &mut Vec<String>) {
        let Schema::Record(record) = record else {
            diffs.push(format!("{path}: Avro side is not a record"));
            return;
        };
        let message = self.message(message);
        let proto_names: Vec<&str> = message.field.iter().map(|f| f.name()).collect();
        let avro_names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
        if proto_names != avro_names {
            diffs.push(format!(
                "{path}: fields differ: proto {proto_names:?}, avro {avro_names:?}"
            ));
            return;
        }
        for (field, avro_field) in message.field.iter().zip(&record.fields) {
            let path = format!("{path}.{}", field.name());
            let mut avro_type = &avro_field.schema;
            if field.proto3_optional() {
                match avro_type {
                    Schema::Union(u)
                        if u.variants().len() == 2 && u.variants()[0] == Schema::Null =>
                    {
                        avro_type = &u.variants()[1];
                    }
                    other => {
                        diffs.push(format!("{path}: optional in proto, {other:?} in avro"));
                        continue;
                    }
                }
            }
            let entry = (field.r#type() == Type::Message)
                .then(|| self.message(field.type_name()))
                .filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry()));
            if let Some(entry) = entry {
                let Schema::Map(map) = avro_type else {
                    diffs.push(format!("{path}: map in proto, {avro_type:?} in avro"));
                    continue;
                };
                self.compare_scalar(&entry.field[1], &map.types, &path, diffs);
                continue;
            }
            if field.label() == Label::Repeated {
                let Schema::Array(array) = avro_type else {
                    diffs.push(format!("{path}: repeated in proto, {avro_type:?} in avro"));
                    continue;
                };
                avro_type = &array.items;
            }
            self.compare_scalar(field, avro_type, &path, diffs);
        }
    }

    fn compare_scalar(
        &self,
        field: &prost_types::FieldDescriptorProto,
        avro_type: &Schema,
        path: &str,
        diffs: &mut Vec<String>,
    ) {
        let ok = match (field.r#type(), avro_type) {
            (Type::String, Schema::String) => true,
            (Type::Bool, Schema::Boolean) => true,
            (Type::Double, Schema::Double) => true,
            (Type::Float, Schema::Float) => true,
            (Type::Int32 | Type::Sint32 | Type::Sfixed32, Schema::Int) => true,
            (
                Type::Int64
                | Type::Uint64
                | Type::Uint32
                | Type::Sint64
                | Type::Fixed64
                | Type::Fixed32,
                Schema::Long | Schema::TimestampMillis,
            ) => true,
            (Type::Enum, Schema::Enum(e)) => {
                let values = self.enum_values(field.type_name());
                if values != e.symbols {
                    diffs.push(format!(
                        "{path}: enum symbols differ: {values:?} vs {:?}",
                        e.symbols
                    ));
                }
                true
            }
            (Type::Message, record @ Schema::Record(_)) => {
                self.compare(field.type_name(), record, path, diffs);
                true
            }
            _ => false,
        };
        if !ok {
            diffs.push(format!(
                "{path}: {:?} in proto, {avro_type:?} in avro",
                field.r#type()
            ));
        }
    }
}

fn protos() -> Protos {
    Protos {
        set: FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET).expect("descriptor set"),
    }
}

fn assert_agree<A: AvroRecord>(message: &str) {
    let mut diffs = Vec::new();
    protos().compare(message, A::avro_schema(), message, &mut diffs);
    assert!(diffs.is_empty(), "{message}:\n{}", diffs.join("\n"));
}

#[test]
fn every_event_has_the_same_fields_in_both_formats() {
    assert_agree::<avro::EmailReceived>(".sluice.email.v1.EmailReceived");
    assert_agree::<avro::EmailValidated>(".sluice.email.v1.EmailValidated");
    assert_agree::<avro::EmailProcessed>(".sluice.email.v1.EmailProcessed");
    assert_agree::<avro::PluginExecuted>(".sluice.email.v1.PluginExecuted");
    assert_agree::<avro::WorkflowTriggered>(".sluice.email.v1.WorkflowTriggered");
}

#[test]
fn the_comparison_sees_a_difference() {
    let mut diffs = Vec::new();
    protos().compare(
        ".sluice.email.v1.EmailReceived",
        avro::EmailProcessed::avro_schema(),
        "mismatch",
        &mut diffs,
    );
    assert!(!diffs.is_empty());
}
