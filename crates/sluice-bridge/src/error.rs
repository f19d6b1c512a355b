//! Errors of the bridge.

/// The bridge could not start, or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    #[error("invalid bridge configuration: {0}")]
    Config(String),
    #[error("route {route:?}: {source}")]
    Consumer {
        route: String,
        #[source]
        source: Box<sluice_consumer::ConsumerError>,
    },
    #[error("route {route:?}: cannot use {destination}: {reason}")]
    Destination {
        route: String,
        destination: String,
        reason: String,
    },
}
