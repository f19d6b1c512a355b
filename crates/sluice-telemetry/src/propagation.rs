//! W3C trace context through Kafka headers, and on to AWS in X-Ray's
//! format.
//!
//! A producer span's context goes into the record's `traceparent` and
//! `tracestate` headers ([`current`]); a consumer span continues that trace
//! ([`continue_from`]); a bridge passes it to EventBridge (`TraceHeader`)
//! and SQS (`AWSTraceHeader`) as an X-Ray header ([`xray_header`]).

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sluice_core::TraceContext;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The context of the current `tracing` span, as W3C headers; `None` when
/// no OpenTelemetry layer is installed or the span is not sampled in.
pub fn current() -> Option<TraceContext> {
    of(&tracing::Span::current())
}

/// The context of `span`, as W3C headers.
pub fn of(span: &tracing::Span) -> Option<TraceContext> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    let traceparent = carrier.remove("traceparent")?;
    let tracestate = carrier.remove("tracestate").filter(|s| !s.is_empty());
    TraceContext::new(traceparent, tracestate).ok()
}

/// Makes `span` a child of the trace in `traceparent`/`tracestate` (the
/// record's headers). Malformed or missing headers leave the span a root.
pub fn continue_from(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Adds a link from `span` to the span in `trace` (for a batch call that
/// carries entries of many traces).
pub fn link(span: &tracing::Span, trace: &TraceContext) {
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_owned(), trace.traceparent().to_owned());
    if let Some(state) = trace.tracestate() {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    let context = TraceContextPropagator::new().extract(&carrier);
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// A W3C `traceparent` (`00-<32 hex trace id>-<16 hex span id>-<flags>`) as
/// an X-Ray trace header: `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`.
/// X-Ray's root is the W3C trace id split after its first 8 hex digits
/// (the epoch seconds in X-Ray ids), so both name the same trace.
pub fn xray_header(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (Some(version), Some(trace_id), Some(span_id), Some(flags), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if version != "00" || !hex(trace_id, 32) || !hex(span_id, 16) || !hex(flags, 2) {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1;
    Some(format!(
        "Root=1-{}-{};Parent={span_id};Sampled={sampled}",
        &trace_id[..8],
        &trace_id[8..]
    ))
}

#[cfg(test)]
mod tests {
    use super::xray_header;

    #[test]
    fn w3c_to_xray() {
        assert_eq!(
            xray_header("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01").as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        );
        assert_eq!(
            xray_header("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00").as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
        );
        assert_eq!(
            xray_header("01-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"),
            None
        );
        assert_eq!(xray_header("00-xyz-53995c3f42cd8ad8-01"), None);
        assert_eq!(xray_header("garbage"), None);
    }
}
