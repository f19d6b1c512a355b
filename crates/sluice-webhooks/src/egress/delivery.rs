//! One endpoint's consumer handler: a record becomes one signed POST, and
//! the answer decides what the runtime does with the record.
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx | done; the offset can be committed |
//! | 408, 429, 5xx, timeout, connection error | retried after the schedule's next wait (or the answer's `Retry-After`, at most `max_retry_after_ms`) |
//! | other 3xx/4xx | dead-lettered at once, with the status and the start of the answer |
//!
//! After the schedule's last wait the record is dead-lettered.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sluice_consumer::{Context, HandlerError, RecordHandler};
use sluice_core::{Decoder, SchemaRegistry};
use sluice_telemetry::metrics as m;

use super::circuit::Circuit;
use crate::config::{EndpointConfig, SecretSource};
use crate::error::WebhookError;
use crate::signature::{self, Scheme, Secret};

/// How much of a refusing answer's body the dead letter keeps.
const SNIPPET_BYTES: usize = 256;

pub(crate) struct Delivery {
    endpoint: String,
    url: String,
    client: reqwest::Client,
    scheme: Scheme,
    secrets: Vec<Secret>,
    signature_header: HeaderName,
    schedule: Vec<Duration>,
    max_retry_after: Duration,
    circuit: Circuit,
    registry: Arc<SchemaRegistry>,
    max_record_bytes: usize,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// What one request came to.
enum Answer {
    Delivered,
    Retry {
        class: &'static str,
        message: String,
        after: Option<Duration>,
    },
    Refused(String),
}

impl Delivery {
    pub(crate) fn new(
        config: &EndpointConfig,
        registry: Arc<SchemaRegistry>,
        max_record_bytes: usize,
    ) -> Result<Self, WebhookError> {
        let bad = |message: String| {
            WebhookError::Config(format!("endpoint {:?}: {message}", config.name))
        };
        let secrets = SecretSource::resolve_all(&config.secrets, config.scheme).map_err(bad)?;
        let signature_header = HeaderName::try_from(config.signature_header.as_str())
            .map_err(|e| bad(format!("signature_header: {e}")))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| WebhookError::Client {
                endpoint: config.name.clone(),
                source,
            })?;
        Ok(Self {
            endpoint: config.name.clone(),
            url: config.url.as_str().to_owned(),
            client,
            scheme: config.scheme,
            secrets,
            signature_header,
            schedule: config
                .retry_schedule_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            max_retry_after: Duration::from_millis(config.max_retry_after_ms),
            circuit: Circuit::new(
                config.circuit_failure_threshold,
                Duration::from_millis(config.circuit_open_ms),
                timeout,
            ),
            registry,
            max_record_bytes,
        })
    }

    /// The body: the value as it is when the record says it is JSON,
    /// otherwise the event rendered as JSON from its registered schema.
    fn body(&self, ctx: &Context) -> Result<Vec<u8>, HandlerError> {
        let Some(value) = ctx.record().payload() else {
            return Err(HandlerError::tombstone());
        };
        let content_type = ctx
            .header(sluice_core::envelope::header::CONTENT_TYPE)
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if essence == "application/json" || essence.ends_with("+json") {
            return Ok(value.to_vec());
        }
        let json = Decoder::new(&self.registry)
            .with_max_record_bytes(self.max_record_bytes)
            .to_json(value)?;
        Ok(json.to_string().into_bytes())
    }

    /// The CloudEvents id, or the record's coordinates: stable across
    /// redeliveries either way, so receivers can deduplicate.
    fn webhook_id(ctx: &Context) -> String {
        match ctx
            .header(sluice_core::envelope::header::ID)
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()))
        {
            Some(id) => id.to_owned(),
            None => format!("{}-{}-{}", ctx.topic(), ctx.partition(), ctx.offset()),
        }
    }

    fn headers(&self, ctx: &Context, id: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // CloudEvents' HTTP binding in binary mode: `ce_x` becomes `ce-x`;
        // trace context passes as it is.
        for header in ctx.record().headers() {
            let (Some(name), Some(value)) = (header.name_str(), header.value) else {
                continue;
            };
            let http_name = match name {
                "traceparent" | "tracestate" => name.to_owned(),
                _ => match name.strip_prefix("ce_") {
                    Some(attribute) => format!("ce-{attribute}"),
                    None => continue,
                },
            };
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(http_name),
                HeaderValue::from_bytes(value),
            ) {
                headers.insert(name, value);
            }
        }
        match self.scheme {
            Scheme::Standard => {
                let timestamp = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let signature = signature::standard_signature(&self.secrets, id, timestamp, body);
                let values = [
                    (signature::header::ID, id.to_owned()),
                    (signature::header::TIMESTAMP, timestamp.to_string()),
                    (signature::header::SIGNATURE, signature),
                ];
                for (name, value) in values {
                    if let Ok(value) = HeaderValue::try_from(value) {
                        headers.insert(name, value);
                    }
                }
            }
            Scheme::Github => {
                let value = signature::github_signature(&self.secrets[0], body);
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(self.signature_header.clone(), value);
                }
                if let Ok(value) = HeaderValue::try_from(id) {
                    headers.insert("x-github-delivery", value);
                }
            }
        }
        headers
    }

    async fn post(&self, headers: HeaderMap, body: Vec<u8>) -> Answer {
        let response = match self
            .client
            .post(&self.url)
            .headers(headers)
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let class = if error.is_timeout() {
                    "http_timeout"
                } else {
                    "http_connect"
                };
                return Answer::Retry {
                    class,
                    // Not the URL: it may carry credentials.
                    message: format!(
                        "POST to endpoint {}: {}",
                        self.endpoint,
                        error_chain(&error.without_url())
                    ),
                    after: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Delivered;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let snippet = snippet(response).await;
        let message = format!("HTTP {}: {snippet}", status.as_u16());
        if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
            Answer::Retry {
                class: "http_throttled",
                message,
                after: retry_after,
            }
        } else if status.is_server_error() {
            Answer::Retry {
                class: "http_5xx",
                message,
                after: retry_after,
            }
        } else {
            Answer::Refused(message)
        }
    }

    /// The wait before the attempt after `attempt` (1 for the first).
    fn wait_after(&self, attempt: u32, requested: Option<Duration>) -> Duration {
        match requested {
            Some(wait) => wait.min(self.max_retry_after),
            None => {
                let index = (attempt.max(1) - 1) as usize;
                self.schedule
                    .get(index)
                    .or(self.schedule.last())
                    .copied()
                    .unwrap_or_default()
            }
        }
    }
}

impl RecordHandler for Delivery {
    async fn handle(&self, ctx: &Context) -> Result<(), HandlerError> {
        let body = self.body(ctx)?;
        let id = Self::webhook_id(ctx);
        self.circuit.wait().await;
        let headers = self.headers(ctx, &id, &body);
        let endpoint = self.endpoint.clone();
        let answer = self.post(headers, body).await;
        let outcome = match &answer {
            Answer::Delivered => "delivered",
            Answer::Retry { .. } => "retried",
            Answer::Refused(_) => "refused",
        };
        metrics::counter!(m::WEBHOOK_DELIVERIES, "endpoint" => endpoint.clone(), "outcome" => outcome)
            .increment(1);
        let result = self.settle(ctx, answer, &endpoint);
        metrics::gauge!(m::WEBHOOK_CIRCUIT_OPEN, "endpoint" => endpoint)
            .set(if self.circuit.is_open() { 1.0 } else { 0.0 });
        result
    }
}

impl Delivery {
    /// What the runtime does with the record, after `answer`.
    fn settle(&self, ctx: &Context, answer: Answer, endpoint: &str) -> Result<(), HandlerError> {
        match answer {
            Answer::Delivered => {
                self.circuit.success();
                if let Some(created) = ctx.timestamp_ms() {
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    let latency = now.saturating_sub(created).max(0) as f64 / 1000.0;
                    metrics::histogram!(m::WEBHOOK_DELIVERY_DURATION, "endpoint" => endpoint.to_owned())
                        .record(latency);
                }
                Ok(())
            }
            Answer::Retry {
                class,
                message,
                after,
            } => {
                if class == "http_throttled" {
                    self.circuit.neutral();
                } else {
                    self.circuit.failure(Instant::now());
                }
                let wait = self.wait_after(ctx.attempt(), after);
                Err(HandlerError::retry_after(wait, message).with_class(class))
            }
            Answer::Refused(message) => {
                // The endpoint answered: it is alive.
                self.circuit.success();
                Err(HandlerError::permanent(message).with_class("http_refused"))
            }
        }
    }
}

/// An error and its sources, which say what failed (refused, reset,
/// timed out) where reqwest's own message does not.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// The start of a body, as text.
async fn snippet(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < SNIPPET_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(SNIPPET_BYTES);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let soon = SystemTime::now() + Duration::from_secs(30);
        let wait = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
