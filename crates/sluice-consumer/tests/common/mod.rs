//! Shared by the consumer's integration tests: sequenced events, a log of
//! what handlers saw, and reading topics back.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::OwnedMessage;
use rdkafka::{Offset, TopicPartitionList};
use sluice_consumer::ConsumerConfig;
use sluice_core::Event;
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;
use sluice_producer::ProducerConfig;
use sluice_testkit::sequenced;

pub use sluice_testkit::sequenced::sequence;

/// Events of a test spread over this many keys.
pub const KEYS: u64 = 20;

pub fn key_of(sequence: u64) -> String {
    sequenced::key(sequence, KEYS)
}

pub fn event(sequence: u64) -> EmailReceived {
    sequenced::event(sequence, &key_of(sequence))
}

/// Sends events `range` to `topic` and waits for every delivery.
pub async fn produce(
    bootstrap: &str,
    topic: &str,
    range: std::ops::Range<u64>,
) -> anyhow::Result<()> {
    let config = ProducerConfig::new(KafkaConfig::new(bootstrap));
    sequenced::produce(config, topic, range, KEYS)
        .await
        .map_err(anyhow::Error::from_boxed)
}

/// Waits for a consumer told to stop: its `run` must return within its
/// shutdown budget (handlers, then leaving the group: twice the default
/// 30 s) and some slack, or the test fails instead of hanging.
pub async fn stopped(
    run: tokio::task::JoinHandle<Result<(), sluice_consumer::ConsumerError>>,
) -> anyhow::Result<()> {
    let within = Duration::from_secs(75);
    tokio::time::timeout(within, run)
        .await
        .with_context(|| format!("the consumer still runs {within:?} after its stop"))???;
    Ok(())
}

/// A consumer configuration that commits often, for tests.
pub fn config(bootstrap: &str, group: &str, topic: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(KafkaConfig::new(bootstrap), group, [topic]);
    config.commit_interval_ms = 100;
    config.retry.initial_backoff_ms = 10;
    config.retry.max_backoff_ms = 50;
    config
}

/// What handlers saw, in the order they saw it.
#[derive(Debug, Default)]
pub struct Log {
    entries: Mutex<Vec<(String, u64)>>,
}

impl Log {
    pub fn push(&self, key: String, sequence: u64) {
        self.entries.lock().unwrap().push((key, sequence));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    pub fn entries(&self) -> Vec<(String, u64)> {
        self.entries.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the log, or fails after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[(String, u64)]) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.entries.lock().unwrap()) {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({} handled)",
                self.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Checks per-key order under at-least-once delivery: no event is handled
/// before the previous event of its key was handled at least once
/// (replays after a crash or rebalance repeat a suffix, in order). Returns
/// the number of duplicates.
/// Events for which `skipped` holds are expected never to be handled.
pub fn assert_per_key_order(
    entries: &[(String, u64)],
    skipped: impl Fn(u64) -> bool,
) -> anyhow::Result<usize> {
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0;
    for (_, seq) in entries {
        let mut previous = seq.checked_sub(KEYS);
        while let Some(p) = previous
            && skipped(p)
        {
            previous = p.checked_sub(KEYS);
        }
        if let Some(previous) = previous {
            ensure!(
                seen.contains(&previous),
                "event {seq} handled before {previous}, the previous event of key {}",
                key_of(*seq)
            );
        }
        if !seen.insert(*seq) {
            duplicates += 1;
        }
    }
    Ok(duplicates)
}

pub use sluice_testkit::read_topic;

/// Offsets the group committed for `topic`'s partitions (-1 when none).
pub fn committed(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<i64>> {
    let consumer: BaseConsumer = KafkaConfig::new(bootstrap)
        .client_config()
        .set("group.id", group)
        .create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => -1,
        })
        .collect())
}

/// Hands good events to the log; everything else fails before reaching it.
pub struct Collect(pub std::sync::Arc<Log>);

impl sluice_consumer::Handler<EmailReceived> for Collect {
    async fn handle(
        &self,
        event: EmailReceived,
        _: &sluice_consumer::Context,
    ) -> Result<(), sluice_consumer::HandlerError> {
        self.0.push(String::new(), sequence(&event));
        Ok(())
    }
}

/// The value of header `name`, as text.
pub fn header(record: &OwnedMessage, name: &str) -> anyhow::Result<String> {
    sluice_testkit::header_text(record, name).with_context(|| format!("no header {name}"))
}

pub use sluice_testkit::header_count;
