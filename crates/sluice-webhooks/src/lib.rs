//! Signed HTTP webhooks into Kafka and out of it.
//!
//! - **Ingress** ([`Ingress`]): `POST /webhooks/{source}` verifies the
//!   signature over the raw body ([Standard Webhooks] by default, or
//!   GitHub's `sha256=<hex>`), refuses stale timestamps, publishes the body
//!   with sluice's producer and answers `202` only after the broker
//!   acknowledged it. A repeated `webhook-id` within the dedup window
//!   answers 202 again and publishes nothing; the id becomes the event's
//!   `ce_id`.
//! - **Egress** ([`Egress`]): a consumer group per endpoint POSTs each
//!   record as JSON, signed with the endpoint's secrets, with `webhook-id`
//!   = the event's `ce_id`; retries 1, 2, 4, 8, 16 s on 5xx, timeouts,
//!   connection errors, 408 and 429 (`Retry-After` honoured), dead-letters
//!   other 4xx at once, and commits only after a 2xx.
//!
//! A sender that POSTed to a receiver directly can POST to the ingress
//! instead, and the egress delivers the same body, with the same id, to
//! the receiver: `docs/webhooks.md` walks through the move.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_webhooks::{Ingress, WebhooksConfig};
//!
//! let config = WebhooksConfig::load("webhooks.toml".as_ref())?;
//! let ingress = Ingress::bind(config.ingress.as_ref().unwrap(), None).await?;
//! ingress.run(async { tokio::signal::ctrl_c().await.unwrap() }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`config`]: the file.
//! - [`signature`]: signing and verifying, both schemes.
//! - `ingress`: the HTTP server; `source` checks and turns a request into
//!   a record, `dedup` is the window of seen ids, `reply` the answers.
//! - `egress`: the endpoints' consumers; `delivery` is the handler (one
//!   signed POST per record, the answer's meaning), `circuit` the breaker.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

pub mod config;
mod egress;
mod error;
mod ingress;
pub mod signature;

pub use config::WebhooksConfig;
pub use egress::Egress;
pub use error::WebhookError;
pub use ingress::{Ingress, IngressStatus};
