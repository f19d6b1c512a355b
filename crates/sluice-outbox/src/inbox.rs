//! The consuming side: an event changes the database once, however often
//! Kafka delivers it.
//!
//! [`Inbox`] wraps an [`InboxHandler`] as a sluice consumer [`Handler`]. For
//! each record, in one transaction, it inserts `(consumer group, ce_id)`
//! into the inbox table (`ON CONFLICT DO NOTHING`), runs the handler with
//! that transaction when the row is new, and commits. A redelivered event
//! finds its row and is acknowledged without running the handler; a handler
//! that fails rolls its inbox row back with its own writes, so the retry
//! runs it again. Two deliveries racing each other serialize on the inbox
//! row's key: the second waits for the first to commit or roll back.

use std::time::Duration;

use sluice_consumer::{Context, Handler, HandlerError};
use sluice_core::Event;
use sqlx::{PgConnection, PgPool};

use crate::config::OutboxConfig;
use crate::error::{OutboxError, Result};
use crate::names::Names;

/// A handler that writes through the transaction its inbox row is in.
pub trait InboxHandler<E: Event>: Send + Sync + 'static {
    /// Handles `event`; every write goes through `db` (the transaction),
    /// so it commits with the inbox row or not at all.
    fn handle(
        &self,
        event: E,
        ctx: &Context,
        db: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A consumer [`Handler`] that runs `H` at most once per event and group.
#[derive(Debug)]
pub struct Inbox<H> {
    pool: PgPool,
    handler: H,
    insert_sql: String,
}

impl<H> Inbox<H> {
    /// `handler` behind the inbox table `config` names (created by
    /// [`migrate`](crate::migrate())).
    pub fn new(pool: PgPool, config: &OutboxConfig, handler: H) -> Result<Self> {
        let names = config.names()?;
        Ok(Self {
            insert_sql: format!(
                "INSERT INTO {} (consumer_group, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                names.inbox_table()
            ),
            pool,
            handler,
        })
    }
}

impl<E: Event, H: InboxHandler<E>> Handler<E> for Inbox<H> {
    async fn handle(&self, event: E, ctx: &Context) -> Result<(), HandlerError> {
        let id = ctx
            .header(sluice_core::envelope::header::ID)
            .and_then(|id| std::str::from_utf8(id).ok())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                HandlerError::permanent("the record has no ce_id header to deduplicate by")
                    .with_class("inbox_no_event_id")
            })?;
        let database = |e: sqlx::Error| {
            HandlerError::retriable(format!("inbox: {e}")).with_class("inbox_database")
        };
        let mut tx = self.pool.begin().await.map_err(database)?;
        let inserted = sqlx::query(&self.insert_sql)
            .bind(ctx.consumer_group())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(database)?
            .rows_affected();
        if inserted == 0 {
            metrics::counter!(sluice_telemetry::metrics::INBOX_DUPLICATES, "group" => ctx.consumer_group().to_owned())
                .increment(1);
            tracing::debug!(event_id = id, "already handled; skipped");
            return Ok(());
        }
        // On failure `tx` is dropped here, which rolls back the inbox row
        // together with whatever the handler wrote.
        self.handler.handle(event, ctx, &mut tx).await?;
        tx.commit().await.map_err(database)
    }
}

/// Deletes inbox rows older than `age`; returns how many. An event
/// redelivered after its row is gone is handled again, so `age` must exceed
/// the longest time a redelivery can take (retention of the topic, for a
/// replay from the start).
pub async fn cleanup(pool: &PgPool, names: &Names, age: Duration) -> Result<u64> {
    let sql = format!(
        "DELETE FROM {} WHERE received_at < clock_timestamp() - make_interval(secs => $1)",
        names.inbox_table()
    );
    let done = sqlx::query(&sql)
        .bind(age.as_secs_f64())
        .execute(pool)
        .await
        .map_err(OutboxError::db("deleting old inbox rows"))?;
    Ok(done.rows_affected())
}
