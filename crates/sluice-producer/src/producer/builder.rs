//! [`ProducerBuilder`]: the options a producer is made with; `build`
//! creates the client.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sluice_core::Encoder;
use sluice_kafka::TokenProvider;

use super::buffer::SendBuffer;
use super::circuit::Circuit;
use super::context::{Client, DeliveryContext};
use super::route::{TopicNaming, default_topic_name};
use super::{Inner, Producer};
use crate::config::ProducerConfig;
use crate::error::ProducerError;

/// Builds a [`Producer`]; `build` creates the client.
pub struct ProducerBuilder {
    config: ProducerConfig,
    naming: TopicNaming,
    token_provider: Option<Arc<dyn TokenProvider>>,
}

impl std::fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ProducerBuilder {
    pub(super) fn new(config: ProducerConfig) -> Self {
        Self {
            config,
            naming: Arc::new(default_topic_name),
            token_provider: None,
        }
    }

    /// Topic names for event types not listed in `config.topics`.
    pub fn topic_naming(mut self, naming: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.naming = Arc::new(naming);
        self
    }

    /// OAUTHBEARER tokens from this source instead of the one the security
    /// settings name (MSK IAM through the standard AWS chain).
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.token_provider = Some(provider);
        self
    }

    pub fn build(self) -> Result<Producer, ProducerError> {
        self.config.validate()?;
        let oauth = match self.token_provider {
            Some(provider) => Some(provider),
            None => self.config.kafka.security.token_provider()?,
        };
        let circuit = Arc::new(Circuit::new(
            self.config.circuit_breaker,
            Duration::from_millis(self.config.circuit_probe_interval_ms),
        ));
        let client: Client = self
            .config
            .librdkafka_config()
            .create_with_context(DeliveryContext {
                circuit: Arc::clone(&circuit),
                oauth,
            })
            .map_err(ProducerError::Client)?;
        Ok(Producer {
            inner: Arc::new(Inner {
                encoder: Encoder::new().with_max_record_bytes(self.config.max_record_bytes),
                client,
                buffer: SendBuffer::new(self.config.max_buffered_bytes),
                closed: AtomicBool::new(false),
                circuit,
                naming: self.naming,
                config: self.config,
                routes: Default::default(),
                topic_routes: Default::default(),
            }),
        })
    }
}
