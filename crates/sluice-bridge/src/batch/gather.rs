//! Filling batches: entries from the route's handlers, gathered up to the
//! AWS entry and byte limits or until the linger timer ends, each batch
//! handed to `deliver` within the calls-in-flight limit.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::TraceContext;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use super::deliver::deliver;
use super::metrics::RouteMetrics;
use super::throttle::Throttle;
use super::{BatchSender, Item, Rejection};
use crate::config::BatchingConfig;

#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub(crate) max_entries: usize,
    pub(crate) max_request_bytes: usize,
}

/// The submitting side; the batching task stops when every clone is gone
/// and the calls in flight are done.
#[derive(Debug)]
pub(crate) struct Batcher<E> {
    tx: mpsc::Sender<Item<E>>,
}

impl<E> Clone for Batcher<E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

/// The batching task is gone: only while shutting down.
#[derive(Debug)]
pub(crate) struct Stopped;

impl<E: Clone + Send + Sync + 'static> Batcher<E> {
    pub(crate) fn start<S: BatchSender<Entry = E>>(
        sender: Arc<S>,
        limits: BatchLimits,
        config: BatchingConfig,
        route: &str,
    ) -> Self {
        let (tx, rx) = mpsc::channel(limits.max_entries * config.max_batches_in_flight * 2);
        let metrics = Arc::new(RouteMetrics::new::<S>(route));
        tokio::spawn(dispatch(sender, rx, limits, config, metrics));
        Self { tx }
    }

    /// Resolves when AWS accepted the entry, or with why it never will.
    pub(crate) async fn submit(
        &self,
        entry: E,
        size: usize,
        trace: Option<TraceContext>,
    ) -> Result<Result<(), Rejection>, Stopped> {
        let (done, accepted) = oneshot::channel();
        let item = Item {
            entry,
            size,
            attempts: 0,
            trace,
            done,
        };
        self.tx.send(item).await.map_err(|_| Stopped)?;
        accepted.await.map_err(|_| Stopped)
    }
}

async fn dispatch<S: BatchSender>(
    sender: Arc<S>,
    mut rx: mpsc::Receiver<Item<S::Entry>>,
    limits: BatchLimits,
    config: BatchingConfig,
    metrics: Arc<RouteMetrics>,
) {
    let calls = Arc::new(Semaphore::new(config.max_batches_in_flight));
    let throttle = Arc::new(Throttle::new(&config));
    let linger = Duration::from_millis(config.linger_ms);
    let mut held = None;
    loop {
        let first = match held.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => break,
            },
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        let deadline = Instant::now() + linger;
        while batch.len() < limits.max_entries {
            let next = tokio::select! {
                biased;
                item = rx.recv() => item,
                () = sleep_until(deadline) => break,
            };
            let Some(item) = next else { break };
            if bytes + item.size > limits.max_request_bytes {
                held = Some(item);
                break;
            }
            bytes += item.size;
            batch.push(item);
        }
        let permit = Arc::clone(&calls)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let sender = Arc::clone(&sender);
        let throttle = Arc::clone(&throttle);
        let config = config.clone();
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            deliver(&*sender, batch, &throttle, &config, &metrics).await;
            drop(permit);
        });
    }
    // Wait for the calls in flight before the task ends.
    let _ = calls
        .acquire_many(config.max_batches_in_flight as u32)
        .await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::{CallError, EntryStatus, fast_config as config};
    use super::*;

    /// Accepts every entry; records each call's entries.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<Vec<u32>>>,
    }

    impl BatchSender for Recorder {
        type Entry = u32;
        const SERVICE: &'static str = "Test";
        const METHOD: &'static str = "Send";
        const DESTINATION: &'static str = "test";

        async fn send(&self, entries: &[u32]) -> Result<Vec<EntryStatus>, CallError> {
            self.calls.lock().unwrap().push(entries.to_vec());
            Ok(vec![EntryStatus::Accepted; entries.len()])
        }
    }

    #[tokio::test]
    async fn batches_respect_the_byte_limit() {
        let sender = Arc::new(Recorder::default());
        let limits = BatchLimits {
            max_entries: 10,
            max_request_bytes: 100,
        };
        let batcher = Batcher::start(Arc::clone(&sender), limits, config(), "test");
        futures::future::join_all((0..200_u32).map(|n| {
            let batcher = batcher.clone();
            // 10, 20, 30 or 40 bytes.
            async move {
                batcher
                    .submit(n * 10 + 1, 10 * (1 + n as usize % 4), None)
                    .await
            }
        }))
        .await;
        for call in sender.calls.lock().unwrap().iter() {
            let bytes: usize = call
                .iter()
                .map(|n| 10 * (1 + ((n - 1) / 10) as usize % 4))
                .sum();
            assert!(bytes <= 100, "{call:?} is {bytes} bytes");
        }
    }
}
