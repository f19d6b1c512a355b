//! `sluice outbox`: how far behind a transactional outbox is, its
//! dead-lettered rows and why, and sending them again.

use serde_json::json;
use sluice_outbox::admin::{self, RetrySelection, RowState};
use sluice_outbox::{Names, OutboxConfig};

use crate::tail::Output;
use crate::{Ctx, Outcome, bad_input};

#[derive(Debug, clap::Args)]
pub(crate) struct Database {
    /// The outbox's database (`postgres://user:password@host/db`); never
    /// printed.
    #[arg(long, env = "SLUICE_OUTBOX_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The schema of the outbox table.
    #[arg(long, default_value = "sluice")]
    schema: String,
    /// The outbox table.
    #[arg(long, default_value = "outbox")]
    table: String,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Rows pending, the oldest pending row's age, dead rows by class.
    #[command(
        after_help = "Example:\n  sluice outbox status --database-url postgres://relay@db/app"
    )]
    Status {
        #[command(flatten)]
        db: Database,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Rows in one state, oldest first, with their errors.
    #[command(after_help = "Example:\n  sluice outbox list --state dead --limit 20")]
    List {
        #[command(flatten)]
        db: Database,
        #[arg(long, value_enum, default_value = "dead")]
        state: State,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Puts dead rows back to pending, for the relay to send again.
    #[command(
        after_help = "Examples:\n  sluice outbox retry --seq 17 --seq 18\n  sluice outbox retry --class unknown_topic\n  sluice outbox retry --all"
    )]
    Retry {
        #[command(flatten)]
        db: Database,
        /// Every dead row.
        #[arg(long, conflicts_with_all = ["seq", "class"])]
        all: bool,
        /// The row with this `seq` (repeatable).
        #[arg(long)]
        seq: Vec<i64>,
        /// Every dead row of this error class.
        #[arg(long, conflicts_with = "seq")]
        class: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum State {
    Pending,
    Dead,
    Published,
}

impl Database {
    fn names(&self) -> anyhow::Result<Names> {
        let config = OutboxConfig {
            schema: self.schema.clone(),
            table: self.table.clone(),
            ..OutboxConfig::default()
        };
        config.names().map_err(|e| bad_input(e.to_string()))
    }

    async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        // The URL holds the password: errors say what failed, not where.
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&self.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the outbox database: {e}"))
    }
}

pub(crate) fn run(ctx: &Ctx, command: Command) -> anyhow::Result<Outcome> {
    ctx.runtime.block_on(async {
        match command {
            Command::Status { db, output } => status(&db, output).await,
            Command::List {
                db,
                state,
                limit,
                output,
            } => list(&db, state, limit, output).await,
            Command::Retry {
                db,
                all,
                seq,
                class,
            } => {
                let selection = match (all, seq.is_empty(), class) {
                    (true, _, _) => RetrySelection::All,
                    (false, false, _) => RetrySelection::Seqs(seq),
                    (false, true, Some(class)) => RetrySelection::Class(class),
                    (false, true, None) => {
                        return Err(bad_input("say which rows: --all, --seq N or --class CLASS"));
                    }
                };
                let names = db.names()?;
                let retried = admin::retry(&db.pool().await?, &names, &selection).await?;
                println!("{retried} dead rows back to pending");
                Ok(Outcome::Done)
            }
        }
    })
}

async fn status(db: &Database, output: Output) -> anyhow::Result<Outcome> {
    let names = db.names()?;
    let s = admin::status(&db.pool().await?, &names).await?;
    match output {
        Output::Json => println!(
            "{}",
            json!({
                "table": names.outbox_table(),
                "pending": s.pending,
                "oldest_pending_seconds": s.oldest_pending_seconds,
                "dead": s.dead,
                "published_kept": s.published,
                "dead_by_class": s.dead_by_class.iter().map(|(c, n)| json!({"class": c, "rows": n})).collect::<Vec<_>>(),
            })
        ),
        Output::Table => {
            println!("outbox       {}", names.outbox_table());
            println!("pending      {}", s.pending);
            match s.oldest_pending_seconds {
                Some(age) => println!("oldest       {age:.1}s"),
                None => println!("oldest       -"),
            }
            println!("dead         {}", s.dead);
            println!("published    {} (kept)", s.published);
            for (class, rows) in &s.dead_by_class {
                println!("  dead {class:<24} {rows}");
            }
        }
    }
    Ok(Outcome::Done)
}

async fn list(db: &Database, state: State, limit: i64, output: Output) -> anyhow::Result<Outcome> {
    let names = db.names()?;
    let state = match state {
        State::Pending => RowState::Pending,
        State::Dead => RowState::Dead,
        State::Published => RowState::Published,
    };
    let rows = admin::list(&db.pool().await?, &names, state, limit).await?;
    for row in rows {
        match output {
            Output::Json => println!(
                "{}",
                json!({
                    "seq": row.seq, "id": row.id, "topic": row.topic, "key": row.key,
                    "type": row.event_type, "created_at": row.created_at, "attempts": row.attempts,
                    "error_class": row.error_class, "error": row.error,
                })
            ),
            Output::Table => println!(
                "{:>8}  {}  {}  key={}  {}  attempts={}  {}{}",
                row.seq,
                row.created_at,
                row.topic,
                row.key,
                row.event_type,
                row.attempts,
                row.error_class.as_deref().unwrap_or(""),
                row.error.map(|e| format!(": {e}")).unwrap_or_default(),
            ),
        }
    }
    Ok(Outcome::Done)
}
