//! `--key`, `--type` and `--correlation-id`: which records a command
//! touches.

use rdkafka::Message;
use sluice_core::envelope::header;
use sluice_kafka::headers::AsRawHeaders;

#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Filter {
    /// Only records with this key.
    #[arg(long)]
    pub(crate) key: Option<String>,
    /// Only events whose `ce_type` matches this pattern (`*` matches any
    /// run of characters: `email.*`).
    #[arg(long = "type", value_name = "PATTERN")]
    pub(crate) event_type: Option<String>,
    /// Only events with this `ce_correlationid`.
    #[arg(long)]
    pub(crate) correlation_id: Option<String>,
}

/// The last value of header `name`, as text.
pub(crate) fn header<'a, M>(record: &'a M, name: &str) -> Option<&'a str>
where
    M: Message,
    M::Headers: AsRawHeaders,
{
    sluice_kafka::headers::of_message(record)
        .filter(|h| h.name == name.as_bytes())
        .last()
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

impl Filter {
    pub(crate) fn matches<M>(&self, record: &M) -> bool
    where
        M: Message,
        M::Headers: AsRawHeaders,
    {
        if let Some(key) = &self.key
            && record.key() != Some(key.as_bytes())
        {
            return false;
        }
        if let Some(pattern) = &self.event_type
            && !header(record, header::TYPE).is_some_and(|t| glob(pattern, t))
        {
            return false;
        }
        if let Some(id) = &self.correlation_id
            && header(record, header::CORRELATION_ID) != Some(id.as_str())
        {
            return false;
        }
        true
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("email.*", "email.received.v1"));
        assert!(!glob("email.*", "workflow.triggered.v1"));
        assert!(glob("*.v1", "email.received.v1"));
        assert!(glob("email.*.v1", "email.received.v1"));
        assert!(!glob("email.*.v2", "email.received.v1"));
        assert!(glob("*", ""));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("a*a", "a"));
    }
}
