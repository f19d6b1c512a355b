//! Fully populated sample events, for tests, examples and load generation.
//!
//! Every field is set (repeated fields with more than one element, optional
//! fields present) so that a round trip exercises the whole schema.

use crate::{avro, proto};

/// The same values in both formats.
#[derive(Debug, Clone)]
pub struct Seed<'a> {
    pub tenant_id: &'a str,
    pub email_id: &'a str,
    pub sequence: u64,
    pub occurred_at_ms: i64,
}

impl Default for Seed<'_> {
    fn default() -> Self {
        Self {
            tenant_id: "tenant-1",
            email_id: "email-1",
            sequence: 1,
            occurred_at_ms: 1_764_000_000_000,
        }
    }
}

/// The sequence a sample's event id (`evt-<sequence>`) carries: the
/// [`Seed::sequence`] it was made with.
pub fn sequence_of(event_id: &str) -> Option<u64> {
    event_id.strip_prefix("evt-")?.parse().ok()
}

fn proto_metadata(seed: &Seed<'_>) -> proto::Metadata {
    proto::Metadata {
        event_id: format!("evt-{}", seed.sequence),
        tenant_id: seed.tenant_id.into(),
        correlation_id: format!("corr-{}", seed.email_id),
        causation_id: format!("cause-{}", seed.sequence),
        occurred_at_ms: seed.occurred_at_ms,
        schema_version: 1,
    }
}

fn avro_metadata(seed: &Seed<'_>) -> avro::Metadata {
    avro::Metadata {
        event_id: format!("evt-{}", seed.sequence),
        tenant_id: seed.tenant_id.into(),
        correlation_id: format!("corr-{}", seed.email_id),
        causation_id: format!("cause-{}", seed.sequence),
        occurred_at_ms: seed.occurred_at_ms,
        schema_version: 1,
    }
}

fn headers() -> std::collections::HashMap<String, String> {
    [("x-spam", "no"), ("list-id", "ops")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
}

pub fn proto_email_received(seed: &Seed<'_>) -> proto::EmailReceived {
    proto::EmailReceived {
        metadata: Some(proto_metadata(seed)),
        email_id: seed.email_id.into(),
        mailbox_id: "inbox".into(),
        from: "alice@example.com".into(),
        to: vec!["bob@example.com".into(), "carol@example.com".into()],
        subject: "Quarterly report".into(),
        size_bytes: 48_213,
        attachments: vec![
            proto::Attachment {
                filename: "report.pdf".into(),
                content_type: "application/pdf".into(),
                size_bytes: 40_000,
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            },
            proto::Attachment {
                filename: "logo.png".into(),
                content_type: "image/png".into(),
                size_bytes: 2_048,
                sha256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752".into(),
            },
        ],
        headers: headers(),
    }
}

pub fn avro_email_received(seed: &Seed<'_>) -> avro::EmailReceived {
    avro::EmailReceived {
        metadata: avro_metadata(seed),
        email_id: seed.email_id.into(),
        mailbox_id: "inbox".into(),
        from: "alice@example.com".into(),
        to: vec!["bob@example.com".into(), "carol@example.com".into()],
        subject: "Quarterly report".into(),
        size_bytes: 48_213,
        attachments: vec![
            avro::Attachment {
                filename: "report.pdf".into(),
                content_type: "application/pdf".into(),
                size_bytes: 40_000,
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            },
            avro::Attachment {
                filename: "logo.png".into(),
                content_type: "image/png".into(),
                size_bytes: 2_048,
                sha256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752".into(),
            },
        ],
        headers: headers(),
    }
}

pub fn proto_email_validated(seed: &Seed<'_>) -> proto::EmailValidated {
    proto::EmailValidated {
        metadata: Some(proto_metadata(seed)),
        email_id: seed.email_id.into(),
        verdict: proto::email_validated::Verdict::Spam as i32,
        checks: vec![
            proto::email_validated::Check {
                name: "spf".into(),
                passed: true,
                detail: String::new(),
            },
            proto::email_validated::Check {
                name: "dkim".into(),
                passed: false,
                detail: "signature mismatch".into(),
            },
        ],
        spam_score: 7.25,
    }
}

pub fn avro_email_validated(seed: &Seed<'_>) -> avro::EmailValidated {
    avro::EmailValidated {
        metadata: avro_metadata(seed),
        email_id: seed.email_id.into(),
        verdict: avro::Verdict::VerdictSpam,
        checks: vec![
            avro::Check {
                name: "spf".into(),
                passed: true,
                detail: String::new(),
            },
            avro::Check {
                name: "dkim".into(),
                passed: false,
                detail: "signature mismatch".into(),
            },
        ],
        spam_score: 7.25,
    }
}

pub fn proto_email_processed(seed: &Seed<'_>) -> proto::EmailProcessed {
    proto::EmailProcessed {
        metadata: Some(proto_metadata(seed)),
        email_id: seed.email_id.into(),
        mailbox_id: "inbox".into(),
        labels: vec!["finance".into(), "important".into()],
        stored_attachments: Vec::new(),
        duration_ms: 182,
        thread_id: Some("thread-9".into()),
    }
}

pub fn avro_email_processed(seed: &Seed<'_>) -> avro::EmailProcessed {
    avro::EmailProcessed {
        metadata: avro_metadata(seed),
        email_id: seed.email_id.into(),
        mailbox_id: "inbox".into(),
        labels: vec!["finance".into(), "important".into()],
        stored_attachments: Vec::new(),
        duration_ms: 182,
        thread_id: Some("thread-9".into()),
    }
}

pub fn proto_plugin_executed(seed: &Seed<'_>) -> proto::PluginExecuted {
    proto::PluginExecuted {
        metadata: Some(proto_metadata(seed)),
        plugin_id: "virus-scan".into(),
        plugin_version: "2.3.1".into(),
        email_id: seed.email_id.into(),
        succeeded: false,
        duration_ms: 31,
        outputs: vec![proto::plugin_executed::Output {
            name: "engine".into(),
            value: "clam".into(),
        }],
        error: Some("timeout after 30 ms".into()),
    }
}

pub fn avro_plugin_executed(seed: &Seed<'_>) -> avro::PluginExecuted {
    avro::PluginExecuted {
        metadata: avro_metadata(seed),
        plugin_id: "virus-scan".into(),
        plugin_version: "2.3.1".into(),
        email_id: seed.email_id.into(),
        succeeded: false,
        duration_ms: 31,
        outputs: vec![avro::Output {
            name: "engine".into(),
            value: "clam".into(),
        }],
        error: Some("timeout after 30 ms".into()),
    }
}

pub fn proto_workflow_triggered(seed: &Seed<'_>) -> proto::WorkflowTriggered {
    proto::WorkflowTriggered {
        metadata: Some(proto_metadata(seed)),
        workflow_id: "wf-escalate".into(),
        run_id: format!("run-{}", seed.sequence),
        trigger_event_id: format!("evt-{}", seed.sequence),
        email_id: seed.email_id.into(),
        steps: vec![proto::workflow_triggered::Step {
            name: "notify".into(),
            action: "slack".into(),
            parameters: headers(),
        }],
        inputs: headers(),
    }
}

pub fn avro_workflow_triggered(seed: &Seed<'_>) -> avro::WorkflowTriggered {
    avro::WorkflowTriggered {
        metadata: avro_metadata(seed),
        workflow_id: "wf-escalate".into(),
        run_id: format!("run-{}", seed.sequence),
        trigger_event_id: format!("evt-{}", seed.sequence),
        email_id: seed.email_id.into(),
        steps: vec![avro::Step {
            name: "notify".into(),
            action: "slack".into(),
            parameters: headers(),
        }],
        inputs: headers(),
    }
}

/// [`proto_email_received`] with its subject padded so that the encoded
/// event is about `bytes` long (never shorter than the unpadded event).
pub fn proto_email_received_sized(seed: &Seed<'_>, bytes: usize) -> proto::EmailReceived {
    use sluice_core::__private::prost::Message as _;
    let mut event = proto_email_received(seed);
    let base = event.encoded_len();
    if bytes > base {
        // The subject's length prefix may grow by a byte or two.
        let pad = bytes - base;
        event.subject.push_str(&"x".repeat(pad));
        let over = event.encoded_len().saturating_sub(bytes);
        event.subject.truncate(event.subject.len() - over.min(pad));
    }
    event
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn sized_events_have_the_size_asked_for() {
        for bytes in [0, 600, 1024, 4096] {
            let event = proto_email_received_sized(&Seed::default(), bytes);
            let len = event.encoded_len();
            assert!(
                len == bytes.max(proto_email_received(&Seed::default()).encoded_len()),
                "{bytes}: {len}"
            );
        }
    }
}
