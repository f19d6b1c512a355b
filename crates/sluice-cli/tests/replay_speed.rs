//! `sluice replay --speed`: copies keep the records' original gaps, scaled
//! and cut to `--max-gap`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::ensure;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_kafka::KafkaConfig;
use sluice_testkit::{Tansu, create_topic, read_topic};

mod common;

use common::ok;

/// Four records two seconds apart (by their timestamps), written an hour
/// ago as far as their timestamps say.
async fn write_spaced(brokers: &str, topic: &str) -> anyhow::Result<()> {
    let producer: FutureProducer = KafkaConfig::new(brokers).client_config().create()?;
    let hour_ago = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64 - 3_600_000;
    for n in 0..4_i64 {
        let value = format!("record {n}");
        producer
            .send(
                FutureRecord::<str, str>::to(topic)
                    .key("k")
                    .payload(&value)
                    .timestamp(hour_ago + n * 2_000),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    Ok(())
}

fn timed(brokers: &str, args: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = ok(brokers, args)?;
    ensure!(out.contains("copied 4 records"), "{out}");
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_keeps_the_original_gaps_scaled_and_cut() -> anyhow::Result<()> {
    let tansu = Tansu::start().await?;
    let brokers = tansu.bootstrap_servers();
    for topic in ["spaced", "twice", "cut"] {
        create_topic(&brokers, topic, 1).await?;
    }
    write_spaced(&brokers, "spaced").await?;

    // 6 s of original time at twice the speed: 3 s at least.
    let twice = timed(
        &brokers,
        &[
            "replay", "--from", "spaced", "--to", "twice", "--speed", "2x",
        ],
    )?;
    ensure!(twice >= Duration::from_secs(3), "2x took {twice:?}");
    // In real time with gaps cut to 0.5 s: 1.5 s, far from the 6 s uncut.
    let cut = timed(
        &brokers,
        &[
            "replay",
            "--from",
            "spaced",
            "--to",
            "cut",
            "--speed",
            "realtime",
            "--max-gap",
            "500ms",
        ],
    )?;
    ensure!(
        cut >= Duration::from_millis(1_500) && cut < Duration::from_secs(5),
        "realtime with --max-gap 500ms took {cut:?}"
    );
    read_topic(&brokers, "twice", 4)?;
    read_topic(&brokers, "cut", 4)?;
    Ok(())
}
