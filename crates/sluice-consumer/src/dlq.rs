//! Dead-letter records: the original key, value and headers, plus
//! `sluice.dlq.*` headers saying where the record came from and why it
//! failed.

use std::time::{Duration, SystemTime};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use sluice_kafka::security::TokenContext;

use crate::config::DlqConfig;
use crate::record::Record;

pub use sluice_core::dlq::{MAX_ERROR_MESSAGE_BYTES, headers};

/// How a dead letter was written.
#[derive(Debug)]
pub(crate) enum Sent {
    Whole,
    /// Without its value, after the DLQ refused the whole record.
    Reference(KafkaError),
}

/// Whether the DLQ refused a record for its size (the client's own check
/// against `message.max.bytes`, or the broker's against the topic's).
fn too_large(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::MessageSizeTooLarge
                | Code::MessageBatchTooLarge
                | Code::InvalidMessageSize
                | Code::InvalidRecord
        )
    )
}

/// Why a record is dead-lettered.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) class: String,
    pub(crate) message: String,
    pub(crate) attempts: u32,
}

/// Writes dead-letter records and waits for the broker to acknowledge them.
pub(crate) struct DeadLetters {
    producer: FutureProducer<TokenContext>,
    config: DlqConfig,
    group: String,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("config", &self.config)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    pub(crate) fn new(
        producer: FutureProducer<TokenContext>,
        config: DlqConfig,
        group: String,
    ) -> Self {
        Self {
            producer,
            config,
            group,
        }
    }

    /// The DLQ topic of records from `topic`.
    pub(crate) fn topic_for(&self, topic: &str) -> String {
        self.config.topic_for(topic)
    }

    /// Sends the dead-letter record; `Ok` once the broker acknowledged it.
    ///
    /// A record the DLQ refuses for its size is written again as a
    /// reference: key and headers, no value, and a
    /// [`VALUE_OMITTED`](headers::VALUE_OMITTED) header. Any other error is
    /// the caller's to retry.
    pub(crate) async fn send(
        &self,
        record: &Record,
        failure: &Failure,
    ) -> Result<Sent, KafkaError> {
        match self.send_once(record, failure, false).await {
            Err(error) if too_large(&error) => {
                self.send_once(record, failure, true).await?;
                Ok(Sent::Reference(error))
            }
            result => result.map(|()| Sent::Whole),
        }
    }

    async fn send_once(
        &self,
        record: &Record,
        failure: &Failure,
        reference: bool,
    ) -> Result<(), KafkaError> {
        let topic = self.config.topic_for(record.topic());
        let mut headers = dead_letter_headers(record, &self.group, failure, SystemTime::now());
        if reference {
            let why = format!(
                "the DLQ refused the record ({} value bytes) as too large",
                record.payload().map_or(0, <[u8]>::len)
            );
            headers = headers.insert(Header {
                key: headers::VALUE_OMITTED,
                value: Some(why.as_bytes()),
            });
        }
        let mut out = FutureRecord::<[u8], [u8]>::to(&topic).headers(headers);
        if let Some(key) = record.key() {
            out = out.key(key);
        }
        if let Some(value) = record.payload().filter(|_| !reference) {
            out = out.payload(value);
        }
        self.producer
            .send(out, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }

    /// Why the DLQ producer can never write again, if it cannot (a fenced
    /// idempotent producer, for one).
    pub(crate) fn fatal_error(&self) -> Option<String> {
        use rdkafka::producer::Producer as _;
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("fatal DLQ producer error {code:?}: {reason}"))
    }

    pub(crate) fn flush(&self, timeout: Duration) {
        use rdkafka::producer::Producer as _;
        let _ = self.producer.flush(timeout);
    }
}

/// The original headers without earlier `sluice.dlq.*` ones, then this
/// failure's.
pub(crate) fn dead_letter_headers(
    record: &Record,
    group: &str,
    failure: &Failure,
    now: SystemTime,
) -> OwnedHeaders {
    let original = record.headers();
    let mut headers = OwnedHeaders::new_with_capacity(original.len() + 9);
    for header in original {
        if !header.name.starts_with(headers::PREFIX.as_bytes()) {
            headers = sluice_kafka::headers::insert(headers, header.name, header.value);
        }
    }
    let timestamp = record
        .timestamp()
        .to_millis()
        .map(|t| t.to_string())
        .unwrap_or_default();
    // Now is always between 1970 and 9999.
    let failed_at = sluice_core::envelope::rfc3339_millis(now).unwrap_or_default();
    let fields = [
        (headers::TOPIC, record.topic().to_owned()),
        (headers::PARTITION, record.partition().to_string()),
        (headers::OFFSET, record.offset().to_string()),
        (headers::TIMESTAMP, timestamp),
        (headers::GROUP, group.to_owned()),
        (headers::ERROR_CLASS, failure.class.clone()),
        (
            headers::ERROR_MESSAGE,
            cap(&failure.message, MAX_ERROR_MESSAGE_BYTES).to_owned(),
        ),
        (headers::ATTEMPTS, failure.attempts.to_string()),
        (headers::FAILED_AT, failed_at),
    ];
    for (key, value) in &fields {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    headers
}

fn cap(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use rdkafka::Timestamp;

    use super::*;

    fn record(headers: &[(&str, Option<&[u8]>)]) -> Record {
        Record::new("orders", 3, 42, Some(b"key"), Some(b"value"), headers)
            .with_timestamp(Timestamp::CreateTime(1_700_000_000_123))
    }

    fn values(headers: &OwnedHeaders, name: &str) -> Vec<String> {
        sluice_kafka::headers::read(headers)
            .filter(|h| h.name == name.as_bytes())
            .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
            .collect()
    }

    #[test]
    fn dead_letter_headers_keep_the_original_and_replace_earlier_ones() {
        let original = [
            ("ce_type", Some(&b"order.placed.v1"[..])),
            (headers::ERROR_CLASS, Some(b"from_an_earlier_failure")),
        ];
        let failure = Failure {
            class: "decode_malformed".into(),
            message: "é".repeat(600),
            attempts: 1,
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_456);
        let out = dead_letter_headers(&record(&original), "billing", &failure, at);
        assert_eq!(values(&out, "ce_type"), ["order.placed.v1"]);
        assert_eq!(values(&out, headers::ERROR_CLASS), ["decode_malformed"]);
        assert_eq!(values(&out, headers::TOPIC), ["orders"]);
        assert_eq!(values(&out, headers::PARTITION), ["3"]);
        assert_eq!(values(&out, headers::OFFSET), ["42"]);
        assert_eq!(values(&out, headers::TIMESTAMP), ["1700000000123"]);
        assert_eq!(values(&out, headers::GROUP), ["billing"]);
        assert_eq!(values(&out, headers::ATTEMPTS), ["1"]);
        assert_eq!(
            values(&out, headers::FAILED_AT),
            ["2023-11-14T22:13:20.456Z"]
        );
        let message = &values(&out, headers::ERROR_MESSAGE)[0];
        assert!(message.len() <= MAX_ERROR_MESSAGE_BYTES && message.len() >= 1022);
    }

    #[test]
    fn header_names_that_are_not_utf8_are_copied_as_bytes() {
        let record = Record::with_raw_headers(
            "orders",
            0,
            7,
            None,
            Some(b"v"),
            &[(b"\xff\xfename", Some(b"\x00\xff")), (b"ok", None)],
        );
        let failure = Failure {
            class: "handler_panic".into(),
            message: String::new(),
            attempts: 1,
        };
        let out = dead_letter_headers(&record, "g", &failure, UNIX_EPOCH);
        let copied: Vec<_> = sluice_kafka::headers::read(&out)
            .take(2)
            .map(|h| (h.name, h.value))
            .collect();
        assert_eq!(
            copied,
            [
                (&b"\xff\xfename"[..], Some(&b"\x00\xff"[..])),
                (b"ok", None)
            ]
        );
    }
}
