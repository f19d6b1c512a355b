//! The sender of `docs/webhooks.md`, as written: its shell blocks, run
//! with bash, curl and openssl against the ingress, must be accepted.

mod common;

use anyhow::{Context as _, ensure};
use common::{SECRET, Service};
use serde_json::Value;
use sluice_testkit::{MockKafka, header_text, read_topic};

/// The `sh` blocks of the section "A sender, in curl".
fn sender_blocks() -> anyhow::Result<String> {
    let doc = include_str!("../../../docs/webhooks.md");
    let section = doc
        .split("### A sender, in curl")
        .nth(1)
        .context("the section")?;
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut script = String::from("set -euo pipefail\n");
    for block in section.split("```sh\n").skip(1) {
        script.push_str(block.split("```").next().context("a closed block")?);
        script.push_str("echo\n");
    }
    Ok(script)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_curl_sender_is_accepted() -> anyhow::Result<()> {
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("webhooks.billing", 3)?;
    kafka.create_topic("webhooks.github", 1)?;
    let bootstrap = kafka.bootstrap_servers();
    let service = Service::start(&format!(
        r#"
[ingress]
listen = "127.0.0.1:0"
[ingress.producer]
[ingress.producer.kafka]
bootstrap_servers = "{bootstrap}"
[[ingress.source]]
name = "billing"
topic = "webhooks.billing"
event_type = "com.example.billing.v1"
secrets = ["{SECRET}"]
key_pointer = "/customer/id"
[[ingress.source]]
name = "github"
topic = "webhooks.github"
scheme = "github"
event_type = "com.github.event"
secrets = ["{SECRET}"]
"#
    ))
    .await;
    let script = sender_blocks()?.replace(
        "http://localhost:8000",
        &format!("http://{}", service.ingress_addr.context("an address")?),
    );
    ensure!(
        script.matches("curl ").count() == 2,
        "two senders in {script}"
    );
    // Blocking one worker; the ingress runs on the other.
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()?;
    ensure!(
        output.status.success(),
        "the documented sender failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replies: Vec<Value> = String::from_utf8(output.stdout)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(replies.len() == 2, "{replies:?}");
    ensure!(replies[0]["topic"] == "webhooks.billing", "{}", replies[0]);
    ensure!(replies[1]["topic"] == "webhooks.github", "{}", replies[1]);
    service.stop().await;

    let billing = &read_topic(&bootstrap, "webhooks.billing", 1)?[0];
    ensure!(rdkafka::Message::key(billing) == Some(b"c-7".as_slice()));
    ensure!(header_text(billing, "ce_id").as_deref() == replies[0]["id"].as_str());
    let github = &read_topic(&bootstrap, "webhooks.github", 1)?[0];
    ensure!(
        header_text(github, "ce_id").is_some_and(|id| id.starts_with("delivery-msg_")),
        "the delivery id"
    );
    Ok(())
}
