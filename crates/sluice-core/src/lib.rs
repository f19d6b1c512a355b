//! Typed events on the wire.
//!
//! A sluice event is a Rust type generated from a Protobuf message or an Avro
//! record (see `sluice-build`). This crate holds everything that turns such a
//! value into the bytes and headers of a Kafka record and back, without
//! depending on a Kafka client:
//!
//! ```text
//!  event ──Codec::encode──► body ──wire::write_header──► [0][schema id][body]  (record value)
//!  Envelope::new ────────────────────────────────────────► ce_* headers         (record headers)
//!  Event::partition_key ─────────────────────────────────► key                  (record key)
//! ```
//!
//! # Layout
//!
//! - [`event`]: the [`Event`] trait that ties a generated type to its event
//!   type name, schema subject, codec and partition key.
//! - [`codec`]: the [`Codec`] interface with its Protobuf and Avro codecs.
//! - [`wire`]: the Confluent Schema Registry framing (magic byte, schema id,
//!   Protobuf message indexes).
//! - [`registry`]: the file-based schema registry (subject, version → id).
//! - [`protobuf_schema`]: the normalized Protobuf schema the registry
//!   stores for each version.
//! - [`envelope`]: CloudEvents Kafka binding headers and W3C trace context.
//! - [`framing`](mod@framing): [`Encoder`] and [`Decoder`], which combine
//!   all of the above and are what producers and consumers call.
//! - [`dlq`]: the names of the headers a dead-lettered record gains.
//! - [`error`]: the typed errors; every decoding failure has its own variant.

mod avro_guard;
pub mod codec;
pub mod dlq;
pub mod envelope;
pub mod error;
pub mod event;
pub mod framing;
mod json;
pub mod protobuf_schema;
pub mod registry;
mod varint;
pub mod wire;

pub use codec::{AvroCodec, Codec, ProtobufCodec};
pub use envelope::{Envelope, TraceContext};
pub use error::{DecodeError, EncodeError, EnvelopeError, RegistryError};
pub use event::{Event, Format};
pub use framing::{Decoder, Encoder};
pub use registry::{RegisteredSchema, SchemaRegistry};

/// Items the generated code refers to, re-exported so that a crate with
/// generated events needs no direct dependency on them.
#[doc(hidden)]
pub mod __private {
    pub use apache_avro;
    pub use prost;
    pub use serde;
}
