//! Kafka plumbing shared by sluice's producer, consumer and bridges.
//!
//! # Layout
//!
//! - [`config`]: [`KafkaConfig`], the connection settings every client
//!   starts from, with secrets kept out of `Debug` output.
//! - [`security`]: TLS, SASL/SCRAM and Amazon MSK IAM (OAUTHBEARER tokens
//!   refreshed through librdkafka's callback).
//! - [`record`]: typed events to rdkafka records ([`OutgoingRecord`]) and
//!   rdkafka messages back to typed events ([`decode_message`]).

pub mod config;
pub mod record;
pub mod security;

pub use config::{KafkaConfig, PARTITIONER};
pub use record::{OutgoingRecord, RecordError, decode_message, envelope_headers, envelope_of};
pub use security::{SaslConfig, Secret, SecurityConfig, TlsConfig, TokenProvider};
