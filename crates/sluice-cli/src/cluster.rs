//! Kafka clients from the shared flags, and reading a topic between two
//! sets of offsets.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
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
                let table: toml::Table = toml::from_str(&text).map_err(|e| {
                    let what = sluice_kafka::toml_error(&e, &text);
                    bad_input(format!("{}: {what}", path.display()))
                })?;
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
            .set("enable.partition.eof", "true")
            .create_with_context(self.context.clone())?)
    }

    pub(crate) fn producer(&self) -> anyhow::Result<FutureProducer<TokenContext>> {
        Ok(self
            .producer_config()
            .create_with_context(self.context.clone())?)
    }

    /// Records partitioned like sluice's producer does, so a replayed or
    /// redriven record of a key lands beside the key's other records (and
    /// stays in order with them); a `partitioner` property still wins.
    fn producer_config(&self) -> ClientConfig {
        let mut config = self.config.client_config();
        if config.get("partitioner").is_none() {
            config.set("partitioner", sluice_kafka::PARTITIONER);
        }
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5");
        config
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

/// Where a read stops.
pub(crate) enum End {
    /// Keep reading new records.
    Follow,
    /// Stop at the end each partition has when the reader gets there
    /// (librdkafka's partition EOF, which comes from the fetch responses:
    /// Tansu 0.6 answers ListOffsets with a wrong end, so the ends are not
    /// captured up front).
    Now,
    /// Stop before these offsets (or at the end, if that comes first).
    Before(BTreeMap<i32, i64>),
}

/// Where a read starts, per partition, and where it stops.
pub(crate) struct Span {
    pub(crate) start: BTreeMap<i32, i64>,
    pub(crate) end: End,
}

impl Span {
    /// About how many records the read covers (for progress bars): up to
    /// the stop offsets, or to the high watermarks in `marks`.
    pub(crate) fn estimate(&self, marks: &BTreeMap<i32, (i64, i64)>) -> Option<u64> {
        let stop = |p: &i32| match &self.end {
            End::Follow => None,
            End::Now => marks.get(p).map(|m| m.1),
            End::Before(stop) => stop.get(p).copied(),
        };
        self.start
            .iter()
            .map(|(p, s)| stop(p).map(|stop| u64::try_from(stop.saturating_sub(*s)).unwrap_or(0)))
            .try_fold(0u64, |total, n| n.map(|n| total.saturating_add(n)))
    }
}

/// What the visitor wants next.
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Reads `topic` over `span`, handing each record to `visit`, until every
/// partition reached its end, `visit` says stop, or the user interrupts.
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
        let stop = match &span.end {
            End::Before(stop) => stop.get(&p).copied(),
            End::Follow | End::Now => None,
        };
        if stop.is_some_and(|stop| stop <= start) {
            continue;
        }
        list.add_partition_offset(topic, p, Offset::Offset(start))?;
        remaining.insert(p, stop);
    }
    let follow = matches!(span.end, End::Follow);
    if remaining.is_empty() {
        return Ok(Outcome::Done);
    }
    reader.assign(&list)?;
    loop {
        if ctx.interrupted() {
            return Ok(Outcome::Interrupted);
        }
        if !follow && remaining.is_empty() {
            return Ok(Outcome::Done);
        }
        let message = match reader.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                if !follow {
                    remaining.remove(&partition);
                }
                continue;
            }
            Some(Err(e)) => return Err(anyhow::Error::new(e).context(format!("reading {topic}"))),
            Some(Ok(message)) => message,
        };
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
        if stop.is_some_and(|stop| message.offset().saturating_add(1) >= stop) {
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
    i64::try_from(ms).map_err(|_| bad_input(format!("{text:?} is too far in the future")))
}

/// The headers of `record` whose names `keep` accepts, in order, names of
/// any bytes kept as they are.
pub(crate) fn headers_where(
    record: &BorrowedMessage<'_>,
    keep: impl Fn(&[u8]) -> bool,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    for h in sluice_kafka::headers::of_message(record).filter(|h| keep(h.name)) {
        headers = sluice_kafka::headers::insert(headers, h.name, h.value);
    }
    headers
}

/// Sends `record`'s key and value to `topic` with `headers`; the delivery
/// is for [`wait_deliveries`].
pub(crate) fn resend(
    producer: &FutureProducer<TokenContext>,
    record: &BorrowedMessage<'_>,
    topic: &str,
    headers: OwnedHeaders,
) -> anyhow::Result<DeliveryFuture> {
    let mut out = FutureRecord::to(topic).headers(headers);
    if let Some(key) = record.key() {
        out = out.key(key);
    }
    if let Some(value) = record.payload() {
        out = out.payload(value);
    }
    producer
        .send_result(out)
        .map_err(|(e, _)| anyhow::anyhow!("cannot send to {topic}: {e}"))
}

/// Waits for every delivery to `topic`, failing on the first error.
pub(crate) fn wait_deliveries(
    ctx: &Ctx,
    pending: &mut Vec<rdkafka::producer::DeliveryFuture>,
    topic: &str,
) -> anyhow::Result<()> {
    for delivery in pending.drain(..) {
        wait_delivery(ctx, delivery, topic)?;
    }
    Ok(())
}

/// Waits for one delivery to `topic`: where the record landed.
pub(crate) fn wait_delivery(
    ctx: &Ctx,
    delivery: DeliveryFuture,
    topic: &str,
) -> anyhow::Result<(i32, i64)> {
    let result = ctx
        .runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(60), delivery).await });
    match result {
        Ok(Ok(Ok(delivered))) => Ok((delivered.partition, delivered.offset)),
        Ok(Ok(Err((e, _)))) => anyhow::bail!("a record was not delivered to {topic}: {e}"),
        Ok(Err(_)) => anyhow::bail!("the producer stopped before a delivery to {topic}"),
        Err(_) => anyhow::bail!("no delivery report from {topic} within 60 s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(properties: &[(&str, &str)]) -> Cluster {
        let mut config = KafkaConfig::new("localhost:9092");
        for (key, value) in properties {
            config.properties.insert((*key).into(), (*value).into());
        }
        Cluster {
            config,
            context: TokenContext::new(None),
        }
    }

    #[test]
    fn records_are_partitioned_like_the_producers() {
        let producer = sluice_producer::ProducerConfig::from_toml(
            "source = \"/t\"\n[kafka]\nbootstrap_servers = \"localhost:9092\"",
        )
        .unwrap()
        .librdkafka_config();
        let cli = cluster(&[]).producer_config();
        assert_eq!(cli.get("partitioner"), Some("murmur2_random"));
        assert_eq!(cli.get("partitioner"), producer.get("partitioner"));
    }

    #[test]
    fn a_partitioner_property_wins() {
        let cli = cluster(&[("partitioner", "consistent_random")]).producer_config();
        assert_eq!(cli.get("partitioner"), Some("consistent_random"));
    }
}
