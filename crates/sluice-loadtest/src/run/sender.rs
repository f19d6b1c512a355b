//! How a run sends: through sluice's producer, or bare rdkafka with the
//! same librdkafka settings.

use std::time::Duration;

use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use sluice_core::{Encoder, Envelope};
use sluice_kafka::security::TokenContext;
use sluice_producer::{PendingDelivery, Producer};

use super::Workload;
use super::raw::RawRecords;
use crate::workload::LoadEvent;

/// How a run sends: through sluice's producer, or bare rdkafka with the same
/// librdkafka settings.
pub(super) enum Sender {
    Sluice(Producer),
    Raw {
        producer: FutureProducer<TokenContext>,
        encoder: Encoder,
        topic: String,
        /// The CloudEvents source, when the records carry the envelope.
        source: Option<String>,
    },
}

/// A send awaiting the broker's acknowledgement.
pub(super) enum Pending {
    Sluice(PendingDelivery<()>),
    Raw(DeliveryFuture),
}

impl Pending {
    pub(super) async fn delivered(self) -> bool {
        match self {
            Pending::Sluice(delivery) => delivery.wait().await.is_ok(),
            Pending::Raw(delivery) => matches!(delivery.await, Ok(Ok(_))),
        }
    }
}

impl Sender {
    pub(super) fn sluice<E: LoadEvent>(workload: &Workload, topic: &str) -> anyhow::Result<Self> {
        Ok(Sender::Sluice(
            Producer::builder(workload.producer_config::<E>(topic)).build()?,
        ))
    }

    pub(super) fn raw<E: LoadEvent>(
        workload: &Workload,
        topic: &str,
        records: RawRecords,
    ) -> anyhow::Result<Self> {
        let config = workload.producer_config::<E>(topic);
        let context = TokenContext::new(config.kafka.security.token_provider()?);
        Ok(Sender::Raw {
            producer: config.librdkafka_config().create_with_context(context)?,
            encoder: Encoder::new().with_max_record_bytes(usize::MAX),
            topic: topic.to_owned(),
            source: (records == RawRecords::Same).then(|| config.source.clone()),
        })
    }

    /// Hands `event` to the client; `None` when sluice refused it (counted
    /// as an error). The raw producer waits while librdkafka's queue is full.
    pub(super) async fn send<E: LoadEvent>(
        &self,
        event: E,
        key: &str,
    ) -> anyhow::Result<Option<Pending>> {
        match self {
            // The event is not needed back: it is not kept until delivery.
            Sender::Sluice(producer) => {
                Ok(producer.enqueue_ref(&event).await.ok().map(Pending::Sluice))
            }
            Sender::Raw {
                producer,
                encoder,
                topic,
                source,
            } => {
                let value = encoder.encode(&event)?;
                let mut record = FutureRecord::to(topic).key(key).payload(&value);
                if let Some(source) = source {
                    let envelope = Envelope::new::<E>(source.clone());
                    record = record.headers(sluice_kafka::envelope_headers(&envelope));
                }
                loop {
                    match producer.send_result(record) {
                        Ok(delivery) => return Ok(Some(Pending::Raw(delivery))),
                        Err((_, returned)) => {
                            record = returned;
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }
            }
        }
    }

    pub(super) async fn close(self) -> anyhow::Result<()> {
        if let Sender::Sluice(producer) = self {
            producer.shutdown(Duration::from_secs(30)).await?;
        }
        Ok(())
    }
}
