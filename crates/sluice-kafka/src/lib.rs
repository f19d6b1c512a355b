//! Kafka plumbing shared by sluice's producer, consumer and bridges.
//!
//! # Layout
//!
//! - [`config`]: [`KafkaConfig`], the connection settings every client
//!   starts from, with secrets kept out of `Debug` output.
//! - [`security`]: TLS, SASL/SCRAM and Amazon MSK IAM (OAUTHBEARER tokens
//!   refreshed through librdkafka's callback).
//! - [`headers`]: record headers as bytes, read and copied without the
//!   panic rust-rdkafka's iterator has on a name that is not UTF-8.
//! - [`record`]: typed events as rdkafka records ([`OutgoingRecord`]).

pub mod config;
// The workspace's only unsafe code: the raw header binding, behind a
// small safe interface.
#[allow(unsafe_code)]
pub mod headers;
pub mod record;
pub mod security;

pub use config::{KafkaConfig, PARTITIONER, toml_error};
pub use record::{OutgoingRecord, envelope_headers};
pub use security::{SaslConfig, Secret, SecurityConfig, TlsConfig, TokenProvider};
