//! A fatal client error stops the consumer: `run` ends with
//! `ConsumerError::Fatal`, readiness says why, and nothing past the record
//! that could not be dead-lettered is committed.

mod common;

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use common::{committed, config, produce, sequence};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use sluice_consumer::{ConsumerBuilder, ConsumerError, Context, Handler, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_testkit::MockKafka;

/// The record that fails for good, so it must be dead-lettered.
const POISON: u64 = 5;

struct RejectOne;

impl Handler<EmailReceived> for RejectOne {
    async fn handle(&self, event: EmailReceived, _: &Context) -> Result<(), HandlerError> {
        if sequence(&event) == POISON {
            return Err(HandlerError::permanent("invalid"));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fatal_dlq_producer_error_stops_the_consumer() -> anyhow::Result<()> {
    let mock = MockKafka::start(1)?;
    let bootstrap = mock.bootstrap_servers();
    mock.create_topic("fenced", 1)?;
    mock.create_topic("fenced.dlq", 1)?;
    produce(&bootstrap, "fenced", 0..20).await?;
    // From here on, the only producer is the consumer's DLQ producer. Its
    // first write is refused as out of sequence: for the head-of-line
    // request of an idempotent producer, librdkafka can no longer vouch for
    // order or once-ness and raises a fatal error.
    mock.cluster().request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER],
    );

    let handlers = Handlers::new(registry().clone()).on::<EmailReceived, _>(RejectOne);
    let mut config = config(&bootstrap, "fenced-svc", "fenced");
    // The poisoned record's worker waits on its DLQ write until abandoned.
    config.shutdown_timeout_ms = 2_000;
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    let status = consumer.status();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        consumer.run(std::future::pending()),
    )
    .await
    .context("the consumer ran on after a fatal error")?;
    match outcome {
        Err(ConsumerError::Fatal(reason)) => {
            ensure!(reason.contains("fatal"), "{reason}");
        }
        other => bail!("expected a fatal error, got {other:?}"),
    }
    ensure!(!status.is_ready(), "ready after a fatal error");
    ensure!(status.failure().is_some(), "no failure reported");
    let committed = committed(&bootstrap, "fenced-svc", "fenced", 1)?[0];
    ensure!(
        committed <= POISON as i64,
        "committed {committed}, past the record that was never dead-lettered"
    );
    Ok(())
}
