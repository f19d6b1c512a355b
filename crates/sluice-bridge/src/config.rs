//! The bridge's configuration file (TOML): the Kafka cluster, where AWS is,
//! and the routes from topics to an EventBridge bus or an SQS queue.
//!
//! ```toml
//! [kafka]
//! bootstrap_servers = "b-1.msk.example:9098"
//!
//! [[route]]
//! name = "emails-to-bus"
//! topics = ["email.received", "^workflow\\..*"]
//! eventbridge = { event_bus = "sluice-events" }
//!
//! [[route]]
//! name = "emails-to-queue"
//! topics = ["email.received"]
//! sqs = { queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/emails.fifo", message_group = "key" }
//! ```

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use sluice_kafka::KafkaConfig;

use crate::error::BridgeError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub aws: AwsConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(rename = "route")]
    pub routes: Vec<RouteConfig>,
}

/// Region and endpoint. Credentials come from the standard AWS chain
/// (environment, profile, web identity, container or instance role), or
/// from the settings a service hands to `BridgeBuilder::sdk_config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Overrides the region of the AWS chain.
    pub region: Option<String>,
    /// Sends every AWS call to this endpoint instead (a local emulator, a
    /// VPC endpoint).
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where `/health`, `/ready` and `/metrics` are served.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

/// One flow: records of `topics` to one destination, with its own consumer
/// group so that each route commits on its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRoute")]
pub struct RouteConfig {
    pub name: String,
    /// Topic names, or patterns starting with `^` (Rust `regex` syntax).
    /// A pattern never matches the route's own DLQ topics (names that fit
    /// `dlq_topic`) nor `__` internal topics.
    pub topics: Vec<String>,
    /// Defaults to `sluice-bridge.<name>`.
    pub group_id: Option<String>,
    /// The DLQ topic for records that cannot become an entry (undecodable,
    /// too large, without a message group) and entries AWS refuses;
    /// `{topic}` is the record's topic. Defaults to `{topic}.dlq`.
    pub dlq_topic: Option<String>,
    /// Where a new group starts: `earliest` (default) or `latest`.
    pub auto_offset_reset: sluice_consumer::AutoOffsetReset,
    /// Records of one partition in flight at once (records with the same key
    /// are always sent one after the other).
    pub max_in_flight_per_partition: usize,
    /// Records whose value is larger are dead-lettered with class
    /// `oversize_record` without a call to AWS. Defaults to 1 MiB.
    pub max_record_bytes: Option<usize>,
    /// In the file, `eventbridge = { ... }` or `sqs = { ... }`.
    pub destination: DestinationConfig,
    pub batching: BatchingConfig,
}

/// Where a route sends its records, as configured.
#[derive(Debug, Clone)]
pub enum DestinationConfig {
    EventBridge(EventBridgeConfig),
    Sqs(SqsConfig),
}

impl DestinationConfig {
    fn limits(&self) -> &Limits {
        match self {
            Self::EventBridge(eb) => &eb.limits,
            Self::Sqs(sqs) => &sqs.limits,
        }
    }
}

/// A `[[route]]` as written: both destination keys are optional here, and
/// [`RouteConfig`] takes exactly one of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    topics: Vec<String>,
    group_id: Option<String>,
    dlq_topic: Option<String>,
    #[serde(default)]
    auto_offset_reset: sluice_consumer::AutoOffsetReset,
    #[serde(default = "default_in_flight")]
    max_in_flight_per_partition: usize,
    max_record_bytes: Option<usize>,
    eventbridge: Option<EventBridgeConfig>,
    sqs: Option<SqsConfig>,
    #[serde(default)]
    batching: BatchingConfig,
}

impl TryFrom<RawRoute> for RouteConfig {
    type Error = String;

    fn try_from(raw: RawRoute) -> Result<Self, String> {
        let name = raw.name;
        let destination = match (raw.eventbridge, raw.sqs) {
            (Some(eb), None) => DestinationConfig::EventBridge(eb),
            (None, Some(sqs)) => DestinationConfig::Sqs(sqs),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "route {name:?} has both eventbridge and sqs: one destination per route"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "route {name:?} has no destination: add eventbridge = {{ event_bus = \"...\" }} or sqs = {{ queue_url = \"...\" }}"
                ));
            }
        };
        Ok(Self {
            name,
            topics: raw.topics,
            group_id: raw.group_id,
            dlq_topic: raw.dlq_topic,
            auto_offset_reset: raw.auto_offset_reset,
            max_in_flight_per_partition: raw.max_in_flight_per_partition,
            max_record_bytes: raw.max_record_bytes,
            destination,
            batching: raw.batching,
        })
    }
}

fn default_in_flight() -> usize {
    64
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBridgeConfig {
    /// The bus name or ARN.
    pub event_bus: String,
    /// What `Detail` holds: a CloudEvent in JSON format with the event as
    /// `data` (the default; it keeps the event id) or the event alone.
    #[serde(default)]
    pub detail: DetailFormat,
    /// Used when a record has no `ce_source` header.
    pub default_source: Option<String>,
    #[serde(default)]
    pub limits: Limits,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetailFormat {
    #[default]
    Cloudevent,
    Data,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    pub queue_url: String,
    /// The message body: the event rendered as JSON (default), or the
    /// record's bytes in standard base64.
    #[serde(default)]
    pub body: BodyFormat,
    /// `MessageGroupId`: required for FIFO queues.
    pub message_group: Option<MessageGroup>,
    #[serde(default)]
    pub limits: Limits,
}

impl SqsConfig {
    /// SQS requires FIFO queue names to end in `.fifo`.
    pub fn is_fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    #[default]
    Json,
    Base64,
}

/// Where a message's group id comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum MessageGroup {
    /// `"key"`: the Kafka key.
    Key(KeyWord),
    /// `{ field = "mailboxId" }`: a field of the event's JSON rendering, dot
    /// separated for nested fields.
    Field { field: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyWord {
    Key,
}

/// Per-call limits; the defaults are the AWS quotas (see docs/bridges.md).
/// Lower them to match a queue's `MaximumMessageSize` or for tests; the
/// bridge also reads that attribute at start and keeps the smaller value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_entries: Option<usize>,
    pub max_entry_bytes: Option<usize>,
    pub max_request_bytes: Option<usize>,
}

/// AWS quotas, as of this release.
pub(crate) mod quotas {
    /// PutEvents: entries per request.
    pub(crate) const EVENTBRIDGE_MAX_ENTRIES: usize = 10;
    /// PutEvents: the total entry size of a request, 256 KiB.
    pub(crate) const EVENTBRIDGE_MAX_REQUEST_BYTES: usize = 256 * 1024;
    /// SendMessageBatch: messages per request.
    pub(crate) const SQS_MAX_ENTRIES: usize = 10;
    /// SQS: one message, 1 MiB (body plus attributes).
    pub(crate) const SQS_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
    /// SendMessageBatch: all messages of a request, 1 MiB.
    pub(crate) const SQS_MAX_REQUEST_BYTES: usize = 1024 * 1024;
    /// SQS: message attributes per message.
    pub(crate) const SQS_MAX_ATTRIBUTES: usize = 10;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchingConfig {
    /// How long a partial batch waits for more entries.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Calls in flight at once for this route.
    #[serde(default = "default_batches_in_flight")]
    pub max_batches_in_flight: usize,
    /// Sends of an entry AWS fails with a retriable error (internal
    /// failure) before it is dead-lettered. Throttling does not count.
    #[serde(default = "default_entry_attempts")]
    pub max_entry_attempts: u32,
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        Self {
            linger_ms: default_linger_ms(),
            max_batches_in_flight: default_batches_in_flight(),
            max_entry_attempts: default_entry_attempts(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

fn default_linger_ms() -> u64 {
    20
}
fn default_batches_in_flight() -> usize {
    8
}
fn default_entry_attempts() -> u32 {
    8
}
fn default_initial_backoff_ms() -> u64 {
    50
}
fn default_max_backoff_ms() -> u64 {
    5_000
}

impl BridgeConfig {
    pub fn from_toml(text: &str) -> Result<Self, BridgeError> {
        let config: Self = toml::from_str(text)
            .map_err(|e| BridgeError::Config(sluice_kafka::toml_error(&e, text)))?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, BridgeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BridgeError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| match e {
            BridgeError::Config(m) => BridgeError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Checks what the types cannot: names, topics and destinations that are
    /// not empty, FIFO queues with a group rule, limits within the quotas.
    pub(crate) fn validate(&self) -> Result<(), BridgeError> {
        let fail = |m: String| Err(BridgeError::Config(m));
        if self.kafka.bootstrap_servers.trim().is_empty() {
            return fail("kafka.bootstrap_servers is empty".into());
        }
        if self.routes.is_empty() {
            return fail("no [[route]]: a bridge needs at least one".into());
        }
        let mut names = std::collections::HashSet::new();
        for route in &self.routes {
            let name = &route.name;
            if name.trim().is_empty() {
                return fail("a route has an empty name".into());
            }
            if !names.insert(name.as_str()) {
                return fail(format!("route {name:?} is defined twice"));
            }
            if route.topics.is_empty() {
                return fail(format!("route {name:?}: topics is empty"));
            }
            if route.max_in_flight_per_partition == 0 {
                return fail(format!("route {name:?}: max_in_flight_per_partition is 0"));
            }
            if route.batching.max_batches_in_flight == 0 || route.batching.max_entry_attempts == 0 {
                return fail(format!(
                    "route {name:?}: batching.max_batches_in_flight and max_entry_attempts must be at least 1"
                ));
            }
            if route.batching.max_batches_in_flight > 1024 {
                return fail(format!(
                    "route {name:?}: batching.max_batches_in_flight is at most 1024"
                ));
            }
            match &route.destination {
                DestinationConfig::EventBridge(eb) => {
                    if eb.event_bus.trim().is_empty() {
                        return fail(format!("route {name:?}: eventbridge.event_bus is empty"));
                    }
                }
                DestinationConfig::Sqs(sqs) => {
                    if sqs.queue_url.trim().is_empty() {
                        return fail(format!("route {name:?}: sqs.queue_url is empty"));
                    }
                    if sqs.is_fifo() && sqs.message_group.is_none() {
                        return fail(format!(
                            "route {name:?}: {} is a FIFO queue and needs a group rule: message_group = \"key\" or message_group = {{ field = \"...\" }}",
                            sqs.queue_url
                        ));
                    }
                    if let Some(MessageGroup::Field { field }) = &sqs.message_group
                        && field.trim().is_empty()
                    {
                        return fail(format!("route {name:?}: message_group.field is empty"));
                    }
                }
            }
            let limits = route.destination.limits();
            if limits.max_entries.is_some_and(|n| n == 0 || n > 10) {
                return fail(format!(
                    "route {name:?}: limits.max_entries must be between 1 and 10 (the AWS quota)"
                ));
            }
            if limits.max_entry_bytes == Some(0) || limits.max_request_bytes == Some(0) {
                return fail(format!("route {name:?}: byte limits must be positive"));
            }
        }
        Ok(())
    }
}
