//! Records rendered as JSON from their registered schema, without the
//! generated types.

use proptest::prelude::*;
use serde_json::json;
use sluice_core::{DecodeError, Decoder, Encoder};
use sluice_events::registry;
use sluice_events::samples::{self, Seed};

fn to_json(value: &[u8]) -> Result<serde_json::Value, DecodeError> {
    Decoder::new(registry()).to_json(value)
}

#[test]
fn protobuf_follows_the_proto3_json_mapping() {
    let event = samples::proto_email_received(&Seed::default());
    let value = Encoder::new().encode(&event).unwrap();
    assert_eq!(
        to_json(&value).unwrap(),
        json!({
            "metadata": {
                "eventId": "evt-1",
                "tenantId": "tenant-1",
                "correlationId": "corr-email-1",
                "causationId": "cause-1",
                "occurredAtMs": "1764000000000",
                "schemaVersion": 1
            },
            "emailId": "email-1",
            "mailboxId": "inbox",
            "from": "alice@example.com",
            "to": ["bob@example.com", "carol@example.com"],
            "subject": "Quarterly report",
            "sizeBytes": "48213",
            "attachments": [
                {
                    "filename": "report.pdf",
                    "contentType": "application/pdf",
                    "sizeBytes": "40000",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                },
                {
                    "filename": "logo.png",
                    "contentType": "image/png",
                    "sizeBytes": "2048",
                    "sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
                }
            ],
            "headers": {"x-spam": "no", "list-id": "ops"}
        })
    );
}

#[test]
fn protobuf_enums_render_by_name_and_defaults_are_left_out() {
    let event = samples::proto_email_validated(&Seed::default());
    let value = Encoder::new().encode(&event).unwrap();
    let rendered = to_json(&value).unwrap();
    assert_eq!(rendered["verdict"], "VERDICT_SPAM");
    assert_eq!(rendered["spamScore"], 7.25);
    // `detail` is empty in the first check: proto3 does not write it.
    assert_eq!(
        rendered["checks"],
        json!([
            {"name": "spf", "passed": true},
            {"name": "dkim", "detail": "signature mismatch"}
        ])
    );
}

#[test]
fn avro_renders_as_plain_json() {
    let event = samples::avro_email_validated(&Seed::default());
    let value = Encoder::new().encode(&event).unwrap();
    let rendered = to_json(&value).unwrap();
    assert_eq!(rendered["email_id"], "email-1");
    assert_eq!(rendered["verdict"], "VERDICT_SPAM");
    assert_eq!(
        rendered["metadata"]["occurred_at_ms"],
        1_764_000_000_000_i64
    );

    let event = samples::avro_email_received(&Seed::default());
    let value = Encoder::new().encode(&event).unwrap();
    let rendered = to_json(&value).unwrap();
    assert_eq!(rendered["size_bytes"], 48_213);
    assert_eq!(
        rendered["headers"],
        json!({"x-spam": "no", "list-id": "ops"})
    );
    assert_eq!(rendered["attachments"][1]["filename"], "logo.png");
}

#[test]
fn bad_bytes_are_typed_errors() {
    let event = samples::proto_email_received(&Seed::default());
    let value = Encoder::new().encode(&event).unwrap();

    let mut unknown = value.clone();
    unknown[1..5].copy_from_slice(&999_u32.to_be_bytes());
    assert!(matches!(
        to_json(&unknown),
        Err(DecodeError::UnknownSchemaId { id: 999 })
    ));

    let truncated = &value[..value.len() - 3];
    let error = to_json(truncated).unwrap_err();
    assert_eq!(error.class(), "malformed_payload", "{error}");

    let mut wrong = value.clone();
    wrong[0] = 7;
    assert_eq!(to_json(&wrong).unwrap_err().class(), "wrong_magic_byte");

    // Message indexes that name another message of the file: refused, not
    // rendered as the registered message.
    let (_, message) = sluice_core::wire::read_message_indexes(&value[5..]).unwrap();
    for indexes in [&[3][..], &[0, 1]] {
        let mut other = value[..5].to_vec();
        sluice_core::wire::write_message_indexes(indexes, &mut other);
        other.extend_from_slice(message);
        let error = to_json(&other).unwrap_err();
        assert!(
            matches!(error, DecodeError::TypeMismatch { .. }),
            "{indexes:?}: {error}"
        );
    }

    let avro = Encoder::new()
        .encode(&samples::avro_email_received(&Seed::default()))
        .unwrap();
    let error = to_json(&avro[..avro.len() - 1]).unwrap_err();
    assert_eq!(error.class(), "malformed_payload", "{error}");
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(id in 1_u32..=10, body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut value = vec![0];
        value.extend_from_slice(&id.to_be_bytes());
        value.extend_from_slice(&body);
        let _ = to_json(&value);
    }
}

#[test]
fn the_registry_knows_each_subjects_event_type() {
    use sluice_core::{Event, Format};
    use sluice_events::{avro, proto};
    let registry = registry();
    let found = registry
        .latest_for_event_type(proto::EmailReceived::EVENT_TYPE, Format::Protobuf)
        .expect("registered");
    assert_eq!(found.id, proto::EmailReceived::SCHEMA_ID);
    assert_eq!(
        found.message_indexes.as_deref(),
        Some(<proto::EmailReceived as sluice_core::codec::ProtobufMessage>::MESSAGE_INDEXES)
    );
    let found = registry
        .latest_for_event_type(avro::EmailValidated::EVENT_TYPE, Format::Avro)
        .expect("registered");
    assert_eq!(found.id, avro::EmailValidated::SCHEMA_ID);
    assert!(
        registry
            .latest_for_event_type("email.unknown.v1", Format::Avro)
            .is_none()
    );
    // The manifest file says the same as the generated registry.
    let loaded = sluice_core::SchemaRegistry::load(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry/manifest.toml").as_ref(),
    )
    .unwrap();
    for schema in registry.iter() {
        assert_eq!(
            loaded.get(schema.id).unwrap().event_type,
            schema.event_type,
            "{}",
            schema.subject
        );
        assert!(schema.event_type.is_some(), "{}", schema.subject);
        assert_eq!(
            loaded.get(schema.id).unwrap().message_indexes,
            schema.message_indexes
        );
    }
}

#[test]
fn json_encodes_back_to_the_same_event() {
    use sluice_core::Event;
    use sluice_events::{avro, proto};
    let decoder = Decoder::new(registry());
    let seed = Seed::default();

    let event = samples::proto_email_received(&seed);
    let rendered = to_json(&Encoder::new().encode(&event).unwrap()).unwrap();
    let schema = registry().get(proto::EmailReceived::SCHEMA_ID).unwrap();
    let value = Encoder::new().encode_json(schema, &rendered).unwrap();
    assert_eq!(
        decoder.decode::<proto::EmailReceived>(&value).unwrap(),
        event
    );

    let event = samples::proto_email_validated(&seed);
    let rendered = to_json(&Encoder::new().encode(&event).unwrap()).unwrap();
    let schema = registry().get(proto::EmailValidated::SCHEMA_ID).unwrap();
    let value = Encoder::new().encode_json(schema, &rendered).unwrap();
    assert_eq!(
        decoder.decode::<proto::EmailValidated>(&value).unwrap(),
        event
    );

    // Proto field names work as well as JSON names.
    let schema = registry().get(proto::EmailReceived::SCHEMA_ID).unwrap();
    let value = Encoder::new()
        .encode_json(schema, &json!({"email_id": "e-9", "sizeBytes": 12}))
        .unwrap();
    let back = decoder.decode::<proto::EmailReceived>(&value).unwrap();
    assert_eq!((back.email_id.as_str(), back.size_bytes), ("e-9", 12));

    let event = samples::avro_email_received(&seed);
    let rendered = to_json(&Encoder::new().encode(&event).unwrap()).unwrap();
    let schema = registry().get(avro::EmailReceived::SCHEMA_ID).unwrap();
    let value = Encoder::new().encode_json(schema, &rendered).unwrap();
    assert_eq!(
        decoder.decode::<avro::EmailReceived>(&value).unwrap(),
        event
    );
}

#[test]
fn json_that_does_not_fit_the_schema_is_refused() {
    use sluice_core::Event;
    use sluice_events::{avro, proto};
    let schema = registry().get(proto::EmailReceived::SCHEMA_ID).unwrap();
    let refuse = |json: serde_json::Value, expect: &str| {
        let error = Encoder::new().encode_json(schema, &json).unwrap_err();
        assert_eq!(error.class(), "invalid_json");
        assert!(error.to_string().contains(expect), "{error}");
    };
    refuse(json!({"emailId": "e", "colour": "red"}), "colour");
    refuse(json!({"sizeBytes": "many"}), "sizeBytes");
    refuse(json!({"to": "bob"}), "expected an array");
    refuse(json!([1, 2]), "expected an object");
    let validated = registry().get(proto::EmailValidated::SCHEMA_ID).unwrap();
    let error = Encoder::new()
        .encode_json(validated, &json!({"verdict": "VERDICT_MAYBE"}))
        .unwrap_err();
    assert!(error.to_string().contains("VERDICT_MAYBE"), "{error}");
    let avro = registry().get(avro::EmailReceived::SCHEMA_ID).unwrap();
    let error = Encoder::new()
        .encode_json(avro, &json!({"email_id": 5}))
        .unwrap_err();
    assert_eq!(error.class(), "invalid_json", "{error}");
}

#[test]
fn json_defaults_are_not_written() {
    use sluice_core::Event;
    use sluice_events::proto;
    let schema = registry().get(proto::EmailReceived::SCHEMA_ID).unwrap();
    let with_defaults = Encoder::new()
        .encode_json(
            schema,
            &json!({"emailId": "e", "subject": "", "sizeBytes": "0"}),
        )
        .unwrap();
    let without = Encoder::new()
        .encode_json(schema, &json!({"emailId": "e"}))
        .unwrap();
    assert_eq!(with_defaults, without);
    assert_eq!(to_json(&without).unwrap(), json!({"emailId": "e"}));
}
