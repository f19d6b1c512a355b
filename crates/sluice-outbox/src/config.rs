//! Configuration: where the outbox lives ([`OutboxConfig`]) and how the
//! relay runs ([`RelayConfig`]). Serde structs with defaults; unknown keys
//! are refused.

use std::net::SocketAddr;
use std::path::Path;

use sluice_kafka::Secret;
use sluice_producer::ProducerConfig;

use crate::error::{OutboxError, Result};
use crate::names::Names;

/// Where the outbox and inbox tables live. Writers, relays and the CLI must
/// agree on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// The schema of both tables; created by the migration when missing.
    pub schema: String,
    /// The outbox table.
    pub table: String,
    /// The inbox table of the consuming side.
    pub inbox_table: String,
    /// The LISTEN/NOTIFY channel; by default `<schema>_<table>`.
    pub channel: Option<String>,
    /// Whether `enqueue` sends a `NOTIFY` on the channel, so relays wake at
    /// once (the lowest latency; the default). PostgreSQL takes a
    /// cluster-wide lock while a transaction that notified commits, which
    /// serializes such commits: writers committing at high rates should
    /// set `false`, and relays then find their rows by polling, at most
    /// `relay.poll_interval_ms` later. A relay-only setting has no effect.
    pub notify: bool,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            schema: "sluice".to_owned(),
            table: "outbox".to_owned(),
            inbox_table: "inbox".to_owned(),
            channel: None,
            notify: true,
        }
    }
}

impl OutboxConfig {
    /// The validated names.
    pub fn names(&self) -> Result<Names> {
        Names::new(
            &self.schema,
            &self.table,
            &self.inbox_table,
            self.channel.as_deref(),
        )
    }
}

/// What happens to a row once the broker acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// Deleted in the same statement that would mark it.
    Delete,
    /// Marked `published` and deleted by the relay once older than
    /// `retention_hours`.
    Keep,
}

/// The relay: database, Kafka, batching, buckets, HTTP.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// `postgres://user:password@host/db`; kept out of `Debug` output.
    /// `SLUICE_OUTBOX_DATABASE_URL` overrides it.
    pub database_url: Secret,
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// The producer the rows are published with (idempotent, `acks=all` by
    /// default; the relay refuses `idempotence = false`).
    pub producer: ProducerConfig,
    /// The schema registry manifest rows are checked against.
    #[serde(default)]
    pub registry: Option<std::path::PathBuf>,
    #[serde(default)]
    pub relay: RelaySettings,
    #[serde(default)]
    pub http: HttpConfig,
}

/// How the relay reads, sends and shares work.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySettings {
    /// Hash buckets of the aggregate id; each is owned by one relay at a
    /// time (an advisory lock). Every relay of an outbox must use the same
    /// number.
    pub buckets: u32,
    /// Rows read, sent and marked per round; also the most rows a killed
    /// relay can have sent without marking them (the duplicates it may
    /// cause).
    pub batch_size: u32,
    /// The longest wait between rounds when no NOTIFY arrives.
    pub poll_interval_ms: u64,
    /// How often bucket ownership is rebalanced among the running relays.
    pub rebalance_interval_ms: u64,
    /// How often the gauges (pending rows, oldest age, dead rows) are read,
    /// and, with `retention = "keep"`, old published rows deleted.
    pub stats_interval_ms: u64,
    pub retention: Retention,
    /// With `retention = "keep"`: published rows older than this go (0:
    /// at the next cleanup).
    pub retention_hours: u64,
    /// Check each row's type and payload against the registry before
    /// sending it; rows that fail go to the dead-letter state.
    pub validate: bool,
    /// Times a row is retried on a retriable send error before it is
    /// dead-lettered; 0: retried for ever (the row and its aggregate wait).
    pub max_attempts: u32,
    /// Connections of the relay's pool (the bucket locks use one more).
    pub max_connections: u32,
    /// Apply the shipped migrations at start (idempotent; needs the right
    /// to create the schema and tables). Off when migrations are applied
    /// by the service's own tooling.
    pub migrate: bool,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            buckets: 16,
            batch_size: 500,
            poll_interval_ms: 1_000,
            rebalance_interval_ms: 2_000,
            stats_interval_ms: 5_000,
            retention: Retention::Delete,
            retention_hours: 24,
            validate: true,
            max_attempts: 0,
            max_connections: 4,
            migrate: true,
        }
    }
}

/// Where `/health`, `/ready` and `/metrics` are served.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
        }
    }
}

impl RelayConfig {
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text)
            .map_err(|e| OutboxError::Config(sluice_kafka::toml_error(&e, text)))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `path`, then applies `SLUICE_OUTBOX_DATABASE_URL` and the
    /// producer's environment overrides.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| OutboxError::ReadConfig {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml(&text)?;
        if let Ok(url) = std::env::var("SLUICE_OUTBOX_DATABASE_URL") {
            config.database_url = Secret::new(url);
        }
        config.producer = config.producer.with_env()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        self.outbox.names()?;
        let r = &self.relay;
        let fail = |m: &str| Err(OutboxError::Config(m.to_owned()));
        if r.buckets == 0 || r.buckets > 4096 {
            return fail("relay.buckets must be between 1 and 4096");
        }
        if r.batch_size == 0 {
            return fail("relay.batch_size must be positive");
        }
        if r.poll_interval_ms == 0 || r.rebalance_interval_ms == 0 || r.stats_interval_ms == 0 {
            return fail("relay intervals must be positive");
        }
        if r.max_connections == 0 {
            return fail("relay.max_connections must be positive");
        }
        if !self.producer.idempotence {
            return fail(
                "producer.idempotence = false would let retries reorder or duplicate an aggregate's events",
            );
        }
        // Properties are applied last and win over sluice's settings: these
        // would undo what per-aggregate order rests on.
        if let Some(key) = self
            .producer
            .kafka
            .properties
            .keys()
            .find(|k| ORDER_BREAKING_PROPERTIES.contains(&k.as_str()))
        {
            return Err(OutboxError::Config(format!(
                "[producer.kafka.properties] may not set {key:?}: the relay's per-aggregate order depends on it"
            )));
        }
        Ok(())
    }
}

/// librdkafka properties a relay's configuration may not override.
const ORDER_BREAKING_PROPERTIES: [&str; 6] = [
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "partitioner",
    "enable.gapless.guarantee",
    "max.in.flight.requests.per.connection",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses() {
        let config = RelayConfig::from_toml(include_str!("../relay.example.toml")).expect("valid");
        assert_eq!(config.relay, RelaySettings::default());
        assert_eq!(config.outbox, OutboxConfig::default());
    }

    #[test]
    fn defaults_unknown_keys_and_secrets() {
        let text = r#"
            database_url = "postgres://relay:hunter2@db/app"
            [producer.kafka]
            bootstrap_servers = "b:9092"
        "#;
        let config = RelayConfig::from_toml(text).expect("valid");
        assert_eq!(config.outbox, OutboxConfig::default());
        assert_eq!(config.relay, RelaySettings::default());
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(
            config.database_url.expose(),
            "postgres://relay:hunter2@db/app"
        );

        // A syntax error on the URL's line names the line, not its text.
        let err = RelayConfig::from_toml(&text.replace("/app\"", "/app")).expect_err("unclosed");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = RelayConfig::from_toml(&format!("{text}\n[relay]\nbatch = 3\n"))
            .expect_err("unknown key");
        assert!(err.to_string().contains("batch"), "{err}");
        let err = RelayConfig::from_toml(&format!("{text}\n[outbox]\ntable = \"a;b\"\n"))
            .expect_err("bad name");
        assert!(err.to_string().contains("a;b"), "{err}");
        let err = RelayConfig::from_toml(&text.replace(
            "[producer.kafka]",
            "[producer]\nidempotence = false\n[producer.kafka]",
        ))
        .expect_err("not idempotent");
        assert!(err.to_string().contains("idempotence"), "{err}");
        for (key, value) in [
            ("enable.idempotence", "false"),
            ("partitioner", "random"),
            ("enable.gapless.guarantee", "false"),
        ] {
            let err = RelayConfig::from_toml(&format!(
                "{text}\n[producer.kafka.properties]\n\"{key}\" = \"{value}\"\n"
            ))
            .expect_err(key);
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
