//! What the relay writes back to its table: a round's marks in one
//! transaction, the pending and dead counts for metrics, and the purge of
//! old published rows.

use super::Relay;
use super::settle::Settlement;
use crate::config::Retention;
use crate::error::{OutboxError, Result};

impl Relay {
    /// Writes a round's settlement in one transaction.
    pub(super) async fn write(&self, s: &Settlement) -> Result<()> {
        use sluice_telemetry::metrics::{OUTBOX_DEAD_LETTERED, OUTBOX_FAILURES, OUTBOX_PUBLISHED};
        let table = self.names.outbox_table();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(OutboxError::db("starting the marks"))?;
        if !s.published.is_empty() {
            let sql = match self.settings.retention {
                Retention::Delete => {
                    format!("DELETE FROM {table} WHERE seq = ANY($1) AND status = 'pending'")
                }
                Retention::Keep => format!(
                    "UPDATE {table} SET status = 'published', published_at = clock_timestamp(), \
                     attempts = attempts + 1 WHERE seq = ANY($1) AND status = 'pending'"
                ),
            };
            sqlx::query(&sql)
                .bind(&s.published)
                .execute(&mut *tx)
                .await
                .map_err(OutboxError::db("marking rows published"))?;
        }
        for (status, rows) in [("dead", &s.dead), ("pending", &s.failed)] {
            if rows.is_empty() {
                continue;
            }
            let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let classes: Vec<&str> = rows.iter().map(|r| r.1.class.as_str()).collect();
            let errors: Vec<&str> = rows.iter().map(|r| r.1.message.as_str()).collect();
            let sql = format!(
                "UPDATE {table} AS t SET status = $4, attempts = t.attempts + 1, \
                 error_class = f.class, error = f.error \
                 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS f(seq, class, error) \
                 WHERE t.seq = f.seq AND t.status = 'pending'"
            );
            sqlx::query(&sql)
                .bind(seqs)
                .bind(classes)
                .bind(errors)
                .bind(status)
                .execute(&mut *tx)
                .await
                .map_err(OutboxError::db("recording failed rows"))?;
        }
        tx.commit()
            .await
            .map_err(OutboxError::db("committing the marks"))?;
        metrics::counter!(OUTBOX_PUBLISHED).increment(s.published.len() as u64);
        for (seq, failure) in &s.dead {
            tracing::warn!(seq, class = %failure.class, error = %failure.message, "outbox row dead-lettered");
            metrics::counter!(OUTBOX_DEAD_LETTERED, "class" => failure.class.clone()).increment(1);
        }
        for (seq, failure) in &s.failed {
            tracing::debug!(seq, class = %failure.class, error = %failure.message, "outbox row failed; stays pending");
            metrics::counter!(OUTBOX_FAILURES, "class" => failure.class.clone()).increment(1);
        }
        Ok(())
    }

    pub(super) async fn record_stats(&self) -> Result<()> {
        use sluice_telemetry::metrics::{OUTBOX_DEAD, OUTBOX_OLDEST_PENDING, OUTBOX_PENDING};
        let status = crate::admin::status(&self.pool, &self.names).await?;
        metrics::gauge!(OUTBOX_PENDING).set(status.pending as f64);
        metrics::gauge!(OUTBOX_OLDEST_PENDING).set(status.oldest_pending_seconds.unwrap_or(0.0));
        metrics::gauge!(OUTBOX_DEAD).set(status.dead as f64);
        Ok(())
    }

    pub(super) async fn purge(&self) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE status = 'published' AND published_at < clock_timestamp() - make_interval(hours => $1)",
            self.names.outbox_table()
        );
        sqlx::query(&sql)
            .bind(i32::try_from(self.settings.retention_hours).unwrap_or(i32::MAX))
            .execute(&self.pool)
            .await
            .map_err(OutboxError::db("deleting old published rows"))?;
        Ok(())
    }
}
