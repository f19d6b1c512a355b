use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::{Result, TestkitError};

/// Creates `name` with `partitions` partitions through the admin API (Tansu
/// does not auto-create topics) and waits until metadata shows every
/// partition with a leader. An existing topic is not an error.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&topic], &options).await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TestkitError::CreateTopic {
                    topic,
                    detail: code.to_string(),
                });
            }
        }
    }
    wait_for_topic(bootstrap, name, partitions, Duration::from_secs(15)).await
}

/// Polls metadata until `name` has `partitions` partitions, each with a leader.
pub async fn wait_for_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match consumer.fetch_metadata(Some(name), Duration::from_secs(2)) {
            Ok(metadata) => {
                let ready = metadata.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && t.partitions().len() == partitions as usize
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                });
                if ready {
                    return Ok(());
                }
                last = format!(
                    "{:?}",
                    metadata
                        .topics()
                        .iter()
                        .map(|t| (t.name(), t.error(), t.partitions().len()))
                        .collect::<Vec<_>>()
                );
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(TestkitError::NotReady {
        what: format!("topic {name}"),
        timeout,
        detail: last,
    })
}
