//! Producer errors.

use std::fmt;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// What went wrong with one send; callers branch on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// The event could not be encoded.
    Encode,
    /// The record is larger than `max_record_bytes` or the broker's limit.
    RecordTooLarge,
    /// The topic does not exist (topics are never auto-created).
    UnknownTopic,
    /// The client may not write to the topic or cluster.
    Authorization,
    /// Not acknowledged within `delivery_timeout_ms`, retries included
    /// (the cluster was unreachable or too slow).
    TimedOut,
    /// The cluster is unreachable and the circuit breaker is open: the send
    /// was not attempted.
    Unavailable,
    /// The broker refused this record for good (an invalid or corrupt
    /// record, a topic policy, a message format the topic cannot take):
    /// sending it again fails the same way.
    Rejected,
    /// Any other broker or client error.
    Broker,
    /// The producer was shut down.
    Closed,
    /// Not sent by [`send_all`](crate::Producer::send_all): an earlier event
    /// with the same key failed, and this one must not overtake it.
    KeyBlocked,
    /// The client can never send again (librdkafka's fatal error, such as a
    /// fenced idempotent producer); create a new producer.
    Fatal,
}

impl SendErrorKind {
    /// A short, stable name, for metrics labels and logs.
    pub fn class(self) -> &'static str {
        match self {
            SendErrorKind::Encode => "encode",
            SendErrorKind::RecordTooLarge => "record_too_large",
            SendErrorKind::UnknownTopic => "unknown_topic",
            SendErrorKind::Authorization => "authorization",
            SendErrorKind::TimedOut => "timed_out",
            SendErrorKind::Unavailable => "unavailable",
            SendErrorKind::Rejected => "rejected",
            SendErrorKind::Broker => "broker",
            SendErrorKind::Closed => "closed",
            SendErrorKind::KeyBlocked => "key_blocked",
            SendErrorKind::Fatal => "fatal",
        }
    }

    /// Whether sending the same event again later may succeed. `Broker`
    /// errors count as retriable: the errors known to be permanent are
    /// sorted out first, as `Rejected`, `RecordTooLarge`, `UnknownTopic`,
    /// `Authorization` or `Fatal`.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            SendErrorKind::TimedOut
                | SendErrorKind::Unavailable
                | SendErrorKind::Broker
                | SendErrorKind::KeyBlocked
        )
    }

    pub(crate) fn of(error: &KafkaError) -> Self {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Fatal) => SendErrorKind::Fatal,
            Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
                SendErrorKind::RecordTooLarge
            }
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                SendErrorKind::UnknownTopic
            }
            Some(
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            ) => SendErrorKind::Authorization,
            Some(RDKafkaErrorCode::MessageTimedOut) => SendErrorKind::TimedOut,
            Some(
                RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::InvalidRequiredAcks
                | RDKafkaErrorCode::PolicyViolation
                | RDKafkaErrorCode::UnsupportedForMessageFormat,
            ) => SendErrorKind::Rejected,
            _ => SendErrorKind::Broker,
        }
    }
}

/// A send that failed. The event comes back with the error, so nothing is
/// lost: the caller retries it, dead-letters it or reports it.
#[derive(thiserror::Error)]
#[error("cannot send {event_type} ({kind:?}): {message}")]
pub struct SendError<E> {
    kind: SendErrorKind,
    event_type: &'static str,
    message: String,
    event: E,
}

impl<E> SendError<E> {
    pub(crate) fn new(
        kind: SendErrorKind,
        event_type: &'static str,
        message: String,
        event: E,
    ) -> Self {
        Self {
            kind,
            event_type,
            message,
            event,
        }
    }

    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    pub fn is_retriable(&self) -> bool {
        self.kind.is_retriable()
    }

    pub fn event(&self) -> &E {
        &self.event
    }

    pub fn into_event(self) -> E {
        self.event
    }
}

// The event may hold personal data: it stays out of Debug output.
impl<E> fmt::Debug for SendError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("kind", &self.kind)
            .field("event_type", &self.event_type)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

/// Errors of the producer as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    #[error("invalid producer configuration: {0}")]
    Config(String),
    #[error("invalid security configuration: {0}")]
    Security(#[from] sluice_kafka::security::SecurityError),
    #[error("cannot create the Kafka client: {0}")]
    Client(#[source] KafkaError),
    #[error("records still undelivered after {timeout_ms} ms: {source}")]
    Flush {
        timeout_ms: u128,
        #[source]
        source: KafkaError,
    },
    /// librdkafka's flush blocks, so it runs on tokio's blocking pool; this
    /// is that task panicking or being cancelled (the runtime shutting
    /// down), not records left undelivered.
    #[error("the flush task did not finish: {0}")]
    FlushTask(#[source] tokio::task::JoinError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_error_code() {
        let kind = |code| SendErrorKind::of(&KafkaError::MessageProduction(code));
        assert_eq!(kind(RDKafkaErrorCode::Fatal), SendErrorKind::Fatal);
        assert!(!SendErrorKind::Fatal.is_retriable());
        assert_eq!(
            kind(RDKafkaErrorCode::PolicyViolation),
            SendErrorKind::Rejected
        );
        assert!(!SendErrorKind::Rejected.is_retriable());
        assert_eq!(
            kind(RDKafkaErrorCode::MessageTimedOut),
            SendErrorKind::TimedOut
        );
        assert!(SendErrorKind::TimedOut.is_retriable());
        assert_eq!(
            kind(RDKafkaErrorCode::NotLeaderForPartition),
            SendErrorKind::Broker
        );
        assert!(SendErrorKind::KeyBlocked.is_retriable());
    }

    #[tokio::test]
    async fn a_failed_flush_task_is_not_a_configuration_error() {
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let Err(join) = task.await else {
            panic!("an aborted task finished");
        };
        let error = ProducerError::FlushTask(join);
        assert!(
            error
                .to_string()
                .starts_with("the flush task did not finish: "),
            "{error}"
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
