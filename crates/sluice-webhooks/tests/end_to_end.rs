//! Ingress → Tansu (Kafka) → egress → a local receiver: every event
//! delivered once with a 2xx, in order per key, byte for byte; the
//! receiver's 500s, 429 with `Retry-After` and 400 measured from its side.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use common::{Received, Receiver, SECRET, Service, post_signed};
use serde_json::Value;
use sluice_core::dlq::headers as dlq;
use sluice_testkit::{Tansu, header_text, read_topic};
use sluice_webhooks::signature::{Secret, StandardHeaders, verify_standard};

const TOPIC: &str = "webhooks.orders";
const DLQ: &str = "webhooks.orders.dlq";
const KEYS: [&str; 3] = ["order-a", "order-b", "order-c"];
const PER_KEY: u64 = 10;

/// The receiver's script: `fail` in the body says how it misbehaves.
fn answer(body: &Value, before: usize) -> (u16, Vec<(&'static str, String)>) {
    match body["fail"].as_str() {
        Some("500") if before < 2 => (500, vec![]),
        Some("429") if before == 0 => (429, vec![("retry-after", "1".into())]),
        Some("400") => (400, vec![]),
        _ => (200, vec![]),
    }
}

/// The body of event `seq` of `key`: odd spacing and non-ASCII text, so a
/// re-serialized body would not match byte for byte.
fn body(key: &str, seq: u64) -> String {
    let fail = match (key, seq) {
        ("order-a", 3) => r#", "fail": "500""#,
        ("order-b", 5) => r#", "fail": "429""#,
        ("order-c", 7) => r#", "fail": "400""#,
        _ => "",
    };
    format!("{{ \"order\":\"{key}\",  \"seq\": {seq}, \"note\": \"ünï\\u00e7ødé ✓\"{fail} }}")
}

fn config(bootstrap: &str, receiver: &str) -> String {
    format!(
        r#"
[ingress]
listen = "127.0.0.1:0"
[ingress.producer]
source = "/shop"
[ingress.producer.kafka]
bootstrap_servers = "{bootstrap}"

[[ingress.source]]
name = "shop"
topic = "{TOPIC}"
event_type = "com.example.shop.order.v1"
secrets = ["{SECRET}"]
key_pointer = "/order"

[egress.kafka]
bootstrap_servers = "{bootstrap}"
[[egress.endpoint]]
name = "crm"
url = "{receiver}"
topics = ["{TOPIC}"]
secrets = ["{SECRET}"]
auto_offset_reset = "earliest"
"#
    )
}

fn seq_of(received: &Received) -> u64 {
    received.json()["seq"].as_u64().expect("a seq")
}

fn key_of(received: &Received) -> String {
    received.json()["order"]
        .as_str()
        .expect("an order")
        .to_owned()
}

/// The gaps between the requests with this webhook id, in seconds.
fn gaps(received: &[Received], id: &str) -> Vec<f64> {
    let times: Vec<_> = received
        .iter()
        .filter(|r| r.header("webhook-id") == Some(id))
        .map(|r| r.at)
        .collect();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_pass_through_kafka_once_each_in_key_order_with_the_retry_schedule()
-> anyhow::Result<()> {
    let tansu = Tansu::start().await?;
    let bootstrap = tansu.bootstrap_servers();
    sluice_testkit::create_topic(&bootstrap, TOPIC, 3).await?;
    sluice_testkit::create_topic(&bootstrap, DLQ, 1).await?;
    let receiver = Receiver::start(Box::new(answer)).await;
    let service = Service::start(&config(&bootstrap, &receiver.url())).await;
    let client = reqwest::Client::new();

    // Keys interleaved, each key's events in order, each POST answered
    // before the next.
    let mut sent = HashMap::new();
    for seq in 0..PER_KEY {
        for key in KEYS {
            let id = format!("msg_{key}_{seq}");
            let body = body(key, seq);
            let (status, reply) = post_signed(&client, &service.url("shop"), &id, &body).await;
            ensure!(status == 202, "{id}: {status} {reply}");
            ensure!(reply["id"] == id.as_str(), "{reply}");
            ensure!(reply["topic"] == TOPIC, "{reply}");
            ensure!(reply["offset"].is_i64(), "{reply}");
            sent.insert(id, body);
        }
    }
    // A sender's retry of a request that was answered: 202, nothing new.
    let (status, reply) = post_signed(
        &client,
        &service.url("shop"),
        "msg_order-a_0",
        &body("order-a", 0),
    )
    .await;
    ensure!(
        status == 202 && reply["duplicate"] == true,
        "{status} {reply}"
    );

    let total = KEYS.len() * PER_KEY as usize;
    let refused = "msg_order-c_7";
    receiver
        .wait_for(
            "a 2xx for every accepted event",
            Duration::from_secs(90),
            |all| {
                let ok: std::collections::HashSet<_> = all
                    .iter()
                    .filter(|r| r.status == 200)
                    .filter_map(|r| r.header("webhook-id"))
                    .collect();
                ok.len() == total - 1 && all.iter().any(|r| r.header("webhook-id") == Some(refused))
            },
        )
        .await;
    let dead = read_topic(&bootstrap, DLQ, 1)?;
    service.stop().await;
    let received = receiver.received();

    // Once each with a 2xx, byte for byte, signed so the receiver verifies.
    let secret = Secret::standard(SECRET)?;
    let mut ok = BTreeMap::new();
    for r in &received {
        let id = r.header("webhook-id").context("a webhook-id")?;
        let headers = StandardHeaders {
            id: Some(id),
            timestamp: r.header("webhook-timestamp"),
            signature: r.header("webhook-signature"),
        };
        let now = std::time::SystemTime::now();
        verify_standard(
            std::slice::from_ref(&secret),
            headers,
            &r.body,
            now,
            Duration::from_secs(300),
        )
        .with_context(|| format!("the signature of {id}"))?;
        ensure!(
            r.header("content-type") == Some("application/json"),
            "{:?}",
            r.headers
        );
        ensure!(
            r.header("ce-id") == Some(id),
            "ce-id of {id}: {:?}",
            r.headers
        );
        ensure!(r.header("ce-type") == Some("com.example.shop.order.v1"));
        let body = sent
            .get(id)
            .with_context(|| format!("{id} was never sent"))?;
        ensure!(
            r.body == body.as_bytes(),
            "{id}: body changed to {:?}",
            String::from_utf8_lossy(&r.body)
        );
        if r.status == 200 {
            ensure!(
                ok.insert(id.to_owned(), ()).is_none(),
                "{id} delivered twice with a 2xx"
            );
        }
    }
    ensure!(
        ok.len() == total - 1,
        "{} of {} delivered",
        ok.len(),
        total - 1
    );
    ensure!(!ok.contains_key(refused), "the refused event was delivered");

    // Per key, requests arrive in sequence order: a retry holds back the
    // key's later events, and no other key's.
    for key in KEYS {
        let seqs: Vec<u64> = received
            .iter()
            .filter(|r| key_of(r) == key)
            .map(seq_of)
            .collect();
        ensure!(seqs.is_sorted(), "order of {key}: {seqs:?}");
        ensure!(
            seqs.first() == Some(&0) && seqs.last() == Some(&(PER_KEY - 1)),
            "{key}: {seqs:?}"
        );
    }

    // 500 twice: retried after 1 s, then 2 s.
    let failing = gaps(&received, "msg_order-a_3");
    ensure!(failing.len() == 2, "500 twice then 200: {failing:?}");
    ensure!(
        (0.9..1.8).contains(&failing[0]),
        "first retry after {:.2} s",
        failing[0]
    );
    ensure!(
        (1.9..3.0).contains(&failing[1]),
        "second retry after {:.2} s",
        failing[1]
    );
    // 429 with Retry-After: 1.
    let throttled = gaps(&received, "msg_order-b_5");
    ensure!(throttled.len() == 1, "429 once then 200: {throttled:?}");
    ensure!(
        (0.9..1.8).contains(&throttled[0]),
        "retry after {:.2} s",
        throttled[0]
    );
    // 400: never retried, dead-lettered with the status.
    ensure!(gaps(&received, refused).is_empty(), "a 400 was retried");
    let dead = &dead[0];
    ensure!(header_text(dead, "ce_id").as_deref() == Some(refused));
    ensure!(header_text(dead, dlq::ERROR_CLASS).as_deref() == Some("http_refused"));
    let message = header_text(dead, dlq::ERROR_MESSAGE).unwrap_or_default();
    ensure!(
        message == "HTTP 400: {}",
        "the status and the body's start: {message}"
    );

    // Kafka holds each accepted request once: the replay published nothing.
    let records = read_topic(&bootstrap, TOPIC, total)?;
    ensure!(records.len() == total);
    Ok(())
}
