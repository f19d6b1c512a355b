//! The command line: flags, their bounds, and the workload and client
//! configuration they make.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use sluice_kafka::KafkaConfig;

use crate::run::{RawRecords, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Protobuf,
    Avro,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Baseline {
    /// Bare rdkafka sending the same records (key, framed value and the
    /// CloudEvents headers, made by hand) with a `FutureProducer`, and
    /// `BaseConsumer`s that read `ce_type` and decode: no producer or
    /// consumer runtime.
    Raw,
    /// Bare rdkafka with key and framed value only, no headers: what the
    /// records would cost without the CloudEvents envelope.
    RawBare,
}

impl Baseline {
    pub(crate) fn records(self) -> RawRecords {
        match self {
            Baseline::Raw => RawRecords::Same,
            Baseline::RawBare => RawRecords::Bare,
        }
    }
}

#[derive(Debug, Clone, Parser)]
#[command(
    about,
    version,
    after_help = "Examples:\n  sluice-loadtest                               # 200 000 events on the embedded cluster, as fast as possible\n  sluice-loadtest --rate 10000 --duration 30s   # fixed rate: latency corrected for coordinated omission\n  sluice-loadtest --baseline raw --report out.json\n  sluice-loadtest --brokers b-1:9092 --config client.toml --partitions 12 --consumers 3"
)]
pub(crate) struct Args {
    /// Bootstrap servers; the embedded mock cluster when absent.
    #[arg(long)]
    pub(crate) brokers: Option<String>,
    /// A TOML file with a `[kafka]` table (security settings and librdkafka
    /// properties), as the libraries read it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = "sluice.loadtest")]
    topic: String,
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Events to send (ignored with `--duration`).
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Run for this long at `--rate` (sends rate × duration events).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Events per second; 0 sends as fast as the window allows.
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Consumer-group members.
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Distinct partition keys; order is checked per key.
    #[arg(long, default_value_t = 64)]
    keys: u64,
    #[arg(long, value_enum, default_value_t = Format::Protobuf)]
    pub(crate) format: Format,
    /// Encoded size of each event, about.
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// The most events sent but not yet consumed. Keeps the run closed
    /// loop: the mock cluster keeps only 5 MiB per partition, and a consumer
    /// further behind than that would find its records deleted. It also
    /// bounds consumer lag: at 100 000 events/s, 5 000 events are 50 ms.
    #[arg(long, default_value_t = 5_000)]
    max_lag: u64,
    /// Events sent and consumed before measuring starts.
    #[arg(long, default_value_t = 1_000)]
    warmup_events: u64,
    /// Give up when the consumers see nothing new for this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Run the same workload with bare rdkafka first, for ratios.
    #[arg(long, value_enum)]
    pub(crate) baseline: Option<Baseline>,
    /// Repeat the run (baseline, then sluice) this many times on fresh
    /// topics; the summary shows the round with the median sluice/raw ratio
    /// (or median sluice rate), and every round must pass the thresholds.
    /// On a shared machine one run says little; the ratios of several do.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub(crate) rounds: u32,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// Fail below this many events per second end to end [default: 10 000;
    /// with `--rate`, 98 % of the rate: a paced run must keep up with it,
    /// and its last events' latency counts against its duration].
    #[arg(long)]
    pub(crate) min_rate: Option<f64>,
    /// Fail when end-to-end latency p99 exceeds this (ms).
    #[arg(long)]
    pub(crate) max_p99_ms: Option<f64>,
    /// Fail when consumer lag p99 exceeds this (ms).
    #[arg(long, default_value_t = 100.0)]
    pub(crate) max_lag_p99_ms: f64,
    /// Fail when more than this fraction of sends or handler calls fail.
    #[arg(long, default_value_t = 0.01)]
    pub(crate) max_error_rate: f64,
}

/// Bounds on the flags, far above any run this machine could make.
const MAX_EVENTS: u64 = 1_000_000_000;
const MAX_KEYS: u64 = 10_000_000;
const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;
/// Pacing is kept in microseconds between sends.
const MAX_RATE: u64 = 500_000;

impl Args {
    /// The cluster the run names: `--brokers`, or the embedded mock
    /// cluster's.
    pub(crate) fn broker_name(&self) -> &str {
        self.brokers.as_deref().unwrap_or("embedded mock cluster")
    }

    /// The client settings of `--config`, if given, with `bootstrap` as the
    /// bootstrap servers.
    pub(crate) fn kafka(&self, bootstrap: String) -> anyhow::Result<KafkaConfig> {
        let mut kafka = match &self.config {
            Some(path) => {
                #[derive(serde::Deserialize)]
                struct File {
                    kafka: KafkaConfig,
                }
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<File>(&text)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{} is not a valid client configuration: {}",
                            path.display(),
                            sluice_kafka::toml_error(&e, &text)
                        )
                    })?
                    .kafka
            }
            None => KafkaConfig::new(bootstrap.clone()),
        };
        kafka.bootstrap_servers = bootstrap;
        Ok(kafka)
    }

    pub(crate) fn workload(&self, kafka: KafkaConfig) -> anyhow::Result<Workload> {
        let events = match self.duration {
            Some(_) if self.rate == 0 => {
                bail!("--duration needs --rate (events per second)")
            }
            Some(duration) => (self.rate as f64 * duration.as_secs_f64()).round() as u64,
            None => self.events,
        };
        if events == 0 || self.keys == 0 || self.producers == 0 || self.consumers == 0 {
            bail!("events, --keys, --producers and --consumers must be at least 1");
        }
        if self.partitions < 1 {
            bail!("--partitions must be at least 1");
        }
        // The run keeps a slot per event and per key, and builds payloads
        // of this size: refuse what cannot fit rather than overflow.
        if events > MAX_EVENTS || self.warmup_events > MAX_EVENTS {
            bail!("at most {MAX_EVENTS} events (and warm-up events) per run");
        }
        if self.keys > MAX_KEYS {
            bail!("--keys is at most {MAX_KEYS}");
        }
        if self.payload_bytes > MAX_PAYLOAD_BYTES {
            bail!("--payload-bytes is at most {MAX_PAYLOAD_BYTES}");
        }
        if self.rate > MAX_RATE {
            bail!("--rate is at most {MAX_RATE} events per second");
        }
        Ok(Workload {
            kafka,
            topic: self.topic.clone(),
            partitions: self.partitions,
            events,
            rate: self.rate,
            producers: self.producers,
            consumers: self.consumers,
            keys: self.keys,
            payload_bytes: self.payload_bytes,
            max_lag: self.max_lag.max(1),
            idle_timeout: self.idle_timeout,
            warmup: self.warmup_events,
            // The mock cluster answers a fetch only after the longest wait
            // the consumer allows, even with records ready; a short wait
            // keeps its latency near a real broker's.
            consumer_properties: if self.brokers.is_none() {
                vec![("fetch.wait.max.ms".to_owned(), "5".to_owned())]
            } else {
                Vec::new()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(flags: &[&str]) -> anyhow::Result<Workload> {
        let args =
            Args::try_parse_from(std::iter::once("sluice-loadtest").chain(flags.iter().copied()))?;
        args.workload(KafkaConfig::new("localhost:9092"))
    }

    #[test]
    fn a_duration_at_a_rate_sets_the_events() -> anyhow::Result<()> {
        let paced = workload(&["--rate", "1000", "--duration", "2500ms", "--events", "7"])?;
        assert_eq!(paced.events, 2_500);
        assert_eq!(workload(&["--events", "7"])?.events, 7);
        Ok(())
    }

    #[test]
    fn flags_out_of_bounds_are_refused() {
        for flags in [
            &["--duration", "5s"][..],
            &["--keys", "0"],
            &["--partitions", "0"],
            &["--events", "1000000001"],
            &["--rate", "500001"],
            &["--payload-bytes", "16777217"],
        ] {
            assert!(workload(flags).is_err(), "{flags:?}");
        }
    }

    #[test]
    fn only_the_mock_cluster_gets_short_fetch_waits() -> anyhow::Result<()> {
        assert_eq!(workload(&[])?.consumer_properties.len(), 1);
        assert!(
            workload(&["--brokers", "b-1:9092"])?
                .consumer_properties
                .is_empty()
        );
        Ok(())
    }
}
