//! Connection settings shared by every client.

use std::collections::BTreeMap;
use std::fmt;

use crate::security::SecurityConfig;

/// Where the cluster is and how to talk to it.
///
/// `properties` passes librdkafka settings through unchanged, for anything
/// sluice does not model itself. Values of keys that look secret
/// (`*password*`, `*secret*`, `*.key.pem`, ...) never appear in `Debug`
/// output.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    #[serde(default)]
    pub client_id: Option<String>,
    /// TLS and SASL (SCRAM or MSK IAM).
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            client_id: None,
            security: SecurityConfig::default(),
            properties: BTreeMap::new(),
        }
    }

    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    pub fn with_security(mut self, security: SecurityConfig) -> Self {
        self.security = security;
        self
    }

    /// The rdkafka configuration these settings describe. `properties` come
    /// last, so they can override anything sluice set.
    pub fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        if let Some(id) = &self.client_id {
            config.set("client.id", id);
        }
        self.security.apply(&mut config);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

/// librdkafka's partitioner for every client of sluice that writes keyed
/// records: murmur2 of the key, as the Java client does, so that a key
/// written by the producer, the CLI (replay, redrive, produce) or a Java
/// service lands on the same partition; keyless records go to a random one.
pub const PARTITIONER: &str = "murmur2_random";

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "key.pem",
        "ssl.key",
        "sasl.oauthbearer.config",
    ]
    .iter()
    .any(|s| key.contains(s))
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("client_id", &self.client_id)
            .field("security", &self.security)
            .field("properties", &properties)
            .finish()
    }
}

/// A TOML error as `line L, column C: what was wrong`, without the source
/// line the `toml` crate quotes in its message: in a configuration file,
/// that line may hold a password.
pub fn toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = error.message();
    let Some(span) = error.span() else {
        return message.to_owned();
    };
    let before = &text.as_bytes()[..span.start.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    format!("line {line}, column {column}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_do_not_quote_the_line() {
        let text = "bootstrap_servers = \"b:9092\"\n[security.sasl]\npassword = \"hunter2\n";
        let error = toml::from_str::<KafkaConfig>(text).unwrap_err();
        assert!(
            error.to_string().contains("hunter2"),
            "toml itself quotes it"
        );
        let said = toml_error(&error, text);
        assert!(!said.contains("hunter2"), "{said}");
        assert!(said.starts_with("line 3, column "), "{said}");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let config = KafkaConfig::new("b:9092")
            .with_property("sasl.password", "hunter2")
            .with_property("ssl.key.password", "k3y")
            .with_property("sasl.oauthbearer.config", "principal=x secret=s3cr3t")
            .with_property("linger.ms", "5");
        let shown = format!("{config:?}");
        for secret in ["hunter2", "k3y", "s3cr3t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("linger.ms") && shown.contains("\"5\""),
            "{shown}"
        );
        assert_eq!(config.client_config().get("sasl.password"), Some("hunter2"));
    }
}
