//! The phases both runs share, once their consumers are started: wait
//! until they own every partition, warm up, send each producer's share,
//! then wait until the consumers saw every event.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sluice_consumer::ConsumerStatus;

use super::Workload;
use super::outcome::Timing;
use super::pace::Pacer;
use super::progress::progress;
use super::sender::Sender;
use crate::workload::{LoadEvent, SharedCheck, keys};

/// Waits until the consumers own every partition: a consumer still joining
/// would fall behind from the first second.
pub(super) async fn wait_for_assignment(
    workload: &Workload,
    owned: impl Fn() -> usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while owned() < workload.partitions as usize {
        if Instant::now() > deadline {
            bail!("the consumers were not assigned every partition within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The clock and counters of the measured part of a run.
#[derive(Clone)]
pub(super) struct Measurement {
    started: Instant,
    sent: Arc<AtomicU64>,
    /// Set once every event was sent and the consumers saw them or gave up.
    pub(super) done: Arc<AtomicBool>,
}

/// Warms up, then starts the clock, the schedule and the progress line.
pub(super) async fn begin<E: LoadEvent>(
    workload: &Workload,
    senders: &[Sender],
    check: &SharedCheck,
    statuses: Vec<ConsumerStatus>,
) -> anyhow::Result<(Measurement, tokio::task::JoinHandle<()>)> {
    warm_up::<E>(workload, senders, check).await?;
    let measurement = Measurement {
        started: Instant::now(),
        sent: Arc::new(AtomicU64::new(0)),
        done: Arc::new(AtomicBool::new(false)),
    };
    check
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .start_schedule(workload.interval_us());
    let progress = progress(
        measurement.started,
        Arc::clone(&measurement.sent),
        Arc::clone(check),
        statuses,
        Arc::clone(&measurement.done),
    );
    Ok((measurement, progress))
}

/// Sends the warm-up events through the run's own senders and waits until
/// the consumers saw them all: a new producer's first sends wait for its
/// connection, metadata and producer id, and the first fetches of a new
/// group are slow; either would otherwise count against the first measured
/// events.
async fn warm_up<E: LoadEvent>(
    workload: &Workload,
    senders: &[Sender],
    check: &SharedCheck,
) -> anyhow::Result<()> {
    if workload.warmup == 0 {
        return Ok(());
    }
    let keys = keys(workload.keys);
    let mut pending = Vec::new();
    for sequence in workload.events..workload.events + workload.warmup {
        let key = &keys[(sequence % workload.keys) as usize];
        let event = E::generate(sequence, key, workload.payload_bytes);
        let sender = &senders[sequence as usize % senders.len()];
        pending.push(sender.send(event, key).await?);
    }
    for delivery in pending {
        let delivered = match delivery {
            Some(delivery) => delivery.delivered().await,
            None => false,
        };
        if !delivered {
            bail!("a warm-up event was not delivered");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while check.lock().unwrap_or_else(|e| e.into_inner()).warmed < workload.warmup {
        if Instant::now() > deadline {
            bail!("the warm-up events did not arrive within a minute");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Runs every producer's share to the end, then waits for the consumers.
pub(super) async fn produce_all<E: LoadEvent>(
    workload: &Workload,
    measurement: &Measurement,
    check: &SharedCheck,
    consumed: &Arc<AtomicU64>,
    senders: Vec<Sender>,
) -> anyhow::Result<Timing> {
    let mut producers = Vec::with_capacity(workload.producers);
    for (p, sender) in senders.into_iter().enumerate() {
        producers.push(tokio::spawn(produce_share::<E>(
            workload.clone(),
            p,
            sender,
            measurement.clone(),
            Arc::clone(consumed),
        )));
    }
    let timing = finish(workload, measurement.started, producers, check).await?;
    measurement.done.store(true, Ordering::Relaxed);
    Ok(timing)
}

/// Producer `p`'s share of the events (p, p+P, p+2P, ...), paced; returns
/// how many sends failed.
async fn produce_share<E: LoadEvent>(
    workload: Workload,
    p: usize,
    sender: Sender,
    measurement: Measurement,
    consumed: Arc<AtomicU64>,
) -> anyhow::Result<u64> {
    let pacer = Pacer::new(&workload, measurement.started);
    let sent = &measurement.sent;
    let keys = keys(workload.keys);
    let mut errors = 0u64;
    let mut pending = VecDeque::new();
    for sequence in (p as u64..workload.events).step_by(workload.producers) {
        pacer.wait(sequence, sent, &consumed).await;
        let key = &keys[(sequence % workload.keys) as usize];
        let event = E::generate(sequence, key, workload.payload_bytes);
        match sender.send(event, key).await? {
            Some(delivery) => pending.push_back(delivery),
            None => errors += 1,
        }
        sent.fetch_add(1, Ordering::Relaxed);
        // Collect deliveries as we go, no further behind than the window
        // of events in flight.
        while pending.len() as u64 > workload.max_lag.max(1_000) {
            if let Some(delivery) = pending.pop_front()
                && !delivery.delivered().await
            {
                errors += 1;
            }
        }
    }
    for delivery in pending {
        if !delivery.delivered().await {
            errors += 1;
        }
    }
    sender.close().await?;
    Ok(errors)
}

/// Waits for the producer tasks (each returns its failed sends), then for
/// the consumers to see every event.
async fn finish(
    workload: &Workload,
    started: Instant,
    producers: Vec<tokio::task::JoinHandle<anyhow::Result<u64>>>,
    check: &SharedCheck,
) -> anyhow::Result<Timing> {
    let mut produce_errors = 0;
    for producer in producers {
        produce_errors += producer.await.context("producer task")??;
    }
    let produce = started.elapsed();
    let consume = wait_for_consumers(workload, check).await + produce;
    Ok(Timing {
        produce,
        consume,
        total: started.elapsed(),
        produce_errors,
    })
}

/// Waits until every event was seen or nothing new arrived for the idle
/// timeout.
async fn wait_for_consumers(workload: &Workload, check: &SharedCheck) -> Duration {
    let started = Instant::now();
    let mut last_unique = 0;
    let mut last_progress = Instant::now();
    loop {
        let unique = check.lock().unwrap_or_else(|e| e.into_inner()).unique;
        if unique >= workload.events {
            return started.elapsed();
        }
        if unique != last_unique {
            last_unique = unique;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > workload.idle_timeout {
            eprintln!("no progress for {:?}: giving up", workload.idle_timeout);
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
