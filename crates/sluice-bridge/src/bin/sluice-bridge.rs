//! `sluice-bridge --config FILE`: moves records from Kafka to EventBridge and
//! SQS as the file's routes say, serves `/health`, `/ready` and `/metrics`,
//! exports traces over OTLP when the `OTEL_*` variables ask for it, and
//! shuts down gracefully on SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use sluice_bridge::{Bridge, BridgeConfig};
use sluice_core::SchemaRegistry;
use sluice_telemetry::http::Endpoints;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The bridge configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// The schema registry manifest, to render events as JSON.
    #[arg(long, default_value = "registry/manifest.toml")]
    registry: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs, OTLP traces when OTEL_* asks for them, Prometheus metrics.
    let _telemetry = sluice_telemetry::init("sluice-bridge")?;
    // Installed first, so a SIGTERM during start-up is a graceful stop too.
    let shutdown = sluice_telemetry::shutdown::on_signal()?;
    let args = Args::parse();
    let config = BridgeConfig::load(&args.config)?;
    let registry = SchemaRegistry::load(&args.registry)
        .with_context(|| format!("cannot load the registry {}", args.registry.display()))?;
    let endpoints = Endpoints::bind(config.http.listen).await?;
    let bridge = Bridge::builder(config, Arc::new(registry)).start().await?;
    if let Some(addr) = endpoints.local_addr() {
        tracing::info!(%addr, "serving /health, /ready and /metrics");
    }
    tokio::spawn(endpoints.serve(bridge.status()));
    bridge.run(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
