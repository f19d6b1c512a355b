//! Topic routing: the topic an event type goes to, and that topic's metric
//! handles.

use std::sync::Arc;

use crate::error::SendErrorKind;

/// Topic names for event types not listed in `config.topics`.
pub(super) type TopicNaming = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// The topic of one event type and that topic's metric handles, looked up
/// once.
pub(super) struct Route {
    pub(super) topic: String,
    pub(super) sent: metrics::Counter,
    pub(super) duration: metrics::Histogram,
}

impl Route {
    pub(super) fn new(topic: &str) -> Self {
        use sluice_telemetry::metrics::{PRODUCER_SEND_DURATION, PRODUCER_SENT};
        Self {
            topic: topic.to_owned(),
            sent: metrics::counter!(PRODUCER_SENT, "topic" => topic.to_owned()),
            duration: metrics::histogram!(PRODUCER_SEND_DURATION, "topic" => topic.to_owned()),
        }
    }

    pub(super) fn error(&self, kind: SendErrorKind) {
        count_error(&self.topic, kind);
    }
}

fn count_error(topic: &str, kind: SendErrorKind) {
    metrics::counter!(
        sluice_telemetry::metrics::PRODUCER_ERRORS,
        "topic" => topic.to_owned(),
        "class" => kind.class()
    )
    .increment(1);
}

/// The default topic for an event type: the type without a trailing
/// version (`email.received.v1` → `email.received`), so that compatible
/// schema versions share a topic.
pub fn default_topic_name(event_type: &str) -> String {
    match event_type.rsplit_once('.') {
        Some((base, version))
            if version.len() > 1
                && version.starts_with('v')
                && version[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            base.to_owned()
        }
        _ => event_type.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_drop_the_version_suffix() {
        assert_eq!(default_topic_name("email.received.v1"), "email.received");
        assert_eq!(default_topic_name("email.received.v12"), "email.received");
        assert_eq!(default_topic_name("email.received"), "email.received");
        assert_eq!(default_topic_name("email.v"), "email.v");
        assert_eq!(default_topic_name("plain"), "plain");
    }
}
