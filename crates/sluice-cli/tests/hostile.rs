//! The `sluice` binary on input no sluice client wrote: records from a
//! foreign client with hostile bytes, and a replay into its own topic.

mod common;

use std::time::Duration;

use anyhow::{Context as _, ensure};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_kafka::KafkaConfig;
use sluice_testkit::{
    ForeignRecord, Kafkajs, MockKafka, Tansu, create_topic, foreign_header as header,
};

use common::{command, json_lines};

/// The partition's end offsets, summed.
fn records_in(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<i64> {
    let client: BaseConsumer = KafkaConfig::new(bootstrap).client_config().create()?;
    let mut total = 0;
    for p in 0..partitions {
        let (low, high) = client.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        total += high - low;
    }
    Ok(total)
}

/// Runs the binary, killing it (and failing) after `limit`.
fn run_within(limit: Duration, brokers: &str, args: &[&str]) -> anyhow::Result<(i32, String)> {
    let mut child = command(brokers, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() >= deadline {
            child.kill()?;
            let output = child.wait_with_output()?;
            anyhow::bail!(
                "sluice {args:?} still ran after {limit:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let code = output.status.code().unwrap_or(-1);
    ensure!(
        code == 0,
        "sluice {args:?} exited {code}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((code, stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_reads_past_foreign_records_with_hostile_bytes() -> anyhow::Result<()> {
    let kafkajs = Kafkajs::new()?;
    let tansu = Tansu::start().await?;
    let brokers = tansu.bootstrap_servers();
    create_topic(&brokers, "cli.hostile", 1).await?;
    let plain = |value: &str| ForeignRecord {
        partition: 0,
        key: Some(b"k".to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: vec![header(b"ok", Some(b"1"))],
    };
    let hostile = ForeignRecord {
        partition: 0,
        key: Some(vec![0xff; 20_000]),
        value: Some(vec![0x00, 0xff, 0xfe, 0x80]),
        headers: vec![
            header(b"ok", Some(b"1")),
            header(b"\xff\xfename", Some(b"\x00\xff")),
            header(b"ce_type", Some(b"\xc3\x28")),
            header(b"ce_time", Some(b"99999-01-01T00:00:00Z")),
            header(b"empty", None),
        ],
    };
    let records = [plain("first"), hostile, plain("last")];
    kafkajs.produce(&brokers, "cli.hostile", &records).await?;

    let (_, out) = run_within(
        Duration::from_secs(60),
        &brokers,
        &["tail", "cli.hostile", "--output", "json"],
    )?;
    let lines = json_lines(&out)?;
    ensure!(lines.len() == 3, "{out}");
    let offsets: Vec<_> = lines.iter().map(|l| l["offset"].as_i64()).collect();
    ensure!(offsets == [Some(0), Some(1), Some(2)], "{offsets:?}");
    let hostile = &lines[1];
    ensure!(hostile["error"]["class"].is_string(), "{hostile}");
    ensure!(
        hostile.get("type").is_none(),
        "a ce_type that is not UTF-8 is not shown"
    );
    let key = hostile["key"].as_str().unwrap_or_default();
    ensure!(key.chars().count() == 20_000, "the key is shown lossily");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_into_its_own_topic_finishes_and_copies_each_record_once() -> anyhow::Result<()> {
    let mock = MockKafka::start(1)?;
    let brokers = mock.bootstrap_servers();
    mock.create_topic("cli.loop", 2)?;
    // One batch per record, read one fetch at a time and paced, so the
    // copies land while the replay still reads: a replay that read up to
    // the moving end would copy its own output for ever.
    let producer: FutureProducer = KafkaConfig::new(&brokers)
        .client_config()
        .set("linger.ms", "0")
        .create()?;
    for n in 0..30 {
        let value = format!("record {n}");
        let record = FutureRecord::to("cli.loop")
            .partition(n % 2)
            .key("k")
            .payload(&value);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)?;
    }
    ensure!(records_in(&brokers, "cli.loop", 2)? == 30);
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbootstrap_servers = \"{brokers}\"\n\
             [kafka.properties]\n\"max.partition.fetch.bytes\" = \"64\"\n\
             \"queued.min.messages\" = \"1\"\n\"fetch.wait.max.ms\" = \"10\"\n\"fetch.queue.backoff.ms\" = \"10\"\n"
        ),
    )?;
    let config = config.to_string_lossy();
    let (_, out) = run_within(
        Duration::from_secs(60),
        &brokers,
        &[
            "--config", &config, "replay", "--from", "cli.loop", "--to", "cli.loop", "--rate", "20",
        ],
    )?;
    ensure!(out.contains("copied 30 records"), "{out}");
    let total = records_in(&brokers, "cli.loop", 2).context("counting")?;
    ensure!(total == 60, "{total} records after the replay, not 60");
    Ok(())
}
