//! `/health` (the process is alive), `/ready` (its consumers own
//! partitions) and `/metrics` (Prometheus text) over HTTP/1.1.
//!
//! One call serves them for any service:
//!
//! ```no_run
//! # async fn run(status: impl sluice_telemetry::http::Readiness) -> Result<(), sluice_telemetry::TelemetryError> {
//! let endpoints = sluice_telemetry::http::Endpoints::bind("0.0.0.0:8080".parse().unwrap()).await?;
//! tokio::spawn(endpoints.serve(status)); // e.g. a sluice_consumer::ConsumerStatus
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::TelemetryError;

/// What `/ready` asks.
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when ready; otherwise what is missing, for people.
    fn ready(&self) -> Result<(), String>;
}

impl<R: Readiness> Readiness for Arc<R> {
    fn ready(&self) -> Result<(), String> {
        (**self).ready()
    }
}

/// A bound listener; [`Endpoints::serve`] answers on it.
#[derive(Debug)]
pub struct Endpoints {
    listener: TcpListener,
}

impl Endpoints {
    pub async fn bind(addr: SocketAddr) -> Result<Self, TelemetryError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| TelemetryError::Bind { addr, source })?;
        Ok(Self { listener })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Answers until the future is dropped. `/metrics` renders the
    /// Prometheus recorder of [`crate::metrics::prometheus`], installing
    /// it if no recorder is installed yet.
    pub async fn serve(self, readiness: impl Readiness) {
        let readiness = Arc::new(readiness);
        let metrics = crate::metrics::prometheus().ok();
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                continue;
            };
            let readiness = Arc::clone(&readiness);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let readiness = Arc::clone(&readiness);
                    async move { Ok::<_, Infallible>(answer(&request, &*readiness, metrics)) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

fn answer(
    request: &Request<Incoming>,
    readiness: &dyn Readiness,
    metrics: Option<&metrics_exporter_prometheus::PrometheusHandle>,
) -> Response<Full<Bytes>> {
    let text = "text/plain; charset=utf-8";
    let (code, content_type, body) = match request.uri().path() {
        "/health" => (StatusCode::OK, text, "ok\n".to_owned()),
        "/ready" => match readiness.ready() {
            Ok(()) => (StatusCode::OK, text, "ready\n".to_owned()),
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                text,
                format!("not ready: {why}\n"),
            ),
        },
        "/metrics" => match metrics {
            Some(handle) => (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                handle.render(),
            ),
            None => (
                StatusCode::NOT_FOUND,
                text,
                "another metrics recorder is installed\n".to_owned(),
            ),
        },
        _ => (StatusCode::NOT_FOUND, text, "not found\n".to_owned()),
    };
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
