//! [`Producer`]: typed sends with async backpressure.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::client::OAuthToken;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use sluice_core::envelope::header::{TRACEPARENT, TRACESTATE};
use sluice_core::{EncodeError, Encoder, Envelope, Event};
use sluice_kafka::{OutgoingRecord, TokenProvider};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::config::ProducerConfig;
use crate::error::{ProducerError, SendError, SendErrorKind};

type TopicNaming = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// What librdkafka hands back when a record is acknowledged or fails: where
/// to report it, and the record's share of the send buffer, released right
/// then — whether or not anyone awaits the delivery.
struct InFlight {
    report: oneshot::Sender<Result<(i32, i64), KafkaError>>,
    _buffer: OwnedSemaphorePermit,
    started: Instant,
    route: Arc<Route>,
}

/// The topic of one event type and that topic's metric handles, looked up
/// once.
struct Route {
    topic: String,
    sent: metrics::Counter,
    duration: metrics::Histogram,
}

impl Route {
    fn new(topic: &str) -> Self {
        use sluice_telemetry::metrics::{PRODUCER_SEND_DURATION, PRODUCER_SENT};
        Self {
            topic: topic.to_owned(),
            sent: metrics::counter!(PRODUCER_SENT, "topic" => topic.to_owned()),
            duration: metrics::histogram!(PRODUCER_SEND_DURATION, "topic" => topic.to_owned()),
        }
    }

    fn error(&self, kind: SendErrorKind) {
        count_error(&self.topic, kind);
    }
}

fn count_error(topic: &str, kind: SendErrorKind) {
    metrics::counter!(
        sluice_telemetry::metrics::PRODUCER_ERRORS,
        "topic" => topic.to_owned(),
        "class" => kind.class()
    )
    .increment(1);
}

/// Fails sends fast while the cluster is unreachable.
///
/// Opens when librdkafka reports all brokers down or a delivery times out;
/// closes on the next successful delivery. While open, one send per
/// `probe_interval` goes through as a probe; the others fail at once with
/// [`SendErrorKind::Unavailable`], handing their events back.
#[derive(Debug)]
struct Circuit {
    enabled: bool,
    probe_interval: Duration,
    /// Mirrors `open.is_some()`, so that sends and deliveries skip the lock
    /// while the circuit is closed.
    is_open: AtomicBool,
    /// When the circuit opened or last let a probe through; `None` = closed.
    open: Mutex<Option<Instant>>,
    /// Set for good when librdkafka raises a fatal error: no send can
    /// succeed any more, so none is let through, not even as a probe.
    fatal: AtomicBool,
}

impl Circuit {
    fn new(enabled: bool, probe_interval: Duration) -> Self {
        Self {
            enabled,
            probe_interval,
            is_open: AtomicBool::new(false),
            open: Mutex::new(None),
            fatal: AtomicBool::new(false),
        }
    }

    fn set_fatal(&self) {
        self.fatal.store(true, Ordering::Release);
    }

    fn is_fatal(&self) -> bool {
        self.fatal.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self) {
        if self.enabled {
            let mut open = self.lock();
            open.get_or_insert_with(Instant::now);
            self.is_open.store(true, Ordering::Release);
        }
    }

    fn close(&self) {
        if self.is_open.load(Ordering::Acquire) {
            let mut open = self.lock();
            *open = None;
            self.is_open.store(false, Ordering::Release);
        }
    }

    /// Whether a send may go ahead now.
    fn admit(&self) -> bool {
        if !self.is_open.load(Ordering::Acquire) {
            return true;
        }
        let mut open = self.lock();
        match *open {
            None => true,
            Some(since) if since.elapsed() >= self.probe_interval => {
                *open = Some(Instant::now());
                true
            }
            Some(_) => false,
        }
    }

    fn is_open(&self) -> bool {
        self.is_open.load(Ordering::Acquire)
    }
}

struct DeliveryContext {
    circuit: Arc<Circuit>,
    oauth: Option<Arc<dyn TokenProvider>>,
}

impl ClientContext for DeliveryContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        sluice_kafka::security::oauth_token(self.oauth.as_ref())
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown) => self.circuit.open(),
            Some(RDKafkaErrorCode::Fatal) => self.circuit.set_fatal(),
            _ => {}
        }
        // What rdkafka's default `error` does.
        log::error!("librdkafka: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<InFlight>;

    fn delivery(&self, result: &DeliveryResult<'_>, in_flight: Box<InFlight>) {
        let outcome = match result {
            Ok(message) => {
                self.circuit.close();
                in_flight.route.sent.increment(1);
                in_flight.route.duration.record(in_flight.started.elapsed());
                Ok((message.partition(), message.offset()))
            }
            Err((error, _)) => {
                let kind = SendErrorKind::of(error);
                if kind == SendErrorKind::TimedOut {
                    self.circuit.open();
                }
                in_flight.route.error(kind);
                Err(error.clone())
            }
        };
        // The receiver is gone when the caller dropped the pending delivery.
        let _ = in_flight.report.send(outcome);
    }
}

type Client = ThreadedProducer<DeliveryContext>;

/// The default topic for an event type: the type without a trailing
/// version (`email.received.v1` → `email.received`), so that compatible
/// schema versions share a topic.
pub fn default_topic_name(event_type: &str) -> String {
    match event_type.rsplit_once('.') {
        Some((base, version))
            if version.len() > 1
                && version.starts_with('v')
                && version[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            base.to_owned()
        }
        _ => event_type.to_owned(),
    }
}

/// Builds a [`Producer`]; `build` creates the client.
pub struct ProducerBuilder {
    config: ProducerConfig,
    naming: TopicNaming,
    token_provider: Option<Arc<dyn TokenProvider>>,
}

impl std::fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ProducerBuilder {
    /// Topic names for event types not listed in `config.topics`.
    pub fn topic_naming(mut self, naming: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.naming = Arc::new(naming);
        self
    }

    /// OAUTHBEARER tokens from this source instead of the one the security
    /// settings name (MSK IAM through the standard AWS chain).
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.token_provider = Some(provider);
        self
    }

    pub fn build(self) -> Result<Producer, ProducerError> {
        self.config.validate()?;
        let oauth = match self.token_provider {
            Some(provider) => Some(provider),
            None => self.config.kafka.security.token_provider()?,
        };
        let circuit = Arc::new(Circuit::new(
            self.config.circuit_breaker,
            Duration::from_millis(self.config.circuit_probe_interval_ms),
        ));
        let client: Client = self
            .config
            .librdkafka_config()
            .create_with_context(DeliveryContext {
                circuit: Arc::clone(&circuit),
                oauth,
            })
            .map_err(ProducerError::Client)?;
        let buffer_limit = usize::try_from(self.config.max_buffered_bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Ok(Producer {
            inner: Arc::new(Inner {
                encoder: Encoder::new().with_max_record_bytes(self.config.max_record_bytes),
                client,
                buffer: Arc::new(Semaphore::new(buffer_limit)),
                buffer_limit,
                closed: AtomicBool::new(false),
                circuit,
                naming: self.naming,
                config: self.config,
                routes: Default::default(),
                topic_routes: Default::default(),
            }),
        })
    }
}

/// What librdkafka keeps per queued message beyond its bytes (its message
/// struct, the header list, the delivery state), rounded up.
pub(crate) const RECORD_OVERHEAD_BYTES: usize = 256;

/// The bytes a queued record holds: key, value, header names and values,
/// and [`RECORD_OVERHEAD_BYTES`].
fn buffered_size(record: &OutgoingRecord) -> usize {
    record.key.len() + record.value.len() + record.header_bytes + RECORD_OVERHEAD_BYTES
}

struct Inner {
    config: ProducerConfig,
    encoder: Encoder,
    client: Client,
    /// Bytes of records between enqueue and delivery.
    buffer: Arc<Semaphore>,
    buffer_limit: usize,
    closed: AtomicBool,
    circuit: Arc<Circuit>,
    naming: TopicNaming,
    /// By event type.
    routes: std::sync::RwLock<std::collections::HashMap<&'static str, Arc<Route>>>,
    /// By topic, for encoded records.
    topic_routes: std::sync::RwLock<std::collections::HashMap<String, Arc<Route>>>,
}

impl Inner {
    fn topic_for(&self, event_type: &str) -> String {
        match self.config.topics.get(event_type) {
            Some(topic) => topic.clone(),
            None => (self.naming)(event_type),
        }
    }

    fn route(&self, event_type: &'static str) -> Arc<Route> {
        if let Some(found) = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event_type)
        {
            return Arc::clone(found);
        }
        let topic = self.topic_for(event_type);
        let mut all = self.routes.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            all.entry(event_type)
                .or_insert_with(|| Arc::new(Route::new(&topic))),
        )
    }

    fn route_to_topic(&self, topic: &str) -> Arc<Route> {
        if let Some(found) = self
            .topic_routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
        {
            return Arc::clone(found);
        }
        let mut all = self.topic_routes.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            all.entry(topic.to_owned())
                .or_insert_with(|| Arc::new(Route::new(topic))),
        )
    }
}

/// A record encoded elsewhere, for [`Producer::enqueue_encoded`].
#[derive(Debug, Clone, Copy)]
pub struct EncodedRecord<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    /// The framed value.
    pub value: &'a [u8],
    /// Record headers, in order (the CloudEvents ones among them).
    pub headers: &'a [(String, Vec<u8>)],
    /// The event's id (`ce_id`), reported back in [`Delivered::event_id`].
    pub id: &'a str,
}

/// Publishes typed events. Cheap to clone; clones share one client.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Where an event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The CloudEvents id (`ce_id`) the event was sent with.
    pub event_id: String,
}

/// An event handed to librdkafka, not yet acknowledged. Dropping it does not
/// cancel the send; only the result is lost.
pub struct PendingDelivery<E> {
    event: E,
    event_type: &'static str,
    route: Arc<Route>,
    event_id: String,
    outcome: oneshot::Receiver<Result<(i32, i64), KafkaError>>,
    /// The `send` span, open until the acknowledgement is read.
    span: tracing::Span,
}

impl<E> std::fmt::Debug for PendingDelivery<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("topic", &self.route.topic)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

impl PendingDelivery<()> {
    /// The same delivery, handing `event` back if it fails.
    fn with_event<E>(self, event: E) -> PendingDelivery<E> {
        PendingDelivery {
            event,
            event_type: self.event_type,
            route: self.route,
            event_id: self.event_id,
            outcome: self.outcome,
            span: self.span,
        }
    }
}

impl<E> PendingDelivery<E> {
    /// Waits for the broker's acknowledgement.
    pub async fn wait(self) -> Result<Delivered, SendError<E>> {
        let outcome = self.outcome.await;
        match &outcome {
            Ok(Ok((partition, offset))) => {
                self.span
                    .record("messaging.destination.partition.id", partition)
                    .record("messaging.kafka.offset", offset);
            }
            Ok(Err(error)) => {
                self.span
                    .record("error.type", SendErrorKind::of(error).class());
            }
            Err(_) => {
                self.span
                    .record("error.type", SendErrorKind::Closed.class());
            }
        }
        match outcome {
            Ok(Ok((partition, offset))) => Ok(Delivered {
                topic: self.route.topic.clone(),
                partition,
                offset,
                event_id: self.event_id,
            }),
            Ok(Err(error)) => Err(SendError::new(
                SendErrorKind::of(&error),
                self.event_type,
                error.to_string(),
                self.event,
            )),
            Err(_) => Err(SendError::new(
                SendErrorKind::Closed,
                self.event_type,
                "the producer was dropped before delivery".into(),
                self.event,
            )),
        }
    }
}

impl Producer {
    pub fn builder(config: ProducerConfig) -> ProducerBuilder {
        ProducerBuilder {
            config,
            naming: Arc::new(default_topic_name),
            token_provider: None,
        }
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// Whether sends currently fail fast because the cluster is unreachable.
    pub fn is_circuit_open(&self) -> bool {
        self.inner.circuit.is_open()
    }

    /// True once librdkafka raised a fatal error (a fenced idempotent
    /// producer, for one): every send fails with [`SendErrorKind::Fatal`]
    /// from then on; create a new producer.
    pub fn is_fatal(&self) -> bool {
        self.inner.circuit.is_fatal()
    }

    /// Bytes of records enqueued and not yet acknowledged.
    pub fn buffered_bytes(&self) -> usize {
        self.inner
            .buffer_limit
            .saturating_sub(self.inner.buffer.available_permits())
    }

    /// The topic events of `event_type` go to.
    pub fn topic_for(&self, event_type: &str) -> String {
        self.inner.topic_for(event_type)
    }

    /// Sends `event` and waits for the broker's acknowledgement.
    pub async fn send<E: Event>(&self, event: E) -> Result<Delivered, SendError<E>> {
        self.enqueue(event).await?.wait().await
    }

    /// Sends `event` with the given envelope (to set correlation, causation or
    /// trace context), and waits for the acknowledgement.
    pub async fn send_with<E: Event>(
        &self,
        event: E,
        envelope: Envelope,
    ) -> Result<Delivered, SendError<E>> {
        self.enqueue_with(event, envelope).await?.wait().await
    }

    /// Hands `event` to the client once there is room in the send buffer —
    /// waiting, not failing, while it is full — and returns without waiting
    /// for the acknowledgement.
    pub async fn enqueue<E: Event>(&self, event: E) -> Result<PendingDelivery<E>, SendError<E>> {
        let envelope = Envelope::new::<E>(self.inner.config.source.clone());
        self.enqueue_with(event, envelope).await
    }

    /// [`enqueue`](Self::enqueue) with the given envelope.
    ///
    /// Opens a `send` span (OpenTelemetry messaging attributes) that lasts
    /// until the acknowledgement is read; when the envelope carries no trace
    /// context, the span's goes into the record's `traceparent` header.
    pub async fn enqueue_with<E: Event>(
        &self,
        event: E,
        envelope: Envelope,
    ) -> Result<PendingDelivery<E>, SendError<E>> {
        match self.hand_over(&event, envelope).await {
            Ok(pending) => Ok(pending.with_event(event)),
            Err((kind, message)) => Err(SendError::new(kind, E::EVENT_TYPE, message, event)),
        }
    }

    /// [`enqueue`](Self::enqueue) without taking the event: nothing is kept
    /// until the acknowledgement, so the delivery and its error carry `()`
    /// where the owning calls hand the event back. For callers that keep
    /// their events anyway, or can rebuild them.
    pub async fn enqueue_ref<E: Event>(
        &self,
        event: &E,
    ) -> Result<PendingDelivery<()>, SendError<()>> {
        let envelope = Envelope::new::<E>(self.inner.config.source.clone());
        self.hand_over(event, envelope)
            .await
            .map_err(|(kind, message)| SendError::new(kind, E::EVENT_TYPE, message, ()))
    }

    /// Encodes `event`, waits for room in the send buffer and hands the
    /// record to librdkafka.
    async fn hand_over<E: Event>(
        &self,
        event: &E,
        mut envelope: Envelope,
    ) -> Result<PendingDelivery<()>, (SendErrorKind, String)> {
        let route = self.inner.route(E::EVENT_TYPE);
        let topic = route.topic.as_str();
        let span = tracing::info_span!(
            "send",
            otel.name = %format_args!("send {topic}"),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = %topic,
            messaging.message.id = %envelope.id,
            messaging.kafka.message.key = tracing::field::Empty,
            messaging.destination.partition.id = tracing::field::Empty,
            messaging.kafka.offset = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        if envelope.trace.is_none() {
            envelope.trace = sluice_telemetry::propagation::of(&span);
        }
        let fail = |kind: SendErrorKind, message: String| {
            route.error(kind);
            span.record("error.type", kind.class());
            Err((kind, message))
        };
        if let Err((kind, message)) = self.admit() {
            return fail(kind, message);
        }
        let record = match OutgoingRecord::new(&self.inner.encoder, event, envelope) {
            Ok(record) => record,
            Err(e @ EncodeError::Oversize { .. }) => {
                return fail(SendErrorKind::RecordTooLarge, e.to_string());
            }
            Err(e) => return fail(SendErrorKind::Encode, e.to_string()),
        };
        span.record("messaging.kafka.message.key", record.key.as_str());
        let size = buffered_size(&record);
        let outcome = match self
            .submit(&route, &record.key, &record.value, record.headers, size)
            .await
        {
            Ok(outcome) => outcome,
            Err((kind, message)) => return fail(kind, message),
        };
        Ok(PendingDelivery {
            event: (),
            event_type: E::EVENT_TYPE,
            route: Arc::clone(&route),
            event_id: record.envelope.id,
            outcome,
            span,
        })
    }

    /// Sends a record encoded elsewhere — framing, headers and key as they
    /// are — to `record.topic`, with the same backpressure, circuit breaker
    /// and delivery reporting as typed sends. For relays of records that
    /// were encoded when they were written (the transactional outbox).
    pub async fn enqueue_encoded(
        &self,
        record: EncodedRecord<'_>,
    ) -> Result<PendingDelivery<()>, SendError<()>> {
        const WHAT: &str = "an encoded record";
        let route = self.inner.route_to_topic(record.topic);
        let span = tracing::info_span!(
            "send",
            otel.name = %format_args!("send {}", record.topic),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = %record.topic,
            messaging.message.id = %record.id,
            messaging.kafka.message.key = %record.key,
            messaging.destination.partition.id = tracing::field::Empty,
            messaging.kafka.offset = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        // The send span continues the trace the record carries (the span
        // the event was written in), as a consumer's span would.
        let header = |name: &str| {
            record
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| std::str::from_utf8(v).ok())
        };
        if let Some(traceparent) = header(TRACEPARENT) {
            sluice_telemetry::propagation::continue_from(
                &span,
                Some(traceparent),
                header(TRACESTATE),
            );
        }
        let fail = |kind: SendErrorKind, message: String| {
            route.error(kind);
            span.record("error.type", kind.class());
            Err(SendError::new(kind, WHAT, message, ()))
        };
        if let Err((kind, message)) = self.admit() {
            return fail(kind, message);
        }
        if record.value.len() > self.inner.config.max_record_bytes {
            return fail(
                SendErrorKind::RecordTooLarge,
                format!(
                    "the value is {} bytes, more than max_record_bytes ({})",
                    record.value.len(),
                    self.inner.config.max_record_bytes
                ),
            );
        }
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        let mut header_bytes = 0;
        for (name, value) in record.headers {
            header_bytes += name.len() + value.len();
            headers = headers.insert(rdkafka::message::Header {
                key: name.as_str(),
                value: Some(value.as_slice()),
            });
        }
        let size = record.key.len() + record.value.len() + header_bytes + RECORD_OVERHEAD_BYTES;
        let outcome = match self
            .submit(&route, record.key, record.value, headers, size)
            .await
        {
            Ok(outcome) => outcome,
            Err((kind, message)) => return fail(kind, message),
        };
        Ok(PendingDelivery {
            event: (),
            event_type: WHAT,
            route,
            event_id: record.id.to_owned(),
            outcome,
            span,
        })
    }

    /// Whether a send may be attempted now: the producer is open, not
    /// fatally failed, and the circuit lets it through.
    fn admit(&self) -> Result<(), (SendErrorKind, String)> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err((SendErrorKind::Closed, "the producer is shut down".into()));
        }
        if self.inner.circuit.is_fatal() {
            let reason = self
                .inner
                .client
                .client()
                .fatal_error()
                .map_or_else(String::new, |(code, reason)| format!("{code:?}: {reason}"));
            return Err((
                SendErrorKind::Fatal,
                format!("the producer hit a fatal error and cannot send again ({reason})"),
            ));
        }
        if !self.inner.circuit.admit() {
            return Err((
                SendErrorKind::Unavailable,
                "the cluster is unreachable (circuit open); retry later".into(),
            ));
        }
        Ok(())
    }

    /// Waits for `size` bytes of the send buffer and hands the record to
    /// librdkafka; the receiver reports its delivery.
    async fn submit(
        &self,
        route: &Arc<Route>,
        key: &str,
        value: &[u8],
        headers: OwnedHeaders,
        size: usize,
    ) -> Result<oneshot::Receiver<Result<(i32, i64), KafkaError>>, (SendErrorKind, String)> {
        // A record larger than the whole buffer waits for all of it (it is
        // refused by `max_record_bytes` long before), never for ever.
        let size = size.min(self.inner.buffer_limit);
        let Ok(permit) = Arc::clone(&self.inner.buffer)
            .acquire_many_owned(u32::try_from(size).unwrap_or(u32::MAX))
            .await
        else {
            return Err((SendErrorKind::Closed, "the producer is shut down".into()));
        };
        let (report, outcome) = oneshot::channel();
        let in_flight = Box::new(InFlight {
            report,
            _buffer: permit,
            started: Instant::now(),
            route: Arc::clone(route),
        });
        let base = BaseRecord::with_opaque_to(&route.topic, in_flight)
            .key(key)
            .payload(value)
            .headers(headers);
        // On failure the record, and with it the buffer share, is dropped here.
        if let Err((error, _)) = self.inner.client.send(base) {
            return Err((SendErrorKind::of(&error), error.to_string()));
        }
        Ok(outcome)
    }

    /// Sends every event, keeping their order per key, and returns each
    /// result in the order given.
    ///
    /// Once an event fails to be handed over (the circuit is open, the
    /// buffer is closed, it does not encode), the later events of its key
    /// are not sent: they fail with [`SendErrorKind::KeyBlocked`], so that a
    /// probe let through a half-open circuit never delivers a key's later
    /// event ahead of an earlier one the caller will retry.
    pub async fn send_all<E: Event>(
        &self,
        events: impl IntoIterator<Item = E>,
    ) -> Vec<Result<Delivered, SendError<E>>> {
        let mut pending = Vec::new();
        let mut failed_keys: std::collections::HashSet<String> = Default::default();
        for event in events {
            if !failed_keys.is_empty() && failed_keys.contains(event.partition_key()) {
                pending.push(Err(SendError::new(
                    SendErrorKind::KeyBlocked,
                    E::EVENT_TYPE,
                    "an earlier event with this key was not sent; this one waits for it".into(),
                    event,
                )));
                continue;
            }
            let handed = self.enqueue(event).await;
            if let Err(error) = &handed {
                failed_keys.insert(error.event().partition_key().to_owned());
            }
            pending.push(handed);
        }
        let mut results = Vec::with_capacity(pending.len());
        for p in pending {
            results.push(match p {
                Ok(p) => p.wait().await,
                Err(e) => Err(e),
            });
        }
        results
    }

    /// Waits until every enqueued record is acknowledged or failed.
    pub async fn flush(&self, timeout: Duration) -> Result<(), ProducerError> {
        let client = self.inner.client.clone();
        tokio::task::spawn_blocking(move || client.flush(timeout))
            .await
            .map_err(|e| ProducerError::Config(format!("flush task failed: {e}")))?
            .map_err(|source| ProducerError::Flush {
                timeout_ms: timeout.as_millis(),
                source,
            })
    }

    /// Refuses new sends, then delivers what is queued within `timeout`.
    /// Sends still waiting for buffer space fail with `Closed`, handing their
    /// events back.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), ProducerError> {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.buffer.close();
        self.flush(timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_drop_the_version_suffix() {
        assert_eq!(default_topic_name("email.received.v1"), "email.received");
        assert_eq!(default_topic_name("email.received.v12"), "email.received");
        assert_eq!(default_topic_name("email.received"), "email.received");
        assert_eq!(default_topic_name("email.v"), "email.v");
        assert_eq!(default_topic_name("plain"), "plain");
    }
}
