//! The workload through sluice's `Producer` and the consumer runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Context, Handler, HandlerError, Handlers};
use sluice_events::registry;
use tokio::sync::oneshot;

use super::Workload;
use super::outcome::Outcome;
use super::phases::{begin, produce_all, wait_for_assignment};
use super::progress::sample_lag;
use super::sender::Sender;
use crate::workload::{LoadEvent, Resources, SharedCheck};

/// Records every event in the shared check.
struct Sink {
    check: SharedCheck,
    consumed: Arc<AtomicU64>,
}

impl<E: LoadEvent> Handler<E> for Sink {
    async fn handle(&self, event: E, ctx: &Context) -> Result<(), HandlerError> {
        let Some(sequence) = event.sequence() else {
            return Err(HandlerError::permanent(
                "event id without a sequence number",
            ));
        };
        let measured = self
            .check
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(sequence, ctx.timestamp_ms());
        if measured {
            self.consumed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The workload through sluice's `Producer` and `Consumer`.
pub(crate) async fn sluice<E: LoadEvent>(
    workload: &Workload,
    topic: &str,
) -> anyhow::Result<Outcome> {
    let cpu_before = Resources::now().cpu;
    let check = workload.check();
    let consumed = Arc::new(AtomicU64::new(0));
    let mut members = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..workload.consumers {
        let mut config =
            ConsumerConfig::new(workload.consumer_kafka(), format!("{topic}.group"), [topic]);
        config.max_record_bytes = config.max_record_bytes.max(workload.payload_bytes * 2);
        let handlers = Handlers::new(registry().clone())
            .max_record_bytes(config.max_record_bytes)
            .on::<E, _>(Sink {
                check: Arc::clone(&check),
                consumed: Arc::clone(&consumed),
            });
        let consumer = ConsumerBuilder::new(config).build(handlers)?;
        statuses.push(consumer.status());
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(consumer.run(async {
            stopped.await.ok();
        }));
        members.push((stop, run));
    }
    wait_for_assignment(workload, || {
        statuses.iter().map(|s| s.assignment().len()).sum()
    })
    .await?;

    let senders = (0..workload.producers)
        .map(|_| Sender::sluice::<E>(workload, topic))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (measurement, progress) = begin::<E>(workload, &senders, &check, statuses.clone()).await?;
    let lag_sampler = sample_lag(statuses.clone(), Arc::clone(&measurement.done));
    let timing = produce_all::<E>(workload, &measurement, &check, &consumed, senders).await?;
    let lag = lag_sampler.await?;
    progress.await?;
    for (stop, run) in members {
        stop.send(()).ok();
        run.await??;
    }
    Ok(Outcome::new(workload, check, timing, Some(lag), cpu_before))
}
