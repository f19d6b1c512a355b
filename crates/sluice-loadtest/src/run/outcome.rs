//! What a run measured: its phases' durations, the consumers' check, lag
//! and resources, and the rates and percentiles derived from them.

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
}
