//! Several named consumers run as one service (a bridge's routes, a
//! webhook service's endpoints): one readiness for all of them, and one run
//! that stops every member when shutdown is asked or any member fails.

use std::future::Future;
use std::sync::Arc;

use crate::consumer::Consumer;
use crate::error::ConsumerError;
use crate::handler::RecordHandler;
use crate::status::ConsumerStatus;

/// Named consumers, subscribed and ready to [`run`](Fleet::run).
pub struct Fleet<H: RecordHandler> {
    members: Vec<(String, Consumer<H>)>,
    status: FleetStatus,
}

impl<H: RecordHandler> std::fmt::Debug for Fleet<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A member that stopped with an error, which stopped the fleet.
#[derive(Debug, thiserror::Error)]
#[error("{member}: {source}")]
pub struct FleetError {
    pub member: String,
    #[source]
    pub source: Box<ConsumerError>,
}

/// Readiness of every member, for `/ready`.
#[derive(Debug, Clone)]
pub struct FleetStatus {
    members: Arc<Vec<(String, ConsumerStatus)>>,
}

impl FleetStatus {
    /// Each member's status (assignment, lag).
    pub fn members(&self) -> impl Iterator<Item = (&str, &ConsumerStatus)> {
        self.members
            .iter()
            .map(|(name, status)| (name.as_str(), status))
    }
}

impl sluice_telemetry::http::Readiness for FleetStatus {
    fn ready(&self) -> Result<(), String> {
        // A member that cannot go on, or whose dead letters cannot be
        // written, says why; otherwise the members still waiting for
        // partitions are named.
        let troubles: Vec<String> = self
            .members
            .iter()
            .filter(|(_, status)| status.is_ready())
            .filter_map(|(name, status)| status.ready().err().map(|why| format!("{name}: {why}")))
            .collect();
        if !troubles.is_empty() {
            return Err(troubles.join("; "));
        }
        let waiting: Vec<&str> = self
            .members
            .iter()
            .filter(|(_, status)| !status.is_ready())
            .map(|(name, _)| name.as_str())
            .collect();
        match waiting.as_slice() {
            [] => Ok(()),
            waiting => Err(format!("no partitions yet for {}", waiting.join(", "))),
        }
    }
}

impl<H: RecordHandler> Fleet<H> {
    pub fn new(members: Vec<(String, Consumer<H>)>) -> Self {
        let status = FleetStatus {
            members: Arc::new(
                members
                    .iter()
                    .map(|(name, consumer)| (name.clone(), consumer.status()))
                    .collect(),
            ),
        };
        Self { members, status }
    }

    pub fn status(&self) -> FleetStatus {
        self.status.clone()
    }

    /// Runs every member until `shutdown` resolves or a member fails, then
    /// shuts each down gracefully (in-flight records finish, finished
    /// offsets are committed). Returns the first member's failure.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), FleetError> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut runs: futures::stream::FuturesUnordered<_> = self
            .members
            .into_iter()
            .map(|(member, consumer)| {
                let mut stopped = stopped.clone();
                async move {
                    let signal = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    consumer.run(signal).await.map_err(|source| FleetError {
                        member,
                        source: Box::new(source),
                    })
                }
            })
            .collect();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stopping = false;
        let mut failure = None;
        loop {
            tokio::select! {
                next = futures::StreamExt::next(&mut runs) => match next {
                    None => break,
                    Some(Ok(())) => {}
                    Some(Err(error)) => {
                        tracing::error!(%error, "a consumer stopped; stopping the others");
                        failure.get_or_insert(error);
                        let _ = stop.send(true);
                    }
                },
                () = &mut shutdown, if !stopping => {
                    stopping = true;
                    let _ = stop.send(true);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }
}
