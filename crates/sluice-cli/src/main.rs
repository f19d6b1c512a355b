//! `sluice`: the operator's command line for sluice's typed events.
//!
//! Exit codes: 0 success; 1 the operation failed (cluster unreachable, a
//! send or commit failed, schemas incompatible); 2 bad usage or input
//! (unknown flag, unknown event type, malformed JSON, missing topic);
//! 130 interrupted (Ctrl-C), after finishing and recording the record in
//! hand.

mod cluster;
mod dlq;
mod filter;
mod outbox;
mod produce;
mod progress;
mod replay;
mod schema;
mod speed;
mod tail;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use sluice_core::SchemaRegistry;

/// Bad usage or input: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BadInput(pub(crate) String);

pub(crate) fn bad_input(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}

/// How a command ended.
pub(crate) enum Outcome {
    Done,
    Interrupted,
}

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Tail, replay, inspect and redrive sluice's typed events on Kafka.",
    after_help = "Exit codes: 0 success, 1 operation failed, 2 bad usage or input, 130 interrupted.\n\n\
                  Examples:\n  sluice --brokers localhost:9092 tail email.received --since 1h\n  \
                  sluice dlq stats email.received.dlq\n  \
                  sluice dlq redrive email.received.dlq --type 'email.*' --rate 100"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Global {
    /// Bootstrap servers; overrides `[kafka] bootstrap_servers` of --config.
    #[arg(long, global = true, env = "SLUICE_BROKERS")]
    pub(crate) brokers: Option<String>,
    /// A TOML file whose `[kafka]` table (TLS, SCRAM, MSK IAM, properties)
    /// the clients use: the same table the libraries read.
    #[arg(long, global = true, env = "SLUICE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The schema registry manifest used to decode and encode events.
    #[arg(
        long,
        global = true,
        env = "SLUICE_REGISTRY",
        default_value = "registry/manifest.toml"
    )]
    pub(crate) registry: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    Tail(tail::Args),
    Replay(replay::Args),
    /// Dead-letter topics: statistics, listing, one record, redrive.
    #[command(subcommand)]
    Dlq(dlq::Command),
    /// The schema compatibility gate and the registered schemas.
    #[command(subcommand)]
    Schema(schema::Command),
    Produce(produce::Args),
    /// A transactional outbox: status, dead-lettered rows, retry.
    #[command(subcommand)]
    Outbox(outbox::Command),
}

/// What every command gets.
pub(crate) struct Ctx {
    pub(crate) global: Global,
    pub(crate) runtime: tokio::runtime::Runtime,
    interrupted: Arc<AtomicBool>,
}

impl Ctx {
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    pub(crate) fn registry(&self) -> anyhow::Result<SchemaRegistry> {
        let path = &self.global.registry;
        SchemaRegistry::load(path).map_err(|e| {
            bad_input(format!(
                "cannot load the schema registry {}: {e} (pass --registry PATH/manifest.toml)",
                path.display()
            ))
        })
    }

    pub(crate) fn cluster(&self) -> anyhow::Result<cluster::Cluster> {
        cluster::Cluster::new(&self.global)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: finishing the record in hand (Ctrl-C again to abort)");
            flag.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let ctx = Ctx {
        global: cli.global,
        runtime,
        interrupted,
    };
    let result = match cli.command {
        Command::Tail(args) => tail::run(&ctx, args),
        Command::Replay(args) => replay::run(&ctx, args),
        Command::Dlq(command) => dlq::run(&ctx, command),
        Command::Schema(command) => schema::run(&ctx, command),
        Command::Produce(args) => produce::run(&ctx, args),
        Command::Outbox(command) => outbox::run(&ctx, command),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
