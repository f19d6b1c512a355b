//! One run of the workload: with sluice's producer and consumer runtime, or
//! with bare rdkafka as the baseline.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use sluice_consumer::{
    ConsumerBuilder, ConsumerConfig, ConsumerStatus, Context, Handler, HandlerError, Handlers,
};
use sluice_core::{Decoder, Encoder, Envelope};
use sluice_events::registry;
use sluice_kafka::KafkaConfig;
use sluice_kafka::security::TokenContext;
use sluice_producer::{PendingDelivery, Producer, ProducerConfig};
use tokio::sync::oneshot;

use crate::workload::{Check, LagSamples, LoadEvent, Resources, SharedCheck, keys};

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub(crate) kafka: KafkaConfig,
    pub(crate) topic: String,
    pub(crate) partitions: i32,
    pub(crate) events: u64,
    pub(crate) rate: u64,
    pub(crate) producers: usize,
    pub(crate) consumers: usize,
    pub(crate) keys: u64,
    pub(crate) payload_bytes: usize,
    pub(crate) max_lag: u64,
    pub(crate) idle_timeout: Duration,
    /// Events sent and awaited before measuring.
    pub(crate) warmup: u64,
    /// librdkafka settings for the consumers only.
    pub(crate) consumer_properties: Vec<(String, String)>,
}

impl Workload {
    fn interval_us(&self) -> u64 {
        1_000_000u64
            .checked_div(self.rate)
            .map_or(0, |us| us.max(1))
    }

    fn check(&self) -> SharedCheck {
        Arc::new(Mutex::new(Check::new(self.events, self.keys, self.warmup)))
    }

    fn consumer_kafka(&self) -> KafkaConfig {
        let mut kafka = self.kafka.clone();
        kafka
            .properties
            .extend(self.consumer_properties.iter().cloned());
        kafka
    }

    fn producer_config<E: LoadEvent>(&self, topic: &str) -> ProducerConfig {
        let mut config = ProducerConfig::new(self.kafka.clone());
        config.source = "/sluice/loadtest".to_owned();
        config
            .topics
            .insert(E::EVENT_TYPE.to_owned(), topic.to_owned());
        config.max_record_bytes = config.max_record_bytes.max(self.payload_bytes * 2);
        config
    }
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) events: u64,
    pub(crate) produce_time: Duration,
    pub(crate) consume_time: Duration,
    pub(crate) total_time: Duration,
    pub(crate) check: Check,
    pub(crate) produce_errors: u64,
    pub(crate) handler_errors: u64,
    pub(crate) lag: Option<LagSamples>,
    pub(crate) resources: Resources,
    pub(crate) cpu: Duration,
}

type Row = (&'static str, fn(&Outcome) -> f64, bool);

impl Outcome {
    fn rate(n: u64, d: Duration) -> f64 {
        n as f64 / d.as_secs_f64().max(1e-9)
    }

    pub(crate) fn produce_rate(&self) -> f64 {
        Self::rate(self.events, self.produce_time)
    }

    pub(crate) fn consume_rate(&self) -> f64 {
        Self::rate(self.check.consumed, self.consume_time)
    }

    pub(crate) fn end_to_end_rate(&self) -> f64 {
        Self::rate(self.check.unique, self.total_time)
    }

    pub(crate) fn latency_ms(&self, percentile: f64) -> f64 {
        if self.check.latency.is_empty() {
            return f64::NAN;
        }
        self.check.latency.value_at_percentile(percentile) as f64 / 1_000.0
    }

    pub(crate) fn lag_ms(&self, percentile: f64) -> f64 {
        match &self.lag {
            Some(lag) if !lag.0.is_empty() => lag.0.value_at_percentile(percentile) as f64,
            Some(_) => 0.0,
            None => f64::NAN,
        }
    }

    pub(crate) fn error_rate(&self) -> f64 {
        (self.produce_errors + self.handler_errors) as f64 / self.events.max(1) as f64
    }

    /// The summary table's rows: name, value, whether a ratio makes sense.
    pub(crate) fn rows() -> Vec<Row> {
        vec![
            ("produced/s", Outcome::produce_rate, true),
            ("consumed/s", Outcome::consume_rate, true),
            ("end to end/s", Outcome::end_to_end_rate, true),
            ("latency p50 ms", |o| o.latency_ms(50.0), true),
            ("latency p95 ms", |o| o.latency_ms(95.0), true),
            ("latency p99 ms", |o| o.latency_ms(99.0), true),
            ("latency p99.9 ms", |o| o.latency_ms(99.9), true),
            ("latency max ms", |o| o.latency_ms(100.0), true),
            ("consumer lag p99 ms", |o| o.lag_ms(99.0), false),
            ("consumer lag max ms", |o| o.lag_ms(100.0), false),
            (
                "errors",
                |o| (o.produce_errors + o.handler_errors) as f64,
                false,
            ),
            ("lost", |o| o.check.lost() as f64, false),
            ("duplicated", |o| o.check.duplicates as f64, false),
            (
                "out of order (key)",
                |o| o.check.order_violations as f64,
                false,
            ),
            ("undecodable", |o| o.check.undecodable as f64, false),
            ("CPU s", |o| o.cpu.as_secs_f64(), true),
            (
                "peak RSS MiB (process)",
                |o| o.resources.peak_rss_bytes as f64 / 1_048_576.0,
                false,
            ),
        ]
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let num = |v: f64| {
            if v.is_finite() {
                serde_json::json!(v)
            } else {
                serde_json::Value::Null
            }
        };
        serde_json::json!({
            "events": self.events,
            "produced_per_s": num(self.produce_rate()),
            "consumed_per_s": num(self.consume_rate()),
            "end_to_end_per_s": num(self.end_to_end_rate()),
            "wall_s": self.total_time.as_secs_f64(),
            "latency_ms": {
                "p50": num(self.latency_ms(50.0)),
                "p95": num(self.latency_ms(95.0)),
                "p99": num(self.latency_ms(99.0)),
                "p99_9": num(self.latency_ms(99.9)),
                "max": num(self.latency_ms(100.0)),
                "measured_from": if self.check.schedule.is_some() { "due time at the fixed rate (corrects coordinated omission)" } else { "record timestamp" },
            },
            "consumer_lag_ms": { "p99": num(self.lag_ms(99.0)), "max": num(self.lag_ms(100.0)) },
            "errors": { "produce": self.produce_errors, "handler": self.handler_errors, "rate": self.error_rate() },
            "sequence": {
                "consumed": self.check.consumed,
                "unique": self.check.unique,
                "lost": self.check.lost(),
                "duplicated": self.check.duplicates,
                "out_of_order": self.check.order_violations,
                "undecodable": self.check.undecodable,
            },
            "peak_rss_bytes": self.resources.peak_rss_bytes,
            "cpu_s": self.cpu.as_secs_f64(),
        })
    }
}

/// Paces sends: at the fixed rate when there is one, and never more than
/// `max_lag` events ahead of the consumers.
struct Pacer {
    started: Instant,
    interval: Duration,
    max_lag: u64,
}

impl Pacer {
    async fn wait(&self, sequence: u64, sent: &AtomicU64, consumed: &AtomicU64) {
        if !self.interval.is_zero() {
            let due = self.started + self.interval * sequence as u32;
            tokio::time::sleep_until(due.into()).await;
        }
        while sent
            .load(Ordering::Relaxed)
            .saturating_sub(consumed.load(Ordering::Relaxed))
            >= self.max_lag
        {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
}

/// Prints a progress line every second until `done`.
fn progress(
    started: Instant,
    sent: Arc<AtomicU64>,
    check: SharedCheck,
    statuses: Vec<ConsumerStatus>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = 0;
        while !done.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (unique, p99) = {
                let check = check.lock().unwrap_or_else(|e| e.into_inner());
                (
                    check.unique,
                    check.latency.value_at_percentile(99.0) as f64 / 1_000.0,
                )
            };
            let lag = max_lag(&statuses);
            eprintln!(
                "  {:>5.1} s  sent {:>9}  handled {:>9}  {:>8}/s  p99 {:>7.1} ms  lag {:>5} ms",
                started.elapsed().as_secs_f64(),
                sent.load(Ordering::Relaxed),
                unique,
                unique - last,
                p99,
                lag.map_or("-".to_owned(), |l| l.as_millis().to_string()),
            );
            last = unique;
        }
    })
}

fn max_lag(statuses: &[ConsumerStatus]) -> Option<Duration> {
    statuses
        .iter()
        .flat_map(ConsumerStatus::lag)
        .map(|l| Duration::from_millis(l.millis))
        .max()
}

/// Waits until every event was seen or nothing new arrived for the idle
/// timeout.
async fn wait_for_consumers(workload: &Workload, check: &SharedCheck) -> Duration {
    let started = Instant::now();
    let mut last_unique = 0;
    let mut last_progress = Instant::now();
    loop {
        let unique = check.lock().unwrap_or_else(|e| e.into_inner()).unique;
        if unique >= workload.events {
            return started.elapsed();
        }
        if unique != last_unique {
            last_unique = unique;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > workload.idle_timeout {
            eprintln!("no progress for {:?}: giving up", workload.idle_timeout);
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How long the phases of a run took, and how many sends failed.
struct Timing {
    produce: Duration,
    consume: Duration,
    total: Duration,
    produce_errors: u64,
}

/// Waits for the producer tasks (each returns its failed sends), then for
/// the consumers to see every event.
async fn finish(
    workload: &Workload,
    started: Instant,
    producers: Vec<tokio::task::JoinHandle<anyhow::Result<u64>>>,
    check: &SharedCheck,
) -> anyhow::Result<Timing> {
    let mut produce_errors = 0;
    for producer in producers {
        produce_errors += producer.await.context("producer task")??;
    }
    let produce = started.elapsed();
    let consume = wait_for_consumers(workload, check).await + produce;
    Ok(Timing {
        produce,
        consume,
        total: started.elapsed(),
        produce_errors,
    })
}

fn outcome(
    workload: &Workload,
    check: SharedCheck,
    timing: Timing,
    lag: Option<LagSamples>,
    cpu_before: Duration,
) -> anyhow::Result<Outcome> {
    // Taken out rather than unwrapped: a consumer whose close lagged past
    // its deadline may still hold its handler, though it handles nothing.
    let check = std::mem::replace(
        &mut *check.lock().unwrap_or_else(|e| e.into_inner()),
        Check::new(0, 0, 0),
    );
    let resources = Resources::now();
    Ok(Outcome {
        events: workload.events,
        produce_time: timing.produce,
        consume_time: timing.consume,
        total_time: timing.total,
        handler_errors: check.undecodable,
        check,
        produce_errors: timing.produce_errors,
        lag,
        cpu: resources.cpu.saturating_sub(cpu_before),
        resources,
    })
}

/// Sends the warm-up events through the run's own senders and waits until
/// the consumers saw them all: a new producer's first sends wait for its
/// connection, metadata and producer id, and the first fetches of a new
/// group are slow; either would otherwise count against the first measured
/// events.
async fn warm_up<E: LoadEvent>(
    workload: &Workload,
    senders: &[Sender],
    check: &SharedCheck,
) -> anyhow::Result<()> {
    if workload.warmup == 0 {
        return Ok(());
    }
    let keys = keys(workload.keys);
    let mut pending = Vec::new();
    for sequence in workload.events..workload.events + workload.warmup {
        let key = &keys[(sequence % workload.keys) as usize];
        let event = E::generate(sequence, key, workload.payload_bytes);
        let sender = &senders[sequence as usize % senders.len()];
        pending.push(sender.send(event, key).await?);
    }
    for delivery in pending {
        let delivered = match delivery {
            Some(delivery) => delivery.delivered().await,
            None => false,
        };
        if !delivered {
            bail!("a warm-up event was not delivered");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while check.lock().unwrap_or_else(|e| e.into_inner()).warmed < workload.warmup {
        if Instant::now() > deadline {
            bail!("the warm-up events did not arrive within a minute");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Records every event in the shared check.
struct Sink {
    check: SharedCheck,
    consumed: Arc<AtomicU64>,
}

impl<E: LoadEvent> Handler<E> for Sink {
    async fn handle(&self, event: E, ctx: &Context) -> Result<(), HandlerError> {
        let Some(sequence) = event.sequence() else {
            return Err(HandlerError::permanent(
                "event id without a sequence number",
            ));
        };
        let measured = self
            .check
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(sequence, ctx.timestamp_ms());
        if measured {
            self.consumed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What the bare-rdkafka baseline sends and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawRecords {
    /// The records sluice sends: key, framed value and the CloudEvents
    /// headers, built by hand; consumers look up `ce_type` before decoding,
    /// as sluice's typed handlers do.
    Same,
    /// Key and framed value only: what the records would cost without the
    /// CloudEvents envelope.
    Bare,
}

/// How a run sends: through sluice's producer, or bare rdkafka with the same
/// librdkafka settings.
enum Sender {
    Sluice(Producer),
    Raw {
        producer: FutureProducer<TokenContext>,
        encoder: Encoder,
        topic: String,
        /// The CloudEvents source, when the records carry the envelope.
        source: Option<String>,
    },
}

/// A send awaiting the broker's acknowledgement.
enum Pending {
    Sluice(PendingDelivery<()>),
    Raw(DeliveryFuture),
}

impl Pending {
    async fn delivered(self) -> bool {
        match self {
            Pending::Sluice(delivery) => delivery.wait().await.is_ok(),
            Pending::Raw(delivery) => matches!(delivery.await, Ok(Ok(_))),
        }
    }
}

impl Sender {
    fn sluice<E: LoadEvent>(workload: &Workload, topic: &str) -> anyhow::Result<Self> {
        Ok(Sender::Sluice(
            Producer::builder(workload.producer_config::<E>(topic)).build()?,
        ))
    }

    fn raw<E: LoadEvent>(
        workload: &Workload,
        topic: &str,
        records: RawRecords,
    ) -> anyhow::Result<Self> {
        let config = workload.producer_config::<E>(topic);
        let context = TokenContext::new(config.kafka.security.token_provider()?);
        Ok(Sender::Raw {
            producer: config.librdkafka_config().create_with_context(context)?,
            encoder: Encoder::new().with_max_record_bytes(usize::MAX),
            topic: topic.to_owned(),
            source: (records == RawRecords::Same).then(|| config.source.clone()),
        })
    }

    /// Hands `event` to the client; `None` when sluice refused it (counted
    /// as an error). The raw producer waits while librdkafka's queue is full.
    async fn send<E: LoadEvent>(&self, event: E, key: &str) -> anyhow::Result<Option<Pending>> {
        match self {
            // The event is not needed back: it is not kept until delivery.
            Sender::Sluice(producer) => {
                Ok(producer.enqueue_ref(&event).await.ok().map(Pending::Sluice))
            }
            Sender::Raw {
                producer,
                encoder,
                topic,
                source,
            } => {
                let value = encoder.encode(&event)?;
                let mut record = FutureRecord::to(topic).key(key).payload(&value);
                if let Some(source) = source {
                    let envelope = Envelope::new::<E>(source.clone());
                    record = record.headers(sluice_kafka::envelope_headers(&envelope));
                }
                loop {
                    match producer.send_result(record) {
                        Ok(delivery) => return Ok(Some(Pending::Raw(delivery))),
                        Err((_, returned)) => {
                            record = returned;
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                }
            }
        }
    }

    async fn close(self) -> anyhow::Result<()> {
        if let Sender::Sluice(producer) = self {
            producer.shutdown(Duration::from_secs(30)).await?;
        }
        Ok(())
    }
}

/// Producer `p`'s share of the events (p, p+P, p+2P, ...), paced; returns
/// how many sends failed.
async fn produce_share<E: LoadEvent>(
    workload: Workload,
    p: usize,
    sender: Sender,
    measurement: Measurement,
    consumed: Arc<AtomicU64>,
) -> anyhow::Result<u64> {
    let pacer = Pacer {
        started: measurement.started,
        interval: Duration::from_micros(workload.interval_us()),
        max_lag: workload.max_lag,
    };
    let sent = &measurement.sent;
    let keys = keys(workload.keys);
    let mut errors = 0u64;
    let mut pending = VecDeque::new();
    for sequence in (p as u64..workload.events).step_by(workload.producers) {
        pacer.wait(sequence, sent, &consumed).await;
        let key = &keys[(sequence % workload.keys) as usize];
        let event = E::generate(sequence, key, workload.payload_bytes);
        match sender.send(event, key).await? {
            Some(delivery) => pending.push_back(delivery),
            None => errors += 1,
        }
        sent.fetch_add(1, Ordering::Relaxed);
        // Collect deliveries as we go, no further behind than the window
        // of events in flight.
        while pending.len() as u64 > workload.max_lag.max(1_000) {
            if let Some(delivery) = pending.pop_front()
                && !delivery.delivered().await
            {
                errors += 1;
            }
        }
    }
    for delivery in pending {
        if !delivery.delivered().await {
            errors += 1;
        }
    }
    sender.close().await?;
    Ok(errors)
}

/// Waits until the consumers own every partition: a consumer still joining
/// would fall behind from the first second.
async fn wait_for_assignment(workload: &Workload, owned: impl Fn() -> usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while owned() < workload.partitions as usize {
        if Instant::now() > deadline {
            bail!("the consumers were not assigned every partition within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The clock and counters of the measured part of a run.
#[derive(Clone)]
struct Measurement {
    started: Instant,
    sent: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

/// Warms up, then starts the clock, the schedule and the progress line.
async fn begin<E: LoadEvent>(
    workload: &Workload,
    senders: &[Sender],
    check: &SharedCheck,
    statuses: Vec<ConsumerStatus>,
) -> anyhow::Result<(Measurement, tokio::task::JoinHandle<()>)> {
    warm_up::<E>(workload, senders, check).await?;
    let measurement = Measurement {
        started: Instant::now(),
        sent: Arc::new(AtomicU64::new(0)),
        done: Arc::new(AtomicBool::new(false)),
    };
    check
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .start_schedule(workload.interval_us());
    let progress = progress(
        measurement.started,
        Arc::clone(&measurement.sent),
        Arc::clone(check),
        statuses,
        Arc::clone(&measurement.done),
    );
    Ok((measurement, progress))
}

/// Runs every producer's share to the end, then waits for the consumers.
async fn produce_all<E: LoadEvent>(
    workload: &Workload,
    measurement: &Measurement,
    check: &SharedCheck,
    consumed: &Arc<AtomicU64>,
    senders: Vec<Sender>,
) -> anyhow::Result<Timing> {
    let mut producers = Vec::with_capacity(workload.producers);
    for (p, sender) in senders.into_iter().enumerate() {
        producers.push(tokio::spawn(produce_share::<E>(
            workload.clone(),
            p,
            sender,
            measurement.clone(),
            Arc::clone(consumed),
        )));
    }
    let timing = finish(workload, measurement.started, producers, check).await?;
    measurement.done.store(true, Ordering::Relaxed);
    Ok(timing)
}

/// The workload through sluice's `Producer` and `Consumer`.
pub(crate) async fn sluice<E: LoadEvent>(
    workload: &Workload,
    topic: &str,
) -> anyhow::Result<Outcome> {
    let cpu_before = Resources::now().cpu;
    let check = workload.check();
    let consumed = Arc::new(AtomicU64::new(0));
    let mut members = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..workload.consumers {
        let mut config =
            ConsumerConfig::new(workload.consumer_kafka(), format!("{topic}.group"), [topic]);
        config.max_record_bytes = config.max_record_bytes.max(workload.payload_bytes * 2);
        let handlers = Handlers::new(registry().clone())
            .max_record_bytes(config.max_record_bytes)
            .on::<E, _>(Sink {
                check: Arc::clone(&check),
                consumed: Arc::clone(&consumed),
            });
        let consumer = ConsumerBuilder::new(config).build(handlers)?;
        statuses.push(consumer.status());
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(consumer.run(async {
            stopped.await.ok();
        }));
        members.push((stop, run));
    }
    wait_for_assignment(workload, || {
        statuses.iter().map(|s| s.assignment().len()).sum()
    })
    .await?;

    let senders = (0..workload.producers)
        .map(|_| Sender::sluice::<E>(workload, topic))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (measurement, progress) = begin::<E>(workload, &senders, &check, statuses.clone()).await?;
    let lag_sampler = {
        let (statuses, done) = (statuses.clone(), Arc::clone(&measurement.done));
        tokio::spawn(async move {
            let mut samples = LagSamples::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(lag) = max_lag(&statuses) {
                    samples.record(lag);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let timing = produce_all::<E>(workload, &measurement, &check, &consumed, senders).await?;
    let lag = lag_sampler.await?;
    progress.await?;
    for (stop, run) in members {
        stop.send(()).ok();
        run.await??;
    }
    outcome(workload, check, timing, Some(lag), cpu_before)
}

/// The same workload with bare rdkafka: a `FutureProducer` with the
/// producer's librdkafka settings, and one `BaseConsumer` thread per
/// consumer decoding with the same codec.
pub(crate) async fn raw<E: LoadEvent>(
    workload: &Workload,
    topic: &str,
    records: RawRecords,
) -> anyhow::Result<Outcome> {
    let cpu_before = Resources::now().cpu;
    let check = workload.check();
    let consumed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let assigned = Arc::new(AtomicU64::new(0));
    let token_provider = workload.kafka.security.token_provider()?;
    let consumers: Vec<_> = (0..workload.consumers)
        .map(|_| {
            let (check, consumed, stop, assigned) = (
                Arc::clone(&check),
                Arc::clone(&consumed),
                Arc::clone(&stop),
                Arc::clone(&assigned),
            );
            let (kafka, topic) = (workload.consumer_kafka(), topic.to_owned());
            let context = TokenContext::new(token_provider.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let consumer: BaseConsumer<TokenContext> = kafka
                    .client_config()
                    .set("group.id", format!("{topic}.group"))
                    .set("auto.offset.reset", "earliest")
                    .create_with_context(context)?;
                consumer.subscribe(&[&topic])?;
                let decoder = Decoder::new(registry()).with_max_record_bytes(usize::MAX);
                let mut counted = false;
                while !stop.load(Ordering::Relaxed) {
                    let polled = consumer.poll(Duration::from_millis(50));
                    if !counted {
                        let owned = consumer.assignment()?.count() as u64;
                        if owned > 0 {
                            assigned.fetch_add(owned, Ordering::Relaxed);
                            counted = true;
                        }
                    }
                    let Some(message) = polled else { continue };
                    let message = message?;
                    let ce_type = match records {
                        RawRecords::Same => sluice_kafka::headers::of_message(&message)
                            .find(|h| h.name == sluice_core::envelope::header::TYPE.as_bytes())
                            .and_then(|h| std::str::from_utf8(h.value?).ok()),
                        RawRecords::Bare => None,
                    };
                    let sequence = message
                        .payload()
                        .and_then(|value| decoder.decode_typed::<E>(ce_type, value).ok())
                        .and_then(|event| event.sequence());
                    let mut check = check.lock().unwrap_or_else(|e| e.into_inner());
                    let measured = match sequence {
                        Some(sequence) => check.record(sequence, message.timestamp().to_millis()),
                        None => {
                            check.undecodable += 1;
                            true
                        }
                    };
                    if measured {
                        consumed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .collect();
    wait_for_assignment(workload, || assigned.load(Ordering::Relaxed) as usize).await?;

    let senders = (0..workload.producers)
        .map(|_| Sender::raw::<E>(workload, topic, records))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (measurement, progress) = begin::<E>(workload, &senders, &check, Vec::new()).await?;
    let timing = produce_all::<E>(workload, &measurement, &check, &consumed, senders).await?;
    progress.await?;
    stop.store(true, Ordering::Relaxed);
    for consumer in consumers {
        consumer
            .join()
            .map_err(|_| anyhow::anyhow!("a raw consumer thread panicked"))??;
    }
    outcome(workload, check, timing, None, cpu_before)
}
