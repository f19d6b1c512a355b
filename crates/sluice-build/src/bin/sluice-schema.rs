//! `sluice-schema`: the schema compatibility gate and registration.
//!
//! ```text
//! sluice-schema check    [--proto DIR] [--avro DIR] [--registry FILE]
//! sluice-schema register [--proto DIR] [--avro DIR] [--registry FILE]
//! sluice-schema list     [--registry FILE]
//! ```
//!
//! `check` exits 1 when a schema changed incompatibly or is not registered;
//! `register` adds a version for each compatible change and refuses all of
//! them when one is incompatible.

use std::path::PathBuf;
use std::process::ExitCode;

use sluice_build::{Registry, Sources, Status};

const USAGE: &str =
    "usage: sluice-schema check|register|list [--proto DIR] [--avro DIR] [--registry FILE]";

struct Args {
    command: String,
    proto: PathBuf,
    avro: PathBuf,
    registry: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or(USAGE)?;
    let mut parsed = Args {
        command,
        proto: PathBuf::from("proto"),
        avro: PathBuf::from("schemas"),
        registry: PathBuf::from("registry/manifest.toml"),
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--proto" => parsed.proto = value.into(),
            "--avro" => parsed.avro = value.into(),
            "--registry" => parsed.registry = value.into(),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::load(&args.registry)?;
    if args.command == "list" {
        for e in &registry.manifest().schemas {
            println!(
                "{:>4}  {:<48} v{:<3} {:<8} {}",
                e.id, e.subject, e.version, e.format, e.file
            );
        }
        return Ok(());
    }
    let scratch = tempfile::tempdir()?;
    let proto = args.proto.exists().then_some(args.proto.as_path());
    let avro = args.avro.exists().then_some(args.avro.as_path());
    let schemas = Sources::read(proto, avro, scratch.path())?.schemas();
    match args.command.as_str() {
        "check" => {
            for (subject, status) in registry.check(&schemas)? {
                if let Status::Registered { version, id } = status {
                    println!("ok  {subject} v{version} (id {id})");
                }
            }
            println!("{} subjects compatible and registered", schemas.len());
        }
        "register" => {
            let added = registry.register(&schemas)?;
            for e in &added {
                println!("registered {} v{} as id {}", e.subject, e.version, e.id);
            }
            if added.is_empty() {
                println!("nothing to register: every subject is up to date");
            }
        }
        other => return Err(format!("unknown command {other}\n{USAGE}").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().map_err(Into::into).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-schema: {e}");
            ExitCode::FAILURE
        }
    }
}
