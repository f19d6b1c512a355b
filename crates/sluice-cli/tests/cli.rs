//! The `sluice` binary against real brokers: Tansu, and the mock cluster
//! where Tansu cannot resume a read from inside a batch (docs/brokers.md).

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use rdkafka::Message as _;
use rdkafka::message::Headers as _;
use serde_json::Value;
use sluice_core::Encoder;
use sluice_events::samples::{self, Seed};
use sluice_testkit::{
    MockKafka, Tansu, create_topic, free_port, header_text as header, read_topic,
};

mod common;

use common::{command, consume, json_lines, ok, produce, sluice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_decodes_what_produce_wrote_and_filters() -> anyhow::Result<()> {
    let tansu = Tansu::start().await?;
    let brokers = tansu.bootstrap_servers();
    create_topic(&brokers, "cli.emails", 2).await?;

    let out = ok(
        &brokers,
        &[
            "produce",
            "--topic",
            "cli.emails",
            "--type",
            "email.received.v1",
            "--key",
            "e-1",
            "--correlation-id",
            "c-1",
            r#"{"emailId": "e-1", "subject": "hello", "sizeBytes": "42", "to": ["bob@example.com"]}"#,
        ],
    )?;
    ensure!(out.contains("produced email.received.v1"), "{out}");
    ok(
        &brokers,
        &[
            "produce",
            "--topic",
            "cli.emails",
            "--type",
            "email.validated.v1",
            "--key",
            "e-2",
            r#"{"emailId": "e-2", "verdict": "VERDICT_SPAM", "spamScore": 7.5}"#,
        ],
    )?;
    let avro = Encoder::new().encode(&samples::avro_email_received(&Seed::default()))?;
    let avro_json = sluice_core::Decoder::new(sluice_events::registry()).to_json(&avro)?;
    ok(
        &brokers,
        &[
            "produce",
            "--topic",
            "cli.emails",
            "--type",
            "email.received.v1",
            "--format",
            "avro",
            "--key",
            "e-3",
            &avro_json.to_string(),
        ],
    )?;

    let lines = json_lines(&ok(&brokers, &["tail", "cli.emails"])?)?;
    ensure!(lines.len() == 3, "{lines:?}");
    let by_key: HashMap<&str, &Value> = lines
        .iter()
        .map(|l| (l["key"].as_str().unwrap_or_default(), l))
        .collect();
    let first = by_key["e-1"];
    ensure!(first["type"] == "email.received.v1", "{first}");
    ensure!(first["correlation_id"] == "c-1", "{first}");
    ensure!(first["source"] == "/sluice/cli", "{first}");
    ensure!(first["event"]["subject"] == "hello", "{first}");
    ensure!(first["event"]["sizeBytes"] == "42", "{first}");
    ensure!(first["event"]["to"][0] == "bob@example.com", "{first}");
    ensure!(by_key["e-2"]["event"]["verdict"] == "VERDICT_SPAM");
    ensure!(
        by_key["e-3"]["event"] == avro_json,
        "the Avro event round-trips"
    );

    let count = |args: &[&str]| -> anyhow::Result<usize> {
        let mut all = vec!["tail", "cli.emails"];
        all.extend_from_slice(args);
        Ok(ok(&brokers, &all)?.lines().count())
    };
    ensure!(count(&["--type", "email.received.*"])? == 2);
    ensure!(count(&["--type", "*.validated.*"])? == 1);
    ensure!(count(&["--key", "e-2"])? == 1);
    ensure!(count(&["--correlation-id", "c-1"])? == 1);
    ensure!(count(&["--limit", "2"])? == 2);
    let table = ok(&brokers, &["tail", "cli.emails", "--output", "table"])?;
    ensure!(table.lines().count() == 4, "{table}");
    ensure!(table.starts_with("TIME"), "{table}");
    ensure!(table.contains("VERDICT_SPAM"), "{table}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_by_time_range_copies_exactly_the_range() -> anyhow::Result<()> {
    let tansu = Tansu::start().await?;
    let brokers = tansu.bootstrap_servers();
    create_topic(&brokers, "cli.src", 1).await?;
    create_topic(&brokers, "cli.dst", 1).await?;
    let now = || humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    produce(&brokers, "cli.src", 0..10).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let since = now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    produce(&brokers, "cli.src", 10..25).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let until = now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    produce(&brokers, "cli.src", 25..35).await?;

    let dry = ok(
        &brokers,
        &[
            "replay",
            "--from",
            "cli.src",
            "--to",
            "cli.dst",
            "--since",
            &since,
            "--until",
            &until,
            "--dry-run",
        ],
    )?;
    ensure!(
        dry.contains("15 records of cli.src would be copied"),
        "{dry}"
    );
    ensure!(
        read_topic(&brokers, "cli.dst", 0)?.is_empty(),
        "a dry run sends nothing"
    );

    let out = ok(
        &brokers,
        &[
            "replay", "--from", "cli.src", "--to", "cli.dst", "--since", &since, "--until", &until,
            "--rate", "100",
        ],
    )?;
    ensure!(out.contains("copied 15 records"), "{out}");
    let copied = read_topic(&brokers, "cli.dst", 15)?;
    let originals = read_topic(&brokers, "cli.src", 35)?;
    for (copy, original) in copied.iter().zip(&originals[10..25]) {
        ensure!(copy.key() == original.key() && copy.payload() == original.payload());
        ensure!(
            header(copy, "ce_id") == header(original, "ce_id"),
            "headers kept"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_commands_and_redrive_restore_the_original_records() -> anyhow::Result<()> {
    let tansu = Tansu::start().await?;
    let brokers = tansu.bootstrap_servers();
    create_topic(&brokers, "cli.orders", 1).await?;
    create_topic(&brokers, "cli.orders.dlq", 1).await?;
    produce(&brokers, "cli.orders", 0..30).await?;
    consume(&brokers, "cli.orders", |seq| seq % 3 == 0).await?;

    let stats = ok(&brokers, &["dlq", "stats", "cli.orders.dlq"])?;
    ensure!(
        stats.lines().any(|l| l.starts_with("cli.orders ")
            && l.contains("handler_permanent")
            && l.ends_with(" 10")),
        "{stats}"
    );
    let stats: Value = serde_json::from_str(&ok(
        &brokers,
        &["dlq", "stats", "cli.orders.dlq", "--output", "json"],
    )?)?;
    ensure!(stats["total"] == 10, "{stats}");
    let list = ok(&brokers, &["dlq", "list", "cli.orders.dlq"])?;
    ensure!(list.lines().count() == 11, "{list}");
    ensure!(list.contains("rejected 3"), "{list}");
    let listed = json_lines(&ok(
        &brokers,
        &[
            "dlq",
            "list",
            "cli.orders.dlq",
            "--output",
            "json",
            "--limit",
            "3",
        ],
    )?)?;
    ensure!(
        listed.len() == 3 && listed[1]["dlq"]["offset"] == 3,
        "{listed:?}"
    );
    // Offset 0: Tansu cannot fetch from inside a batch (docs/brokers.md).
    let shown: Value = serde_json::from_str(&ok(
        &brokers,
        &["dlq", "show", "cli.orders.dlq", "--offset", "0"],
    )?)?;
    ensure!(shown["dlq"]["topic"] == "cli.orders", "{shown}");
    ensure!(shown["dlq"]["message"] == "rejected 0", "{shown}");
    ensure!(shown["event"]["metadata"]["eventId"] == "evt-0", "{shown}");
    ensure!(
        shown["headers"]["sluice.dlq.group"] == "cli-tests",
        "{shown}"
    );

    let dry = ok(&brokers, &["dlq", "redrive", "cli.orders.dlq", "--dry-run"])?;
    ensure!(dry.contains("would redrive 10 records"), "{dry}");
    read_topic(&brokers, "cli.orders", 30).context("a dry run sends nothing")?;

    let out = ok(&brokers, &["dlq", "redrive", "cli.orders.dlq"])?;
    ensure!(out.contains("redrove 10 records"), "{out}");
    let all = read_topic(&brokers, "cli.orders", 40)?;
    let dead = read_topic(&brokers, "cli.orders.dlq", 10)?;
    for (back, dead) in all[30..].iter().zip(&dead) {
        ensure!(back.key() == dead.key() && back.payload() == dead.payload());
        ensure!(header(back, "ce_id") == header(dead, "ce_id"));
        ensure!(header(back, "sluice.redrive.count").as_deref() == Some("1"));
        let names: Vec<String> = back
            .headers()
            .map(|h| h.iter().map(|h| h.key.to_owned()).collect())
            .unwrap_or_default();
        ensure!(
            !names.iter().any(|n| n.starts_with("sluice.dlq.")),
            "DLQ headers removed: {names:?}"
        );
    }
    let again = ok(&brokers, &["dlq", "redrive", "cli.orders.dlq"])?;
    ensure!(
        again.contains("redrove 0 records"),
        "progress is kept: {again}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_redrive_resumes_and_sends_each_record_once() -> anyhow::Result<()> {
    // Resuming inside a batch: the mock cluster (Tansu 0.6.0 skips the rest
    // of a batch read from its middle).
    let mock = MockKafka::start(1)?;
    let brokers = mock.bootstrap_servers();
    mock.create_topic("cli.jobs", 1)?;
    mock.create_topic("cli.jobs.dlq", 1)?;
    let n = 40;
    produce(&brokers, "cli.jobs", 0..n).await?;
    consume(&brokers, "cli.jobs", |_| true).await?;
    read_topic(&brokers, "cli.jobs.dlq", n as usize)?;

    let child = command(
        &brokers,
        &["dlq", "redrive", "cli.jobs.dlq", "--rate", "20"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    ensure!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.code() == Some(130),
        "exit {:?}: {stdout}",
        output.status
    );
    ensure!(stdout.contains("interrupted"), "{stdout}");
    let first = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("redrove ")?
                .strip_suffix(" records")?
                .parse::<usize>()
                .ok()
        })
        .context("a count of redriven records")?;
    ensure!(
        first > 0 && first < n as usize,
        "{first} redriven before the interrupt"
    );
    read_topic(&brokers, "cli.jobs", n as usize + first)?;

    let out = ok(&brokers, &["dlq", "redrive", "cli.jobs.dlq"])?;
    ensure!(
        out.contains(&format!("redrove {} records", n as usize - first)),
        "{out}"
    );
    let all = read_topic(&brokers, "cli.jobs", 2 * n as usize)?;
    let redriven: Vec<String> = all[n as usize..]
        .iter()
        .filter_map(|r| header(r, "ce_id"))
        .collect();
    let unique: HashSet<&String> = redriven.iter().collect();
    ensure!(
        redriven.len() == n as usize && unique.len() == n as usize,
        "{} redriven, {} distinct",
        redriven.len(),
        unique.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_exit_code() -> anyhow::Result<()> {
    let tansu = Tansu::start().await?;
    let brokers = tansu.bootstrap_servers();
    create_topic(&brokers, "cli.in", 1).await?;
    let produce = |event_type: &str, json: &str| {
        sluice(
            &brokers,
            &["produce", "--topic", "cli.in", "--type", event_type, json],
        )
    };

    let run = produce("email.unknown.v1", "{}")?;
    ensure!(run.code == 2, "exit {}", run.code);
    ensure!(
        run.stderr.contains("unknown event type") && run.stderr.contains("email.received.v1"),
        "{}",
        run.stderr
    );
    let run = produce("email.received.v1", "{not json")?;
    ensure!(
        run.code == 2 && run.stderr.contains("not valid JSON"),
        "{}",
        run.stderr
    );
    let run = produce("email.received.v1", r#"{"colour": "red"}"#)?;
    ensure!(
        run.code == 2 && run.stderr.contains("colour"),
        "{}",
        run.stderr
    );

    let run = sluice(&brokers, &["tail", "cli.missing"])?;
    ensure!(
        run.code == 2 && run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
    let run = sluice(&brokers, &["tail", "cli.in", "--since", "last tuesday"])?;
    ensure!(
        run.code == 2 && run.stderr.contains("RFC 3339"),
        "{}",
        run.stderr
    );
    let run = sluice(&brokers, &["tail", "cli.in", "--bogus"])?;
    ensure!(run.code == 2, "exit {}", run.code);

    let nowhere = format!("127.0.0.1:{}", free_port()?);
    let run = sluice(&nowhere, &["tail", "cli.in"])?;
    ensure!(
        run.code == 1 && run.stderr.contains("cannot reach"),
        "{}",
        run.stderr
    );
    Ok(())
}
