//! sluice's consumer-group runtime: typed handlers over Kafka records with
//! at-least-once delivery.
//!
//! - Partitions run in parallel; inside a partition, records with the same
//!   key run in offset order while different keys run concurrently (or one
//!   record at a time, with [`OrderBy::Partition`], or any records at once,
//!   with [`OrderBy::Unordered`]).
//! - Only offsets below which every record is finished — handled, or
//!   acknowledged by its DLQ topic — are committed: periodically, on
//!   revocation and on shutdown.
//! - Retriable failures are retried in place with exponential backoff and
//!   jitter; permanent failures, decode errors, panics and exhausted retries
//!   go to `<topic>.dlq` with the original key, value and headers plus
//!   `sluice.dlq.*` headers ([`dlq::headers`]).
//!
//! ```no_run
//! use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Context, Handler, HandlerError, Handlers};
//! use sluice_events::proto::EmailReceived;
//!
//! struct Archive;
//!
//! impl Handler<EmailReceived> for Archive {
//!     async fn handle(&self, event: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
//!         println!("{} at offset {}", event.subject, ctx.offset());
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ConsumerConfig::from_toml(&std::fs::read_to_string("consumer.toml")?)?;
//! let handlers = Handlers::new(sluice_events::registry().clone()).on::<EmailReceived, _>(Archive);
//! let consumer = ConsumerBuilder::new(config).build(handlers)?;
//! consumer.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(())
//! # }
//! ```

pub mod batch;
mod commit;
pub mod config;
mod consumer;
pub mod dlq;
pub mod error;
mod fleet;
pub mod handler;
mod partition;
mod poll;
mod rebalance;
pub mod record;
mod retry;
mod scheduler;
mod status;
mod subscription;
mod throttle;
mod tracker;
mod worker;

pub use batch::{BatchHandler, BatchOptions, Batched};
pub use config::{
    AssignmentStrategy, AutoOffsetReset, ConsumerConfig, DlqConfig, OrderBy, RetryPolicy,
};
pub use consumer::{Consumer, ConsumerBuilder};
pub use error::{ConsumerError, FailureKind, HandlerError};
pub use fleet::{Fleet, FleetError, FleetStatus};
pub use handler::{Context, Handler, Handlers, RecordHandler};
pub use record::Record;
pub use status::{ConsumerStatus, PartitionLag};
