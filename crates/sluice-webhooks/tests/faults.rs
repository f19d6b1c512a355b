//! What goes wrong around the service: the cluster down (503, nothing
//! published, the sender's retry published once), a sender over its rate
//! or the producer's buffer full (429 with `Retry-After`), endpoints that
//! refuse connections or never answer (retried, dead-lettered with the
//! class, holding no other endpoint). On librdkafka's mock cluster.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use common::{Receiver, SECRET, Service, post_signed, signed_request};
use sluice_core::dlq::headers as dlq;
use sluice_testkit::{MockKafka, free_port, header_text, read_topic};

fn ingress(bootstrap: &str, source_extra: &str) -> String {
    format!(
        r#"
[ingress]
listen = "127.0.0.1:0"
[ingress.producer]
source = "/faults"
delivery_timeout_ms = 1500
circuit_probe_interval_ms = 200
[ingress.producer.kafka]
bootstrap_servers = "{bootstrap}"
[[ingress.source]]
name = "shop"
topic = "orders"
event_type = "com.example.shop.order.v1"
secrets = ["{SECRET}"]
{source_extra}
"#
    )
}

/// A POST signed with [`SECRET`]: status and `Retry-After`.
async fn post_with_retry_after(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    body: &str,
) -> anyhow::Result<(u16, Option<u64>)> {
    let response = signed_request(client, url, id, body, true).send().await?;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    Ok((response.status().as_u16(), retry_after))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_cluster_answers_503_and_the_senders_retry_publishes_once() -> anyhow::Result<()> {
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("orders", 1)?;
    let bootstrap = kafka.bootstrap_servers();
    let service = Service::start(&ingress(&bootstrap, "")).await;
    let client = reqwest::Client::new();
    let url = service.url("shop");
    let (status, _) = post_signed(&client, &url, "before", r#"{"n": 0}"#).await;
    ensure!(status == 202, "with the cluster up: {status}");

    kafka.cluster().broker_down(1)?;
    let (status, retry_after) =
        post_with_retry_after(&client, &url, "during", r#"{"n": 1}"#).await?;
    ensure!(status == 503, "with the cluster down: {status}");
    ensure!(
        retry_after.is_some_and(|s| s >= 1),
        "Retry-After: {retry_after:?}"
    );

    // The sender retries the same id until the cluster is back.
    kafka.cluster().broker_up(1)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = post_with_retry_after(&client, &url, "during", r#"{"n": 1}"#).await?;
        if status == 202 {
            break;
        }
        ensure!(status == 503, "while the cluster comes back: {status}");
        ensure!(
            Instant::now() < deadline,
            "still 503 after the cluster came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, _) = post_signed(&client, &url, "during", r#"{"n": 1}"#).await;
    ensure!(status == 202, "the repeat: {status}");
    service.stop().await;

    let records = read_topic(&bootstrap, "orders", 2)?;
    let ids: Vec<_> = records
        .iter()
        .filter_map(|r| header_text(r, "ce_id"))
        .collect();
    ensure!(ids == ["before", "during"], "{ids:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_over_its_rate_gets_429_with_retry_after() -> anyhow::Result<()> {
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("orders", 1)?;
    let bootstrap = kafka.bootstrap_servers();
    let service = Service::start(&ingress(&bootstrap, "max_requests_per_second = 2")).await;
    let client = reqwest::Client::new();
    let url = service.url("shop");
    let mut accepted = Vec::new();
    let mut throttled = 0;
    for i in 0..10 {
        let id = format!("r-{i}");
        match post_with_retry_after(&client, &url, &id, r#"{"n": 1}"#).await? {
            (202, _) => accepted.push(id),
            (429, Some(secs)) if secs >= 1 => throttled += 1,
            other => anyhow::bail!("{id}: {other:?}"),
        }
    }
    ensure!(throttled >= 5, "{throttled} of 10 throttled at 2/s");
    ensure!(!accepted.is_empty(), "none accepted");
    service.stop().await;
    let records = read_topic(&bootstrap, "orders", accepted.len())?;
    let mut ids: Vec<_> = records
        .iter()
        .filter_map(|r| header_text(r, "ce_id"))
        .collect();
    ids.sort();
    accepted.sort();
    ensure!(ids == accepted, "in Kafka {ids:?}, accepted {accepted:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_silent_endpoints_are_dead_lettered_and_hold_no_other() -> anyhow::Result<()> {
    let kafka = MockKafka::start(1)?;
    for topic in ["orders", "orders.refused.dlq", "orders.silent.dlq"] {
        kafka.create_topic(topic, 1)?;
    }
    let bootstrap = kafka.bootstrap_servers();
    let live = Receiver::start(Box::new(|_, _| (200, vec![]))).await;
    // Nothing listens on one port; the other accepts connections into its
    // backlog and never answers.
    let refused = free_port()?;
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let silent_port = silent.local_addr()?.port();
    let endpoint = |name: &str, url: &str, extra: &str| {
        format!(
            "[[egress.endpoint]]\nname = \"{name}\"\nurl = \"{url}\"\ntopics = [\"orders\"]\nsecrets = [\"{SECRET}\"]\nauto_offset_reset = \"earliest\"\nretry_schedule_ms = [200, 200]\n{extra}\n"
        )
    };
    let toml = format!(
        "{}\n[egress.kafka]\nbootstrap_servers = \"{bootstrap}\"\n{}{}{}",
        ingress(&bootstrap, ""),
        endpoint("live", &live.url(), ""),
        endpoint(
            "refused",
            &format!("http://127.0.0.1:{refused}/hooks"),
            "dlq_topic = \"orders.refused.dlq\"\ncircuit_failure_threshold = 2\ncircuit_open_ms = 300",
        ),
        endpoint(
            "silent",
            &format!("http://127.0.0.1:{silent_port}/hooks"),
            "dlq_topic = \"orders.silent.dlq\"\ntimeout_ms = 300\ncircuit_failure_threshold = 50",
        ),
    );
    let service = Service::start(&toml).await;
    let client = reqwest::Client::new();
    let n = 5;
    for i in 0..n {
        let (status, reply) = post_signed(
            &client,
            &service.url("shop"),
            &format!("o-{i}"),
            r#"{"n": 1}"#,
        )
        .await;
        ensure!(status == 202, "{status} {reply}");
    }
    live.wait_for(
        "the live endpoint's deliveries",
        Duration::from_secs(15),
        |r| r.len() >= n,
    )
    .await;

    for (topic, class) in [
        ("orders.refused.dlq", "http_connect"),
        ("orders.silent.dlq", "http_timeout"),
    ] {
        let records = read_topic(&bootstrap, topic, n)?;
        let mut ids = Vec::new();
        for record in &records {
            ensure!(
                header_text(record, dlq::ERROR_CLASS).as_deref() == Some(class),
                "{topic}: {:?}",
                header_text(record, dlq::ERROR_CLASS)
            );
            ensure!(
                header_text(record, dlq::ATTEMPTS).as_deref() == Some("3"),
                "{topic}: attempts"
            );
            ids.push(header_text(record, "ce_id").context("ce_id")?);
        }
        ids.sort();
        ensure!(
            ids == (0..n).map(|i| format!("o-{i}")).collect::<Vec<_>>(),
            "{topic}: {ids:?}"
        );
    }
    service.stop().await;
    ensure!(
        live.received().len() == n,
        "the live endpoint got {}",
        live.received().len()
    );
    drop(silent);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_buffer_answers_429_and_publishes_nothing() -> anyhow::Result<()> {
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("orders", 1)?;
    let bootstrap = kafka.bootstrap_servers();
    // Room for one record of this size at a time.
    let config = ingress(&bootstrap, "").replace(
        "[ingress.producer]\n",
        "[ingress.producer]\nmax_record_bytes = 1024\nmax_buffered_bytes = 1024\n",
    );
    let service = Service::start(&config).await;
    let client = reqwest::Client::new();
    let url = service.url("shop");
    let body = format!(r#"{{"pad": "{}"}}"#, "x".repeat(400));
    // Warm up the connection, then hold acknowledgements back.
    let (status, _) = post_signed(&client, &url, "warm", &body).await;
    ensure!(status == 202, "warm-up: {status}");
    kafka
        .cluster()
        .broker_round_trip_time(1, Duration::from_millis(1500))?;

    let slow = tokio::spawn({
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        async move { post_with_retry_after(&client, &url, "first", &body).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, retry_after) = post_with_retry_after(&client, &url, "second", &body).await?;
    ensure!(status == 429, "with the buffer full: {status}");
    ensure!(retry_after == Some(1), "Retry-After: {retry_after:?}");
    let (status, _) = slow.await??;
    ensure!(status == 202, "the first: {status}");

    kafka
        .cluster()
        .broker_round_trip_time(1, Duration::from_millis(0))?;
    let (status, _) = post_with_retry_after(&client, &url, "second", &body).await?;
    ensure!(status == 202, "the retry: {status}");
    service.stop().await;
    let records = read_topic(&bootstrap, "orders", 3)?;
    let ids: Vec<_> = records
        .iter()
        .filter_map(|r| header_text(r, "ce_id"))
        .collect();
    ensure!(ids == ["warm", "first", "second"], "{ids:?}");
    Ok(())
}
