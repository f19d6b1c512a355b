//! One trace from the producer, through the consumer's handler, to the
//! bridge's AWS request: spans in an in-memory exporter, and the X-Ray
//! header the request carried.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use common::proxy::{Faults, Proxy};
use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use sluice_core::Event as _;
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig};
use sluice_testkit::{MockKafka, Moto};
use tracing_subscriber::layer::SubscriberExt as _;

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_from_producer_to_the_aws_request() -> anyhow::Result<()> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber)?;

    let kafka = MockKafka::start(1)?;
    kafka.create_topic("traced", 1)?;
    kafka.create_topic("traced.dlq", 1)?;
    let moto = Moto::start().await?;
    let proxy = Proxy::start(moto.endpoint_url(), Faults::default()).await?;

    let mut config = ProducerConfig::new(KafkaConfig::new(kafka.bootstrap_servers()));
    config.source = common::SOURCE.to_owned();
    config
        .topics
        .insert(EmailReceived::EVENT_TYPE.to_owned(), "traced".to_owned());
    let producer = Producer::builder(config).build()?;
    let mut ids = Vec::new();
    for sequence in 0..3 {
        ids.push(producer.send(common::event(sequence, 3)).await?.event_id);
    }

    let queue = aws_sdk_sqs::Client::new(&moto.sdk_config())
        .create_queue()
        .queue_name("traced")
        .send()
        .await?
        .queue_url()
        .context("a queue URL")?
        .to_owned();
    // The same topic to a bus and to a queue: two groups, two handlers.
    let text = format!(
        "[kafka]\nbootstrap_servers = \"{}\"\n[aws]\nendpoint_url = \"{}\"\n\
         [[route]]\nname = \"bus\"\ntopics = [\"traced\"]\neventbridge = {{ event_bus = \"default\" }}\n\
         [[route]]\nname = \"queue\"\ntopics = [\"traced\"]\nsqs = {{ queue_url = \"{queue}\" }}\n",
        kafka.bootstrap_servers(),
        proxy.url()
    );
    let bridge = common::Running::start(
        sluice_bridge::BridgeConfig::from_toml(&text)?,
        sluice_testkit::sdk_config_for(&proxy.url()),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.record().forwarded_entries.len() < 2 * ids.len() {
        ensure!(Instant::now() < deadline, "the entries did not reach AWS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bridge.wait_caught_up().await?;
    bridge.stop().await?;
    provider.force_flush()?;
    let spans = exporter.get_finished_spans()?;
    let record = proxy.record();
    let bus_headers: Vec<&str> = record
        .forwarded_entries
        .iter()
        .filter_map(|e| e["TraceHeader"].as_str())
        .collect();
    let queue_headers: Vec<&str> = record
        .forwarded_entries
        .iter()
        .filter_map(|e| e["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"].as_str())
        .collect();
    ensure!(bus_headers.len() == ids.len() && queue_headers.len() == ids.len());

    for id in &ids {
        let send = spans
            .iter()
            .find(|s| {
                attribute(s, "messaging.message.id").as_deref() == Some(id.as_str())
                    && s.name == "send traced"
            })
            .with_context(|| format!("no send span for {id}"))?;
        let trace: TraceId = send.span_context.trace_id();
        for (group, call_name, headers) in [
            ("sluice-bridge.bus", "EventBridge.PutEvents", &bus_headers),
            (
                "sluice-bridge.queue",
                "SQS.SendMessageBatch",
                &queue_headers,
            ),
        ] {
            let process = spans
                .iter()
                .find(|s| {
                    s.name == "process traced"
                        && s.span_context.trace_id() == trace
                        && attribute(s, "messaging.consumer.group.name").as_deref() == Some(group)
                })
                .with_context(|| format!("no process span of {group} in trace {trace}"))?;
            ensure!(
                process.parent_span_id == send.span_context.span_id(),
                "the process span is the send span's child"
            );
            ensure!(attribute(process, "messaging.system").as_deref() == Some("kafka"));
            let handle = spans
                .iter()
                .find(|s| s.name == "handle" && s.parent_span_id == process.span_context.span_id())
                .context("a handle span under process")?;
            // The AWS request: X-Ray's form of the same trace, parent = handle.
            let hex = format!("{trace}");
            let expected = format!(
                "Root=1-{}-{};Parent={};Sampled=1",
                &hex[..8],
                &hex[8..],
                handle.span_context.span_id()
            );
            ensure!(
                headers.contains(&expected.as_str()),
                "{group}: no trace header {expected} in {headers:?}"
            );
            let call = spans
                .iter()
                .find(|s| {
                    s.name == call_name
                        && s.links.iter().any(|l| l.span_context.trace_id() == trace)
                })
                .with_context(|| format!("a {call_name} span linked to the trace"))?;
            ensure!(attribute(call, "rpc.system").as_deref() == Some("aws-api"));
        }
    }
    Ok(())
}
