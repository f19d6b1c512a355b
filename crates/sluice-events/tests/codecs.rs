//! Round trips, wire layout and typed decoding errors for every event.

use sluice_core::{DecodeError, Decoder, EncodeError, Encoder, Event};
use sluice_events::samples::{self, Seed};
use sluice_events::{avro, proto, registry};

fn round_trip<E: Event + PartialEq + std::fmt::Debug>(event: E) {
    let value = Encoder::new().encode(&event).expect("encodes");
    assert_eq!(value[0], 0, "magic byte");
    assert_eq!(value[1..5], E::SCHEMA_ID.to_be_bytes(), "schema id");
    let back: E = Decoder::new(registry())
        .decode_typed(Some(E::EVENT_TYPE), &value)
        .expect("decodes");
    assert_eq!(back, event);
}

#[test]
fn every_event_round_trips_in_both_formats() {
    let seed = Seed::default();
    round_trip(samples::proto_email_received(&seed));
    round_trip(samples::proto_email_validated(&seed));
    round_trip(samples::proto_email_processed(&seed));
    round_trip(samples::proto_plugin_executed(&seed));
    round_trip(samples::proto_workflow_triggered(&seed));
    round_trip(samples::avro_email_received(&seed));
    round_trip(samples::avro_email_validated(&seed));
    round_trip(samples::avro_email_processed(&seed));
    round_trip(samples::avro_plugin_executed(&seed));
    round_trip(samples::avro_workflow_triggered(&seed));
    round_trip(avro::EmailProcessed::default());
    round_trip(proto::EmailProcessed::default());
}

#[test]
fn partition_keys_come_from_the_declared_field() {
    let seed = Seed {
        email_id: "email-42",
        ..Seed::default()
    };
    assert_eq!(
        samples::proto_email_received(&seed).partition_key(),
        "email-42"
    );
    assert_eq!(
        samples::avro_plugin_executed(&seed).partition_key(),
        "email-42"
    );
    assert_eq!(
        samples::proto_workflow_triggered(&seed).partition_key(),
        "wf-escalate"
    );
    assert_eq!(
        samples::avro_workflow_triggered(&seed).partition_key(),
        "wf-escalate"
    );
}

/// The bytes Confluent's `KafkaProtobufSerializer` writes for a message that
/// is the first in its file: magic byte, big-endian id, the single index byte
/// 0, then the plain Protobuf encoding.
#[test]
fn protobuf_layout_is_confluents() {
    let event = proto::EmailProcessed {
        email_id: "e".into(),
        duration_ms: 5,
        ..Default::default()
    };
    let value = Encoder::new().encode(&event).expect("encodes");
    let id = proto::EmailProcessed::SCHEMA_ID.to_be_bytes();
    // field 2 (email_id), length 1, "e"; field 6 (duration_ms), varint 5
    let expected = [&[0][..], &id, &[0x00], &[0x12, 0x01, b'e', 0x30, 0x05]].concat();
    assert_eq!(value, expected);
}

/// Confluent's `KafkaAvroSerializer`: magic byte, big-endian id, then the
/// Avro binary datum with no container header.
#[test]
fn avro_layout_is_confluents() {
    let event = avro::EmailProcessed::default();
    let value = Encoder::new().encode(&event).expect("encodes");
    let schema = <avro::EmailProcessed as sluice_core::codec::AvroRecord>::avro_schema();
    let datum = apache_avro::to_avro_datum(
        schema,
        apache_avro::to_value(&event)
            .and_then(|v| v.resolve(schema))
            .expect("resolves"),
    )
    .expect("encodes");
    let id = avro::EmailProcessed::SCHEMA_ID.to_be_bytes();
    assert_eq!(value, [&[0][..], &id, &datum].concat());
}

fn decode_err<E: Event + std::fmt::Debug>(value: &[u8]) -> DecodeError {
    Decoder::new(registry())
        .decode::<E>(value)
        .expect_err("must not decode")
}

#[test]
fn bad_input_gets_a_typed_error() {
    let seed = Seed::default();
    let good = Encoder::new()
        .encode(&samples::proto_email_received(&seed))
        .expect("encodes");

    assert_eq!(decode_err::<proto::EmailReceived>(&[]), DecodeError::Empty);
    assert_eq!(
        decode_err::<proto::EmailReceived>(b"{\"json\":true}"),
        DecodeError::WrongMagicByte { found: b'{' }
    );
    assert!(matches!(
        decode_err::<proto::EmailReceived>(&good[..3]),
        DecodeError::Truncated { len: 3, .. }
    ));
    let mut unknown = good.clone();
    unknown[1..5].copy_from_slice(&9_999u32.to_be_bytes());
    assert_eq!(
        decode_err::<proto::EmailReceived>(&unknown),
        DecodeError::UnknownSchemaId { id: 9_999 }
    );
    assert!(matches!(
        decode_err::<proto::EmailProcessed>(&good),
        DecodeError::TypeMismatch { .. }
    ));
    assert!(matches!(
        decode_err::<avro::EmailReceived>(&good),
        DecodeError::TypeMismatch { .. }
    ));
    let mut corrupt = good.clone();
    corrupt.truncate(good.len() - 7);
    let err = decode_err::<proto::EmailReceived>(&corrupt);
    assert_eq!(err.class(), "malformed_payload", "{err}");
    assert!(
        !err.to_string().contains("alice"),
        "error must not carry the payload: {err}"
    );

    let avro_good = Encoder::new()
        .encode(&samples::avro_email_received(&seed))
        .expect("encodes");
    let mut avro_corrupt = avro_good.clone();
    avro_corrupt.truncate(avro_good.len() - 5);
    assert_eq!(
        decode_err::<avro::EmailReceived>(&avro_corrupt).class(),
        "malformed_payload"
    );
    let mut trailing = avro_good.clone();
    trailing.push(0);
    assert_eq!(
        decode_err::<avro::EmailReceived>(&trailing).class(),
        "malformed_payload"
    );

    let typed = Decoder::new(registry())
        .decode_typed::<proto::EmailReceived>(Some("email.processed.v1"), &good)
        .expect_err("ce_type names another event");
    assert!(matches!(typed, DecodeError::TypeMismatch { .. }));

    let small = Decoder::new(registry()).with_max_record_bytes(16);
    assert_eq!(
        small.decode::<proto::EmailReceived>(&good),
        Err(DecodeError::Oversize {
            size: good.len(),
            limit: 16
        })
    );
}

#[test]
fn oversize_events_are_refused_before_sending() {
    let event = samples::proto_email_received(&Seed::default());
    let err = Encoder::new()
        .with_max_record_bytes(64)
        .encode(&event)
        .expect_err("too large");
    assert!(
        matches!(err, EncodeError::Oversize { limit: 64, .. }),
        "{err}"
    );
    let mut out = b"keep".to_vec();
    assert!(
        Encoder::new()
            .with_max_record_bytes(64)
            .encode_into(&event, &mut out)
            .is_err()
    );
    assert_eq!(out, b"keep", "a failed encode leaves the buffer as it was");
}

/// Found by the fuzzer: an Avro array block claiming a huge count made the
/// Avro decoder reserve memory for it before reading a single item.
#[test]
fn huge_avro_block_counts_are_refused_without_allocating() {
    let value = [
        0, 0, 0, 0, 8, 2, 61, 0, 0, 0, 2, 2, 0, 0, 198, 198, 198, 198, 0, 8, 2, 61, 2, 61, 154,
    ];
    assert_eq!(
        decode_err::<avro::EmailValidated>(&value).class(),
        "malformed_payload"
    );
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(value: &[u8]) {
        let d = Decoder::new(registry());
        let _ = d.decode::<proto::EmailReceived>(value);
        let _ = d.decode::<proto::EmailValidated>(value);
        let _ = d.decode::<proto::WorkflowTriggered>(value);
        let _ = d.decode::<avro::EmailReceived>(value);
        let _ = d.decode::<avro::EmailValidated>(value);
        let _ = d.decode::<avro::WorkflowTriggered>(value);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn arbitrary_bytes(value in proptest::collection::vec(any::<u8>(), 0..256)) {
            decode_all(&value);
        }

        /// A valid header for every registered id, then noise: reaches the
        /// codecs rather than stopping at the frame.
        #[test]
        fn valid_header_then_noise(
            id in 1u32..=10,
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut value = vec![0];
            value.extend_from_slice(&id.to_be_bytes());
            value.extend_from_slice(&body);
            decode_all(&value);
        }

        /// Real records with one byte flipped.
        #[test]
        fn flipped_byte(index in 5usize..400, bit in 0u8..8) {
            let seed = Seed::default();
            for mut value in [
                Encoder::new().encode(&samples::proto_email_received(&seed)).expect("encodes"),
                Encoder::new().encode(&samples::avro_email_received(&seed)).expect("encodes"),
            ] {
                let i = index % value.len();
                value[i] ^= 1 << bit;
                decode_all(&value);
            }
        }
    }
}
