//! `/metrics` after a known workload counts exactly what happened, and
//! `/ready` turns true once partitions are assigned.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Context, Handler, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;
use sluice_telemetry::http::Endpoints;
use sluice_testkit::MockKafka;

fn get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    Ok(sluice_testkit::http_get(port, path)?)
}

/// The value of the sample of `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Sequence % 10 == 0: fails for good; % 10 == 5: fails once, then works.
struct Flaky;

impl Handler<EmailReceived> for Flaky {
    async fn handle(&self, event: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        match common::sequence(&event) % 10 {
            0 => Err(HandlerError::permanent("refused").with_class("refused")),
            5 if ctx.attempt() == 1 => Err(HandlerError::retriable("not yet")),
            _ => Ok(()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_workload_and_ready_follows_assignment() -> anyhow::Result<()> {
    sluice_telemetry::metrics::prometheus().map_err(anyhow::Error::msg)?;
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("metered", 2)?;
    kafka.create_topic("metered.dlq", 1)?;
    let brokers = kafka.bootstrap_servers();

    let n = 60;
    common::produce(&brokers, "metered", 0..n).await?;

    let mut config = ConsumerConfig::new(KafkaConfig::new(&brokers), "metered", ["metered"]);
    config.commit_interval_ms = 100;
    config.retry.initial_backoff_ms = 10;
    let handlers = Handlers::new(sluice_events::registry().clone()).on::<EmailReceived, _>(Flaky);
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    let status = consumer.status();

    let endpoints = Endpoints::bind("127.0.0.1:0".parse()?).await?;
    let port = endpoints.local_addr().context("an address")?.port();
    tokio::spawn(endpoints.serve(status.clone()));
    let (code, body) = get(port, "/ready")?;
    ensure!(code == 503, "/ready before assignment: {code} {body}");
    ensure!(get(port, "/health")?.0 == 200);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    loop {
        ensure!(
            Instant::now() < deadline,
            "counters did not settle:\n{text}"
        );
        text = get(port, "/metrics")?.1;
        let handled = sample(
            &text,
            "sluice_consumer_handled_total",
            &["topic=\"metered\""],
        );
        let dead = sample(
            &text,
            "sluice_consumer_dead_lettered_total",
            &["topic=\"metered\""],
        );
        let lag = sample(
            &text,
            "sluice_consumer_lag_records",
            &["topic=\"metered\"", "group=\"metered\""],
        );
        if handled == Some(54.0) && dead == Some(6.0) && lag == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(get(port, "/ready")?.0 == 200, "/ready after assignment");
    let _ = stop.send(());
    common::stopped(run).await?;

    let expect = |name: &str, labels: &[&str], value: f64| -> anyhow::Result<()> {
        let found = sample(&text, name, labels);
        ensure!(
            found == Some(value),
            "{name}{labels:?}: {found:?}, expected {value}\n{text}"
        );
        Ok(())
    };
    expect(
        "sluice_producer_sent_total",
        &["topic=\"metered\""],
        n as f64,
    )?;
    expect(
        "sluice_consumer_received_total",
        &["topic=\"metered\""],
        n as f64,
    )?;
    expect(
        "sluice_consumer_handled_total",
        &["topic=\"metered\""],
        54.0,
    )?;
    expect("sluice_consumer_retries_total", &["topic=\"metered\""], 6.0)?;
    expect(
        "sluice_consumer_dead_lettered_total",
        &["topic=\"metered\"", "class=\"refused\""],
        6.0,
    )?;
    expect(
        "sluice_consumer_handler_errors_total",
        &["topic=\"metered\"", "class=\"refused\""],
        6.0,
    )?;
    expect(
        "sluice_consumer_handler_errors_total",
        &["topic=\"metered\"", "class=\"handler_retriable\""],
        6.0,
    )?;
    expect(
        "sluice_consumer_assigned_partitions",
        &["group=\"metered\""],
        2.0,
    )?;
    for quantile in ["0.5", "0.95", "0.99"] {
        let label = format!("quantile=\"{quantile}\"");
        ensure!(
            sample(&text, "sluice_consumer_handler_duration_seconds", &[&label]).is_some(),
            "handler duration p{quantile}\n{text}"
        );
        ensure!(
            sample(&text, "sluice_consumer_end_to_end_seconds", &[&label]).is_some(),
            "end-to-end p{quantile}"
        );
        ensure!(
            sample(&text, "sluice_producer_send_duration_seconds", &[&label]).is_some(),
            "send duration p{quantile}"
        );
    }
    ensure!(
        text.contains("# HELP sluice_consumer_handled_total"),
        "help texts"
    );
    Ok(())
}
