//! Batch handlers: events handled in batches of up to N or a linger, each
//! with an outcome of its own.
//!
//! [`Batched`] turns a [`BatchHandler`] into a [`Handler`]: each record's
//! call hands its event to a batching task and waits for that event's
//! outcome, so the runtime's rules hold unchanged. A failed event follows
//! the retry policy on its own (retried in a later batch, or
//! dead-lettered), and an offset is committed only once its event
//! succeeded or was dead-lettered. Per-key order holds inside and across
//! batches: the runtime starts a key's next record only after the previous
//! one finished, so a batch holds at most one event per key.
//!
//! A batch holds at most the records running at once, which is
//! `max_in_flight_per_partition` per assigned partition. Batches run one
//! at a time.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt as _;
use sluice_core::Event;
use tokio::sync::{mpsc, oneshot};

use crate::error::HandlerError;
use crate::handler::{Context, Handler};
use crate::worker::panic_message;

/// Handles typed events a batch at a time.
pub trait BatchHandler<E: Event>: Send + Sync + 'static {
    /// One outcome per event, in the batch's order. A vector of another
    /// length fails the whole batch (class `batch_outcome_count`,
    /// permanent): the runtime cannot tell which event an outcome is for.
    fn handle_batch(
        &self,
        batch: Vec<(E, Context)>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send;
}

/// How events are gathered into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Most events in one batch.
    pub max_events: usize,
    /// How long the first event of a batch waits for others.
    pub linger: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            max_events: 100,
            linger: Duration::from_millis(10),
        }
    }
}

type Outcome = oneshot::Sender<Result<(), HandlerError>>;
type Item<E> = (E, Context, Outcome);

/// A [`BatchHandler`] as a [`Handler`], for [`Handlers::on`](crate::Handlers::on).
pub struct Batched<E: Event, B: BatchHandler<E>> {
    handler: Arc<B>,
    options: BatchOptions,
    /// The batching task's inbox, started with the first event (inside the
    /// runtime that runs the handlers).
    inbox: OnceLock<mpsc::UnboundedSender<Item<E>>>,
}

impl<E: Event, B: BatchHandler<E>> std::fmt::Debug for Batched<E, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batched")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<E: Event, B: BatchHandler<E>> Batched<E, B> {
    /// `options.max_events` below 1 counts as 1.
    pub fn new(handler: B, options: BatchOptions) -> Self {
        Self {
            handler: Arc::new(handler),
            options: BatchOptions {
                max_events: options.max_events.max(1),
                ..options
            },
            inbox: OnceLock::new(),
        }
    }

    fn inbox(&self) -> &mpsc::UnboundedSender<Item<E>> {
        self.inbox.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(gather(Arc::clone(&self.handler), self.options, receiver));
            sender
        })
    }
}

impl<E: Event, B: BatchHandler<E>> Handler<E> for Batched<E, B> {
    async fn handle(&self, event: E, ctx: &Context) -> Result<(), HandlerError> {
        let (outcome, answer) = oneshot::channel();
        if self.inbox().send((event, ctx.clone(), outcome)).is_err() {
            return Err(HandlerError::retriable("the batching task stopped"));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(HandlerError::retriable("the batching task stopped")))
    }
}

/// Fills batches from `inbox` (up to `max_events`, or what came within
/// `linger` of the first) and hands each to the handler, until every
/// sender is gone.
async fn gather<E: Event, B: BatchHandler<E>>(
    handler: Arc<B>,
    options: BatchOptions,
    mut inbox: mpsc::UnboundedReceiver<Item<E>>,
) {
    while let Some(first) = inbox.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + options.linger;
        while batch.len() < options.max_events {
            match tokio::time::timeout_at(deadline, inbox.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        let (events, outcomes): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|(event, ctx, outcome)| ((event, ctx), outcome))
            .unzip();
        let results = run_batch(handler.as_ref(), events).await;
        let results = match results {
            Ok(results) if results.len() == outcomes.len() => results,
            Ok(results) => {
                let error = HandlerError::permanent(format!(
                    "the batch handler gave {} outcomes for {} events",
                    results.len(),
                    outcomes.len()
                ))
                .with_class("batch_outcome_count");
                vec![Err(error); outcomes.len()]
            }
            Err(error) => vec![Err(error); outcomes.len()],
        };
        for (outcome, result) in outcomes.into_iter().zip(results) {
            // A record whose call was abandoned (revoked, shut down) no
            // longer waits.
            let _ = outcome.send(result);
        }
    }
}

/// The handler's outcomes, or the error every event of the batch gets
/// when it panicked.
async fn run_batch<E: Event, B: BatchHandler<E>>(
    handler: &B,
    events: Vec<(E, Context)>,
) -> Result<Vec<Result<(), HandlerError>>, HandlerError> {
    // Called inside the caught future, so a panic before the handler's
    // future exists is caught too.
    AssertUnwindSafe(async { handler.handle_batch(events).await })
        .catch_unwind()
        .await
        .map_err(|panic| {
            HandlerError::permanent(format!(
                "the batch handler panicked: {}",
                panic_message(panic.as_ref())
            ))
            .with_class("handler_panic")
        })
}
