//! Producer configuration.

use std::collections::BTreeMap;

use sluice_kafka::KafkaConfig;

use crate::error::ProducerError;

/// Compression codec for record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Everything a [`Producer`](crate::Producer) needs. Every field but `kafka`
/// has a default tuned for throughput without giving up safety.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerConfig {
    pub kafka: KafkaConfig,
    /// The CloudEvents `ce_source` of every event sent.
    #[serde(default = "default_source")]
    pub source: String,
    /// Topic per event type (`ce_type`); types not listed go to the topic the
    /// naming strategy gives (by default the type without its version
    /// suffix: `email.received.v1` → `email.received`).
    #[serde(default)]
    pub topics: BTreeMap<String, String>,
    /// How long librdkafka waits to fill a batch (`linger.ms`).
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Largest batch per partition, in bytes (`batch.size`).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: u64,
    /// Most records per batch (`batch.num.messages`).
    #[serde(default = "default_batch_records")]
    pub batch_records: u64,
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// Idempotent producer with `acks=all`: no duplicates from retries and
    /// per-partition order kept across them. Turning it off also drops to
    /// `acks=1`.
    #[serde(default = "default_true")]
    pub idempotence: bool,
    /// A send fails when it is not acknowledged within this time, retries
    /// included (`delivery.timeout.ms`).
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// First retry delay; doubles up to `retry_backoff_max_ms`, with jitter.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    #[serde(default = "default_retry_backoff_max_ms")]
    pub retry_backoff_max_ms: u64,
    /// Bytes of encoded records waiting for delivery; a send waits (it does
    /// not fail) while the buffer is full. A record counts its key, value,
    /// header names and values, and 256 bytes for librdkafka's bookkeeping.
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: u64,
    /// Fail sends fast while the cluster is unreachable (see
    /// [`SendErrorKind::Unavailable`](crate::SendErrorKind::Unavailable)).
    #[serde(default = "default_true")]
    pub circuit_breaker: bool,
    /// While the circuit is open, one send per interval goes through as a
    /// probe.
    #[serde(default = "default_circuit_probe_interval_ms")]
    pub circuit_probe_interval_ms: u64,
    /// Records refused before they are sent when larger than this.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
}

fn default_source() -> String {
    "/sluice".to_owned()
}
fn default_linger_ms() -> u64 {
    5
}
fn default_batch_bytes() -> u64 {
    1_000_000
}
fn default_batch_records() -> u64 {
    10_000
}
fn default_compression() -> Compression {
    Compression::Lz4
}
fn default_true() -> bool {
    true
}
fn default_delivery_timeout_ms() -> u64 {
    120_000
}
fn default_retry_backoff_ms() -> u64 {
    100
}
fn default_retry_backoff_max_ms() -> u64 {
    1_000
}
fn default_circuit_probe_interval_ms() -> u64 {
    5_000
}
fn default_max_buffered_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_max_record_bytes() -> usize {
    sluice_core::framing::DEFAULT_MAX_RECORD_BYTES
}

impl ProducerConfig {
    /// Defaults for everything but the cluster address.
    pub fn new(kafka: KafkaConfig) -> Self {
        Self {
            kafka,
            source: default_source(),
            topics: BTreeMap::new(),
            linger_ms: default_linger_ms(),
            batch_bytes: default_batch_bytes(),
            batch_records: default_batch_records(),
            compression: default_compression(),
            idempotence: true,
            delivery_timeout_ms: default_delivery_timeout_ms(),
            retry_backoff_ms: default_retry_backoff_ms(),
            retry_backoff_max_ms: default_retry_backoff_max_ms(),
            max_buffered_bytes: default_max_buffered_bytes(),
            circuit_breaker: true,
            circuit_probe_interval_ms: default_circuit_probe_interval_ms(),
            max_record_bytes: default_max_record_bytes(),
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, ProducerError> {
        toml::from_str(text).map_err(|e| ProducerError::Config(sluice_kafka::toml_error(&e, text)))
    }

    /// Overrides settings from `SLUICE_BOOTSTRAP_SERVERS`, `SLUICE_CLIENT_ID`,
    /// `SLUICE_SOURCE`, `SLUICE_LINGER_MS`, `SLUICE_COMPRESSION` and
    /// `SLUICE_DELIVERY_TIMEOUT_MS` when they are set.
    pub fn with_env(self) -> Result<Self, ProducerError> {
        self.with_vars(|name| std::env::var(name).ok())
    }

    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, ProducerError> {
        let number = |name: &str, value: String| {
            value
                .parse::<u64>()
                .map_err(|_| ProducerError::Config(format!("{name}={value:?} is not a number")))
        };
        if let Some(v) = var("SLUICE_BOOTSTRAP_SERVERS") {
            self.kafka.bootstrap_servers = v;
        }
        if let Some(v) = var("SLUICE_CLIENT_ID") {
            self.kafka.client_id = Some(v);
        }
        if let Some(v) = var("SLUICE_SOURCE") {
            self.source = v;
        }
        if let Some(v) = var("SLUICE_LINGER_MS") {
            self.linger_ms = number("SLUICE_LINGER_MS", v)?;
        }
        if let Some(v) = var("SLUICE_DELIVERY_TIMEOUT_MS") {
            self.delivery_timeout_ms = number("SLUICE_DELIVERY_TIMEOUT_MS", v)?;
        }
        if let Some(v) = var("SLUICE_COMPRESSION") {
            self.compression = toml::Value::String(v.clone()).try_into().map_err(|_| {
                ProducerError::Config(format!(
                    "SLUICE_COMPRESSION={v:?} is not one of none, gzip, snappy, lz4, zstd"
                ))
            })?;
        }
        Ok(self)
    }

    pub(crate) fn validate(&self) -> Result<(), ProducerError> {
        let fail = |m: String| Err(ProducerError::Config(m));
        if self.kafka.bootstrap_servers.trim().is_empty() {
            return fail("kafka.bootstrap_servers is empty".into());
        }
        if self.max_buffered_bytes < self.max_record_bytes as u64 {
            return fail(format!(
                "max_buffered_bytes ({}) is smaller than max_record_bytes ({}): a large record could never be sent",
                self.max_buffered_bytes, self.max_record_bytes
            ));
        }
        if self.retry_backoff_max_ms < self.retry_backoff_ms {
            return fail("retry_backoff_max_ms is smaller than retry_backoff_ms".into());
        }
        if self.delivery_timeout_ms == 0 {
            return fail("delivery_timeout_ms must be positive".into());
        }
        self.kafka.security.validate()?;
        Ok(())
    }

    /// The librdkafka settings the producer is created with: `kafka`'s, then
    /// those these fields stand for, then `kafka.properties` again, so that
    /// anything set there explicitly wins.
    pub fn librdkafka_config(&self) -> rdkafka::ClientConfig {
        let mut config = self.kafka.client_config();
        let buffered_kb = (self.max_buffered_bytes / 1024).clamp(1, i32::MAX as u64);
        config
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("batch.num.messages", self.batch_records.to_string())
            .set("compression.type", self.compression.as_str())
            .set("enable.idempotence", self.idempotence.to_string())
            .set("acks", if self.idempotence { "all" } else { "1" })
            .set("delivery.timeout.ms", self.delivery_timeout_ms.to_string())
            .set("retry.backoff.ms", self.retry_backoff_ms.to_string())
            .set(
                "retry.backoff.max.ms",
                self.retry_backoff_max_ms.to_string(),
            )
            // sluice bounds buffered bytes itself (sends wait instead of
            // failing); librdkafka's own limits sit above it as a backstop.
            .set(
                "queue.buffering.max.kbytes",
                (buffered_kb * 2).min(i32::MAX as u64).to_string(),
            )
            .set("queue.buffering.max.messages", "2147483647")
            .set(
                "message.max.bytes",
                (self.max_record_bytes + 64 * 1024).to_string(),
            )
            .set("partitioner", sluice_kafka::PARTITIONER);
        for (key, value) in &self.kafka.properties {
            config.set(key, value);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_defaults_and_unknown_keys() {
        let config =
            ProducerConfig::from_toml("[kafka]\nbootstrap_servers = \"b:9092\"\n").expect("valid");
        assert_eq!(config, ProducerConfig::new(KafkaConfig::new("b:9092")));
        let err = ProducerConfig::from_toml("linger = 5\n[kafka]\nbootstrap_servers = \"b\"\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("linger"), "{err}");
    }

    #[test]
    fn environment_overrides() {
        let vars = |name: &str| match name {
            "SLUICE_BOOTSTRAP_SERVERS" => Some("env:9092".to_owned()),
            "SLUICE_COMPRESSION" => Some("zstd".to_owned()),
            "SLUICE_LINGER_MS" => Some("20".to_owned()),
            _ => None,
        };
        let config = ProducerConfig::new(KafkaConfig::new("file:9092"))
            .with_vars(vars)
            .expect("valid");
        assert_eq!(config.kafka.bootstrap_servers, "env:9092");
        assert_eq!(config.compression, Compression::Zstd);
        assert_eq!(config.linger_ms, 20);
        let bad = ProducerConfig::new(KafkaConfig::new("b"))
            .with_vars(|n| (n == "SLUICE_COMPRESSION").then(|| "brotli".to_owned()));
        assert!(bad.is_err());
    }

    #[test]
    fn defaults_are_safe_and_fast() {
        let config = ProducerConfig::new(KafkaConfig::new("b:9092")).librdkafka_config();
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("compression.type"), Some("lz4"));
        assert_eq!(config.get("linger.ms"), Some("5"));
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let mut config = ProducerConfig::new(KafkaConfig::new("b:9092"));
        config.max_buffered_bytes = 10;
        assert!(config.validate().is_err());
        let config = ProducerConfig::new(KafkaConfig::new(" "));
        assert!(config.validate().is_err());
    }
}
