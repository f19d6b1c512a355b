//! The `sluice-bridge` binary, run with the repository's example
//! configuration pointed at Tansu and moto: `/health`, `/ready` before and
//! after partitions are assigned, every route delivering, and a clean exit
//! on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use common::{Env, SOURCE, Service, wait_for};
use sluice_core::Event as _;
use sluice_events::proto::{EmailReceived, EmailValidated};
use sluice_events::samples::{self, Seed};
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig};
use sluice_testkit::{ForeignRecord, Kafkajs, create_topic, free_port};

const EXAMPLE: &str = include_str!("../bridge.example.toml");

fn get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    Ok(sluice_testkit::http_get(port, path)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_runs_the_example_configuration() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let fifo = env.queue("sluice-archiver.fifo", &[]).await?;
    let audit = env.queue("sluice-audit", &[]).await?;
    let bus_target = env.rule_to_queue("sluice-events", "bus-target").await?;

    // The example, pointed at this environment.
    let http_port = free_port()?;
    let mut config: toml::Table = toml::from_str(EXAMPLE)?;
    common::point_at(&mut config, &env, http_port)?;
    let routes = config["route"].as_array_mut().context("[[route]]")?;
    routes[1]["sqs"]
        .as_table_mut()
        .context("sqs")?
        .insert("queue_url".into(), fifo.clone().into());
    routes[2]["sqs"]
        .as_table_mut()
        .context("sqs")?
        .insert("queue_url".into(), audit.clone().into());
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), toml::to_string(&config)?)?;

    let service = Service(
        Command::new(env!("CARGO_BIN_EXE_sluice-bridge"))
            .arg("--config")
            .arg(file.path())
            .arg("--registry")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../registry/manifest.toml"
            ))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()?,
    );

    wait_for("/health answers 200", Duration::from_secs(60), || {
        Ok(get(http_port, "/health")?.0 == 200)
    })
    .await?;
    // No topic exists yet, so no route owns a partition.
    let (status, body) = get(http_port, "/ready")?;
    ensure!(
        status == 503,
        "/ready before any assignment: {status} {body}"
    );
    ensure!(body.contains("emails-to-bus"), "{body}");

    let bootstrap = env.bootstrap();
    for topic in ["email.received", "email.validated"] {
        create_topic(&bootstrap, topic, 2).await?;
    }
    for dlq in [
        "email.received.dlq",
        "email.received.archiver.dlq",
        "email.validated.dlq",
    ] {
        create_topic(&bootstrap, dlq, 1).await?;
    }
    wait_for("/ready answers 200", Duration::from_secs(60), || {
        Ok(get(http_port, "/ready")?.0 == 200)
    })
    .await?;

    let mut producer_config = ProducerConfig::new(KafkaConfig::new(&bootstrap));
    producer_config.source = SOURCE.to_owned();
    let producer = Producer::builder(producer_config).build()?;
    let received = 40;
    // 15 from sluice's producer, then one from a foreign client with a
    // header name that is not UTF-8, then one more from sluice's.
    let validated = 17;
    for sequence in 0..received {
        producer.send(common::event(sequence, 5)).await?;
    }
    let mut validated_values = Vec::new();
    for sequence in 0..validated - 1 {
        if sequence == validated - 2 {
            let hostile = ForeignRecord {
                partition: 0,
                key: Some(vec![0xff, 0x00]),
                value: Some(b"\x00\xff not an event".to_vec()),
                headers: vec![
                    (b"\xff\xfe-name".to_vec(), Some(b"\x00\xff".to_vec())),
                    (
                        b"ce_type".to_vec(),
                        Some(EmailValidated::EVENT_TYPE.as_bytes().to_vec()),
                    ),
                ],
            };
            Kafkajs::new()?
                .produce(
                    &bootstrap,
                    "email.validated",
                    std::slice::from_ref(&hostile),
                )
                .await?;
            validated_values.extend(hostile.value);
        }
        let event = samples::proto_email_validated(&Seed {
            sequence,
            ..Seed::default()
        });
        validated_values.push(sluice_core::Encoder::new().encode(&event)?);
        producer.send(event).await?;
    }

    let archived = env.receive(&fifo, received as usize).await?;
    ensure!(archived.len() == received as usize);
    let on_bus = env.receive(&bus_target, received as usize).await?;
    for message in &on_bus {
        let event: serde_json::Value = serde_json::from_str(message.body().unwrap_or("{}"))?;
        ensure!(event["detail-type"] == EmailReceived::EVENT_TYPE, "{event}");
    }
    let audited = env.receive(&audit, validated as usize).await?;
    for message in &audited {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(message.body().unwrap_or(""))?;
        ensure!(
            validated_values.contains(&bytes),
            "the audit body is a record's bytes"
        );
        let attributes = message.message_attributes().context("attributes")?;
        ensure!(attributes["ce_type"].string_value() == Some(EmailValidated::EVENT_TYPE));
    }

    // What /metrics says matches what went through each route.
    let (status, metrics) = get(http_port, "/metrics")?;
    ensure!(status == 200, "/metrics: {status}");
    for (route, destination, n) in [
        ("emails-to-bus", "eventbridge", received),
        ("received-to-archiver", "sqs", received),
        ("validated-to-audit", "sqs", validated),
    ] {
        let line = format!(
            "sluice_bridge_entries_sent_total{{route=\"{route}\",destination=\"{destination}\"}} {n}"
        );
        ensure!(metrics.contains(&line), "no `{line}` in\n{metrics}");
    }
    ensure!(
        metrics.contains(
            "sluice_consumer_handled_total{topic=\"email.received\",group=\"sluice-bridge.emails-to-bus\"}"
        ) && metrics.contains(
            "sluice_consumer_handled_total{topic=\"email.received\",group=\"sluice-bridge.received-to-archiver\"}"
        ),
        "consumer metrics of each route's group:\n{metrics}"
    );

    // SIGTERM: a graceful stop with a zero exit status.
    let mut service = service;
    let child = &mut service.0;
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status()?;
    ensure!(status.success(), "kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(status) = child.try_wait()? {
            ensure!(status.success(), "the bridge exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the bridge did not stop within 40 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
