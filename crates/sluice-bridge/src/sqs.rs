//! Records to an SQS queue with `SendMessageBatch`.
//!
//! The body is the event rendered as JSON, or the record's bytes in base64;
//! `ce_*` headers and `traceparent`/`tracestate` become String message
//! attributes (at most 10, the quota). FIFO queues get `MessageGroupId`
//! from the Kafka key or an event field, and `MessageDeduplicationId` =
//! the event id, so a record delivered twice is one message.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    SendMessageBatchRequestEntry,
};
use base64::Engine as _;
use serde_json::Value;
use sluice_consumer::HandlerError;
use sluice_core::envelope::header;

use crate::aws::{call_error, is_throttling};
use crate::batch::{BatchSender, CallError, EntryStatus};
use crate::config::{BodyFormat, MessageGroup, SqsConfig, quotas};
use crate::route::{EntryBuilder, EntrySource};

/// Attribute names in the order they are kept when a record has more
/// candidates than the quota allows.
const FIRST_ATTRIBUTES: &[&str] = &[
    header::ID,
    header::TYPE,
    header::SOURCE,
    header::TIME,
    header::SPECVERSION,
    header::TRACEPARENT,
    header::TRACESTATE,
];

const STRING: &str = "String";

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    body: String,
    attributes: Vec<(String, String)>,
    group_id: Option<String>,
    deduplication_id: Option<String>,
    /// `AWSTraceHeader`, X-Ray's form of the record's trace (a system
    /// attribute: not counted in the message size).
    trace_header: Option<String>,
}

impl Entry {
    /// AWS's rule: the body plus, for each attribute, its name, data type
    /// and value.
    pub(crate) fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + STRING.len() + value.len())
                .sum::<usize>()
    }
}

/// A route's queue, connected: its configuration and an SQS client.
#[derive(Debug)]
pub(crate) struct QueueClient {
    client: Client,
    config: SqsConfig,
}

impl QueueClient {
    pub(crate) fn new(client: Client, config: SqsConfig) -> Self {
        Self { client, config }
    }

    /// The queue's own message size limit and whether it is FIFO, read
    /// from its attributes.
    pub(crate) async fn queue_limits(&self) -> Result<(usize, bool), String> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.config.queue_url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .attribute_names(QueueAttributeName::FifoQueue)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let attributes = output.attributes();
        let max = attributes
            .and_then(|a| a.get(&QueueAttributeName::MaximumMessageSize))
            .and_then(|v| v.parse().ok())
            // SQS takes 1 KiB up to its quota; anything else is not a real limit.
            .filter(|max| (1024..=quotas::SQS_MAX_MESSAGE_BYTES).contains(max))
            .unwrap_or(quotas::SQS_MAX_MESSAGE_BYTES);
        let fifo = attributes
            .and_then(|a| a.get(&QueueAttributeName::FifoQueue))
            .is_some_and(|v| v == "true");
        Ok((max, fifo))
    }
}

fn field<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| v.get(part))
}

impl EntryBuilder for QueueClient {
    fn entry(&self, record: &EntrySource<'_>) -> Result<(Entry, usize), HandlerError> {
        let needs_json = self.config.body == BodyFormat::Json
            || matches!(self.config.message_group, Some(MessageGroup::Field { .. }));
        let json = needs_json.then(|| record.json()).transpose()?;
        let body = match (&self.config.body, &json) {
            (BodyFormat::Json, Some(json)) => json.to_string(),
            _ => base64::engine::general_purpose::STANDARD.encode(record.value()),
        };
        let mut candidates = record.headers_with_prefix("ce_");
        for name in [header::TRACEPARENT, header::TRACESTATE] {
            candidates.extend(record.header(name).map(|value| (name, value)));
        }
        candidates.retain(|(_, value)| !value.is_empty());
        candidates.sort_by_key(|(name, _)| {
            FIRST_ATTRIBUTES
                .iter()
                .position(|n| n == name)
                .unwrap_or(FIRST_ATTRIBUTES.len())
        });
        let attributes = candidates
            .into_iter()
            .take(quotas::SQS_MAX_ATTRIBUTES)
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let group_id = match &self.config.message_group {
            None => None,
            Some(MessageGroup::Key(_)) => {
                let key = record.key().filter(|k| !k.is_empty()).ok_or_else(|| {
                    HandlerError::permanent("the record has no key to use as MessageGroupId")
                        .with_class("no_message_group")
                })?;
                Some(String::from_utf8_lossy(key).into_owned())
            }
            Some(MessageGroup::Field { field: path }) => {
                let value = json
                    .as_ref()
                    .and_then(|j| field(j, path))
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| {
                        HandlerError::permanent(format!(
                            "the event has no field {path:?} to use as MessageGroupId"
                        ))
                        .with_class("no_message_group")
                    })?;
                Some(match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            }
        };
        let deduplication_id = self.config.is_fifo().then(|| record.event_id());
        let entry = Entry {
            body,
            attributes,
            group_id,
            deduplication_id,
            trace_header: record.xray_header(),
        };
        let size = entry.size();
        Ok((entry, size))
    }
}

impl BatchSender for QueueClient {
    type Entry = Entry;
    const SERVICE: &'static str = "SQS";
    const METHOD: &'static str = "SendMessageBatch";
    const DESTINATION: &'static str = "sqs";

    async fn send(&self, entries: &[Entry]) -> Result<Vec<EntryStatus>, CallError> {
        let mut request = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let mut builder = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&entry.body)
                .set_message_group_id(entry.group_id.clone())
                .set_message_deduplication_id(entry.deduplication_id.clone());
            if let Some(header) = &entry.trace_header {
                let value = MessageSystemAttributeValue::builder()
                    .data_type(STRING)
                    .string_value(header)
                    .build()
                    .expect("the data type is set");
                builder = builder.message_system_attributes(
                    MessageSystemAttributeNameForSends::AwsTraceHeader,
                    value,
                );
            }
            for (name, value) in &entry.attributes {
                let value = MessageAttributeValue::builder()
                    .data_type(STRING)
                    .string_value(value)
                    .build()
                    .expect("the data type is set");
                builder = builder.message_attributes(name, value);
            }
            request.push(builder.build().expect("id and body are set"));
        }
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.config.queue_url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| call_error(&e))?;
        let mut statuses = vec![
            EntryStatus::Failed {
                code: "MissingResult".into(),
                message: "SendMessageBatch did not report on this entry".into(),
                retriable: true,
            };
            entries.len()
        ];
        let slot = |id: &str| id.parse::<usize>().ok().filter(|&i| i < entries.len());
        for ok in output.successful() {
            if let Some(i) = slot(ok.id()) {
                statuses[i] = EntryStatus::Accepted;
            }
        }
        for failed in output.failed() {
            if let Some(i) = slot(failed.id()) {
                statuses[i] = if is_throttling(failed.code()) {
                    EntryStatus::Throttled
                } else {
                    EntryStatus::Failed {
                        code: failed.code().to_owned(),
                        message: failed.message().unwrap_or_default().to_owned(),
                        retriable: !failed.sender_fault(),
                    }
                };
            }
        }
        Ok(statuses)
    }
}
