//! `sluice dlq`: what is in a dead-letter topic, and sending it back.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::message::{BorrowedMessage, Header};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use serde_json::{Value, json};
use sluice_core::dlq::headers as dlq;

use crate::cluster::{self, Cluster, End, Flow, Reader, Span};
use crate::filter::{Filter, header};
use crate::progress::{Pacer, bar};
use crate::tail::{Output, describe, headers};
use crate::{Ctx, Outcome, bad_input};

/// The header a redriven record carries: how many times it was redriven.
pub(crate) const REDRIVE_COUNT: &str = "sluice.redrive.count";

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Counts by original topic and error class.
    #[command(after_help = "Example:\n  sluice dlq stats email.received.dlq")]
    Stats {
        topic: String,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// One line per dead-lettered record, with its `sluice.dlq.*` headers.
    #[command(
        after_help = "Example:\n  sluice dlq list email.received.dlq --type 'email.*' --limit 20"
    )]
    List {
        topic: String,
        /// Show at most this many records.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[command(flatten)]
        filter: Filter,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// One record in full: origin, error, headers, key and decoded event.
    #[command(
        after_help = "Example:\n  sluice dlq show email.received.dlq --partition 0 --offset 17"
    )]
    Show {
        topic: String,
        #[arg(long, default_value_t = 0)]
        partition: i32,
        #[arg(long)]
        offset: i64,
    },
    /// Send dead-lettered records back to their original topic.
    ///
    /// Each record goes back with its original key, value and headers, the
    /// `sluice.dlq.*` headers removed and `sluice.redrive.count` added.
    /// Progress is committed in a consumer group after every delivered
    /// record, so an interrupted redrive resumes where it stopped. Records
    /// the filters pass over count as done for that group.
    ///
    /// Reads to the end of each partition. Records redriven
    /// `--max-redrives` times already, and references (dead letters written
    /// without their value because the DLQ refused the whole record), stay
    /// in the DLQ and are reported; records that fail again while the
    /// redrive runs are read and redriven again, up to `--max-redrives`.
    #[command(after_help = "Examples:\n  \
        sluice dlq redrive email.received.dlq --dry-run\n  \
        sluice dlq redrive email.received.dlq --type 'email.received.*' --rate 100")]
    Redrive {
        topic: String,
        /// The group that records progress.
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        filter: Filter,
        /// Records per second at most.
        #[arg(long, value_parser = crate::progress::parse_rate)]
        rate: Option<f64>,
        /// Leave records whose `sluice.redrive.count` reached this.
        #[arg(long, default_value_t = 3)]
        max_redrives: u64,
        /// Count what would be sent, by destination; send and commit
        /// nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub(crate) fn run(ctx: &Ctx, command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Stats { topic, output } => stats(ctx, &topic, output),
        Command::List {
            topic,
            limit,
            filter,
            output,
        } => list(ctx, &topic, limit, &filter, output),
        Command::Show {
            topic,
            partition,
            offset,
        } => show(ctx, &topic, partition, offset),
        Command::Redrive {
            topic,
            group,
            filter,
            rate,
            max_redrives,
            dry_run,
        } => {
            let group = group.unwrap_or_else(|| format!("sluice-redrive.{topic}"));
            let limits = Redrive {
                rate,
                max_redrives,
                dry_run,
            };
            redrive(ctx, &topic, &group, &filter, &limits)
        }
    }
}

/// The whole topic, up to its end.
fn everything(cluster: &Cluster, reader: &Reader, topic: &str) -> anyhow::Result<Span> {
    let partitions = cluster.partitions(reader, topic)?;
    let marks = cluster.watermarks(reader, topic, &partitions)?;
    Ok(Span {
        start: marks.iter().map(|(p, (low, _))| (*p, *low)).collect(),
        end: End::Now,
    })
}

fn reader(cluster: &Cluster) -> anyhow::Result<Reader> {
    cluster.reader(&format!("sluice-dlq-{}", std::process::id()))
}

fn stats(ctx: &Ctx, topic: &str, output: Output) -> anyhow::Result<Outcome> {
    let cluster = ctx.cluster()?;
    let reader = reader(&cluster)?;
    let span = everything(&cluster, &reader, topic)?;
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let outcome = cluster::read(ctx, &reader, topic, &span, |record| {
        let origin = header(record, dlq::TOPIC).unwrap_or("(unknown)").to_owned();
        let class = header(record, dlq::ERROR_CLASS)
            .unwrap_or("(unknown)")
            .to_owned();
        *counts.entry((origin, class)).or_default() += 1;
        Ok(Flow::Continue)
    })?;
    let total: u64 = counts.values().sum();
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            let rows: Vec<Value> = counts
                .iter()
                .map(|((origin, class), n)| json!({"topic": origin, "class": class, "count": n}))
                .collect();
            writeln!(
                out,
                "{}",
                json!({"total": total, "by_topic_and_class": rows})
            )?;
        }
        Output::Table => {
            writeln!(
                out,
                "{:<32} {:<32} {:>8}",
                "ORIGINAL TOPIC", "ERROR CLASS", "COUNT"
            )?;
            for ((origin, class), n) in &counts {
                writeln!(out, "{origin:<32} {class:<32} {n:>8}")?;
            }
            writeln!(out, "{:<32} {:<32} {total:>8}", "total", "")?;
        }
    }
    Ok(outcome)
}

fn dlq_fields(record: &BorrowedMessage<'_>) -> Value {
    let text = |name| header(record, name).map_or(Value::Null, |v| json!(v));
    let number = |name| {
        header(record, name)
            .and_then(|v| v.parse::<i64>().ok())
            .map_or(Value::Null, |v| json!(v))
    };
    json!({
        "topic": text(dlq::TOPIC),
        "partition": number(dlq::PARTITION),
        "offset": number(dlq::OFFSET),
        "timestamp": number(dlq::TIMESTAMP),
        "group": text(dlq::GROUP),
        "class": text(dlq::ERROR_CLASS),
        "message": text(dlq::ERROR_MESSAGE),
        "attempts": number(dlq::ATTEMPTS),
        "failed_at": text(dlq::FAILED_AT),
    })
}

fn list(
    ctx: &Ctx,
    topic: &str,
    limit: u64,
    filter: &Filter,
    output: Output,
) -> anyhow::Result<Outcome> {
    let cluster = ctx.cluster()?;
    let reader = reader(&cluster)?;
    let span = everything(&cluster, &reader, topic)?;
    let mut out = std::io::stdout().lock();
    if output == Output::Table {
        writeln!(
            out,
            "{:>12}  {:<24}  {:<32}  {:<22}  {:>3}  MESSAGE",
            "PART:OFFSET", "FAILED AT", "ORIGIN", "CLASS", "TRY"
        )?;
    }
    let mut shown = 0;
    cluster::read(ctx, &reader, topic, &span, |record| {
        if !filter.matches(record) {
            return Ok(Flow::Continue);
        }
        let fields = dlq_fields(record);
        match output {
            Output::Json => {
                let line = json!({
                    "partition": record.partition(),
                    "offset": record.offset(),
                    "key": record.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    "dlq": fields,
                });
                writeln!(out, "{line}")?;
            }
            Output::Table => {
                let origin = format!(
                    "{}[{}]@{}",
                    fields["topic"].as_str().unwrap_or("?"),
                    fields["partition"],
                    fields["offset"]
                );
                let mut message = fields["message"].as_str().unwrap_or("").replace('\n', " ");
                if message.chars().count() > 60 {
                    message = message.chars().take(59).collect::<String>() + "…";
                }
                writeln!(
                    out,
                    "{:>12}  {:<24}  {:<32}  {:<22}  {:>3}  {message}",
                    format!("{}:{}", record.partition(), record.offset()),
                    fields["failed_at"].as_str().unwrap_or("-"),
                    origin,
                    fields["class"].as_str().unwrap_or("-"),
                    fields["attempts"],
                )?;
            }
        }
        shown += 1;
        Ok(if shown >= limit {
            Flow::Stop
        } else {
            Flow::Continue
        })
    })
}

fn show(ctx: &Ctx, topic: &str, partition: i32, offset: i64) -> anyhow::Result<Outcome> {
    let registry = ctx.registry()?;
    let cluster = ctx.cluster()?;
    let reader = reader(&cluster)?;
    let partitions = cluster.partitions(&reader, topic)?;
    if !partitions.contains(&partition) {
        return Err(bad_input(format!(
            "{topic} has no partition {partition} (it has {partitions:?})"
        )));
    }
    let marks = cluster.watermarks(&reader, topic, &[partition])?;
    let low = marks[&partition].0;
    if offset < low {
        return Err(bad_input(format!(
            "{topic}[{partition}] starts at offset {low}: no record at {offset}"
        )));
    }
    let span = Span {
        start: [(partition, offset)].into(),
        end: End::Before([(partition, offset.saturating_add(1))].into()),
    };
    let mut shown = None;
    let outcome = cluster::read(ctx, &reader, topic, &span, |record| {
        let mut described = describe(&registry, record);
        described["dlq"] = dlq_fields(record);
        described["headers"] = json!(headers(record));
        shown = Some(described);
        Ok(Flow::Stop)
    })?;
    match (shown, &outcome) {
        (Some(described), _) => println!("{}", serde_json::to_string_pretty(&described)?),
        (None, Outcome::Done) => {
            return Err(bad_input(format!(
                "{topic}[{partition}] has no record at offset {offset}"
            )));
        }
        (None, Outcome::Interrupted) => {}
    }
    Ok(outcome)
}

/// How a redrive goes.
struct Redrive {
    rate: Option<f64>,
    max_redrives: u64,
    dry_run: bool,
}

/// How many times `record` was redriven already.
fn redrive_count(record: &BorrowedMessage<'_>) -> u64 {
    header(record, REDRIVE_COUNT)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

fn redrive(
    ctx: &Ctx,
    topic: &str,
    group: &str,
    filter: &Filter,
    limits: &Redrive,
) -> anyhow::Result<Outcome> {
    let Redrive {
        rate,
        max_redrives,
        dry_run,
    } = *limits;
    let cluster = ctx.cluster()?;
    let reader = cluster.reader(group)?;
    let partitions = cluster.partitions(&reader, topic)?;
    let marks = cluster.watermarks(&reader, topic, &partitions)?;
    // Resume from the group's committed offsets.
    let mut list = TopicPartitionList::new();
    for &p in &partitions {
        list.add_partition(topic, p);
    }
    let committed = reader
        .committed_offsets(list, Duration::from_secs(10))
        .with_context(|| format!("cannot read the progress of group {group}"))?;
    let start = partitions
        .iter()
        .map(|&p| {
            let low = marks.get(&p).map_or(0, |m| m.0);
            let at = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o.max(low),
                _ => low,
            };
            (p, at)
        })
        .collect();
    let span = Span {
        start,
        end: End::Now,
    };
    let producer = cluster.producer()?;
    let progress = bar(
        span.estimate(&marks),
        if dry_run { "counting" } else { "redriving" },
    );
    let mut pacer = Pacer::new(rate);
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut passed_over = 0_u64;
    let mut no_origin = 0_u64;
    let mut exhausted = 0_u64;
    let mut references = 0_u64;
    let outcome = cluster::read(ctx, &reader, topic, &span, |record| {
        progress.inc(1);
        let origin = header(record, dlq::TOPIC).map(str::to_owned);
        match origin {
            Some(_) if !filter.matches(record) => passed_over += 1,
            Some(_) if header(record, dlq::VALUE_OMITTED).is_some() => references += 1,
            Some(_) if redrive_count(record) >= max_redrives => exhausted += 1,
            Some(origin) => {
                if !dry_run {
                    pacer.wait();
                    send_back(ctx, &producer, record, &origin)?;
                }
                *sent.entry(origin).or_default() += 1;
            }
            None => no_origin += 1,
        }
        if !dry_run {
            let mut done = TopicPartitionList::new();
            done.add_partition_offset(
                topic,
                record.partition(),
                Offset::Offset(record.offset().saturating_add(1)),
            )?;
            reader
                .commit(&done, CommitMode::Sync)
                .with_context(|| format!("cannot record progress in group {group}"))?;
        }
        Ok(Flow::Continue)
    })?;
    progress.finish_and_clear();
    let total: u64 = sent.values().sum();
    let verb = if dry_run { "would redrive" } else { "redrove" };
    println!("{verb} {total} records");
    for (origin, n) in &sent {
        println!("  {origin}: {n}");
    }
    if passed_over > 0 {
        println!("passed over {passed_over} records the filters did not match");
    }
    if no_origin > 0 {
        println!("left {no_origin} records without a {} header", dlq::TOPIC);
    }
    if exhausted > 0 {
        println!("left {exhausted} records redriven {max_redrives} times already (--max-redrives)");
    }
    if references > 0 {
        println!(
            "left {references} references without their value ({}): \
             `sluice replay` their original from {} at {}",
            dlq::VALUE_OMITTED,
            dlq::TOPIC,
            dlq::OFFSET
        );
    }
    if let Outcome::Interrupted = outcome {
        println!("interrupted: run the same command again to resume");
    }
    Ok(outcome)
}

/// The original record, back on its topic, and waits for the broker's
/// acknowledgement.
fn send_back(
    ctx: &Ctx,
    producer: &rdkafka::producer::FutureProducer<sluice_kafka::security::TokenContext>,
    record: &BorrowedMessage<'_>,
    origin: &str,
) -> anyhow::Result<()> {
    let count = redrive_count(record).saturating_add(1);
    let count = count.to_string();
    let headers = cluster::headers_where(record, |name| {
        !name.starts_with(dlq::PREFIX.as_bytes()) && name != REDRIVE_COUNT.as_bytes()
    })
    .insert(Header {
        key: REDRIVE_COUNT,
        value: Some(count.as_bytes()),
    });
    let delivery = cluster::resend(producer, record, origin, headers)?;
    cluster::wait_deliveries(ctx, &mut vec![delivery], origin)
}
