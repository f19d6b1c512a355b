//! Avro: Rust types generated from `.avsc` records, with `"sluice.event"`
//! attributes turned into `Event` impls.
//!
//! Types are generated rather than derived so that the `.avsc` stays the one
//! definition, as the `.proto` files are for Protobuf. Records become structs
//! that serialize with serde straight into Avro's binary encoding.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apache_avro::Schema;
use apache_avro::schema::{EnumSchema, RecordSchema, UnionSchema};

use crate::BuildError;
use crate::codegen::{Access, KeyStep, ModuleTree, key_expr, rust_field};

/// One record marked with `"sluice.event"`.
#[derive(Debug, Clone)]
pub(crate) struct AvroEvent {
    pub(crate) subject: String,
    pub(crate) namespace: String,
    pub(crate) rust_name: String,
    pub(crate) event_type: String,
    pub(crate) key_expr: String,
    /// The `.avsc` text as written: what the registry stores.
    pub(crate) text: String,
}

/// Every `.avsc` file under `dir`, sorted.
pub(crate) fn find_schemas(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut found = Vec::new();
    crate::walk(dir, &mut |path| {
        if path.extension().is_some_and(|e| e == "avsc") {
            found.push(path.to_path_buf());
        }
    })?;
    found.sort();
    Ok(found)
}

/// The schema with `doc` attributes removed: two texts that differ only in
/// layout or documentation are the same schema version.
pub(crate) fn normalized(text: &str) -> Result<serde_json::Value, String> {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("doc");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    strip(&mut value);
    Ok(value)
}

/// Generated Avro types, grouped by namespace.
#[derive(Debug, Default)]
pub(crate) struct Generated {
    /// Named types already generated, by full name, with their canonical
    /// form and the file that defined them first.
    defined: BTreeMap<String, (String, PathBuf)>,
    pub(crate) modules: ModuleTree,
    pub(crate) events: Vec<AvroEvent>,
}

impl Generated {
    pub(crate) fn add_file(&mut self, path: &Path) -> Result<(), BuildError> {
        let text = std::fs::read_to_string(path).map_err(|source| BuildError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let fail = |reason: String| BuildError::Avro {
            path: path.to_path_buf(),
            reason,
        };
        let schema = Schema::parse_str(&text).map_err(|e| fail(e.to_string()))?;
        let Schema::Record(record) = &schema else {
            return Err(fail("the top-level schema must be a record".into()));
        };
        self.named(&schema, path)?;
        if let Some(event) = record.attributes.get("sluice.event") {
            let event_type = event
                .get("type")
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| fail("\"sluice.event\" needs a non-empty \"type\"".into()))?;
            let key = event
                .get("key")
                .and_then(|k| k.as_str())
                .unwrap_or_default();
            let subject = record.name.fullname(None);
            let key_expr = avro_key_expr(record, key).map_err(|reason| BuildError::Event {
                subject: subject.clone(),
                reason,
            })?;
            self.events.push(AvroEvent {
                namespace: record.name.namespace.clone().unwrap_or_default(),
                rust_name: heck::ToUpperCamelCase::to_upper_camel_case(record.name.name.as_str()),
                subject,
                event_type: event_type.to_owned(),
                key_expr,
                text,
            });
        }
        Ok(())
    }

    /// Generates `schema` and every named type inside it.
    fn named(&mut self, schema: &Schema, path: &Path) -> Result<(), BuildError> {
        let fail = |reason: String| BuildError::Avro {
            path: path.to_path_buf(),
            reason,
        };
        match schema {
            Schema::Record(record) => {
                if self.seen(schema, &record.name.fullname(None), path)? {
                    return Ok(());
                }
                for field in &record.fields {
                    self.named(&field.schema, path)?;
                }
                let code = record_code(record).map_err(fail)?;
                self.modules
                    .add(record.name.namespace.as_deref().unwrap_or_default(), code);
            }
            Schema::Enum(e) => {
                if self.seen(schema, &e.name.fullname(None), path)? {
                    return Ok(());
                }
                self.modules.add(
                    e.name.namespace.as_deref().unwrap_or_default(),
                    enum_code(e),
                );
            }
            Schema::Array(a) => self.named(&a.items, path)?,
            Schema::Map(m) => self.named(&m.types, path)?,
            Schema::Union(u) => {
                for variant in u.variants() {
                    self.named(variant, path)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `name` was generated already; an error when the earlier
    /// definition differs.
    fn seen(&mut self, schema: &Schema, name: &str, path: &Path) -> Result<bool, BuildError> {
        let canonical = schema.canonical_form();
        match self.defined.get(name) {
            Some((first, _)) if *first == canonical => Ok(true),
            Some((_, first_path)) => Err(BuildError::Avro {
                path: path.to_path_buf(),
                reason: format!(
                    "{name} is defined differently here and in {}",
                    first_path.display()
                ),
            }),
            None => {
                self.defined
                    .insert(name.to_owned(), (canonical, path.to_path_buf()));
                Ok(false)
            }
        }
    }
}

const SERDE: &str = "::sluice_core::__private::serde";
const AVRO: &str = "::sluice_core::__private::apache_avro";

/// The Rust type of a field, and the serde `with` module it needs.
fn rust_type(
    schema: &Schema,
    namespace: Option<&str>,
) -> Result<(String, Option<&'static str>), String> {
    let plain = |t: &str| Ok((t.to_owned(), None));
    match schema {
        Schema::Boolean => plain("bool"),
        Schema::Int | Schema::Date | Schema::TimeMillis => plain("i32"),
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => plain("i64"),
        Schema::Float => plain("f32"),
        Schema::Double => plain("f64"),
        Schema::String | Schema::Uuid => plain("::std::string::String"),
        Schema::Bytes => Ok(("::std::vec::Vec<u8>".to_owned(), Some("serde_avro_bytes"))),
        Schema::Array(a) => {
            let (item, with) = rust_type(&a.items, namespace)?;
            if with.is_some() {
                return Err("arrays of bytes are not supported".into());
            }
            Ok((format!("::std::vec::Vec<{item}>"), None))
        }
        Schema::Map(m) => {
            let (value, with) = rust_type(&m.types, namespace)?;
            if with.is_some() {
                return Err("maps of bytes are not supported".into());
            }
            Ok((
                format!("::std::collections::HashMap<::std::string::String, {value}>"),
                None,
            ))
        }
        Schema::Union(u) => {
            let inner = nullable(u).ok_or_else(|| {
                "only unions of null and one other type are supported (they become Option)"
                    .to_owned()
            })?;
            let (inner, with) = rust_type(inner, namespace)?;
            Ok((
                format!("::std::option::Option<{inner}>"),
                with.map(|_| "serde_avro_bytes_opt"),
            ))
        }
        Schema::Record(RecordSchema { name, .. })
        | Schema::Enum(EnumSchema { name, .. })
        | Schema::Ref { name } => Ok((type_path(&name.fullname(None), namespace), None)),
        other => Err(format!(
            "{other:?} is not supported by the generator; use a primitive, record, enum, array, map or nullable union"
        )),
    }
}

/// The other branch of a `["null", T]` or `[T, "null"]` union.
fn nullable(union: &UnionSchema) -> Option<&Schema> {
    match union.variants() {
        [Schema::Null, other] | [other, Schema::Null] if *other != Schema::Null => Some(other),
        _ => None,
    }
}

/// The path to the type named `fullname` from the module of `namespace`.
fn type_path(fullname: &str, namespace: Option<&str>) -> String {
    let (target_ns, name) = fullname.rsplit_once('.').unwrap_or(("", fullname));
    let name = heck::ToUpperCamelCase::to_upper_camel_case(name);
    let namespace = namespace.unwrap_or_default();
    if target_ns == namespace {
        return name;
    }
    let up = namespace.split('.').filter(|s| !s.is_empty()).count();
    let mut path = "super::".repeat(up);
    for segment in target_ns.split('.').filter(|s| !s.is_empty()) {
        path.push_str(&rust_field(segment));
        path.push_str("::");
    }
    path + &name
}

fn doc_comment(doc: Option<&str>) -> String {
    doc.map(|d| d.lines().map(|l| format!("/// {l}\n")).collect())
        .unwrap_or_default()
}

fn record_code(record: &RecordSchema) -> Result<String, String> {
    let namespace = record.name.namespace.as_deref();
    let name = heck::ToUpperCamelCase::to_upper_camel_case(record.name.name.as_str());
    let mut fields = String::new();
    for field in &record.fields {
        let (ty, with) = rust_type(&field.schema, namespace)
            .map_err(|e| format!("{}.{}: {e}", record.name.fullname(None), field.name))?;
        let ident = rust_field(&field.name);
        fields.push_str(&doc_comment(field.doc.as_deref()));
        if ident.trim_start_matches("r#") != field.name {
            fields.push_str(&format!("    #[serde(rename = {:?})]\n", field.name));
        }
        if let Some(with) = with {
            fields.push_str(&format!("    #[serde(with = \"{AVRO}::{with}\")]\n"));
        }
        fields.push_str(&format!("    pub {ident}: {ty},\n"));
    }
    Ok(format!(
        "{doc}#[derive(Debug, Clone, PartialEq, Default, {SERDE}::Serialize, {SERDE}::Deserialize)]\n\
         #[serde(crate = \"{SERDE}\")]\n\
         pub struct {name} {{\n{fields}}}\n",
        doc = doc_comment(record.doc.as_deref()),
    ))
}

fn enum_code(e: &EnumSchema) -> String {
    let name = heck::ToUpperCamelCase::to_upper_camel_case(e.name.name.as_str());
    let default = e
        .default
        .clone()
        .or_else(|| e.symbols.first().cloned())
        .unwrap_or_default();
    let mut variants = String::new();
    for symbol in &e.symbols {
        let variant = heck::ToUpperCamelCase::to_upper_camel_case(symbol.as_str());
        if *symbol == default {
            variants.push_str("    #[default]\n");
        }
        variants.push_str(&format!(
            "    #[serde(rename = {symbol:?})]\n    {variant},\n"
        ));
    }
    format!(
        "{doc}#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, {SERDE}::Serialize, {SERDE}::Deserialize)]\n\
         #[serde(crate = \"{SERDE}\")]\n\
         pub enum {name} {{\n{variants}}}\n",
        doc = doc_comment(e.doc.as_deref()),
    )
}

fn avro_key_expr(record: &RecordSchema, key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err(
            "\"sluice.event\" needs a \"key\": the string field that keys the event".into(),
        );
    }
    let segments: Vec<&str> = key.split('.').collect();
    let mut current = record;
    let mut steps = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let field = current
            .fields
            .iter()
            .find(|f| f.name == *segment)
            .ok_or_else(|| format!("key {key:?}: no field {segment:?} in {}", current.name))?;
        let (schema, access) = match &field.schema {
            Schema::Union(u) => (
                nullable(u).ok_or_else(|| format!("key {key:?}: {segment:?} is a union"))?,
                Access::Optional,
            ),
            other => (other, Access::Direct),
        };
        steps.push(KeyStep {
            field: rust_field(segment),
            access,
        });
        match (i + 1 == segments.len(), schema) {
            (true, Schema::String | Schema::Uuid) => {}
            (true, _) => return Err(format!("key {key:?}: {segment:?} is not a string")),
            (false, Schema::Record(r)) => current = r,
            (false, _) => return Err(format!("key {key:?}: {segment:?} is not a record")),
        }
    }
    Ok(key_expr(&steps))
}

/// The `Event` and `AvroRecord` impls for the events of one namespace.
pub(crate) fn event_impl(event: &AvroEvent, schema_id: u32) -> String {
    format!(
        r#"
impl ::sluice_core::Event for {ty} {{
    const EVENT_TYPE: &'static str = {event_type:?};
    const SUBJECT: &'static str = {subject:?};
    const SCHEMA_ID: u32 = {schema_id};
    type Codec = ::sluice_core::AvroCodec<Self>;
    fn partition_key(&self) -> &str {{
        {key}
    }}
}}

impl ::sluice_core::codec::AvroRecord for {ty} {{
    fn avro_schema() -> &'static {AVRO}::Schema {{
        static SCHEMA: ::std::sync::LazyLock<{AVRO}::Schema> = ::std::sync::LazyLock::new(|| {{
            {AVRO}::Schema::parse_str({text:?}).expect("schema was parsed at build time")
        }});
        &SCHEMA
    }}
}}
"#,
        ty = event.rust_name,
        event_type = event.event_type,
        subject = event.subject,
        key = event.key_expr,
        text = event.text,
    )
}
