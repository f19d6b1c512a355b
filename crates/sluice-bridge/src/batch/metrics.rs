//! The metric handles of one route's batcher.

use metrics::{Counter, Histogram};
use sluice_telemetry::metrics as names;

use super::BatchSender;

/// Metric handles of one route.
pub(super) struct RouteMetrics {
    pub(super) route: String,
    pub(super) sent: Counter,
    pub(super) duration: Histogram,
}

impl RouteMetrics {
    pub(super) fn new<S: BatchSender>(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            sent: metrics::counter!(
                names::BRIDGE_ENTRIES_SENT,
                "route" => route.to_owned(),
                "destination" => S::DESTINATION
            ),
            duration: metrics::histogram!(names::BRIDGE_CALL_DURATION, "route" => route.to_owned()),
        }
    }

    pub(super) fn call(&self, outcome: &'static str) {
        metrics::counter!(names::BRIDGE_CALLS, "route" => self.route.clone(), "outcome" => outcome)
            .increment(1);
    }

    pub(super) fn failed(&self, reason: &str, n: u64) {
        if n > 0 {
            metrics::counter!(
                names::BRIDGE_ENTRIES_FAILED,
                "route" => self.route.clone(),
                "reason" => reason.to_owned()
            )
            .increment(n);
        }
    }
}
