use std::net::SocketAddr;

/// Why the service cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid webhooks configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("ingress producer: {0}")]
    Producer(#[from] sluice_producer::ProducerError),
    #[error("endpoint {endpoint}: {source}")]
    Consumer {
        endpoint: String,
        source: Box<sluice_consumer::ConsumerError>,
    },
    #[error("endpoint {endpoint}: cannot build its HTTP client: {source}")]
    Client {
        endpoint: String,
        source: reqwest::Error,
    },
}
