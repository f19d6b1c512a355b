//! Partial failures, throttling and batching efficiency, with a
//! fault-injecting proxy between the AWS SDK and moto.

mod common;

use std::collections::HashSet;

use anyhow::ensure;
use aws_config::retry::RetryConfig;
use common::proxy::{Faults, Proxy};
use common::{Env, Running, config, sequence_of};
use serde_json::Value;

/// The SDK's own retries off, so that every throttled call reaches the
/// bridge.
fn sdk_without_retries(endpoint: &str) -> aws_config::SdkConfig {
    sluice_testkit::sdk_config_for(endpoint)
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .build()
}

/// Every entry reached moto once: each call carried it once, plus once per
/// injected failure and once per throttled call that carried it.
fn assert_only_failed_entries_resent(proxy: &Proxy, n: usize) -> anyhow::Result<(usize, usize)> {
    let record = proxy.record();
    let failed: HashSet<&String> = record.failed.iter().collect();
    let mut throttled_in = std::collections::HashMap::<&String, usize>::new();
    for call in &record.throttled_calls {
        for id in call {
            *throttled_in.entry(id).or_default() += 1;
        }
    }
    ensure!(
        record.sightings.len() == n,
        "{} distinct entries",
        record.sightings.len()
    );
    for (id, sightings) in &record.sightings {
        let expected =
            1 + usize::from(failed.contains(id)) + throttled_in.get(id).copied().unwrap_or(0);
        ensure!(
            *sightings == expected,
            "an entry was sent {sightings} times, expected {expected}"
        );
    }
    let forwarded: Vec<&String> = record.forwarded_calls.iter().flatten().collect();
    let unique: HashSet<&&String> = forwarded.iter().collect();
    ensure!(
        forwarded.len() == n && unique.len() == n,
        "moto received {} entries ({} distinct), expected {n} once each",
        forwarded.len(),
        unique.len()
    );
    Ok((record.failed.len(), record.throttled_calls.len()))
}

/// Bridges events `0..n` of a fresh topic with `route` through a proxy
/// injecting `faults`, reads them from `queue` (where `event_of` finds the
/// event in a message body), and checks that only failed entries were sent
/// again and every event arrived once.
async fn bridge_through_faults(
    env: &Env,
    topic: &str,
    route: &str,
    queue: &str,
    n: u64,
    faults: Faults,
    event_of: fn(&Value) -> &Value,
) -> anyhow::Result<()> {
    common::produce(&env.bootstrap(), topic, 0..n, 50).await?;
    let proxy = Proxy::start(env.moto.endpoint_url(), faults).await?;
    let bridge = Running::start(
        config(env, &proxy.url(), route)?,
        sdk_without_retries(&proxy.url()),
    )
    .await?;
    let messages = env.receive(queue, n as usize).await?;
    bridge.wait_caught_up().await?;
    bridge.stop().await?;

    let (failed, throttled) = assert_only_failed_entries_resent(&proxy, n as usize)?;
    ensure!(
        failed >= 20 && throttled >= 5,
        "faults injected: {failed} entries, {throttled} calls"
    );
    let mut sequences: Vec<u64> = messages
        .iter()
        .map(|m| {
            let body: Value = serde_json::from_str(m.body().unwrap_or("{}"))?;
            sequence_of(event_of(&body))
        })
        .collect::<anyhow::Result<_>>()?;
    sequences.sort_unstable();
    ensure!(sequences == (0..n).collect::<Vec<_>>(), "each event once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqs_partial_failures_and_throttling_resend_only_failed_entries() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let topic = "email.received";
    env.topics(topic, 3).await?;
    let queue = env.queue("emails", &[]).await?;
    let route = format!(
        "[[route]]\nname = \"queue\"\ntopics = [\"{topic}\"]\nsqs = {{ queue_url = \"{queue}\" }}\n"
    );
    let faults = Faults {
        throttle_every: 7,
        fail_every: 13,
    };
    bridge_through_faults(&env, topic, &route, &queue, 500, faults, |body| body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eventbridge_partial_failures_and_throttling_resend_only_failed_entries()
-> anyhow::Result<()> {
    let env = Env::start().await?;
    let topic = "email.received";
    env.topics(topic, 3).await?;
    let queue = env.rule_to_queue("default", "bus-target").await?;
    let route = format!(
        "[[route]]\nname = \"bus\"\ntopics = [\"{topic}\"]\neventbridge = {{ event_bus = \"default\" }}\n"
    );
    let faults = Faults {
        throttle_every: 5,
        fail_every: 11,
    };
    bridge_through_faults(&env, topic, &route, &queue, 400, faults, |body| {
        &body["detail"]["data"]
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn steady_load_fills_batches() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let topic = "email.received";
    env.topics(topic, 4).await?;
    let queue = env.queue("emails", &[]).await?;
    // moto takes about 0.2 s per call: enough entries for a steady backlog,
    // few enough to finish in seconds.
    let n = 1500;
    common::produce(&env.bootstrap(), topic, 0..n, 500).await?;
    let proxy = Proxy::start(env.moto.endpoint_url(), Faults::default()).await?;
    let bridge = Running::start(
        config(
            &env,
            &proxy.url(),
            &format!("[[route]]\nname = \"queue\"\ntopics = [\"{topic}\"]\nsqs = {{ queue_url = \"{queue}\" }}\n"),
        )?,
        sluice_testkit::sdk_config_for(&proxy.url()),
    )
    .await?;
    env.wait_for_depth(&queue, n as usize).await?;
    bridge.wait_caught_up().await?;
    bridge.stop().await?;

    let record = proxy.record();
    let calls = record.forwarded_calls.len();
    let entries: usize = record.forwarded_calls.iter().map(Vec::len).sum();
    ensure!(entries == n as usize, "{entries} entries sent");
    let per_call = entries as f64 / calls as f64;
    println!("{entries} entries in {calls} SendMessageBatch calls: {per_call:.2} per call");
    ensure!(per_call >= 9.5, "{per_call:.2} entries per call");
    let full = record
        .forwarded_calls
        .iter()
        .filter(|c| c.len() == 10)
        .count();
    ensure!(full > 0, "no full batch");
    Ok(())
}
