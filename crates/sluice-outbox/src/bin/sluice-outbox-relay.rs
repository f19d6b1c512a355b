//! `sluice-outbox-relay --config FILE`: publishes the outbox's committed
//! rows to Kafka, serves `/health`, `/ready` and `/metrics`, exports traces
//! over OTLP when the `OTEL_*` variables ask for it, and stops gracefully
//! on SIGTERM or Ctrl-C (the round in flight is finished and marked).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use sluice_core::SchemaRegistry;
use sluice_outbox::{Relay, RelayConfig};
use sluice_telemetry::http::Endpoints;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The relay configuration (TOML).
    #[arg(long)]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = sluice_telemetry::init("sluice-outbox-relay")?;
    // Installed first, so a SIGTERM during start-up is a graceful stop too.
    let shutdown = sluice_telemetry::shutdown::on_signal()?;
    let args = Args::parse();
    let config = RelayConfig::load(&args.config)?;
    let registry = match &config.registry {
        Some(path) => {
            Some(Arc::new(SchemaRegistry::load(path).with_context(|| {
                format!("cannot load the registry {}", path.display())
            })?))
        }
        None => None,
    };
    let endpoints = Endpoints::bind(config.http.listen).await?;
    let relay = Relay::connect(config, registry).await?;
    if let Some(addr) = endpoints.local_addr() {
        tracing::info!(%addr, "serving /health, /ready and /metrics");
    }
    tokio::spawn(endpoints.serve(relay.status()));
    relay.run(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
