//! The transactional outbox (PostgreSQL → Kafka) and inbox deduplication.
//!
//! A service that writes to its database and publishes an event must never
//! publish an event for a rolled-back write, nor lose one for a committed
//! write. With this crate it writes the event into an outbox table **in
//! the same transaction** as its own changes ([`Outbox::enqueue`]); the
//! relay ([`Relay`], the `sluice-outbox-relay` binary) publishes committed
//! rows with sluice's producer and marks them only after the broker
//! acknowledged them. On the consuming side, [`Inbox`] makes a redelivered
//! event change the database once.
//!
//! ```no_run
//! # async fn example(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_events::proto::EmailReceived;
//! use sluice_outbox::{Outbox, OutboxConfig};
//!
//! let config = OutboxConfig::default();
//! sluice_outbox::migrate(&pool, &config.names()?).await?;
//! let outbox = Outbox::new(&config, "/services/ingest")?;
//! let mut tx = pool.begin().await?;
//! sqlx::query("INSERT INTO emails (id) VALUES ($1)").bind("e-1").execute(&mut *tx).await?;
//! outbox.enqueue(&mut tx, &EmailReceived { email_id: "e-1".into(), ..Default::default() }).await?;
//! tx.commit().await?; // the event exists if and only if this commits
//! # Ok(()) }
//! ```
//!
//! Guarantees, the table layout (Debezium's outbox event router columns)
//! and operating the relay: `docs/outbox.md`.
//!
//! # Layout
//!
//! - [`config`]: [`OutboxConfig`] (schema, table and channel names) and
//!   [`RelayConfig`] (database, producer, batching, buckets, HTTP).
//! - [`names`]: validated, always-quoted identifiers for the configured
//!   names.
//! - [`migrate`](mod@migrate): the SQL migrations shipped in `migrations/`,
//!   rendered for the configured names.
//! - [`outbox`]: the writing side, [`Outbox`].
//! - [`relay`]: [`Relay`]: bucket leadership ([`relay::plan`]), rounds,
//!   the ordering rule ([`relay::settle`](mod@relay::settle)), the checks
//!   that dead-letter a row before it is sent, and the marks, stats and
//!   purge it writes back.
//! - [`inbox`]: [`Inbox`], the consumer-side deduplication, and cleanup.
//! - [`admin`]: status, listing and retry of rows, for the CLI and gauges.
//! - [`error`](mod@error): [`OutboxError`].

pub mod admin;
pub mod config;
pub mod error;
pub mod inbox;
pub mod migrate;
pub mod names;
pub mod outbox;
pub mod relay;

pub use config::{HttpConfig, OutboxConfig, RelayConfig, RelaySettings, Retention};
pub use error::{OutboxError, Result};
pub use inbox::{Inbox, InboxHandler};
pub use migrate::migrate;
pub use names::Names;
pub use outbox::Outbox;
pub use relay::{Relay, RelayStatus};
