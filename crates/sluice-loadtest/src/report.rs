//! What the load test prints and writes: the rounds, the summary table
//! (sluice, and the baseline with ratios), the verdicts, the JSON report.

use std::path::Path;

use anyhow::Context as _;

use crate::args::{Args, Baseline};
use crate::rounds::Round;
use crate::run::{Outcome, Workload};
use crate::thresholds::Verdict;

/// A summary row: name, value, whether a sluice/raw ratio makes sense.
type Row = (&'static str, fn(&Outcome) -> f64, bool);

fn rows() -> Vec<Row> {
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

/// One line per round, the median marked.
pub(crate) fn print_rounds(rounds: &[Round], median: usize) {
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

pub(crate) fn print_summary(
    args: &Args,
    workload: &Workload,
    raw: Option<&Outcome>,
    sluice: &Outcome,
) {
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
    println!("broker: {}", args.broker_name());
    println!();
    let rows = rows();
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

/// The median round's verdicts, then what the other rounds failed.
pub(crate) fn print_verdicts(verdicts: &[Verdict], failed_elsewhere: &[String]) {
    for verdict in verdicts {
        println!(
            "  {}  {}",
            if verdict.passed { "pass" } else { "FAIL" },
            verdict.name
        );
    }
    for name in failed_elsewhere {
        println!("  FAIL  (another round) {name}");
    }
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

fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    let num = |v: f64| {
        if v.is_finite() {
            serde_json::json!(v)
        } else {
            serde_json::Value::Null
        }
    };
    serde_json::json!({
        "events": outcome.events,
        "produced_per_s": num(outcome.produce_rate()),
        "consumed_per_s": num(outcome.consume_rate()),
        "end_to_end_per_s": num(outcome.end_to_end_rate()),
        "wall_s": outcome.total_time.as_secs_f64(),
        "latency_ms": {
            "p50": num(outcome.latency_ms(50.0)),
            "p95": num(outcome.latency_ms(95.0)),
            "p99": num(outcome.latency_ms(99.0)),
            "p99_9": num(outcome.latency_ms(99.9)),
            "max": num(outcome.latency_ms(100.0)),
            "measured_from": if outcome.check.schedule.is_some() { "due time at the fixed rate (corrects coordinated omission)" } else { "record timestamp" },
        },
        "consumer_lag_ms": { "p99": num(outcome.lag_ms(99.0)), "max": num(outcome.lag_ms(100.0)) },
        "errors": { "produce": outcome.produce_errors, "handler": outcome.handler_errors, "rate": outcome.error_rate() },
        "sequence": {
            "consumed": outcome.check.consumed,
            "unique": outcome.check.unique,
            "lost": outcome.check.lost(),
            "duplicated": outcome.check.duplicates,
            "out_of_order": outcome.check.order_violations,
            "undecodable": outcome.check.undecodable,
        },
        "peak_rss_bytes": outcome.resources.peak_rss_bytes,
        "cpu_s": outcome.cpu.as_secs_f64(),
    })
}

/// What `--report` writes: the workload, every round's score, the median
/// round's outcomes and ratios, the verdicts.
pub(crate) struct Report<'a> {
    pub(crate) args: &'a Args,
    pub(crate) workload: &'a Workload,
    pub(crate) scores: &'a [f64],
    pub(crate) raw: Option<&'a Outcome>,
    pub(crate) sluice: &'a Outcome,
    pub(crate) verdicts: &'a [Verdict],
    pub(crate) passed: bool,
}

impl Report<'_> {
    fn to_json(&self) -> serde_json::Value {
        let Report {
            args,
            workload,
            scores,
            raw,
            sluice,
            verdicts,
            passed,
        } = self;
        serde_json::json!({
            "workload": {
                "broker": args.broker_name(),
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
            "raw": raw.map(outcome_json),
            "sluice": outcome_json(sluice),
            "ratios": raw.map(|raw| serde_json::json!({
                "end_to_end_rate": sluice.end_to_end_rate() / raw.end_to_end_rate(),
                "produce_rate": sluice.produce_rate() / raw.produce_rate(),
                "consume_rate": sluice.consume_rate() / raw.consume_rate(),
            })),
            "thresholds": verdicts.iter().map(|v| serde_json::json!({
                "check": v.name,
                "passed": v.passed,
            })).collect::<Vec<_>>(),
            "passed": passed,
        })
    }

    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(&self.to_json())?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_as_precisely_as_they_are_useful() {
        assert_eq!(fmt(f64::NAN), "-");
        assert_eq!(fmt(f64::INFINITY), "-");
        assert_eq!(fmt(123_456.7), "123457");
        assert_eq!(fmt(3.0), "3");
        assert_eq!(fmt(1.234), "1.23");
    }
}
