//! The shipped binary killed (SIGKILL): while requests are in flight, every
//! request answered 202 is in Kafka and none answered with an error is;
//! while a delivery waits for its retry, the next instance delivers it and
//! the records behind it, in order, once each.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use common::{Receiver, post_signed, spawn_binary, try_post_signed, wait_ready};
use rdkafka::consumer::Consumer as _;
use sluice_testkit::{MockKafka, Tansu, free_port, header_text, read_topic, reader_from_start};

const TOPIC: &str = "webhooks.kill";
const SENDERS: usize = 8;

#[derive(Debug)]
enum Outcome {
    Accepted,
    Refused(u16),
    NoAnswer,
}

/// Every `ce_id` in the topic, read until a few seconds of quiet.
fn ids_in(bootstrap: &str) -> anyhow::Result<HashMap<String, usize>> {
    let consumer = reader_from_start(bootstrap, TOPIC)?;
    let mut ids = HashMap::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?.detach();
            let id = header_text(&message, "ce_id").context("a ce_id")?;
            *ids.entry(id).or_insert(0) += 1;
            quiet_since = Instant::now();
        }
    }
    consumer.unassign()?;
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_202_is_in_kafka_after_a_sigkill() -> anyhow::Result<()> {
    let tansu = Tansu::start().await?;
    let bootstrap = tansu.bootstrap_servers();
    sluice_testkit::create_topic(&bootstrap, TOPIC, 3).await?;
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
source = "/kill"
linger_ms = 20
[ingress.producer.kafka]
bootstrap_servers = "{bootstrap}"
[[ingress.source]]
name = "shop"
topic = "{TOPIC}"
event_type = "com.example.shop.order.v1"
secrets = ["env:SHOP_SECRET"]
key_pointer = "/order"
"#
        ),
    )?;
    let log = dir.path().join("log");
    let mut child = spawn_binary(&config, &log);
    wait_ready(&mut child, http_port, &log).await;

    // Senders post without pause until the service is gone.
    let url = format!("http://127.0.0.1:{ingress_port}/webhooks/shop");
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (url, accepted) = (url.clone(), Arc::clone(&accepted));
        senders.spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let mut outcomes = Vec::new();
            for i in 0.. {
                let id = format!("kill-{sender}-{i}");
                let body = format!(r#"{{"order": "o{}", "i": {i}}}"#, i % 5);
                // Every tenth unsigned: refused with 401.
                let signed = i % 10 != 9;
                let outcome = match try_post_signed(&client, &url, &id, &body, signed).await {
                    Ok((202, _)) => Outcome::Accepted,
                    Ok((status, _)) => Outcome::Refused(status),
                    Err(_) => Outcome::NoAnswer,
                };
                let stop = matches!(outcome, Outcome::NoAnswer);
                if matches!(outcome, Outcome::Accepted) {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                outcomes.push((id, outcome));
                if stop {
                    break;
                }
            }
            outcomes
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.load(Ordering::Relaxed) < 300 {
        ensure!(
            Instant::now() < deadline,
            "only {} accepted",
            accepted.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill()?;
    child.wait()?;
    let mut outcomes = Vec::new();
    while let Some(result) = senders.join_next().await {
        outcomes.extend(result?);
    }

    let ids = ids_in(&bootstrap)?;
    let mut answered = HashSet::new();
    let mut unanswered = 0;
    for (id, outcome) in &outcomes {
        match outcome {
            Outcome::Accepted => {
                ensure!(
                    ids.get(id) == Some(&1),
                    "{id} got a 202; in Kafka {:?} times",
                    ids.get(id)
                );
                answered.insert(id.clone());
            }
            Outcome::Refused(status) => {
                ensure!(!ids.contains_key(id), "{id} got {status} yet is in Kafka");
            }
            Outcome::NoAnswer => unanswered += 1,
        }
    }
    ensure!(unanswered <= SENDERS, "{unanswered} requests unanswered");
    let refused = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Refused(_)))
        .count();
    ensure!(refused > 0, "no request was refused");
    println!(
        "{} accepted, {refused} refused, {unanswered} unanswered, {} records",
        answered.len(),
        ids.values().sum::<usize>()
    );
    // What is in Kafka beyond the 202s: only requests cut off unanswered.
    let extra = ids.keys().filter(|id| !answered.contains(*id)).count();
    ensure!(
        extra <= unanswered,
        "{extra} records without a 202, {unanswered} unanswered requests"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_mid_retry_is_made_by_the_next_instance() -> anyhow::Result<()> {
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("orders", 1)?;
    kafka.create_topic("orders.dlq", 1)?;
    let bootstrap = kafka.bootstrap_servers();
    // 500 until the endpoint is fixed, then 200.
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let receiver = Receiver::start(Box::new({
        let fixed = Arc::clone(&fixed);
        move |_, _| {
            (
                if fixed.load(Ordering::SeqCst) {
                    200
                } else {
                    500
                },
                vec![],
            )
        }
    }))
    .await;
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
key_pointer = "/order"

[egress.kafka]
bootstrap_servers = "{bootstrap}"
[egress.kafka.properties]
"fetch.wait.max.ms" = "10"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
[[egress.endpoint]]
name = "crm"
url = "{}"
topics = ["orders"]
secrets = ["env:CRM_SECRET"]
auto_offset_reset = "earliest"
retry_schedule_ms = [60000]
"#,
            receiver.url()
        ),
    )?;
    let log = dir.path().join("log");
    let mut first = spawn_binary(&config, &log);
    wait_ready(&mut first, http_port, &log).await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{ingress_port}/webhooks/shop");
    let ids = ["o-0", "o-1", "o-2"];
    for id in ids {
        let (status, reply) = post_signed(&client, &url, id, r#"{"order": "o"}"#).await;
        ensure!(status == 202, "{status} {reply}");
    }
    // The first record failed once and waits a minute for its retry; the
    // others, of the same key, wait behind it.
    receiver
        .wait_for("the first attempt", Duration::from_secs(20), |r| {
            !r.is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = first.kill();
    first.wait()?;
    let attempts = receiver.received();
    ensure!(
        attempts.len() == 1 && attempts[0].header("webhook-id") == Some("o-0"),
        "before the kill: {:?}",
        attempts
            .iter()
            .map(|r| r.header("webhook-id"))
            .collect::<Vec<_>>()
    );

    fixed.store(true, Ordering::SeqCst);
    let log = dir.path().join("log.2");
    let mut second = spawn_binary(&config, &log);
    receiver
        .wait_for("three deliveries", Duration::from_secs(60), |r| {
            r.iter().filter(|r| r.status == 200).count() >= 3
        })
        .await;
    let _ = second.kill();
    second.wait()?;
    let delivered: Vec<_> = receiver
        .received()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.header("webhook-id").map(str::to_owned))
        .collect();
    ensure!(delivered == ids, "delivered {delivered:?}");
    // Nothing was dead-lettered: the record was never given up.
    read_topic(&bootstrap, "orders.dlq", 0)?;
    Ok(())
}
