//! Generates sluice event types from `.proto` and `.avsc` files.
//!
//! Call it from a `build.rs`:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     sluice_build::Builder::new()
//!         .protos("proto")
//!         .avro("schemas")
//!         .registry("registry/manifest.toml")
//!         .compile()?;
//!     Ok(())
//! }
//! ```
//!
//! and include the result in the crate:
//!
//! ```text
//! include!(concat!(env!("OUT_DIR"), "/sluice_events.rs"));
//! ```
//!
//! This gives a `proto` module (prost types, one module per package), an
//! `avro` module (serde types, one module per namespace), `impl Event` for
//! every message or record marked as an event, and `registry()`, the schema
//! registry built from the manifest.
//!
//! A Protobuf message is an event when it carries the `(sluice.event)`
//! option (import `"sluice/options.proto"`, which the builder provides); an
//! Avro record when it has a `"sluice.event"` attribute:
//!
//! ```text
//! option (sluice.event) = { type: "email.received.v1" key: "email_id" };
//! "sluice.event": {"type": "email.received.v1", "key": "email_id"}
//! ```
//!
//! The build fails when an event's schema is not the newest registered
//! version of its subject, so a record is never written with an id whose
//! schema differs from the one the type was generated from. Register changes
//! with `sluice schema register` (`make schema-register`), which also runs
//! the compatibility gate (see [`gate`]).
//!
//! # Layout
//!
//! - `protobuf`: descriptors from the vendored `protoc`, event options, and
//!   from them the normalized schema the registry keeps
//!   ([`sluice_core::protobuf_schema`], which owns its format).
//! - `avro`: Rust types from `.avsc` files.
//! - [`gate`]: compatibility rules, status of each subject, registration.

mod avro;
mod codegen;
mod error;
pub mod gate;
mod protobuf;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use error::BuildError;
pub use gate::{Registry, Status, SubjectSchema};

use codegen::ModuleTree;

/// The schema sources of a crate: what `protoc` and the Avro parser found.
#[derive(Debug)]
pub struct Sources {
    proto_files: Vec<PathBuf>,
    descriptors: Option<Vec<u8>>,
    proto_events: Vec<protobuf::ProtoEvent>,
    avro: avro::Generated,
}

impl Sources {
    /// Reads every `.proto` under `proto_root` and every `.avsc` under
    /// `avro_dir`; `scratch` receives `protoc`'s output.
    pub fn read(
        proto_root: Option<&Path>,
        avro_dir: Option<&Path>,
        scratch: &Path,
    ) -> Result<Self, BuildError> {
        let mut sources = Sources {
            proto_files: Vec::new(),
            descriptors: None,
            proto_events: Vec::new(),
            avro: avro::Generated::default(),
        };
        if let Some(root) = proto_root {
            sources.proto_files = protobuf::find_protos(root)?;
            if !sources.proto_files.is_empty() {
                let bytes = protobuf::descriptors(root, &sources.proto_files, scratch)?;
                sources.proto_events = protobuf::events(&bytes, &sources.proto_files)?;
                sources.descriptors = Some(bytes);
            }
        }
        if let Some(dir) = avro_dir {
            for file in avro::find_schemas(dir)? {
                sources.avro.add_file(&file)?;
            }
        }
        Ok(sources)
    }

    /// The current schema of every event subject.
    pub fn schemas(&self) -> Vec<SubjectSchema> {
        let proto = self
            .proto_events
            .iter()
            .map(|e| SubjectSchema::proto(&e.schema, &e.event_type, &e.message_indexes));
        let avro = self
            .avro
            .events
            .iter()
            .map(|e| SubjectSchema::avro(&e.subject, &e.event_type, &e.text));
        proto.chain(avro).collect()
    }
}

/// Configures and runs code generation; see the crate docs.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    proto_root: Option<PathBuf>,
    avro_dir: Option<PathBuf>,
    registry: Option<PathBuf>,
    out_dir: Option<PathBuf>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Generate from every `.proto` file under `root`; imports resolve
    /// relative to it.
    pub fn protos(mut self, root: impl Into<PathBuf>) -> Self {
        self.proto_root = Some(root.into());
        self
    }

    /// Generate from every `.avsc` file under `dir`.
    pub fn avro(mut self, dir: impl Into<PathBuf>) -> Self {
        self.avro_dir = Some(dir.into());
        self
    }

    /// The registry manifest that assigns schema ids.
    pub fn registry(mut self, manifest: impl Into<PathBuf>) -> Self {
        self.registry = Some(manifest.into());
        self
    }

    /// Where to write; `OUT_DIR` by default.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Generates `sluice_events.rs` in the output directory.
    pub fn compile(self) -> Result<(), BuildError> {
        let out_dir = match self.out_dir {
            Some(dir) => dir,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    BuildError::ProstBuild(
                        "OUT_DIR is not set; call from build.rs or set out_dir".into(),
                    )
                })?,
        };
        let out_dir = std::path::absolute(&out_dir).map_err(|source| BuildError::Write {
            path: out_dir.clone(),
            source,
        })?;
        let manifest_path = self
            .registry
            .unwrap_or_else(|| PathBuf::from("registry/manifest.toml"));
        for watched in [&self.proto_root, &self.avro_dir].into_iter().flatten() {
            println!("cargo:rerun-if-changed={}", watched.display());
        }
        if let Some(dir) = manifest_path.parent() {
            println!("cargo:rerun-if-changed={}", dir.display());
        }

        let scratch = out_dir.join("sluice-build");
        let sources = Sources::read(
            self.proto_root.as_deref(),
            self.avro_dir.as_deref(),
            &scratch,
        )?;
        let registry = Registry::load(&manifest_path)?;
        // The gate decides: every subject registered and up to date, every
        // history compatible. The ids written into the code come from it.
        let ids: HashMap<String, u32> = registry
            .check(&sources.schemas())?
            .into_iter()
            .filter_map(|(subject, status)| match status {
                Status::Registered { id, .. } => Some((subject, id)),
                _ => None,
            })
            .collect();

        let mut proto_tree = ModuleTree::default();
        if let Some(bytes) = &sources.descriptors {
            let proto_out = scratch.join("proto");
            std::fs::create_dir_all(&proto_out).map_err(|source| BuildError::Write {
                path: proto_out.clone(),
                source,
            })?;
            let set = prost::Message::decode(bytes.as_slice())
                .map_err(|e| BuildError::Protoc(format!("unreadable descriptor set: {e}")))?;
            let wanted = protobuf::requested(&set, &sources.proto_files);
            let mut packages: Vec<String> =
                wanted.file.iter().map(|f| f.package().to_owned()).collect();
            packages.sort();
            packages.dedup();
            prost_build::Config::new()
                .out_dir(&proto_out)
                .prost_path("::sluice_core::__private::prost")
                .compile_fds(wanted)
                .map_err(|e| BuildError::ProstBuild(e.to_string()))?;
            for package in packages {
                let file = if package.is_empty() {
                    "_".to_owned()
                } else {
                    package.clone()
                };
                let path = proto_out.join(format!("{file}.rs"));
                let mut item = format!("include!({:?});\n", path.display().to_string());
                let events: Vec<_> = sources
                    .proto_events
                    .iter()
                    .filter(|e| e.package == package)
                    .collect();
                item.push_str(&protobuf::event_impls(&events, &ids));
                proto_tree.add(&package, item);
            }
            let descriptors = scratch.join("descriptors.bin");
            proto_tree.add(
                "",
                format!(
                    "/// The encoded `FileDescriptorSet` of these files and their imports.\n\
                     pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!({:?});\n",
                    descriptors.display().to_string()
                ),
            );
        }
        let mut avro_tree = sources.avro.modules;
        for event in &sources.avro.events {
            let id = ids.get(&event.subject).copied().unwrap_or_default();
            avro_tree.add(&event.namespace, avro::event_impl(event, id));
        }

        let mut out = String::from(
            "// @generated by sluice-build from the crate's schemas. Do not edit.\n\n",
        );
        for (name, tree) in [("proto", &proto_tree), ("avro", &avro_tree)] {
            out.push_str(&format!(
                "#[allow(warnings, clippy::all, clippy::pedantic, unreachable_pub, missing_debug_implementations)]\npub mod {name} {{\n"
            ));
            tree.render(&mut out);
            out.push_str("}\n\n");
        }
        out.push_str(&registry_fn(&registry)?);
        write_if_changed(&out_dir.join("sluice_events.rs"), &out)
    }
}

/// `registry()`: every manifest entry, embedded.
fn registry_fn(registry: &Registry) -> Result<String, BuildError> {
    let dir = registry.path().parent().unwrap_or(Path::new("."));
    let mut entries = String::new();
    for entry in &registry.manifest().schemas {
        let path = dir.join(&entry.file);
        let text =
            std::fs::read_to_string(&path).map_err(|source| BuildError::Read { path, source })?;
        let format = match entry.format {
            sluice_core::Format::Avro => "Avro",
            _ => "Protobuf",
        };
        let mut event_type = match &entry.event_type {
            Some(t) => format!(".map(|s| s.with_event_type({t:?}))"),
            None => String::new(),
        };
        if let Some(indexes) = &entry.message_indexes {
            event_type.push_str(&format!(".map(|s| s.with_message_indexes({indexes:?}))"));
        }
        entries.push_str(&format!(
            "            ::sluice_core::RegisteredSchema::new({}, {:?}, {}, ::sluice_core::Format::{format}, {:?}){event_type},\n",
            entry.id, entry.subject, entry.version, text
        ));
    }
    Ok(format!(
        r#"/// The schema registry these types were generated against: every
/// registered version of every subject, for decoding records by schema id.
/// Borrow it for a decoder; clone the `Arc` for what keeps it (handlers,
/// bridges).
pub fn registry() -> &'static ::std::sync::Arc<::sluice_core::SchemaRegistry> {{
    static REGISTRY: ::std::sync::LazyLock<::std::sync::Arc<::sluice_core::SchemaRegistry>> =
        ::std::sync::LazyLock::new(|| {{
            let schemas: ::std::result::Result<::std::vec::Vec<_>, _> = [
{entries}            ]
            .into_iter()
            .collect();
            schemas
                .and_then(::sluice_core::SchemaRegistry::new)
                .map(::std::sync::Arc::new)
                .expect("the manifest was validated at build time")
        }});
    &REGISTRY
}}
"#
    ))
}

/// Calls `visit` for every file below `dir`.
pub(crate) fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) -> Result<(), BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|source| BuildError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let path = entry
            .map_err(|source| BuildError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.is_dir() {
            walk(&path, visit)?;
        } else {
            visit(&path);
        }
    }
    Ok(())
}

/// Writes `contents` unless the file already holds them, so that an
/// unchanged build does not touch timestamps and trigger rebuilds.
pub(crate) fn write_if_changed(path: &Path, contents: &str) -> Result<(), BuildError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    let write = || {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)
    };
    write().map_err(|source| BuildError::Write {
        path: path.to_path_buf(),
        source,
    })
}
