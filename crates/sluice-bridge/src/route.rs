//! The consumer-runtime handler of a route: one record → one entry, handed
//! to the route's batcher; the handler returns, and the offset can be
//! committed, only once AWS accepted the entry or it was dead-lettered.

use std::sync::Arc;

use sluice_consumer::{Context, HandlerError, RecordHandler};
use sluice_core::{Decoder, SchemaRegistry, TraceContext};

use crate::batch::{BatchSender, Batcher};

/// The first stage of a destination: a record becomes one entry of its
/// batch API ([`BatchSender`] is the second).
pub(crate) trait EntryBuilder: BatchSender {
    /// The entry and its size by the service's own rules.
    fn entry(&self, source: &EntrySource<'_>) -> Result<(Self::Entry, usize), HandlerError>;
}

/// What an entry is built from: the record, the decoder that renders it as
/// JSON, and the trace the entry continues.
pub(crate) struct EntrySource<'a> {
    ctx: &'a Context,
    decoder: Decoder<'a>,
    trace: Option<TraceContext>,
}

impl<'a> EntrySource<'a> {
    fn new(ctx: &'a Context, decoder: Decoder<'a>) -> Self {
        // The handler's span continues the producer's trace; without an
        // OpenTelemetry layer, the record's own trace context is passed on.
        let trace = sluice_telemetry::propagation::current().or_else(|| {
            let traceparent = ctx.header(sluice_core::envelope::header::TRACEPARENT)?;
            let tracestate = ctx.header(sluice_core::envelope::header::TRACESTATE);
            TraceContext::new(
                String::from_utf8(traceparent.to_vec()).ok()?,
                tracestate.and_then(|s| String::from_utf8(s.to_vec()).ok()),
            )
            .ok()
        });
        Self {
            ctx,
            decoder,
            trace,
        }
    }

    /// The trace this record's entry continues, as an X-Ray header for AWS.
    pub(crate) fn xray_header(&self) -> Option<String> {
        self.trace
            .as_ref()
            .and_then(|t| sluice_telemetry::propagation::xray_header(t.traceparent()))
    }

    pub(crate) fn value(&self) -> &[u8] {
        self.ctx.record().payload().unwrap_or_default()
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        self.ctx.key()
    }

    pub(crate) fn timestamp_ms(&self) -> Option<i64> {
        self.ctx.timestamp_ms()
    }

    /// The event rendered as JSON from its registered schema.
    pub(crate) fn json(&self) -> Result<serde_json::Value, HandlerError> {
        if self.ctx.record().payload().is_none() {
            return Err(HandlerError::tombstone());
        }
        Ok(self.decoder.to_json(self.value())?)
    }

    /// A UTF-8 header value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.ctx
            .header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every UTF-8 header whose name starts with `prefix`, in record order
    /// (the last value of a repeated name wins).
    pub(crate) fn headers_with_prefix(&self, prefix: &str) -> Vec<(&str, &str)> {
        let mut found: Vec<(&str, &str)> = Vec::new();
        for header in self.ctx.record().headers() {
            let (Some(name), Some(value)) = (header.name_str(), header.value) else {
                continue;
            };
            if !name.starts_with(prefix) {
                continue;
            }
            let Ok(value) = std::str::from_utf8(value) else {
                continue;
            };
            match found.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => found.push((name, value)),
            }
        }
        found
    }

    /// The CloudEvents id, or the record's coordinates when it has none:
    /// stable across redeliveries either way.
    pub(crate) fn event_id(&self) -> String {
        match self.header(sluice_core::envelope::header::ID) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => format!(
                "{}-{}-{}",
                self.ctx.topic(),
                self.ctx.partition(),
                self.ctx.offset()
            ),
        }
    }
}

pub(crate) struct RouteHandler<D: EntryBuilder> {
    client: Arc<D>,
    batcher: Batcher<D::Entry>,
    registry: Arc<SchemaRegistry>,
    /// The route's record limit, which the consumer already enforced.
    max_record_bytes: usize,
    max_entry_bytes: usize,
    what: &'static str,
}

impl<D: EntryBuilder> RouteHandler<D> {
    pub(crate) fn new(
        client: Arc<D>,
        batcher: Batcher<D::Entry>,
        registry: Arc<SchemaRegistry>,
        max_record_bytes: usize,
        max_entry_bytes: usize,
        what: &'static str,
    ) -> Self {
        Self {
            client,
            batcher,
            registry,
            max_record_bytes,
            max_entry_bytes,
            what,
        }
    }
}

impl<D: EntryBuilder> RecordHandler for RouteHandler<D> {
    async fn handle(&self, ctx: &Context) -> Result<(), HandlerError> {
        let decoder = Decoder::new(&self.registry).with_max_record_bytes(self.max_record_bytes);
        let source = EntrySource::new(ctx, decoder);
        let (entry, size) = self.client.entry(&source)?;
        if size > self.max_entry_bytes {
            return Err(HandlerError::permanent(format!(
                "the {} is {size} bytes, over the limit of {} bytes",
                self.what, self.max_entry_bytes
            ))
            .with_class("oversize_entry"));
        }
        match self.batcher.submit(entry, size, source.trace).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(rejection)) => Err(HandlerError::permanent(format!(
                "{}: {}",
                rejection.code, rejection.message
            ))
            .with_class(format!("aws.{}", rejection.code))),
            Err(_) => Err(HandlerError::retriable("the bridge is stopping")),
        }
    }
}

/// A handler of either destination, so that every route runs the same
/// consumer type.
pub(crate) enum AnyRoute {
    EventBridge(RouteHandler<crate::eventbridge::BusClient>),
    Sqs(RouteHandler<crate::sqs::QueueClient>),
}

impl RecordHandler for AnyRoute {
    async fn handle(&self, ctx: &Context) -> Result<(), HandlerError> {
        match self {
            AnyRoute::EventBridge(h) => h.handle(ctx).await,
            AnyRoute::Sqs(h) => h.handle(ctx).await,
        }
    }
}
