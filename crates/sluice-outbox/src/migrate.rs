//! The SQL migrations that ship with the crate, with the configured schema
//! and table names filled in.

use sqlx::PgPool;

use crate::error::{OutboxError, Result};
use crate::names::{Ident, Names};

/// The migrations in order: name and SQL with `{placeholders}`.
pub const MIGRATIONS: &[(&str, &str)] =
    &[("0001_outbox", include_str!("../migrations/0001_outbox.sql"))];

/// One migration's SQL for `names`; every placeholder becomes a quoted,
/// validated identifier.
pub fn render(template: &str, names: &Names) -> Result<String> {
    let index = |suffix: &str, table: &Ident| -> Result<String> {
        // Index names are per schema: prefixed with their table's name.
        Ok(Ident::new(&format!("{}_{suffix}", table.as_str()))?.quoted())
    };
    let replacements = [
        ("{schema}", names.schema.quoted()),
        ("{outbox}", names.outbox.quoted()),
        ("{inbox}", names.inbox.quoted()),
        ("{outbox_pending}", index("pending", &names.outbox)?),
        ("{outbox_dead}", index("dead", &names.outbox)?),
        ("{outbox_published}", index("published", &names.outbox)?),
        ("{inbox_received}", index("received", &names.inbox)?),
    ];
    let mut sql = template.to_owned();
    for (placeholder, value) in replacements {
        sql = sql.replace(placeholder, &value);
    }
    Ok(sql)
}

/// Applies every migration (each is idempotent: `IF NOT EXISTS`), in one
/// transaction, under an advisory lock so concurrent starts do not race.
pub async fn migrate(pool: &PgPool, names: &Names) -> Result<()> {
    let mut tx = pool
        .begin()
        .await
        .map_err(OutboxError::db("starting the migration"))?;
    // `IF NOT EXISTS` notices on every start are noise.
    sqlx::query("SET LOCAL client_min_messages = warning")
        .execute(&mut *tx)
        .await
        .map_err(OutboxError::db("starting the migration"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(names.lock_space() + 1)
        .execute(&mut *tx)
        .await
        .map_err(OutboxError::db("locking for the migration"))?;
    for (_, template) in MIGRATIONS {
        let sql = render(template, names)?;
        sqlx::raw_sql(&sql)
            .execute(&mut *tx)
            .await
            .map_err(OutboxError::db("applying the migration"))?;
    }
    tx.commit()
        .await
        .map_err(OutboxError::db("committing the migration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_leaves_no_placeholder() {
        let names = Names::new("app", "events_out", "events_in", None).expect("valid");
        let sql = render(MIGRATIONS[0].1, &names).expect("renders");
        for placeholder in [
            "{schema}",
            "{outbox}",
            "{inbox}",
            "{outbox_pending}",
            "{inbox_received}",
        ] {
            assert!(!sql.contains(placeholder), "{placeholder} left in\n{sql}");
        }
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"app\".\"events_out\""));
        assert!(sql.contains("\"events_out_pending\" ON \"app\".\"events_out\""));
    }
}
