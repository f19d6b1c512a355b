//! The compatibility gate accepts compatible changes and refuses breaking
//! ones, for both formats.

use std::fs;
use std::path::Path;

use sluice_build::{BuildError, Registry, Sources, Status};

const EVENT_TYPE: &str = "order.placed.v1";
const PROTO_V1: &str = r#"
syntax = "proto3";
package shop.v1;
import "sluice/options.proto";
message OrderPlaced {
  option (sluice.event) = { type: "order.placed.v1" key: "order_id" };
  string order_id = 1;
  uint64 amount_cents = 2;
  repeated string items = 3;
}
"#;

const AVRO_V1: &str = r#"{
  "type": "record", "name": "OrderPlaced", "namespace": "shop.avro.v1",
  "sluice.event": {"type": "order.placed.v1", "key": "order_id"},
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "amount_cents", "type": "long"}
  ]
}"#;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let project = Self {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        project.write_proto(PROTO_V1);
        project.write_avro(AVRO_V1);
        project
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write_proto(&self, text: &str) {
        let path = self.root().join("proto/shop/v1/order.proto");
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write proto");
    }

    fn write_avro(&self, text: &str) {
        let path = self.root().join("schemas/order.avsc");
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write avsc");
    }

    fn registry(&self) -> Registry {
        Registry::load(&self.root().join("registry/manifest.toml")).expect("manifest")
    }

    fn schemas(&self) -> Vec<sluice_build::SubjectSchema> {
        let scratch = self.root().join("scratch");
        Sources::read(
            Some(&self.root().join("proto")),
            Some(&self.root().join("schemas")),
            &scratch,
        )
        .expect("sources")
        .schemas()
    }

    fn check(&self) -> Result<Vec<(String, Status)>, BuildError> {
        self.registry().check(&self.schemas())
    }

    fn register(&self) -> Result<usize, BuildError> {
        self.registry()
            .register(&self.schemas())
            .map(|added| added.len())
    }
}

fn incompatible(result: Result<impl std::fmt::Debug, BuildError>, expect: &str) {
    match result {
        Err(BuildError::Incompatible(msg)) => assert!(msg.contains(expect), "{msg}"),
        other => panic!("expected an incompatibility mentioning {expect:?}, got {other:?}"),
    }
}

#[test]
fn new_subjects_must_be_registered() {
    let project = Project::new();
    assert!(matches!(project.check(), Err(BuildError::Unregistered(_))));
    assert_eq!(project.register().expect("register"), 2);
    let statuses = project.check().expect("registered");
    assert_eq!(
        statuses,
        vec![
            (
                "shop.v1.OrderPlaced".to_owned(),
                Status::Registered { version: 1, id: 1 }
            ),
            (
                "shop.avro.v1.OrderPlaced".to_owned(),
                Status::Registered { version: 1, id: 2 }
            ),
        ]
    );
    assert_eq!(project.register().expect("nothing new"), 0);
    let manifest = project.registry().manifest().clone();
    let types: Vec<_> = manifest
        .schemas
        .iter()
        .map(|e| e.event_type.as_deref())
        .collect();
    assert_eq!(
        types,
        [Some(EVENT_TYPE), Some(EVENT_TYPE)],
        "the event types are recorded"
    );
}

#[test]
fn compatible_changes_become_new_versions() {
    let project = Project::new();
    project.register().expect("register v1");
    project.write_proto(&PROTO_V1.replace(
        "repeated string items = 3;",
        "repeated string items = 3;\n  string coupon = 4;",
    ));
    project.write_avro(&AVRO_V1.replace(
        r#"{"name": "amount_cents", "type": "long"}"#,
        r#"{"name": "amount_cents", "type": "long"}, {"name": "coupon", "type": ["null", "string"], "default": null}"#,
    ));
    assert!(matches!(project.check(), Err(BuildError::Unregistered(m)) if m.contains("version 2")));
    assert_eq!(project.register().expect("register v2"), 2);
    let statuses = project.check().expect("registered");
    assert!(
        statuses
            .iter()
            .all(|(_, s)| matches!(s, Status::Registered { version: 2, .. }))
    );
}

#[test]
fn comments_and_docs_are_not_changes() {
    let project = Project::new();
    project.register().expect("register v1");
    project.write_proto(
        &PROTO_V1.replace("message OrderPlaced {", "// Placed.\nmessage OrderPlaced {"),
    );
    project.write_avro(&AVRO_V1.replace(
        r#""type": "record","#,
        r#""type": "record", "doc": "Placed.","#,
    ));
    project.check().expect("still version 1");
}

#[test]
fn retyped_proto_field_is_refused() {
    let project = Project::new();
    project.register().expect("register v1");
    project.write_proto(&PROTO_V1.replace("uint64 amount_cents = 2;", "string amount_cents = 2;"));
    incompatible(project.check(), "changed type from uint64 to string");
    incompatible(project.register(), "changed type from uint64 to string");
    assert_eq!(
        project.registry().manifest().schemas.len(),
        2,
        "nothing registered"
    );
}

#[test]
fn reused_proto_field_number_is_refused_even_after_a_removal() {
    let project = Project::new();
    project.register().expect("register v1");
    // v2 removes `items` (allowed), v3 reuses its number (refused against v1).
    project.write_proto(&PROTO_V1.replace("repeated string items = 3;", ""));
    project.register().expect("removal is compatible");
    project
        .write_proto(&PROTO_V1.replace("repeated string items = 3;", "repeated string tags = 3;"));
    incompatible(
        project.check(),
        "field number 3 was `items` and is reused as `tags`",
    );
}

#[test]
fn proto_cardinality_change_is_refused() {
    let project = Project::new();
    project.register().expect("register v1");
    project.write_proto(&PROTO_V1.replace("repeated string items = 3;", "string items = 3;"));
    incompatible(project.check(), "changed from repeated to optional");
}

#[test]
fn avro_field_without_default_is_refused() {
    let project = Project::new();
    project.register().expect("register v1");
    project.write_avro(&AVRO_V1.replace(
        r#"{"name": "amount_cents", "type": "long"}"#,
        r#"{"name": "amount_cents", "type": "long"}, {"name": "coupon", "type": "string"}"#,
    ));
    incompatible(project.check(), "coupon");
}

#[test]
fn avro_type_change_is_refused() {
    let project = Project::new();
    project.register().expect("register v1");
    project.write_avro(&AVRO_V1.replace(
        r#"{"name": "amount_cents", "type": "long"}"#,
        r#"{"name": "amount_cents", "type": "string"}"#,
    ));
    incompatible(project.check(), "against version 1");
}

#[test]
fn builder_generates_event_impls_for_a_foreign_project() {
    let project = Project::new();
    project.register().expect("register v1");
    let out = project.root().join("out");
    sluice_build::Builder::new()
        .protos(project.root().join("proto"))
        .avro(project.root().join("schemas"))
        .registry(project.root().join("registry/manifest.toml"))
        .out_dir(&out)
        .compile()
        .expect("generates");
    let code = fs::read_to_string(out.join("sluice_events.rs")).expect("generated file");
    assert!(code.contains("impl ::sluice_core::Event for OrderPlaced"));
    assert!(code.contains("const SCHEMA_ID: u32 = 1;"));
    assert!(code.contains("const SCHEMA_ID: u32 = 2;"));
    assert!(code.contains("pub mod shop"));
}

#[test]
fn builder_refuses_unregistered_schemas() {
    let project = Project::new();
    let result = sluice_build::Builder::new()
        .protos(project.root().join("proto"))
        .registry(project.root().join("registry/manifest.toml"))
        .out_dir(project.root().join("out"))
        .compile();
    assert!(
        matches!(result, Err(BuildError::Unregistered(m)) if m.contains("shop.v1.OrderPlaced: not registered"))
    );
}

#[test]
fn bad_event_options_are_explained() {
    let project = Project::new();
    project.write_proto(&PROTO_V1.replace("key: \"order_id\"", "key: \"amount_cents\""));
    let err = Sources::read(
        Some(&project.root().join("proto")),
        None,
        &project.root().join("s"),
    )
    .expect_err("a numeric key is refused");
    assert!(
        err.to_string().contains("the key must be a string"),
        "{err}"
    );
    project.write_proto(&PROTO_V1.replace("key: \"order_id\"", "key: \"missing\""));
    let err = Sources::read(
        Some(&project.root().join("proto")),
        None,
        &project.root().join("s"),
    )
    .expect_err("an unknown key is refused");
    assert!(err.to_string().contains("no field \"missing\""), "{err}");
}

#[test]
fn map_entries_are_recorded_from_the_descriptor() {
    let project = Project::new();
    // `LabelsEntry` is protoc's entry of the map; `PairEntry` only looks
    // like one.
    project.write_proto(&PROTO_V1.replace(
        "repeated string items = 3;",
        "repeated string items = 3;\n  map<string, string> labels = 4;\n  repeated PairEntry pairs = 5;\n}\nmessage PairEntry {\n  string key = 1;\n  string value = 2;",
    ));
    project.register().expect("register v1");
    let text = fs::read_to_string(project.root().join("registry/shop.v1.OrderPlaced/v1.json"))
        .expect("registered schema");
    let schema = sluice_core::protobuf_schema::ProtoSchema::from_json(&text).expect("parses");
    let flags: Vec<_> = schema
        .messages
        .iter()
        .map(|m| (m.name.as_str(), m.map_entry))
        .collect();
    assert_eq!(
        flags,
        [
            (".shop.v1.OrderPlaced", Some(false)),
            (".shop.v1.OrderPlaced.LabelsEntry", Some(true)),
            (".shop.v1.PairEntry", Some(false)),
        ]
    );

    // A version registered before the flag was recorded is the same
    // version.
    let unflagged = text
        .lines()
        .filter(|l| !l.contains("\"map_entry\""))
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(
        project.root().join("registry/shop.v1.OrderPlaced/v1.json"),
        unflagged,
    )
    .expect("rewrite");
    project.check().expect("still version 1");
}
