//! Whole records of any bytes — key, value, header names and values,
//! timestamp — through the path every consumed record takes: the client's
//! header list, the runtime's copy, the envelope, the typed router and the
//! DLQ copy. Nothing may panic, and every byte must survive the copies.

use proptest::prelude::*;
use rdkafka::Timestamp;
use rdkafka::message::OwnedHeaders;
use sluice_consumer::{Context, Handlers, Record, RecordHandler};
use sluice_kafka::headers;

type Headers = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max),
        // Often a sluice frame: magic byte, a schema id, anything after.
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..max)).prop_map(|(id, rest)| {
            let mut frame = vec![0];
            frame.extend((id % 8).to_be_bytes());
            frame.extend(rest);
            frame
        }),
    ]
}

fn header_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Names librdkafka keeps whole: no NUL byte.
        proptest::collection::vec(1u8..=255, 0..12),
        Just(b"ce_type".to_vec()),
        Just(b"ce_time".to_vec()),
        Just(b"ce_specversion".to_vec()),
        Just(b"traceparent".to_vec()),
        Just(b"sluice.dlq.error.class".to_vec()),
    ]
}

fn record_headers() -> impl Strategy<Value = Headers> {
    proptest::collection::vec((header_name(), proptest::option::of(bytes(40))), 0..10)
}

proptest! {
    #[test]
    fn any_record_is_copied_routed_and_dead_lettered_without_a_panic(
        key in proptest::option::of(bytes(64)),
        value in proptest::option::of(bytes(256)),
        header_list in record_headers(),
        timestamp in any::<i64>(),
        offset in any::<i64>(),
    ) {
        // The client's list, built and read back as bytes.
        let mut native = OwnedHeaders::new();
        for (name, value) in &header_list {
            native = headers::insert(native, name, value.as_deref());
        }
        let read: Headers = headers::read(&native)
            .map(|h| (h.name.to_vec(), h.value.map(<[u8]>::to_vec)))
            .collect();
        prop_assert_eq!(&read, &header_list);

        // The runtime's copy.
        let borrowed: Vec<(&[u8], Option<&[u8]>)> = header_list
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_deref()))
            .collect();
        let record = Record::with_raw_headers(
            "topic", 0, offset, key.as_deref(), value.as_deref(), &borrowed,
        )
        .with_timestamp(Timestamp::CreateTime(timestamp));
        let copied: Vec<(&[u8], Option<&[u8]>)> =
            record.headers().map(|h| (h.name, h.value)).collect();
        prop_assert_eq!(&copied, &borrowed);
        prop_assert_eq!(record.key(), key.as_deref());
        prop_assert_eq!(record.payload(), value.as_deref());

        // The handler's view and the typed router: an error at most.
        let ctx = Context::new(record, "group", 1);
        let _ = ctx.envelope();
        let _ = ctx.timestamp_ms();
        let handlers = Handlers::new(sluice_events::registry().clone());
        let _ = futures::executor::block_on(handlers.handle(&ctx));
    }
}
