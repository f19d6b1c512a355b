//! The shipped binary with both halves: ready, requests through Kafka to a
//! receiver, the metrics it documents on `/metrics`, and a graceful stop
//! on SIGTERM.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use common::{Receiver, post_signed, spawn_binary, wait_ready};
use sluice_testkit::{MockKafka, free_port, http_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_both_halves_reports_metrics_and_stops_on_sigterm() -> anyhow::Result<()>
{
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("orders", 2)?;
    kafka.create_topic("orders.dlq", 1)?;
    let bootstrap = kafka.bootstrap_servers();
    let receiver = Receiver::start(Box::new(|_, _| (200, vec![]))).await;
    let (http_port, ingress_port) = (free_port()?, free_port()?);
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("webhooks.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[http]
listen = "127.0.0.1:{http_port}"
[ingress]
listen = "127.0.0.1:{ingress_port}"
[ingress.producer]
[ingress.producer.kafka]
bootstrap_servers = "{bootstrap}"
[[ingress.source]]
name = "shop"
topic = "orders"
event_type = "com.example.shop.order.v1"
secrets = ["env:SHOP_SECRET"]

[egress.kafka]
bootstrap_servers = "{bootstrap}"
[egress.kafka.properties]
"fetch.wait.max.ms" = "10"
[[egress.endpoint]]
name = "crm"
url = "{}"
topics = ["orders"]
secrets = ["env:CRM_SECRET"]
auto_offset_reset = "earliest"
"#,
            receiver.url()
        ),
    )?;
    let log = dir.path().join("log");
    let mut child = spawn_binary(&config, &log);
    wait_ready(&mut child, http_port, &log).await;
    ensure!(matches!(http_get(http_port, "/health"), Ok((200, _))));

    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{ingress_port}/webhooks/shop");
    for i in 0..3 {
        let (status, reply) = post_signed(&client, &url, &format!("svc-{i}"), r#"{"n": 1}"#).await;
        ensure!(status == 202, "{status} {reply}");
    }
    let (status, _) = post_signed(&client, &url, "svc-0", r#"{"n": 1}"#).await;
    ensure!(status == 202, "a repeat: {status}");
    receiver
        .wait_for("three deliveries", Duration::from_secs(20), |r| {
            r.len() >= 3
        })
        .await;

    let (status, metrics) = http_get(http_port, "/metrics")?;
    ensure!(status == 200);
    for line in [
        r#"sluice_webhook_requests_total{source="shop",status="202"} 4"#,
        r#"sluice_webhook_deliveries_total{endpoint="crm",outcome="delivered"} 3"#,
        r#"sluice_webhook_delivery_seconds_count{endpoint="crm"} 3"#,
        r#"sluice_webhook_circuit_open{endpoint="crm"} 0"#,
    ] {
        ensure!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
    ensure!(
        metrics.contains("sluice_webhook_request_seconds"),
        "{metrics}"
    );
    let logged = std::fs::read_to_string(&log)?;
    ensure!(
        !logged.contains("MfKQ9r8"),
        "a secret in the log:\n{logged}"
    );

    let pid = child.id().to_string();
    ensure!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()?
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("still running 40 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        status.success(),
        "exit {status}: {}",
        std::fs::read_to_string(&log)?
    );
    ensure!(
        receiver.received().len() == 3,
        "{} deliveries",
        receiver.received().len()
    );
    Ok(())
}
