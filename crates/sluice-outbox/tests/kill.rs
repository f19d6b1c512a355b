//! The relay binary SIGKILLed at random moments while writers commit:
//! afterwards every event is in Kafka, each aggregate's in order, and the
//! duplicates are bounded by what a killed relay can have in flight (one
//! batch per kill).

mod common;

use std::time::{Duration, Instant};

use anyhow::ensure;
use common::{Env, TOPIC, arrivals, check_order, read_all, write_events};

const EVENTS: u64 = 100_000;
const AGGREGATES: u64 = 1_000;
const WRITERS: u64 = 8;
const KILLS: usize = 5;
const BATCH: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_killed_five_times_loses_nothing() -> anyhow::Result<()> {
    let env = Env::start(8).await?;
    let dir = tempfile::tempdir()?;
    let settings = format!("batch_size = {BATCH}");
    let mut relay = env.start_relay_process(dir.path(), "relay", &settings)?;
    relay.ready(Duration::from_secs(30)).await?;

    let started = Instant::now();
    let writing = tokio::spawn(write_events(
        env.pool.clone(),
        env.outbox.clone(),
        EVENTS,
        AGGREGATES,
        WRITERS,
        10,
    ));
    let mut kills = Vec::new();
    for _ in 0..KILLS {
        // Killed while it works: once it has published since its start,
        // at a random moment of the next half second.
        relay.ready(Duration::from_secs(30)).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while relay
            .metric("sluice_outbox_published_total")?
            .unwrap_or(0.0)
            == 0.0
        {
            ensure!(
                Instant::now() < deadline,
                "the relay published nothing\n{}",
                relay.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..500))).await;
        relay.check_running()?;
        relay.kill()?;
        let pending = env.count("pending").await?;
        kills.push((started.elapsed(), pending));
        relay = env.start_relay_process(dir.path(), "relay", &settings)?;
    }
    writing.await??;
    let written_after = started.elapsed();
    env.drained(Duration::from_secs(300)).await?;
    relay.check_running()?;
    relay.terminate()?;

    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, EVENTS as usize)?;
    let arrived = arrivals(&records)?;
    eprintln!(
        "kills (time, rows pending then): {kills:?}; writers done after {written_after:?}; \
         {} records, {} distinct, {} duplicates",
        records.len(),
        arrived.distinct,
        arrived.duplicates
    );
    ensure!(
        arrived.distinct == EVENTS as usize,
        "{} of {EVENTS} events arrived",
        arrived.distinct
    );
    check_order(&arrived)?;
    ensure!(arrived.first_order.len() == AGGREGATES as usize);
    ensure!(
        arrived.duplicates <= KILLS * BATCH,
        "{} duplicates, more than {KILLS} kills × {BATCH} rows in flight",
        arrived.duplicates
    );
    ensure!(env.count("dead").await? == 0);
    Ok(())
}
