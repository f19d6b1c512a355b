//! `sluice-webhooks --config FILE`: webhooks into Kafka (`[ingress]`) and
//! out of it (`[egress]`), as the file says; serves `/health`, `/ready` and
//! `/metrics`, and shuts down gracefully on SIGTERM or Ctrl-C (requests in
//! flight are answered, delivered offsets committed).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use sluice_consumer::FleetStatus;
use sluice_core::SchemaRegistry;
use sluice_telemetry::http::{Endpoints, Readiness};
use sluice_webhooks::{Egress, Ingress, IngressStatus, WebhookError, WebhooksConfig};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The service configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// The schema registry manifest: typed sources encode with it, and
    /// endpoints render records that are not JSON with it.
    #[arg(long, default_value = "registry/manifest.toml")]
    registry: PathBuf,
}

/// Ready when the ingress reaches the cluster and every endpoint owns
/// partitions.
struct Status {
    ingress: Option<IngressStatus>,
    egress: Option<FleetStatus>,
}

impl Readiness for Status {
    fn ready(&self) -> Result<(), String> {
        let mut troubles = Vec::new();
        if let Some(Err(why)) = self.ingress.as_ref().map(Readiness::ready) {
            troubles.push(format!("ingress: {why}"));
        }
        if let Some(Err(why)) = self.egress.as_ref().map(Readiness::ready) {
            troubles.push(format!("egress: {why}"));
        }
        if troubles.is_empty() {
            Ok(())
        } else {
            Err(troubles.join("; "))
        }
    }
}

/// Runs one half, if configured; its failure stops the other.
async fn half(
    run: Option<impl Future<Output = Result<(), WebhookError>>>,
    stop: &tokio::sync::watch::Sender<bool>,
) -> Result<(), WebhookError> {
    let Some(run) = run else {
        return Ok(());
    };
    let result = run.await;
    if result.is_err() {
        let _ = stop.send(true);
    }
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = sluice_telemetry::init("sluice-webhooks")?;
    // Installed first, so a SIGTERM during start-up is a graceful stop too.
    let shutdown = sluice_telemetry::shutdown::on_signal()?;
    let args = Args::parse();
    let config = WebhooksConfig::load(&args.config)?;
    let needs_registry = config.egress.is_some()
        || config
            .ingress
            .as_ref()
            .is_some_and(|i| i.sources.iter().any(|s| s.schema_event_type.is_some()));
    let registry = if needs_registry {
        let registry = SchemaRegistry::load(&args.registry)
            .with_context(|| format!("cannot load the registry {}", args.registry.display()))?;
        Some(Arc::new(registry))
    } else {
        None
    };
    let endpoints = Endpoints::bind(config.http.listen).await?;
    let ingress = match &config.ingress {
        Some(ingress) => Some(Ingress::bind(ingress, registry.clone()).await?),
        None => None,
    };
    let egress = match (&config.egress, &registry) {
        (Some(egress), Some(registry)) => Some(Egress::start(egress, Arc::clone(registry))?),
        _ => None,
    };
    let status = Status {
        ingress: ingress.as_ref().map(Ingress::status),
        egress: egress.as_ref().map(Egress::status),
    };
    if let Some(addr) = endpoints.local_addr() {
        tracing::info!(%addr, "serving /health, /ready and /metrics");
    }
    if let Some(addr) = ingress.as_ref().and_then(Ingress::local_addr) {
        tracing::info!(%addr, "accepting webhooks");
    }
    tokio::spawn(endpoints.serve(status));
    // Shutdown, or either half failing, stops both.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let stop = &stop;
    let ingress_run = half(ingress.map(|i| i.run(signal(stopped.clone()))), stop);
    let egress_run = half(egress.map(|e| e.run(signal(stopped.clone()))), stop);
    let stopper = async {
        tokio::select! {
            () = shutdown => {}
            () = signal(stopped.clone()) => {}
        }
        let _ = stop.send(true);
    };
    let (ingress_result, egress_result, ()) = tokio::join!(ingress_run, egress_run, stopper);
    ingress_result?;
    egress_result?;
    tracing::info!("stopped");
    Ok(())
}
