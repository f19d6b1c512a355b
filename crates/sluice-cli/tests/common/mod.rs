//! What the CLI's test suites share: running the binary, and the events
//! and consumers they read and write.
#![allow(dead_code, unreachable_pub)]

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::Value;
use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Context, Handler, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;
use sluice_producer::ProducerConfig;
use sluice_testkit::sequenced;

pub const REGISTRY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry/manifest.toml");

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn command(brokers: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args(["--brokers", brokers, "--registry", REGISTRY])
        .args(args)
        .stdin(Stdio::null());
    command
}

pub fn sluice(brokers: &str, args: &[&str]) -> anyhow::Result<Run> {
    let output = command(brokers, args).output()?;
    Ok(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs and expects exit code 0.
pub fn ok(brokers: &str, args: &[&str]) -> anyhow::Result<String> {
    let run = sluice(brokers, args)?;
    ensure!(
        run.code == 0,
        "sluice {args:?} exited {}: {}{}",
        run.code,
        run.stdout,
        run.stderr
    );
    Ok(run.stdout)
}

pub fn json_lines(text: &str) -> anyhow::Result<Vec<Value>> {
    text.lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect()
}

pub fn event(sequence: u64) -> EmailReceived {
    sequenced::event(sequence, &sequenced::key(sequence, 7))
}

/// Sends events `range` to `topic` over 7 keys and waits for every delivery.
pub async fn produce(
    bootstrap: &str,
    topic: &str,
    range: std::ops::Range<u64>,
) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new(KafkaConfig::new(bootstrap));
    config.source = "/tests/cli".into();
    sequenced::produce(config, topic, range, 7)
        .await
        .map_err(anyhow::Error::from_boxed)
}

/// Fails the events whose sequence `fail` picks, so they are dead-lettered.
pub struct Reject(fn(u64) -> bool);

impl Handler<EmailReceived> for Reject {
    async fn handle(&self, event: EmailReceived, _ctx: &Context) -> Result<(), HandlerError> {
        let sequence = sequenced::sequence(&event);
        if (self.0)(sequence) {
            Err(HandlerError::permanent(format!("rejected {sequence}")))
        } else {
            Ok(())
        }
    }
}

/// Runs the consumer runtime over `topic` until it committed everything.
pub async fn consume(bootstrap: &str, topic: &str, fail: fn(u64) -> bool) -> anyhow::Result<()> {
    let mut config = ConsumerConfig::new(KafkaConfig::new(bootstrap), "cli-tests", [topic]);
    config.commit_interval_ms = 100;
    let handlers =
        Handlers::new(sluice_events::registry().clone()).on::<EmailReceived, _>(Reject(fail));
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    sluice_testkit::run_until_caught_up(consumer, Duration::from_secs(60)).await?;
    Ok(())
}
