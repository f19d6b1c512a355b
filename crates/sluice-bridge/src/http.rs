//! `/health` (the process is alive) and `/ready` (every route owns
//! partitions) over HTTP/1.1.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{BridgeError, BridgeStatus};

/// Binds `addr`; serve the endpoints with [`Endpoints::serve`].
#[derive(Debug)]
pub struct Endpoints {
    listener: TcpListener,
}

impl Endpoints {
    pub async fn bind(addr: SocketAddr) -> Result<Self, BridgeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BridgeError::Http { addr, source })?;
        Ok(Self { listener })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Answers until the future is dropped.
    pub async fn serve(self, status: BridgeStatus) {
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                continue;
            };
            let status = status.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let status = status.clone();
                    async move { Ok::<_, Infallible>(answer(&request, &status)) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

fn answer(request: &Request<Incoming>, status: &BridgeStatus) -> Response<Full<Bytes>> {
    let (code, body) = match request.uri().path() {
        "/health" => (StatusCode::OK, "ok\n".to_owned()),
        "/ready" => {
            let waiting = status.not_ready();
            if waiting.is_empty() {
                (StatusCode::OK, "ready\n".to_owned())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: no partitions yet for {}\n", waiting.join(", ")),
                )
            }
        }
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    Response::builder()
        .status(code)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
