//! The consumer runtime on Tansu: retries and poison records, bad bytes,
//! DLQ writes that fail, graceful shutdown.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use common::{
    Collect, Log, committed, config, header, header_count, produce, read_topic, sequence,
};
use rdkafka::Message as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_consumer::{ConsumerBuilder, Context, Handler, HandlerError, Handlers, dlq};
use sluice_core::{Encoder, Envelope, Event as _};
use sluice_events::proto::{EmailProcessed, EmailReceived};
use sluice_events::registry;
use sluice_events::samples::{self, Seed};
use sluice_kafka::{KafkaConfig, OutgoingRecord};
use sluice_testkit::{BrokerKind, TestBroker};
use tokio::sync::oneshot;

/// 1 % of events fail for good, 1 % fail twice and then succeed.
struct Poison {
    log: Arc<Log>,
    success_attempts: Arc<Mutex<HashMap<u64, u32>>>,
}

impl Handler<EmailReceived> for Poison {
    async fn handle(&self, event: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        let seq = sequence(&event);
        if seq % 100 == 7 {
            return Err(HandlerError::permanent(format!("poison event {seq}")));
        }
        if seq % 100 == 13 && ctx.attempt() <= 2 {
            return Err(HandlerError::retriable("flaky dependency"));
        }
        let key = String::from_utf8_lossy(ctx.key().unwrap_or_default()).into_owned();
        self.success_attempts
            .lock()
            .unwrap()
            .insert(seq, ctx.attempt());
        self.log.push(key, seq);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_events_are_dead_lettered_flaky_ones_retried_the_rest_handled_once_in_order()
-> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Tansu).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("orders", 4).await?;
    broker.create_topic("orders.dlq", 1).await?;
    let total = 20_000u64;
    produce(&bootstrap, "orders", 0..total).await?;

    let log = Arc::new(Log::default());
    let success_attempts = Arc::new(Mutex::new(HashMap::new()));
    let handlers = Handlers::new(registry().clone()).on::<EmailReceived, _>(Poison {
        log: Arc::clone(&log),
        success_attempts: Arc::clone(&success_attempts),
    });
    let consumer = ConsumerBuilder::new(config(&bootstrap, "billing", "orders")).build(handlers)?;
    let status = consumer.status();
    ensure!(
        !status.is_ready(),
        "no partitions before the group is joined"
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));

    let poisoned = total / 100;
    log.wait_for("all good events", Duration::from_secs(120), |e| {
        e.len() as u64 >= total - poisoned
    })
    .await?;
    ensure!(status.is_ready() && status.assignment().len() == 4);
    let dead = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || read_topic(&bootstrap, "orders.dlq", poisoned as usize)
    })
    .await??;

    // Lag reaches zero once everything is committed and the statistics
    // caught up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let lag = status.lag();
        if lag.len() == 4 && lag.iter().all(|l| l.records == Some(0) && l.millis == 0) {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "lag never reached 0: {lag:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    stop.send(()).ok();
    common::stopped(run).await?;

    let entries = log.entries();
    let duplicates = common::assert_per_key_order(&entries, |s| s % 100 == 7)?;
    ensure!(duplicates == 0, "{duplicates} events handled twice");
    let handled: HashSet<u64> = entries.iter().map(|&(_, s)| s).collect();
    ensure!(handled.len() == entries.len(), "an event was handled twice");
    for seq in 0..total {
        ensure!(
            handled.contains(&seq) == (seq % 100 != 7),
            "event {seq} handled: {}",
            handled.contains(&seq)
        );
    }
    let attempts = success_attempts.lock().unwrap();
    ensure!(
        (0..total)
            .filter(|s| s % 100 == 13)
            .all(|s| attempts[&s] == 3)
    );

    let decoder = sluice_core::Decoder::new(registry());
    let mut dead_seqs = Vec::new();
    for record in &dead {
        let (event, envelope) =
            sluice_testkit::decode_message::<EmailReceived, _>(&decoder, record)?;
        let seq = sequence(&event);
        dead_seqs.push(seq);
        ensure!(record.key() == Some(common::key_of(seq).as_bytes()));
        ensure!(envelope.event_type == EmailReceived::EVENT_TYPE);
        ensure!(header(record, dlq::headers::TOPIC)? == "orders");
        ensure!(header(record, dlq::headers::GROUP)? == "billing");
        ensure!(header(record, dlq::headers::ERROR_CLASS)? == "handler_permanent");
        ensure!(header(record, dlq::headers::ERROR_MESSAGE)? == format!("poison event {seq}"));
        ensure!(header(record, dlq::headers::ATTEMPTS)? == "1");
        ensure!(header(record, dlq::headers::PARTITION)?.parse::<i32>()? < 4);
        ensure!(header(record, dlq::headers::OFFSET)?.parse::<i64>()? >= 0);
        ensure!(header(record, dlq::headers::TIMESTAMP)?.parse::<i64>()? > 0);
        ensure!(header(record, dlq::headers::FAILED_AT)?.ends_with('Z'));
    }
    dead_seqs.sort_unstable();
    let expected: Vec<u64> = (0..total).filter(|s| s % 100 == 7).collect();
    ensure!(dead_seqs == expected, "DLQ holds {dead_seqs:?}");

    // Everything finished, so everything is committed.
    let committed: i64 = committed(&bootstrap, "billing", "orders", 4)?.iter().sum();
    ensure!(
        committed == total as i64,
        "committed {committed} of {total}"
    );
    Ok(())
}

/// A value, headers, and the error class it must be dead-lettered with.
type BadRecord = (Option<Vec<u8>>, Option<OwnedHeaders>, &'static str);

#[tokio::test(flavor = "multi_thread")]
async fn bad_bytes_go_to_the_dlq_with_their_error_class_and_the_runtime_goes_on()
-> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Tansu).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("inbox", 1).await?;
    broker.create_topic("inbox.dlq", 1).await?;

    let encoder = Encoder::new();
    let good = |seq| {
        OutgoingRecord::new(
            &encoder,
            &common::event(seq),
            Envelope::new::<EmailReceived>("/test"),
        )
    };
    let first = good(1)?;
    let last = good(2)?;
    let other_type = OutgoingRecord::new(
        &encoder,
        &samples::proto_email_processed(&Seed::default()),
        Envelope::new::<EmailProcessed>("/test"),
    )?;
    let wrong_ce_type = good(3)?.value.clone();
    let mislabeled = OwnedHeaders::new().insert(Header {
        key: "ce_type",
        value: Some(EmailProcessed::EVENT_TYPE.as_bytes()),
    });
    let cases: Vec<BadRecord> = vec![
        (
            Some(vec![0, 0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            None,
            "malformed_payload",
        ),
        (Some(vec![1, 0, 0, 0, 1, 0, 8, 1]), None, "wrong_magic_byte"),
        (
            Some(vec![0, 0, 0, 3, 231, 0, 8, 1]),
            None,
            "unknown_schema_id",
        ),
        (Some(vec![0, 0]), None, "truncated_frame"),
        (None, None, "empty_payload"),
        (
            Some(other_type.value.clone()),
            Some(other_type.headers.clone()),
            "no_handler",
        ),
        (Some(wrong_ce_type), Some(mislabeled), "type_mismatch"),
    ];

    let producer: FutureProducer = KafkaConfig::new(&bootstrap).client_config().create()?;
    let timeout = Duration::from_secs(10);
    producer
        .send(sluice_testkit::future_record(&first, "inbox"), timeout)
        .await
        .map_err(|(e, _)| e)?;
    for (value, headers, _) in &cases {
        let mut record = FutureRecord::<str, [u8]>::to("inbox").key("k");
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(headers) = headers {
            record = record.headers(headers.clone());
        }
        producer.send(record, timeout).await.map_err(|(e, _)| e)?;
    }
    producer
        .send(sluice_testkit::future_record(&last, "inbox"), timeout)
        .await
        .map_err(|(e, _)| e)?;

    let log = Arc::new(Log::default());
    let handlers =
        Handlers::new(registry().clone()).on::<EmailReceived, _>(Collect(Arc::clone(&log)));
    let consumer =
        ConsumerBuilder::new(config(&bootstrap, "inbox-svc", "inbox")).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));
    log.wait_for("both good events", Duration::from_secs(60), |e| {
        e.len() == 2
    })
    .await?;
    let dead = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        let n = cases.len();
        move || read_topic(&bootstrap, "inbox.dlq", n)
    })
    .await??;
    stop.send(()).ok();
    common::stopped(run).await?;

    ensure!(log.entries().iter().map(|e| e.1).collect::<Vec<_>>() == [1, 2]);
    let mut by_offset: BTreeMap<i64, _> = BTreeMap::new();
    for record in &dead {
        by_offset.insert(
            header(record, dlq::headers::OFFSET)?.parse::<i64>()?,
            record,
        );
    }
    for (i, (value, _, class)) in cases.iter().enumerate() {
        let record = by_offset
            .get(&(i as i64 + 1))
            .with_context(|| format!("case {class} not dead-lettered"))?;
        ensure!(
            header(record, dlq::headers::ERROR_CLASS)? == *class,
            "case {class}: {:?}",
            header(record, dlq::headers::ERROR_CLASS)
        );
        ensure!(
            record.payload().map(<[u8]>::to_vec) == *value,
            "case {class}: value kept"
        );
        ensure!(record.key() == Some(&b"k"[..]));
        ensure!(!header(record, dlq::headers::ERROR_MESSAGE)?.is_empty());
    }
    ensure!(committed(&bootstrap, "inbox-svc", "inbox", 1)? == [cases.len() as i64 + 2]);
    Ok(())
}

/// Fails every event permanently.
struct Reject;

impl Handler<EmailReceived> for Reject {
    async fn handle(&self, _: EmailReceived, _: &Context) -> Result<(), HandlerError> {
        Err(HandlerError::permanent("rejected"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_committed_until_the_dlq_has_the_record() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Tansu).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("payments", 1).await?;
    produce(&bootstrap, "payments", 0..5).await?;

    let handlers = Handlers::new(registry().clone()).on::<EmailReceived, _>(Reject);
    let consumer =
        ConsumerBuilder::new(config(&bootstrap, "payments-svc", "payments")).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));
    // No DLQ topic yet: every DLQ write fails, so nothing may be committed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    ensure!(committed(&bootstrap, "payments-svc", "payments", 1)? == [-1]);

    broker.create_topic("payments.dlq", 1).await?;
    let dead = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || read_topic(&bootstrap, "payments.dlq", 5)
    })
    .await??;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while committed(&bootstrap, "payments-svc", "payments", 1)? != [5] {
        ensure!(
            std::time::Instant::now() < deadline,
            "offsets never committed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.send(()).ok();
    common::stopped(run).await?;
    for record in &dead {
        ensure!(header_count(record, dlq::headers::ERROR_CLASS) == 1);
    }
    Ok(())
}

/// Records start and end of each call, slowly.
struct Slow {
    started: Arc<Mutex<Vec<i64>>>,
    finished: Arc<Mutex<Vec<i64>>>,
}

impl Handler<EmailReceived> for Slow {
    async fn handle(&self, _: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        self.started.lock().unwrap().push(ctx.offset());
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.finished.lock().unwrap().push(ctx.offset());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_running_handlers_finish_and_commits_them() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Tansu).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("slow", 1).await?;
    produce(&bootstrap, "slow", 0..200).await?;

    let started = Arc::new(Mutex::new(Vec::new()));
    let finished = Arc::new(Mutex::new(Vec::new()));
    let handlers = Handlers::new(registry().clone()).on::<EmailReceived, _>(Slow {
        started: Arc::clone(&started),
        finished: Arc::clone(&finished),
    });
    let consumer = ConsumerBuilder::new(config(&bootstrap, "slow-svc", "slow")).build(handlers)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while started.lock().unwrap().len() < 30 {
        ensure!(
            std::time::Instant::now() < deadline,
            "handlers never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).ok();
    common::stopped(run).await?;

    let mut started = started.lock().unwrap().clone();
    let mut finished = finished.lock().unwrap().clone();
    started.sort_unstable();
    finished.sort_unstable();
    ensure!(started == finished, "every started handler finished");
    ensure!(finished.len() < 200, "shutdown stopped the consumer early");
    let contiguous = finished
        .iter()
        .enumerate()
        .take_while(|&(i, &o)| o == i as i64)
        .count() as i64;
    let committed = committed(&bootstrap, "slow-svc", "slow", 1)?;
    ensure!(
        committed == [contiguous],
        "committed {committed:?}, finished prefix {contiguous}"
    );
    Ok(())
}

/// Hangs on one offset, handles the others at once.
struct HangOn(i64);

impl Handler<EmailReceived> for HangOn {
    async fn handle(&self, _: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        if ctx.offset() == self.0 {
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_past_the_shutdown_deadline_is_abandoned_uncommitted() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Tansu).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("stuck", 1).await?;
    produce(&bootstrap, "stuck", 0..10).await?;

    let mut config = config(&bootstrap, "stuck-svc", "stuck");
    config.shutdown_timeout_ms = 1_000;
    config.ordering = sluice_consumer::OrderBy::Partition;
    let handlers = Handlers::new(registry().clone()).on::<EmailReceived, _>(HangOn(5));
    let consumer = ConsumerBuilder::new(config).build(handlers)?;
    let status = consumer.status();
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(consumer.run(async {
        stopped.await.ok();
    }));
    // Offsets 0–4 finish and are committed; 5 hangs, so 6–9 never start.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while status.lag().first().and_then(|l| l.position) != Some(5) {
        ensure!(
            std::time::Instant::now() < deadline,
            "offsets 0–4 never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopping = std::time::Instant::now();
    stop.send(()).ok();
    common::stopped(run).await?;
    ensure!(
        stopping.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for a hung handler",
        stopping.elapsed()
    );
    ensure!(committed(&bootstrap, "stuck-svc", "stuck", 1)? == [5]);
    Ok(())
}
