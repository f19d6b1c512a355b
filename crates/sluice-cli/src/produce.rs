//! `sluice produce`: publish one typed event given as JSON.

use std::io::Read as _;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use sluice_core::{Encoder, Envelope, Format};

use crate::{Ctx, Outcome, bad_input};

/// Publish an event given as JSON (the form `sluice tail` prints), framed
/// and with CloudEvents headers, as sluice's producer would.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sluice produce --topic email.received --type email.received.v1 --key e-1 '{\"emailId\": \"e-1\"}'\n  \
    echo '{\"email_id\": \"e-2\"}' | sluice produce --topic email.received.avro --type email.received.v1 --format avro -")]
pub(crate) struct Args {
    #[arg(long)]
    topic: String,
    /// The event type (`ce_type`), e.g. `email.received.v1`.
    #[arg(long = "type")]
    event_type: String,
    /// Which registered schema of the type to encode with.
    #[arg(long, value_enum, default_value = "protobuf")]
    format: FormatArg,
    #[arg(long)]
    key: Option<String>,
    /// `ce_source`.
    #[arg(long, default_value = "/sluice/cli")]
    source: String,
    /// `ce_correlationid`.
    #[arg(long)]
    correlation_id: Option<String>,
    /// The event as JSON, or `-` to read it from stdin.
    json: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Protobuf,
    Avro,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let registry = ctx.registry()?;
    let format = match args.format {
        FormatArg::Protobuf => Format::Protobuf,
        FormatArg::Avro => Format::Avro,
    };
    let schema = registry
        .latest_for_event_type(&args.event_type, format)
        .ok_or_else(|| {
            let mut known: Vec<String> = registry
                .iter()
                .filter(|s| s.format() == format)
                .filter_map(|s| s.event_type.clone())
                .collect();
            known.sort();
            known.dedup();
            bad_input(format!(
                "unknown event type {:?} in {format}: registered types are {} (see `sluice schema list`)",
                args.event_type,
                known.join(", ")
            ))
        })?;
    let text = if args.json == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        args.json.clone()
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad_input(format!("the event is not valid JSON: {e}")))?;
    let value = Encoder::new()
        .encode_json(schema, &json)
        .map_err(|e| bad_input(e.to_string()))?;
    let mut envelope = Envelope::for_type(&args.event_type, format, &args.source);
    if let Some(id) = &args.correlation_id {
        envelope = envelope.with_correlation_id(id);
    }
    let headers = sluice_kafka::envelope_headers(&envelope);

    let cluster = ctx.cluster()?;
    let reader = cluster.reader(&format!("sluice-produce-{}", std::process::id()))?;
    cluster.partitions(&reader, &args.topic)?;
    let producer = cluster.producer()?;
    let mut record = FutureRecord::to(&args.topic)
        .payload(&value)
        .headers(headers);
    if let Some(key) = &args.key {
        record = record.key(key);
    }
    let delivered = ctx
        .runtime
        .block_on(producer.send(record, Duration::from_secs(30)))
        .map_err(|(e, _)| anyhow::anyhow!("cannot publish to {}: {e}", args.topic))?;
    println!(
        "produced {} ({}, schema id {}) to {}[{}] at offset {}, ce_id {}",
        args.event_type,
        format,
        schema.id,
        args.topic,
        delivered.partition,
        delivered.offset,
        envelope.id
    );
    Ok(Outcome::Done)
}
