//! Errors of the consumer runtime and of handlers.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use rdkafka::error::KafkaError;

/// The runtime could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    #[error("invalid consumer configuration: {0}")]
    Config(String),
    #[error("invalid security configuration: {0}")]
    Security(#[from] sluice_kafka::security::SecurityError),
    #[error("cannot create the Kafka client: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        topics: Vec<String>,
        #[source]
        source: KafkaError,
    },
    #[error("the consumer must run inside a Tokio runtime")]
    NoRuntime,
    #[error("the poll thread stopped unexpectedly")]
    PollThread,
    /// The consumer cannot go on: a fatal client error (such as a fenced
    /// idempotent DLQ producer) or a partition worker that died. Offsets
    /// of finished records were committed; restart the process.
    #[error("the consumer stopped: {0}")]
    Fatal(String),
}

/// Whether a failure may go away on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Retried in place with backoff, then dead-lettered.
    Retriable,
    /// Dead-lettered at once.
    Permanent,
}

/// A handler's failure: its kind, a class for DLQ headers and metrics
/// (`snake_case`, low cardinality) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    kind: FailureKind,
    class: Cow<'static, str>,
    message: String,
    retry_after: Option<Duration>,
}

impl HandlerError {
    /// A failure worth retrying (a timeout, a dependency that is down).
    pub fn retriable(message: impl fmt::Display) -> Self {
        Self {
            kind: FailureKind::Retriable,
            class: Cow::Borrowed("handler_retriable"),
            message: message.to_string(),
            retry_after: None,
        }
    }

    /// A failure worth retrying no sooner than `delay` from now: a
    /// downstream's `Retry-After`, say. The delay replaces the policy's
    /// backoff for the next attempt, up to `retry.max_backoff_ms` (so a
    /// bogus delay cannot hold the record's key for ever); the attempt
    /// counts towards `retry.max_attempts` like any other.
    pub fn retry_after(delay: Duration, message: impl fmt::Display) -> Self {
        Self {
            retry_after: Some(delay),
            ..Self::retriable(message)
        }
    }

    /// A failure retrying cannot fix (invalid content, a rule violated).
    pub fn permanent(message: impl fmt::Display) -> Self {
        Self {
            kind: FailureKind::Permanent,
            class: Cow::Borrowed("handler_permanent"),
            message: message.to_string(),
            retry_after: None,
        }
    }

    /// A record without a value (a tombstone), where an event was expected.
    pub fn tombstone() -> Self {
        Self::permanent("record has no value (tombstone)").with_class("empty_payload")
    }

    /// The same failure under a class of the caller's choosing.
    pub fn with_class(mut self, class: impl Into<Cow<'static, str>>) -> Self {
        self.class = class.into();
        self
    }

    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    pub fn class(&self) -> &str {
        &self.class
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_retriable(&self) -> bool {
        self.kind == FailureKind::Retriable
    }

    /// The delay asked for by [`retry_after`](Self::retry_after).
    pub fn retry_delay(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?}): {}", self.class, self.kind, self.message)
    }
}

impl std::error::Error for HandlerError {}

impl From<sluice_core::DecodeError> for HandlerError {
    fn from(error: sluice_core::DecodeError) -> Self {
        HandlerError::permanent(&error).with_class(error.class())
    }
}
