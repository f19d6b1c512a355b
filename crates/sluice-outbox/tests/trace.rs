//! The record carries the trace of the span the event was written in.

mod common;

use anyhow::{Context as _, ensure};
use common::{Env, TOPIC, read_all};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use sluice_outbox::Outbox;
use sluice_testkit::{header_text, sequenced};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_carry_the_writing_spans_trace() -> anyhow::Result<()> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber)?;

    let env = Env::start(1).await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    let span = tracing::info_span!("place_order");
    let expected = sluice_telemetry::propagation::of(&span).context("the span has a trace")?;
    async {
        let mut tx = env.pool.begin().await?;
        outbox
            .enqueue(&mut tx, &sequenced::event(0, "agg-1"))
            .await?;
        tx.commit().await?;
        anyhow::Ok(())
    }
    .instrument(span)
    .await?;
    // An event written outside any span carries no trace.
    let mut tx = env.pool.begin().await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(1, "agg-1"))
        .await?;
    tx.commit().await?;

    let relay = env.spawn_relay("", "").await?;
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, 2)?;
    ensure!(records.len() == 2);
    let traced = header_text(&records[0], "traceparent");
    ensure!(
        traced.as_deref() == Some(expected.traceparent()),
        "{traced:?} is not {}",
        expected.traceparent()
    );
    ensure!(header_text(&records[1], "traceparent").is_none());
    relay.stop().await?;

    // The relay's send span belongs to the writing span's trace.
    let spans = exporter.get_finished_spans()?;
    let sends: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("send "))
        .collect();
    ensure!(
        sends.len() == 2,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    ensure!(
        sends
            .iter()
            .any(|s| s.span_context.trace_id().to_string() == expected.trace_id()),
        "no send span in trace {}",
        expected.trace_id()
    );
    Ok(())
}
