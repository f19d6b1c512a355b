//! Protobuf: descriptors from the vendored `protoc`, `(sluice.event)` options,
//! the normalized schema the registry keeps (a
//! [`ProtoSchema`](sluice_core::protobuf_schema::ProtoSchema), built from the
//! descriptors), and the `Event` impls generated beside prost's structs.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use sluice_core::protobuf_schema::{
    ProtoEnum, ProtoField, ProtoKind, ProtoLabel, ProtoMessage, ProtoSchema,
};

use crate::BuildError;
use crate::codegen::{Access, KeyStep, key_expr, rust_field};

/// The `.proto` that defines the `(sluice.event)` option.
pub(crate) const OPTIONS_PROTO: &str = include_str!("../proto/sluice/options.proto");

/// The parts of `descriptor.proto` needed to read `(sluice.event)`: prost
/// drops unknown fields, so the stock `MessageOptions` would lose it.
mod options {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct FileSet {
        #[prost(message, repeated, tag = "1")]
        pub(super) file: Vec<File>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct File {
        #[prost(string, optional, tag = "2")]
        pub(super) package: Option<String>,
        #[prost(message, repeated, tag = "4")]
        pub(super) message_type: Vec<Message>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Message {
        #[prost(string, optional, tag = "1")]
        pub(super) name: Option<String>,
        #[prost(message, repeated, tag = "3")]
        pub(super) nested_type: Vec<Message>,
        #[prost(message, optional, tag = "7")]
        pub(super) options: Option<MessageOptions>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct MessageOptions {
        #[prost(message, optional, tag = "51234")]
        pub(super) event: Option<EventOptions>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct EventOptions {
        #[prost(string, tag = "1")]
        pub(super) r#type: String,
        #[prost(string, tag = "2")]
        pub(super) key: String,
    }
}

/// One message marked with `(sluice.event)`.
#[derive(Debug, Clone)]
pub(crate) struct ProtoEvent {
    pub(crate) subject: String,
    pub(crate) package: String,
    /// The type's path inside its package module, e.g. `outer::Inner`.
    pub(crate) rust_path: String,
    pub(crate) event_type: String,
    pub(crate) key_expr: String,
    pub(crate) message_indexes: Vec<i32>,
    pub(crate) schema: ProtoSchema,
}

/// Every `.proto` file under `root`, relative to it, sorted.
pub(crate) fn find_protos(root: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut found = Vec::new();
    crate::walk(root, &mut |path| {
        if path.extension().is_some_and(|e| e == "proto")
            && let Ok(relative) = path.strip_prefix(root)
        {
            found.push(relative.to_path_buf());
        }
    })?;
    found.sort();
    Ok(found)
}

/// Runs the vendored `protoc` over `files` (relative to `root`) and returns
/// the encoded `FileDescriptorSet`, imports included.
pub(crate) fn descriptors(
    root: &Path,
    files: &[PathBuf],
    scratch: &Path,
) -> Result<Vec<u8>, BuildError> {
    let include = scratch.join("include");
    let options_path = include.join("sluice/options.proto");
    crate::write_if_changed(&options_path, OPTIONS_PROTO)?;
    let protoc =
        protoc_bin_vendored::protoc_bin_path().map_err(|e| BuildError::Protoc(e.to_string()))?;
    let well_known =
        protoc_bin_vendored::include_path().map_err(|e| BuildError::Protoc(e.to_string()))?;
    let out = scratch.join("descriptors.bin");
    let output = Command::new(&protoc)
        .arg("--include_imports")
        .arg("--include_source_info")
        .arg(format!("--descriptor_set_out={}", out.display()))
        .arg(format!("--proto_path={}", root.display()))
        .arg(format!("--proto_path={}", include.display()))
        .arg(format!("--proto_path={}", well_known.display()))
        .args(files)
        .output()
        .map_err(|e| BuildError::Protoc(format!("cannot run {}: {e}", protoc.display())))?;
    if !output.status.success() {
        return Err(BuildError::Protoc(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    std::fs::read(&out).map_err(|source| BuildError::Read { path: out, source })
}

/// The files of `set` named in `files`: the ones to generate code for.
pub(crate) fn requested(set: &FileDescriptorSet, files: &[PathBuf]) -> FileDescriptorSet {
    let names: BTreeSet<String> = files
        .iter()
        .map(|f| f.to_string_lossy().replace('\\', "/"))
        .collect();
    FileDescriptorSet {
        file: set
            .file
            .iter()
            .filter(|f| names.contains(f.name()))
            .cloned()
            .collect(),
    }
}

/// Index of every message and enum in `set` by fully qualified name.
struct Index<'a> {
    messages: HashMap<String, &'a DescriptorProto>,
    enums: HashMap<String, &'a EnumDescriptorProto>,
    syntax: HashMap<String, String>,
}

impl<'a> Index<'a> {
    fn new(set: &'a FileDescriptorSet) -> Self {
        fn visit<'a>(
            prefix: &str,
            message: &'a DescriptorProto,
            syntax: &str,
            index: &mut Index<'a>,
        ) {
            let name = format!("{prefix}.{}", message.name());
            for e in &message.enum_type {
                index.enums.insert(format!("{name}.{}", e.name()), e);
            }
            for nested in &message.nested_type {
                visit(&name, nested, syntax, index);
            }
            index.syntax.insert(name.clone(), syntax.to_owned());
            index.messages.insert(name, message);
        }
        let mut index = Index {
            messages: HashMap::new(),
            enums: HashMap::new(),
            syntax: HashMap::new(),
        };
        for file in &set.file {
            let prefix = if file.package().is_empty() {
                String::new()
            } else {
                format!(".{}", file.package())
            };
            let syntax = match file.syntax() {
                "" => "proto2",
                s => s,
            };
            for e in &file.enum_type {
                index.enums.insert(format!("{prefix}.{}", e.name()), e);
            }
            for message in &file.message_type {
                visit(&prefix, message, syntax, &mut index);
            }
        }
        index
    }

    fn message(&self, name: &str) -> Option<&'a DescriptorProto> {
        self.messages.get(name).copied()
    }

    /// The normalized schema of `root` (a name with a leading dot).
    fn schema(&self, root: &str) -> ProtoSchema {
        let mut messages = BTreeMap::new();
        let mut enums = BTreeMap::new();
        let mut queue = VecDeque::from([root.to_owned()]);
        while let Some(name) = queue.pop_front() {
            if messages.contains_key(&name) {
                continue;
            }
            let Some(message) = self.message(&name) else {
                continue;
            };
            let mut fields: Vec<ProtoField> = message
                .field
                .iter()
                .map(|f| {
                    let type_name = f.type_name.clone().filter(|t| !t.is_empty());
                    match f.r#type() {
                        Type::Message | Type::Group => {
                            queue.extend(type_name.clone());
                        }
                        Type::Enum => {
                            if let Some(e) = type_name.as_deref().and_then(|t| self.enums.get(t)) {
                                enums.insert(
                                    type_name.clone().unwrap_or_default(),
                                    ProtoEnum {
                                        name: type_name.clone().unwrap_or_default(),
                                        values: e
                                            .value
                                            .iter()
                                            .map(|v| (v.name().to_owned(), v.number()))
                                            .collect(),
                                    },
                                );
                            }
                        }
                        _ => {}
                    }
                    ProtoField {
                        // protoc refuses field numbers below 1.
                        number: f.number().unsigned_abs(),
                        name: f.name().to_owned(),
                        label: label_of(f.label()),
                        kind: kind_of(f.r#type()),
                        type_name,
                    }
                })
                .collect();
            fields.sort_by_key(|f| f.number);
            let map_entry = message.options.as_ref().is_some_and(|o| o.map_entry());
            messages.insert(
                name.clone(),
                ProtoMessage {
                    name,
                    map_entry: Some(map_entry),
                    fields,
                },
            );
        }
        ProtoSchema {
            syntax: self.syntax.get(root).cloned().unwrap_or_default(),
            root: root.to_owned(),
            messages: messages.into_values().collect(),
            enums: enums.into_values().collect(),
        }
    }
}

fn label_of(label: Label) -> ProtoLabel {
    match label {
        Label::Optional => ProtoLabel::Optional,
        Label::Required => ProtoLabel::Required,
        Label::Repeated => ProtoLabel::Repeated,
    }
}

fn kind_of(kind: Type) -> ProtoKind {
    match kind {
        Type::Double => ProtoKind::Double,
        Type::Float => ProtoKind::Float,
        Type::Int64 => ProtoKind::Int64,
        Type::Uint64 => ProtoKind::Uint64,
        Type::Int32 => ProtoKind::Int32,
        Type::Fixed64 => ProtoKind::Fixed64,
        Type::Fixed32 => ProtoKind::Fixed32,
        Type::Bool => ProtoKind::Bool,
        Type::String => ProtoKind::String,
        Type::Group => ProtoKind::Group,
        Type::Message => ProtoKind::Message,
        Type::Bytes => ProtoKind::Bytes,
        Type::Uint32 => ProtoKind::Uint32,
        Type::Enum => ProtoKind::Enum,
        Type::Sfixed32 => ProtoKind::Sfixed32,
        Type::Sfixed64 => ProtoKind::Sfixed64,
        Type::Sint32 => ProtoKind::Sint32,
        Type::Sint64 => ProtoKind::Sint64,
    }
}

/// Finds every message marked with `(sluice.event)` in the requested files.
pub(crate) fn events(bytes: &[u8], files: &[PathBuf]) -> Result<Vec<ProtoEvent>, BuildError> {
    let set = FileDescriptorSet::decode(bytes)
        .map_err(|e| BuildError::Protoc(format!("unreadable descriptor set: {e}")))?;
    let with_options = options::FileSet::decode(bytes)
        .map_err(|e| BuildError::Protoc(format!("unreadable descriptor set: {e}")))?;
    let index = Index::new(&set);
    let wanted = requested(&set, files);
    let mut events = Vec::new();
    for (file, file_opts) in set.file.iter().zip(&with_options.file) {
        if !wanted.file.iter().any(|w| w.name == file.name) {
            continue;
        }
        let package = file_opts.package.clone().unwrap_or_default();
        let mut stack: Vec<(Vec<i32>, Vec<String>, &options::Message)> = file_opts
            .message_type
            .iter()
            .enumerate()
            .map(|(i, m)| (vec![i as i32], Vec::new(), m))
            .collect();
        while let Some((indexes, parents, message)) = stack.pop() {
            let name = message.name.clone().unwrap_or_default();
            let mut path = parents.clone();
            path.push(name);
            for (i, nested) in message.nested_type.iter().enumerate() {
                let mut nested_indexes = indexes.clone();
                nested_indexes.push(i as i32);
                stack.push((nested_indexes, path.clone(), nested));
            }
            let Some(event) = message.options.as_ref().and_then(|o| o.event.as_ref()) else {
                continue;
            };
            let subject = if package.is_empty() {
                path.join(".")
            } else {
                format!("{package}.{}", path.join("."))
            };
            let full = format!(".{subject}");
            let fail = |reason: String| BuildError::Event {
                subject: subject.clone(),
                reason,
            };
            if event.r#type.is_empty() {
                return Err(fail("(sluice.event).type is empty".into()));
            }
            let key_expr = proto_key_expr(&index, &full, &event.key).map_err(&fail)?;
            let rust_path = path
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i + 1 == path.len() {
                        heck::ToUpperCamelCase::to_upper_camel_case(p.as_str())
                    } else {
                        heck::ToSnakeCase::to_snake_case(p.as_str())
                    }
                })
                .collect::<Vec<_>>()
                .join("::");
            events.push(ProtoEvent {
                schema: index.schema(&full),
                subject,
                package: package.clone(),
                rust_path,
                event_type: event.r#type.clone(),
                key_expr,
                message_indexes: indexes,
            });
        }
    }
    events.sort_by(|a, b| a.subject.cmp(&b.subject));
    Ok(events)
}

fn proto_key_expr(index: &Index<'_>, root: &str, key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err(
            "(sluice.event).key is empty: name the string field that keys the event".into(),
        );
    }
    let segments: Vec<&str> = key.split('.').collect();
    let mut message = index
        .message(root)
        .ok_or_else(|| format!("message {root} not found"))?;
    let mut steps = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let field = message
            .field
            .iter()
            .find(|f| f.name() == *segment)
            .ok_or_else(|| format!("key {key:?}: no field {segment:?} in {}", message.name()))?;
        if field.label() == Label::Repeated {
            return Err(format!("key {key:?}: field {segment:?} is repeated"));
        }
        let last = i + 1 == segments.len();
        if last {
            if field.r#type() != Type::String {
                return Err(format!(
                    "key {key:?}: field {segment:?} is {}, the key must be a string",
                    kind_of(field.r#type())
                ));
            }
            let access = if field.proto3_optional()
                || field.label() == Label::Optional
                    && index.syntax.get(root).is_some_and(|s| s == "proto2")
            {
                Access::Optional
            } else {
                Access::Direct
            };
            steps.push(KeyStep {
                field: rust_field(segment),
                access,
            });
        } else {
            if field.r#type() != Type::Message {
                return Err(format!("key {key:?}: field {segment:?} is not a message"));
            }
            message = index
                .message(field.type_name())
                .ok_or_else(|| format!("message {} not found", field.type_name()))?;
            steps.push(KeyStep {
                field: rust_field(segment),
                access: Access::Optional,
            });
        }
    }
    Ok(key_expr(&steps))
}

/// The `Event` and `ProtobufMessage` impls for the events of one package.
pub(crate) fn event_impls(events: &[&ProtoEvent], schema_ids: &HashMap<String, u32>) -> String {
    let mut out = String::new();
    for event in events {
        let ty = &event.rust_path;
        let id = schema_ids.get(&event.subject).copied().unwrap_or_default();
        out.push_str(&format!(
            r#"
impl ::sluice_core::Event for {ty} {{
    const EVENT_TYPE: &'static str = {event_type:?};
    const SUBJECT: &'static str = {subject:?};
    const SCHEMA_ID: u32 = {id};
    type Codec = ::sluice_core::ProtobufCodec<Self>;
    fn partition_key(&self) -> &str {{
        {key}
    }}
}}

impl ::sluice_core::codec::ProtobufMessage for {ty} {{
    const MESSAGE_INDEXES: &'static [i32] = &{indexes:?};
}}
"#,
            event_type = event.event_type,
            subject = event.subject,
            key = event.key_expr,
            indexes = event.message_indexes,
        ));
    }
    out
}
