//! Errors of the outbox, the relay and the inbox.

/// What went wrong; callers branch on the variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("invalid outbox configuration: {0}")]
    Config(String),
    #[error("cannot read {path}: {source}")]
    ReadConfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {event_type} for the outbox: {source}")]
    Encode {
        event_type: &'static str,
        #[source]
        source: sluice_core::EncodeError,
    },
    #[error("database error while {during}: {source}")]
    Database {
        during: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the producer can no longer send ({0}); the relay stops, and a new one resumes from the first unmarked row"
    )]
    ProducerFatal(String),
    #[error("cannot create the producer: {0}")]
    Producer(#[from] sluice_producer::ProducerError),
    /// Another relay of the same outbox runs with a different
    /// `relay.buckets`: the two would map an aggregate to different
    /// buckets, and both send it.
    #[error(
        "another relay of this outbox runs with {theirs} buckets, this one with {ours}: every relay of an outbox must use the same relay.buckets"
    )]
    BucketCount { ours: u32, theirs: i64 },
    #[error("the lock connection did not answer within {0:?}")]
    LockTimeout(std::time::Duration),
}

impl OutboxError {
    pub(crate) fn db(during: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| OutboxError::Database { during, source }
    }

    /// Whether trying again later may succeed (a database or connection
    /// error), as opposed to a mistake in configuration or input.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            OutboxError::Database { .. } | OutboxError::LockTimeout(_)
        )
    }
}

pub type Result<T, E = OutboxError> = std::result::Result<T, E>;
