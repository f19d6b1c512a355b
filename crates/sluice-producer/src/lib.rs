//! Publishes typed events to Kafka and Amazon MSK.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_producer::{Producer, ProducerConfig};
//! use sluice_events::proto::EmailReceived;
//!
//! let config = ProducerConfig::from_toml(r#"
//!     source = "/services/ingest"
//!     [kafka]
//!     bootstrap_servers = "localhost:9092"
//! "#)?;
//! let producer = Producer::builder(config).build()?;
//! let event = EmailReceived { email_id: "e-1".into(), ..Default::default() };
//! let delivered = producer.send(event).await?;
//! println!("{} [{}] @ {}", delivered.topic, delivered.partition, delivered.offset);
//! # Ok(()) }
//! ```
//!
//! ```text
//! send(event) ─ encode (framing, envelope, key) ─ wait for buffer space ─► librdkafka queue
//!                                                  (async, bounded bytes)    │ linger / batch / compress
//!                                                                            ▼ idempotent, acks=all, retries
//!   Delivered { topic, partition, offset } or SendError { kind, event } ◄── broker
//! ```
//!
//! # Layout
//!
//! - [`config`]: [`ProducerConfig`], a serde struct with documented defaults
//!   tuned for throughput; TOML and environment overrides.
//! - [`producer`]: the [`Producer`] handle, flushing and shutdown; one job
//!   per submodule:
//!   - `builder`: [`ProducerBuilder`], whose `build` creates the client.
//!   - `send`: the send path: a send is refused while shut down, after a
//!     fatal error or with the circuit open; otherwise it is encoded, waits
//!     for buffer space and goes to librdkafka. `send_all` keeps each key's
//!     order past a failure.
//!   - `buffer`: the bytes a queued record holds, and the
//!     `max_buffered_bytes` bound that makes senders wait.
//!   - `delivery`: a record in flight until librdkafka reports it (metrics,
//!     the buffer share given back), and the caller's [`PendingDelivery`]
//!     and [`Delivered`].
//!   - `context`: librdkafka's callbacks: delivery reports, all brokers
//!     down for the circuit, OAUTHBEARER tokens.
//!   - `circuit`: the circuit breaker that fails sends fast while the
//!     cluster is unreachable.
//!   - `route`: an event type's topic
//!     ([`default_topic_name`](producer::default_topic_name) unless
//!     configured) and the topic's metric handles.
//! - [`error`]: [`SendError`], which hands the event back, and
//!   [`ProducerError`].
//!
//! Batching, compression, retries with exponential backoff and jitter,
//! idempotence and per-partition ordering are librdkafka's; sluice adds typed
//! events, the envelope, topic routing, byte-bounded async backpressure and
//! errors that never lose an event.

pub mod config;
pub mod error;
pub mod producer;

pub use config::{Compression, ProducerConfig};
pub use error::{ProducerError, SendError, SendErrorKind};
pub use producer::{Delivered, EncodedRecord, PendingDelivery, Producer, ProducerBuilder};
