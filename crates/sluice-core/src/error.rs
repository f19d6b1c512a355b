//! Typed errors.
//!
//! Decoding errors describe the offending input (its length, the bytes at
//! fault, the id that was found) but never carry the whole payload: they end
//! up in logs and in DLQ headers.

use crate::event::Format;

/// Why a record value could not be turned into a typed event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("empty payload: a framed record has at least 5 bytes")]
    Empty,
    #[error("wrong magic byte {found:#04x} (expected 0x00): not a Schema Registry framed payload")]
    WrongMagicByte { found: u8 },
    #[error("truncated frame: {len} bytes, {needed} needed to read the {part}")]
    Truncated {
        len: usize,
        needed: usize,
        part: &'static str,
    },
    #[error("unknown schema id {id}: not in the schema registry")]
    UnknownSchemaId { id: u32 },
    #[error("type mismatch: expected {expected}, the record holds {found}")]
    TypeMismatch { expected: String, found: String },
    #[error("oversize record: {size} bytes exceeds the limit of {limit} bytes")]
    Oversize { size: usize, limit: usize },
    #[error("{format} payload for {subject} ({len} bytes) does not decode: {reason}")]
    Malformed {
        format: Format,
        subject: std::borrow::Cow<'static, str>,
        len: usize,
        reason: String,
    },
}

impl DecodeError {
    /// A short, stable name for the kind of failure, used as the error class
    /// in DLQ headers and metrics labels.
    pub fn class(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty_payload",
            DecodeError::WrongMagicByte { .. } => "wrong_magic_byte",
            DecodeError::Truncated { .. } => "truncated_frame",
            DecodeError::UnknownSchemaId { .. } => "unknown_schema_id",
            DecodeError::TypeMismatch { .. } => "type_mismatch",
            DecodeError::Oversize { .. } => "oversize_record",
            DecodeError::Malformed { .. } => "malformed_payload",
        }
    }
}

/// Why a typed event could not be turned into a record value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("{subject} does not encode as {format}: {reason}")]
    Codec {
        format: Format,
        subject: &'static str,
        reason: String,
    },
    #[error("the JSON is not a {subject}: {reason}")]
    InvalidJson { subject: String, reason: String },
    #[error("oversize record: {subject} encodes to {size} bytes, over the limit of {limit} bytes")]
    Oversize {
        subject: &'static str,
        size: usize,
        limit: usize,
    },
}

impl EncodeError {
    /// A short, stable name for the kind of failure.
    pub fn class(&self) -> &'static str {
        match self {
            EncodeError::Codec { .. } => "encode_failed",
            EncodeError::InvalidJson { .. } => "invalid_json",
            EncodeError::Oversize { .. } => "oversize_record",
        }
    }
}

/// Why record headers do not form a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("header {header} is not valid UTF-8")]
    NotUtf8 { header: &'static str },
    #[error("header {header} has an invalid value {value:?}: {reason}")]
    Invalid {
        header: &'static str,
        value: String,
        reason: String,
    },
}

/// Why a schema registry manifest could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("manifest is not valid TOML: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("schema id {id} is used twice: by {first} and {second}")]
    DuplicateId {
        id: u32,
        first: String,
        second: String,
    },
    #[error("{subject} version {version} is registered twice")]
    DuplicateVersion { subject: String, version: u32 },
    #[error("{subject} version {version} (id {id}) has an invalid Avro schema: {reason}")]
    InvalidAvro {
        subject: String,
        version: u32,
        id: u32,
        reason: String,
    },
    #[error("{subject} version {version} (id {id}) has an invalid Protobuf schema: {reason}")]
    InvalidProtobuf {
        subject: String,
        version: u32,
        id: u32,
        reason: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
