//! One configured sender: its signature check, its rate limit, and how a
//! verified body becomes a Kafka record.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use governor::clock::MonotonicClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use hyper::HeaderMap;
use sluice_core::{Encoder, Envelope, Format, SchemaRegistry, TraceContext};
use sluice_producer::EncodedRecord;

use super::reply::Reject;
use crate::config::{SecretSource, SourceConfig};
use crate::error::WebhookError;
use crate::signature::{self, Scheme, Secret, StandardHeaders};

type Limiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<Instant>>;

/// The longest webhook id taken as a `ce_id`.
const MAX_ID_BYTES: usize = 256;

/// What the body becomes.
enum Body {
    /// A CloudEvent of this type whose data is the JSON as received.
    CloudEvent { event_type: String },
    /// A typed event, encoded with the registry's schema `schema_id`.
    Typed {
        event_type: String,
        schema_id: u32,
        format: Format,
    },
}

pub(crate) struct Source {
    pub(crate) name: String,
    pub(crate) topic: String,
    scheme: Scheme,
    secrets: Vec<Secret>,
    tolerance: Duration,
    signature_header: String,
    id_header: String,
    body: Body,
    key_pointer: Option<String>,
    limiter: Option<Limiter>,
}

/// A verified request, ready to publish.
pub(crate) struct Record {
    /// The webhook id: the dedup key and the record's `ce_id`.
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// The record for the producer, to `topic`.
    pub(crate) fn encoded<'a>(&'a self, topic: &'a str) -> EncodedRecord<'a> {
        EncodedRecord {
            topic,
            key: &self.key,
            value: &self.value,
            headers: &self.headers,
            id: &self.id,
        }
    }
}

impl Source {
    pub(crate) fn new(
        config: &SourceConfig,
        registry: Option<&SchemaRegistry>,
    ) -> Result<Self, WebhookError> {
        let bad =
            |message: String| WebhookError::Config(format!("source {:?}: {message}", config.name));
        let secrets = SecretSource::resolve_all(&config.secrets, config.scheme).map_err(bad)?;
        let body = match (&config.event_type, &config.schema_event_type) {
            (Some(event_type), None) => Body::CloudEvent {
                event_type: event_type.clone(),
            },
            (None, Some(event_type)) => {
                let format = Format::from(config.format);
                let registry = registry
                    .ok_or_else(|| bad("schema_event_type needs a schema registry".into()))?;
                let schema = registry
                    .latest_for_event_type(event_type, format)
                    .ok_or_else(|| {
                        bad(format!(
                            "no {format} schema is registered for {event_type:?}"
                        ))
                    })?;
                Body::Typed {
                    event_type: event_type.clone(),
                    schema_id: schema.id,
                    format,
                }
            }
            _ => {
                return Err(bad(
                    "set exactly one of event_type and schema_event_type".into()
                ));
            }
        };
        let limiter = config
            .max_requests_per_second
            .and_then(NonZeroU32::new)
            .map(|rate| {
                // Up to a second's worth at once, then the rate.
                RateLimiter::direct_with_clock(Quota::per_second(rate), MonotonicClock)
            });
        Ok(Self {
            name: config.name.clone(),
            topic: config.topic.clone(),
            scheme: config.scheme,
            secrets,
            tolerance: Duration::from_secs(config.tolerance_secs),
            signature_header: config.signature_header.to_ascii_lowercase(),
            id_header: config.id_header.to_ascii_lowercase(),
            body,
            key_pointer: config.key_pointer.clone(),
            limiter,
        })
    }

    /// `Err(wait)` when the source is over its rate.
    pub(crate) fn admit(&self) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(Instant::now()))
    }

    /// Checks the signature; returns the webhook id.
    pub(crate) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, Reject> {
        let id = match self.scheme {
            Scheme::Standard => {
                let found = StandardHeaders {
                    id: signed_text(headers, signature::header::ID)?,
                    timestamp: signed_text(headers, signature::header::TIMESTAMP)?,
                    signature: signed_text(headers, signature::header::SIGNATURE)?,
                };
                let (id, _) = signature::verify_standard(
                    &self.secrets,
                    found,
                    body,
                    SystemTime::now(),
                    self.tolerance,
                )
                .map_err(Reject::Signature)?;
                id
            }
            Scheme::Github => {
                let value = signed_text(headers, &self.signature_header)?;
                signature::verify_github(&self.secrets, &self.signature_header, value, body)
                    .map_err(Reject::Signature)?;
                // The delivery id is what deduplicates redeliveries.
                signed_text(headers, &self.id_header)?.ok_or_else(|| {
                    Reject::Signature(signature::SignatureError::MissingHeader(
                        self.id_header.clone(),
                    ))
                })?
            }
        };
        if id.is_empty() || id.len() > MAX_ID_BYTES || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Reject::BadRequest(format!(
                "the webhook id must be 1 to {MAX_ID_BYTES} visible ASCII characters"
            )));
        }
        Ok(id.to_owned())
    }

    /// The record a verified body becomes.
    pub(crate) fn record(
        &self,
        webhook_id: String,
        headers: &HeaderMap,
        body: &[u8],
        registry: Option<&Arc<SchemaRegistry>>,
        max_record_bytes: usize,
    ) -> Result<Record, Reject> {
        let json: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Reject::BadRequest(format!("the body is not valid JSON: {e}")))?;
        let (mut envelope, value) = match &self.body {
            Body::CloudEvent { event_type } => {
                let mut envelope =
                    Envelope::for_type(event_type, Format::Protobuf, self.ce_source());
                envelope.content_type = Some("application/json".into());
                (envelope, body.to_vec())
            }
            Body::Typed {
                event_type,
                schema_id,
                format,
            } => {
                let schema = registry
                    .and_then(|r| r.get(*schema_id))
                    .ok_or_else(|| Reject::Internal("the source's schema is gone".into()))?;
                let value = Encoder::new()
                    .with_max_record_bytes(max_record_bytes)
                    .encode_json(schema, &json)
                    .map_err(|e| match e {
                        sluice_core::EncodeError::Oversize { .. } => {
                            Reject::TooLarge(e.to_string())
                        }
                        other => Reject::BadRequest(other.to_string()),
                    })?;
                (
                    Envelope::for_type(event_type, *format, self.ce_source()),
                    value,
                )
            }
        };
        envelope.id = webhook_id;
        if let Some(traceparent) = text(headers, "traceparent").ok().flatten() {
            let tracestate = text(headers, "tracestate")
                .ok()
                .flatten()
                .map(str::to_owned);
            if let Ok(trace) = TraceContext::new(traceparent.to_owned(), tracestate) {
                envelope = envelope.with_trace(trace);
            }
        }
        let key = match &self.key_pointer {
            Some(pointer) => match json.pointer(pointer) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    v.to_string()
                }
                Some(_) => {
                    return Err(Reject::BadRequest(format!(
                        "the key at {pointer} is not a string, number or boolean"
                    )));
                }
                None => {
                    return Err(Reject::BadRequest(format!(
                        "the body has no key at {pointer}"
                    )));
                }
            },
            None => envelope.id.clone(),
        };
        let mut record_headers = Vec::with_capacity(8);
        envelope
            .write_headers(|name, value| record_headers.push((name.to_owned(), value.to_vec())));
        Ok(Record {
            id: envelope.id,
            key,
            value,
            headers: record_headers,
        })
    }

    /// The `ce_source` of this source's events.
    fn ce_source(&self) -> String {
        format!("/webhooks/{}", self.name)
    }
}

/// A header as text; a value that is not visible ASCII is refused.
fn text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Reject> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| Reject::BadRequest(format!("header {name} is not ASCII text"))),
    }
}

/// A header the signature covers or names: a value that is not visible
/// ASCII fails the signature check.
fn signed_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Reject> {
    text(headers, name).map_err(|_| {
        Reject::Signature(signature::SignatureError::InvalidHeader {
            name: name.to_owned(),
            reason: "not ASCII text".into(),
        })
    })
}
