//! `sluice-loadtest`: typed events through a Kafka cluster, end to end.
//!
//! Produces `--events` typed `EmailReceived` events over `--keys` keys,
//! consumes them in a consumer group, decodes each one and checks that none
//! is lost or duplicated and that every key's events arrive in order. Prints
//! throughput and the check's result; exits non-zero when an event is lost,
//! duplicated, out of order or undecodable.
//!
//! With no `--brokers` it starts librdkafka's in-process mock cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, Producer};
use sluice_core::{Deserializer, Envelope, Event, Serializer};
use sluice_events::samples::{self, Seed};
use sluice_events::{avro, proto, registry};
use sluice_kafka::{KafkaConfig, OutgoingRecord, decode_message};
use sluice_testkit::{MockKafka, create_topic};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Protobuf,
    Avro,
}

#[derive(Debug, Clone, Parser)]
#[command(about, version)]
struct Args {
    /// Bootstrap servers; the embedded mock cluster when absent.
    #[arg(long)]
    brokers: Option<String>,
    #[arg(long, default_value = "sluice.loadtest")]
    topic: String,
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Distinct partition keys; order is checked per key.
    #[arg(long, default_value_t = 64)]
    keys: u64,
    #[arg(long, value_enum, default_value_t = Format::Protobuf)]
    format: Format,
    /// The most events produced but not yet consumed. Keeps the test closed
    /// loop: the mock cluster keeps only 5 MiB per partition, and a consumer
    /// further behind than that would find its records deleted.
    #[arg(long, default_value_t = 20_000)]
    max_lag: u64,
    /// Give up when the consumer sees nothing new for this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
}

/// An event type the load test can generate and check.
trait LoadEvent: Event {
    fn generate(sequence: u64, key: &str) -> Self;
    /// The sequence number carried in the event id.
    fn sequence(&self) -> Option<u64>;
}

fn sequence_of(event_id: &str) -> Option<u64> {
    event_id.strip_prefix("evt-")?.parse().ok()
}

impl LoadEvent for proto::EmailReceived {
    fn generate(sequence: u64, key: &str) -> Self {
        samples::proto_email_received(&Seed {
            sequence,
            email_id: key,
            ..Seed::default()
        })
    }
    fn sequence(&self) -> Option<u64> {
        sequence_of(&self.metadata.as_ref()?.event_id)
    }
}

impl LoadEvent for avro::EmailReceived {
    fn generate(sequence: u64, key: &str) -> Self {
        samples::avro_email_received(&Seed {
            sequence,
            email_id: key,
            ..Seed::default()
        })
    }
    fn sequence(&self) -> Option<u64> {
        sequence_of(&self.metadata.event_id)
    }
}

#[derive(Debug, Default)]
struct Check {
    seen: Vec<u32>,
    last_per_key: HashMap<String, u64>,
    consumed: u64,
    unique: u64,
    duplicates: u64,
    order_violations: u64,
    undecodable: u64,
    bytes: u64,
}

impl Check {
    fn new(events: u64) -> Self {
        Self {
            seen: vec![0; events as usize],
            ..Self::default()
        }
    }

    fn record(&mut self, key: &str, sequence: u64) {
        self.consumed += 1;
        match self.seen.get_mut(sequence as usize) {
            Some(count) => {
                *count += 1;
                if *count > 1 {
                    self.duplicates += 1;
                    return;
                }
                self.unique += 1;
            }
            None => {
                self.undecodable += 1;
                return;
            }
        }
        let last = self.last_per_key.entry(key.to_owned()).or_insert(sequence);
        if sequence < *last {
            self.order_violations += 1;
        }
        *last = sequence;
    }

    fn unique(&self) -> u64 {
        self.unique
    }

    fn lost(&self) -> u64 {
        self.seen.len() as u64 - self.unique()
    }
}

async fn produce<E: LoadEvent>(
    args: &Args,
    config: &KafkaConfig,
    consumed: &AtomicU64,
) -> anyhow::Result<(Duration, u64)> {
    let producer: FutureProducer = config
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()?;
    let serializer = Serializer::new();
    let keys: Vec<String> = (0..args.keys).map(|k| format!("email-{k}")).collect();
    let started = Instant::now();
    let mut pending = Vec::with_capacity(args.events as usize);
    let mut bytes = 0u64;
    for sequence in 0..args.events {
        while sequence.saturating_sub(consumed.load(Ordering::Relaxed)) > args.max_lag {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let key = &keys[(sequence % args.keys) as usize];
        let event = E::generate(sequence, key);
        let record =
            OutgoingRecord::new(&serializer, &event, Envelope::new::<E>("/sluice/loadtest"))?;
        bytes += record.value.len() as u64;
        let future = producer
            .send_result(record.to_future_record(&args.topic))
            .map_err(|(e, _)| e)
            .context("enqueue")?;
        pending.push(future);
    }
    for future in pending {
        future
            .await
            .context("delivery future dropped")?
            .map_err(|(e, _)| e)
            .context("delivery")?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok((started.elapsed(), bytes))
}

fn consume<E: LoadEvent>(
    args: &Args,
    config: &KafkaConfig,
    subscribed: &AtomicBool,
    progress: &AtomicU64,
) -> anyhow::Result<(Duration, Check)> {
    let consumer: BaseConsumer = config
        .client_config()
        .set("group.id", "sluice-loadtest")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.min.bytes", "1")
        .create()?;
    consumer.subscribe(&[&args.topic])?;
    let deserializer = Deserializer::new(registry());
    let mut check = Check::new(args.events);
    let mut started = None;
    let mut last_progress = Instant::now();
    while check.unique() < args.events && last_progress.elapsed() < args.idle_timeout {
        let polled = consumer.poll(Duration::from_millis(100));
        // Producing starts once partitions are assigned: a consumer still
        // joining its group would fall behind from the first second, and
        // the mock cluster keeps only 5 MiB per partition.
        if !subscribed.load(Ordering::Relaxed) && consumer.assignment()?.count() > 0 {
            subscribed.store(true, Ordering::Release);
            last_progress = Instant::now();
        }
        let Some(message) = polled else {
            continue;
        };
        let message = message?;
        started.get_or_insert_with(Instant::now);
        last_progress = Instant::now();
        check.bytes += message.payload_len() as u64;
        match decode_message::<E, _>(&deserializer, &message) {
            Ok((event, _)) => match event.sequence() {
                Some(sequence) => check.record(event.partition_key(), sequence),
                None => check.undecodable += 1,
            },
            Err(_) => check.undecodable += 1,
        }
        progress.store(check.consumed, Ordering::Relaxed);
    }
    Ok((started.map(|s| s.elapsed()).unwrap_or_default(), check))
}

async fn run<E: LoadEvent>(args: Args, config: KafkaConfig) -> anyhow::Result<bool> {
    let subscribed = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (subscribed, consumed) = (Arc::clone(&subscribed), Arc::clone(&consumed));
        let (args, config) = (args.clone(), config.clone());
        tokio::task::spawn_blocking(move || consume::<E>(&args, &config, &subscribed, &consumed))
    };
    while !subscribed.load(Ordering::Acquire) {
        if consumer.is_finished() {
            consumer.await??;
            bail!("the consumer gave up before it was assigned partitions");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // From the first send, once the consumer has its partitions.
    let started = Instant::now();
    let (produce_time, produced_bytes) = produce::<E>(&args, &config, &consumed).await?;
    let (consume_time, check) = consumer.await??;
    let total = started.elapsed();

    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!();
    println!(
        "sluice load test: {} {:?} EmailReceived events, {} keys, {} partitions",
        args.events, args.format, args.keys, args.partitions
    );
    println!(
        "  broker              {}",
        args.brokers.as_deref().unwrap_or("embedded mock cluster")
    );
    println!(
        "  avg value size      {:.0} bytes",
        produced_bytes as f64 / args.events.max(1) as f64
    );
    println!(
        "  produced            {:>10} events in {:>7.2} s  {:>10.0} events/s",
        args.events,
        produce_time.as_secs_f64(),
        rate(args.events, produce_time)
    );
    println!(
        "  consumed            {:>10} events in {:>7.2} s  {:>10.0} events/s",
        check.consumed,
        consume_time.as_secs_f64(),
        rate(check.consumed, consume_time)
    );
    println!(
        "  end to end          {:>10} events in {:>7.2} s  {:>10.0} events/s",
        check.unique(),
        total.as_secs_f64(),
        rate(check.unique(), total)
    );
    println!("  lost                {:>10}", check.lost());
    println!("  duplicated          {:>10}", check.duplicates);
    println!("  out of order (key)  {:>10}", check.order_violations);
    println!("  undecodable         {:>10}", check.undecodable);
    let passed = check.lost() == 0 && check.order_violations == 0 && check.undecodable == 0;
    println!(
        "  result              {}",
        if passed { "PASS" } else { "FAIL" }
    );
    Ok(passed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.keys == 0 || args.events == 0 {
        bail!("--events and --keys must be at least 1");
    }
    let mock = match &args.brokers {
        Some(_) => None,
        None => Some(MockKafka::start(1)?),
    };
    let bootstrap = match (&args.brokers, &mock) {
        (Some(brokers), _) => brokers.clone(),
        (None, Some(mock)) => mock.bootstrap_servers(),
        (None, None) => unreachable!("a mock cluster is started when no brokers are given"),
    };
    match &mock {
        Some(mock) => mock.create_topic(&args.topic, args.partitions)?,
        None => create_topic(&bootstrap, &args.topic, args.partitions).await?,
    }
    let config = KafkaConfig::new(bootstrap);
    let passed = match args.format {
        Format::Protobuf => run::<proto::EmailReceived>(args, config).await?,
        Format::Avro => run::<avro::EmailReceived>(args, config).await?,
    };
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}
