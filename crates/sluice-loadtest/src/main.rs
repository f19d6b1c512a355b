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
//!
//! Layout:
//!
//! - `args`: the flags, their bounds, the workload and client settings
//!   they make.
//! - `rounds`: each round runs the baseline, then sluice, on fresh topics;
//!   the median round.
//! - `run`: one run of the workload, through sluice or bare rdkafka.
//! - `workload`: the events sent, and the check of what arrives (sequence,
//!   order per key, latency histogram), lag samples, resource use.
//! - `thresholds`: the verdicts a run must pass.
//! - `report`: the printed summary and the JSON report.

mod args;
mod report;
mod rounds;
mod run;
mod thresholds;
mod workload;

use clap::Parser;
use sluice_events::{avro, proto};
use sluice_testkit::MockKafka;

use crate::args::{Args, Format};
use crate::report::Report;
use crate::rounds::{Round, run_rounds};

// librdkafka's threads free what the application's threads allocate;
// glibc's malloc spends much of its time on arena locks then.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let workload = args.workload(args.kafka(bootstrap)?)?;
    let mut rounds = match args.format {
        Format::Protobuf => {
            run_rounds::<proto::EmailReceived>(&args, &workload, mock.as_ref()).await?
        }
        Format::Avro => run_rounds::<avro::EmailReceived>(&args, &workload, mock.as_ref()).await?,
    };
    let scores: Vec<f64> = rounds.iter().map(Round::score).collect();
    let median = rounds::median(&scores);

    if rounds.len() > 1 {
        report::print_rounds(&rounds, median);
    }
    let Round { raw, sluice } = rounds.swap_remove(median);
    report::print_summary(&args, &workload, raw.as_ref(), &sluice);
    let verdicts = thresholds::verdicts(&args, &sluice);
    let failed_elsewhere =
        thresholds::failed_elsewhere(&args, rounds.iter().map(|round| &round.sluice));
    report::print_verdicts(&verdicts, &failed_elsewhere);
    let passed = verdicts.iter().all(|v| v.passed) && failed_elsewhere.is_empty();
    println!("result: {}", if passed { "PASS" } else { "FAIL" });

    if let Some(path) = &args.report {
        Report {
            args: &args,
            workload: &workload,
            scores: &scores,
            raw: raw.as_ref(),
            sluice: &sluice,
            verdicts: &verdicts,
            passed,
        }
        .write(path)?;
        println!("report: {}", path.display());
    }
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}
