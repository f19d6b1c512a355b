//! Entries gathered into AWS calls: up to the entry and byte limits, a
//! linger timer for partial batches, several calls in flight, only the
//! failed entries sent again, and throttling that slows every call of the
//! route down instead of failing entries.
//!
//! ```text
//!  Batcher::submit(entry, size) ─► gather: up to max_entries and
//!                                  max_request_bytes, linger_ms after the
//!                                  first entry
//!    ─► deliver (max_batches_in_flight at once): BatchSender::send
//!         accepted ──────────────► submit resolves Ok
//!         throttled (entry/call) ► Throttle: route-wide pause, resend
//!         retriable entry ───────► backoff, resend that entry only
//!         refused entry ─────────► submit resolves Err(Rejection)
//!         refused call ──────────► its entries one call each
//!         unavailable ───────────► backoff, the whole call again
//! ```
//!
//! Layout: `gather` fills batches by the AWS limits, `deliver` sends one
//! batch until every entry is settled, `throttle` holds the route's pause
//! and the backoff, `metrics` the route's metric handles.

mod deliver;
mod gather;
mod metrics;
mod throttle;

use std::future::Future;

use sluice_core::TraceContext;
use tokio::sync::oneshot;

pub(crate) use gather::{BatchLimits, Batcher};

/// The second stage of a destination: entries go to AWS in one batch call
/// ([`EntryBuilder`](crate::route::EntryBuilder) is the first).
pub(crate) trait BatchSender: Send + Sync + 'static {
    type Entry: Clone + Send + Sync + 'static;
    /// For spans and metrics: `EventBridge`, `PutEvents`, `eventbridge`.
    const SERVICE: &'static str;
    const METHOD: &'static str;
    const DESTINATION: &'static str;

    /// Sends one batch; on success, one status per entry, in order.
    fn send(
        &self,
        entries: &[Self::Entry],
    ) -> impl Future<Output = Result<Vec<EntryStatus>, CallError>> + Send;
}

/// What AWS said about one entry of a successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryStatus {
    Accepted,
    Throttled,
    Failed {
        code: String,
        message: String,
        retriable: bool,
    },
}

/// A call that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    Throttled(String),
    /// The service cannot be used right now: network errors, timeouts, 5xx,
    /// and refusals that are not about the entries (credentials, a missing
    /// queue). Retried until it works; nothing is dead-lettered for it.
    Unavailable(String),
    /// The request's content was refused: sent again one entry per call,
    /// so that only the entries at fault are dead-lettered.
    Rejected {
        code: String,
        message: String,
    },
}

/// Why AWS will not take an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// An entry waiting for AWS, and where its outcome goes.
struct Item<E> {
    entry: E,
    size: usize,
    attempts: u32,
    /// The record's trace, linked from the call's span.
    trace: Option<TraceContext>,
    done: oneshot::Sender<Result<(), Rejection>>,
}

/// Short timers, so that the batching tests run in milliseconds.
#[cfg(test)]
fn fast_config() -> crate::config::BatchingConfig {
    crate::config::BatchingConfig {
        linger_ms: 5,
        max_batches_in_flight: 4,
        max_entry_attempts: 3,
        initial_backoff_ms: 1,
        max_backoff_ms: 4,
    }
}
