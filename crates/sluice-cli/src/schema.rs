//! `sluice schema`: the compatibility gate, registration and the registered
//! schemas. `make schema-check` and `make schema-register` run it.

use std::path::PathBuf;

use sluice_build::{Registry, Sources, Status, SubjectSchema};

use crate::{Ctx, Outcome, bad_input};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Fails (exit 1) when a schema changed incompatibly or is not
    /// registered.
    #[command(after_help = "Example:\n  sluice schema check --proto proto --avro schemas")]
    Check(SourceDirs),
    /// Registers every new or changed schema as a new version of its
    /// subject; refuses all of them (exit 1) when one is incompatible.
    #[command(after_help = "Example:\n  sluice schema register --proto proto --avro schemas")]
    Register(SourceDirs),
    /// Every registered version: id, subject, version, format, event type.
    #[command(after_help = "Example:\n  sluice --registry registry/manifest.toml schema list")]
    List,
}

/// Where the schema sources are.
#[derive(Debug, clap::Args)]
pub(crate) struct SourceDirs {
    /// The `.proto` root.
    #[arg(long, default_value = "proto")]
    proto: PathBuf,
    /// The `.avsc` directory.
    #[arg(long, default_value = "schemas")]
    avro: PathBuf,
}

pub(crate) fn run(ctx: &Ctx, command: Command) -> anyhow::Result<Outcome> {
    let path = &ctx.global.registry;
    let mut registry = Registry::load(path).map_err(|e| {
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
        Command::Check(dirs) => {
            let schemas = read(&dirs)?;
            for (subject, status) in registry.check(&schemas)? {
                if let Status::Registered { version, id } = status {
                    println!("ok  {subject} v{version} (id {id})");
                }
            }
            println!("{} subjects compatible and registered", schemas.len());
        }
        Command::Register(dirs) => {
            let added = registry.register(&read(&dirs)?)?;
            for e in &added {
                println!("registered {} v{} as id {}", e.subject, e.version, e.id);
            }
            if added.is_empty() {
                println!("nothing to register: every subject is up to date");
            }
        }
    }
    Ok(Outcome::Done)
}

/// The current schema of every event subject in the sources.
fn read(dirs: &SourceDirs) -> anyhow::Result<Vec<SubjectSchema>> {
    let proto = dirs.proto.exists().then_some(dirs.proto.as_path());
    let avro = dirs.avro.exists().then_some(dirs.avro.as_path());
    if proto.is_none() && avro.is_none() {
        return Err(bad_input(
            "neither the --proto nor the --avro directory exists",
        ));
    }
    let scratch = tempfile::tempdir()?;
    Ok(Sources::read(proto, avro, scratch.path())?.schemas())
}
