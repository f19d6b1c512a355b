//! The dead-letter format: the `sluice.dlq.*` headers a dead-lettered
//! record gains on top of its original key, value and headers. The
//! consumer writes them; readers of DLQ topics (the CLI, operators' tools)
//! read them.

/// The names of the headers a dead-lettered record gains.
pub mod headers {
    /// Common prefix: headers starting with it are replaced, not
    /// accumulated, when a record is dead-lettered again.
    pub const PREFIX: &str = "sluice.dlq.";
    pub const TOPIC: &str = "sluice.dlq.topic";
    pub const PARTITION: &str = "sluice.dlq.partition";
    pub const OFFSET: &str = "sluice.dlq.offset";
    /// The original record's timestamp, ms since the epoch.
    pub const TIMESTAMP: &str = "sluice.dlq.timestamp";
    pub const GROUP: &str = "sluice.dlq.group";
    pub const ERROR_CLASS: &str = "sluice.dlq.error.class";
    /// At most [`MAX_ERROR_MESSAGE_BYTES`](super::MAX_ERROR_MESSAGE_BYTES).
    pub const ERROR_MESSAGE: &str = "sluice.dlq.error.message";
    pub const ATTEMPTS: &str = "sluice.dlq.attempts";
    /// When the record was dead-lettered, RFC 3339 UTC.
    pub const FAILED_AT: &str = "sluice.dlq.failed_at";
    /// Present on a dead letter written as a reference: the DLQ refused
    /// the whole record, so its value was left out (the original stays in
    /// its topic at `sluice.dlq.topic`/`partition`/`offset`). The value
    /// says why.
    pub const VALUE_OMITTED: &str = "sluice.dlq.value_omitted";
}

/// Error messages are cut to this many bytes (on a character boundary).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;
