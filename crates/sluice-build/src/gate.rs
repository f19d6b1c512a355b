//! The schema compatibility gate and registration.
//!
//! Every event subject found in the sources must match the newest version
//! registered in the manifest, and every version must be backward compatible
//! with all versions before it (Confluent's `BACKWARD_TRANSITIVE`): a
//! consumer built from the newest schema reads every record ever written.
//!
//! - Avro: the new schema must be able to read data written with each old
//!   one, by Avro's schema resolution rules.
//! - Protobuf: a field number keeps its name, type and cardinality for ever
//!   (no reuse, no retyping), and required fields are neither added nor
//!   removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sluice_core::Format;
use sluice_core::protobuf_schema::{ProtoKind, ProtoLabel, ProtoSchema};
use sluice_core::registry::{Manifest, ManifestEntry};

use crate::BuildError;

/// The current schema of one subject, as read from the sources.
#[derive(Debug, Clone)]
pub struct SubjectSchema {
    pub subject: String,
    pub format: Format,
    /// The CloudEvents type of the subject's events.
    pub event_type: String,
    /// Protobuf: the message's indexes in its file.
    pub message_indexes: Option<Vec<i32>>,
    /// The text the registry stores for this version.
    pub text: String,
}

impl SubjectSchema {
    pub(crate) fn proto(schema: &ProtoSchema, event_type: &str, message_indexes: &[i32]) -> Self {
        Self {
            subject: schema.root.trim_start_matches('.').to_owned(),
            format: Format::Protobuf,
            event_type: event_type.to_owned(),
            message_indexes: Some(message_indexes.to_vec()),
            text: schema.to_json(),
        }
    }

    pub(crate) fn avro(subject: &str, event_type: &str, text: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            format: Format::Avro,
            event_type: event_type.to_owned(),
            message_indexes: None,
            text: text.to_owned(),
        }
    }

    fn extension(&self) -> &'static str {
        match self.format {
            Format::Avro => "avsc",
            _ => "json",
        }
    }

    /// Whether `registered` is the same schema (layout and docs aside).
    fn same_as(&self, registered: &str) -> Result<bool, String> {
        match self.format {
            Format::Avro => {
                Ok(crate::avro::normalized(&self.text)? == crate::avro::normalized(registered)?)
            }
            _ => Ok(same_proto(
                &parse_proto(&self.text)?,
                &parse_proto(registered)?,
            )),
        }
    }
}

fn parse_proto(text: &str) -> Result<ProtoSchema, String> {
    ProtoSchema::from_json(text).map_err(|e| format!("not a registered Protobuf schema: {e}"))
}

/// Whether two Protobuf schemas are the same version. A message's
/// `map_entry` flag counts only where both record it: versions registered
/// before the flag was recorded lack it, and it does not change the wire
/// format.
fn same_proto(a: &ProtoSchema, b: &ProtoSchema) -> bool {
    let messages_match = a.messages.len() == b.messages.len()
        && a.messages.iter().zip(&b.messages).all(|(m, n)| {
            let flags_match = match (m.map_entry, n.map_entry) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            };
            m.name == n.name && m.fields == n.fields && flags_match
        });
    a.syntax == b.syntax && a.root == b.root && a.enums == b.enums && messages_match
}

/// Why `new` cannot read data written with `old`; empty when it can.
pub fn incompatibilities(format: Format, old: &str, new: &str) -> Result<Vec<String>, String> {
    match format {
        Format::Avro => {
            let old = apache_avro::Schema::parse_str(old).map_err(|e| e.to_string())?;
            let new = apache_avro::Schema::parse_str(new).map_err(|e| e.to_string())?;
            Ok(
                apache_avro::schema_compatibility::SchemaCompatibility::can_read(&old, &new)
                    .err()
                    .map(|e| e.to_string())
                    .into_iter()
                    .collect(),
            )
        }
        _ => Ok(proto_incompatibilities(
            &parse_proto(old)?,
            &parse_proto(new)?,
        )),
    }
}

fn proto_incompatibilities(old: &ProtoSchema, new: &ProtoSchema) -> Vec<String> {
    let mut problems = Vec::new();
    if old.root != new.root {
        problems.push(format!(
            "root message changed from {} to {}",
            old.root, new.root
        ));
    }
    let new_messages: HashMap<&str, _> =
        new.messages.iter().map(|m| (m.name.as_str(), m)).collect();
    for old_message in &old.messages {
        let Some(new_message) = new_messages.get(old_message.name.as_str()) else {
            continue;
        };
        let m = &old_message.name;
        for old_field in &old_message.fields {
            let n = old_field.number;
            match new_message.fields.iter().find(|f| f.number == n) {
                None if old_field.label == ProtoLabel::Required => problems.push(format!(
                    "{m}: required field {n} `{}` was removed",
                    old_field.name
                )),
                None => {}
                Some(new_field) => {
                    if new_field.name != old_field.name {
                        problems.push(format!(
                            "{m}: field number {n} was `{}` and is reused as `{}`; reserve it and use a new number",
                            old_field.name, new_field.name
                        ));
                    }
                    if (new_field.kind, &new_field.type_name)
                        != (old_field.kind, &old_field.type_name)
                    {
                        problems.push(format!(
                            "{m}: field {n} `{}` changed type from {} to {}",
                            old_field.name,
                            describe(old_field.kind, &old_field.type_name),
                            describe(new_field.kind, &new_field.type_name)
                        ));
                    }
                    if new_field.label != old_field.label {
                        problems.push(format!(
                            "{m}: field {n} `{}` changed from {} to {}",
                            old_field.name, old_field.label, new_field.label
                        ));
                    }
                }
            }
        }
        for new_field in &new_message.fields {
            let added = !old_message
                .fields
                .iter()
                .any(|f| f.number == new_field.number);
            if added && new_field.label == ProtoLabel::Required {
                problems.push(format!(
                    "{m}: new field {} `{}` is required; old records do not have it",
                    new_field.number, new_field.name
                ));
            }
        }
    }
    for old_enum in &old.enums {
        let Some(new_enum) = new.enums.iter().find(|e| e.name == old_enum.name) else {
            continue;
        };
        for (name, number) in &old_enum.values {
            if let Some((new_name, _)) = new_enum
                .values
                .iter()
                .find(|(n, v)| *v == number && *n != name)
            {
                problems.push(format!(
                    "{}: enum value {number} was {name} and is reused as {new_name}",
                    old_enum.name
                ));
            }
        }
    }
    problems
}

fn describe(kind: ProtoKind, type_name: &Option<String>) -> String {
    match type_name {
        Some(t) => format!("{kind} {t}"),
        None => kind.to_string(),
    }
}

/// What the gate found for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The sources match version `version` (schema id `id`).
    Registered { version: u32, id: u32 },
    /// The subject has no registered version yet.
    New,
    /// The sources differ from the newest version and can read every older
    /// version: registering makes version `next`.
    Changed { next: u32 },
    /// The sources differ from the newest version and cannot read data of
    /// some older version.
    Incompatible { problems: Vec<String> },
}

/// A manifest file and the directory its schema files live in.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    manifest: Manifest,
}

impl Registry {
    pub fn load(path: &Path) -> Result<Self, BuildError> {
        let manifest = if path.exists() {
            Manifest::load(path)?
        } else {
            Manifest::default()
        };
        Ok(Self {
            path: path.to_path_buf(),
            manifest,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn text(&self, entry: &ManifestEntry) -> Result<String, BuildError> {
        let path = self.dir().join(&entry.file);
        std::fs::read_to_string(&path).map_err(|source| BuildError::Read { path, source })
    }

    /// Checks `schema` against every registered version of its subject.
    pub fn status(&self, schema: &SubjectSchema) -> Result<Status, BuildError> {
        let mut versions: Vec<&ManifestEntry> = self.manifest.versions(&schema.subject).collect();
        versions.sort_by_key(|e| e.version);
        let Some(latest) = versions.last() else {
            return Ok(Status::New);
        };
        let invalid = |reason: String| BuildError::Event {
            subject: schema.subject.clone(),
            reason,
        };
        if latest.format != schema.format {
            return Ok(Status::Incompatible {
                problems: vec![format!(
                    "registered as {}, defined as {}",
                    latest.format, schema.format
                )],
            });
        }
        if schema.same_as(&self.text(latest)?).map_err(invalid)? {
            return Ok(Status::Registered {
                version: latest.version,
                id: latest.id,
            });
        }
        let mut problems = Vec::new();
        for entry in &versions {
            for problem in incompatibilities(schema.format, &self.text(entry)?, &schema.text)
                .map_err(invalid)?
            {
                problems.push(format!("against version {}: {problem}", entry.version));
            }
        }
        Ok(if problems.is_empty() {
            Status::Changed {
                next: latest.version.saturating_add(1),
            }
        } else {
            Status::Incompatible { problems }
        })
    }

    /// Checks that the registered history itself is compatible: each version
    /// reads every earlier one.
    pub fn history_problems(&self) -> Result<Vec<String>, BuildError> {
        let mut by_subject: HashMap<&str, Vec<&ManifestEntry>> = HashMap::new();
        for entry in &self.manifest.schemas {
            by_subject
                .entry(entry.subject.as_str())
                .or_default()
                .push(entry);
        }
        let mut problems = Vec::new();
        for (subject, mut versions) in by_subject {
            versions.sort_by_key(|e| e.version);
            for (i, newer) in versions.iter().enumerate() {
                let new_text = self.text(newer)?;
                for older in &versions[..i] {
                    let found = incompatibilities(newer.format, &self.text(older)?, &new_text)
                        .map_err(|reason| BuildError::Event {
                            subject: subject.to_owned(),
                            reason,
                        })?;
                    problems.extend(found.into_iter().map(|p| {
                        format!(
                            "{subject} v{} against v{}: {p}",
                            newer.version, older.version
                        )
                    }));
                }
            }
        }
        problems.sort();
        Ok(problems)
    }

    /// Registers every new or changed schema as a new version; refuses all of
    /// them if any is incompatible. Returns the new entries.
    pub fn register(
        &mut self,
        schemas: &[SubjectSchema],
    ) -> Result<Vec<ManifestEntry>, BuildError> {
        let mut added = Vec::new();
        let mut refused = Vec::new();
        let mut pending = Vec::new();
        for schema in schemas {
            match self.status(schema)? {
                Status::Registered { .. } => {}
                Status::New => pending.push((schema, 1)),
                Status::Changed { next } => pending.push((schema, next)),
                Status::Incompatible { problems } => refused.extend(
                    problems
                        .into_iter()
                        .map(|p| format!("{}: {p}", schema.subject)),
                ),
            }
        }
        if !refused.is_empty() {
            return Err(BuildError::Incompatible(refused.join("\n")));
        }
        for (schema, version) in pending {
            let file = format!("{}/v{version}.{}", schema.subject, schema.extension());
            let path = self.dir().join(&file);
            crate::write_if_changed(&path, &schema.text)?;
            let entry = ManifestEntry {
                id: self.manifest.next_id(),
                subject: schema.subject.clone(),
                version,
                format: schema.format,
                file,
                event_type: Some(schema.event_type.clone()),
                message_indexes: schema.message_indexes.clone(),
            };
            self.manifest.schemas.push(entry.clone());
            added.push(entry);
        }
        if !added.is_empty() {
            let text = toml::to_string_pretty(&self.manifest)
                .map_err(|e| BuildError::Unregistered(format!("cannot write the manifest: {e}")))?;
            crate::write_if_changed(&self.path, &format!("{MANIFEST_HEADER}{text}"))?;
        }
        Ok(added)
    }

    /// The gate: every subject registered and up to date, every history
    /// compatible.
    pub fn check(&self, schemas: &[SubjectSchema]) -> Result<Vec<(String, Status)>, BuildError> {
        let mut statuses = Vec::new();
        let mut incompatible = self.history_problems()?;
        let mut unregistered = Vec::new();
        for schema in schemas {
            let status = self.status(schema)?;
            match &status {
                Status::Registered { .. } => {}
                Status::New => unregistered.push(format!("{}: not registered", schema.subject)),
                Status::Changed { next } => unregistered.push(format!(
                    "{}: changed and compatible; register it as version {next}",
                    schema.subject
                )),
                Status::Incompatible { problems } => {
                    incompatible.extend(problems.iter().map(|p| format!("{}: {p}", schema.subject)))
                }
            }
            statuses.push((schema.subject.clone(), status));
        }
        if !incompatible.is_empty() {
            return Err(BuildError::Incompatible(incompatible.join("\n")));
        }
        if !unregistered.is_empty() {
            return Err(BuildError::Unregistered(format!(
                "{}\nrun `make schema-register` to register them",
                unregistered.join("\n")
            )));
        }
        Ok(statuses)
    }
}

const MANIFEST_HEADER: &str = "\
# The schema registry: every registered version of every subject.
# Written by `make schema-register`; ids are never reused or changed.

";
