//! The librdkafka client context: delivery reports settle the record in
//! flight, and they and the error callback drive the circuit; OAUTHBEARER
//! tokens come from the token provider.

use std::sync::Arc;

use rdkafka::ClientContext;
use rdkafka::client::OAuthToken;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message as _};
use rdkafka::producer::{ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use sluice_kafka::TokenProvider;

use super::circuit::Circuit;
use super::delivery::InFlight;
use crate::error::SendErrorKind;

pub(super) type Client = ThreadedProducer<DeliveryContext>;

pub(super) struct DeliveryContext {
    pub(super) circuit: Arc<Circuit>,
    pub(super) oauth: Option<Arc<dyn TokenProvider>>,
}

impl ClientContext for DeliveryContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        sluice_kafka::security::oauth_token(self.oauth.as_ref())
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.circuit.open();
        }
        // What rdkafka's default `error` does.
        log::error!("librdkafka: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<InFlight>;

    fn delivery(&self, result: &DeliveryResult<'_>, in_flight: Box<InFlight>) {
        match result {
            Ok(message) => {
                self.circuit.close();
                in_flight.settle(Ok((message.partition(), message.offset())));
            }
            Err((error, _)) => {
                if SendErrorKind::of(error) == SendErrorKind::TimedOut {
                    self.circuit.open();
                }
                in_flight.settle(Err(error));
            }
        }
    }
}
