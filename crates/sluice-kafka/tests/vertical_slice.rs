//! One typed Protobuf event and one typed Avro event go through a real
//! broker: encoded, produced with rdkafka, consumed, decoded, and equal to
//! what was sent, with every envelope header present. Runs on the embedded
//! mock cluster and on Tansu.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::producer::FutureProducer;
use sluice_core::{Decoder, Encoder, Envelope, Event, TraceContext};
use sluice_events::samples::{self, Seed};
use sluice_events::{avro, proto, registry};
use sluice_kafka::{KafkaConfig, OutgoingRecord};
use sluice_testkit::{BrokerKind, TestBroker, decode_message, future_record};

const ALL_HEADERS: [&str; 10] = [
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "content-type",
    "ce_correlationid",
    "ce_causationid",
    "traceparent",
    "tracestate",
];

fn envelope<E: Event>() -> anyhow::Result<Envelope> {
    Ok(Envelope::new::<E>("/tests/vertical-slice")
        .with_correlation_id("corr-7")
        .with_causation_id("cause-7")
        .with_trace(TraceContext::new(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            Some("sluice=1".into()),
        )?))
}

async fn send_and_receive<E>(broker: &TestBroker, topic: &str, event: E) -> anyhow::Result<()>
where
    E: Event + PartialEq + std::fmt::Debug,
{
    broker.create_topic(topic, 3).await?;
    let config = KafkaConfig::new(broker.bootstrap_servers());
    let producer: FutureProducer = config
        .client_config()
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .create()?;
    let sent_envelope = envelope::<E>()?;
    let record = OutgoingRecord::new(&Encoder::new(), &event, sent_envelope.clone())?;
    let delivery = producer
        .send(future_record(&record, topic), Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .context("produce")?;

    let consumer: StreamConsumer = config
        .client_config()
        .set("group.id", format!("slice-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .context("no record within 30 s")??;

    ensure!(message.partition() == delivery.partition && message.offset() == delivery.offset);
    ensure!(
        message.key() == Some(event.partition_key().as_bytes()),
        "key is the partition key"
    );
    let headers = message.headers().context("record has headers")?;
    let names: Vec<&str> = headers.iter().map(|h| h.key).collect();
    for name in ALL_HEADERS {
        ensure!(
            names.contains(&name),
            "header {name} missing from {names:?}"
        );
    }
    let (decoded, received_envelope) = decode_message::<E, _>(&Decoder::new(registry()), &message)?;
    ensure!(decoded == event, "decoded {decoded:?}\nsent {event:?}");
    ensure!(
        received_envelope == sent_envelope,
        "envelope {received_envelope:?}\nsent {sent_envelope:?}"
    );
    Ok(())
}

async fn slice(kind: BrokerKind) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    let seed = Seed::default();
    send_and_receive(
        &broker,
        "email.received.proto",
        samples::proto_email_received(&seed),
    )
    .await?;
    send_and_receive(
        &broker,
        "email.received.avro",
        samples::avro_email_received(&seed),
    )
    .await?;
    wrong_type_is_a_typed_error(&broker).await
}

/// An Avro record read as the Protobuf type of the same event fails with
/// `type_mismatch`, and still decodes as the Avro type.
async fn wrong_type_is_a_typed_error(broker: &TestBroker) -> anyhow::Result<()> {
    let consumer: StreamConsumer = KafkaConfig::new(broker.bootstrap_servers())
        .client_config()
        .set("group.id", "slice-wrong-type")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&["email.received.avro"])?;
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await??;
    let decoder = Decoder::new(registry());
    match decode_message::<proto::EmailReceived, _>(&decoder, &message) {
        Err(err) if err.class() == "type_mismatch" => {}
        Err(err) => bail!("expected a type mismatch, got {err}"),
        Ok(event) => bail!("an Avro record decoded as Protobuf: {event:?}"),
    }
    decode_message::<avro::EmailReceived, _>(&decoder, &message)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_events_round_trip_on_the_mock_cluster() -> anyhow::Result<()> {
    slice(BrokerKind::Mock).await
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_events_round_trip_on_tansu() -> anyhow::Result<()> {
    slice(BrokerKind::Tansu).await
}
