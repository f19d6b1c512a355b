//! `sluice schema`: the compatibility gate and the registered schemas.

use std::path::PathBuf;

use sluice_build::{Registry, Sources, Status};

use crate::{Ctx, Outcome, bad_input};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Fails (exit 1) when a schema changed incompatibly or is not
    /// registered.
    #[command(after_help = "Example:\n  sluice schema check --proto proto --avro schemas")]
    Check {
        /// The `.proto` root.
        #[arg(long, default_value = "proto")]
        proto: PathBuf,
        /// The `.avsc` directory.
        #[arg(long, default_value = "schemas")]
        avro: PathBuf,
    },
    /// Every registered version: id, subject, version, format, event type.
    #[command(after_help = "Example:\n  sluice --registry registry/manifest.toml schema list")]
    List,
}

pub(crate) fn run(ctx: &Ctx, command: Command) -> anyhow::Result<Outcome> {
    let path = &ctx.global.registry;
    let registry = Registry::load(path).map_err(|e| {
        bad_input(format!(
            "cannot load the registry {}: {e} (pass --registry PATH/manifest.toml)",
            path.display()
        ))
    })?;
    match command {
        Command::List => {
            println!(
                "{:>4}  {:<44} {:>4}  {:<9} EVENT TYPE",
                "ID", "SUBJECT", "VER", "FORMAT"
            );
            for e in &registry.manifest().schemas {
                println!(
                    "{:>4}  {:<44} {:>4}  {:<9} {}",
                    e.id,
                    e.subject,
                    e.version,
                    e.format.to_string(),
                    e.event_type.as_deref().unwrap_or("-")
                );
            }
        }
        Command::Check { proto, avro } => {
            let scratch = tempfile::tempdir()?;
            let proto = proto.exists().then_some(proto.as_path());
            let avro = avro.exists().then_some(avro.as_path());
            if proto.is_none() && avro.is_none() {
                return Err(bad_input(
                    "neither the --proto nor the --avro directory exists",
                ));
            }
            let schemas = Sources::read(proto, avro, scratch.path())?.schemas();
            for (subject, status) in registry.check(&schemas)? {
                if let Status::Registered { version, id } = status {
                    println!("ok  {subject} v{version} (id {id})");
                }
            }
            println!("{} subjects compatible and registered", schemas.len());
        }
    }
    Ok(Outcome::Done)
}
