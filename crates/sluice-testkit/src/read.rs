//! Reading what tests produced, and asking HTTP endpoints.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

use crate::{Result, TestkitError};

/// Exactly `n` records of `topic` (every partition, from the beginning),
/// then a second of quiet to show there are no more. Counted rather than
/// bounded by watermarks, which Tansu 0.6.0 reports wrongly after batches.
pub fn read_topic(bootstrap: &str, topic: &str, n: usize) -> Result<Vec<OwnedMessage>> {
    let failed = |detail: String| TestkitError::Read {
        topic: topic.to_owned(),
        detail,
    };
    let consumer = reader_from_start(bootstrap, topic)?;
    let mut records = Vec::with_capacity(n);
    let deadline = Instant::now() + Duration::from_secs(60);
    while records.len() < n {
        if Instant::now() > deadline {
            return Err(failed(format!("only {} of {n} records", records.len())));
        }
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            records.push(message?.detach());
        }
    }
    let quiet = Instant::now() + Duration::from_secs(1);
    while Instant::now() < quiet {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?;
            return Err(failed(format!(
                "more than {n} records: one at {}[{}]@{}",
                message.topic(),
                message.partition(),
                message.offset()
            )));
        }
    }
    Ok(records)
}

/// A consumer of a group of its own, assigned every partition of `topic`
/// from the beginning; fails when the topic has none.
pub fn reader_from_start(bootstrap: &str, topic: &str) -> Result<BaseConsumer> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("reader-{topic}-{}-{nanos}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut list = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            list.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
    }
    if list.count() == 0 {
        return Err(TestkitError::Read {
            topic: topic.to_owned(),
            detail: "no such topic".into(),
        });
    }
    consumer.assign(&list)?;
    Ok(consumer)
}

/// The last value of header `name`, as text (lossy).
pub fn header_text(record: &OwnedMessage, name: &str) -> Option<String> {
    sluice_kafka::headers::of_message(record)
        .filter(|h| h.name == name.as_bytes())
        .last()
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// How many headers named `name` the record has.
pub fn header_count(record: &OwnedMessage, name: &str) -> usize {
    sluice_kafka::headers::of_message(record)
        .filter(|h| h.name == name.as_bytes())
        .count()
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
