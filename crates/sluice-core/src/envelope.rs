//! The CloudEvents envelope, carried in Kafka record headers.
//!
//! Records use the CloudEvents Kafka protocol binding in binary mode: the
//! record value is the event data and the attributes are `ce_`-prefixed
//! headers. W3C trace context travels beside them in `traceparent` and
//! `tracestate`, where OpenTelemetry's Kafka instrumentation looks for it.

use std::time::{Duration, SystemTime};

use crate::codec::Codec;
use crate::error::EnvelopeError;
use crate::event::Event;

/// Header names.
pub mod header {
    pub const SPECVERSION: &str = "ce_specversion";
    pub const ID: &str = "ce_id";
    pub const SOURCE: &str = "ce_source";
    pub const TYPE: &str = "ce_type";
    pub const TIME: &str = "ce_time";
    pub const CONTENT_TYPE: &str = "content-type";
    pub const CORRELATION_ID: &str = "ce_correlationid";
    pub const CAUSATION_ID: &str = "ce_causationid";
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
}

/// The CloudEvents spec version sluice writes and accepts.
pub const SPEC_VERSION: &str = "1.0";

/// CloudEvents attributes of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique per event; a UUIDv7 when sluice creates it, so ids sort by time.
    /// Kept across retries, so consumers and AWS targets can deduplicate.
    pub id: String,
    /// Who produced the event, as a URI reference (e.g. `/services/ingest`).
    pub source: String,
    /// The event type, e.g. `email.received.v1`.
    pub event_type: String,
    /// When the event happened. Optional on records from other producers.
    pub time: Option<SystemTime>,
    pub content_type: Option<String>,
    pub correlation_id: Option<String>,
    pub causation_id: Option<String>,
    pub trace: Option<TraceContext>,
}

impl Envelope {
    /// A fresh envelope for an event of type `E`: new UUIDv7 id, the current
    /// time (to the millisecond, as `ce_time` carries it), and `E`'s type and
    /// content type.
    pub fn new<E: Event>(source: impl Into<String>) -> Self {
        Self::for_type(E::EVENT_TYPE, <E::Codec as Codec<E>>::FORMAT, source)
    }

    /// A fresh envelope for an event known only by its type and format, for
    /// tools without generated types.
    pub fn for_type(event_type: &str, format: crate::Format, source: impl Into<String>) -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let millis = Duration::from_millis(since_epoch.as_millis() as u64);
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            source: source.into(),
            event_type: event_type.to_owned(),
            time: Some(SystemTime::UNIX_EPOCH + millis),
            content_type: Some(format.content_type().to_owned()),
            correlation_id: None,
            causation_id: None,
            trace: None,
        }
    }

    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    pub fn with_causation_id(mut self, id: impl Into<String>) -> Self {
        self.causation_id = Some(id.into());
        self
    }

    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    /// Calls `write` once per header, in a fixed order.
    pub fn write_headers(&self, mut write: impl FnMut(&'static str, &[u8])) {
        write(header::SPECVERSION, SPEC_VERSION.as_bytes());
        write(header::ID, self.id.as_bytes());
        write(header::SOURCE, self.source.as_bytes());
        write(header::TYPE, self.event_type.as_bytes());
        // RFC 3339 has four-digit years (and humantime panics past 9999):
        // a time outside 1970–9999 is left out rather than written wrong.
        if let Some(time) = self.time.and_then(rfc3339_millis) {
            write(header::TIME, time.as_bytes());
        }
        let optional = [
            (header::CONTENT_TYPE, &self.content_type),
            (header::CORRELATION_ID, &self.correlation_id),
            (header::CAUSATION_ID, &self.causation_id),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                write(name, value.as_bytes());
            }
        }
        if let Some(trace) = &self.trace {
            write(header::TRACEPARENT, trace.traceparent.as_bytes());
            if let Some(state) = &trace.tracestate {
                write(header::TRACESTATE, state.as_bytes());
            }
        }
    }

    /// Reads an envelope from record headers. Headers it does not know are
    /// ignored; when a header repeats, the last one wins, as in Kafka's
    /// `Headers.lastHeader`.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> Result<Self, EnvelopeError> {
        let mut specversion = None;
        let mut id = None;
        let mut source = None;
        let mut event_type = None;
        let mut time = None;
        let mut content_type = None;
        let mut correlation_id = None;
        let mut causation_id = None;
        let mut traceparent = None;
        let mut tracestate = None;
        for (name, value) in headers {
            let (slot, name): (&mut Option<String>, &'static str) = match name {
                header::SPECVERSION => (&mut specversion, header::SPECVERSION),
                header::ID => (&mut id, header::ID),
                header::SOURCE => (&mut source, header::SOURCE),
                header::TYPE => (&mut event_type, header::TYPE),
                header::TIME => (&mut time, header::TIME),
                header::CONTENT_TYPE => (&mut content_type, header::CONTENT_TYPE),
                header::CORRELATION_ID => (&mut correlation_id, header::CORRELATION_ID),
                header::CAUSATION_ID => (&mut causation_id, header::CAUSATION_ID),
                header::TRACEPARENT => (&mut traceparent, header::TRACEPARENT),
                header::TRACESTATE => (&mut tracestate, header::TRACESTATE),
                _ => continue,
            };
            *slot = value
                .map(|v| {
                    std::str::from_utf8(v)
                        .map(str::to_owned)
                        .map_err(|_| EnvelopeError::NotUtf8 { header: name })
                })
                .transpose()?;
        }
        let specversion = specversion.ok_or(EnvelopeError::Missing(header::SPECVERSION))?;
        if specversion != SPEC_VERSION {
            return Err(EnvelopeError::Invalid {
                header: header::SPECVERSION,
                value: specversion,
                reason: format!("only CloudEvents {SPEC_VERSION} is supported"),
            });
        }
        let time = time
            .map(|t| {
                humantime::parse_rfc3339_weak(&t).map_err(|e| EnvelopeError::Invalid {
                    header: header::TIME,
                    reason: e.to_string(),
                    value: t,
                })
            })
            .transpose()?;
        let trace = traceparent
            .map(|tp| TraceContext::new(tp, tracestate))
            .transpose()?;
        Ok(Self {
            id: required(id, header::ID)?,
            source: required(source, header::SOURCE)?,
            event_type: required(event_type, header::TYPE)?,
            time,
            content_type,
            correlation_id,
            causation_id,
            trace,
        })
    }
}

fn required(value: Option<String>, header: &'static str) -> Result<String, EnvelopeError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(EnvelopeError::Missing(header)),
    }
}

/// W3C trace context (`traceparent`, `tracestate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceContext {
    /// Validates `traceparent` as `version-traceid-parentid-flags`
    /// (`00-<32 hex>-<16 hex>-<2 hex>`), with non-zero ids.
    pub fn new(traceparent: String, tracestate: Option<String>) -> Result<Self, EnvelopeError> {
        let invalid = |reason: &str| EnvelopeError::Invalid {
            header: header::TRACEPARENT,
            value: traceparent.clone(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = traceparent.split('-').collect();
        let [version, trace_id, parent_id, flags] = parts[..] else {
            return Err(invalid("expected four dash-separated fields"));
        };
        let lower_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !lower_hex(version, 2) || version == "ff" {
            return Err(invalid("bad version"));
        }
        if !lower_hex(trace_id, 32) || trace_id.bytes().all(|b| b == b'0') {
            return Err(invalid(
                "trace id must be 32 lowercase hex digits, not all zero",
            ));
        }
        if !lower_hex(parent_id, 16) || parent_id.bytes().all(|b| b == b'0') {
            return Err(invalid(
                "parent id must be 16 lowercase hex digits, not all zero",
            ));
        }
        if !lower_hex(flags, 2) {
            return Err(invalid("flags must be 2 lowercase hex digits"));
        }
        Ok(Self {
            traceparent,
            tracestate,
        })
    }

    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }
}

/// `time` as RFC 3339 UTC to the millisecond (`2026-11-26T08:00:00.000Z`),
/// as `ce_time` carries it; `None` outside 1970–9999, which that form
/// cannot write (and humantime would panic on past 9999).
pub fn rfc3339_millis(time: SystemTime) -> Option<String> {
    const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);
    let since = time.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    (since < YEAR_10000).then(|| humantime::format_rfc3339_millis(time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            id: "0191d8a6-7a3b-7cc0-8c1e-3f2a1b4c5d6e".into(),
            source: "/services/ingest".into(),
            event_type: "email.received.v1".into(),
            time: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_123)),
            content_type: Some("application/vnd.confluent.protobuf".into()),
            correlation_id: Some("req-1".into()),
            causation_id: None,
            trace: Some(
                TraceContext::new(
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                    Some("vendor=x".into()),
                )
                .expect("valid traceparent"),
            ),
        }
    }

    fn headers_of(envelope: &Envelope) -> Vec<(&'static str, Vec<u8>)> {
        let mut headers = Vec::new();
        envelope.write_headers(|k, v| headers.push((k, v.to_vec())));
        headers
    }

    #[test]
    fn headers_round_trip() {
        let envelope = sample();
        let headers = headers_of(&envelope);
        let names: Vec<_> = headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "ce_specversion",
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_time",
                "content-type",
                "ce_correlationid",
                "traceparent",
                "tracestate"
            ]
        );
        let time = headers
            .iter()
            .find(|(k, _)| *k == "ce_time")
            .map(|(_, v)| v.as_slice());
        assert_eq!(time, Some(&b"2025-11-24T16:00:00.123Z"[..]));
        let back = Envelope::from_headers(headers.iter().map(|(k, v)| (*k, Some(v.as_slice()))))
            .expect("valid envelope");
        assert_eq!(back, envelope);
    }

    #[test]
    fn missing_and_invalid_headers_are_typed() {
        let headers = headers_of(&sample());
        let without = |name: &str| {
            Envelope::from_headers(
                headers
                    .iter()
                    .filter(|(k, _)| *k != name)
                    .map(|(k, v)| (*k, Some(v.as_slice()))),
            )
        };
        assert_eq!(without("ce_id"), Err(EnvelopeError::Missing("ce_id")));
        assert_eq!(without("ce_type"), Err(EnvelopeError::Missing("ce_type")));
        assert_eq!(
            without("ce_specversion"),
            Err(EnvelopeError::Missing("ce_specversion"))
        );
        let bad_time = Envelope::from_headers([
            ("ce_specversion", Some(&b"1.0"[..])),
            ("ce_id", Some(b"1")),
            ("ce_source", Some(b"/s")),
            ("ce_type", Some(b"t")),
            ("ce_time", Some(b"yesterday")),
        ]);
        assert!(matches!(
            bad_time,
            Err(EnvelopeError::Invalid {
                header: "ce_time",
                ..
            })
        ));
        let not_utf8 = Envelope::from_headers([("ce_id", Some(&[0xff, 0xfe][..]))]);
        assert_eq!(not_utf8, Err(EnvelopeError::NotUtf8 { header: "ce_id" }));
    }

    #[test]
    fn traceparent_is_validated() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            TraceContext::new(ok.into(), None)
                .expect("valid")
                .trace_id(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(
                TraceContext::new(bad.into(), None).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn times_without_an_rfc3339_form_are_left_out() {
        let mut envelope = Envelope::for_type("t.v1", crate::Format::Protobuf, "src");
        for (time, written) in [
            (
                SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799),
                true,
            ),
            (
                SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800),
                false,
            ),
            (
                SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 1_000_000),
                false,
            ),
            (SystemTime::UNIX_EPOCH - Duration::from_secs(1), false),
        ] {
            envelope.time = Some(time);
            let mut seen = false;
            envelope.write_headers(|name, _| seen |= name == header::TIME);
            assert_eq!(seen, written, "{time:?}");
        }
    }
}
