//! The poll thread: dispatch to the partition workers, flow control,
//! rebalances and commits.
//!
//! Rebalance callbacks run on the poll thread too, so on revocation it can
//! wait for the revoked partitions' workers and commit their finished
//! offsets before the partitions change owner.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message as _, TopicPartitionList};
use sluice_kafka::TokenProvider;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::commit;
use crate::config::ConsumerConfig;
use crate::handler::RecordHandler;
use crate::partition::PartitionState;
use crate::record::Record;
use crate::status::ConsumerStatus;
use crate::subscription::Topics;
use crate::throttle::Throttle;
use crate::worker::{self, WorkerEnv};

/// Most records handed to a worker at once.
const MAX_BATCH: usize = 256;

/// How often paused partitions are checked for resumption.
const FLOW_CHECK: Duration = Duration::from_millis(10);

/// The longest sleep of a poll thread over its rate, so commits and
/// rebalances are not held up by a slow rate's long wait.
const THROTTLE_SLICE: Duration = Duration::from_millis(50);

/// How often the lag, in-flight and assignment gauges are set (well within
/// the Prometheus recorder's idle timeout for gauges).
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) fn poll_loop<H: RecordHandler>(
    client: &BaseConsumer<PollContext<H>>,
    stop: &AtomicBool,
    topics: &mut Topics,
    commit_interval: Duration,
    shutdown_timeout: Duration,
    mut throttle: Option<Throttle>,
) {
    let context = client.context();
    let mut last_refresh = Instant::now();
    let mut last_commit = Instant::now();
    let mut last_metrics = Instant::now();
    let mut last_flow_check = Instant::now();
    let mut since_clock_read = 0usize;
    while !stop.load(Ordering::Acquire) {
        let wait = if context.has_pending() {
            Duration::ZERO
        } else {
            Duration::from_millis(50)
        };
        if let Some(left) = throttle.as_mut().and_then(Throttle::wait_left) {
            // Over the rate: no records for a while, but commits and flow
            // control go on (rebalances wait for the next poll, a slice
            // at most).
            std::thread::sleep(left.min(THROTTLE_SLICE));
        } else {
            match client.poll(wait) {
                Some(Ok(message)) => {
                    context.push(client, &message);
                    if throttle.as_mut().is_some_and(Throttle::record) {
                        // What was read goes to the workers before the wait.
                        context.flush(client);
                    } else {
                        since_clock_read += 1;
                        // Reading the clock costs more than dispatching a record
                        // on some virtual machines: look at it every few hundred.
                        if since_clock_read < MAX_BATCH {
                            continue;
                        }
                    }
                }
                Some(Err(error)) => {
                    if let Some((code, reason)) = client.client().fatal_error() {
                        context
                            .status
                            .fail(format!("fatal consumer error {code:?}: {reason}"));
                    } else {
                        tracing::warn!(%error, "consumer error");
                    }
                }
                None => context.flush(client),
            }
        }
        if context.status.failure().is_some() {
            break;
        }
        since_clock_read = 0;
        if last_flow_check.elapsed() >= FLOW_CHECK {
            last_flow_check = Instant::now();
            let urgent = context.flow_control(client);
            if urgent || last_commit.elapsed() >= commit_interval {
                context.commit(client, CommitMode::Async);
                last_commit = Instant::now();
            }
            if last_metrics.elapsed() >= METRICS_INTERVAL {
                context.status.publish_metrics();
                last_metrics = Instant::now();
            }
            if last_refresh.elapsed() >= topics.refresh {
                topics.refresh(client);
                last_refresh = Instant::now();
            }
        }
    }
    match context.status.failure() {
        Some(reason) => tracing::error!("consumer stopping: {reason}"),
        None => tracing::info!("consumer shutting down"),
    }
    context.closing.store(true, Ordering::Release);
    // Records read and not handed over are left for the next owner.
    context.pending().records.clear();
    let all = context.take_all_workers();
    context.close_and_commit(client, all, shutdown_timeout, true);
    context.env.dead_letters.flush(shutdown_timeout);
}

/// Records read and not yet handed to their worker.
#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    /// The name of the topic last read, shared by its records.
    topic: Option<Arc<str>>,
    /// What `records` hold ([`Record::held_bytes`]).
    bytes: u64,
}

impl Pending {
    /// The batch and the bytes its records hold.
    fn take(&mut self) -> (Vec<Record>, u64) {
        if self.records.is_empty() {
            return (Vec::new(), 0);
        }
        let bytes = std::mem::take(&mut self.bytes);
        (
            std::mem::replace(&mut self.records, Vec::with_capacity(MAX_BATCH)),
            bytes,
        )
    }

    fn topic(&mut self, name: &str) -> Arc<str> {
        match &self.topic {
            Some(topic) if &**topic == name => Arc::clone(topic),
            _ => Arc::clone(self.topic.insert(Arc::from(name))),
        }
    }
}

/// The poll thread's handle on a partition worker.
pub(crate) struct WorkerHandle {
    pub(crate) records: Option<mpsc::UnboundedSender<Vec<Record>>>,
    pub(crate) state: Arc<PartitionState>,
    pub(crate) task: tokio::task::JoinHandle<()>,
    pub(crate) paused: bool,
}

pub(crate) type Workers = HashMap<String, HashMap<i32, WorkerHandle>>;

pub(crate) struct PollContext<H> {
    pub(crate) env: Arc<WorkerEnv<H>>,
    runtime: Handle,
    pub(crate) workers: Mutex<Workers>,
    /// Consecutive records of one partition, handed to its worker together:
    /// one lock, one channel send and one wake-up per batch.
    pending: Mutex<Pending>,
    pub(crate) status: ConsumerStatus,
    pub(crate) revoke_timeout: Duration,
    max_uncommitted: u64,
    max_unfinished_bytes: u64,
    pub(crate) oauth: Option<Arc<dyn TokenProvider>>,
    /// Set when shutdown begins: assignments that still arrive get no
    /// workers.
    pub(crate) closing: AtomicBool,
}

impl<H: RecordHandler> PollContext<H> {
    pub(crate) fn new(
        env: Arc<WorkerEnv<H>>,
        runtime: Handle,
        status: ConsumerStatus,
        config: &ConsumerConfig,
        oauth: Option<Arc<dyn TokenProvider>>,
    ) -> Self {
        Self {
            env,
            runtime,
            workers: Mutex::new(HashMap::new()),
            pending: Mutex::new(Pending::default()),
            status,
            revoke_timeout: Duration::from_millis(config.revoke_timeout_ms),
            max_uncommitted: config.max_uncommitted_per_partition as u64,
            max_unfinished_bytes: config.max_unfinished_bytes_per_partition as u64,
            oauth,
            closing: AtomicBool::new(false),
        }
    }

    pub(crate) fn workers(&self) -> MutexGuard<'_, Workers> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn spawn_worker(&self, workers: &mut Workers, topic: &str, partition: i32) {
        let by_partition = workers.entry(topic.to_owned()).or_default();
        if by_partition.contains_key(&partition) {
            return;
        }
        let (records, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(PartitionState::default());
        let task = self.runtime.spawn(worker::run(
            Arc::clone(&self.env),
            Arc::clone(&state),
            Arc::new(worker::PartitionMetrics::new(topic, &self.env.group)),
            receiver,
        ));
        self.status
            .partitions()
            .insert((topic.to_owned(), partition), Arc::clone(&state));
        by_partition.insert(
            partition,
            WorkerHandle {
                records: Some(records),
                state,
                task,
                paused: false,
            },
        );
    }

    fn has_pending(&self) -> bool {
        !self.pending().records.is_empty()
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copies a record into the pending batch, first handing the batch over
    /// when the record is of another partition or the batch is full.
    ///
    /// A batch is also handed over before it would hold more than the
    /// partitions' byte bound, so the bound's pause comes before the next
    /// records are read out of the client, not after a whole batch.
    fn push(&self, client: &BaseConsumer<Self>, message: &BorrowedMessage<'_>) {
        let mut pending = self.pending();
        let same_partition = pending.records.last().is_none_or(|last| {
            last.partition() == message.partition() && last.topic() == message.topic()
        });
        let topic = pending.topic(message.topic());
        let record = Record::copy(message, topic);
        let bytes = record.held_bytes();
        if !same_partition
            || pending.records.len() >= MAX_BATCH
            || pending.bytes + bytes > self.max_unfinished_bytes
        {
            let (batch, bytes) = pending.take();
            self.dispatch(client, batch, bytes);
        }
        pending.bytes += bytes;
        pending.records.push(record);
    }

    /// Hands the pending batch to its worker. Runs when polling finds
    /// nothing more and before every rebalance callback, so a batch never
    /// outlives the assignment it was read under.
    pub(crate) fn flush(&self, client: &BaseConsumer<Self>) {
        let (batch, bytes) = self.pending().take();
        self.dispatch(client, batch, bytes);
    }

    /// Hands consecutive records of one partition to its worker, pausing the
    /// partition when too much of it is read and not committed.
    fn dispatch(&self, client: &BaseConsumer<Self>, batch: Vec<Record>, bytes: u64) {
        let Some(first) = batch.first() else {
            return;
        };
        let partition = first.partition();
        let _poll = tracing::debug_span!(
            "poll",
            messaging.system = "kafka",
            messaging.operation.type = "receive",
            messaging.destination.name = first.topic(),
            messaging.destination.partition.id = partition,
            messaging.batch.message_count = batch.len(),
        )
        .entered();
        let mut workers = self.workers();
        let Some(handle) = workers
            .get_mut(first.topic())
            .and_then(|p| p.get_mut(&partition))
        else {
            // Polling serves rebalances before it returns records, so records
            // always belong to an assigned partition.
            tracing::error!(
                topic = first.topic(),
                partition,
                "records of an unassigned partition dropped"
            );
            return;
        };
        let count = batch.len() as u64;
        let state = &handle.state;
        let held = state.held_bytes() + bytes;
        // The topic name is copied only when the partition must pause.
        let pause = (!handle.paused
            && (state.commits.uncommitted() + count >= self.max_uncommitted
                || held >= self.max_unfinished_bytes))
            .then(|| first.topic().to_owned());
        if let Some(records) = &handle.records {
            let topic = first.shared_topic();
            state.hold(bytes);
            state.commits.handed_over(count);
            if records.send(batch).is_err() {
                // Handler panics are caught, so only a bug ends a worker
                // early; its records must not vanish unnoticed.
                self.status.fail(format!(
                    "the worker of {topic} partition {partition} stopped"
                ));
            }
        }
        if let Some(topic) = pause {
            let mut list = TopicPartitionList::new();
            list.add_partition(&topic, partition);
            match client.pause(&list) {
                Ok(()) => handle.paused = true,
                Err(error) => tracing::warn!(%error, topic, partition, "pause failed"),
            }
        }
    }

    /// Resumes paused partitions whose backlog was committed down to half
    /// the limit. Returns whether a commit would free a paused partition or
    /// one close to pausing.
    fn flow_control(&self, client: &BaseConsumer<Self>) -> bool {
        let mut workers = self.workers();
        let mut urgent = false;
        let mut resume = TopicPartitionList::new();
        for (topic, partitions) in workers.iter_mut() {
            for (&partition, handle) in partitions.iter_mut() {
                if handle.records.is_some() && handle.task.is_finished() {
                    self.status.fail(format!(
                        "the worker of {topic} partition {partition} stopped"
                    ));
                }
                let commits = &handle.state.commits;
                let uncommitted = commits.uncommitted();
                if uncommitted >= self.max_uncommitted / 2 && commits.finished_since_commit() {
                    urgent = true;
                }
                if handle.paused
                    && uncommitted <= self.max_uncommitted / 2
                    && handle.state.held_bytes() <= self.max_unfinished_bytes / 2
                {
                    resume.add_partition(topic, partition);
                    handle.paused = false;
                }
            }
        }
        if resume.count() > 0
            && let Err(error) = client.resume(&resume)
        {
            tracing::warn!(%error, "resume failed");
        }
        urgent
    }

    /// Commits every partition whose finished prefix moved.
    fn commit(&self, client: &BaseConsumer<Self>, mode: CommitMode) {
        let workers = self.workers();
        let partitions = workers.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(p, h)| (topic.as_str(), *p, &h.state.commits))
        });
        // A failed periodic commit is tried again on the next round.
        let _ = commit::commit(client, partitions, mode);
    }

    fn take_all_workers(&self) -> Vec<(String, i32, WorkerHandle)> {
        let mut workers = self.workers();
        let mut all = Vec::new();
        for (topic, partitions) in workers.drain() {
            for (partition, handle) in partitions {
                all.push((topic.clone(), partition, handle));
            }
        }
        all
    }
}
