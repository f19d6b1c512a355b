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
//! - [`producer`]: [`Producer`] and its builder, sending, flushing, shutdown.
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
