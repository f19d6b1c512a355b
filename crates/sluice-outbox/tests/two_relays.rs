//! Two relay binaries on one outbox share its buckets; when one is
//! SIGKILLed the other takes its buckets over. Every event arrives, each
//! aggregate's in order. Also what the relay serves on /health, /ready and
//! /metrics.

mod common;

use std::time::{Duration, Instant};

use anyhow::ensure;
use common::{Env, RelayProcess, TOPIC, arrivals, check_order, read_all, write_events};

const EVENTS: u64 = 40_000;
const AGGREGATES: u64 = 400;
const BATCH: usize = 200;

async fn wait_for_metric(
    relay: &mut RelayProcess,
    name: &str,
    ok: impl Fn(f64) -> bool,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        relay.check_running()?;
        if let Some(value) = relay.metric(name)?
            && ok(value)
        {
            return Ok(value);
        }
        ensure!(
            Instant::now() < deadline,
            "{name} never got there\n{}",
            relay.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_share_buckets_and_one_takes_over_when_the_other_dies() -> anyhow::Result<()> {
    let env = Env::start(8).await?;
    let dir = tempfile::tempdir()?;
    let settings = format!("batch_size = {BATCH}\nbuckets = 16");
    let mut a = env.start_relay_process(dir.path(), "a", &settings)?;
    a.ready(Duration::from_secs(30)).await?;
    let mut b = env.start_relay_process(dir.path(), "b", &settings)?;
    b.ready(Duration::from_secs(30)).await?;
    ensure!(sluice_testkit::http_get(b.http_port, "/health")? == (200, "ok\n".to_owned()));
    ensure!(sluice_testkit::http_get(b.http_port, "/nothing")?.0 == 404);

    // A fair share each.
    wait_for_metric(&mut a, "sluice_outbox_buckets_held", |v| v == 8.0).await?;
    wait_for_metric(&mut b, "sluice_outbox_buckets_held", |v| v == 8.0).await?;

    let writing = tokio::spawn(write_events(
        env.pool.clone(),
        env.outbox.clone(),
        EVENTS,
        AGGREGATES,
        8,
        5,
    ));
    // Both at work, then one dies mid-run.
    wait_for_metric(&mut a, "sluice_outbox_published_total", |v| v > 0.0).await?;
    wait_for_metric(&mut b, "sluice_outbox_published_total", |v| v > 0.0).await?;
    a.kill()?;
    wait_for_metric(&mut b, "sluice_outbox_buckets_held", |v| v == 16.0).await?;
    writing.await??;
    env.drained(Duration::from_secs(120)).await?;

    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, EVENTS as usize)?;
    let arrived = arrivals(&records)?;
    eprintln!(
        "{} records, {} distinct, {} duplicates",
        records.len(),
        arrived.distinct,
        arrived.duplicates
    );
    ensure!(
        arrived.distinct == EVENTS as usize,
        "{} of {EVENTS}",
        arrived.distinct
    );
    check_order(&arrived)?;
    ensure!(
        arrived.duplicates <= BATCH,
        "{} duplicates from one kill",
        arrived.duplicates
    );

    // The gauges, once the survivor has read them again.
    wait_for_metric(&mut b, "sluice_outbox_pending_rows", |v| v == 0.0).await?;
    let (code, metrics) = sluice_testkit::http_get(b.http_port, "/metrics")?;
    ensure!(code == 200);
    for name in [
        "sluice_outbox_oldest_pending_seconds",
        "sluice_outbox_dead_rows",
        "sluice_outbox_commit_to_ack_seconds",
        "sluice_producer_sent_total",
    ] {
        ensure!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    b.terminate()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_with_another_bucket_count_refuses_to_run() -> anyhow::Result<()> {
    let env = Env::start(2).await?;
    let dir = tempfile::tempdir()?;
    let mut a = env.start_relay_process(dir.path(), "a", "buckets = 16")?;
    a.ready(Duration::from_secs(30)).await?;
    wait_for_metric(&mut a, "sluice_outbox_buckets_held", |v| v == 16.0).await?;
    // With 8 buckets it would map aggregates to buckets `a` does not
    // know it shares.
    let mut b = env.start_relay_process(dir.path(), "b", "buckets = 8")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.check_running().is_ok() {
        ensure!(
            Instant::now() < deadline,
            "a relay with 8 buckets runs beside one with 16\n{}",
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = b.log_text();
    ensure!(log.contains("runs with 16 buckets"), "{log}");
    a.check_running()?;
    wait_for_metric(&mut a, "sluice_outbox_buckets_held", |v| v == 16.0).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_lock_session_ends_takes_its_buckets_again() -> anyhow::Result<()> {
    const EVENTS: u64 = 2_000;
    let env = Env::start(2).await?;
    let dir = tempfile::tempdir()?;
    let mut a = env.start_relay_process(dir.path(), "a", "buckets = 4")?;
    a.ready(Duration::from_secs(30)).await?;
    wait_for_metric(&mut a, "sluice_outbox_buckets_held", |v| v == 4.0).await?;
    // The relay lives on; only the session that holds its locks ends.
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM \
         (SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' \
          AND pid <> pg_backend_pid()) AS holders",
    )
    .fetch_one(&env.pool)
    .await?;
    ensure!(ended == 1, "{ended} sessions held advisory locks");
    write_events(env.pool.clone(), env.outbox.clone(), EVENTS, 50, 2, 5).await?;
    env.drained(Duration::from_secs(60)).await?;
    a.check_running()?;
    let log = a.log_text();
    ensure!(log.contains("lost the lock connection"), "{log}");
    wait_for_metric(&mut a, "sluice_outbox_buckets_held", |v| v == 4.0).await?;
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, EVENTS as usize)?;
    check_order(&arrivals(&records)?)?;
    Ok(())
}
