//! What a run measured: its phases' durations, the consumers' check, lag
//! and resources, the rates and percentiles derived from them, and its
//! summary rows and JSON.

use std::time::Duration;

use super::Workload;
use crate::workload::{Check, LagSamples, Resources, SharedCheck};

/// How long the phases of a run took, and how many sends failed.
pub(super) struct Timing {
    pub(super) produce: Duration,
    pub(super) consume: Duration,
    pub(super) total: Duration,
    pub(super) produce_errors: u64,
}

type Row = (&'static str, fn(&Outcome) -> f64, bool);

/// What a run measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) events: u64,
    pub(crate) produce_time: Duration,
    pub(crate) consume_time: Duration,
    pub(crate) total_time: Duration,
    pub(crate) check: Check,
    pub(crate) produce_errors: u64,
    pub(crate) handler_errors: u64,
    pub(crate) lag: Option<LagSamples>,
    pub(crate) resources: Resources,
    pub(crate) cpu: Duration,
}

impl Outcome {
    /// The outcome of a finished run; `cpu_before` is the process's CPU
    /// time when it started.
    pub(super) fn new(
        workload: &Workload,
        check: SharedCheck,
        timing: Timing,
        lag: Option<LagSamples>,
        cpu_before: Duration,
    ) -> Self {
        // Taken out rather than unwrapped: a consumer whose close lagged past
        // its deadline may still hold its handler, though it handles nothing.
        let check = std::mem::replace(
            &mut *check.lock().unwrap_or_else(|e| e.into_inner()),
            Check::new(0, 0, 0),
        );
        let resources = Resources::now();
        Self {
            events: workload.events,
            produce_time: timing.produce,
            consume_time: timing.consume,
            total_time: timing.total,
            handler_errors: check.undecodable,
            check,
            produce_errors: timing.produce_errors,
            lag,
            cpu: resources.cpu.saturating_sub(cpu_before),
            resources,
        }
    }

    fn rate(n: u64, d: Duration) -> f64 {
        n as f64 / d.as_secs_f64().max(1e-9)
    }

    pub(crate) fn produce_rate(&self) -> f64 {
        Self::rate(self.events, self.produce_time)
    }

    pub(crate) fn consume_rate(&self) -> f64 {
        Self::rate(self.check.consumed, self.consume_time)
    }

    pub(crate) fn end_to_end_rate(&self) -> f64 {
        Self::rate(self.check.unique, self.total_time)
    }

    pub(crate) fn latency_ms(&self, percentile: f64) -> f64 {
        if self.check.latency.is_empty() {
            return f64::NAN;
        }
        self.check.latency.value_at_percentile(percentile) as f64 / 1_000.0
    }

    pub(crate) fn lag_ms(&self, percentile: f64) -> f64 {
        match &self.lag {
            Some(lag) if !lag.0.is_empty() => lag.0.value_at_percentile(percentile) as f64,
            Some(_) => 0.0,
            None => f64::NAN,
        }
    }

    pub(crate) fn error_rate(&self) -> f64 {
        (self.produce_errors + self.handler_errors) as f64 / self.events.max(1) as f64
    }

    /// The summary table's rows: name, value, whether a ratio makes sense.
    pub(crate) fn rows() -> Vec<Row> {
        vec![
            ("produced/s", Outcome::produce_rate, true),
            ("consumed/s", Outcome::consume_rate, true),
            ("end to end/s", Outcome::end_to_end_rate, true),
            ("latency p50 ms", |o| o.latency_ms(50.0), true),
            ("latency p95 ms", |o| o.latency_ms(95.0), true),
            ("latency p99 ms", |o| o.latency_ms(99.0), true),
            ("latency p99.9 ms", |o| o.latency_ms(99.9), true),
            ("latency max ms", |o| o.latency_ms(100.0), true),
            ("consumer lag p99 ms", |o| o.lag_ms(99.0), false),
            ("consumer lag max ms", |o| o.lag_ms(100.0), false),
            (
                "errors",
                |o| (o.produce_errors + o.handler_errors) as f64,
                false,
            ),
            ("lost", |o| o.check.lost() as f64, false),
            ("duplicated", |o| o.check.duplicates as f64, false),
            (
                "out of order (key)",
                |o| o.check.order_violations as f64,
                false,
            ),
            ("undecodable", |o| o.check.undecodable as f64, false),
            ("CPU s", |o| o.cpu.as_secs_f64(), true),
            (
                "peak RSS MiB (process)",
                |o| o.resources.peak_rss_bytes as f64 / 1_048_576.0,
                false,
            ),
        ]
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let num = |v: f64| {
            if v.is_finite() {
                serde_json::json!(v)
            } else {
                serde_json::Value::Null
            }
        };
        serde_json::json!({
            "events": self.events,
            "produced_per_s": num(self.produce_rate()),
            "consumed_per_s": num(self.consume_rate()),
            "end_to_end_per_s": num(self.end_to_end_rate()),
            "wall_s": self.total_time.as_secs_f64(),
            "latency_ms": {
                "p50": num(self.latency_ms(50.0)),
                "p95": num(self.latency_ms(95.0)),
                "p99": num(self.latency_ms(99.0)),
                "p99_9": num(self.latency_ms(99.9)),
                "max": num(self.latency_ms(100.0)),
                "measured_from": if self.check.schedule.is_some() { "due time at the fixed rate (corrects coordinated omission)" } else { "record timestamp" },
            },
            "consumer_lag_ms": { "p99": num(self.lag_ms(99.0)), "max": num(self.lag_ms(100.0)) },
            "errors": { "produce": self.produce_errors, "handler": self.handler_errors, "rate": self.error_rate() },
            "sequence": {
                "consumed": self.check.consumed,
                "unique": self.check.unique,
                "lost": self.check.lost(),
                "duplicated": self.check.duplicates,
                "out_of_order": self.check.order_violations,
                "undecodable": self.check.undecodable,
            },
            "peak_rss_bytes": self.resources.peak_rss_bytes,
            "cpu_s": self.cpu.as_secs_f64(),
        })
    }
}
