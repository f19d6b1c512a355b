//! Kafka clients from the shared flags, and reading a topic between two
//! sets of offsets.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use sluice_kafka::KafkaConfig;
use sluice_kafka::security::TokenContext;

use crate::{Ctx, Global, Outcome, bad_input};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) type Reader = BaseConsumer<TokenContext>;

/// The cluster the flags name.
pub(crate) struct Cluster {
    config: KafkaConfig,
    context: TokenContext,
}

impl Cluster {
    pub(crate) fn new(global: &Global) -> anyhow::Result<Self> {
        let mut config = match &global.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad_input(format!("cannot read {}: {e}", path.display())))?;
                let table: toml::Table = toml::from_str(&text)
                    .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
                let kafka = table
                    .get("kafka")
                    .cloned()
                    .ok_or_else(|| bad_input(format!("{} has no [kafka] table", path.display())))?;
                kafka
                    .try_into::<KafkaConfig>()
                    .map_err(|e| bad_input(format!("{}: [kafka]: {e}", path.display())))?
            }
            None => KafkaConfig::new("localhost:9092"),
        };
        if let Some(brokers) = &global.brokers {
            config.bootstrap_servers = brokers.clone();
        }
        let tokens = config
            .security
            .token_provider()
            .map_err(|e| bad_input(format!("invalid [kafka.security]: {e}")))?;
        Ok(Self {
            config,
            context: TokenContext::new(tokens),
        })
    }

    pub(crate) fn brokers(&self) -> &str {
        &self.config.bootstrap_servers
    }

    /// A consumer that commits nothing unless told to.
    pub(crate) fn reader(&self, group: &str) -> anyhow::Result<Reader> {
        Ok(self
            .config
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create_with_context(self.context.clone())?)
    }

    pub(crate) fn producer(&self) -> anyhow::Result<FutureProducer<TokenContext>> {
        Ok(self
            .config
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create_with_context(self.context.clone())?)
    }

    /// The topic's partitions; a clear error when the cluster cannot be
    /// reached or the topic does not exist.
    pub(crate) fn partitions(&self, reader: &Reader, topic: &str) -> anyhow::Result<Vec<i32>> {
        let metadata = reader
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .with_context(|| {
                format!(
                    "cannot reach the Kafka cluster at {} (check --brokers, or [kafka] in --config)",
                    self.brokers()
                )
            })?;
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        match found {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                Ok(t.partitions().iter().map(|p| p.id()).collect())
            }
            _ => Err(bad_input(format!(
                "topic {topic:?} does not exist on {}",
                self.brokers()
            ))),
        }
    }

    /// (low, high) watermarks of each partition.
    pub(crate) fn watermarks(
        &self,
        reader: &Reader,
        topic: &str,
        partitions: &[i32],
    ) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
        partitions
            .iter()
            .map(|&p| {
                let marks = reader
                    .fetch_watermarks(topic, p, METADATA_TIMEOUT)
                    .with_context(|| format!("cannot read the offsets of {topic}[{p}]"))?;
                Ok((p, marks))
            })
            .collect()
    }

    /// The first offset of each partition at or after `time_ms` (the end
    /// when there is none).
    pub(crate) fn offsets_for_time(
        &self,
        reader: &Reader,
        topic: &str,
        partitions: &[i32],
        time_ms: i64,
        ends: &BTreeMap<i32, (i64, i64)>,
    ) -> anyhow::Result<BTreeMap<i32, i64>> {
        let mut list = TopicPartitionList::new();
        for &p in partitions {
            list.add_partition_offset(topic, p, Offset::Offset(time_ms))?;
        }
        let found = reader
            .offsets_for_times(list, METADATA_TIMEOUT)
            .context("cannot look offsets up by time")?;
        partitions
            .iter()
            .map(|&p| {
                let offset = match found.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => ends[&p].1,
                };
                Ok((p, offset))
            })
            .collect()
    }
}

/// Where a read starts and stops, per partition (`stop` exclusive; none:
/// follow new records).
pub(crate) struct Span {
    pub(crate) start: BTreeMap<i32, i64>,
    pub(crate) stop: Option<BTreeMap<i32, i64>>,
}

impl Span {
    /// Records between start and stop, summed over partitions.
    pub(crate) fn len(&self) -> Option<u64> {
        let stop = self.stop.as_ref()?;
        Some(
            self.start
                .iter()
                .map(|(p, s)| (stop.get(p).copied().unwrap_or(*s) - s).max(0) as u64)
                .sum(),
        )
    }
}

/// What the visitor wants next.
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Reads `topic` over `span`, handing each record to `visit`, until every
/// partition reached its stop offset, `visit` says stop, or the user
/// interrupts.
pub(crate) fn read(
    ctx: &Ctx,
    reader: &Reader,
    topic: &str,
    span: &Span,
    mut visit: impl FnMut(&BorrowedMessage<'_>) -> anyhow::Result<Flow>,
) -> anyhow::Result<Outcome> {
    let mut list = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    for (&p, &start) in &span.start {
        let stop = span.stop.as_ref().map(|s| s[&p]);
        if stop.is_some_and(|stop| stop <= start) {
            continue;
        }
        list.add_partition_offset(topic, p, Offset::Offset(start))?;
        remaining.insert(p, stop);
    }
    if remaining.is_empty() {
        return Ok(Outcome::Done);
    }
    reader.assign(&list)?;
    loop {
        if ctx.interrupted() {
            return Ok(Outcome::Interrupted);
        }
        if span.stop.is_some() && remaining.is_empty() {
            return Ok(Outcome::Done);
        }
        let Some(message) = reader.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.with_context(|| format!("reading {topic}"))?;
        use rdkafka::Message as _;
        let partition = message.partition();
        let Some(stop) = remaining.get(&partition).copied() else {
            continue;
        };
        if stop.is_some_and(|stop| message.offset() >= stop) {
            remaining.remove(&partition);
            continue;
        }
        if let Flow::Stop = visit(&message)? {
            return Ok(Outcome::Done);
        }
        if stop.is_some_and(|stop| message.offset() + 1 >= stop) {
            remaining.remove(&partition);
        }
    }
}

/// A time given as `2h` (that long ago) or RFC 3339, in ms since the epoch.
pub(crate) fn parse_time(text: &str) -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now();
    let at = match humantime::parse_duration(text) {
        Ok(ago) => now.checked_sub(ago),
        Err(_) => humantime::parse_rfc3339_weak(text).ok(),
    }
    .ok_or_else(|| {
        bad_input(format!(
            "{text:?} is neither a duration (30m, 2h, 1day) nor an RFC 3339 time (2026-11-26T08:00:00Z)"
        ))
    })?;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| bad_input(format!("{text:?} is before 1970")))?
        .as_millis();
    Ok(ms as i64)
}
