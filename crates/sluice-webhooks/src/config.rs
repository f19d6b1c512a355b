//! The service's configuration file (TOML): webhook sources into Kafka
//! (`[ingress]`), endpoints that Kafka topics are delivered to
//! (`[egress]`), or both.
//!
//! ```toml
//! [http]
//! listen = "0.0.0.0:8080"          # /health, /ready, /metrics
//!
//! [ingress]
//! listen = "0.0.0.0:8000"          # POST /webhooks/{source}
//! [ingress.producer]
//! source = "/sluice/webhooks"
//! [ingress.producer.kafka]
//! bootstrap_servers = "localhost:9092"
//!
//! [[ingress.source]]
//! name = "billing"
//! topic = "webhooks.billing"
//! event_type = "com.example.billing.v1"
//! secrets = ["env:BILLING_WEBHOOK_SECRET"]
//!
//! [egress.kafka]
//! bootstrap_servers = "localhost:9092"
//! [[egress.endpoint]]
//! name = "crm"
//! url = "https://crm.example.com/hooks"
//! topics = ["webhooks.billing"]
//! secrets = ["env:CRM_WEBHOOK_SECRET"]
//! ```

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use sluice_core::Format;
use sluice_kafka::KafkaConfig;
use sluice_producer::ProducerConfig;

use crate::error::WebhookError;
use crate::signature::{Scheme, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    #[serde(default)]
    pub http: HttpConfig,
    pub ingress: Option<IngressConfig>,
    pub egress: Option<EgressConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where `/health`, `/ready` and `/metrics` are served.
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_http_listen(),
        }
    }
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

/// HTTP → Kafka.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressConfig {
    /// Where `POST /webhooks/{source}` is served.
    #[serde(default = "default_ingress_listen")]
    pub listen: SocketAddr,
    /// Larger bodies are refused with 413 (default 1 MiB).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long a `webhook-id` is remembered: a repeat within it answers
    /// 202 again and publishes nothing (default 24 h).
    #[serde(default = "default_dedup_window_secs")]
    pub dedup_window_secs: u64,
    /// How many ids are remembered at most; the oldest are forgotten first.
    #[serde(default = "default_dedup_capacity")]
    pub dedup_capacity: usize,
    /// The producer requests are published with (idempotent, `acks=all`).
    pub producer: ProducerConfig,
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
}

fn default_ingress_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8000))
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_dedup_window_secs() -> u64 {
    24 * 3600
}
fn default_dedup_capacity() -> usize {
    1_000_000
}

/// One sender, served at `/webhooks/{name}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub topic: String,
    #[serde(default = "default_scheme")]
    pub scheme: Scheme,
    /// Active secrets; a request signed with any of them is accepted. An
    /// entry `env:NAME` is read from the environment variable `NAME`.
    /// Standard Webhooks secrets are `whsec_<base64>`; GitHub-style ones
    /// are used as their bytes.
    pub secrets: Vec<SecretSource>,
    /// Accepted distance of `webhook-timestamp` from now, either way
    /// (Standard Webhooks only; default 300 s).
    #[serde(default = "default_tolerance_secs")]
    pub tolerance_secs: u64,
    /// The signature header of the GitHub scheme.
    #[serde(default = "default_github_signature_header")]
    pub signature_header: String,
    /// The delivery-id header of the GitHub scheme: the dedup id and
    /// `ce_id`; a request without it is refused with 401.
    #[serde(default = "default_github_id_header")]
    pub id_header: String,
    /// The body as a CloudEvent of this type, its JSON the record value as
    /// received (`content-type: application/json`). Exclusive with
    /// `schema_event_type`.
    pub event_type: Option<String>,
    /// The body as a typed event: JSON encoded with the registry's schema
    /// of this event type, framed as sluice's producer frames it.
    pub schema_event_type: Option<String>,
    /// The schema's format for `schema_event_type` (default protobuf).
    #[serde(default)]
    pub format: FormatName,
    /// A JSON pointer (RFC 6901, e.g. `/customer/id`) to the record key;
    /// by default the key is the webhook id. A body without it is refused
    /// with 400.
    pub key_pointer: Option<String>,
    /// Requests per second accepted from this source (up to a second's
    /// worth at once); more get 429 with `Retry-After`. Counted after the
    /// signature check.
    pub max_requests_per_second: Option<u32>,
}

fn default_scheme() -> Scheme {
    Scheme::Standard
}
fn default_tolerance_secs() -> u64 {
    300
}
fn default_github_signature_header() -> String {
    "x-hub-signature-256".into()
}
fn default_github_id_header() -> String {
    "x-github-delivery".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatName {
    #[default]
    Protobuf,
    Avro,
}

impl From<FormatName> for Format {
    fn from(name: FormatName) -> Self {
        match name {
            FormatName::Protobuf => Format::Protobuf,
            FormatName::Avro => Format::Avro,
        }
    }
}

/// A secret as written in the file: the value, or `env:NAME`. Never shown
/// in `Debug` output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretSource(String);

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.strip_prefix("env:") {
            Some(name) => write!(f, "env:{name}"),
            None => f.write_str("<redacted>"),
        }
    }
}

impl SecretSource {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Every secret of a list, resolved.
    pub(crate) fn resolve_all(sources: &[Self], scheme: Scheme) -> Result<Vec<Secret>, String> {
        sources.iter().map(|s| s.resolve(scheme)).collect()
    }

    /// The secret, read from the environment when it says `env:NAME`.
    fn resolve(&self, scheme: Scheme) -> Result<Secret, String> {
        let text = match self.0.strip_prefix("env:") {
            Some(name) => std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set"))?,
            None => self.0.clone(),
        };
        match scheme {
            Scheme::Standard => Secret::standard(&text),
            Scheme::Github => Secret::raw(&text),
        }
        .map_err(|e| e.to_string())
    }
}

/// An endpoint's URL; `Debug` shows its scheme and host, never its
/// user, path or query.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("?", &self.0));
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        write!(f, "{scheme}://{host}/<redacted>")
    }
}

/// Kafka → HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    pub kafka: KafkaConfig,
    #[serde(rename = "endpoint")]
    pub endpoints: Vec<EndpointConfig>,
}

/// One receiver: records of `topics` POSTed to `url`, with its own
/// consumer group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    pub name: String,
    /// Where records are POSTed. Shown as scheme and host only: a webhook
    /// URL's path or query often is a credential.
    pub url: EndpointUrl,
    pub topics: Vec<String>,
    /// Default `sluice-webhooks.{name}`.
    pub group_id: Option<String>,
    #[serde(default = "default_scheme")]
    pub scheme: Scheme,
    /// Requests are signed with every secret (Standard Webhooks: one
    /// signature each, so receivers can rotate; GitHub: the first).
    pub secrets: Vec<SecretSource>,
    /// The GitHub scheme's signature header.
    #[serde(default = "default_github_signature_header")]
    pub signature_header: String,
    /// A request that has not answered in this time is retried.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The waits before each retry (default 1, 2, 4, 8, 16 s); after the
    /// last, the record is dead-lettered.
    #[serde(default = "default_retry_schedule_ms")]
    pub retry_schedule_ms: Vec<u64>,
    /// The longest `Retry-After` honoured; longer ones wait this long.
    #[serde(default = "default_max_retry_after_ms")]
    pub max_retry_after_ms: u64,
    /// Requests in flight per partition (each key's order is kept).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_per_partition: usize,
    /// Consecutive failed requests that open the endpoint's circuit: then
    /// deliveries wait, and one probe a `circuit_open_ms` tries again.
    #[serde(default = "default_circuit_failures")]
    pub circuit_failure_threshold: u32,
    #[serde(default = "default_circuit_open_ms")]
    pub circuit_open_ms: u64,
    /// Default `{topic}.dlq`.
    pub dlq_topic: Option<String>,
    #[serde(default)]
    pub auto_offset_reset: sluice_consumer::AutoOffsetReset,
}

/// The longest wait a duration setting may ask for.
const MAX_DURATION_MS: u64 = 24 * 3600 * 1000;

fn default_timeout_ms() -> u64 {
    10_000
}
fn default_retry_schedule_ms() -> Vec<u64> {
    vec![1_000, 2_000, 4_000, 8_000, 16_000]
}
fn default_max_retry_after_ms() -> u64 {
    60_000
}
fn default_max_in_flight() -> usize {
    16
}
fn default_circuit_failures() -> u32 {
    10
}
fn default_circuit_open_ms() -> u64 {
    5_000
}

impl WebhooksConfig {
    pub fn load(path: &Path) -> Result<Self, WebhookError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WebhookError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> Result<Self, WebhookError> {
        let config: Self = toml::from_str(text)
            .map_err(|e| WebhookError::Config(sluice_kafka::toml_error(&e, text)))?;
        config.validate()?;
        Ok(config)
    }

    /// What serde cannot check.
    pub fn validate(&self) -> Result<(), WebhookError> {
        let bad = |message: String| Err(WebhookError::Config(message));
        if self.ingress.is_none() && self.egress.is_none() {
            return bad("nothing to do: configure [ingress], [egress] or both".into());
        }
        if let Some(ingress) = &self.ingress {
            if ingress.sources.is_empty() {
                return bad("[ingress] has no [[ingress.source]]".into());
            }
            let mut names = std::collections::BTreeSet::new();
            for source in &ingress.sources {
                let name = &source.name;
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                {
                    return bad(format!(
                        "source name {name:?}: use letters, digits, '-', '_' and '.' (it is a URL path segment)"
                    ));
                }
                if !names.insert(name) {
                    return bad(format!("two sources are named {name:?}"));
                }
                if source.secrets.is_empty() {
                    return bad(format!("source {name:?} has no secrets"));
                }
                match (&source.event_type, &source.schema_event_type) {
                    (Some(_), Some(_)) | (None, None) => {
                        return bad(format!(
                            "source {name:?}: set exactly one of event_type (a CloudEvent carrying the JSON) and schema_event_type (a typed event)"
                        ));
                    }
                    _ => {}
                }
                if let Some(pointer) = &source.key_pointer
                    && !pointer.starts_with('/')
                {
                    return bad(format!(
                        "source {name:?}: key_pointer {pointer:?} is not a JSON pointer (it starts with '/')"
                    ));
                }
                if source.max_requests_per_second == Some(0) {
                    return bad(format!(
                        "source {name:?}: max_requests_per_second must be at least 1"
                    ));
                }
            }
            if ingress.max_body_bytes == 0
                || ingress.dedup_capacity == 0
                || ingress.dedup_window_secs == 0
            {
                return bad(
                    "[ingress] max_body_bytes, dedup_capacity and dedup_window_secs must be at least 1"
                        .into(),
                );
            }
        }
        if let Some(egress) = &self.egress {
            if egress.endpoints.is_empty() {
                return bad("[egress] has no [[egress.endpoint]]".into());
            }
            for endpoint in &egress.endpoints {
                let name = &endpoint.name;
                let url = endpoint.url.as_str();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return bad(format!(
                        "endpoint {name:?}: url must be http:// or https://"
                    ));
                }
                if endpoint.secrets.is_empty() {
                    return bad(format!("endpoint {name:?} has no secrets"));
                }
                if endpoint.topics.is_empty() {
                    return bad(format!("endpoint {name:?} has no topics"));
                }
                if endpoint.max_in_flight_per_partition == 0 || endpoint.timeout_ms == 0 {
                    return bad(format!(
                        "endpoint {name:?}: max_in_flight_per_partition and timeout_ms must be at least 1"
                    ));
                }
                if endpoint.circuit_failure_threshold == 0 {
                    return bad(format!(
                        "endpoint {name:?}: circuit_failure_threshold must be at least 1"
                    ));
                }
                let durations = [
                    ("timeout_ms", endpoint.timeout_ms),
                    ("circuit_open_ms", endpoint.circuit_open_ms),
                    ("max_retry_after_ms", endpoint.max_retry_after_ms),
                ]
                .into_iter()
                .chain(
                    endpoint
                        .retry_schedule_ms
                        .iter()
                        .map(|&ms| ("retry_schedule_ms", ms)),
                );
                for (field, ms) in durations {
                    if ms > MAX_DURATION_MS {
                        return bad(format!(
                            "endpoint {name:?}: {field} is over a day ({ms} ms)"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &str = r#"
        [ingress.producer]
        source = "/test"
        [ingress.producer.kafka]
        bootstrap_servers = "localhost:9092"
        [[ingress.source]]
        name = "billing"
        topic = "webhooks.billing"
        event_type = "com.example.billing.v1"
        secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]

        [egress.kafka]
        bootstrap_servers = "localhost:9092"
        [[egress.endpoint]]
        name = "crm"
        url = "http://localhost:9/hooks"
        topics = ["webhooks.billing"]
        secrets = ["env:CRM_SECRET"]
    "#;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = WebhooksConfig::from_toml(BOTH).unwrap();
        let ingress = config.ingress.unwrap();
        assert_eq!(ingress.listen.port(), 8000);
        assert_eq!(ingress.max_body_bytes, 1 << 20);
        let source = &ingress.sources[0];
        assert_eq!(source.scheme, Scheme::Standard);
        assert_eq!(source.tolerance_secs, 300);
        let endpoint = &config.egress.unwrap().endpoints[0];
        assert_eq!(endpoint.retry_schedule_ms, [1000, 2000, 4000, 8000, 16000]);
        assert_eq!(endpoint.timeout_ms, 10_000);
    }

    #[test]
    fn the_documented_configuration_loads() {
        let doc = include_str!("../../../docs/webhooks.md");
        let start = doc.find("```toml\n").expect("a TOML block") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("its end");
        let config = WebhooksConfig::from_toml(&doc[start..end]).unwrap();
        let ingress = config.ingress.unwrap();
        assert_eq!(ingress.sources.len(), 3);
        assert_eq!(ingress.sources[1].scheme, Scheme::Github);
        assert_eq!(ingress.sources[2].format, FormatName::Protobuf);
        let endpoint = &config.egress.unwrap().endpoints[0];
        assert_eq!(endpoint.dlq_topic.as_deref(), Some("webhooks.billing.dlq"));
    }

    #[test]
    fn endpoint_urls_show_their_host_only() {
        let url = EndpointUrl::new("https://user:pw@hooks.example.com:8443/T0/B1/s3cr3t?token=abc");
        let shown = format!("{url:?}");
        assert_eq!(shown, "https://hooks.example.com:8443/<redacted>");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = WebhooksConfig::from_toml(BOTH).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("MfKQ9r8"), "{shown}");
        assert!(shown.contains("env:CRM_SECRET"), "{shown}");
    }

    #[test]
    fn mistakes_are_named() {
        let refuse = |text: &str, needle: &str| {
            let error = WebhooksConfig::from_toml(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{needle:?} not in {error}");
        };
        refuse("[http]\n", "nothing to do");
        refuse(
            &BOTH.replace("event_type = ", "bogus = "),
            "unknown field `bogus`",
        );
        refuse(
            &BOTH.replace("name = \"billing\"", "name = \"a/b\""),
            "URL path segment",
        );
        refuse(
            &BOTH.replace(
                "event_type = \"com.example.billing.v1\"",
                "event_type = \"a\"\nschema_event_type = \"b\"",
            ),
            "exactly one of",
        );
        refuse(
            &BOTH.replace("http://localhost:9", "ftp://x"),
            "http:// or https://",
        );
        refuse(
            &format!("{BOTH}circuit_open_ms = 100000000000\n"),
            "circuit_open_ms is over a day",
        );
        refuse(
            &BOTH.replace(
                "[egress.kafka]",
                "[ingress]\ndedup_window_secs = 0\n[egress.kafka]",
            ),
            "dedup_window_secs",
        );
    }
}
