//! Producer throughput: sluice's `Producer` against a raw rdkafka
//! `FutureProducer` on the same embedded broker in the same run, with the
//! same librdkafka settings, sending 1 KiB typed Protobuf events and
//! awaiting every delivery. The raw producer runs twice: with key and
//! framed value only, and with the same record sluice sends (CloudEvents
//! headers included). Target: sluice ≥ 0.95× raw.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_core::Event as _;
use sluice_events::proto::EmailReceived;
use sluice_events::samples::{self, Seed};
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig};
use sluice_testkit::MockKafka;

// The same allocator for sluice and the baseline; glibc's malloc is slow
// with many threads allocating and freeing small strings.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: u64 = 10_000;
const EVENT_BYTES: usize = 1024;
const TOPIC: &str = "bench";

fn events() -> Vec<EmailReceived> {
    let keys: Vec<String> = (0..64).map(|k| format!("email-{k}")).collect();
    (0..EVENTS)
        .map(|sequence| {
            samples::proto_email_received_sized(
                &Seed {
                    sequence,
                    email_id: &keys[(sequence % 64) as usize],
                    ..Seed::default()
                },
                EVENT_BYTES,
            )
        })
        .collect()
}

/// Sends every event with the raw producer, the value (and headers) from
/// `record`, waiting while librdkafka's queue is full, then awaits every
/// delivery.
async fn send_raw(
    raw: &FutureProducer,
    events: &[EmailReceived],
    record: impl Fn(&EmailReceived) -> (Vec<u8>, Option<OwnedHeaders>),
) {
    let mut pending = Vec::with_capacity(events.len());
    for event in events {
        let event = event.clone();
        let (value, headers) = record(&event);
        let mut out = FutureRecord::to(TOPIC).key(&event.email_id).payload(&value);
        if let Some(headers) = headers {
            out = out.headers(headers);
        }
        loop {
            match raw.send_result(out) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    out = returned;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err((e, _)) => panic!("send failed: {e}"),
            }
        }
    }
    for delivery in pending {
        delivery.await.expect("delivered").expect("acknowledged");
    }
}

fn producers(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mock = MockKafka::start(1).expect("mock cluster");
    mock.create_topic(TOPIC, 6).expect("topic");
    let events = events();

    let mut config = ProducerConfig::new(KafkaConfig::new(mock.bootstrap_servers()));
    config
        .topics
        .insert(EmailReceived::EVENT_TYPE.to_owned(), TOPIC.to_owned());
    // The raw producer gets exactly the settings sluice derives.
    let raw: FutureProducer = config.librdkafka_config().create().expect("raw producer");
    let sluice = runtime
        .block_on(async { Producer::builder(config).build() })
        .expect("sluice producer");

    let mut group = c.benchmark_group("producer");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.bench_function("raw-rdkafka", |b| {
        b.iter(|| {
            runtime.block_on(send_raw(&raw, &events, |event| {
                let mut value = Vec::with_capacity(event.encoded_len() + 6);
                // Magic byte, schema id 2, message index [0].
                value.extend_from_slice(&[0, 0, 0, 0, 2, 0]);
                event.encode(&mut value).expect("encodes");
                (value, None)
            }))
        })
    });
    let encoder = sluice_core::Encoder::new();
    group.bench_function("raw-with-envelope", |b| {
        b.iter(|| {
            runtime.block_on(send_raw(&raw, &events, |event| {
                let envelope = sluice_core::Envelope::new::<EmailReceived>("/bench");
                let record =
                    sluice_kafka::OutgoingRecord::new(&encoder, event, envelope).expect("encodes");
                (record.value, Some(record.headers))
            }))
        })
    });
    group.bench_function("sluice", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut pending = Vec::with_capacity(events.len());
                for event in &events {
                    pending.push(sluice.enqueue(event.clone()).await.expect("enqueued"));
                }
                for delivery in pending {
                    delivery.wait().await.expect("delivered");
                }
            })
        })
    });
    group.finish();
}

/// The per-record work before librdkafka: encoding alone, and encoding with
/// the envelope turned into record headers.
fn record_building(c: &mut Criterion) {
    let event = events().swap_remove(0);
    let encoder = sluice_core::Encoder::new();
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| {
            encoder
                .encode(std::hint::black_box(&event))
                .expect("encodes")
        })
    });
    group.bench_function("envelope", |b| {
        b.iter(|| sluice_core::Envelope::new::<EmailReceived>("/bench"))
    });
    group.bench_function("encode+envelope+headers", |b| {
        b.iter(|| {
            sluice_kafka::OutgoingRecord::new(
                &encoder,
                std::hint::black_box(&event),
                sluice_core::Envelope::new::<EmailReceived>("/bench"),
            )
            .expect("encodes")
        })
    });
    group.finish();
}

criterion_group!(benches, producers, record_building);
criterion_main!(benches);
