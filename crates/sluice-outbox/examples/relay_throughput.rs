//! Relay throughput and insert → ack latency, on a real PostgreSQL (a
//! fresh cluster from `sluice_testkit::Postgres`) and librdkafka's mock
//! cluster: writers commit `EVENTS` events while one relay publishes them.
//!
//! ```sh
//! cargo run --release -p sluice-outbox --example relay_throughput -- 100000 8
//! cargo run --release -p sluice-outbox --example relay_throughput -- 20000 4 2000
//! ```
//!
//! Arguments: events (default 50 000), writers (default 4), and a rate in
//! events per second (default 0: as fast as the writers go, which measures
//! throughput; a rate the relay keeps up with measures latency). The mock
//! cluster answers from memory, so this measures the relay and PostgreSQL,
//! not a network or a broker's disk.

use std::time::{Duration, Instant};

use sluice_outbox::{Outbox, OutboxConfig, Relay, RelayConfig};
use sluice_testkit::{MockKafka, Postgres, sequenced};

const PER_TX: u64 = 10;
const AGGREGATES: u64 = 1_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50_000);
    let writers: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(4)
        .max(1);
    let rate: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0.0);
    // One transaction per writer per `pace`.
    let pace = (rate > 0.0).then(|| Duration::from_secs_f64(PER_TX as f64 * writers as f64 / rate));
    let metrics = sluice_telemetry::metrics::prometheus().map_err(anyhow::Error::msg)?;

    let pg = Postgres::start().await?;
    let kafka = MockKafka::start(1)?;
    kafka.create_topic("email.received", 8)?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(writers as u32 + 2)
        .connect(&pg.url())
        .await?;
    let outbox = OutboxConfig::default();
    let relay = Relay::connect(
        RelayConfig::from_toml(&format!(
            r#"
            database_url = "{}"
            [producer]
            linger_ms = 5
            [producer.kafka]
            bootstrap_servers = "{}"
            [relay]
            batch_size = 1000
            stats_interval_ms = 200
            retention = "keep"
            [http]
            listen = "127.0.0.1:0"
            "#,
            pg.url(),
            kafka.bootstrap_servers()
        ))?,
        Some(sluice_events::registry().clone()),
    )
    .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    let writer = Outbox::new(&outbox, "/bench")?;
    let per_writer = events / writers;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (pool, writer) = (pool.clone(), writer.clone());
        tasks.push(tokio::spawn(async move {
            let mut ticks = pace.map(tokio::time::interval);
            let mut i = 0;
            while i < per_writer {
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                }
                let batch: Vec<_> = (i..(i + PER_TX).min(per_writer))
                    .map(|j| {
                        let seq = w * per_writer + j;
                        sequenced::event(seq, &format!("agg-{}", seq % AGGREGATES))
                    })
                    .collect();
                let mut tx = pool.begin().await?;
                writer.enqueue_all(&mut tx, &batch).await?;
                tx.commit().await?;
                i += PER_TX;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let written = started.elapsed();
    let table = outbox.names()?.outbox_table();
    loop {
        let pending: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE status = 'pending'"
        ))
        .fetch_one(&pool)
        .await?;
        if pending == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "{pending} rows left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed();
    let _ = stop.send(());
    relay.await??;

    let total = per_writer * writers;
    // Insert → marked published, per row, from the table itself (the mark
    // follows the broker's ack within the round).
    let (p50, p95, p99, max): (f64, f64, f64, f64) = sqlx::query_as(&format!(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.95) WITHIN GROUP (ORDER BY d), \
         percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d) \
         FROM (SELECT extract(epoch FROM published_at - created_at)::float8 AS d FROM {table}) AS l"
    ))
    .fetch_one(&pool)
    .await?;
    let rendered = metrics.render();
    let value = |name: &str| {
        rendered
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(f64::NAN)
    };
    let mean_ack = value("sluice_outbox_commit_to_ack_seconds_sum")
        / value("sluice_outbox_commit_to_ack_seconds_count");
    let rate = if rate > 0.0 {
        format!("{rate}/s")
    } else {
        "unlimited".to_owned()
    };
    println!(
        "events                 {total} ({writers} writers, {PER_TX} per transaction, {AGGREGATES} aggregates, rate {rate})"
    );
    println!(
        "written in             {written:.2?} ({:.0} events/s committed)",
        total as f64 / written.as_secs_f64()
    );
    println!(
        "all published after    {drained:.2?} ({:.0} events/s end to end)",
        total as f64 / drained.as_secs_f64()
    );
    println!(
        "insert → marked        p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p50 * 1e3,
        p95 * 1e3,
        p99 * 1e3,
        max * 1e3
    );
    println!("insert → ack (relay)   mean {:.1} ms", mean_ack * 1e3);
    Ok(())
}
