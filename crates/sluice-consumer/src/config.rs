//! Consumer configuration.
use sluice_kafka::KafkaConfig;

use crate::error::ConsumerError;
pub use crate::retry::RetryPolicy;

/// What runs concurrently inside one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderBy {
    /// Records with the same key run one after another in offset order;
    /// different keys run concurrently, up to `max_in_flight_per_partition`.
    #[default]
    Key,
    /// One record at a time per partition, in offset order.
    Partition,
    /// Records run concurrently whatever their key, up to
    /// `max_in_flight_per_partition`, for handlers that do not care about
    /// order. Only the finished prefix is committed, as in the other
    /// modes, so a crash runs again what finished after the first
    /// unfinished record.
    Unordered,
}

/// How a group's partitions are spread over its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum AssignmentStrategy {
    /// A rebalance moves only the partitions that change owner; the others
    /// keep running.
    #[default]
    #[serde(rename = "cooperative-sticky")]
    CooperativeSticky,
    /// Every rebalance revokes every partition first (eager), then hands
    /// out ranges of each topic's partitions.
    #[serde(rename = "range")]
    Range,
    /// Eager, partitions dealt out one by one.
    #[serde(rename = "roundrobin")]
    RoundRobin,
}

impl AssignmentStrategy {
    /// librdkafka's name, `partition.assignment.strategy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CooperativeSticky => "cooperative-sticky",
            Self::Range => "range",
            Self::RoundRobin => "roundrobin",
        }
    }
}

/// Where a group without a committed offset for a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoOffsetReset {
    /// The partition's first record still kept.
    #[default]
    Earliest,
    /// Only records written after the consumer joined.
    Latest,
}

impl AutoOffsetReset {
    /// librdkafka's name, `auto.offset.reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earliest => "earliest",
            Self::Latest => "latest",
        }
    }
}

/// Where dead-lettered records go.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqConfig {
    /// DLQ topic name; `{topic}` stands for the record's topic.
    #[serde(default = "default_dlq_topic")]
    pub topic: String,
    /// The largest dead letter sent whole (the DLQ producer's
    /// `message.max.bytes`). A larger one, or one the DLQ topic's own
    /// `max.message.bytes` refuses, is written as a reference without its
    /// value. The default is what the consumer can receive at most
    /// (librdkafka's `receive.message.max.bytes`), so every record is sent
    /// whole unless the DLQ topic is smaller.
    #[serde(default = "default_dlq_max_message_bytes")]
    pub max_message_bytes: usize,
}

impl Default for DlqConfig {
    fn default() -> Self {
        Self {
            topic: default_dlq_topic(),
            max_message_bytes: default_dlq_max_message_bytes(),
        }
    }
}

impl DlqConfig {
    pub fn topic_for(&self, topic: &str) -> String {
        self.topic.replace("{topic}", topic)
    }
}

/// Everything a [`Consumer`](crate::Consumer) needs.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    pub kafka: KafkaConfig,
    pub group_id: String,
    /// Topic names, or regular expressions starting with `^`
    /// (`^task\..*`, Rust `regex` syntax), which also match topics created
    /// later (within `pattern_refresh_ms`). A pattern never matches this
    /// consumer's own DLQ topics (names that fit `dlq.topic`) nor `__`
    /// internal topics; name such a topic to consume it.
    pub topics: Vec<String>,
    /// How often patterns in `topics` are matched against the cluster's
    /// topics again.
    #[serde(default = "default_pattern_refresh_ms")]
    pub pattern_refresh_ms: u64,
    #[serde(default)]
    pub ordering: OrderBy,
    /// Records running at once in one partition (with `ordering = "key"`).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_per_partition: usize,
    /// Records read but not yet committed, per partition; fetching from the
    /// partition pauses when they reach it. This bounds memory and what a
    /// crash can make run twice.
    #[serde(default = "default_max_uncommitted")]
    pub max_uncommitted_per_partition: usize,
    /// Bytes of records read and not yet finished, per partition (each
    /// record counts its key, value, headers and its own fields, a few
    /// hundred bytes); fetching from the partition pauses when they reach
    /// it, and resumes once half of it is free. A record larger than the limit
    /// still runs, alone.
    #[serde(default = "default_max_unfinished_bytes")]
    pub max_unfinished_bytes_per_partition: usize,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub dlq: DlqConfig,
    /// How often finished offsets are committed.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// Time running handlers get to finish when their partitions are
    /// revoked; then they are abandoned (and their records not committed).
    #[serde(default = "default_revoke_timeout_ms")]
    pub revoke_timeout_ms: u64,
    /// Time running handlers get to finish on shutdown.
    #[serde(default = "default_shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u64,
    /// `cooperative-sticky` (the default), `range` or `roundrobin`.
    #[serde(default)]
    pub assignment_strategy: AssignmentStrategy,
    /// Where a group without committed offsets starts: `earliest` (the
    /// default) or `latest`.
    #[serde(default)]
    pub auto_offset_reset: AutoOffsetReset,
    /// Records whose value is larger than this are dead-lettered with class
    /// `oversize_record` before any handler runs (whatever the handler;
    /// [`Handlers::max_record_bytes`](crate::Handlers::max_record_bytes)
    /// is the decoder's own limit).
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// Records read per second at most, over all of this consumer's
    /// partitions. Over it, the poll thread takes no records until the
    /// rate allows more (the rest stays in Kafka and librdkafka's bounded
    /// prefetch queue); unset, no limit.
    #[serde(default)]
    pub max_records_per_second: Option<u32>,
}

fn default_dlq_topic() -> String {
    "{topic}.dlq".to_owned()
}
fn default_dlq_max_message_bytes() -> usize {
    100_000_000
}
fn default_pattern_refresh_ms() -> u64 {
    30_000
}
fn default_max_in_flight() -> usize {
    16
}
fn default_max_uncommitted() -> usize {
    20_000
}
fn default_max_unfinished_bytes() -> usize {
    32 * 1024 * 1024
}
fn default_commit_interval_ms() -> u64 {
    1_000
}
fn default_revoke_timeout_ms() -> u64 {
    10_000
}
fn default_shutdown_timeout_ms() -> u64 {
    30_000
}
fn default_max_record_bytes() -> usize {
    sluice_core::framing::DEFAULT_MAX_RECORD_BYTES
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`.
fn valid_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl ConsumerConfig {
    /// Defaults for everything but the cluster, the group and the topics.
    pub fn new(
        kafka: KafkaConfig,
        group_id: impl Into<String>,
        topics: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            kafka,
            group_id: group_id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            pattern_refresh_ms: default_pattern_refresh_ms(),
            ordering: OrderBy::default(),
            max_in_flight_per_partition: default_max_in_flight(),
            max_uncommitted_per_partition: default_max_uncommitted(),
            max_unfinished_bytes_per_partition: default_max_unfinished_bytes(),
            retry: RetryPolicy::default(),
            dlq: DlqConfig::default(),
            commit_interval_ms: default_commit_interval_ms(),
            revoke_timeout_ms: default_revoke_timeout_ms(),
            shutdown_timeout_ms: default_shutdown_timeout_ms(),
            assignment_strategy: AssignmentStrategy::default(),
            auto_offset_reset: AutoOffsetReset::default(),
            max_record_bytes: default_max_record_bytes(),
            max_records_per_second: None,
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, ConsumerError> {
        toml::from_str(text).map_err(|e| ConsumerError::Config(sluice_kafka::toml_error(&e, text)))
    }

    pub(crate) fn validate(&self) -> Result<(), ConsumerError> {
        let fail = |m: &str| Err(ConsumerError::Config(m.to_owned()));
        if self.kafka.bootstrap_servers.trim().is_empty() {
            return fail("kafka.bootstrap_servers is empty");
        }
        if self.group_id.trim().is_empty() {
            return fail("group_id is empty");
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            return fail("topics must name at least one topic, and no empty ones");
        }
        if let Some(bad) = self
            .topics
            .iter()
            .find(|t| !t.starts_with('^') && !valid_topic_name(t))
        {
            return Err(ConsumerError::Config(format!(
                "topic {bad:?} is not a Kafka topic name (up to 249 of a-z, A-Z, 0-9, '.', '_', '-')"
            )));
        }
        if self.topics.iter().any(|t| t.contains('\0'))
            || !valid_topic_name(&self.dlq.topic.replace("{topic}", "t"))
        {
            return fail("a topic pattern or dlq.topic has characters a Kafka topic name cannot");
        }
        if self.max_in_flight_per_partition == 0
            || self.max_uncommitted_per_partition == 0
            || self.max_unfinished_bytes_per_partition == 0
        {
            return fail(
                "max_in_flight_per_partition, max_uncommitted_per_partition and \
                 max_unfinished_bytes_per_partition must be positive",
            );
        }
        if self.max_records_per_second == Some(0) {
            return fail("max_records_per_second must be positive (or unset)");
        }
        if self.pattern_refresh_ms == 0 {
            return fail("pattern_refresh_ms must be positive");
        }
        if self.retry.max_attempts == 0 {
            return fail("retry.max_attempts must be at least 1");
        }
        if self.retry.max_backoff_ms < self.retry.initial_backoff_ms {
            return fail("retry.max_backoff_ms is smaller than retry.initial_backoff_ms");
        }
        if !self.dlq.topic.contains("{topic}") && self.topics.len() > 1 {
            return fail("dlq.topic must contain {topic} when several topics are consumed");
        }
        if self.topics.iter().any(|t| self.dlq.topic_for(t) == *t) {
            return fail("dlq.topic must differ from the topics consumed");
        }
        // The poll thread waits for revoked partitions' handlers inside the
        // rebalance callback: longer than the poll interval, and the group
        // evicts the member mid-rebalance.
        let poll_interval_ms = self
            .kafka
            .properties
            .get("max.poll.interval.ms")
            .map_or(Ok(300_000), |v| v.parse::<u64>())
            .map_err(|_| {
                ConsumerError::Config(
                    "kafka.properties max.poll.interval.ms is not a number".into(),
                )
            })?;
        if self.revoke_timeout_ms >= poll_interval_ms {
            return Err(ConsumerError::Config(format!(
                "revoke_timeout_ms ({}) must be below max.poll.interval.ms ({poll_interval_ms}): \
                 lower revoke_timeout_ms or raise max.poll.interval.ms",
                self.revoke_timeout_ms
            )));
        }
        if !(1_000..=1_000_000_000).contains(&self.dlq.max_message_bytes) {
            return fail("dlq.max_message_bytes must be between 1000 and 1000000000");
        }
        self.kafka.security.validate()?;
        Ok(())
    }

    pub(crate) fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = self.kafka.client_config();
        config
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", self.auto_offset_reset.as_str())
            .set(
                "partition.assignment.strategy",
                self.assignment_strategy.as_str(),
            )
            .set("statistics.interval.ms", "1000");
        // Anything set explicitly wins over sluice's choices.
        for (key, value) in &self.kafka.properties {
            config.set(key, value);
        }
        config
    }

    pub(crate) fn in_flight_limit(&self) -> usize {
        match self.ordering {
            OrderBy::Key | OrderBy::Unordered => self.max_in_flight_per_partition,
            OrderBy::Partition => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_toml_with_defaults_and_refusals() {
        let config = ConsumerConfig::from_toml(
            r#"
            group_id = "billing"
            topics = ["^task\\..*"]
            [kafka]
            bootstrap_servers = "localhost:9092"
            [retry]
            max_attempts = 3
            "#,
        )
        .unwrap();
        assert_eq!(config.retry.max_attempts, 3);
        assert_eq!(config.dlq.topic_for("task.a"), "task.a.dlq");
        assert_eq!(config.ordering, OrderBy::Key);
        config.validate().unwrap();

        let unknown = ConsumerConfig::from_toml(
            "group_id = \"g\"\ntopics = [\"t\"]\nconcurrency = 4\n[kafka]\nbootstrap_servers = \"b:1\"\n",
        );
        assert!(unknown.unwrap_err().to_string().contains("concurrency"));

        let eager = ConsumerConfig::from_toml(
            "group_id = \"g\"\ntopics = [\"t\"]\nassignment_strategy = \"roundrobin\"\n\
             auto_offset_reset = \"latest\"\n[kafka]\nbootstrap_servers = \"b:1\"\n",
        )
        .unwrap();
        assert_eq!(eager.assignment_strategy, AssignmentStrategy::RoundRobin);
        assert_eq!(eager.auto_offset_reset, AutoOffsetReset::Latest);
        let client = eager.client_config();
        assert_eq!(
            client.get("partition.assignment.strategy"),
            Some("roundrobin")
        );
        assert_eq!(client.get("auto.offset.reset"), Some("latest"));
        for bad in [
            "assignment_strategy = \"sticky\"",
            "auto_offset_reset = \"smallest\"",
        ] {
            let text = format!(
                "group_id = \"g\"\ntopics = [\"t\"]\n{bad}\n[kafka]\nbootstrap_servers = \"b:1\"\n"
            );
            let error = ConsumerConfig::from_toml(&text).unwrap_err().to_string();
            assert!(error.contains("unknown variant"), "{bad}: {error}");
        }

        let mut same = ConsumerConfig::new(KafkaConfig::new("b:1"), "g", ["t"]);
        same.dlq.topic = "t".into();
        assert!(same.validate().is_err());

        let mut slow = ConsumerConfig::new(KafkaConfig::new("b:1"), "g", ["t"]);
        slow.revoke_timeout_ms = 300_000;
        let error = slow.validate().unwrap_err().to_string();
        assert!(error.contains("max.poll.interval.ms"), "{error}");
        slow.kafka
            .properties
            .insert("max.poll.interval.ms".into(), "600000".into());
        slow.validate().unwrap();

        for bad in ["a b", "t\0", "é", &"x".repeat(250)] {
            let config = ConsumerConfig::new(KafkaConfig::new("b:1"), "g", [bad]);
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("topic"), "{bad:?}: {error}");
        }
        let mut template = ConsumerConfig::new(KafkaConfig::new("b:1"), "g", ["t"]);
        template.dlq.topic = "{topic} dlq".into();
        assert!(template.validate().is_err());
    }
}
