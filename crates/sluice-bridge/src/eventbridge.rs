//! Records to an EventBridge bus with `PutEvents`.
//!
//! `Source` and `DetailType` come from `ce_source` and `ce_type`, `Time`
//! from `ce_time` (or the record's timestamp). `Detail` is, by default, a
//! CloudEvent in JSON format: every `ce_*` header as an attribute
//! (`ce_id` → `id`), `datacontenttype` = `application/json`, and the event
//! rendered as JSON in `data`; so targets see the event id and can
//! deduplicate on it.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde_json::{Map, Value};
use sluice_consumer::HandlerError;
use sluice_core::envelope::header;

use crate::aws::{call_error, entry_error};
use crate::batch::{BatchSender, CallError, EntryStatus};
use crate::config::{DetailFormat, EventBridgeConfig};
use crate::route::{EntryBuilder, EntrySource};

/// `Time`, when given, counts as 14 bytes in the entry size.
const TIME_BYTES: usize = 14;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    source: String,
    detail_type: String,
    detail: String,
    time: Option<DateTime>,
    /// X-Ray's form of the record's trace (not counted in the size).
    trace_header: Option<String>,
}

impl Entry {
    /// AWS's rule: `Time` 14 bytes, the UTF-8 length of `Source`,
    /// `DetailType` and `Detail` (and of each resource; none are sent).
    pub(crate) fn size(&self) -> usize {
        self.time.map_or(0, |_| TIME_BYTES)
            + self.source.len()
            + self.detail_type.len()
            + self.detail.len()
    }
}

/// A route's bus, connected: its configuration and an EventBridge client.
#[derive(Debug)]
pub(crate) struct BusClient {
    client: Client,
    config: EventBridgeConfig,
}

impl BusClient {
    pub(crate) fn new(client: Client, config: EventBridgeConfig) -> Self {
        Self { client, config }
    }
}

impl EntryBuilder for BusClient {
    fn entry(&self, record: &EntrySource<'_>) -> Result<(Entry, usize), HandlerError> {
        let missing = |name: &str| {
            HandlerError::permanent(format!(
                "the record has no {name} header, which EventBridge needs"
            ))
            .with_class("missing_header")
        };
        let source = match (record.header(header::SOURCE), &self.config.default_source) {
            (Some(source), _) => source.to_owned(),
            (None, Some(default)) => default.clone(),
            (None, None) => return Err(missing(header::SOURCE)),
        };
        let detail_type = record
            .header(header::TYPE)
            .ok_or_else(|| missing(header::TYPE))?
            .to_owned();
        let time = record
            .header(header::TIME)
            .and_then(|t| {
                DateTime::from_str(t, Format::DateTimeWithOffset)
                    .or_else(|_| DateTime::from_str(t, Format::DateTime))
                    .ok()
            })
            .or_else(|| record.timestamp_ms().map(DateTime::from_millis));
        let data = record.json()?;
        let detail = match self.config.detail {
            DetailFormat::Data => data,
            DetailFormat::Cloudevent => {
                let mut event = Map::new();
                event.insert("specversion".into(), Value::from("1.0"));
                for (name, value) in record.headers_with_prefix("ce_") {
                    event.insert(name["ce_".len()..].to_owned(), Value::from(value));
                }
                event.insert("id".into(), Value::from(record.event_id()));
                event.insert("datacontenttype".into(), Value::from("application/json"));
                event.insert("data".into(), data);
                Value::Object(event)
            }
        };
        let entry = Entry {
            source,
            detail_type,
            detail: detail.to_string(),
            time,
            trace_header: record.xray_header(),
        };
        let size = entry.size();
        Ok((entry, size))
    }
}

impl BatchSender for BusClient {
    type Entry = Entry;
    const SERVICE: &'static str = "EventBridge";
    const METHOD: &'static str = "PutEvents";
    const DESTINATION: &'static str = "eventbridge";

    async fn send(&self, entries: &[Entry]) -> Result<Vec<EntryStatus>, CallError> {
        let request: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.config.event_bus)
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .set_time(e.time)
                    .set_trace_header(e.trace_header.clone())
                    .build()
            })
            .collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| call_error(&e))?;
        let results = output.entries();
        Ok((0..entries.len())
            .map(|i| match results.get(i) {
                Some(result) => match result.error_code() {
                    None => EntryStatus::Accepted,
                    Some(code) => entry_error(code, result.error_message().unwrap_or_default()),
                },
                None => EntryStatus::Failed {
                    code: "MissingResult".into(),
                    message: "PutEvents returned fewer results than entries".into(),
                    retriable: true,
                },
            })
            .collect())
    }
}
