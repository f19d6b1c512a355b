//! Rebalances and the client's callbacks, served on the poll thread.
//!
//! On revocation the poll thread waits for the revoked partitions' workers
//! (up to the revoke timeout) and commits their finished offsets before the
//! partitions change owner; on assignment it starts a worker per partition.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::client::OAuthToken;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::commit;
use crate::handler::RecordHandler;
use crate::poll::{PollContext, WorkerHandle};

impl<H: RecordHandler> PollContext<H> {
    /// Stops the workers, waits up to `timeout` for their running records,
    /// abandons the rest, and commits what finished.
    ///
    /// On shutdown (`rejoin`), a commit the group refuses because a
    /// rebalance moved it to a new generation is tried again until the
    /// timeout, polling in between so the client rejoins: a member that
    /// stops while another joins would otherwise leave its last offsets
    /// uncommitted, and the partitions' next owners would repeat them. (In
    /// a rebalance callback the client cannot be polled; there the
    /// revocation itself comes before any new generation.)
    pub(crate) fn close_and_commit(
        &self,
        client: &BaseConsumer<Self>,
        mut handles: Vec<(String, i32, WorkerHandle)>,
        timeout: Duration,
        rejoin: bool,
    ) {
        if handles.is_empty() {
            return;
        }
        for (_, _, handle) in &mut handles {
            handle.records = None;
        }
        let deadline = Instant::now() + timeout;
        while handles.iter().any(|(_, _, h)| !h.task.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        for (topic, partition, handle) in &handles {
            if !handle.task.is_finished() {
                tracing::warn!(
                    topic,
                    partition,
                    "handlers still running after {timeout:?}; abandoning them uncommitted"
                );
                handle.task.abort();
            }
        }
        for (_, _, handle) in &handles {
            handle.state.commits.revoked();
        }
        loop {
            let result = commit::commit(
                client,
                handles
                    .iter()
                    .map(|(t, p, h)| (t.as_str(), *p, &h.state.commits)),
                CommitMode::Sync,
            );
            let stale = matches!(
                result
                    .as_ref()
                    .err()
                    .and_then(KafkaError::rdkafka_error_code),
                Some(
                    RDKafkaErrorCode::IllegalGeneration
                        | RDKafkaErrorCode::RebalanceInProgress
                        | RDKafkaErrorCode::UnknownMemberId
                )
            );
            if !(rejoin && stale && Instant::now() < deadline) {
                break;
            }
            // Records still arriving are dropped: nothing hands them over.
            let _ = client.poll(Duration::from_millis(100));
        }
        let mut partitions = self.status.partitions();
        for (topic, partition, _) in &handles {
            partitions.remove(&(topic.clone(), *partition));
        }
    }
}

impl<H: RecordHandler> ClientContext for PollContext<H> {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        sluice_kafka::security::oauth_token(self.oauth.as_ref())
    }

    fn stats(&self, statistics: Statistics) {
        let partitions = self.status.partitions();
        for (topic, stats) in &statistics.topics {
            for (partition, stats) in &stats.partitions {
                if let Some(state) = partitions.get(&(topic.clone(), *partition)) {
                    state
                        .high_watermark
                        .store(stats.hi_offset, Ordering::Relaxed);
                    // librdkafka reports -1001 (invalid) before a commit.
                    state
                        .group_committed
                        .store(stats.committed_offset.max(-1), Ordering::Relaxed);
                    state
                        .low_watermark
                        .store(stats.lo_offset.max(-1), Ordering::Relaxed);
                }
            }
        }
    }
}

impl<H: RecordHandler> ConsumerContext for PollContext<H> {
    fn pre_rebalance(&self, client: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.flush(client);
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let revoked = {
            let mut workers = self.workers();
            let mut revoked = Vec::new();
            for element in list.elements() {
                if let Some(handle) = workers
                    .get_mut(element.topic())
                    .and_then(|p| p.remove(&element.partition()))
                {
                    revoked.push((element.topic().to_owned(), element.partition(), handle));
                }
            }
            revoked
        };
        tracing::info!(partitions = revoked.len(), "partitions revoked");
        self.close_and_commit(client, revoked, self.revoke_timeout, false);
    }

    fn post_rebalance(&self, client: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.flush(client);
        match rebalance {
            Rebalance::Assign(_) if self.closing.load(Ordering::Acquire) => {
                tracing::debug!("assignment received while shutting down; ignored");
            }
            Rebalance::Assign(list) => {
                let mut workers = self.workers();
                for element in list.elements() {
                    self.spawn_worker(&mut workers, element.topic(), element.partition());
                }
                // A partition paused under an earlier assignment starts
                // unpaused with its new worker.
                if let Err(error) = client.resume(list) {
                    tracing::warn!(%error, "resume of assigned partitions failed");
                }
                tracing::info!(partitions = list.count(), "partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::error!(%error, "rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = &result {
            // A commit made during a rebalance fails with the old
            // generation: commit these partitions again on the next round.
            tracing::warn!(%error, "offset commit failed; retrying");
        }
        let workers = self.workers();
        for element in offsets.elements() {
            let Some(handle) = workers
                .get(element.topic())
                .and_then(|p| p.get(&element.partition()))
            else {
                continue;
            };
            let Offset::Offset(offset) = element.offset() else {
                continue;
            };
            if result.is_err() || element.error().is_err() {
                handle.state.commits.commit_failed(offset);
            } else {
                handle.state.commits.commit_confirmed(offset);
            }
        }
    }
}
