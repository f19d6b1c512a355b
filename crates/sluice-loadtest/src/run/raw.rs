//! The baseline: the same workload with bare rdkafka, a `FutureProducer`
//! per producer and a `BaseConsumer` thread per consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use sluice_core::Decoder;
use sluice_events::registry;
use sluice_kafka::security::TokenContext;

use super::Workload;
use super::outcome::Outcome;
use super::phases::{begin, produce_all, wait_for_assignment};
use super::sender::Sender;
use crate::workload::{LoadEvent, Resources};

/// What the bare-rdkafka baseline sends and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawRecords {
    /// The records sluice sends: key, framed value and the CloudEvents
    /// headers, built by hand; consumers look up `ce_type` before decoding,
    /// as sluice's typed handlers do.
    Same,
    /// Key and framed value only: what the records would cost without the
    /// CloudEvents envelope.
    Bare,
}

/// The same workload with bare rdkafka: a `FutureProducer` with the
/// producer's librdkafka settings, and one `BaseConsumer` thread per
/// consumer decoding with the same codec.
pub(crate) async fn raw<E: LoadEvent>(
    workload: &Workload,
    topic: &str,
    records: RawRecords,
) -> anyhow::Result<Outcome> {
    let cpu_before = Resources::now().cpu;
    let check = workload.check();
    let consumed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let assigned = Arc::new(AtomicU64::new(0));
    let token_provider = workload.kafka.security.token_provider()?;
    let consumers: Vec<_> = (0..workload.consumers)
        .map(|_| {
            let (check, consumed, stop, assigned) = (
                Arc::clone(&check),
                Arc::clone(&consumed),
                Arc::clone(&stop),
                Arc::clone(&assigned),
            );
            let (kafka, topic) = (workload.consumer_kafka(), topic.to_owned());
            let context = TokenContext::new(token_provider.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let consumer: BaseConsumer<TokenContext> = kafka
                    .client_config()
                    .set("group.id", format!("{topic}.group"))
                    .set("auto.offset.reset", "earliest")
                    .create_with_context(context)?;
                consumer.subscribe(&[&topic])?;
                let decoder = Decoder::new(registry()).with_max_record_bytes(usize::MAX);
                let mut counted = false;
                while !stop.load(Ordering::Relaxed) {
                    let polled = consumer.poll(Duration::from_millis(50));
                    if !counted {
                        let owned = consumer.assignment()?.count() as u64;
                        if owned > 0 {
                            assigned.fetch_add(owned, Ordering::Relaxed);
                            counted = true;
                        }
                    }
                    let Some(message) = polled else { continue };
                    let message = message?;
                    let ce_type = match records {
                        RawRecords::Same => sluice_kafka::headers::of_message(&message)
                            .find(|h| h.name == sluice_core::envelope::header::TYPE.as_bytes())
                            .and_then(|h| std::str::from_utf8(h.value?).ok()),
                        RawRecords::Bare => None,
                    };
                    let sequence = message
                        .payload()
                        .and_then(|value| decoder.decode_typed::<E>(ce_type, value).ok())
                        .and_then(|event| event.sequence());
                    let mut check = check.lock().unwrap_or_else(|e| e.into_inner());
                    let measured = match sequence {
                        Some(sequence) => check.record(sequence, message.timestamp().to_millis()),
                        None => {
                            check.undecodable += 1;
                            true
                        }
                    };
                    if measured {
                        consumed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .collect();
    wait_for_assignment(workload, || assigned.load(Ordering::Relaxed) as usize).await?;

    let senders = (0..workload.producers)
        .map(|_| Sender::raw::<E>(workload, topic, records))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (measurement, progress) = begin::<E>(workload, &senders, &check, Vec::new()).await?;
    let timing = produce_all::<E>(workload, &measurement, &check, &consumed, senders).await?;
    progress.await?;
    stop.store(true, Ordering::Relaxed);
    for consumer in consumers {
        consumer
            .join()
            .map_err(|_| anyhow::anyhow!("a raw consumer thread panicked"))??;
    }
    Ok(Outcome::new(workload, check, timing, None, cpu_before))
}
