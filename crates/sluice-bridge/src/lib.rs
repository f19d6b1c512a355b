//! Bridges from Kafka topics to Amazon EventBridge and Amazon SQS.
//!
//! Each route of the [configuration](BridgeConfig) is a consumer group of
//! the [`sluice_consumer`] runtime whose handler turns a record into a
//! `PutEvents` or `SendMessageBatch` entry and waits until AWS accepted it.
//! Entries are batched up to the AWS limits (10 per call, sizes computed by
//! AWS's rules) with a linger timer; only failed entries are sent again;
//! throttling slows the route down. Entries AWS refuses for good, and
//! records that cannot become an entry (undecodable, too large), go to the
//! route's DLQ topic with the reason in the `sluice.dlq.*` headers. Since
//! the runtime commits only finished offsets, an offset is committed only
//! after AWS accepted every record up to it, or it was dead-lettered.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use sluice_bridge::{Bridge, BridgeConfig};
//! use sluice_core::SchemaRegistry;
//!
//! let config = BridgeConfig::load("bridge.toml".as_ref())?;
//! let registry = Arc::new(SchemaRegistry::load("registry/manifest.toml".as_ref())?);
//! let bridge = Bridge::builder(config, registry).start().await?;
//! bridge.run(async { tokio::signal::ctrl_c().await.unwrap() }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`config`]: the file; a route sends to one [`DestinationConfig`].
//! - `route`: a route's consumer handler; a record becomes an entry
//!   (`EntryBuilder`) and waits for the batcher's answer.
//! - `eventbridge`, `sqs`: the connected destinations, `BusClient` and
//!   `QueueClient`: each builds its entries and sends its batches.
//! - `batch`: the route's batcher, behind `BatchSender`: `gather` fills
//!   batches by the AWS limits, `deliver` sends and resends, `throttle`
//!   paces the route.
//! - `aws`: what an AWS error means for the entries of a call.

mod aws;
mod batch;
pub mod config;
mod error;
mod eventbridge;
mod route;
mod sqs;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Fleet};
use sluice_core::SchemaRegistry;

pub use config::BridgeConfig;
pub use error::BridgeError;

use crate::batch::{BatchLimits, Batcher};
use crate::config::{DestinationConfig, RouteConfig, quotas};
use crate::route::{AnyRoute, RouteHandler};

/// Readiness of every route, for `/ready`: one member per route.
pub type BridgeStatus = sluice_consumer::FleetStatus;

/// A bridge whose routes are subscribed and ready to run.
pub struct Bridge {
    fleet: Fleet<AnyRoute>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("fleet", &self.fleet)
            .finish()
    }
}

/// Options of a bridge, then [`start`](Self::start); made by
/// [`Bridge::builder`].
#[derive(Debug)]
pub struct BridgeBuilder {
    config: BridgeConfig,
    registry: Arc<SchemaRegistry>,
    sdk_config: Option<SdkConfig>,
}

impl BridgeBuilder {
    /// AWS settings to start from instead of the standard AWS chain (a
    /// local emulator's, or settings the service already loaded); `[aws]`
    /// in the file still overrides the region and the endpoint.
    pub fn sdk_config(mut self, sdk_config: SdkConfig) -> Self {
        self.sdk_config = Some(sdk_config);
        self
    }

    /// Checks every destination (an SQS queue's attributes are read, and
    /// the smaller of its `MaximumMessageSize` and the configured limit is
    /// kept), creates the routes' consumers and subscribes them.
    pub async fn start(self) -> Result<Bridge, BridgeError> {
        let Self {
            config,
            registry,
            sdk_config,
        } = self;
        config.validate()?;
        let sdk = match sdk_config {
            Some(sdk) => sdk,
            None => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(region) = &config.aws.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                loader.load().await
            }
        };
        let mut builder = sdk.into_builder();
        if let Some(region) = &config.aws.region {
            builder.set_region(Some(aws_config::Region::new(region.clone())));
        }
        if let Some(endpoint) = &config.aws.endpoint_url {
            builder.set_endpoint_url(Some(endpoint.clone()));
        }
        let sdk = builder.build();
        let mut consumers = Vec::new();
        for route in &config.routes {
            let mut consumer_config = ConsumerConfig::new(
                config.kafka.clone(),
                route
                    .group_id
                    .clone()
                    .unwrap_or_else(|| format!("sluice-bridge.{}", route.name)),
                route.topics.clone(),
            );
            consumer_config.max_in_flight_per_partition = route.max_in_flight_per_partition;
            consumer_config.auto_offset_reset = route.auto_offset_reset;
            if let Some(limit) = route.max_record_bytes {
                consumer_config.max_record_bytes = limit;
            }
            if let Some(dlq) = &route.dlq_topic {
                consumer_config.dlq.topic = dlq.clone();
            }
            let decoding = (Arc::clone(&registry), consumer_config.max_record_bytes);
            let handler = Bridge::handler(route, decoding, &sdk).await?;
            let consumer = ConsumerBuilder::new(consumer_config)
                .build(handler)
                .map_err(|source| BridgeError::Consumer {
                    route: route.name.clone(),
                    source: Box::new(source),
                })?;
            consumers.push((route.name.clone(), consumer));
        }
        Ok(Bridge {
            fleet: Fleet::new(consumers),
        })
    }
}

impl Bridge {
    /// A bridge of `config`'s routes, rendering events with `registry`; AWS
    /// settings come from the standard AWS chain unless
    /// [`sdk_config`](BridgeBuilder::sdk_config) gives them.
    pub fn builder(config: BridgeConfig, registry: Arc<SchemaRegistry>) -> BridgeBuilder {
        BridgeBuilder {
            config,
            registry,
            sdk_config: None,
        }
    }

    async fn handler(
        route: &RouteConfig,
        (registry, max_record_bytes): (Arc<SchemaRegistry>, usize),
        sdk: &SdkConfig,
    ) -> Result<AnyRoute, BridgeError> {
        let batching = route.batching.clone();
        match &route.destination {
            DestinationConfig::EventBridge(eb) => {
                let limits = BatchLimits {
                    max_entries: eb
                        .limits
                        .max_entries
                        .unwrap_or(quotas::EVENTBRIDGE_MAX_ENTRIES),
                    max_request_bytes: eb
                        .limits
                        .max_request_bytes
                        .unwrap_or(quotas::EVENTBRIDGE_MAX_REQUEST_BYTES),
                };
                let max_entry = eb
                    .limits
                    .max_entry_bytes
                    .unwrap_or(limits.max_request_bytes);
                let client = Arc::new(eventbridge::BusClient::new(
                    aws_sdk_eventbridge::Client::new(sdk),
                    eb.clone(),
                ));
                let batcher = Batcher::start(Arc::clone(&client), limits, batching, &route.name);
                Ok(AnyRoute::EventBridge(RouteHandler::new(
                    client,
                    batcher,
                    registry,
                    max_record_bytes,
                    max_entry.min(limits.max_request_bytes),
                    "PutEvents entry",
                )))
            }
            DestinationConfig::Sqs(sqs) => {
                let client = Arc::new(sqs::QueueClient::new(
                    aws_sdk_sqs::Client::new(sdk),
                    sqs.clone(),
                ));
                let unusable = |reason: String| BridgeError::Destination {
                    route: route.name.clone(),
                    destination: sqs.queue_url.clone(),
                    reason,
                };
                let (queue_max, fifo) = client.queue_limits().await.map_err(unusable)?;
                if fifo != sqs.is_fifo() {
                    return Err(unusable(format!(
                        "the queue's FifoQueue attribute is {fifo}, but its URL says otherwise"
                    )));
                }
                let limits = BatchLimits {
                    max_entries: sqs.limits.max_entries.unwrap_or(quotas::SQS_MAX_ENTRIES),
                    max_request_bytes: sqs
                        .limits
                        .max_request_bytes
                        .unwrap_or(quotas::SQS_MAX_REQUEST_BYTES),
                };
                let max_entry = sqs
                    .limits
                    .max_entry_bytes
                    .unwrap_or(quotas::SQS_MAX_MESSAGE_BYTES)
                    .min(queue_max)
                    .min(limits.max_request_bytes);
                let batcher = Batcher::start(Arc::clone(&client), limits, batching, &route.name);
                Ok(AnyRoute::Sqs(RouteHandler::new(
                    client,
                    batcher,
                    registry,
                    max_record_bytes,
                    max_entry,
                    "SQS message",
                )))
            }
        }
    }

    pub fn status(&self) -> BridgeStatus {
        self.fleet.status()
    }

    /// Runs every route until `shutdown` resolves (or a route fails), then
    /// shuts each down gracefully: in-flight entries finish, finished
    /// offsets are committed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BridgeError> {
        self.fleet
            .run(shutdown)
            .await
            .map_err(|error| BridgeError::Consumer {
                route: error.member,
                source: error.source,
            })
    }
}
