//! Sequenced events: event `n` carries `evt-<n>` in its id and one of a
//! fixed number of keys, so a test can tell what arrived, and in which
//! order per key, from the events alone.

use std::ops::Range;

use sluice_core::Event as _;
use sluice_events::proto::EmailReceived;
use sluice_events::samples::{self, Seed};
use sluice_producer::{Producer, ProducerConfig};

/// What [`produce`] can fail with: building the producer, or a send.
pub type ProduceError = Box<dyn std::error::Error + Send + Sync>;

/// The key of event `sequence` among `keys` keys: `key-<sequence mod keys>`.
pub fn key(sequence: u64, keys: u64) -> String {
    format!("key-{}", sequence % keys)
}

/// Event `sequence`, with `key` as its partition key (its `email_id`).
pub fn event(sequence: u64, key: &str) -> EmailReceived {
    samples::proto_email_received(&Seed {
        sequence,
        email_id: key,
        ..Seed::default()
    })
}

/// The sequence an [`event`] was made with.
///
/// # Panics
/// When `event` is not one of this module's: a test that reads its own
/// events back has no other case to handle.
pub fn sequence(event: &EmailReceived) -> u64 {
    event
        .metadata
        .as_ref()
        .and_then(|m| samples::sequence_of(&m.event_id))
        .unwrap_or_else(|| panic!("not a sequenced event: {event:?}"))
}

/// The sequence of an [`event`] rendered as JSON (proto3 JSON:
/// `metadata.eventId`).
pub fn sequence_in_json(json: &serde_json::Value) -> Option<u64> {
    samples::sequence_of(json["metadata"]["eventId"].as_str()?)
}

/// Sends events `range` to `topic` with sluice's producer, keyed by
/// [`key`] among `keys`, and waits until the broker acknowledged every one.
pub async fn produce(
    mut config: ProducerConfig,
    topic: &str,
    range: Range<u64>,
    keys: u64,
) -> Result<(), ProduceError> {
    config
        .topics
        .insert(EmailReceived::EVENT_TYPE.to_owned(), topic.to_owned());
    let producer = Producer::builder(config).build()?;
    let mut pending = Vec::with_capacity(usize::try_from(range.end.saturating_sub(range.start))?);
    for sequence in range {
        pending.push(
            producer
                .enqueue(event(sequence, &key(sequence, keys)))
                .await?,
        );
    }
    for delivery in pending {
        delivery.wait().await?;
    }
    Ok(())
}
