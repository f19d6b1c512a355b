//! The poll thread, rebalances, flow control and commits.
//!
//! One OS thread polls the client. Records go to a task per partition
//! ([`worker`](crate::worker)); the poll thread commits what the workers
//! report finished. Rebalance callbacks run on the poll thread too, so on
//! revocation it can wait for the revoked partitions' workers and commit
//! their finished offsets before the partitions change owner.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::client::OAuthToken;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use sluice_kafka::TokenProvider;
use sluice_kafka::security::TokenContext;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::config::{ConsumerConfig, Ordering as RecordOrdering};
use crate::dlq::DeadLetters;
use crate::error::ConsumerError;
use crate::handler::RecordHandler;
use crate::record::Record;
use crate::subscription::Subscription;
use crate::worker::{self, PartitionState, WorkerEnv};

/// Builds a [`Consumer`].
pub struct ConsumerBuilder {
    config: ConsumerConfig,
    token_provider: Option<Arc<dyn TokenProvider>>,
}

impl std::fmt::Debug for ConsumerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ConsumerBuilder {
    /// OAUTHBEARER tokens from this source instead of the one the security
    /// settings name.
    pub fn token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.token_provider = Some(provider);
        self
    }

    /// Creates the clients and subscribes. Call from inside a Tokio runtime:
    /// the partition workers run on it.
    pub fn build<H: RecordHandler>(self, handler: H) -> Result<Consumer<H>, ConsumerError> {
        let config = self.config;
        config.validate()?;
        let runtime = Handle::try_current().map_err(|_| ConsumerError::NoRuntime)?;
        let oauth = match self.token_provider {
            Some(provider) => Some(provider),
            None => config.kafka.security.token_provider()?,
        };
        let dlq_producer: FutureProducer<TokenContext> = config
            .kafka
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            // Records can be far larger than librdkafka's 1 MB default, and
            // compressed they were; so are their dead letters.
            .set(
                "message.max.bytes",
                config.dlq.max_message_bytes.to_string(),
            )
            .set("compression.type", "lz4")
            .create_with_context(TokenContext::new(oauth.clone()))
            .map_err(ConsumerError::Client)?;
        let group: Arc<str> = Arc::from(config.group_id.as_str());
        let status = ConsumerStatus::new(Arc::clone(&group));
        let env = Arc::new(WorkerEnv {
            status: status.clone(),
            handler,
            dead_letters: DeadLetters::new(dlq_producer, config.dlq.clone(), group.to_string()),
            retry: config.retry.clone(),
            group,
            limit: config.in_flight_limit(),
            by_key: config.ordering == RecordOrdering::Key,
            max_record_bytes: config.max_record_bytes,
        });
        let context = PollContext {
            env,
            runtime,
            workers: Mutex::new(HashMap::new()),
            pending: Mutex::new(Pending::default()),
            status: status.clone(),
            revoke_timeout: Duration::from_millis(config.revoke_timeout_ms),
            max_uncommitted: config.max_uncommitted_per_partition as u64,
            max_unfinished_bytes: config.max_unfinished_bytes_per_partition as u64,
            oauth,
            closing: AtomicBool::new(false),
        };
        let client: BaseConsumer<PollContext<H>> = config
            .client_config()
            .create_with_context(context)
            .map_err(ConsumerError::Client)?;
        let subscription = Subscription::new(&config.topics, &config.dlq)?;
        // A failed look-up leaves only the names subscribed until the next
        // refresh.
        let topics = matching(&client, &subscription).unwrap_or_else(|| subscription.resolve([]));
        subscribe(&client, &topics)?;
        Ok(Consumer {
            client,
            status,
            subscription: Topics {
                subscription,
                subscribed: topics,
                refresh: Duration::from_millis(config.pattern_refresh_ms),
            },
            commit_interval: Duration::from_millis(config.commit_interval_ms),
            shutdown_timeout: Duration::from_millis(config.shutdown_timeout_ms),
        })
    }
}

/// A consumer-group member that runs a handler over its partitions'
/// records with at-least-once delivery.
///
/// Created by [`Consumer::builder`]; [`run`](Consumer::run) polls until the
/// shutdown signal resolves.
pub struct Consumer<H: RecordHandler> {
    client: BaseConsumer<PollContext<H>>,
    status: ConsumerStatus,
    subscription: Topics,
    commit_interval: Duration,
    shutdown_timeout: Duration,
}

impl<H: RecordHandler> std::fmt::Debug for Consumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Consumer<crate::Handlers> {
    /// Starts a consumer from its configuration; the handler comes last,
    /// in [`ConsumerBuilder::build`].
    pub fn builder(config: ConsumerConfig) -> ConsumerBuilder {
        ConsumerBuilder {
            config,
            token_provider: None,
        }
    }
}

impl<H: RecordHandler> Consumer<H> {
    /// Assignment, readiness and lag, readable while the consumer runs.
    pub fn status(&self) -> ConsumerStatus {
        self.status.clone()
    }

    /// Polls, handles and commits until `shutdown` resolves; then stops
    /// fetching, lets running handlers finish (up to the shutdown timeout),
    /// commits what finished, and leaves the group.
    ///
    /// Dropping the future (a `select!` branch that lost, a `timeout`)
    /// stops the consumer the same way, in the background: no record is
    /// handed to a handler after the drop, running handlers get the
    /// shutdown timeout, and the group is left.
    ///
    /// Ends with [`ConsumerError::Fatal`] when the consumer cannot go on
    /// (a fatal client error, a partition worker that died); readiness
    /// turns red first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ConsumerError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (exited, mut exit) = oneshot::channel();
        let poll_stop = Arc::clone(&stop);
        let Consumer {
            client,
            status,
            mut subscription,
            commit_interval,
            shutdown_timeout,
        } = self;
        // Stops the poll thread when this future is dropped before its end.
        let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
        std::thread::Builder::new()
            .name("sluice-consumer-poll".into())
            .spawn(move || {
                poll_loop(
                    &client,
                    &poll_stop,
                    &mut subscription,
                    commit_interval,
                    shutdown_timeout,
                );
                if leave_group(&client, shutdown_timeout) {
                    // The handlers are dropped before `run` returns.
                    drop(client);
                } else {
                    tracing::warn!(
                        "the consumer did not close within {shutdown_timeout:?}; \
                         it goes on closing in the background"
                    );
                }
                let _ = exited.send(());
                // When the close lagged, the client is dropped here: its
                // `Drop` goes on serving the close on this thread, which
                // nothing waits for any more.
            })
            .map_err(|_| ConsumerError::PollThread)?;
        tokio::select! {
            () = shutdown => {
                stop.store(true, Ordering::Release);
                exit.await.map_err(|_| ConsumerError::PollThread)?;
            }
            result = &mut exit => result.map_err(|_| ConsumerError::PollThread)?,
        }
        match status.failure() {
            Some(reason) => Err(ConsumerError::Fatal(reason)),
            None => Ok(()),
        }
    }
}

/// Sets the stop flag when dropped: [`Consumer::run`]'s future owns one, so
/// dropping the future stops the poll thread (the mini-redis shutdown
/// pattern).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Most records handed to a worker at once.
const MAX_BATCH: usize = 256;

/// How often paused partitions are checked for resumption.
const FLOW_CHECK: Duration = Duration::from_millis(10);

/// How often the lag, in-flight and assignment gauges are set (well within
/// the Prometheus recorder's idle timeout for gauges).
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// How long a topic listing for pattern matching may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// The subscription and the topics it currently resolves to.
#[derive(Debug)]
struct Topics {
    subscription: Subscription,
    subscribed: Vec<String>,
    /// How often patterns are matched again.
    refresh: Duration,
}

impl Topics {
    /// Matches the patterns against the cluster's topics again, and
    /// subscribes anew when the set changed.
    fn refresh<C: ConsumerContext>(&mut self, client: &BaseConsumer<C>) {
        if !self.subscription.has_patterns() {
            return;
        }
        let Some(topics) = matching(client, &self.subscription) else {
            return;
        };
        if topics != self.subscribed {
            tracing::info!(?topics, "pattern matches changed; subscribing anew");
            match subscribe(client, &topics) {
                Ok(()) => self.subscribed = topics,
                Err(error) => tracing::warn!(%error, "subscribing anew failed"),
            }
        }
    }
}

/// The topics `subscription` resolves to against the cluster's topic list
/// (names alone when it has no pattern); `None` when the list cannot be
/// read.
fn matching<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    subscription: &Subscription,
) -> Option<Vec<String>> {
    if !subscription.has_patterns() {
        return Some(subscription.resolve([]));
    }
    match client.fetch_metadata(None, METADATA_TIMEOUT) {
        Ok(metadata) => Some(subscription.resolve(metadata.topics().iter().map(|t| t.name()))),
        Err(error) => {
            tracing::warn!(%error, "cannot list topics to match patterns; retrying later");
            None
        }
    }
}

/// Subscribes to exactly `topics` (none: unsubscribed).
fn subscribe<C: ConsumerContext>(
    client: &BaseConsumer<C>,
    topics: &[String],
) -> Result<(), ConsumerError> {
    if topics.is_empty() {
        client.unsubscribe();
        return Ok(());
    }
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    client
        .subscribe(&names)
        .map_err(|source| ConsumerError::Subscribe {
            topics: topics.to_vec(),
            source,
        })
}

fn poll_loop<H: RecordHandler>(
    client: &BaseConsumer<PollContext<H>>,
    stop: &AtomicBool,
    topics: &mut Topics,
    commit_interval: Duration,
    shutdown_timeout: Duration,
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
        match client.poll(wait) {
            Some(Ok(message)) => {
                context.push(client, &message);
                since_clock_read += 1;
                // Reading the clock costs more than dispatching a record on
                // some virtual machines: look at it every few hundred.
                if since_clock_read < MAX_BATCH {
                    continue;
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

/// Leaves the group and closes the client within `timeout`; false if the
/// close had not finished by then.
///
/// The assignment is given up (unsubscribe, then serve the revocation)
/// before the close starts: a cooperative consumer that receives an
/// assignment while closing can otherwise wait forever
/// (confluentinc/librdkafka#4527).
fn leave_group<C: ConsumerContext>(client: &BaseConsumer<C>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let step = Duration::from_millis(50);
    client.unsubscribe();
    while client.assignment().is_ok_and(|a| a.count() > 0) && Instant::now() < deadline {
        // Records still arriving are dropped: nothing committed them.
        let _ = client.poll(step);
    }
    if let Err(error) = client.close_queue() {
        tracing::warn!(%error, "consumer close failed");
        return false;
    }
    while !client.closed() {
        if Instant::now() >= deadline {
            return false;
        }
        let _ = client.poll(step);
    }
    true
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
struct WorkerHandle {
    records: Option<mpsc::UnboundedSender<Vec<Record>>>,
    state: Arc<PartitionState>,
    task: tokio::task::JoinHandle<()>,
    paused: bool,
    /// The offset last sent to be committed, or -1.
    committed: i64,
    /// The offset last known committed (a synchronous commit returned, or
    /// an asynchronous one was not reported failed), or -1.
    confirmed: i64,
    /// `state.finished` when `committed` was committed.
    committed_finished: u64,
    /// Records sent to the worker.
    received: u64,
}

type Workers = HashMap<String, HashMap<i32, WorkerHandle>>;

struct PollContext<H> {
    env: Arc<WorkerEnv<H>>,
    runtime: Handle,
    workers: Mutex<Workers>,
    /// Consecutive records of one partition, handed to its worker together:
    /// one lock, one channel send and one wake-up per batch.
    pending: Mutex<Pending>,
    status: ConsumerStatus,
    revoke_timeout: Duration,
    max_uncommitted: u64,
    max_unfinished_bytes: u64,
    oauth: Option<Arc<dyn TokenProvider>>,
    /// Set when shutdown begins: assignments that still arrive get no
    /// workers.
    closing: AtomicBool,
}

impl<H: RecordHandler> PollContext<H> {
    fn workers(&self) -> MutexGuard<'_, Workers> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn_worker(&self, workers: &mut Workers, topic: &str, partition: i32) {
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
                committed: -1,
                confirmed: -1,
                committed_finished: 0,
                received: 0,
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
    fn flush(&self, client: &BaseConsumer<Self>) {
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
        let held = handle.state.held_bytes.load(Ordering::Acquire) + bytes;
        // The topic name is copied only when the partition must pause.
        let pause = (!handle.paused
            && ((handle.received + count).saturating_sub(handle.committed_finished)
                >= self.max_uncommitted
                || held >= self.max_unfinished_bytes))
            .then(|| first.topic().to_owned());
        if let Some(records) = &handle.records {
            let topic = first.shared_topic();
            handle.state.held_bytes.fetch_add(bytes, Ordering::AcqRel);
            if records.send(batch).is_ok() {
                handle.received += count;
            } else {
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
                let uncommitted = handle.received.saturating_sub(handle.committed_finished);
                let finished = handle.state.finished.load(Ordering::Acquire);
                if uncommitted >= self.max_uncommitted / 2 && finished > handle.committed_finished {
                    urgent = true;
                }
                let held = handle.state.held_bytes.load(Ordering::Acquire);
                if handle.paused
                    && uncommitted <= self.max_uncommitted / 2
                    && held <= self.max_unfinished_bytes / 2
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
        let mut workers = self.workers();
        let handles = workers.iter_mut().flat_map(|(topic, partitions)| {
            partitions.iter_mut().map(move |(p, h)| (topic, *p, h))
        });
        // A failed periodic commit is tried again on the next round.
        let _ = commit_handles(client, handles, mode);
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
    fn close_and_commit(
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
        // Commit again whatever is not known committed: an asynchronous
        // commit may have failed without its callback having run yet.
        for (_, _, handle) in &mut handles {
            handle.committed = handle.confirmed;
        }
        loop {
            let result = commit_handles(
                client,
                handles.iter_mut().map(|(t, p, h)| (&*t, *p, h)),
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

/// Commits the handles whose finished prefix moved; the client's error when
/// that commit failed (the handles keep their old positions then).
fn commit_handles<'a, C: ConsumerContext>(
    client: &BaseConsumer<C>,
    handles: impl Iterator<Item = (&'a String, i32, &'a mut WorkerHandle)>,
    mode: CommitMode,
) -> KafkaResult<()> {
    let mut list = TopicPartitionList::new();
    let mut moved = Vec::new();
    for (topic, partition, handle) in handles {
        // Read `finished` first: it may only lag `committable`, so the
        // backlog count errs on the large side.
        let finished = handle.state.finished.load(Ordering::Acquire);
        let committable = handle.state.committable.load(Ordering::Acquire);
        if committable > handle.committed {
            if let Err(error) =
                list.add_partition_offset(topic, partition, Offset::Offset(committable))
            {
                tracing::warn!(%error, topic, partition, "cannot add offset to commit");
                continue;
            }
            moved.push((handle, committable, finished));
        }
    }
    if moved.is_empty() {
        return Ok(());
    }
    tracing::debug!(?list, ?mode, "committing");
    match client.commit(&list, mode) {
        Ok(()) => {
            for (handle, committable, finished) in moved {
                handle.committed = committable;
                handle.committed_finished = finished;
                if matches!(mode, CommitMode::Sync) {
                    handle.confirmed = committable;
                }
            }
            Ok(())
        }
        Err(error) => {
            tracing::warn!(%error, "commit failed; will retry");
            Err(error)
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
        let mut workers = self.workers();
        for element in offsets.elements() {
            let Some(handle) = workers
                .get_mut(element.topic())
                .and_then(|p| p.get_mut(&element.partition()))
            else {
                continue;
            };
            let Offset::Offset(offset) = element.offset() else {
                continue;
            };
            let failed = result.is_err() || element.error().is_err();
            if !failed {
                handle.confirmed = handle.confirmed.max(offset);
            } else if offset == handle.committed {
                handle.committed = handle.confirmed;
            }
        }
    }
}

/// Where a partition stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The offset the group would resume from (committed or about to be).
    pub position: Option<i64>,
    /// The partition's end, from the client's statistics (every second).
    pub high_watermark: Option<i64>,
    /// Records between `position` and the end.
    pub records: Option<i64>,
    /// How long the oldest unfinished record has waited since it was
    /// produced; when all are finished but records remain, the age of the
    /// newest record read. 0 when caught up.
    pub millis: u64,
}

/// Assignment, readiness and lag of a running [`Consumer`].
#[derive(Debug, Clone, Default)]
pub struct ConsumerStatus {
    /// The consumer group, a label of every metric.
    group: Arc<str>,
    partitions: Arc<Mutex<PartitionStates>>,
    /// Why the consumer cannot go on, once it cannot.
    failure: Arc<Mutex<Option<String>>>,
    /// Dead letters that cannot be written now, and the last error.
    dlq: Arc<Mutex<DlqBlocked>>,
}

#[derive(Debug, Default)]
struct DlqBlocked {
    records: usize,
    error: String,
}

/// A dead letter that cannot be written yet: readiness is red while one
/// exists.
#[derive(Debug)]
pub(crate) struct DlqBlockedGuard(Arc<Mutex<DlqBlocked>>);

impl DlqBlockedGuard {
    pub(crate) fn set_error(&self, error: &dyn std::fmt::Display) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).error = error.to_string();
    }
}

impl Drop for DlqBlockedGuard {
    fn drop(&mut self) {
        let mut blocked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        blocked.records = blocked.records.saturating_sub(1);
    }
}

type PartitionStates = BTreeMap<(String, i32), Arc<PartitionState>>;

impl ConsumerStatus {
    fn new(group: Arc<str>) -> Self {
        Self {
            group,
            ..Self::default()
        }
    }

    fn partitions(&self) -> MutexGuard<'_, PartitionStates> {
        self.partitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the consumer stopped or is stopping abnormally, if it is.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts a dead letter that cannot be written until the guard drops.
    pub(crate) fn dlq_blocked(&self) -> DlqBlockedGuard {
        self.dlq.lock().unwrap_or_else(|e| e.into_inner()).records += 1;
        DlqBlockedGuard(Arc::clone(&self.dlq))
    }

    /// Records the first reason the consumer cannot go on; the poll thread
    /// stops at its next round.
    pub(crate) fn fail(&self, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            tracing::error!("{reason}");
            *failure = Some(reason);
        }
    }

    /// The partitions this member owns.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.partitions().keys().cloned().collect()
    }

    /// True once at least one partition is assigned.
    pub fn is_ready(&self) -> bool {
        !self.partitions().is_empty()
    }

    /// Sets the lag, in-flight and assignment gauges (the poll thread calls
    /// this every second; gauges of partitions no longer owned are not set
    /// again and leave the Prometheus output after its idle timeout).
    pub(crate) fn publish_metrics(&self) {
        use sluice_telemetry::metrics as names;
        let lag = self.lag();
        let group = self.group.to_string();
        metrics::gauge!(names::CONSUMER_ASSIGNED_PARTITIONS, "group" => group.clone())
            .set(lag.len() as f64);
        let in_flight: Vec<(String, i32, u64)> = self
            .partitions()
            .iter()
            .map(|((topic, partition), state)| {
                let received = state.received.load(Ordering::Relaxed);
                let finished = state.finished.load(Ordering::Relaxed);
                (topic.clone(), *partition, received.saturating_sub(finished))
            })
            .collect();
        for l in lag {
            let labels = [
                ("topic", l.topic.clone()),
                ("partition", l.partition.to_string()),
                ("group", group.clone()),
            ];
            if let Some(records) = l.records {
                metrics::gauge!(names::CONSUMER_LAG_RECORDS, &labels).set(records as f64);
            }
            metrics::gauge!(names::CONSUMER_LAG_SECONDS, &labels).set(l.millis as f64 / 1000.0);
        }
        for (topic, partition, n) in in_flight {
            let labels = [
                ("topic", topic),
                ("partition", partition.to_string()),
                ("group", group.clone()),
            ];
            metrics::gauge!(names::CONSUMER_IN_FLIGHT, &labels).set(n as f64);
        }
    }

    /// Lag of every owned partition.
    pub fn lag(&self) -> Vec<PartitionLag> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let known = |v: i64| (v >= 0).then_some(v);
        self.partitions()
            .iter()
            .map(|((topic, partition), state)| {
                // What this member finished, else what the group committed
                // (an idle partition is not behind by its whole size), else
                // the partition's start.
                let position = known(state.committable.load(Ordering::Acquire))
                    .or_else(|| known(state.group_committed.load(Ordering::Relaxed)))
                    .or_else(|| known(state.low_watermark.load(Ordering::Relaxed)));
                let high_watermark = known(state.high_watermark.load(Ordering::Relaxed));
                let records = match (high_watermark, position) {
                    (Some(hw), Some(position)) => Some(hw.saturating_sub(position).max(0)),
                    _ => None,
                };
                let oldest = known(state.oldest_pending_ms.load(Ordering::Relaxed));
                let newest = known(state.newest_received_ms.load(Ordering::Relaxed));
                let since = match (oldest, records) {
                    (Some(ts), _) => Some(ts),
                    (None, Some(r)) if r > 0 => newest,
                    _ => None,
                };
                PartitionLag {
                    topic: topic.clone(),
                    partition: *partition,
                    position,
                    high_watermark,
                    records,
                    millis: since.map_or(0, |ts| (now_ms - ts).max(0) as u64),
                }
            })
            .collect()
    }
}

impl sluice_telemetry::http::Readiness for ConsumerStatus {
    fn ready(&self) -> Result<(), String> {
        if let Some(reason) = self.failure() {
            return Err(reason);
        }
        {
            let dlq = self.dlq.lock().unwrap_or_else(|e| e.into_inner());
            if dlq.records > 0 {
                return Err(format!(
                    "{} dead letters cannot be written: {}",
                    dlq.records, dlq.error
                ));
            }
        }
        if self.is_ready() {
            Ok(())
        } else {
            Err("no partition assigned yet".to_owned())
        }
    }
}
