//! What the runtime calls: raw-record handlers, typed handlers, and the
//! router that decodes records and picks the typed handler for each.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sluice_core::{Codec as _, Decoder, Envelope, EnvelopeError, Event, SchemaRegistry};

use crate::error::HandlerError;
use crate::record::Record;

/// One record as handed to a handler, and where it stands.
#[derive(Debug, Clone)]
pub struct Context {
    pub(crate) record: Arc<Record>,
    pub(crate) group: Arc<str>,
    pub(crate) attempt: u32,
}

impl Context {
    /// The context of a handler call: `record` on its `attempt`-th try in
    /// consumer group `group`. The runtime makes these; tests of handlers
    /// can too.
    pub fn new(record: Record, group: &str, attempt: u32) -> Self {
        Self {
            record: Arc::new(record),
            group: Arc::from(group),
            attempt,
        }
    }

    /// The record as read from Kafka.
    pub fn record(&self) -> &Record {
        &self.record
    }

    pub fn topic(&self) -> &str {
        self.record.topic()
    }

    pub fn partition(&self) -> i32 {
        self.record.partition()
    }

    pub fn offset(&self) -> i64 {
        self.record.offset()
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.record.key()
    }

    /// The value of the last header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.record.header(name)
    }

    /// The record's timestamp (create or log-append time), in ms since the
    /// epoch.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.record.timestamp().to_millis()
    }

    /// 1 on the first call for this record, then 2, 3, ... on retries.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    pub fn consumer_group(&self) -> &str {
        &self.group
    }

    /// The CloudEvents envelope in the record's headers (headers whose name
    /// is not UTF-8 are not attributes and are passed over).
    pub fn envelope(&self) -> Result<Envelope, EnvelopeError> {
        Envelope::from_headers(
            self.record
                .headers()
                .filter_map(|h| Some((h.name_str()?, h.value))),
        )
    }
}

/// Handles records as bytes, for services that decode themselves.
pub trait RecordHandler: Send + Sync + 'static {
    fn handle(&self, ctx: &Context) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Handles one typed event.
pub trait Handler<E: Event>: Send + Sync + 'static {
    fn handle(
        &self,
        event: E,
        ctx: &Context,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

type BoxFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'a>>;

trait ErasedHandler: Send + Sync {
    fn call<'a>(&'a self, decoder: Decoder<'a>, ctx: &'a Context) -> BoxFuture<'a>;
}

struct Typed<E, H> {
    handler: H,
    _event: std::marker::PhantomData<fn() -> E>,
}

impl<E: Event, H: Handler<E>> ErasedHandler for Typed<E, H> {
    fn call<'a>(&'a self, decoder: Decoder<'a>, ctx: &'a Context) -> BoxFuture<'a> {
        Box::pin(async move {
            let value = ctx.record().payload().unwrap_or_default();
            let ce_type = ctx
                .header(sluice_core::envelope::header::TYPE)
                .map(|t| std::str::from_utf8(t).unwrap_or("(not UTF-8)"));
            let event = decoder.decode_typed::<E>(ce_type, value)?;
            self.handler.handle(event, ctx).await
        })
    }
}

/// Typed handlers by event type: each record is decoded through the schema
/// registry and given to the handler of its type.
///
/// Records need no CloudEvents envelope to be decoded, but a `ce_type`
/// header, when present, must name the schema's event type. Records that
/// cannot be decoded (no value, wrong magic byte, unknown schema id,
/// corrupt bytes, a `ce_type` that disagrees with the schema)
/// and records of a type without a handler fail permanently, with the
/// decode error's class, and so go to the DLQ.
pub struct Handlers {
    registry: Arc<SchemaRegistry>,
    max_record_bytes: usize,
    /// Schema id → the handler of its type, for every registered version.
    routes: HashMap<u32, Arc<dyn ErasedHandler>>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("schema_ids", &self.routes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Handlers {
    pub fn new(registry: Arc<SchemaRegistry>) -> Self {
        Self {
            registry,
            max_record_bytes: sluice_core::framing::DEFAULT_MAX_RECORD_BYTES,
            routes: HashMap::new(),
        }
    }

    /// Adds the handler for events of type `E` (replacing an earlier one).
    pub fn on<E: Event, H: Handler<E>>(mut self, handler: H) -> Self {
        let handler: Arc<dyn ErasedHandler> = Arc::new(Typed::<E, H> {
            handler,
            _event: std::marker::PhantomData,
        });
        for schema in self.registry.iter() {
            if schema.subject == E::SUBJECT && schema.format() == E::Codec::FORMAT {
                self.routes.insert(schema.id, Arc::clone(&handler));
            }
        }
        self
    }

    /// Values larger than this fail with `oversize_record` before decoding.
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }
}

impl RecordHandler for Handlers {
    async fn handle(&self, ctx: &Context) -> Result<(), HandlerError> {
        let value = ctx.record().payload().ok_or_else(HandlerError::tombstone)?;
        if value.len() > self.max_record_bytes {
            return Err(sluice_core::DecodeError::Oversize {
                size: value.len(),
                limit: self.max_record_bytes,
            }
            .into());
        }
        let frame = sluice_core::wire::read_header(value)?;
        let Some(handler) = self.routes.get(&frame.schema_id) else {
            let schema = self.registry.get(frame.schema_id).ok_or(
                sluice_core::DecodeError::UnknownSchemaId {
                    id: frame.schema_id,
                },
            )?;
            return Err(HandlerError::permanent(format!(
                "no handler for {} ({})",
                schema.subject,
                schema.format()
            ))
            .with_class("no_handler"));
        };
        let decoder = Decoder::new(&self.registry).with_max_record_bytes(self.max_record_bytes);
        handler.call(decoder, ctx).await
    }
}

impl<H: RecordHandler> RecordHandler for Arc<H> {
    fn handle(&self, ctx: &Context) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).handle(ctx)
    }
}
