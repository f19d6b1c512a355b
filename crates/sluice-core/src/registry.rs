//! A schema registry kept in files.
//!
//! `manifest.toml` lists every registered schema version:
//!
//! ```toml
//! [[schema]]
//! id = 1
//! subject = "sluice.email.v1.EmailReceived"
//! version = 1
//! format = "protobuf"
//! file = "sluice.email.v1.EmailReceived/v1.txt"
//! ```
//!
//! Ids are assigned once and never reused, exactly as a Confluent Schema
//! Registry would, so no registry server is needed to read or write records.
//! Each version's schema text sits in `file`, relative to the manifest. For
//! Avro it is the `.avsc`; for Protobuf it is a normalized description of the
//! message and every message it uses ([`ProtoSchema`](crate::protobuf_schema::ProtoSchema),
//! written by `sluice-build`), which is what the compatibility gate compares.
//! [`RegisteredSchema::new`] parses the text into a [`Parsed`] form, so a
//! schema that loads is one that decodes.
//!
//! Generated event crates embed their registry at build time, so a service
//! never reads these files at run time.

use std::collections::HashMap;
use std::path::Path;

use crate::error::RegistryError;
use crate::event::Format;
use crate::protobuf_schema::ProtoModel;

/// The file that lists registered schemas.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "schema", default)]
    pub schemas: Vec<ManifestEntry>,
}

/// One registered version of one subject.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub id: u32,
    pub subject: String,
    pub version: u32,
    pub format: Format,
    /// The schema text, relative to the manifest's directory.
    pub file: String,
    /// The CloudEvents type of the subject's events (`ce_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Protobuf: where the message sits in its `.proto` file, as the
    /// framing's message indexes carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_indexes: Option<Vec<i32>>,
}

impl Manifest {
    pub fn from_toml(text: &str) -> Result<Self, RegistryError> {
        Ok(toml::from_str(text)?)
    }

    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        Self::from_toml(&read(path)?)
    }

    /// The newest version of `subject`, if it has any.
    pub fn latest<'a>(&'a self, subject: &'a str) -> Option<&'a ManifestEntry> {
        self.versions(subject).max_by_key(|e| e.version)
    }

    /// Every version of `subject`, in manifest order.
    pub fn versions<'a>(&'a self, subject: &'a str) -> impl Iterator<Item = &'a ManifestEntry> {
        self.schemas.iter().filter(move |e| e.subject == subject)
    }

    /// The id the next registered version gets (it saturates: a manifest
    /// at `u32::MAX` has no next id, and the registry refuses the
    /// duplicate).
    pub fn next_id(&self) -> u32 {
        self.schemas
            .iter()
            .map(|e| e.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1)
    }
}

fn read(path: &Path) -> Result<String, RegistryError> {
    std::fs::read_to_string(path).map_err(|source| RegistryError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// One registered schema version, ready for decoding.
#[derive(Debug)]
pub struct RegisteredSchema {
    pub id: u32,
    pub subject: String,
    pub version: u32,
    pub schema: String,
    /// The CloudEvents type of this subject's events, when registered.
    pub event_type: Option<String>,
    /// Protobuf: the message indexes records of this schema carry.
    pub message_indexes: Option<Vec<i32>>,
    parsed: Parsed,
}

/// A registered schema's text, parsed as its format says.
#[derive(Debug)]
#[non_exhaustive]
pub enum Parsed {
    Protobuf(ProtoModel),
    Avro(apache_avro::Schema),
}

impl Parsed {
    pub fn format(&self) -> Format {
        match self {
            Parsed::Protobuf(_) => Format::Protobuf,
            Parsed::Avro(_) => Format::Avro,
        }
    }
}

impl RegisteredSchema {
    pub fn new(
        id: u32,
        subject: impl Into<String>,
        version: u32,
        format: Format,
        schema: impl Into<String>,
    ) -> Result<Self, RegistryError> {
        let subject = subject.into();
        let schema = schema.into();
        let parsed = match format {
            Format::Avro => Parsed::Avro(apache_avro::Schema::parse_str(&schema).map_err(|e| {
                RegistryError::InvalidAvro {
                    subject: subject.clone(),
                    version,
                    id,
                    reason: e.to_string(),
                }
            })?),
            Format::Protobuf => Parsed::Protobuf(ProtoModel::parse(&schema).map_err(|reason| {
                RegistryError::InvalidProtobuf {
                    subject: subject.clone(),
                    version,
                    id,
                    reason,
                }
            })?),
        };
        Ok(Self {
            id,
            subject,
            version,
            schema,
            event_type: None,
            message_indexes: None,
            parsed,
        })
    }

    /// The same schema, registered for events of type `event_type`.
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// The same schema, whose records carry these message indexes.
    pub fn with_message_indexes(mut self, indexes: impl Into<Vec<i32>>) -> Self {
        self.message_indexes = Some(indexes.into());
        self
    }

    pub fn format(&self) -> Format {
        self.parsed.format()
    }

    /// The schema text, parsed: what decoding and the JSON mapping use.
    pub fn parsed(&self) -> &Parsed {
        &self.parsed
    }
}

/// All registered schemas, looked up by id when records are decoded.
#[derive(Debug, Default)]
pub struct SchemaRegistry {
    by_id: HashMap<u32, RegisteredSchema>,
}

impl SchemaRegistry {
    pub fn new(schemas: impl IntoIterator<Item = RegisteredSchema>) -> Result<Self, RegistryError> {
        let mut by_id: HashMap<u32, RegisteredSchema> = HashMap::new();
        for schema in schemas {
            if let Some(first) = by_id.get(&schema.id) {
                return Err(RegistryError::DuplicateId {
                    id: schema.id,
                    first: format!("{} v{}", first.subject, first.version),
                    second: format!("{} v{}", schema.subject, schema.version),
                });
            }
            if by_id
                .values()
                .any(|s| s.subject == schema.subject && s.version == schema.version)
            {
                return Err(RegistryError::DuplicateVersion {
                    subject: schema.subject,
                    version: schema.version,
                });
            }
            by_id.insert(schema.id, schema);
        }
        Ok(Self { by_id })
    }

    /// Loads a manifest and the schema files it names.
    pub fn load(manifest_path: &Path) -> Result<Self, RegistryError> {
        let manifest = Manifest::load(manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let schemas = manifest
            .schemas
            .into_iter()
            .map(|e| {
                let text = read(&dir.join(&e.file))?;
                let schema = RegisteredSchema::new(e.id, e.subject, e.version, e.format, text)?;
                let schema = match e.event_type {
                    Some(event_type) => schema.with_event_type(event_type),
                    None => schema,
                };
                Ok::<_, RegistryError>(match e.message_indexes {
                    Some(indexes) => schema.with_message_indexes(indexes),
                    None => schema,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(schemas)
    }

    pub fn get(&self, id: u32) -> Option<&RegisteredSchema> {
        self.by_id.get(&id)
    }

    /// The newest version registered for events of `event_type` in
    /// `format`.
    pub fn latest_for_event_type(
        &self,
        event_type: &str,
        format: Format,
    ) -> Option<&RegisteredSchema> {
        self.by_id
            .values()
            .filter(|s| s.format() == format && s.event_type.as_deref() == Some(event_type))
            .max_by_key(|s| s.version)
    }

    /// Every registered schema, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredSchema> {
        let mut all: Vec<_> = self.by_id.values().collect();
        all.sort_by_key(|s| s.id);
        all.into_iter()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry's form of a message with no fields.
    const EMPTY: &str = r#"{"syntax": "proto3", "root": ".t.M", "messages": [{"name": ".t.M", "fields": []}], "enums": []}"#;

    #[test]
    fn ids_and_versions_are_unique() {
        let a = || RegisteredSchema::new(1, "a", 1, Format::Protobuf, EMPTY).expect("valid");
        let b = |id, version| RegisteredSchema::new(id, "b", version, Format::Protobuf, EMPTY);
        assert!(SchemaRegistry::new([a(), b(2, 1).expect("valid")]).is_ok());
        assert!(matches!(
            SchemaRegistry::new([a(), b(1, 1).expect("valid")]),
            Err(RegistryError::DuplicateId { id: 1, .. })
        ));
        assert!(matches!(
            SchemaRegistry::new([b(2, 1).expect("valid"), b(3, 1).expect("valid")]),
            Err(RegistryError::DuplicateVersion { version: 1, .. })
        ));
    }

    #[test]
    fn the_text_is_parsed_as_its_format() {
        let proto = RegisteredSchema::new(1, "a", 1, Format::Protobuf, EMPTY).expect("valid");
        assert!(matches!(proto.parsed(), Parsed::Protobuf(m) if m.root() == ".t.M"));
        assert_eq!(proto.format(), Format::Protobuf);
        let avro = RegisteredSchema::new(2, "b", 1, Format::Avro, r#""string""#).expect("valid");
        assert!(matches!(
            avro.parsed(),
            Parsed::Avro(apache_avro::Schema::String)
        ));
        assert_eq!(avro.format(), Format::Avro);
    }

    #[test]
    fn invalid_avro_is_rejected_with_its_subject() {
        let err = RegisteredSchema::new(7, "x.Y", 2, Format::Avro, "{not json").unwrap_err();
        assert!(err.to_string().contains("x.Y version 2 (id 7)"), "{err}");
    }

    #[test]
    fn manifest_rejects_unknown_keys() {
        let err = Manifest::from_toml(
            "[[schema]]\nid = 1\nsubject = \"a\"\nversion = 1\nformat = \"avro\"\nfile = \"a\"\ncolour = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn invalid_protobuf_schemas_are_refused() {
        for text in [
            "",
            "{}",
            r#"{"syntax": "proto3", "root": ".t.X", "messages": []}"#,
        ] {
            assert!(matches!(
                RegisteredSchema::new(1, "a", 1, Format::Protobuf, text),
                Err(RegistryError::InvalidProtobuf { id: 1, .. })
            ));
        }
    }
}
