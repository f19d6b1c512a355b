//! `sluice replay`: copy records from one topic to another (or back to the
//! same one) by time range and filters, at a controlled rate or at the
//! original records' pace.

use std::collections::HashSet;

use rdkafka::Message as _;

use crate::cluster::{self, End, Flow, Span};
use crate::filter::Filter;
use crate::progress::{Pacer, bar};
use crate::speed::{Speed, Timeline};
use crate::{Ctx, Outcome, bad_input};

/// Copy records (key, value and headers as they are) between topics.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sluice replay --from email.received --to email.received.replay --since 2h --until 1h\n  \
    sluice replay --from email.received --to email.received --correlation-id c-42 --rate 50\n  \
    sluice replay --from email.received --to email.received.staging --since 1h --speed 2x\n  \
    sluice replay --from email.received --to x --since 2026-11-26T08:00:00Z --dry-run")]
pub(crate) struct Args {
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    /// Records at or after this time (`2h` ago, or RFC 3339); default: the
    /// beginning.
    #[arg(long)]
    since: Option<String>,
    /// Records before this time; default: up to the end.
    #[arg(long)]
    until: Option<String>,
    #[command(flatten)]
    filter: Filter,
    /// Records per second at most.
    #[arg(long, value_parser = crate::progress::parse_rate)]
    rate: Option<f64>,
    /// `max` (the default: as fast as the cluster takes it), `realtime`
    /// (the records' original gaps, by their timestamps) or a factor of
    /// it, such as `2x` or `0.5x`. `--rate` still caps it.
    #[arg(long, default_value = "max", value_parser = crate::speed::parse_speed)]
    speed: Speed,
    /// With `--speed`, no wait between two copies is longer than this (a
    /// quiet night, or a timestamp far off, does not stall the replay).
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    max_gap: std::time::Duration,
    /// Count what would be copied; send nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let cluster = ctx.cluster()?;
    let reader = cluster.reader(&format!("sluice-replay-{}", std::process::id()))?;
    let partitions = cluster.partitions(&reader, &args.from)?;
    if !args.dry_run {
        cluster.partitions(&reader, &args.to)?;
    }
    let marks = cluster.watermarks(&reader, &args.from, &partitions)?;
    let since = args.since.as_deref().map(cluster::parse_time).transpose()?;
    let until = args.until.as_deref().map(cluster::parse_time).transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(bad_input("--since must be before --until"));
    }
    let start = match since {
        Some(at) => cluster.offsets_for_time(&reader, &args.from, &partitions, at, &marks)?,
        None => marks.iter().map(|(p, (low, _))| (*p, *low)).collect(),
    };
    let end = match until {
        Some(at) => {
            End::Before(cluster.offsets_for_time(&reader, &args.from, &partitions, at, &marks)?)
        }
        None => End::Now,
    };
    let span = Span { start, end };
    let producer = cluster.producer()?;
    let progress = bar(
        span.estimate(&marks),
        if args.dry_run {
            "counting"
        } else {
            "replaying"
        },
    );
    let mut pacer = Pacer::new(args.rate);
    let mut timeline = Timeline::new(args.speed, args.max_gap);
    let mut copied = 0_u64;
    let mut pending = Vec::new();
    // Into its own topic, the replay reads its copies too: each copy's
    // delivery is awaited before the next read, so its offset is known and
    // it is passed over when read; the read then ends at the topic's end.
    let into_itself = args.from == args.to;
    let mut own: HashSet<(i32, i64)> = HashSet::new();
    let outcome = cluster::read(ctx, &reader, &args.from, &span, |record| {
        if own.remove(&(record.partition(), record.offset())) {
            return Ok(Flow::Continue);
        }
        progress.inc(1);
        if !args.filter.matches(record) {
            return Ok(Flow::Continue);
        }
        copied += 1;
        if args.dry_run {
            return Ok(Flow::Continue);
        }
        timeline.wait(record.timestamp().to_millis());
        pacer.wait();
        let headers = cluster::headers_where(record, |_| true);
        let delivery = cluster::resend(&producer, record, &args.to, headers)?;
        if into_itself {
            own.insert(cluster::wait_delivery(ctx, delivery, &args.to)?);
        } else {
            pending.push(delivery);
            if pending.len() >= 1000 {
                cluster::wait_deliveries(ctx, &mut pending, &args.to)?;
            }
        }
        Ok(Flow::Continue)
    })?;
    cluster::wait_deliveries(ctx, &mut pending, &args.to)?;
    progress.finish_and_clear();
    if args.dry_run {
        println!(
            "{copied} records of {} would be copied to {}",
            args.from, args.to
        );
    } else {
        println!("copied {copied} records from {} to {}", args.from, args.to);
    }
    Ok(outcome)
}
