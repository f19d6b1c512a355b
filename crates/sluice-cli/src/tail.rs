//! `sluice tail`: read a topic, decode typed events to JSON, filter.

use std::collections::BTreeMap;
use std::io::Write as _;

use rdkafka::Message;
use serde_json::{Map, Value, json};
use sluice_core::envelope::header as ce;
use sluice_core::{Decoder, SchemaRegistry};

use crate::cluster::{self, End, Flow, Span};
use crate::filter::{Filter, header};
use crate::{Ctx, Outcome, bad_input};

/// Read a topic and print its events as JSON lines or a table.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sluice tail email.received                      # what is there now, then exit\n  \
    sluice tail email.received --since 2h --follow   # the last two hours, then new events\n  \
    sluice tail email.received --type 'email.*' --key mbx-7 --output table")]
pub(crate) struct Args {
    pub(crate) topic: String,
    /// Start this long ago (`30m`, `2h`) or at an RFC 3339 time; default:
    /// the beginning.
    #[arg(long)]
    since: Option<String>,
    /// Keep reading new events instead of stopping at the current end.
    #[arg(long, short)]
    follow: bool,
    /// Stop after printing this many events.
    #[arg(long)]
    limit: Option<u64>,
    #[command(flatten)]
    filter: Filter,
    #[arg(long, value_enum, default_value = "json")]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// One JSON object per line.
    Json,
    /// A readable table.
    Table,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    if args.limit == Some(0) {
        return Err(bad_input("--limit must be at least 1"));
    }
    let registry = ctx.registry()?;
    let cluster = ctx.cluster()?;
    let reader = cluster.reader(&format!("sluice-tail-{}", std::process::id()))?;
    let partitions = cluster.partitions(&reader, &args.topic)?;
    let marks = cluster.watermarks(&reader, &args.topic, &partitions)?;
    let start = match &args.since {
        Some(since) => {
            let at = cluster::parse_time(since)?;
            cluster.offsets_for_time(&reader, &args.topic, &partitions, at, &marks)?
        }
        None => marks.iter().map(|(p, (low, _))| (*p, *low)).collect(),
    };
    let end = if args.follow { End::Follow } else { End::Now };
    let span = Span { start, end };
    let mut printed = 0;
    let mut out = std::io::stdout().lock();
    if args.output == Output::Table {
        writeln!(
            out,
            "{:<24} {:>12} {:<16} {:<24} EVENT",
            "TIME", "PART:OFFSET", "KEY", "TYPE"
        )?;
    }
    cluster::read(ctx, &reader, &args.topic, &span, |record| {
        if !args.filter.matches(record) {
            return Ok(Flow::Continue);
        }
        let described = describe(&registry, record);
        match args.output {
            Output::Json => writeln!(out, "{described}")?,
            Output::Table => {
                let event = described
                    .get("event")
                    .or_else(|| described.get("error"))
                    .map(Value::to_string)
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<24} {:>12} {:<16} {:<24} {}",
                    described["timestamp"].as_str().unwrap_or("-"),
                    format!("{}:{}", record.partition(), record.offset()),
                    described["key"].as_str().unwrap_or("-"),
                    described["type"].as_str().unwrap_or("-"),
                    event
                )?;
            }
        }
        printed += 1;
        Ok(match args.limit {
            Some(limit) if printed >= limit => Flow::Stop,
            _ => Flow::Continue,
        })
    })
}

/// A record as JSON: where it is, its key and envelope, and the event
/// decoded through the registry (or why it does not decode).
pub(crate) fn describe<M>(registry: &SchemaRegistry, record: &M) -> Value
where
    M: Message,
    M::Headers: sluice_kafka::headers::AsRawHeaders,
{
    let mut out = Map::new();
    out.insert("topic".into(), json!(record.topic()));
    out.insert("partition".into(), json!(record.partition()));
    out.insert("offset".into(), json!(record.offset()));
    if let Some(ms) = record.timestamp().to_millis() {
        out.insert("timestamp".into(), json!(timestamp_text(ms)));
    }
    out.insert(
        "key".into(),
        record
            .key()
            .map_or(Value::Null, |k| json!(String::from_utf8_lossy(k))),
    );
    for (field, name) in [
        ("type", ce::TYPE),
        ("id", ce::ID),
        ("source", ce::SOURCE),
        ("time", ce::TIME),
        ("correlation_id", ce::CORRELATION_ID),
    ] {
        if let Some(value) = header(record, name) {
            out.insert(field.into(), json!(value));
        }
    }
    match record.payload() {
        None => {
            out.insert(
                "error".into(),
                json!({"class": "no_payload", "message": "tombstone"}),
            );
        }
        Some(value) => match Decoder::new(registry).to_json(value) {
            Ok(event) => {
                out.insert("event".into(), event);
            }
            Err(e) => {
                out.insert(
                    "error".into(),
                    json!({"class": e.class(), "message": e.to_string()}),
                );
            }
        },
    }
    Value::Object(out)
}

/// A record timestamp as RFC 3339 UTC; one outside 1970–9999 (any client
/// can write any i64) as its number of milliseconds.
pub(crate) fn timestamp_text(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| {
            let time = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(ms))?;
            sluice_core::envelope::rfc3339_millis(time)
        })
        .unwrap_or_else(|| format!("{ms} ms since the epoch"))
}

/// Every header as text (names and values that are not UTF-8 shown
/// lossily, with U+FFFD for each bad sequence).
pub(crate) fn headers<M>(record: &M) -> BTreeMap<String, String>
where
    M: Message,
    M::Headers: sluice_kafka::headers::AsRawHeaders,
{
    let mut out = BTreeMap::new();
    for h in sluice_kafka::headers::of_message(record) {
        out.insert(
            String::from_utf8_lossy(h.name).into_owned(),
            h.value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_of_any_value_are_shown() {
        assert_eq!(timestamp_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            timestamp_text(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            timestamp_text(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            timestamp_text(i64::MAX),
            format!("{} ms since the epoch", i64::MAX)
        );
        assert_eq!(timestamp_text(-1), "-1 ms since the epoch");
        assert_eq!(
            timestamp_text(i64::MIN),
            format!("{} ms since the epoch", i64::MIN)
        );
    }

    proptest::proptest! {
        /// Any record a broker can hand over is described, never a panic.
        #[test]
        fn any_record_is_described(
            key in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)),
            value in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)),
            names in proptest::collection::vec(proptest::collection::vec(1u8..=255, 0..10), 0..6),
            header_value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16),
            timestamp in proptest::prelude::any::<i64>(),
            offset in proptest::prelude::any::<i64>(),
        ) {
            let mut list = rdkafka::message::OwnedHeaders::new();
            for name in names.iter().chain([b"ce_type".to_vec(), b"ce_time".to_vec()].iter()) {
                list = sluice_kafka::headers::insert(list, name, Some(&header_value));
            }
            let mut value = value;
            if let Some(v) = value.as_mut() && v.len() > 5 {
                v[0] = 0;
            }
            let record = rdkafka::message::OwnedMessage::new(
                value,
                key,
                "t".to_owned(),
                rdkafka::Timestamp::CreateTime(timestamp),
                0,
                offset,
                Some(list),
            );
            let registry = sluice_events::registry();
            let described = describe(registry, &record);
            proptest::prop_assert!(described.is_object());
            let _ = headers(&record);
        }
    }
}
