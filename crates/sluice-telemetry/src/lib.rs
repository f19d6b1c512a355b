//! Observability for sluice services.
//!
//! - **Traces**: sluice's crates emit `tracing` spans (`send`, `poll`,
//!   `process`, `handle`, `retry`, `dead_letter`, the bridge's `aws_call`) with OpenTelemetry's
//!   messaging attributes. [`init`] installs a subscriber that logs and,
//!   when the standard `OTEL_*` variables ask for it, exports spans over
//!   OTLP. The W3C trace context travels in Kafka headers and on to AWS
//!   ([`propagation`]).
//! - **Metrics**: recorded through the [`metrics`](::metrics) facade under
//!   the names in [`metrics`]; [`metrics::prometheus`] installs a Prometheus
//!   recorder.
//! - **Endpoints**: [`http::Endpoints`] serves `/health`, `/ready` and
//!   `/metrics`; [`shutdown::on_signal`] is the SIGTERM or Ctrl-C a
//!   service stops on.
//!
//! ```no_run
//! # fn main() -> Result<(), sluice_telemetry::TelemetryError> {
//! let _telemetry = sluice_telemetry::init("archiver")?; // flushes spans when dropped
//! # Ok(()) }
//! ```

pub mod http;
pub mod metrics;
pub mod propagation;
pub mod shutdown;

use std::net::SocketAddr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    #[error("cannot create the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a tracing subscriber is installed already: {0}")]
    Subscriber(String),
    #[error("cannot serve HTTP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Keeps the span exporter running; dropping it flushes and stops it.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Whether the standard variables ask for OTLP trace export: an OTLP
/// endpoint is set, or `OTEL_TRACES_EXPORTER=otlp`; and the SDK is not
/// disabled (`OTEL_SDK_DISABLED=true`) nor the exporter `none`.
pub fn otlp_requested(env: impl Fn(&str) -> Option<String>) -> bool {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return false;
    }
    match env("OTEL_TRACES_EXPORTER") {
        Some(exporter) => exporter.split(',').any(|e| e.trim() == "otlp"),
        None => {
            env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        }
    }
}

/// Installs the global `tracing` subscriber: logs to stderr filtered by
/// `RUST_LOG` (default `info`), and OpenTelemetry spans exported over OTLP
/// (HTTP/protobuf; endpoint, headers, timeout and service name from the
/// standard `OTEL_*` variables) when [`otlp_requested`]. Installs the
/// Prometheus recorder too.
pub fn init(service_name: &str) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let provider = if otlp_requested(|k| std::env::var(k).ok()) {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.into());
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service)
            .build();
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        )
    } else {
        None
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("sluice")));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
    let _ = metrics::prometheus();
    Ok(Telemetry { provider })
}

#[cfg(test)]
mod tests {
    use super::otlp_requested;

    #[test]
    fn otlp_only_when_asked() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(!otlp_requested(env(&[])));
        assert!(otlp_requested(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://c:4318"
        )])));
        assert!(otlp_requested(env(&[("OTEL_TRACES_EXPORTER", "otlp")])));
        assert!(!otlp_requested(env(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
        ])));
        assert!(!otlp_requested(env(&[
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
        ])));
    }
}
