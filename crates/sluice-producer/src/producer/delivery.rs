//! A record between hand-over and acknowledgement: what librdkafka carries
//! with it (`InFlight`), and what the caller waits on ([`PendingDelivery`]).

use std::sync::Arc;
use std::time::Instant;

use rdkafka::error::KafkaError;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::route::Route;
use crate::error::{SendError, SendErrorKind};

/// Where librdkafka put a record (partition, offset), or why it could not.
pub(super) type Outcome = Result<(i32, i64), KafkaError>;

/// What librdkafka hands back when a record is acknowledged or fails: where
/// to report it, and the record's share of the send buffer, released right
/// then — whether or not anyone awaits the delivery.
pub(super) struct InFlight {
    report: oneshot::Sender<Outcome>,
    _buffer: OwnedSemaphorePermit,
    started: Instant,
    route: Arc<Route>,
}

impl InFlight {
    /// A record holding `buffer`, sent to `route`'s topic from now on; the
    /// receiver gets its outcome.
    pub(super) fn new(
        buffer: OwnedSemaphorePermit,
        route: Arc<Route>,
    ) -> (Box<Self>, oneshot::Receiver<Outcome>) {
        let (report, outcome) = oneshot::channel();
        let in_flight = Box::new(Self {
            report,
            _buffer: buffer,
            started: Instant::now(),
            route,
        });
        (in_flight, outcome)
    }

    /// Counts the outcome under the record's topic and reports it; the
    /// buffer share goes back as `self` is dropped.
    pub(super) fn settle(self, outcome: Result<(i32, i64), &KafkaError>) {
        let outcome = match outcome {
            Ok(landed) => {
                self.route.sent.increment(1);
                self.route.duration.record(self.started.elapsed());
                Ok(landed)
            }
            Err(error) => {
                self.route.error(SendErrorKind::of(error));
                Err(error.clone())
            }
        };
        // The receiver is gone when the caller dropped the pending delivery.
        let _ = self.report.send(outcome);
    }
}

/// Where an event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The CloudEvents id (`ce_id`) the event was sent with.
    pub event_id: String,
}

/// An event handed to librdkafka, not yet acknowledged. Dropping it does not
/// cancel the send; only the result is lost.
pub struct PendingDelivery<E> {
    event: E,
    event_type: &'static str,
    route: Arc<Route>,
    event_id: String,
    outcome: oneshot::Receiver<Outcome>,
    /// The `send` span, open until the acknowledgement is read.
    span: tracing::Span,
}

impl<E> std::fmt::Debug for PendingDelivery<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDelivery")
            .field("topic", &self.route.topic)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

impl PendingDelivery<()> {
    /// The delivery of the record with `event_id`, reported on `outcome`.
    pub(super) fn new(
        event_type: &'static str,
        route: Arc<Route>,
        event_id: String,
        outcome: oneshot::Receiver<Outcome>,
        span: tracing::Span,
    ) -> Self {
        Self {
            event: (),
            event_type,
            route,
            event_id,
            outcome,
            span,
        }
    }

    /// The same delivery, handing `event` back if it fails.
    pub(super) fn with_event<E>(self, event: E) -> PendingDelivery<E> {
        PendingDelivery {
            event,
            event_type: self.event_type,
            route: self.route,
            event_id: self.event_id,
            outcome: self.outcome,
            span: self.span,
        }
    }
}

impl<E> PendingDelivery<E> {
    /// Waits for the broker's acknowledgement.
    pub async fn wait(self) -> Result<Delivered, SendError<E>> {
        let outcome = self.outcome.await;
        match &outcome {
            Ok(Ok((partition, offset))) => {
                self.span
                    .record("messaging.destination.partition.id", partition)
                    .record("messaging.kafka.offset", offset);
            }
            Ok(Err(error)) => {
                self.span
                    .record("error.type", SendErrorKind::of(error).class());
            }
            Err(_) => {
                self.span
                    .record("error.type", SendErrorKind::Closed.class());
            }
        }
        match outcome {
            Ok(Ok((partition, offset))) => Ok(Delivered {
                topic: self.route.topic.clone(),
                partition,
                offset,
                event_id: self.event_id,
            }),
            Ok(Err(error)) => Err(SendError::new(
                SendErrorKind::of(&error),
                self.event_type,
                error.to_string(),
                self.event,
            )),
            Err(_) => Err(SendError::new(
                SendErrorKind::Closed,
                self.event_type,
                "the producer was dropped before delivery".into(),
                self.event,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::types::RDKafkaErrorCode;
    use tokio::sync::Semaphore;

    use super::*;

    struct Sent {
        buffer: Arc<Semaphore>,
        in_flight: Box<InFlight>,
        pending: PendingDelivery<&'static str>,
    }

    /// One record of 100 bytes in a 100-byte buffer, handed over with its
    /// event, "e".
    fn send() -> Sent {
        let buffer = Arc::new(Semaphore::new(100));
        let Ok(share) = Arc::clone(&buffer).try_acquire_many_owned(100) else {
            panic!("an empty buffer has room");
        };
        let route = Arc::new(Route::new("emails"));
        let (in_flight, outcome) = InFlight::new(share, Arc::clone(&route));
        let pending = PendingDelivery::new(
            "email.received.v1",
            route,
            "id-1".into(),
            outcome,
            tracing::Span::none(),
        )
        .with_event("e");
        Sent {
            buffer,
            in_flight,
            pending,
        }
    }

    #[tokio::test]
    async fn an_acknowledgement_says_where_the_event_landed() {
        let sent = send();
        sent.in_flight.settle(Ok((3, 42)));
        let delivered = sent.pending.wait().await;
        assert_eq!(
            delivered.ok(),
            Some(Delivered {
                topic: "emails".into(),
                partition: 3,
                offset: 42,
                event_id: "id-1".into(),
            })
        );
    }

    #[tokio::test]
    async fn a_failure_hands_the_event_back_with_its_kind() {
        let sent = send();
        let error = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        sent.in_flight.settle(Err(&error));
        let Err(failed) = sent.pending.wait().await else {
            panic!("a failed record was delivered");
        };
        assert_eq!(failed.kind(), SendErrorKind::TimedOut);
        assert_eq!(failed.into_event(), "e");
    }

    #[tokio::test]
    async fn a_record_dropped_unreported_fails_as_closed() {
        let sent = send();
        drop(sent.in_flight);
        let Err(failed) = sent.pending.wait().await else {
            panic!("an unreported record was delivered");
        };
        assert_eq!(failed.kind(), SendErrorKind::Closed);
        assert_eq!(failed.into_event(), "e");
    }

    #[test]
    fn the_buffer_share_goes_back_when_settled_though_nobody_waits() {
        let sent = send();
        drop(sent.pending);
        assert_eq!(sent.buffer.available_permits(), 0);
        sent.in_flight.settle(Ok((0, 0)));
        assert_eq!(sent.buffer.available_permits(), 100);
    }
}
