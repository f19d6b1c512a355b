//! Shared by the bridge's integration tests: Tansu for Kafka, moto for AWS,
//! sequenced events, and reading results back from SQS and Kafka.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod proxy;

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use aws_config::SdkConfig;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use rdkafka::Message as _;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_bridge::{Bridge, BridgeConfig};
use sluice_core::Event;
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig};
use sluice_testkit::{Moto, Tansu, create_topic, sequenced};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SOURCE: &str = "sluice.tests";

/// Kafka (Tansu) and AWS (moto), both on free ports.
///
/// moto's SQS gets slower as a queue fills (each send walks every message
/// in the queue), so tests read queues while the bridge writes to them, or
/// keep them small.
pub struct Env {
    pub tansu: Tansu,
    pub moto: Moto,
}

impl Env {
    pub async fn start() -> anyhow::Result<Self> {
        let tansu = Tansu::start().await?;
        let moto = Moto::start().await?;
        Ok(Self { tansu, moto })
    }

    pub fn bootstrap(&self) -> String {
        self.tansu.bootstrap_servers()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.moto.sdk_config())
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.moto.sdk_config())
    }

    /// The topic and its DLQ topic.
    pub async fn topics(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        create_topic(&self.bootstrap(), topic, partitions).await?;
        create_topic(&self.bootstrap(), &format!("{topic}.dlq"), 1).await?;
        Ok(())
    }

    /// A queue; FIFO when the name ends in `.fifo`. Returns its URL.
    pub async fn queue(&self, name: &str, attributes: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut request = self.sqs().create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
        }
        for (k, v) in attributes {
            request = request.attributes(QueueAttributeName::from(*k), *v);
        }
        let output = request.send().await?;
        Ok(output.queue_url().context("a queue URL")?.to_owned())
    }

    /// A queue that receives, through a rule on `bus` (created unless it is
    /// `default`), every event whose source is [`SOURCE`]. Returns its URL.
    pub async fn rule_to_queue(&self, bus: &str, queue: &str) -> anyhow::Result<String> {
        let url = self.queue(queue, &[]).await?;
        let arn = self.queue_arn(&url).await?;
        let events = self.eventbridge();
        if bus != "default" {
            events.create_event_bus().name(bus).send().await?;
        }
        events
            .put_rule()
            .name(format!("to-{queue}"))
            .event_bus_name(bus)
            .event_pattern(format!(r#"{{"source": ["{SOURCE}"]}}"#))
            .send()
            .await?;
        events
            .put_targets()
            .rule(format!("to-{queue}"))
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id(queue)
                    .arn(&arn)
                    .build()?,
            )
            .send()
            .await?;
        Ok(url)
    }

    pub async fn queue_arn(&self, url: &str) -> anyhow::Result<String> {
        let output = self
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?;
        Ok(output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .context("a queue ARN")?
            .clone())
    }

    /// Messages in the queue, visible or not.
    pub async fn queue_depth(&self, url: &str) -> anyhow::Result<usize> {
        let output = self
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await?;
        let attributes = output.attributes().context("attributes")?;
        let count = |name| {
            attributes
                .get(&name)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// Waits until the queue holds `n` messages, then checks for a while
    /// that no more arrive.
    pub async fn wait_for_depth(&self, url: &str, n: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let depth = self.queue_depth(url).await?;
            ensure!(depth <= n, "{depth} messages in {url}, expected {n}");
            if depth == n {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "only {depth} of {n} messages reached {url}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let depth = self.queue_depth(url).await?;
        ensure!(
            depth == n,
            "{depth} messages in {url} after settling, expected {n}"
        );
        Ok(())
    }

    /// Receives and deletes messages until `n` were read; fails on more.
    pub async fn receive(&self, url: &str, n: usize) -> anyhow::Result<Vec<Message>> {
        let sqs = self.sqs();
        let mut messages = Vec::with_capacity(n);
        let deadline = Instant::now() + Duration::from_secs(180);
        while messages.len() < n {
            ensure!(
                Instant::now() < deadline,
                "only {} of {n} messages received from {url}",
                messages.len()
            );
            let output = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .visibility_timeout(600)
                .send()
                .await?;
            let batch = output.messages().to_vec();
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let mut delete = sqs.delete_message_batch().queue_url(url);
            for (i, message) in batch.iter().enumerate() {
                delete = delete.entries(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .build()?,
                );
            }
            let deleted = delete.send().await?;
            ensure!(
                deleted.failed().is_empty(),
                "deletes failed: {:?}",
                deleted.failed()
            );
            messages.extend(batch);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let extra = sqs.receive_message().queue_url(url).send().await?;
        ensure!(
            extra.messages().is_empty(),
            "more than {n} messages in {url}"
        );
        Ok(messages)
    }
}

/// Event `sequence` among `keys` keys ([`sequenced::key`]).
pub fn event(sequence: u64, keys: u64) -> EmailReceived {
    sequenced::event(sequence, &sequenced::key(sequence, keys))
}

/// The sequence number of an event rendered as JSON (`metadata.eventId`).
pub fn sequence_of(json: &serde_json::Value) -> anyhow::Result<u64> {
    sequenced::sequence_in_json(json).with_context(|| format!("no evt-<n> in {json}"))
}

/// Publishes events `range` with sluice's producer (CloudEvents headers
/// with `ce_source` = [`SOURCE`]).
pub async fn produce(
    bootstrap: &str,
    topic: &str,
    range: std::ops::Range<u64>,
    keys: u64,
) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new(KafkaConfig::new(bootstrap));
    config.source = SOURCE.to_owned();
    sequenced::produce(config, topic, range, keys)
        .await
        .map_err(anyhow::Error::from_boxed)
}

/// Publishes one record as given, for inputs sluice's producer refuses to
/// make.
pub async fn produce_raw(
    bootstrap: &str,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: &[(&str, &str)],
) -> anyhow::Result<()> {
    let producer: FutureProducer = KafkaConfig::new(bootstrap).client_config().create()?;
    let mut owned = OwnedHeaders::new();
    for (name, value) in headers {
        owned = owned.insert(Header {
            key: name,
            value: Some(value.as_bytes()),
        });
    }
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(value)
                .headers(owned),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

pub use sluice_testkit::read_topic;

pub use sluice_testkit::header_text as header;

/// A bridge configuration: `[kafka]` and `[aws]` for this environment, and
/// the given routes.
pub fn config(env: &Env, endpoint: &str, routes: &str) -> anyhow::Result<BridgeConfig> {
    let text = format!(
        "[kafka]\nbootstrap_servers = \"{}\"\n\n[aws]\nendpoint_url = \"{endpoint}\"\n\n{routes}",
        env.bootstrap()
    );
    Ok(BridgeConfig::from_toml(&text)?)
}

/// A bridge running in the background until the handle is stopped.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), sluice_bridge::BridgeError>>,
    pub status: sluice_bridge::BridgeStatus,
}

impl Running {
    pub async fn start(config: BridgeConfig, sdk: SdkConfig) -> anyhow::Result<Self> {
        let bridge = Bridge::builder(config, sluice_events::registry().clone())
            .sdk_config(sdk)
            .start()
            .await?;
        let status = bridge.status();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bridge.run(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            stop: Some(stop),
            task,
            status,
        })
    }

    /// Waits until every route's committed position reaches the end of its
    /// partitions.
    pub async fn wait_caught_up(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let lag: Vec<_> = self.status.members().flat_map(|(_, s)| s.lag()).collect();
            let done = !lag.is_empty()
                && lag
                    .iter()
                    .all(|l| l.records == Some(0) && l.high_watermark.is_some());
            if done {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the bridge did not catch up: {lag:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// Counts of each value.
pub fn counts<T: std::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> HashMap<T, usize> {
    let mut counts = HashMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
}

/// A child process (the bridge binary), killed when the test ends, however
/// it ends.
pub struct Service(pub Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 200 ms until it says yes; fails after `timeout` with
/// the last error it gave.
pub async fn wait_for(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{what} within {timeout:?} (last error: {last})")
}

/// Points a bridge configuration file's `[kafka]`, `[aws]` and `[http]` at
/// this environment, serving `/health` on `http_port`; routes stay as they
/// are.
pub fn point_at(config: &mut toml::Table, env: &Env, http_port: u16) -> anyhow::Result<()> {
    config.insert(
        "kafka".into(),
        toml::Value::Table(toml::toml! {
            bootstrap_servers = (env.bootstrap())
            [properties]
            "topic.metadata.refresh.interval.ms" = "500"
        }),
    );
    let aws = config.entry("aws").or_insert(toml::Table::new().into());
    let aws = aws.as_table_mut().context("[aws]")?;
    aws.insert("endpoint_url".into(), env.moto.endpoint_url().into());
    aws.insert("region".into(), sluice_testkit::MOTO_REGION.into());
    config
        .entry("http")
        .or_insert(toml::Table::new().into())
        .as_table_mut()
        .context("[http]")?
        .insert("listen".into(), format!("127.0.0.1:{http_port}").into());
    Ok(())
}
