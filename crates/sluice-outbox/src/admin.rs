//! What operators ask of an outbox: how far behind it is, which rows are
//! dead-lettered and why, and sending those again. Behind `sluice outbox`
//! and the relay's gauges.

use sqlx::{PgPool, Row as _};

use crate::error::{OutboxError, Result};
use crate::names::Names;

/// Counts and ages of an outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub pending: i64,
    pub oldest_pending_seconds: Option<f64>,
    pub dead: i64,
    /// Kept published rows (`retention = "keep"`).
    pub published: i64,
    /// Dead rows by error class, most first.
    pub dead_by_class: Vec<(String, i64)>,
}

pub async fn status(pool: &PgPool, names: &Names) -> Result<Status> {
    let table = names.outbox_table();
    let row = sqlx::query(&format!(
        "SELECT (SELECT count(*) FROM {table} WHERE status = 'pending') AS pending, \
         (SELECT extract(epoch FROM clock_timestamp() - min(created_at))::float8 FROM {table} WHERE status = 'pending') AS oldest, \
         (SELECT count(*) FROM {table} WHERE status = 'dead') AS dead, \
         (SELECT count(*) FROM {table} WHERE status = 'published') AS published"
    ))
    .fetch_one(pool)
    .await
    .map_err(OutboxError::db("reading the outbox status"))?;
    let by_class = sqlx::query(&format!(
        "SELECT coalesce(error_class, '') AS class, count(*) AS n FROM {table} \
         WHERE status = 'dead' GROUP BY 1 ORDER BY 2 DESC, 1"
    ))
    .fetch_all(pool)
    .await
    .map_err(OutboxError::db("reading dead rows by class"))?;
    let get = |e| OutboxError::db("decoding the outbox status")(e);
    Ok(Status {
        pending: row.try_get("pending").map_err(get)?,
        oldest_pending_seconds: row.try_get("oldest").map_err(get)?,
        dead: row.try_get("dead").map_err(get)?,
        published: row.try_get("published").map_err(get)?,
        dead_by_class: by_class
            .iter()
            .map(|r| Ok((r.try_get("class")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(get)?,
    })
}

/// Which rows [`list`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Pending,
    Dead,
    Published,
}

impl RowState {
    fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Dead => "dead",
            RowState::Published => "published",
        }
    }
}

/// One row, without its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSummary {
    pub seq: i64,
    pub id: String,
    pub topic: String,
    pub key: String,
    pub event_type: String,
    pub created_at: String,
    pub attempts: i32,
    pub error_class: Option<String>,
    pub error: Option<String>,
}

/// Up to `limit` rows in `state`, oldest first.
pub async fn list(
    pool: &PgPool,
    names: &Names,
    state: RowState,
    limit: i64,
) -> Result<Vec<RowSummary>> {
    let sql = format!(
        "SELECT seq, id, aggregatetype, aggregateid, type, created_at::text AS created, attempts, error_class, error \
         FROM {} WHERE status = $1 ORDER BY seq LIMIT $2",
        names.outbox_table()
    );
    let rows = sqlx::query(&sql)
        .bind(state.as_str())
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(OutboxError::db("listing outbox rows"))?;
    rows.iter()
        .map(|r| {
            Ok(RowSummary {
                seq: r.try_get("seq")?,
                id: r.try_get("id")?,
                topic: r.try_get("aggregatetype")?,
                key: r.try_get("aggregateid")?,
                event_type: r.try_get("type")?,
                created_at: r.try_get("created")?,
                attempts: r.try_get("attempts")?,
                error_class: r.try_get("error_class")?,
                error: r.try_get("error")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(OutboxError::db("decoding outbox rows"))
}

/// Which dead rows [`retry`] sends again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrySelection {
    All,
    Seqs(Vec<i64>),
    Class(String),
}

/// Puts dead rows back to pending (attempts and error cleared); returns how
/// many. They keep their `seq`, so the relay sends them before the later
/// pending rows of their aggregate — but after the ones already published.
pub async fn retry(pool: &PgPool, names: &Names, selection: &RetrySelection) -> Result<u64> {
    let base = format!(
        "UPDATE {} SET status = 'pending', attempts = 0, error_class = NULL, error = NULL WHERE status = 'dead'",
        names.outbox_table()
    );
    let db = OutboxError::db("retrying dead rows");
    let done = match selection {
        RetrySelection::All => sqlx::query(&base).execute(pool).await,
        RetrySelection::Seqs(seqs) => {
            let sql = format!("{base} AND seq = ANY($1)");
            sqlx::query(&sql).bind(seqs).execute(pool).await
        }
        RetrySelection::Class(class) => {
            let sql = format!("{base} AND error_class = $1");
            sqlx::query(&sql).bind(class).execute(pool).await
        }
    }
    .map_err(db)?;
    Ok(done.rows_affected())
}
