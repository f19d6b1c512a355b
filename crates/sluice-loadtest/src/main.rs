//! `sluice-loadtest`: typed events through a Kafka cluster, end to end,
//! with sluice's producer and consumer runtime.
//!
//! Produces `--events` typed `EmailReceived` events over `--keys` keys
//! (optionally at a fixed `--rate`), consumes them with the consumer
//! runtime, and reports throughput, end-to-end latency (HDR histogram; at a
//! fixed rate measured from each event's due time, which corrects for
//! coordinated omission), consumer lag,
//! errors, a sequence check (lost, duplicated, out of order per key), peak
//! RSS and CPU time. `--baseline raw` first runs the same workload with bare
//! rdkafka (the same records, CloudEvents headers included, made and read
//! by hand) and reports sluice/raw ratios; `--baseline raw-bare` sends key
//! and value only. Exits non-zero when a threshold
//! fails, and says which.
//!
//! With no `--brokers` it starts librdkafka's in-process mock cluster.

mod run;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use sluice_events::{avro, proto};
use sluice_kafka::KafkaConfig;
use sluice_testkit::{MockKafka, create_topic};

use crate::run::{Outcome, Workload};

// librdkafka's threads free what the application's threads allocate;
// glibc's malloc spends much of its time on arena locks then.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Protobuf,
    Avro,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Baseline {
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
    fn records(self) -> run::RawRecords {
        match self {
            Baseline::Raw => run::RawRecords::Same,
            Baseline::RawBare => run::RawRecords::Bare,
        }
    }
}

#[derive(Debug, Clone, Parser)]
#[command(
    about,
    version,
    after_help = "Examples:\n  sluice-loadtest                               # 200 000 events on the embedded cluster, as fast as possible\n  sluice-loadtest --rate 10000 --duration 30s   # fixed rate: latency corrected for coordinated omission\n  sluice-loadtest --baseline raw --report out.json\n  sluice-loadtest --brokers b-1:9092 --config client.toml --partitions 12 --consumers 3"
)]
struct Args {
    /// Bootstrap servers; the embedded mock cluster when absent.
    #[arg(long)]
    brokers: Option<String>,
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
    rate: u64,
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Consumer-group members.
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Distinct partition keys; order is checked per key.
    #[arg(long, default_value_t = 64)]
    keys: u64,
    #[arg(long, value_enum, default_value_t = Format::Protobuf)]
    format: Format,
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
    baseline: Option<Baseline>,
    /// Repeat the run (baseline, then sluice) this many times on fresh
    /// topics; the summary shows the round with the median sluice/raw ratio
    /// (or median sluice rate), and every round must pass the thresholds.
    /// On a shared machine one run says little; the ratios of several do.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// Write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Fail below this many events per second end to end [default: 10 000;
    /// with `--rate`, 98 % of the rate: a paced run must keep up with it,
    /// and its last events' latency counts against its duration].
    #[arg(long)]
    min_rate: Option<f64>,
    /// Fail when end-to-end latency p99 exceeds this (ms).
    #[arg(long)]
    max_p99_ms: Option<f64>,
    /// Fail when consumer lag p99 exceeds this (ms).
    #[arg(long, default_value_t = 100.0)]
    max_lag_p99_ms: f64,
    /// Fail when more than this fraction of sends or handler calls fail.
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,
}

/// Bounds on the flags, far above any run this machine could make.
const MAX_EVENTS: u64 = 1_000_000_000;
const MAX_KEYS: u64 = 10_000_000;
const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;
/// Pacing is kept in microseconds between sends.
const MAX_RATE: u64 = 500_000;

impl Args {
    fn workload(&self, kafka: KafkaConfig) -> anyhow::Result<Workload> {
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

/// A threshold and whether the run met it.
struct Verdict {
    name: String,
    passed: bool,
}

fn verdicts(args: &Args, sluice: &Outcome) -> Vec<Verdict> {
    let min_rate = args.min_rate.unwrap_or(match args.rate {
        0 => 10_000.0,
        rate => rate as f64 * 0.98,
    });
    let mut verdicts = vec![
        Verdict {
            name: format!(
                "end-to-end rate {:.0}/s >= {:.0}/s",
                sluice.end_to_end_rate(),
                min_rate
            ),
            passed: sluice.end_to_end_rate() >= min_rate,
        },
        Verdict {
            name: format!(
                "consumer lag p99 {:.0} ms < {:.0} ms",
                sluice.lag_ms(99.0),
                args.max_lag_p99_ms
            ),
            passed: sluice.lag_ms(99.0) < args.max_lag_p99_ms,
        },
        Verdict {
            name: format!(
                "error rate {:.4} < {}",
                sluice.error_rate(),
                args.max_error_rate
            ),
            passed: sluice.error_rate() < args.max_error_rate,
        },
        Verdict {
            name: format!("lost {} = 0", sluice.check.lost()),
            passed: sluice.check.lost() == 0,
        },
        Verdict {
            name: format!("out of order {} = 0", sluice.check.order_violations),
            passed: sluice.check.order_violations == 0,
        },
    ];
    if let Some(max) = args.max_p99_ms {
        verdicts.push(Verdict {
            name: format!("latency p99 {:.1} ms <= {max} ms", sluice.latency_ms(99.0)),
            passed: sluice.latency_ms(99.0) <= max,
        });
    }
    verdicts
}

fn print_summary(args: &Args, workload: &Workload, raw: Option<&Outcome>, sluice: &Outcome) {
    println!();
    println!(
        "sluice load test: {} {:?} EmailReceived events of ~{} bytes, {} keys, {} partitions, {} producer(s), {} consumer(s), rate {}",
        workload.events,
        args.format,
        workload.payload_bytes,
        workload.keys,
        workload.partitions,
        workload.producers,
        workload.consumers,
        if workload.rate == 0 {
            "max".to_owned()
        } else {
            format!("{}/s", workload.rate)
        }
    );
    println!(
        "broker: {}",
        args.brokers.as_deref().unwrap_or("embedded mock cluster")
    );
    println!();
    let rows = Outcome::rows();
    match raw {
        Some(raw) => {
            println!(
                "{:<26} {:>14} {:>14} {:>11}",
                "",
                match args.baseline {
                    Some(Baseline::RawBare) => "raw, no headers",
                    _ => "raw rdkafka",
                },
                "sluice",
                "sluice/raw"
            );
            for (name, value, ratio) in &rows {
                let (r, s) = (value(raw), value(sluice));
                let shown_ratio = match ratio {
                    true if r.is_finite() && r > 0.0 && s.is_finite() => format!("{:.2}×", s / r),
                    _ => String::new(),
                };
                println!("{name:<26} {:>14} {:>14} {shown_ratio:>11}", fmt(r), fmt(s));
            }
        }
        None => {
            println!("{:<26} {:>14}", "", "sluice");
            for (name, value, _) in &rows {
                println!("{name:<26} {:>14}", fmt(value(sluice)));
            }
        }
    }
    println!();
}

fn fmt(value: f64) -> String {
    if !value.is_finite() {
        "-".to_owned()
    } else if value >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// One round: the baseline's outcome, if any, and sluice's.
struct Round {
    raw: Option<Outcome>,
    sluice: Outcome,
}

impl Round {
    /// sluice/raw end to end, or sluice's rate without a baseline.
    fn score(&self) -> f64 {
        match &self.raw {
            Some(raw) => self.sluice.end_to_end_rate() / raw.end_to_end_rate(),
            None => self.sluice.end_to_end_rate(),
        }
    }
}

async fn run_rounds<E: workload::LoadEvent>(
    args: &Args,
    workload: &Workload,
    mock: Option<&MockKafka>,
) -> anyhow::Result<Vec<Round>> {
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let mut workload = workload.clone();
        if args.rounds > 1 {
            workload.topic = format!("{}.{round}", workload.topic);
            eprintln!("round {round} of {}", args.rounds);
        }
        let (raw, sluice) = run_all::<E>(args, &workload, mock).await?;
        rounds.push(Round { raw, sluice });
    }
    Ok(rounds)
}

async fn run_all<E: workload::LoadEvent>(
    args: &Args,
    workload: &Workload,
    mock: Option<&MockKafka>,
) -> anyhow::Result<(Option<Outcome>, Outcome)> {
    let bootstrap = workload.kafka.bootstrap_servers.as_str();
    let create = |topic: String| async move {
        match mock {
            Some(mock) => mock.create_topic(&topic, workload.partitions),
            None => create_topic(bootstrap, &topic, workload.partitions).await,
        }
    };
    let raw = match args.baseline {
        Some(baseline) => {
            let topic = format!("{}.raw", workload.topic);
            create(topic.clone()).await?;
            eprintln!("baseline: bare rdkafka ({baseline:?}) on {topic}");
            Some(run::raw::<E>(workload, &topic, baseline.records()).await?)
        }
        None => None,
    };
    create(workload.topic.clone()).await?;
    eprintln!("sluice on {}", workload.topic);
    let sluice = run::sluice::<E>(workload, &workload.topic).await?;
    Ok((raw, sluice))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mock = match &args.brokers {
        Some(_) => None,
        None => Some(MockKafka::start(1)?),
    };
    let bootstrap = match (&args.brokers, &mock) {
        (Some(brokers), _) => brokers.clone(),
        (None, Some(mock)) => mock.bootstrap_servers(),
        (None, None) => unreachable!("a mock cluster is started when no brokers are given"),
    };
    let mut kafka = match &args.config {
        Some(path) => {
            #[derive(serde::Deserialize)]
            struct File {
                kafka: KafkaConfig,
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str::<File>(&text)
                .with_context(|| format!("{} is not a valid client configuration", path.display()))?
                .kafka
        }
        None => KafkaConfig::new(bootstrap.clone()),
    };
    kafka.bootstrap_servers = bootstrap;
    let workload = args.workload(kafka)?;
    let mut rounds = match args.format {
        Format::Protobuf => {
            run_rounds::<proto::EmailReceived>(&args, &workload, mock.as_ref()).await?
        }
        Format::Avro => run_rounds::<avro::EmailReceived>(&args, &workload, mock.as_ref()).await?,
    };
    let scores: Vec<f64> = rounds.iter().map(Round::score).collect();
    let mut order: Vec<usize> = (0..rounds.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let median = order[order.len() / 2];

    if rounds.len() > 1 {
        println!();
        for (i, round) in rounds.iter().enumerate() {
            let raw = round
                .raw
                .as_ref()
                .map(|raw| format!("raw {:>8.0}/s  ", raw.end_to_end_rate()))
                .unwrap_or_default();
            let ratio = round
                .raw
                .as_ref()
                .map(|_| format!("  sluice/raw {:.2}×", round.score()))
                .unwrap_or_default();
            println!(
                "round {}: {raw}sluice {:>8.0}/s{ratio}{}",
                i + 1,
                round.sluice.end_to_end_rate(),
                if i == median { "  (median, below)" } else { "" }
            );
        }
    }
    let Round { raw, sluice } = rounds.swap_remove(median);
    print_summary(&args, &workload, raw.as_ref(), &sluice);
    let verdicts = verdicts(&args, &sluice);
    for verdict in &verdicts {
        println!(
            "  {}  {}",
            if verdict.passed { "pass" } else { "FAIL" },
            verdict.name
        );
    }
    // The other rounds must pass too.
    let others_failed: Vec<String> = rounds
        .iter()
        .flat_map(|round| crate::verdicts(&args, &round.sluice))
        .filter(|v| !v.passed)
        .map(|v| v.name)
        .collect();
    for name in &others_failed {
        println!("  FAIL  (another round) {name}");
    }
    let passed = verdicts.iter().all(|v| v.passed) && others_failed.is_empty();
    println!("result: {}", if passed { "PASS" } else { "FAIL" });

    if let Some(path) = &args.report {
        let report = serde_json::json!({
            "workload": {
                "broker": args.brokers.as_deref().unwrap_or("embedded mock cluster"),
                "format": format!("{:?}", args.format).to_lowercase(),
                "events": workload.events,
                "payload_bytes": workload.payload_bytes,
                "keys": workload.keys,
                "partitions": workload.partitions,
                "producers": workload.producers,
                "consumers": workload.consumers,
                "rate": workload.rate,
                "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            },
            "baseline": args.baseline.map(|b| format!("{b:?}")),
            "rounds": args.rounds,
            "round_scores": scores,
            "raw": raw.as_ref().map(Outcome::to_json),
            "sluice": sluice.to_json(),
            "ratios": raw.as_ref().map(|raw| serde_json::json!({
                "end_to_end_rate": sluice.end_to_end_rate() / raw.end_to_end_rate(),
                "produce_rate": sluice.produce_rate() / raw.produce_rate(),
                "consume_rate": sluice.consume_rate() / raw.consume_rate(),
            })),
            "thresholds": verdicts.iter().map(|v| serde_json::json!({
                "check": v.name,
                "passed": v.passed,
            })).collect::<Vec<_>>(),
            "passed": passed,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("report: {}", path.display());
    }
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}
