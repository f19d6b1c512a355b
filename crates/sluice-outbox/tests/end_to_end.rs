//! Writer → outbox → relay → Kafka → consumer → inbox: every event is
//! published twice (the relay made to resend everything), and the
//! consumer's database changes once per event.

mod common;

use std::time::Duration;

use anyhow::ensure;
use common::{Env, TOPIC, read_all};
use sluice_consumer::{ConsumerBuilder, ConsumerConfig, Context, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_kafka::KafkaConfig;
use sluice_outbox::{Inbox, InboxHandler, Outbox};
use sluice_testkit::sequenced;
use sqlx::PgConnection;

struct Count;

impl InboxHandler<EmailReceived> for Count {
    async fn handle(
        &self,
        event: EmailReceived,
        _ctx: &Context,
        db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        common::bump_counter(db, &event.email_id).await?;
        Ok(())
    }
}

const EVENTS: u64 = 300;
const KEYS: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_published_twice_change_the_consumers_database_once() -> anyhow::Result<()> {
    let env = Env::start(3).await?;
    sqlx::query("CREATE TABLE counters (name text PRIMARY KEY, n bigint NOT NULL)")
        .execute(&env.pool)
        .await?;
    let relay = env.spawn_relay("retention = \"keep\"", "").await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(30) {
        let events: Vec<_> = chunk
            .iter()
            .map(|&s| sequenced::event(s, &sequenced::key(s, KEYS)))
            .collect();
        let mut tx = env.pool.begin().await?;
        outbox.enqueue_all(&mut tx, &events).await?;
        tx.commit().await?;
    }
    env.drained(Duration::from_secs(60)).await?;
    // Every row sent again, as after a relay crash before its marks.
    let table = env.outbox.names()?.outbox_table();
    sqlx::query(&format!("UPDATE {table} SET status = 'pending'"))
        .execute(&env.pool)
        .await?;
    env.drained(Duration::from_secs(60)).await?;
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, 2 * EVENTS as usize)?;
    ensure!(
        records.len() == 2 * EVENTS as usize,
        "{} records",
        records.len()
    );
    relay.stop().await?;

    let mut config = ConsumerConfig::new(
        KafkaConfig::new(env.kafka.bootstrap_servers()),
        "billing",
        [TOPIC],
    );
    config.commit_interval_ms = 100;
    let inbox = Inbox::new(env.pool.clone(), &env.outbox, Count)?;
    let handlers = Handlers::new(sluice_events::registry().clone()).on::<EmailReceived, _>(inbox);
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    sluice_testkit::run_until_caught_up(consumer, Duration::from_secs(60)).await?;

    let counts: Vec<(String, i64)> = sqlx::query_as("SELECT name, n FROM counters ORDER BY name")
        .fetch_all(&env.pool)
        .await?;
    ensure!(counts.len() == KEYS as usize, "{counts:?}");
    ensure!(
        counts.iter().all(|(_, n)| *n == (EVENTS / KEYS) as i64),
        "each key should count {}: {counts:?}",
        EVENTS / KEYS
    );
    let inbox_rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {} WHERE consumer_group = 'billing'",
        env.outbox.names()?.inbox_table()
    ))
    .fetch_one(&env.pool)
    .await?;
    ensure!(inbox_rows == EVENTS as i64);
    Ok(())
}
