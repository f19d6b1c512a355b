//! [`Producer`]: typed sends with async backpressure.
//!
//! This module holds the handle and the state its clones share; building,
//! sending, the buffer, deliveries, the client context, the circuit and
//! topic routing are a submodule each (see the crate's Layout).

mod buffer;
mod builder;
mod circuit;
mod context;
mod delivery;
mod encoded;
mod route;
mod send;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::producer::Producer as _;
use sluice_core::Encoder;

pub use builder::ProducerBuilder;
pub use delivery::{Delivered, PendingDelivery};
pub use encoded::EncodedRecord;
pub use route::default_topic_name;

use self::buffer::SendBuffer;
use self::circuit::Circuit;
use self::context::Client;
use self::route::{Route, TopicNaming};
use crate::config::ProducerConfig;
use crate::error::ProducerError;

struct Inner {
    config: ProducerConfig,
    encoder: Encoder,
    client: Client,
    /// Bytes of records between enqueue and delivery.
    buffer: SendBuffer,
    closed: AtomicBool,
    circuit: Arc<Circuit>,
    naming: TopicNaming,
    /// By event type.
    routes: RwLock<HashMap<&'static str, Arc<Route>>>,
    /// By topic, for encoded records.
    topic_routes: RwLock<HashMap<String, Arc<Route>>>,
}

impl Inner {
    fn topic_for(&self, event_type: &str) -> String {
        match self.config.topics.get(event_type) {
            Some(topic) => topic.clone(),
            None => (self.naming)(event_type),
        }
    }

    fn route(&self, event_type: &'static str) -> Arc<Route> {
        cached(&self.routes, event_type, || {
            (event_type, Route::new(&self.topic_for(event_type)))
        })
    }

    fn route_to_topic(&self, topic: &str) -> Arc<Route> {
        cached(&self.topic_routes, topic, || {
            (topic.to_owned(), Route::new(topic))
        })
    }
}

/// The route `map` holds under `key`, made by `make` the first time.
fn cached<K>(
    map: &RwLock<HashMap<K, Arc<Route>>>,
    key: &str,
    make: impl FnOnce() -> (K, Route),
) -> Arc<Route>
where
    K: Borrow<str> + Eq + Hash,
{
    if let Some(found) = map.read().unwrap_or_else(|e| e.into_inner()).get(key) {
        return Arc::clone(found);
    }
    let (key, route) = make();
    let mut all = map.write().unwrap_or_else(|e| e.into_inner());
    Arc::clone(all.entry(key).or_insert_with(|| Arc::new(route)))
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

impl Producer {
    pub fn builder(config: ProducerConfig) -> ProducerBuilder {
        ProducerBuilder::new(config)
    }

    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// Whether sends currently fail fast because the cluster is unreachable.
    pub fn is_circuit_open(&self) -> bool {
        self.inner.circuit.is_open()
    }

    /// True once librdkafka raised a fatal error (a fenced idempotent
    /// producer, for one): every send fails with
    /// [`SendErrorKind::Fatal`](crate::SendErrorKind::Fatal) from then on;
    /// create a new producer.
    pub fn is_fatal(&self) -> bool {
        self.inner.client.client().fatal_error().is_some()
    }

    /// Bytes of records enqueued and not yet acknowledged.
    pub fn buffered_bytes(&self) -> usize {
        self.inner.buffer.used()
    }

    /// The topic events of `event_type` go to.
    pub fn topic_for(&self, event_type: &str) -> String {
        self.inner.topic_for(event_type)
    }

    /// Waits until every enqueued record is acknowledged or failed.
    pub async fn flush(&self, timeout: Duration) -> Result<(), ProducerError> {
        let client = self.inner.client.clone();
        tokio::task::spawn_blocking(move || client.flush(timeout))
            .await
            .map_err(ProducerError::FlushTask)?
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
