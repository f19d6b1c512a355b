//! The inbox on a real PostgreSQL: an event changes the database once,
//! however often it is delivered; a failing handler leaves no inbox row.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::ensure;
use sluice_consumer::{Context, Handler, HandlerError, Record};
use sluice_events::proto::EmailReceived;
use sluice_outbox::{Inbox, InboxHandler, OutboxConfig};
use sluice_testkit::{Postgres, sequenced};
use sqlx::PgConnection;

/// Adds one to the event's key's counter; fails while `failures` is above
/// zero (after writing, to show the write is rolled back).
struct Count {
    failures: Arc<AtomicU32>,
}

impl InboxHandler<EmailReceived> for Count {
    async fn handle(
        &self,
        event: EmailReceived,
        _ctx: &Context,
        db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        common::bump_counter(db, &event.email_id).await?;
        if self
            .failures
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(HandlerError::retriable("injected failure"));
        }
        Ok(())
    }
}

fn delivery(seq: u64, key: &str, id: &str, attempt: u32) -> (EmailReceived, Context) {
    let event = sequenced::event(seq, key);
    let record = Record::new(
        "email.received",
        0,
        seq as i64,
        Some(key.as_bytes()),
        Some(b"unused"),
        &[("ce_id", Some(id.as_bytes()))],
    );
    (event, Context::new(record, "billing", attempt))
}

async fn counter(pool: &sqlx::PgPool, name: &str) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT coalesce((SELECT n FROM counters WHERE name = $1), 0)::bigint")
            .bind(name)
            .fetch_one(pool)
            .await?,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_events_change_the_database_once() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let pool = sqlx::PgPool::connect(&pg.url()).await?;
    let config = OutboxConfig::default();
    sluice_outbox::migrate(&pool, &config.names()?).await?;
    sqlx::query("CREATE TABLE counters (name text PRIMARY KEY, n bigint NOT NULL)")
        .execute(&pool)
        .await?;
    let failures = Arc::new(AtomicU32::new(0));
    let inbox = Arc::new(Inbox::new(
        pool.clone(),
        &config,
        Count {
            failures: Arc::clone(&failures),
        },
    )?);

    // 200 events over 10 keys, each delivered twice, the copies concurrently.
    let mut tasks = Vec::new();
    for copy in 0..2 {
        for seq in 0..200u64 {
            let inbox = Arc::clone(&inbox);
            tasks.push(tokio::spawn(async move {
                let (event, ctx) = delivery(
                    seq,
                    &format!("k{}", seq % 10),
                    &format!("id-{seq}"),
                    copy + 1,
                );
                inbox.handle(event, &ctx).await
            }));
        }
    }
    for task in tasks {
        task.await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    for k in 0..10 {
        let n = counter(&pool, &format!("k{k}")).await?;
        ensure!(n == 20, "k{k} counted {n}, not 20");
    }
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sluice.inbox WHERE consumer_group = 'billing'")
            .fetch_one(&pool)
            .await?;
    ensure!(rows == 200);

    // Another group handles the same event again: the inbox is per group.
    let (event, ctx) = delivery(0, "k0", "id-0", 1);
    let other = Context::new(ctx.record().clone(), "audit", 1);
    inbox
        .handle(event, &other)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(counter(&pool, "k0").await? == 21);

    // A failure rolls back the handler's write and the inbox row: the
    // retry runs the handler again; a later redelivery does not.
    failures.store(1, Ordering::Release);
    let (event, ctx) = delivery(500, "fresh", "id-500", 1);
    let err = inbox
        .handle(event.clone(), &ctx)
        .await
        .expect_err("injected failure");
    ensure!(err.is_retriable());
    ensure!(
        counter(&pool, "fresh").await? == 0,
        "the failed attempt's write survived"
    );
    inbox
        .handle(event.clone(), &ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(counter(&pool, "fresh").await? == 1);
    inbox
        .handle(event, &ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(counter(&pool, "fresh").await? == 1);

    // A record without ce_id cannot be deduplicated: refused for good.
    let record = Record::new("email.received", 0, 9, None, Some(b"x"), &[]);
    let err = inbox
        .handle(
            sequenced::event(9, "k9"),
            &Context::new(record, "billing", 1),
        )
        .await
        .expect_err("no ce_id");
    ensure!(
        !err.is_retriable() && err.class() == "inbox_no_event_id",
        "{err:?}"
    );

    // Cleanup by age: nothing is an hour old; everything is older than 0s.
    let names = config.names()?;
    ensure!(
        sluice_outbox::inbox::cleanup(&pool, &names, std::time::Duration::from_secs(3600)).await?
            == 0
    );
    ensure!(sluice_outbox::inbox::cleanup(&pool, &names, std::time::Duration::ZERO).await? == 202);
    Ok(())
}
