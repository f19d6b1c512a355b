//! One run of the workload: with sluice's producer and consumer runtime, or
//! with bare rdkafka as the baseline.
//!
//! Both runs go through the same phases (`phases`): wait until the
//! consumers own every partition, warm up, send each producer's share
//! paced by `pace`, then wait for the consumers; `progress` prints a line a
//! second and samples consumer lag. They differ in how they send
//! (`sender`) and how they consume (`sluice`, `raw`). `outcome` is what a
//! run measured.

mod outcome;
mod pace;
mod phases;
mod progress;
mod raw;
mod sender;
mod sluice;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_kafka::KafkaConfig;
use sluice_producer::ProducerConfig;

pub(crate) use self::outcome::Outcome;
pub(crate) use self::raw::{RawRecords, raw};
pub(crate) use self::sluice::sluice;
use crate::workload::{Check, LoadEvent, SharedCheck};

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub(crate) kafka: KafkaConfig,
    pub(crate) topic: String,
    pub(crate) partitions: i32,
    pub(crate) events: u64,
    pub(crate) rate: u64,
    pub(crate) producers: usize,
    pub(crate) consumers: usize,
    pub(crate) keys: u64,
    pub(crate) payload_bytes: usize,
    pub(crate) max_lag: u64,
    pub(crate) idle_timeout: Duration,
    /// Events sent and awaited before measuring.
    pub(crate) warmup: u64,
    /// librdkafka settings for the consumers only.
    pub(crate) consumer_properties: Vec<(String, String)>,
}

impl Workload {
    /// Microseconds between two sends at the fixed rate; 0 when unpaced.
    fn interval_us(&self) -> u64 {
        1_000_000u64
            .checked_div(self.rate)
            .map_or(0, |us| us.max(1))
    }

    fn check(&self) -> SharedCheck {
        Arc::new(Mutex::new(Check::new(self.events, self.keys, self.warmup)))
    }

    fn consumer_kafka(&self) -> KafkaConfig {
        let mut kafka = self.kafka.clone();
        kafka
            .properties
            .extend(self.consumer_properties.iter().cloned());
        kafka
    }

    fn producer_config<E: LoadEvent>(&self, topic: &str) -> ProducerConfig {
        let mut config = ProducerConfig::new(self.kafka.clone());
        config.source = "/sluice/loadtest".to_owned();
        config
            .topics
            .insert(E::EVENT_TYPE.to_owned(), topic.to_owned());
        config.max_record_bytes = config.max_record_bytes.max(self.payload_bytes * 2);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_rate(rate: u64) -> Workload {
        Workload {
            kafka: KafkaConfig::new("localhost:9092".to_owned()),
            topic: "t".into(),
            partitions: 1,
            events: 1,
            rate,
            producers: 1,
            consumers: 1,
            keys: 1,
            payload_bytes: 1,
            max_lag: 1,
            idle_timeout: Duration::from_secs(1),
            warmup: 0,
            consumer_properties: Vec::new(),
        }
    }

    #[test]
    fn the_send_interval_follows_the_rate() {
        assert_eq!(at_rate(0).interval_us(), 0, "unpaced");
        assert_eq!(at_rate(1).interval_us(), 1_000_000);
        assert_eq!(at_rate(3).interval_us(), 333_333);
        assert_eq!(at_rate(1_000_000).interval_us(), 1);
        assert_eq!(
            at_rate(2_000_000).interval_us(),
            1,
            "never unpaced by rounding"
        );
    }
}
