//! HTTP → Kafka: `POST /webhooks/{source}`.
//!
//! A request is checked in this order, and the first failing check answers:
//! the source exists (404), the method is POST (405), the content type is
//! JSON (415), the body fits `max_body_bytes` (413) and arrives in time
//! (408), the signature verifies (401), the source is under its rate (429),
//! the JSON is valid, has its key and fits the schema (400). Then the
//! webhook id is claimed in the dedup window (a repeat answers 202 and
//! publishes nothing), the producer must not have failed for good (503)
//! and must have room in its buffer (429), the record is published (503
//! while the cluster is unreachable, 413 over the record limit), and `202`
//! answers only after the broker acknowledged it. The publish, and the
//! id's claim with it, runs in its own task, so a sender hanging up does
//! not cut it short.

mod dedup;
mod reply;
mod source;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use sluice_core::SchemaRegistry;
use sluice_producer::{Delivered, Producer};
use sluice_telemetry::metrics as m;
use tokio::net::TcpListener;

use crate::config::IngressConfig;
use crate::error::WebhookError;
use dedup::{Claim, Dedup};
use reply::Reject;
use source::{Record, Source};

/// How long connections may take to finish after shutdown is asked.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A request's headers must arrive within this time, its body within
/// the next.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

struct Shared {
    sources: HashMap<String, Source>,
    producer: Producer,
    dedup: Dedup,
    max_body_bytes: usize,
    registry: Option<Arc<SchemaRegistry>>,
}

/// The ingress, bound and ready to [`run`](Ingress::run).
pub struct Ingress {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingress")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Readiness of the ingress: its producer has not failed for good.
#[derive(Debug, Clone)]
pub struct IngressStatus {
    producer: Producer,
}

impl sluice_telemetry::http::Readiness for IngressStatus {
    fn ready(&self) -> Result<(), String> {
        if self.producer.is_fatal() {
            return Err("the ingress producer hit a fatal error".into());
        }
        // Not while the cluster is unreachable: requests then answer 503
        // and probe it, and an instance taken out of service would never
        // see the cluster come back.
        Ok(())
    }
}

impl Ingress {
    /// Creates the producer and binds `config.listen`. `registry` is needed
    /// by sources of typed events.
    pub async fn bind(
        config: &IngressConfig,
        registry: Option<Arc<SchemaRegistry>>,
    ) -> Result<Self, WebhookError> {
        let sources = config
            .sources
            .iter()
            .map(|c| Ok((c.name.clone(), Source::new(c, registry.as_deref())?)))
            .collect::<Result<HashMap<_, _>, WebhookError>>()?;
        let producer = Producer::builder(config.producer.clone()).build()?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| WebhookError::Bind {
                    addr: config.listen,
                    source,
                })?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                sources,
                producer,
                dedup: Dedup::new(
                    Duration::from_secs(config.dedup_window_secs),
                    config.dedup_capacity,
                ),
                max_body_bytes: config.max_body_bytes,
                registry,
            }),
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn status(&self) -> IngressStatus {
        IngressStatus {
            producer: self.shared.producer.clone(),
        }
    }

    /// Answers until `shutdown` resolves; then stops accepting, lets the
    /// requests in flight finish (each still answers after its ack), and
    /// flushes the producer.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WebhookError> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let Ok((stream, _)) = accepted else {
                continue;
            };
            let shared = Arc::clone(&self.shared);
            let mut stopped = stopped.clone();
            connections.spawn(async move {
                let service = service_fn(move |request| {
                    let shared = Arc::clone(&shared);
                    async move { Ok::<_, Infallible>(answer(&shared, request).await) }
                });
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let mut connection = std::pin::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => return,
                    _ = stopped.wait_for(|s| *s) => connection.as_mut().graceful_shutdown(),
                }
                let _ = connection.await;
            });
            // Reap finished connections as we go.
            while connections.try_join_next().is_some() {}
        }
        drop(self.listener);
        let _ = stop.send(true);
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections still open after the drain timeout; closing them");
        }
        self.shared
            .producer
            .shutdown(Duration::from_secs(10))
            .await?;
        Ok(())
    }
}

async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let name = request
        .uri()
        .path()
        .strip_prefix("/webhooks/")
        .and_then(|name| shared.sources.get_key_value(name))
        .map_or("unknown", |(name, _)| name.as_str())
        .to_owned();
    let response = match serve(shared, request).await {
        Ok(response) => response,
        Err(reject) => {
            // The service's own trouble is logged; a sender's is answered.
            if reject.status().is_server_error() {
                tracing::warn!(source = %name, status = %reject.status(), ?reject, "webhook not published");
            } else {
                tracing::debug!(source = %name, status = %reject.status(), ?reject, "webhook refused");
            }
            reject.response()
        }
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!(m::WEBHOOK_REQUESTS, "source" => name.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(m::WEBHOOK_REQUEST_DURATION, "source" => name)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn serve(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Reject> {
    let path = request.uri().path();
    let name = path
        .strip_prefix("/webhooks/")
        .ok_or_else(|| Reject::UnknownSource(path.to_owned()))?;
    let source = shared
        .sources
        .get(name)
        .ok_or_else(|| Reject::UnknownSource(name.to_owned()))?;
    if request.method() != Method::POST {
        return Err(Reject::Method);
    }
    check_content_type(request.headers())?;
    let limit = shared.max_body_bytes;
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    let (parts, body) = request.into_parts();
    let body = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect())
        .await
        .map_err(|_| Reject::Timeout)?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large(limit)
            } else {
                Reject::BadRequest(format!("cannot read the body: {e}"))
            }
        })?
        .to_bytes();
    let webhook_id = source.verify(&parts.headers, &body)?;
    // Counted after the signature: others' requests do not use up the
    // sender's rate.
    source.admit().map_err(|wait| {
        Reject::Busy(
            format!(
                "source {:?} is over its max_requests_per_second",
                source.name
            ),
            wait,
        )
    })?;
    let max_record_bytes = shared.producer.config().max_record_bytes;
    let record = source.record(
        webhook_id,
        &parts.headers,
        &body,
        shared.registry.as_ref(),
        max_record_bytes,
    )?;
    // A repeat is answered from the window, even while the cluster is
    // unreachable.
    let claim = format!("{}\n{}", source.name, record.id);
    let publishing = match shared.dedup.claim(&claim).await {
        Claim::Duplicate(event_id) => return Ok(reply::accepted(&event_id, None)),
        Claim::First(publishing) => publishing,
    };
    let producer = shared.producer.clone();
    // While the producer's circuit is open, its own admission answers
    // (Unavailable, 503) and lets a probe through now and then, which
    // closes the circuit once the cluster is back.
    if producer.is_fatal() {
        return Err(Reject::Unavailable(
            "the ingress producer hit a fatal error; nothing was published".into(),
        ));
    }
    // A record the buffer has no room for would wait; the sender is told
    // to come back instead.
    let size = record.encoded(&source.topic).buffered_size();
    if producer.buffered_bytes().saturating_add(size) as u64 > producer.config().max_buffered_bytes
    {
        return Err(Reject::Busy(
            "the producer's buffer is full".into(),
            Duration::from_secs(1),
        ));
    }
    // The claim goes with the publish: a sender hanging up does not free
    // the id while its record may still be delivered.
    let topic = source.topic.clone();
    let task = tokio::spawn(async move {
        let result = publish(producer, topic, record).await;
        if let Ok(delivered) = &result {
            publishing.done(delivered.event_id.clone());
        }
        result
    });
    match task.await {
        Ok(Ok(delivered)) => Ok(reply::accepted(
            &delivered.event_id,
            Some((&delivered.topic, delivered.partition, delivered.offset)),
        )),
        Ok(Err(reject)) => Err(reject),
        Err(join) => Err(Reject::Internal(format!("the publish task failed: {join}"))),
    }
}

async fn publish(producer: Producer, topic: String, record: Record) -> Result<Delivered, Reject> {
    let pending = producer
        .enqueue_encoded(record.encoded(&topic))
        .await
        .map_err(|e| Reject::from_send(e.kind(), e.to_string()))?;
    pending
        .wait()
        .await
        .map_err(|e| Reject::from_send(e.kind(), e.to_string()))
}

fn too_large(limit: usize) -> Reject {
    Reject::TooLarge(format!("the body is larger than max_body_bytes ({limit})"))
}

/// `application/json` or a `+json` type, parameters aside.
fn check_content_type(headers: &hyper::HeaderMap) -> Result<(), Reject> {
    let value = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(Reject::ContentType(format!(
            "the content type is {value:?}; send application/json"
        )))
    }
}
