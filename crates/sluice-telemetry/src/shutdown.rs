//! The signal a service stops on: SIGTERM (what an orchestrator sends) or
//! Ctrl-C.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

/// Listens for SIGTERM and Ctrl-C from now on; the future resolves at the
/// first of them. Fails when the SIGTERM handler cannot be installed.
/// Call it inside a Tokio runtime.
pub fn on_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
    })
}
