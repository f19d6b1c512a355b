//! Not part of the toolkit: the typed events of the reference system, an
//! email and workflow platform, which sluice's examples, tests and load
//! test use.
//!
//! Every event exists twice, once generated from `proto/` ([`proto`]) and
//! once from `schemas/` ([`avro`]), with the same fields; a service picks
//! one format per topic. The types come from `build.rs`, which is one call
//! into `sluice-build` — the same call a service makes for its own schemas.
//!
//! ```
//! use sluice_core::{Decoder, Event, Encoder};
//! use sluice_events::proto::EmailReceived;
//!
//! let event = EmailReceived { email_id: "e-1".into(), ..Default::default() };
//! assert_eq!(EmailReceived::EVENT_TYPE, "email.received.v1");
//! assert_eq!(event.partition_key(), "e-1");
//!
//! let value = Encoder::new().encode(&event).unwrap();
//! let back: EmailReceived = Decoder::new(sluice_events::registry()).decode(&value).unwrap();
//! assert_eq!(back, event);
//! ```

mod generated {
    include!(concat!(env!("OUT_DIR"), "/sluice_events.rs"));
}

pub use generated::registry;

pub mod samples;

/// The events generated from `proto/sluice/email/v1/*.proto`.
pub mod proto {
    pub use super::generated::proto::FILE_DESCRIPTOR_SET;
    pub use super::generated::proto::sluice::email::v1::*;
}

/// The events generated from `schemas/*.avsc`.
pub mod avro {
    pub use super::generated::avro::sluice::email::avro::v1::*;
}

/// The README's Rust examples compile against these events.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct Readme;
