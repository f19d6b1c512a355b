//! What a consumer subscribes to: topic names, and patterns matched here
//! against the cluster's topics rather than by the client.
//!
//! Matching in sluice lets a pattern pass over the topics sluice itself
//! writes: `^task\..*` also matches `task.a.dlq`, and a consumer that read
//! its own DLQ would dead-letter its dead letters again. Topics named like
//! this consumer's DLQ topics, and Kafka's internal `__` topics, are never
//! matched by a pattern; naming one explicitly still subscribes to it.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use regex::Regex;

use crate::config::DlqConfig;
use crate::error::ConsumerError;

#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    names: Vec<String>,
    patterns: Vec<Regex>,
    dlq: DlqConfig,
}

impl Subscription {
    /// Entries starting with `^` are regular expressions (Rust `regex`
    /// syntax, matched against the whole name from its start).
    pub(crate) fn new(topics: &[String], dlq: &DlqConfig) -> Result<Self, ConsumerError> {
        let mut names = Vec::new();
        let mut patterns = Vec::new();
        for topic in topics {
            if topic.starts_with('^') {
                let pattern = Regex::new(topic).map_err(|e| {
                    ConsumerError::Config(format!("topic pattern {topic:?} is invalid: {e}"))
                })?;
                patterns.push(pattern);
            } else {
                names.push(topic.clone());
            }
        }
        Ok(Self {
            names,
            patterns,
            dlq: dlq.clone(),
        })
    }

    pub(crate) fn has_patterns(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// The topics to subscribe to, given the cluster's topics: every name,
    /// and the existing topics a pattern matches, sorted.
    pub(crate) fn resolve<'a>(&self, existing: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut topics = self.names.clone();
        for topic in existing {
            if !self.excluded(topic) && self.patterns.iter().any(|p| p.is_match(topic)) {
                topics.push(topic.to_owned());
            }
        }
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// Whether a pattern must pass over `topic`: a DLQ topic under this
    /// consumer's template, or an internal topic.
    fn excluded(&self, topic: &str) -> bool {
        if topic.starts_with("__") {
            return true;
        }
        match self.dlq.topic.split_once("{topic}") {
            Some((prefix, suffix)) => {
                topic.len() > prefix.len() + suffix.len()
                    && topic.starts_with(prefix)
                    && topic.ends_with(suffix)
            }
            None => topic == self.dlq.topic,
        }
    }
}

/// How long a topic listing for pattern matching may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// The subscription and the topics it currently resolves to.
#[derive(Debug)]
pub(crate) struct Topics {
    subscription: Subscription,
    subscribed: Vec<String>,
    /// How often patterns are matched again.
    pub(crate) refresh: Duration,
}

impl Topics {
    /// Subscribes to what `subscription` resolves to now. A failed topic
    /// listing leaves only the names subscribed until the next refresh.
    pub(crate) fn subscribe<C: ConsumerContext>(
        client: &BaseConsumer<C>,
        subscription: Subscription,
        refresh: Duration,
    ) -> Result<Self, ConsumerError> {
        let subscribed =
            matching(client, &subscription).unwrap_or_else(|| subscription.resolve([]));
        subscribe(client, &subscribed)?;
        Ok(Self {
            subscription,
            subscribed,
            refresh,
        })
    }

    /// Matches the patterns against the cluster's topics again, and
    /// subscribes anew when the set changed.
    pub(crate) fn refresh<C: ConsumerContext>(&mut self, client: &BaseConsumer<C>) {
        if !self.subscription.has_patterns() {
            return;
        }
        let Some(topics) = matching(client, &self.subscription) else {
            return;
        };
        if topics != self.subscribed {
            tracing::info!(?topics, "pattern matches changed; subscribing anew");
            match subscribe(client, &topics) {
                Ok(()) => self.subscribed = topics,
                Err(error) => tracing::warn!(%error, "subscribing anew failed"),
            }
        }
    }
}

/// The topics `subscription` resolves to against the cluster's topic list
/// (names alone when it has no pattern); `None` when the list cannot be
/// read.
fn matching<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    subscription: &Subscription,
) -> Option<Vec<String>> {
    if !subscription.has_patterns() {
        return Some(subscription.resolve([]));
    }
    match client.fetch_metadata(None, METADATA_TIMEOUT) {
        Ok(metadata) => Some(subscription.resolve(metadata.topics().iter().map(|t| t.name()))),
        Err(error) => {
            tracing::warn!(%error, "cannot list topics to match patterns; retrying later");
            None
        }
    }
}

/// Subscribes to exactly `topics` (none: unsubscribed).
fn subscribe<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    topics: &[String],
) -> Result<(), ConsumerError> {
    if topics.is_empty() {
        client.unsubscribe();
        return Ok(());
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    client
        .subscribe(&names)
        .map_err(|source| ConsumerError::Subscribe {
            topics: topics.to_vec(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(topics: &[&str], dlq: &str) -> Subscription {
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let dlq = DlqConfig {
            topic: dlq.to_owned(),
            ..DlqConfig::default()
        };
        Subscription::new(&topics, &dlq).unwrap()
    }

    const CLUSTER: &[&str] = &[
        "task.a",
        "task.a.dlq",
        "task.b",
        "task.b.failed",
        "tasks",
        "other",
        "__consumer_offsets",
        "dlq.task.c",
    ];

    #[test]
    fn patterns_pass_over_the_dlq_topics_of_the_template() {
        let sub = subscription(&["^task\\..*"], "{topic}.dlq");
        assert_eq!(
            sub.resolve(CLUSTER.iter().copied()),
            ["task.a", "task.b", "task.b.failed"]
        );
        let sub = subscription(&["^task\\..*"], "{topic}.failed");
        assert_eq!(
            sub.resolve(CLUSTER.iter().copied()),
            ["task.a", "task.a.dlq", "task.b"]
        );
        let sub = subscription(&["^.*task.*"], "dlq.{topic}");
        assert_eq!(
            sub.resolve(CLUSTER.iter().copied()),
            ["task.a", "task.a.dlq", "task.b", "task.b.failed", "tasks"]
        );
        let sub = subscription(&["^task.*"], "all-failures");
        assert!(sub.resolve(["all-failures", "task.x"]) == ["task.x"]);
    }

    #[test]
    fn names_are_kept_even_when_missing_or_dlq_like() {
        let sub = subscription(&["other", "task.a.dlq", "missing", "^__.*"], "{topic}.dlq");
        assert!(sub.has_patterns());
        assert_eq!(
            sub.resolve(CLUSTER.iter().copied()),
            ["missing", "other", "task.a.dlq"]
        );
        assert!(!subscription(&["a", "b"], "{topic}.dlq").has_patterns());
    }

    #[test]
    fn an_invalid_pattern_is_refused() {
        let topics = vec!["^task(".to_owned()];
        let error = Subscription::new(&topics, &DlqConfig::default()).unwrap_err();
        assert!(error.to_string().contains("^task("), "{error}");
    }
}
