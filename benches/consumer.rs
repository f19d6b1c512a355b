//! Consumer throughput: sluice's consumer runtime against a raw rdkafka
//! `StreamConsumer` loop on the same embedded broker in the same run. All
//! read the same 1 KiB typed Protobuf events (with their CloudEvents
//! headers) from the start of the topic and decode each one; the time runs
//! from the first event handled to the last (joining the group is left
//! out). The raw loop looks up `ce_type` before decoding, as sluice's typed
//! handlers do; a second raw loop ignores the headers, to show what reading
//! them costs. sluice also copies each record out of the client, keeps
//! per-key order, tracks and commits finished offsets and stands ready to
//! retry and dead-letter. Target: overhead ≤ 10 %.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Headers as _;
use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Context, Handler, HandlerError, Handlers};
use sluice_core::Event as _;
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_events::samples::{self, Seed};
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig};
use sluice_testkit::MockKafka;
use tokio::sync::Notify;

// The mock cluster keeps 5 MiB per partition: 20 000 × 1 KiB over 6
// partitions stays below it.
// The same allocator for sluice and the baseline; glibc's malloc is slow
// with many threads allocating and freeing small strings.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: u64 = 20_000;
const TOPIC: &str = "bench-consume";

async fn fill(bootstrap: &str) {
    let mut config = ProducerConfig::new(KafkaConfig::new(bootstrap));
    config
        .topics
        .insert(EmailReceived::EVENT_TYPE.to_owned(), TOPIC.to_owned());
    let producer = Producer::builder(config).build().expect("producer");
    let keys: Vec<String> = (0..64).map(|k| format!("email-{k}")).collect();
    let events = (0..EVENTS).map(|sequence| {
        samples::proto_email_received_sized(
            &Seed {
                sequence,
                email_id: &keys[(sequence % 64) as usize],
                ..Seed::default()
            },
            1024,
        )
    });
    for result in producer.send_all(events).await {
        result.expect("delivered");
    }
}

static GROUP: AtomicU64 = AtomicU64::new(0);

fn group_id() -> String {
    format!("bench-{}", GROUP.fetch_add(1, Ordering::Relaxed))
}

/// The baseline: receive, read `ce_type` (unless `value_only`), decode,
/// count.
async fn raw(bootstrap: &str, value_only: bool) -> Duration {
    let consumer: StreamConsumer = KafkaConfig::new(bootstrap)
        .client_config()
        .set("group.id", group_id())
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribed");
    let mut first = None;
    let mut count = 0;
    while count < EVENTS {
        let message = consumer.recv().await.expect("message");
        first.get_or_insert_with(Instant::now);
        if !value_only {
            let ce_type = message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "ce_type"))
                .and_then(|h| h.value);
            assert_eq!(ce_type, Some(EmailReceived::EVENT_TYPE.as_bytes()));
        }
        let value = message.payload().expect("value");
        let event = EmailReceived::decode(&value[6..]).expect("decodes");
        std::hint::black_box(event);
        count += 1;
    }
    first.expect("consumed").elapsed()
}

struct Count {
    handled: AtomicU64,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    done: Notify,
}

struct CountHandler(Arc<Count>);

impl Handler<EmailReceived> for CountHandler {
    async fn handle(&self, event: EmailReceived, _: &Context) -> Result<(), HandlerError> {
        std::hint::black_box(event);
        self.0
            .first
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        if self.0.handled.fetch_add(1, Ordering::Relaxed) + 1 == EVENTS {
            *self.0.last.lock().unwrap() = Some(Instant::now());
            self.0.done.notify_one();
        }
        Ok(())
    }
}

async fn sluice(bootstrap: &str) -> Duration {
    let count = Arc::new(Count {
        handled: AtomicU64::new(0),
        first: Mutex::new(None),
        last: Mutex::new(None),
        done: Notify::new(),
    });
    let config = ConsumerConfig::new(KafkaConfig::new(bootstrap), group_id(), [TOPIC]);
    let handlers =
        Handlers::new(registry().clone()).on::<EmailReceived, _>(CountHandler(Arc::clone(&count)));
    let consumer = ConsumerBuilder::new(config)
        .build(handlers)
        .expect("consumer");
    let finished = Arc::clone(&count);
    consumer
        .run(async move { finished.done.notified().await })
        .await
        .expect("ran");
    let first = count.first.lock().unwrap().expect("consumed");
    let last = count.last.lock().unwrap().expect("all consumed");
    last - first
}

fn consumers(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mock = MockKafka::start(1).expect("mock cluster");
    mock.create_topic(TOPIC, 6).expect("topic");
    let bootstrap = mock.bootstrap_servers();
    runtime.block_on(fill(&bootstrap));

    let mut group = c.benchmark_group("consumer");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.bench_function("raw-rdkafka", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| runtime.block_on(raw(&bootstrap, false)))
                .sum()
        })
    });
    group.bench_function("raw-rdkafka-value-only", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| runtime.block_on(raw(&bootstrap, true)))
                .sum()
        })
    });
    group.bench_function("sluice", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| runtime.block_on(sluice(&bootstrap)))
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, consumers);
criterion_main!(benches);
