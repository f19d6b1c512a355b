//! Against independent implementations: requests signed by the Standard
//! Webhooks reference library (Python `standardwebhooks`) and GitHub-style
//! ones by Python's `hmac`, refusals with their statuses, and egress
//! requests the reference library verifies. On librdkafka's mock cluster.

mod common;

use std::time::Duration;

use anyhow::{Context as _, ensure};
use common::{Receiver, SECRET, Service, now_secs, post, python};
use serde_json::{Value, json};
use sluice_testkit::{MockKafka, header_text, read_topic};

/// A second Standard Webhooks secret: the one being rotated to.
const NEXT_SECRET: &str = "whsec_c2VjcmV0LW51bWJlci10d28=";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

fn ingress_config(bootstrap: &str) -> String {
    format!(
        r#"
[ingress]
listen = "127.0.0.1:0"
max_body_bytes = 4096
[ingress.producer]
source = "/interop"
[ingress.producer.kafka]
bootstrap_servers = "{bootstrap}"

[[ingress.source]]
name = "billing"
topic = "billing"
event_type = "com.example.billing.v1"
secrets = ["{SECRET}", "{NEXT_SECRET}"]

[[ingress.source]]
name = "github"
topic = "github"
scheme = "github"
event_type = "com.github.push"
secrets = ["{GITHUB_SECRET}"]

[[ingress.source]]
name = "mail"
topic = "mail"
schema_event_type = "email.received.v1"
key_pointer = "/emailId"
secrets = ["{SECRET}"]
"#
    )
}

fn standard_headers(id: &str, timestamp: i64, signature: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("webhook-id", id.into()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature.into()),
    ]
}

fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Value {
    json!({"sign": {"secret": secret, "id": id, "timestamp": timestamp, "body": body}})
}

async fn mock_with_topics(topics: &[&str]) -> anyhow::Result<MockKafka> {
    let kafka = MockKafka::start(1)?;
    for topic in topics {
        kafka.create_topic(topic, 1)?;
    }
    Ok(kafka)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_library_signs_what_the_ingress_accepts_and_refuses() -> anyhow::Result<()> {
    let kafka = mock_with_topics(&["billing", "github", "mail"]).await?;
    let bootstrap = kafka.bootstrap_servers();
    let service = Service::start(&ingress_config(&bootstrap)).await;
    let client = reqwest::Client::new();
    let url = service.url("billing");
    let now = now_secs();
    let body = r#"{"invoice": "in_1", "amount": 4200, "memo": "Grüße"}"#;
    let other = r#"{"invoice": "in_2", "amount": 1}"#;

    let jobs = json!([
        sign(SECRET, "msg_1", now, body),
        sign(NEXT_SECRET, "msg_2", now, other),
        sign(
            "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==",
            "msg_3",
            now,
            body
        ),
        sign(SECRET, "msg_4", now - 600, body),
        sign(SECRET, "msg_5", now + 600, body),
        sign(SECRET, "msg_6", now, body),
    ]);
    let signatures: Vec<String> = python(&jobs)
        .iter()
        .map(|r| r["signature"].as_str().unwrap().to_owned())
        .collect();

    // Signed with the current secret, and with the one being rotated to.
    let mut traced = standard_headers("msg_1", now, &signatures[0]);
    traced.push(("traceparent", TRACEPARENT.into()));
    let (status, reply) = post(&client, &url, &traced, body).await;
    ensure!(status == 202 && reply["id"] == "msg_1", "{status} {reply}");
    let (status, reply) = post(
        &client,
        &url,
        &standard_headers("msg_2", now, &signatures[1]),
        other,
    )
    .await;
    ensure!(status == 202 && reply["id"] == "msg_2", "{status} {reply}");
    // The same request again: 202, nothing published.
    let (status, reply) = post(
        &client,
        &url,
        &standard_headers("msg_1", now, &signatures[0]),
        body,
    )
    .await;
    ensure!(
        status == 202 && reply["duplicate"] == true,
        "replay: {status} {reply}"
    );

    let refusals = [
        (
            "a wrong secret",
            standard_headers("msg_3", now, &signatures[2]),
            body,
            401,
        ),
        (
            "a stale timestamp",
            standard_headers("msg_4", now - 600, &signatures[3]),
            body,
            401,
        ),
        (
            "a future timestamp",
            standard_headers("msg_5", now + 600, &signatures[4]),
            body,
            401,
        ),
        (
            "a tampered body",
            standard_headers("msg_6", now, &signatures[5]),
            other,
            401,
        ),
        (
            "a tampered id",
            standard_headers("msg_7", now, &signatures[5]),
            body,
            401,
        ),
        (
            "a tampered timestamp",
            standard_headers("msg_6", now - 1, &signatures[5]),
            body,
            401,
        ),
        (
            "no signature",
            standard_headers("msg_6", now, "")[..3].to_vec(),
            body,
            401,
        ),
    ];
    for (what, headers, body, expected) in refusals {
        let (status, reply) = post(&client, &url, &headers, body).await;
        ensure!(status == expected, "{what}: {status} {reply}");
        ensure!(
            reply["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {reply}"
        );
    }

    // The refusals that come before the signature is looked at.
    let signed = standard_headers("msg_6", now, &signatures[5]);
    let mut text = signed.clone();
    text[0].1 = "text/plain".into();
    let (status, _) = post(&client, &url, &text, body).await;
    ensure!(status == 415, "text/plain: {status}");
    let (status, _) = post(&client, &url, &signed, "x".repeat(5000)).await;
    ensure!(status == 413, "over max_body_bytes: {status}");
    let (status, _) = post(&client, &service.url("nobody"), &signed, body).await;
    ensure!(status == 404, "an unknown source: {status}");
    let response = client.get(&url).send().await?;
    ensure!(response.status() == 405, "GET: {}", response.status());

    // Signed, but not JSON.
    let broken = "{\"invoice\": ";
    let [signature] = &python(&json!([sign(SECRET, "msg_8", now, broken)]))[..] else {
        anyhow::bail!("one signature");
    };
    let headers = standard_headers("msg_8", now, signature["signature"].as_str().unwrap());
    let (status, reply) = post(&client, &url, &headers, broken).await;
    ensure!(status == 400, "malformed JSON: {status} {reply}");

    // Kafka holds exactly the two accepted bodies, as sent.
    let records = read_topic(&bootstrap, "billing", 2)?;
    let mut values: Vec<_> = records
        .iter()
        .map(|r| {
            (
                header_text(r, "ce_id").unwrap_or_default(),
                rdkafka::Message::payload(r).unwrap_or_default().to_vec(),
            )
        })
        .collect();
    values.sort();
    ensure!(
        values
            == [
                ("msg_1".into(), body.as_bytes().to_vec()),
                ("msg_2".into(), other.as_bytes().to_vec())
            ]
    );
    let first = records
        .iter()
        .find(|r| header_text(r, "ce_id").as_deref() == Some("msg_1"))
        .context("msg_1")?;
    ensure!(
        header_text(first, "traceparent").as_deref() == Some(TRACEPARENT),
        "the sender's trace"
    );
    ensure!(header_text(&records[0], "ce_source").as_deref() == Some("/webhooks/billing"));
    ensure!(header_text(&records[0], "ce_type").as_deref() == Some("com.example.billing.v1"));
    service.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_style_signatures_and_typed_sources() -> anyhow::Result<()> {
    let kafka = mock_with_topics(&["billing", "github", "mail"]).await?;
    let bootstrap = kafka.bootstrap_servers();
    let service = Service::start(&ingress_config(&bootstrap)).await;
    let client = reqwest::Client::new();

    // GitHub's own example (its docs on validating deliveries), then a
    // push body signed by Python's hmac.
    let push = r#"{"ref":"refs/heads/main","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}"#;
    let results = python(&json!([
        {"github": {"secret": GITHUB_SECRET, "body": "Hello, World!"}},
        {"github": {"secret": GITHUB_SECRET, "body": push}},
    ]));
    ensure!(
        results[0]["signature"]
            == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "{results:?}"
    );
    let signature = results[1]["signature"].as_str().context("a signature")?;
    let github = |signature: &str, delivery: &str| {
        vec![
            ("content-type", "application/json".to_owned()),
            ("x-hub-signature-256", signature.to_owned()),
            ("x-github-delivery", delivery.to_owned()),
            ("x-github-event", "push".to_owned()),
        ]
    };
    let url = service.url("github");
    let (status, reply) = post(&client, &url, &github(signature, "d-1"), push).await;
    ensure!(status == 202 && reply["id"] == "d-1", "{status} {reply}");
    let (status, reply) = post(&client, &url, &github(signature, "d-1"), push).await;
    ensure!(
        status == 202 && reply["duplicate"] == true,
        "redelivery: {status} {reply}"
    );
    let wrong = format!("sha256={}", "0".repeat(64));
    let (status, _) = post(&client, &url, &github(&wrong, "d-2"), push).await;
    ensure!(status == 401, "a wrong HMAC: {status}");
    let (status, _) = post(&client, &url, &github(signature, "d-3"), &push[1..]).await;
    ensure!(status == 401, "a tampered body: {status}");
    let (status, _) = post(&client, &url, &github(signature, "d-4")[..1], push).await;
    ensure!(status == 401, "no signature: {status}");
    let (status, reply) = post(&client, &url, &github(signature, "d-5")[..2], push).await;
    ensure!(status == 401, "no delivery id: {status} {reply}");
    ensure!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("x-github-delivery")),
        "{reply}"
    );
    let record = &read_topic(&bootstrap, "github", 1)?[0];
    ensure!(rdkafka::Message::payload(record) == Some(push.as_bytes()));

    // A typed source: JSON encoded with the registry's schema, keyed by a
    // field; a body that is not an EmailReceived names the field at fault.
    let url = service.url("mail");
    let now = now_secs();
    let good = r#"{"emailId": "e-42", "mailboxId": "m-1", "sizeBytes": "512"}"#;
    let bad = r#"{"emailId": "e-43", "sizeBytes": "not a number"}"#;
    let unkeyed = r#"{"mailboxId": "m-1"}"#;
    let signed = python(&json!([
        sign(SECRET, "mail-1", now, good),
        sign(SECRET, "mail-2", now, bad),
        sign(SECRET, "mail-3", now, unkeyed),
    ]));
    let headers =
        |id: &str, i: usize| standard_headers(id, now, signed[i]["signature"].as_str().unwrap());
    let (status, reply) = post(&client, &url, &headers("mail-1", 0), good).await;
    ensure!(status == 202, "{status} {reply}");
    let (status, reply) = post(&client, &url, &headers("mail-2", 1), bad).await;
    ensure!(status == 400, "{status} {reply}");
    ensure!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("sizeBytes")),
        "the field at fault: {reply}"
    );
    let (status, reply) = post(&client, &url, &headers("mail-3", 2), unkeyed).await;
    ensure!(status == 400, "no key: {status} {reply}");
    ensure!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("/emailId")),
        "{reply}"
    );

    let record = &read_topic(&bootstrap, "mail", 1)?[0];
    ensure!(rdkafka::Message::key(record) == Some(b"e-42".as_slice()));
    let decoder = sluice_core::Decoder::new(sluice_events::registry());
    let (event, _) =
        sluice_testkit::decode_message::<sluice_events::proto::EmailReceived, _>(&decoder, record)
            .context("a typed EmailReceived")?;
    ensure!(
        event.email_id == "e-42" && event.size_bytes == 512,
        "{event:?}"
    );
    service.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_library_verifies_egress_requests() -> anyhow::Result<()> {
    let kafka = mock_with_topics(&["billing", "billing.dlq", "github", "mail"]).await?;
    let bootstrap = kafka.bootstrap_servers();
    let receiver = Receiver::start(Box::new(|_, _| (204, vec![]))).await;
    let toml = format!(
        "{}\n[egress.kafka]\nbootstrap_servers = \"{bootstrap}\"\n[[egress.endpoint]]\nname = \"ledger\"\nurl = \"{}\"\ntopics = [\"billing\"]\nsecrets = [\"{SECRET}\", \"{NEXT_SECRET}\"]\nauto_offset_reset = \"earliest\"\n",
        ingress_config(&bootstrap),
        receiver.url()
    );
    let service = Service::start(&toml).await;
    let client = reqwest::Client::new();
    let n = 5;
    let now = now_secs();
    let bodies: Vec<String> = (0..n)
        .map(|i| format!("{{\"invoice\": \"in_{i}\", \"note\": \"ł\u{2028}\"}}"))
        .collect();
    let jobs: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| sign(SECRET, &format!("evt_{i}"), now, b))
        .collect();
    let signatures = python(&Value::Array(jobs));
    for (i, body) in bodies.iter().enumerate() {
        let headers = standard_headers(
            &format!("evt_{i}"),
            now,
            signatures[i]["signature"].as_str().unwrap(),
        );
        let (status, reply) = post(&client, &service.url("billing"), &headers, body.clone()).await;
        ensure!(status == 202, "{status} {reply}");
    }
    receiver
        .wait_for("every delivery", Duration::from_secs(30), |r| r.len() >= n)
        .await;
    service.stop().await;
    let received = receiver.received();
    ensure!(received.len() == n, "{} deliveries", received.len());

    // Each request verifies with either secret (one signature each), and
    // fails once its body is changed: the check can fail.
    let mut jobs = Vec::new();
    for r in &received {
        let headers: serde_json::Map<String, Value> = r
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), Value::from(v.as_str())))
            .collect();
        let body = String::from_utf8(r.body.clone())?;
        ensure!(bodies.contains(&body), "the body as sent: {body}");
        ensure!(
            r.header("webhook-id")
                .is_some_and(|id| id.starts_with("evt_")),
            "{:?}",
            r.headers
        );
        for secret in [SECRET, NEXT_SECRET] {
            jobs.push(json!({"verify": {"secret": secret, "headers": headers, "body": body}}));
        }
        jobs.push(
            json!({"verify": {"secret": SECRET, "headers": headers, "body": format!("{body} ")}}),
        );
    }
    let results = python(&Value::Array(jobs));
    for (i, result) in results.iter().enumerate() {
        if i % 3 == 2 {
            ensure!(
                result["error"].is_string(),
                "a changed body verified: {result}"
            );
        } else {
            ensure!(result["ok"] == true, "request {}: {result}", i / 3);
        }
    }
    Ok(())
}
