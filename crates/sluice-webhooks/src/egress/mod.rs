//! Kafka → HTTP: each endpoint is a consumer group of the
//! [`sluice_consumer`] runtime whose handler POSTs each record, signed,
//! and returns only once the endpoint answered 2xx (or the record was
//! dead-lettered), so only delivered offsets are committed. Each key's
//! records are delivered in order; up to `max_in_flight_per_partition`
//! keys are in flight at once.

mod circuit;
mod delivery;

use std::future::Future;
use std::sync::Arc;

use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Fleet, FleetStatus, RetryPolicy};
use sluice_core::SchemaRegistry;

use crate::config::EgressConfig;
use crate::error::WebhookError;
use delivery::Delivery;

/// The endpoints' consumers, subscribed and ready to [`run`](Egress::run).
#[derive(Debug)]
pub struct Egress {
    fleet: Fleet<Delivery>,
}

impl Egress {
    /// Creates each endpoint's consumer and subscribes it; `registry`
    /// renders records that are not JSON already.
    pub fn start(
        config: &EgressConfig,
        registry: Arc<SchemaRegistry>,
    ) -> Result<Self, WebhookError> {
        let mut members = Vec::with_capacity(config.endpoints.len());
        for endpoint in &config.endpoints {
            let mut consumer = ConsumerConfig::new(
                config.kafka.clone(),
                endpoint
                    .group_id
                    .clone()
                    .unwrap_or_else(|| format!("sluice-webhooks.{}", endpoint.name)),
                endpoint.topics.clone(),
            );
            consumer.max_in_flight_per_partition = endpoint.max_in_flight_per_partition;
            consumer.auto_offset_reset = endpoint.auto_offset_reset;
            let longest_wait = endpoint
                .retry_schedule_ms
                .iter()
                .copied()
                .max()
                .unwrap_or(0)
                .max(endpoint.max_retry_after_ms);
            consumer.retry = RetryPolicy {
                max_attempts: u32::try_from(endpoint.retry_schedule_ms.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1),
                initial_backoff_ms: endpoint.retry_schedule_ms.first().copied().unwrap_or(0),
                max_backoff_ms: longest_wait,
            };
            if let Some(dlq) = &endpoint.dlq_topic {
                consumer.dlq.topic = dlq.clone();
            }
            let handler =
                Delivery::new(endpoint, Arc::clone(&registry), consumer.max_record_bytes)?;
            let consumer = ConsumerBuilder::new(consumer)
                .build(handler)
                .map_err(|source| WebhookError::Consumer {
                    endpoint: endpoint.name.clone(),
                    source: Box::new(source),
                })?;
            members.push((endpoint.name.clone(), consumer));
        }
        Ok(Self {
            fleet: Fleet::new(members),
        })
    }

    pub fn status(&self) -> FleetStatus {
        self.fleet.status()
    }

    /// Delivers until `shutdown` resolves (or an endpoint's consumer
    /// fails), then shuts down gracefully: requests in flight finish,
    /// delivered offsets are committed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WebhookError> {
        self.fleet
            .run(shutdown)
            .await
            .map_err(|error| WebhookError::Consumer {
                endpoint: error.member,
                source: error.source,
            })
    }
}
