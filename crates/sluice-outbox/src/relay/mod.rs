//! The relay: publishes committed outbox rows to Kafka and marks them only
//! after the broker acknowledged them.
//!
//! ```text
//!  NOTIFY (on commit) ─┐            lock connection: advisory locks on the buckets it owns
//!  poll interval ──────┴─► round:   (rebalanced every rebalance_interval)
//!     read pending rows of owned buckets, by seq, batch_size at most
//!     check each (type known, payload decodes, headers)  ── bad ──► dead
//!     hand all to the producer (idempotent, acks=all), then await every ack
//!     settle: published = acked with no earlier unsettled row of its aggregate
//!     one transaction: mark published (or delete), dead-letter, count failures
//! ```
//!
//! # Reading in commit order, without losing late commits
//!
//! `seq` is taken when a row is inserted, not when its transaction commits,
//! so a high-water mark (`seq > last_seen`) would skip a row whose
//! transaction commits after a later one's was read. The relay keeps no
//! such mark: every round reads **rows still pending**, oldest `seq` first.
//! A row committed late is simply read by the next round; nothing is ever
//! skipped. Within an aggregate, rows are sent in `seq` order and marked as
//! a prefix ([`settle()`]): the first row not acknowledged holds back every
//! later row of its aggregate, which are sent again after it.
//!
//! For rows of one aggregate written by transactions that do not overlap
//! (the usual case: the writer updates the aggregate's own row, which
//! serializes them), `seq` order is commit order, and that is the order
//! consumers see. Two *concurrent* transactions writing the same aggregate
//! have no order of their own; their rows go out in the order they become
//! visible to the relay. Gating reads on `pg_snapshot_xmin` (only rows of
//! transactions older than every running one) was rejected: it would not
//! give `seq` order either, and one long transaction anywhere in the
//! cluster would stall every outbox.

mod blocked;
mod buckets;
mod check;
pub mod settle;
mod store;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sluice_core::SchemaRegistry;
use sluice_producer::{EncodedRecord, PendingDelivery, Producer, SendError, SendErrorKind};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Row as _};
use tokio::sync::Notify;

pub use buckets::{Plan, plan};
pub use settle::{Failure, Outcome, RowRef, Settlement, settle};

use crate::config::{RelayConfig, RelaySettings, Retention};
use crate::error::{OutboxError, Result};
use crate::names::Names;
use blocked::Blocked;
use buckets::{Leadership, bucket_sql};

/// A pending row as read.
#[derive(Debug)]
struct PendingRow {
    seq: i64,
    id: String,
    topic: String,
    key: String,
    event_type: String,
    payload: Vec<u8>,
    headers: serde_json::Value,
    attempts: i32,
    created_epoch: f64,
}

/// What `/ready` reports and the tests look at.
#[derive(Debug, Clone)]
pub struct RelayStatus {
    inner: Arc<StatusInner>,
}

#[derive(Debug, Default)]
struct StatusInner {
    lock_connected: AtomicBool,
    fatal: AtomicBool,
    stopped: AtomicBool,
}

impl sluice_telemetry::http::Readiness for RelayStatus {
    fn ready(&self) -> Result<(), String> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err("the relay has stopped".into());
        }
        if self.inner.fatal.load(Ordering::Acquire) {
            return Err("the producer hit a fatal error".into());
        }
        if !self.inner.lock_connected.load(Ordering::Acquire) {
            return Err("no connection to the database for the bucket locks".into());
        }
        Ok(())
    }
}

/// The relay of one outbox. Start it with [`Relay::connect`], run it with
/// [`Relay::run`].
#[derive(Debug)]
pub struct Relay {
    pool: PgPool,
    producer: Producer,
    names: Names,
    settings: RelaySettings,
    registry: Option<Arc<SchemaRegistry>>,
    leadership: Leadership,
    status: RelayStatus,
    blocked: Blocked,
    read_sql: String,
}

impl Relay {
    /// Connects to the database, applies the migrations and creates the
    /// producer. `registry`: rows are checked against it when
    /// `relay.validate` is on (without one, nothing is checked).
    pub async fn connect(
        config: RelayConfig,
        registry: Option<Arc<SchemaRegistry>>,
    ) -> Result<Self> {
        config.validate()?;
        let names = config.outbox.names()?;
        let pool = PgPoolOptions::new()
            // One more for the LISTEN connection, which holds its own.
            .max_connections(config.relay.max_connections + 1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(config.database_url.expose())
            .await
            .map_err(OutboxError::db("connecting to the database"))?;
        if config.relay.migrate {
            crate::migrate::migrate(&pool, &names).await?;
        }
        let mut producer_config = config.producer.clone();
        // A gap in a partition (a record lost after later ones were sent)
        // becomes a fatal error instead of reordering an aggregate; the
        // configuration may not override it (`RelayConfig::validate`).
        producer_config
            .kafka
            .properties
            .insert("enable.gapless.guarantee".to_owned(), "true".to_owned());
        // The breaker opens on any timed-out send and then fails every
        // send: one partition without a leader would hold back every
        // aggregate. The relay bounds what it has in flight itself.
        producer_config.circuit_breaker = false;
        let producer = Producer::builder(producer_config).build()?;
        let table = names.outbox_table();
        let read_sql = format!(
            "SELECT seq, id, aggregatetype, aggregateid, type, payload, headers, attempts, \
             extract(epoch FROM created_at)::float8 AS created_epoch \
             FROM {table} WHERE status = 'pending' AND {} = ANY($2) AND aggregateid <> ALL($4) \
             ORDER BY seq LIMIT $3",
            bucket_sql("$1")
        );
        Ok(Self {
            leadership: Leadership::new(
                config.database_url.clone(),
                names.lock_space(),
                config.relay.buckets,
            ),
            pool,
            producer,
            names,
            registry: if config.relay.validate {
                registry
            } else {
                None
            },
            settings: config.relay,
            status: RelayStatus {
                inner: Arc::default(),
            },
            blocked: Blocked::default(),
            read_sql,
        })
    }

    pub fn status(&self) -> RelayStatus {
        self.status.clone()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs until `shutdown` completes (finishing the round in flight) or
    /// the producer fails for good.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let wake = Arc::new(Notify::new());
        let listener = self.listen(Arc::clone(&wake)).await?;
        tokio::pin!(shutdown);
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let rebalance_every = Duration::from_millis(self.settings.rebalance_interval_ms);
        let stats_every = Duration::from_millis(self.settings.stats_interval_ms);
        let mut next_rebalance = Instant::now();
        let mut next_stats = Instant::now();
        let mut next_purge = Instant::now();
        let result = loop {
            let now = Instant::now();
            if now >= next_rebalance {
                match self.leadership.rebalance().await {
                    Err(e @ OutboxError::BucketCount { .. }) => break Err(e),
                    Err(e) => tracing::warn!(error = %e, "rebalancing buckets failed"),
                    Ok(()) => {}
                }
                next_rebalance = now + rebalance_every;
            }
            if now >= next_stats {
                if let Err(e) = self.record_stats().await {
                    tracing::warn!(error = %e, "reading the outbox gauges failed");
                }
                next_stats = now + stats_every;
            }
            if now >= next_purge && self.settings.retention == Retention::Keep {
                if let Err(e) = self.purge().await {
                    tracing::warn!(error = %e, "deleting old published rows failed");
                }
                next_purge = now + stats_every;
            }
            let round = if self.leadership.held().is_empty() || !self.leadership.confirm().await {
                Ok(Round::default())
            } else {
                self.round().await
            };
            self.status
                .inner
                .lock_connected
                .store(self.leadership.is_connected(), Ordering::Release);
            let round = match round {
                Ok(round) => round,
                Err(e @ OutboxError::ProducerFatal(_)) => {
                    self.status.inner.fatal.store(true, Ordering::Release);
                    break Err(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a relay round failed");
                    Round {
                        read: 0,
                        progressed: false,
                    }
                }
            };
            // A full batch with progress: more is waiting, go on at once.
            // Rows that failed are not read again before their aggregate's
            // backoff (`Blocked`), so a round without progress needs no
            // pause of its own.
            if round.progressed && round.read >= self.settings.batch_size as usize {
                if futures::FutureExt::now_or_never(&mut shutdown).is_some() {
                    break Ok(());
                }
                continue;
            }
            let now = Instant::now();
            let mut wait = poll.min(next_rebalance.saturating_duration_since(now));
            if let Some(retry) = self.blocked.next_expiry() {
                wait = wait.min(retry.saturating_duration_since(now));
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        };
        listener.abort();
        self.status.inner.stopped.store(true, Ordering::Release);
        let _ = self.producer.shutdown(Duration::from_secs(10)).await;
        result
    }

    /// LISTENs on the channel in a task of its own; each notification wakes
    /// the loop. sqlx reconnects the listener when its connection drops.
    async fn listen(&self, wake: Arc<Notify>) -> Result<tokio::task::JoinHandle<()>> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(OutboxError::db("connecting the listener"))?;
        listener
            .listen(self.names.channel.as_str())
            .await
            .map_err(OutboxError::db("listening for notifications"))?;
        Ok(tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "the LISTEN connection failed; polling until it is back");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }))
    }

    async fn round(&mut self) -> Result<Round> {
        let buckets: Vec<i32> = self.leadership.held().iter().map(|&b| b as i32).collect();
        let waiting = self.blocked.waiting(Instant::now());
        let rows = sqlx::query(&self.read_sql)
            .bind(self.settings.buckets as i32)
            .bind(&buckets)
            .bind(i64::from(self.settings.batch_size))
            .bind(&waiting)
            .fetch_all(&self.pool)
            .await
            .map_err(OutboxError::db("reading pending rows"))?
            .into_iter()
            .map(|r| {
                Ok(PendingRow {
                    seq: r.try_get("seq")?,
                    id: r.try_get("id")?,
                    topic: r.try_get("aggregatetype")?,
                    key: r.try_get("aggregateid")?,
                    event_type: r.try_get("type")?,
                    payload: r.try_get("payload")?,
                    headers: r.try_get("headers")?,
                    attempts: r.try_get("attempts")?,
                    created_epoch: r.try_get("created_epoch")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(OutboxError::db("decoding pending rows"))?;
        if rows.is_empty() {
            return Ok(Round::default());
        }
        let (outcomes, fatal) = self.publish(&rows).await;
        let settlement = settle(
            rows.iter().zip(outcomes).map(|(row, outcome)| {
                let r = RowRef {
                    seq: row.seq,
                    aggregate: row.key.as_str(),
                    attempts: row.attempts,
                };
                (r, outcome)
            }),
            self.settings.max_attempts,
        );
        if !settlement.resend.is_empty() {
            tracing::info!(
                rows = settlement.resend.len(),
                "rows acknowledged behind a pending row of their aggregate; sent again after it"
            );
        }
        let progressed = !settlement.published.is_empty() || !settlement.dead.is_empty();
        self.write(&settlement).await?;
        let now = Instant::now();
        for (seq, _) in &settlement.failed {
            if let Some(row) = rows.iter().find(|r| r.seq == *seq) {
                self.blocked
                    .block(&row.key, row.attempts.saturating_add(1), now);
            }
        }
        if let Some(reason) = fatal {
            return Err(OutboxError::ProducerFatal(reason));
        }
        Ok(Round {
            read: rows.len(),
            progressed,
        })
    }

    /// Checks and sends every row, then waits for every acknowledgement.
    /// Returns each row's outcome, and a reason when the producer can send
    /// no more.
    async fn publish(&self, rows: &[PendingRow]) -> (Vec<Outcome>, Option<String>) {
        let mut outcomes = vec![Outcome::Held; rows.len()];
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut waiting: Vec<(usize, PendingDelivery<()>)> = Vec::with_capacity(rows.len());
        let mut fatal = None;
        for (i, row) in rows.iter().enumerate() {
            if fatal.is_some() || blocked.contains(row.key.as_str()) {
                continue;
            }
            let headers = match check::headers(&row.headers, &row.id, &row.event_type) {
                Ok(h) => h,
                Err(failure) => {
                    outcomes[i] = Outcome::Permanent(failure);
                    continue;
                }
            };
            if let Some(registry) = &self.registry
                && let Err(failure) = check::payload(registry, &row.event_type, &row.payload)
            {
                outcomes[i] = Outcome::Permanent(failure);
                continue;
            }
            let record = EncodedRecord {
                topic: &row.topic,
                key: &row.key,
                value: &row.payload,
                headers: &headers,
                id: &row.id,
            };
            match self.producer.enqueue_encoded(record).await {
                Ok(pending) => waiting.push((i, pending)),
                Err(e) => {
                    let outcome = classify(&e, &mut fatal);
                    if matches!(outcome, Outcome::Retriable(_)) {
                        blocked.insert(row.key.as_str());
                    }
                    outcomes[i] = outcome;
                }
            }
        }
        let latency = metrics::histogram!(sluice_telemetry::metrics::OUTBOX_COMMIT_TO_ACK);
        for (i, pending) in waiting {
            outcomes[i] = match pending.wait().await {
                Ok(_) => {
                    let acked = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or_default();
                    latency.record((acked - rows[i].created_epoch).max(0.0));
                    Outcome::Delivered
                }
                Err(e) => classify(&e, &mut fatal),
            };
        }
        (outcomes, fatal)
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Round {
    read: usize,
    progressed: bool,
}

/// A failed send as an outcome: dead-lettered when sending it again can
/// never succeed; `fatal` set when the producer can send no more.
fn classify(error: &SendError<()>, fatal: &mut Option<String>) -> Outcome {
    let failure = Failure::new(error.kind().class(), error.to_string());
    match error.kind() {
        SendErrorKind::RecordTooLarge
        | SendErrorKind::UnknownTopic
        | SendErrorKind::Rejected
        | SendErrorKind::Encode => Outcome::Permanent(failure),
        SendErrorKind::Fatal | SendErrorKind::Closed => {
            fatal.get_or_insert_with(|| error.to_string());
            Outcome::Retriable(failure)
        }
        _ => Outcome::Retriable(failure),
    }
}
