//! What the load test sends and how it checks what arrives.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use sluice_core::Event;
use sluice_events::samples::{self, Seed};
use sluice_events::{avro, proto};

/// An event type the load test can generate and check.
pub(crate) trait LoadEvent: Event + Clone {
    /// Event `sequence` of `key`, padded to about `payload_bytes` encoded.
    fn generate(sequence: u64, key: &str, payload_bytes: usize) -> Self;
    /// The sequence number carried in the event id.
    fn sequence(&self) -> Option<u64>;
}

impl LoadEvent for proto::EmailReceived {
    fn generate(sequence: u64, key: &str, payload_bytes: usize) -> Self {
        let seed = Seed {
            sequence,
            email_id: key,
            ..Seed::default()
        };
        samples::proto_email_received_sized(&seed, payload_bytes)
    }
    fn sequence(&self) -> Option<u64> {
        samples::sequence_of(&self.metadata.as_ref()?.event_id)
    }
}

impl LoadEvent for avro::EmailReceived {
    fn generate(sequence: u64, key: &str, payload_bytes: usize) -> Self {
        let mut event = samples::avro_email_received(&Seed {
            sequence,
            email_id: key,
            ..Seed::default()
        });
        // An Avro string is its length and its bytes: padding the subject
        // grows the record by about as much.
        const UNPADDED: usize = 420;
        if payload_bytes > UNPADDED {
            event
                .subject
                .push_str(&"x".repeat(payload_bytes - UNPADDED));
        }
        event
    }
    fn sequence(&self) -> Option<u64> {
        samples::sequence_of(&self.metadata.event_id)
    }
}

/// Microseconds since the epoch.
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// When each event was due at a fixed rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    start_us: i64,
    interval_us: u64,
}

/// Everything the consumers saw.
#[derive(Debug)]
pub(crate) struct Check {
    seen: Vec<u32>,
    keys: u64,
    pub(crate) consumed: u64,
    pub(crate) unique: u64,
    pub(crate) duplicates: u64,
    pub(crate) order_violations: u64,
    pub(crate) undecodable: u64,
    /// End-to-end latency in µs, handler time minus the time the event was
    /// due at a fixed rate (so a stalled sender does not hide delays:
    /// coordinated omission), or minus the record timestamp when unpaced
    /// (1 ms resolution).
    pub(crate) latency: Histogram<u64>,
    pub(crate) schedule: Option<Schedule>,
    /// Warm-up events (numbered after the measured ones) and how many of
    /// them arrived; they count for nothing else.
    pub(crate) warmup: u64,
    pub(crate) warmed: u64,
}

impl Check {
    pub(crate) fn new(events: u64, keys: u64, warmup: u64) -> Self {
        Self {
            seen: vec![0; events as usize],
            keys,
            consumed: 0,
            unique: 0,
            duplicates: 0,
            order_violations: 0,
            undecodable: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            schedule: None,
            warmup,
            warmed: 0,
        }
    }

    /// Events are due every `interval_us` from now on (0: unpaced).
    pub(crate) fn start_schedule(&mut self, interval_us: u64) {
        self.schedule = (interval_us > 0).then(|| Schedule {
            start_us: now_us(),
            interval_us,
        });
    }

    /// Records event `sequence`, produced at `timestamp_ms`. Order holds
    /// when the previous event of its key was seen before it (at-least-once
    /// replays repeat a suffix in order).
    /// Returns false for warm-up events.
    pub(crate) fn record(&mut self, sequence: u64, timestamp_ms: Option<i64>) -> bool {
        if (self.seen.len() as u64..self.seen.len() as u64 + self.warmup).contains(&sequence) {
            self.warmed += 1;
            return false;
        }
        self.consumed += 1;
        let Some(count) = self.seen.get_mut(sequence as usize) else {
            self.undecodable += 1;
            return true;
        };
        *count += 1;
        if *count > 1 {
            self.duplicates += 1;
            return true;
        }
        self.unique += 1;
        if let Some(previous) = sequence.checked_sub(self.keys)
            && self.seen[previous as usize] == 0
        {
            self.order_violations += 1;
        }
        let since_us = match (self.schedule, timestamp_ms) {
            (Some(s), _) => Some(s.start_us + (sequence * s.interval_us) as i64),
            (None, Some(ts)) => Some(ts * 1_000),
            (None, None) => None,
        };
        if let Some(since_us) = since_us {
            let latency_us = (now_us() - since_us).max(1) as u64;
            self.latency.saturating_record(latency_us);
        }
        true
    }

    pub(crate) fn lost(&self) -> u64 {
        self.seen.len() as u64 - self.unique
    }
}

/// The check shared by every consumer task.
pub(crate) type SharedCheck = std::sync::Arc<Mutex<Check>>;

/// Lag samples (ms) taken while the run lasts.
#[derive(Debug)]
pub(crate) struct LagSamples(pub(crate) Histogram<u64>);

impl LagSamples {
    pub(crate) fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds"))
    }

    pub(crate) fn record(&mut self, lag: Duration) {
        self.0.saturating_record((lag.as_millis() as u64).max(1));
    }
}

/// The partition keys events cycle through.
pub(crate) fn keys(count: u64) -> Vec<String> {
    (0..count).map(|k| format!("email-{k}")).collect()
}

/// Process-wide resource use, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Resources {
    pub(crate) peak_rss_bytes: u64,
    pub(crate) cpu: Duration,
}

impl Resources {
    pub(crate) fn now() -> Self {
        let peak_rss_bytes = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024);
        // utime and stime, fields 14 and 15 of /proc/self/stat, in clock
        // ticks (100 per second on Linux).
        let cpu = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| {
                let after_name = stat.rsplit_once(')')?.1;
                let fields: Vec<&str> = after_name.split_whitespace().collect();
                let utime: u64 = fields.get(11)?.parse().ok()?;
                let stime: u64 = fields.get(12)?.parse().ok()?;
                Some(Duration::from_millis((utime + stime) * 10))
            })
            .unwrap_or_default();
        Self {
            peak_rss_bytes,
            cpu,
        }
    }
}
