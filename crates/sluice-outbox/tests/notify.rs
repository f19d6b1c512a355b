//! `outbox.notify`: a committed enqueue wakes LISTENers, unless turned off;
//! a relay then finds the rows by polling.

mod common;

use std::time::Duration;

use anyhow::ensure;
use common::{Env, TOPIC, read_all};
use sluice_outbox::{Outbox, OutboxConfig};
use sluice_testkit::sequenced;
use sqlx::postgres::PgListener;

/// Whether a notification arrives within a second of an enqueue committed
/// through an outbox of `config`.
async fn notified(env: &Env, config: &OutboxConfig, sequence: u64) -> anyhow::Result<bool> {
    let mut listener = PgListener::connect_with(&env.pool).await?;
    listener.listen(config.names()?.channel.as_str()).await?;
    let outbox = Outbox::new(config, common::SOURCE)?;
    let mut tx = env.pool.begin().await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(sequence, "agg"))
        .await?;
    tx.commit().await?;
    Ok(
        tokio::time::timeout(Duration::from_secs(1), listener.recv())
            .await
            .is_ok(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_can_be_turned_off_and_polling_still_publishes() -> anyhow::Result<()> {
    let env = Env::start(1).await?;
    ensure!(
        notified(&env, &env.outbox, 0).await?,
        "no NOTIFY by default"
    );
    let quiet = OutboxConfig {
        notify: false,
        ..env.outbox.clone()
    };
    ensure!(
        !notified(&env, &quiet, 1).await?,
        "a NOTIFY with notify = false"
    );
    let relay = env.spawn_relay("", "").await?;
    env.drained(Duration::from_secs(30)).await?;
    ensure!(read_all(&env.kafka.bootstrap_servers(), TOPIC, 2)?.len() == 2);
    relay.stop().await?;
    Ok(())
}
