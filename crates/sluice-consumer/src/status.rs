//! What a running consumer reports: assignment, lag, readiness and the
//! gauges behind them.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::partition::PartitionState;

/// Where a partition stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The offset the group would resume from (committed or about to be).
    pub position: Option<i64>,
    /// The partition's end, from the client's statistics (every second).
    pub high_watermark: Option<i64>,
    /// Records between `position` and the end.
    pub records: Option<i64>,
    /// How long the oldest unfinished record has waited since it was
    /// produced; when all are finished but records remain, the age of the
    /// newest record read. 0 when caught up.
    pub millis: u64,
}

/// Assignment, readiness and lag of a running [`Consumer`].
#[derive(Debug, Clone, Default)]
pub struct ConsumerStatus {
    /// The consumer group, a label of every metric.
    group: Arc<str>,
    partitions: Arc<Mutex<PartitionStates>>,
    /// Why the consumer cannot go on, once it cannot.
    failure: Arc<Mutex<Option<String>>>,
    /// Dead letters that cannot be written now, and the last error.
    dlq: Arc<Mutex<DlqBlocked>>,
}

#[derive(Debug, Default)]
struct DlqBlocked {
    records: usize,
    error: String,
}

/// A dead letter that cannot be written yet: readiness is red while one
/// exists.
#[derive(Debug)]
pub(crate) struct DlqBlockedGuard(Arc<Mutex<DlqBlocked>>);

impl DlqBlockedGuard {
    pub(crate) fn set_error(&self, error: &dyn std::fmt::Display) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).error = error.to_string();
    }
}

impl Drop for DlqBlockedGuard {
    fn drop(&mut self) {
        let mut blocked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        blocked.records = blocked.records.saturating_sub(1);
    }
}

pub(crate) type PartitionStates = BTreeMap<(String, i32), Arc<PartitionState>>;

impl ConsumerStatus {
    pub(crate) fn new(group: Arc<str>) -> Self {
        Self {
            group,
            ..Self::default()
        }
    }

    pub(crate) fn partitions(&self) -> MutexGuard<'_, PartitionStates> {
        self.partitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the consumer stopped or is stopping abnormally, if it is.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts a dead letter that cannot be written until the guard drops.
    pub(crate) fn dlq_blocked(&self) -> DlqBlockedGuard {
        self.dlq.lock().unwrap_or_else(|e| e.into_inner()).records += 1;
        DlqBlockedGuard(Arc::clone(&self.dlq))
    }

    /// Records the first reason the consumer cannot go on; the poll thread
    /// stops at its next round.
    pub(crate) fn fail(&self, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            tracing::error!("{reason}");
            *failure = Some(reason);
        }
    }

    /// The partitions this member owns.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.partitions().keys().cloned().collect()
    }

    /// True once at least one partition is assigned.
    pub fn is_ready(&self) -> bool {
        !self.partitions().is_empty()
    }

    /// Sets the lag, in-flight and assignment gauges (the poll thread calls
    /// this every second; gauges of partitions no longer owned are not set
    /// again and leave the Prometheus output after its idle timeout).
    pub(crate) fn publish_metrics(&self) {
        use sluice_telemetry::metrics as names;
        let lag = self.lag();
        let group = self.group.to_string();
        metrics::gauge!(names::CONSUMER_ASSIGNED_PARTITIONS, "group" => group.clone())
            .set(lag.len() as f64);
        let in_flight: Vec<(String, i32, u64)> = self
            .partitions()
            .iter()
            .map(|((topic, partition), state)| {
                (topic.clone(), *partition, state.commits.in_flight())
            })
            .collect();
        for l in lag {
            let labels = [
                ("topic", l.topic.clone()),
                ("partition", l.partition.to_string()),
                ("group", group.clone()),
            ];
            if let Some(records) = l.records {
                metrics::gauge!(names::CONSUMER_LAG_RECORDS, &labels).set(records as f64);
            }
            metrics::gauge!(names::CONSUMER_LAG_SECONDS, &labels).set(l.millis as f64 / 1000.0);
        }
        for (topic, partition, n) in in_flight {
            let labels = [
                ("topic", topic),
                ("partition", partition.to_string()),
                ("group", group.clone()),
            ];
            metrics::gauge!(names::CONSUMER_IN_FLIGHT, &labels).set(n as f64);
        }
    }

    /// Lag of every owned partition.
    pub fn lag(&self) -> Vec<PartitionLag> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let known = |v: i64| (v >= 0).then_some(v);
        self.partitions()
            .iter()
            .map(|((topic, partition), state)| {
                // What this member finished, else what the group committed
                // (an idle partition is not behind by its whole size), else
                // the partition's start.
                let position = state
                    .commits
                    .position()
                    .or_else(|| known(state.group_committed.load(Ordering::Relaxed)))
                    .or_else(|| known(state.low_watermark.load(Ordering::Relaxed)));
                let high_watermark = known(state.high_watermark.load(Ordering::Relaxed));
                let records = match (high_watermark, position) {
                    (Some(hw), Some(position)) => Some(hw.saturating_sub(position).max(0)),
                    _ => None,
                };
                let oldest = known(state.oldest_pending_ms.load(Ordering::Relaxed));
                let newest = known(state.newest_received_ms.load(Ordering::Relaxed));
                let since = match (oldest, records) {
                    (Some(ts), _) => Some(ts),
                    (None, Some(r)) if r > 0 => newest,
                    _ => None,
                };
                PartitionLag {
                    topic: topic.clone(),
                    partition: *partition,
                    position,
                    high_watermark,
                    records,
                    millis: since.map_or(0, |ts| (now_ms - ts).max(0) as u64),
                }
            })
            .collect()
    }
}

impl sluice_telemetry::http::Readiness for ConsumerStatus {
    fn ready(&self) -> Result<(), String> {
        if let Some(reason) = self.failure() {
            return Err(reason);
        }
        {
            let dlq = self.dlq.lock().unwrap_or_else(|e| e.into_inner());
            if dlq.records > 0 {
                return Err(format!(
                    "{} dead letters cannot be written: {}",
                    dlq.records, dlq.error
                ));
            }
        }
        if self.is_ready() {
            Ok(())
        } else {
            Err("no partition assigned yet".to_owned())
        }
    }
}
