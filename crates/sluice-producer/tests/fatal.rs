//! A fatal error of the idempotent producer: the event that met it comes
//! back, and every later send fails fast with `SendErrorKind::Fatal`,
//! handing its event back too.

use std::time::Duration;

use anyhow::{bail, ensure};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use sluice_core::Event as _;
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig, SendErrorKind};
use sluice_testkit::MockKafka;
use sluice_testkit::sequenced::{event, sequence};

#[tokio::test(flavor = "multi_thread")]
async fn after_a_fatal_error_every_send_fails_fast_and_hands_its_event_back() -> anyhow::Result<()>
{
    let mock = MockKafka::start(1)?;
    mock.create_topic("fatal", 1)?;
    let mut config = ProducerConfig::new(KafkaConfig::new(mock.bootstrap_servers()));
    config
        .topics
        .insert(EmailReceived::EVENT_TYPE.to_owned(), "fatal".to_owned());
    let producer = Producer::builder(config).build()?;
    // The first write is refused as out of sequence while it heads the
    // line: librdkafka can no longer vouch for order and raises a fatal
    // error.
    mock.cluster().request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER],
    );
    match producer.send(event(1, "k")).await {
        Err(error) => ensure!(sequence(error.event()) == 1, "another event came back"),
        Ok(delivered) => bail!("the refused write was acknowledged: {delivered:?}"),
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !producer.is_fatal() {
        ensure!(
            std::time::Instant::now() < deadline,
            "no fatal error raised"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    match producer.send(event(2, "k")).await {
        Err(error) => {
            ensure!(error.kind() == SendErrorKind::Fatal, "{error}");
            ensure!(!error.is_retriable());
            ensure!(sequence(error.event()) == 2);
        }
        Ok(delivered) => bail!("a send after the fatal error went through: {delivered:?}"),
    }
    ensure!(
        started.elapsed() < Duration::from_secs(1),
        "a send after a fatal error must fail fast"
    );
    Ok(())
}
