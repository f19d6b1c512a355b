//! A consumer-group member: building it, running it, leaving the group.
//!
//! One OS thread polls the client ([`poll`](crate::poll)). Records go to a
//! task per partition ([`worker`](crate::worker)); the poll thread commits
//! what the workers report finished ([`commit`](crate::commit)).

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::producer::FutureProducer;
use sluice_kafka::TokenProvider;
use sluice_kafka::security::TokenContext;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::config::ConsumerConfig;
use crate::dlq::DeadLetters;
use crate::error::ConsumerError;
use crate::handler::RecordHandler;
use crate::poll::{PollContext, poll_loop};
use crate::status::ConsumerStatus;
use crate::subscription::{Subscription, Topics};
use crate::throttle::Throttle;
use crate::worker::WorkerEnv;

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
    /// Starts a consumer from its configuration; the handler comes last,
    /// in [`build`](Self::build).
    pub fn new(config: ConsumerConfig) -> Self {
        Self {
            config,
            token_provider: None,
        }
    }

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
            order: config.ordering,
            max_record_bytes: config.max_record_bytes,
        });
        let context = PollContext::new(env, runtime, status.clone(), &config, oauth);
        let client: BaseConsumer<PollContext<H>> = config
            .client_config()
            .create_with_context(context)
            .map_err(ConsumerError::Client)?;
        let subscription = Subscription::new(&config.topics, &config.dlq)?;
        let topics = Topics::subscribe(
            &client,
            subscription,
            Duration::from_millis(config.pattern_refresh_ms),
        )?;
        Ok(Consumer {
            client,
            status,
            topics,
            commit_interval: Duration::from_millis(config.commit_interval_ms),
            shutdown_timeout: Duration::from_millis(config.shutdown_timeout_ms),
            throttle: config
                .max_records_per_second
                .and_then(NonZeroU32::new)
                .map(Throttle::new),
        })
    }
}

/// A consumer-group member that runs a handler over its partitions'
/// records with at-least-once delivery.
///
/// Created by [`ConsumerBuilder`]; [`run`](Consumer::run) polls until the
/// shutdown signal resolves.
pub struct Consumer<H: RecordHandler> {
    client: BaseConsumer<PollContext<H>>,
    status: ConsumerStatus,
    topics: Topics,
    commit_interval: Duration,
    shutdown_timeout: Duration,
    throttle: Option<Throttle>,
}

impl<H: RecordHandler> std::fmt::Debug for Consumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("status", &self.status)
            .finish_non_exhaustive()
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
            mut topics,
            commit_interval,
            shutdown_timeout,
            throttle,
        } = self;
        // Stops the poll thread when this future is dropped before its end.
        let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
        std::thread::Builder::new()
            .name("sluice-consumer-poll".into())
            .spawn(move || {
                poll_loop(
                    &client,
                    &poll_stop,
                    &mut topics,
                    commit_interval,
                    shutdown_timeout,
                    throttle,
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
